"""Meta-learning of per-writer classifiers (MAML, docs/protocols.md): task sampling, functional models, the algorithm.

CLI: ``python -m sigver.metalearning.train``. Python::

    from sigver.metalearning import MAML, TaskSampler, create_meta_model

(``create_model`` / ``available_models`` are the former names of ``create_meta_model`` /
``available_meta_models``, kept as aliases.)
"""
from .data import TaskBatch, TaskSampler
from .maml import MAML, balanced_bce, load_maml, per_step_loss_weights, save_maml
from .models import (PretrainWrapper, SigNetModel, SmallCNN, available_meta_models, available_models,
                     create_meta_model, create_model)

__all__ = ["MAML", "TaskBatch", "TaskSampler", "balanced_bce", "load_maml", "per_step_loss_weights", "save_maml",
           "PretrainWrapper", "SigNetModel", "SmallCNN", "available_meta_models", "create_meta_model", "available_models",
           "create_model"]

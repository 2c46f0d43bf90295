"""Meta-learning works (issue 5): on synthetic writers held out from meta-training, the classifiers adapted from
5 reference signatures reach a clearly lower EER (genuine vs skilled forgeries) than the same network before
meta-training.

Small scale: SmallCNN on 75 x 110 crops, 16 synthetic writers (``conftest.meta_dataset``), meta-training on
writers 0-9 (3 epochs of 10 tasks, K = 1), evaluation on the held-out writers 10-15 (2 folds of new tasks:
5 references + 5 random forgeries to adapt to, 5 genuine + 5 skilled forgeries + 2 random forgeries to score).
"""
import os

import numpy as np
import torch

from sigver.datasets import load_dataset
from sigver.featurelearning.data import as_generator
from sigver.metalearning import MAML, TaskSampler, create_model, per_step_loss_weights
from sigver.wd.metrics import compute_metrics
from tests.metalearning.conftest import INPUT_SIZE

SEED = int(os.environ.get("SIGVER_META_PROOF_SEED", 3))


def _eer(maml, sampler, folds=2):
    gen = as_generator(99)  # the same tasks before and after meta-training
    eers = []
    for _ in range(folds):
        out = maml.evaluate(sampler.batches(6, gen, train=False, shuffle=False))
        eers.append(compute_metrics(out["genuine"], out["random"], out["skilled"])["EER"])
    return float(np.mean(eers))


def test_meta_training_lowers_the_eer_of_held_out_writers(meta_dataset, recwarn):
    data = load_dataset(meta_dataset)
    counts = dict(num_gen=5, num_rf=5, num_gen_test=5, num_rf_test=2, num_sk_test=5, input_size=INPUT_SIZE)
    train = TaskSampler(data.x, data.y, data.yforg, range(10), **counts)
    held_out = TaskSampler(data.x, data.y, data.yforg, range(10, 16), **counts)
    torch.manual_seed(SEED)
    maml = MAML(create_model("smallcnn", input_size=INPUT_SIZE), num_updates=1, train_lr=0.05,
                generator=as_generator(SEED))
    before = _eer(maml, held_out)
    optimizer = torch.optim.Adam(maml.parameters(), lr=3e-3)
    tasks, weights = as_generator(SEED + 4), per_step_loss_weights(0, 1, 15)
    for epoch in range(3):
        for batch in train.batches(4, tasks):
            maml.meta_step(batch, optimizer, weights)
    after = _eer(maml, held_out)
    print(f"seed {SEED}: EER of the held-out writers {100 * before:.1f}% before, {100 * after:.1f}% after")
    assert after <= before - 0.08, (before, after)
    assert after < 0.4

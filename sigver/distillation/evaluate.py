"""Measures of a distilled student on held-out writers: writer discrimination and closeness to the teacher.

Used by ``scripts/distill_synthetic.py`` (teacher -> inversion -> student -> continual student, end to end on
synthetic signatures) and by the tests. On held-out writers (never seen by teacher or student):

* :func:`~sigver.wd.metrics.writer_separation` (from the shared metrics module): leave-one-out 1-NN writer accuracy and the ratio of the mean between-writer to
  the mean within-writer Euclidean distance of the features;
* :func:`wd_metrics`: the writer-dependent protocol (per-user SVMs, :func:`sigver.wd.training.train_test_all_users`)
  with, beside the usual genuine-vs-skilled ``EER`` and ``mean_AUC``, the genuine-vs-random ``EER_random``
  (writer discrimination: random forgeries are other writers' genuine signatures);
* :func:`linear_cka`: linear centred kernel alignment of two feature matrices of the same images (1 = the
  same space up to rotation and isotropic scale), the measure of "the student keeps the teacher's space";
* :func:`teacher_agreement`: top-1 agreement of the student's first ``C_t`` logits with the teacher's on
  images (what ``L_p`` keeps);
* :func:`new_writer_accuracy`: accuracy of the continual logits ``[C_t:]`` (what ``L_c`` trains) on the new
  writers' images. (Over the full output the teacher's logits, kept large by ``L_p``, win on every image.)
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np
import torch

from ..evaluation.metrics import writer_separation

__all__ = ["writer_separation", "linear_cka", "wd_metrics", "teacher_agreement", "new_writer_accuracy"]


def linear_cka(a, b) -> float:
    """Linear CKA (Kornblith et al., 2019) of two representations of the same N images.

    Parameters
    ----------
    a : ndarray, shape (N, D1)
    b : ndarray, shape (N, D2)

    Returns
    -------
    float in [0, 1]
        ``||B'A||_F^2 / (||A'A||_F ||B'B||_F)`` of the column-centred matrices.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"linear_cka needs the same images: {a.shape[0]} vs {b.shape[0]} rows")
    a = a - a.mean(0)
    b = b - b.mean(0)
    # Gram form (N x N) is cheaper than D x D when N << D
    ka, kb = a @ a.T, b @ b.T
    den = np.sqrt((ka * ka).sum() * (kb * kb).sum())
    return float((ka * kb).sum() / den) if den > 0 else 0.0


def wd_metrics(features, y, yforg, *, num_gen_train: int, num_gen_test: int, num_forg_from_exp: int,
               seed: int = 1234, C: float = 1.0) -> Dict[str, float]:
    """Writer-dependent protocol on one set of users (linear SVMs, random forgeries from the other users).

    Parameters
    ----------
    features : ndarray, shape (N, D)
    y, yforg : ndarray, shape (N,)
    num_gen_train, num_gen_test, num_forg_from_exp : int
        As ``python -m sigver.wd.test`` (``--gen-for-train``, ``--gen-for-test``, ``--forg-from-exp``).
    seed : int
        Of the split.

    Returns
    -------
    dict
        ``EER`` (genuine vs skilled, global threshold), ``EER_random`` (genuine vs random forgeries),
        ``mean_AUC`` (genuine vs skilled, per user), ``FAR_random`` and ``FRR`` at threshold 0.
    """
    from ..evaluation.metrics import compute_EER
    from ..wd.training import train_test_all_users

    exp = (np.asarray(features), np.asarray(y), np.asarray(yforg))
    _, res = train_test_all_users(exp, None, "linear", C, None, num_gen_train, num_forg_from_exp, 0, num_gen_test,
                                  rng=np.random.RandomState(seed), n_jobs=1, progress=False,
                                  return_classifiers=False)
    m, p = res["all_metrics"], res["predictions"]
    eer_random, _ = compute_EER(np.concatenate(p["genuinePreds"]), np.concatenate(p["randomPreds"]))
    return {"EER": float(m["EER"]), "EER_random": float(eer_random), "mean_AUC": float(m["mean_AUC"]),
            "FAR_random": float(m["FAR_random"]), "FRR": float(m["FRR"])}


@torch.no_grad()
def teacher_agreement(student_model, student_head, teacher_model, teacher_head, x,
                      batch_size: int = 64, device: Optional[str] = None) -> float:
    """Fraction of images on which ``argmax student_head(student(x))[:C_t] == argmax teacher(x)``.

    ``x``: uint8 images ``(N, 1, H, W)`` at the models' input size (background 0); models in eval mode.
    """
    from ..featurelearning.features import extract_features

    kw = {"batch_size": batch_size, "device": device}
    fs = torch.as_tensor(extract_features(student_model, x, **kw))
    ft = torch.as_tensor(extract_features(teacher_model, x, **kw))
    dev = next(teacher_head.parameters()).device
    t = teacher_head(ft.to(dev)).argmax(1)
    s = student_head(fs.to(next(student_head.parameters()).device))[:, :teacher_head.out_features].argmax(1)
    return float((s.cpu() == t.cpu()).float().mean())


def new_writer_accuracy(logits, y, n_teacher_classes: int) -> float:
    """Fraction of rows with ``argmax logits[:, C_t:] == y`` (``y``: new writer ``0..C_c-1``)."""
    pred = torch.as_tensor(logits)[:, n_teacher_classes:].argmax(1).cpu().numpy()
    return float((pred == np.asarray(y)).mean())

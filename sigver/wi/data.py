"""Splits and the dissimilarity-space training set of the writer-independent classifier (docs/protocols.md).

The random draws are those of the original ``continual_sigver`` code, in the same order, so a seed gives the
same split and the same training pairs:

1. :func:`split_ref_test` (exploitation writers): per writer (ascending) one ``rng.shuffle`` of its genuine
   indices, the first ``num_gen_ref`` are references, the last ``num_gen_test`` are test genuine (exactly
   :func:`sigver.wd.data.split_train_test`);
2. :func:`split_train` (development writers): the same shuffle per writer, the first ``num_gen_train`` kept;
3. :func:`create_training_set`: per development writer ``i`` (ascending), ``rng.choice(other writers, n // 2,
   replace=False)``, then for each chosen writer ``j`` one ``rng.randint(n - 1)`` (the sample of ``j``).

The original built the pairs in Python loops; here they are built with array indexing (same values, same
order).
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

from ..wd import data as wd_data

__all__ = ["split_ref_test", "split_train", "set_to_genuine_array", "create_training_set",
           "within_dissimilarities", "between_dissimilarities"]

Triple = Tuple[np.ndarray, np.ndarray, np.ndarray]


def split_ref_test(exp_set: Triple, num_gen_ref: int, num_gen_test: int, rng) -> Tuple[Triple, Triple]:
    """Split the exploitation set into references (genuine only) and a test set, per writer.

    Parameters
    ----------
    exp_set : tuple (x, y, yforg)
        ``x`` of shape (N, D) features.
    num_gen_ref, num_gen_test : int
        Genuine signatures per writer used as references / for testing (no overlap).
    rng : numpy.random.RandomState or int

    Returns
    -------
    exp_ref, exp_test : tuple (x, y, yforg)
        The test set holds the test genuine signatures and all skilled forgeries of each writer.

    Raises
    ------
    sigver.wd.data.WDSplitError
        A writer has fewer than ``num_gen_ref + num_gen_test`` genuine signatures.
    """
    return wd_data.split_train_test(exp_set, num_gen_ref, num_gen_test, rng)


def split_train(dev_set: Triple, num_gen_train: int, rng) -> Triple:
    """The first ``num_gen_train`` (shuffled) genuine signatures of every development writer."""
    return wd_data.split_train_test(dev_set, num_gen_train, 0, rng)[0]


def set_to_genuine_array(input_set: Triple, num_gen: int) -> np.ndarray:
    """Array ``(n_writers, num_gen, D)`` (float64) of the first ``num_gen`` genuine signatures of each writer.

    Raises
    ------
    sigver.wd.data.WDSplitError
        A writer has fewer than ``num_gen`` genuine signatures.
    """
    x, y, yforg = wd_data._unpack(input_set, "input_set")
    users = np.unique(y)
    idx = []
    for user in users:
        genuine = np.flatnonzero((y == user) & (yforg == 0))
        if len(genuine) < num_gen:
            raise wd_data.WDSplitError(f"writer {user} has {len(genuine)} genuine signatures, fewer than the "
                                       f"{num_gen} asked for (lower --gen-for-train)")
        idx.append(genuine[:num_gen])
    if not idx:
        return np.zeros((0, num_gen, x.shape[1]))
    return np.asarray(x, dtype=np.float64)[np.stack(idx)]


def within_dissimilarities(S: np.ndarray) -> np.ndarray:
    """``|S[u, k] - S[u, j]|`` for every writer ``u`` and pair ``j < k`` (order: u, then j, then k).

    Parameters
    ----------
    S : ndarray (n_writers, n, D)

    Returns
    -------
    ndarray (n_writers * n * (n - 1) / 2, D)
    """
    j, k = np.triu_indices(S.shape[1], 1)
    return np.abs(S[:, k] - S[:, j]).reshape(-1, S.shape[2])


def between_dissimilarities(G: np.ndarray, n_against: int, rng) -> np.ndarray:
    """Differences between writers: for each writer ``i``, ``n_against`` other writers ``j`` and one random
    sample ``r`` of each, ``|G[i, s] - G[j, r]|`` for every sample ``s`` of ``i``.

    Parameters
    ----------
    G : ndarray (n_writers, n, D)
    n_against : int
        Other writers per writer (fewer than ``n_writers``).
    rng : numpy.random.RandomState or int
        Draws per writer (ascending): ``choice(others, n_against, replace=False)``, then one ``randint(n)``
        per chosen writer.

    Returns
    -------
    ndarray (n_writers * n_against * n, D)
    """
    rng = wd_data.check_rng(rng)
    n_users, n_signs = G.shape[0], G.shape[1]
    if n_against > n_users - 1:
        raise wd_data.WDSplitError(f"{n_against} other writers per writer asked for, but there are only "
                                   f"{n_users} development writers")
    pairs = []
    for i in range(n_users):
        candidates = [k for k in range(n_users) if k != i]
        for j in rng.choice(candidates, n_against, replace=False):
            pairs.append((i, int(j), int(rng.randint(n_signs))))
    if not pairs:
        return np.zeros((0, G.shape[2]))
    i, j, r = (np.array(a) for a in zip(*pairs))
    return np.abs(G[i] - G[j, r][:, None, :]).reshape(-1, G.shape[2])


def create_training_set(dev_train: Triple, num_gen_train: int, rng) -> Tuple[np.ndarray, np.ndarray]:
    """The dissimilarity-space training set of the WI classifier.

    Positives (+1): every unordered pair of the ``num_gen_train`` genuine signatures of each writer
    (``n (n - 1) / 2`` per writer). Negatives (-1): with the first ``n - 1`` signatures of each writer,
    :func:`between_dissimilarities` against ``n // 2`` other writers (``(n - 1) (n // 2)`` per writer; as many
    as the positives for n = 12).

    Parameters
    ----------
    dev_train : tuple (x, y, yforg)
        Development writers' training signatures (:func:`split_train`), ``x`` of shape (N, D).
    num_gen_train : int
        Signatures per writer (at least 2).
    rng : numpy.random.RandomState or int

    Returns
    -------
    x : ndarray (M, D) float64
    y : ndarray (M,) of +1 / -1
    """
    if num_gen_train < 2:
        raise wd_data.WDSplitError(f"the WI training pairs need at least 2 genuine signatures per writer, got "
                                   f"{num_gen_train} (raise --gen-for-train)")
    S = set_to_genuine_array(dev_train, num_gen_train)
    if S.shape[0] < 2:
        raise wd_data.WDSplitError(f"the WI classifier needs at least 2 development writers, got {S.shape[0]}")
    within = within_dissimilarities(S)
    between = between_dissimilarities(S[:, :num_gen_train - 1], num_gen_train // 2, rng)
    x = np.concatenate((within, between))
    y = np.concatenate((np.ones(len(within)), np.full(len(between), -1.0)))
    return x, y

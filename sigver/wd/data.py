"""Splits of an exploitation set and training sets of writer-dependent classifiers (docs/protocols.md).

Every function takes the random generator explicitly (a ``numpy.random.RandomState``; an int seed is accepted
and turned into one) and draws from it in **exactly the order of the original code**, so that the same seed
gives the same split, the same negatives and the same test samples as a published run:

1. :func:`split_train_test`: for each user in ascending order, one ``rng.shuffle`` of the indices of that
   user's genuine signatures (in dataset order).
2. :func:`get_random_forgeries_from_dev`: for each development user in ascending order,
   ``rng.choice(genuine indices, n, replace=False)`` (which is ``rng.permutation(len)[:n]``).
3. :func:`create_training_set_for_user` (only when ``num_forg_from_exp > 0``): for each *other* exploitation
   user, ``rng.choice(genuine training indices, n, replace=False)``. The original iterated
   ``list(set(users).difference({user}))``; we iterate the very same Python set expression on plain ints
   (:func:`other_users_in_original_order`). CPython does not salt integer hashes, so that order is fixed for
   a given list of users; it is ascending whenever the user ids are below the set's table size (all the
   published protocols: GPDS 0-300, 300-881, ...) and only differs from ascending for sparse or large ids.
   Keeping it, rather than sorting, is what makes a re-run of a published protocol draw the same negatives.
4. :func:`select_test_samples` (the ``continual_sigver`` test protocol only): per test user in ascending
   order, skilled choice, genuine choice, choice of other users, then one ``rng.choice`` per chosen user.

Bugs of the original that are fixed: ``num_gen_test = 0`` gives no test genuine signature (the original's
``[-0:]`` slice took all of them); asking for more signatures than a user has is a :class:`WDSplitError`
naming the user, not an ``AssertionError`` or a numpy message.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import SigverError

__all__ = [
    "WDSplitError", "split_train_test", "get_random_forgeries_from_dev", "create_training_set_for_user",
    "other_users_in_original_order", "draw_negatives_from_exp", "select_test_samples", "check_rng",
]

Triple = Tuple[np.ndarray, np.ndarray, np.ndarray]
RngLike = Union[np.random.RandomState, int, None]


class WDSplitError(SigverError, ValueError):
    """A split asks for more signatures than a user has, or for no negative sample at all."""


def check_rng(rng: RngLike) -> np.random.RandomState:
    """A ``RandomState`` from ``rng`` (kept as is), an int seed, or None (a fresh unseeded one).

    ``numpy.random.Generator`` is refused: its draws differ from the original's ``RandomState``.
    """
    if isinstance(rng, np.random.RandomState):
        return rng
    if rng is None:
        return np.random.RandomState()
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.RandomState(int(rng))
    raise TypeError(f"rng must be a numpy.random.RandomState or an int seed, got {type(rng).__name__} "
                    "(numpy.random.Generator draws differently from the original protocol)")


def _unpack(data, name: str) -> Triple:
    if len(data) < 3:
        raise ValueError(f"{name} must be a tuple (x, y, yforg)")
    x, y, yforg = data[0], np.asarray(data[1]), np.asarray(data[2])
    if not (len(x) == len(y) == len(yforg)):
        raise ValueError(f"{name}: x, y and yforg have different lengths ({len(x)}, {len(y)}, {len(yforg)})")
    return x, y, yforg


def _check_count(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def split_train_test(exp_set: Triple, num_gen_train: int, num_gen_test: int,
                     rng: RngLike) -> Tuple[Triple, Triple]:
    """Split an exploitation set into a training set (genuine only) and a test set, per user.

    Parameters
    ----------
    exp_set : tuple (x, y, yforg)
        ``x`` of shape (N, ...) (features or images), ``y`` (N,) user index, ``yforg`` (N,) 0 genuine,
        1 skilled forgery, 2 simple forgery.
    num_gen_train : int
        Genuine signatures per user for training: the first ``num_gen_train`` after the shuffle.
    num_gen_test : int
        Genuine signatures per user for testing: the **last** ``num_gen_test`` after the shuffle (0 allowed).
    rng : numpy.random.RandomState or int
        One ``rng.shuffle`` per user, users in ascending order.

    Returns
    -------
    exp_train : tuple (x, y, yforg)
        Per user (ascending): its training genuine signatures, in shuffled order.
    exp_test : tuple (x, y, yforg)
        Per user (ascending): its test genuine signatures (shuffled order), then all its skilled forgeries
        (dataset order). Simple forgeries (``yforg == 2``) are in neither set.

    Raises
    ------
    WDSplitError
        When a user has fewer than ``num_gen_train + num_gen_test`` genuine signatures.
    """
    x, y, yforg = _unpack(exp_set, "exp_set")
    n_train = _check_count(num_gen_train, "num_gen_train")
    n_test = _check_count(num_gen_test, "num_gen_test")
    rng = check_rng(rng)

    train_idx: List[np.ndarray] = []
    test_idx: List[np.ndarray] = []
    for user in np.unique(y):
        genuine = np.flatnonzero((y == user) & (yforg == 0))
        if n_train + n_test > len(genuine):
            raise WDSplitError(
                f"user {user} has {len(genuine)} genuine signatures, fewer than the {n_train} for training "
                f"+ {n_test} for testing asked for (lower --gen-for-train / --gen-for-test)")
        rng.shuffle(genuine)
        train_idx.append(genuine[:n_train])
        test_idx.append(genuine[len(genuine) - n_test:])
        test_idx.append(np.flatnonzero((y == user) & (yforg == 1)))

    def take(parts):
        idx = np.concatenate(parts) if parts else np.zeros(0, dtype=np.intp)
        return x[idx], y[idx], yforg[idx]

    return take(train_idx), take(test_idx)


def get_random_forgeries_from_dev(dev_set: Triple, num_forg_from_dev: int, rng: RngLike) -> np.ndarray:
    """Random forgeries (negatives) drawn from a development set: ``num_forg_from_dev`` genuine per user.

    Parameters
    ----------
    dev_set : tuple (x, y, yforg)
        The development set, ``x`` of shape (N, D).
    num_forg_from_dev : int
        Genuine signatures drawn per development user (without replacement).
    rng : numpy.random.RandomState or int
        One ``rng.choice(..., replace=False)`` per development user, users in ascending order.

    Returns
    -------
    ndarray of shape (n_dev_users * num_forg_from_dev, D)
        Grouped by user (ascending), in drawn order.
    """
    x, y, yforg = _unpack(dev_set, "dev_set")
    n = _check_count(num_forg_from_dev, "num_forg_from_dev")
    rng = check_rng(rng)
    chosen = []
    for user in np.unique(y):
        genuine = np.flatnonzero((y == user) & (yforg == 0))
        if n > len(genuine):
            raise WDSplitError(f"development user {user} has {len(genuine)} genuine signatures, fewer than "
                               f"the {n} random forgeries asked for (lower --forg-from-dev)")
        chosen.append(rng.choice(genuine, n, replace=False))
    if not chosen:
        return x[:0]
    return x[np.concatenate(chosen)]


def other_users_in_original_order(users: Sequence[int], user: int) -> List[int]:
    """The users other than ``user``, in the order the original iterated them (see the module docstring)."""
    return list(set(int(u) for u in users).difference({int(user)}))


def draw_negatives_from_exp(user: int, exp_y: np.ndarray, exp_yforg: np.ndarray, num_forg_from_exp: int,
                            rng: np.random.RandomState) -> np.ndarray:
    """Indices into the exploitation training set of the random forgeries of ``user`` (the rng draws only).

    Returns
    -------
    ndarray of int, shape (n_other_users * num_forg_from_exp,)
        Empty when ``num_forg_from_exp == 0`` (no draw is made then, as in the original).
    """
    n = _check_count(num_forg_from_exp, "num_forg_from_exp")
    if n == 0:
        return np.zeros(0, dtype=np.intp)
    chosen = []
    for other in other_users_in_original_order(np.unique(exp_y), user):
        genuine = np.flatnonzero((exp_y == other) & (exp_yforg == 0))
        if n > len(genuine):
            raise WDSplitError(f"user {other} has {len(genuine)} training genuine signatures, fewer than the "
                               f"{n} random forgeries asked for (lower --forg-from-exp)")
        chosen.append(rng.choice(genuine, n, replace=False))
    return np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.intp)


def _assemble(positives: np.ndarray, negatives_exp: np.ndarray, other_negatives) -> Tuple[np.ndarray, np.ndarray]:
    parts = [a for a in (negatives_exp, other_negatives) if len(a) > 0]
    if not parts:
        raise WDSplitError("no negative sample: use random forgeries from the exploitation set "
                           "(--forg-from-exp > 0) and/or from the development set (--forg-from-dev > 0)")
    negatives = parts[0] if len(parts) == 1 else np.concatenate(parts)
    train_x = np.concatenate((positives, negatives))
    train_y = np.concatenate((np.full(len(positives), 1), np.full(len(negatives), -1)))
    return train_x, train_y


def create_training_set_for_user(user: int, exp_train: Triple, num_forg_from_exp: int,
                                 other_negatives: Optional[np.ndarray], rng: RngLike) -> Tuple[np.ndarray, np.ndarray]:
    """The training set of one user's classifier: its genuine signatures (+1) against random forgeries (-1).

    Parameters
    ----------
    user : int
    exp_train : tuple (x, y, yforg)
        Training split of the exploitation set (:func:`split_train_test`), ``x`` of shape (N, D).
    num_forg_from_exp : int
        Genuine training signatures drawn from every other exploitation user as negatives (0: none).
    other_negatives : ndarray of shape (M, D) or None
        Further negatives, e.g. :func:`get_random_forgeries_from_dev` (shared by all users of a fold).
    rng : numpy.random.RandomState or int

    Returns
    -------
    train_x : ndarray of shape (n_pos + n_neg, D)
        Positives first, then the negatives from the exploitation set, then ``other_negatives``.
    train_y : ndarray of int, shape (n_pos + n_neg,)
        +1 for positives, -1 for negatives.
    """
    x, y, yforg = _unpack(exp_train, "exp_train")
    rng = check_rng(rng)
    positives = x[(y == user) & (yforg == 0)]
    neg_idx = draw_negatives_from_exp(user, y, yforg, num_forg_from_exp, rng)
    other = other_negatives if other_negatives is not None else []
    return _assemble(positives, x[neg_idx] if len(neg_idx) else x[:0], other)


def select_test_samples(exp_test: Triple, num_gen_test: int, num_sk_test: Optional[int],
                        rng: RngLike) -> Dict[int, Tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The ``continual_sigver`` test protocol (docs/protocols.md): a fixed number of test samples of each kind per user.

    Per user (ascending): ``num_sk_test`` of its skilled forgeries and ``num_gen_test`` of its test genuine
    signatures (both without replacement), and ``num_gen_test`` random forgeries, one random test genuine
    signature from each of ``num_gen_test`` distinct other users.

    Parameters
    ----------
    exp_test : tuple (x, y, yforg)
        Test split of the exploitation set.
    num_gen_test : int
    num_sk_test : int or None
        None: the same as ``num_gen_test``.
    rng : numpy.random.RandomState or int

    Returns
    -------
    dict user -> (genuine_idx, random_idx, skilled_idx)
        Indices into ``exp_test``, in the order drawn.
    """
    _, y, yforg = _unpack(exp_test, "exp_test")
    n_gen = _check_count(num_gen_test, "num_gen_test")
    n_sk = n_gen if num_sk_test is None else _check_count(num_sk_test, "num_sk_test")
    rng = check_rng(rng)
    users = np.unique(y)
    if n_gen > len(users) - 1:
        raise WDSplitError(f"{n_gen} random forgeries per user need as many other users, but there are only "
                           f"{len(users) - 1}")
    out = {}
    for user in users:
        skilled = np.flatnonzero((y == user) & (yforg == 1))
        genuine = np.flatnonzero((y == user) & (yforg == 0))
        if n_sk > len(skilled):
            raise WDSplitError(f"user {user} has {len(skilled)} skilled forgeries in the test set, fewer than "
                               f"the {n_sk} asked for")
        if n_gen > len(genuine):
            raise WDSplitError(f"user {user} has {len(genuine)} test genuine signatures, fewer than the {n_gen} "
                               "asked for")
        skilled_idx = rng.choice(skilled, n_sk, replace=False)
        genuine_idx = rng.choice(genuine, n_gen, replace=False)
        others = rng.choice(users[users != user], n_gen, replace=False)
        random_idx = np.array([rng.choice(np.flatnonzero((y == o) & (yforg == 0))) for o in others],
                              dtype=np.intp)
        out[int(user)] = (genuine_idx, random_idx, skilled_idx)
    return out

"""Writer-dependent classifiers: one SVM per user, trained and tested on features (docs/protocols.md).

The per-user model is the original's: ``Pipeline([('scaler', StandardScaler(with_mean=False)),
('classifier', SVC(...))])`` with ``class_weight={1: n_neg / n_pos}``; scores are its ``decision_function``
(positive = genuine). ``svm_backend`` chooses the SVC implementation (:mod:`sigver.evaluation.svm`: libsvm,
the original's, by default). ``n_jobs`` trains and tests users in parallel (joblib); the random draws are all made
in the calling process first, in the original order, and the fits are deterministic, so the classifiers and
scores are the same for any ``n_jobs``. Workers take one user at a time (so a slow fit does not hold back a
whole chunk), :func:`train_test_all_users` fits and scores a user in the same job (no classifier crosses
processes unless asked for), and the large arrays (training features, development negatives, test features)
reach the workers as memory-mapped files written once per call. Inside :func:`sigver.distributed.cluster`
(``wd.test --scheduler``) the users' jobs run on a Dask cluster instead, the large arrays scattered once per
call; the results are the same.
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Tuple

import numpy as np
import sklearn.pipeline
import sklearn.preprocessing

from ..datasets.format import get_subset
from ..distributed import active_client, map_unordered, scatter
from . import data as wd_data
from ..evaluation import metrics
from ..evaluation.svm import make_svc

__all__ = [
    "train_wdclassifier_user", "test_user", "train_all_users", "test_all_users", "train_test_all_users",
    "make_wdclassifier", "calibrate_threshold",
]

Triple = Tuple[np.ndarray, np.ndarray, np.ndarray]


def make_wdclassifier(svm_type: str, C: float, gamma: Optional[float], skew: float,
                      svm_backend: str = "libsvm") -> sklearn.pipeline.Pipeline:
    """The untrained per-user pipeline (scaler without centring, then an SVC weighted by ``skew``; the SVC of
    ``svm_backend``, :func:`sigver.evaluation.svm.make_svc`)."""
    model = make_svc(svm_type, C, gamma, {1: skew}, svm_backend)
    return sklearn.pipeline.Pipeline([("scaler", sklearn.preprocessing.StandardScaler(with_mean=False)),
                                      ("classifier", model)])


def train_wdclassifier_user(training_set: Tuple[np.ndarray, np.ndarray], svmType: str, C: float,
                            gamma: Optional[float], svm_backend: str = "libsvm") -> sklearn.pipeline.Pipeline:
    """Train one user's classifier.

    Parameters
    ----------
    training_set : tuple (x, y)
        ``x`` of shape (N, D) features, ``y`` of shape (N,) with +1 (genuine) and -1 (random forgeries).
    svmType : {'rbf', 'linear'}
    C : float
        SVM regularisation.
    gamma : float or None
        RBF kernel width (ignored by the linear SVM).
    svm_backend : {'libsvm', 'sklearnex'}, default 'libsvm'
        SVC implementation (:mod:`sigver.evaluation.svm`); libsvm gives the original's numbers.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Fitted scaler + SVC; ``decision_function`` gives the scores (positive = genuine).
    """
    train_x, train_y = training_set
    train_y = np.asarray(train_y)
    n_pos = int(np.sum(train_y == 1))
    n_neg = int(np.sum(train_y == -1))
    if n_pos == 0 or n_neg == 0:
        raise wd_data.WDSplitError(f"a user's training set needs both classes, got {n_pos} genuine and "
                                   f"{n_neg} negative samples")
    model = make_wdclassifier(svmType, C, gamma, n_neg / float(n_pos), svm_backend)
    # what Pipeline.fit does (scaler.fit_transform, then classifier.fit), with the scaled matrix in memory
    # backed by huge pages: libsvm streams it once per kernel row, and with 4 KiB pages a fit was about 8 %
    # slower here (BENCHMARKS.md). Same operations, same values.
    scaler, svm = model.named_steps["scaler"], model.named_steps["classifier"]
    x = np.asarray(train_x)
    scaler.fit(x)
    scaled = _hugepage_empty(x.shape)
    if x.dtype == np.float64:
        scaled[...] = x
        scaled = scaler.transform(scaled, copy=False)  # in place: x / scale_, as the pipeline's copy
    else:  # e.g. float32 features: scaled in their dtype, then float64 (what SVC.fit converts them to)
        scaled[...] = scaler.transform(x)
    svm.fit(scaled, train_y)
    return model


def _hugepage_empty(shape) -> np.ndarray:
    """An uninitialised float64 C array, on transparent huge pages where the OS offers them (``madvise``)."""
    import mmap

    nbytes = int(np.prod(shape)) * 8
    advice = getattr(mmap, "MADV_HUGEPAGE", None)
    if advice is None or nbytes < (4 << 20):
        return np.empty(shape, dtype=np.float64)
    huge = 2 << 20
    buf = mmap.mmap(-1, (nbytes + huge - 1) // huge * huge, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        buf.madvise(advice)
    except OSError:  # not supported by this kernel: ordinary pages
        pass
    return np.frombuffer(buf, dtype=np.float64, count=int(np.prod(shape))).reshape(shape)


def _scores(model, x: np.ndarray) -> np.ndarray:
    if len(x) == 0:
        return np.zeros(0)
    return model.decision_function(x)


def test_user(model, genuine_signatures: np.ndarray, random_forgeries: np.ndarray,
              skilled_forgeries: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores of one user's classifier on its test genuine signatures, random and skilled forgeries.

    Parameters
    ----------
    model : fitted pipeline (anything with ``decision_function``)
    genuine_signatures, random_forgeries, skilled_forgeries : ndarray of shape (n_*, D)
        May be empty.

    Returns
    -------
    tuple of 3 ndarray of shape (n_*,)
        Genuine, random-forgery and skilled-forgery scores.
    """
    return (_scores(model, genuine_signatures), _scores(model, random_forgeries),
            _scores(model, skilled_forgeries))


def _n_workers(n_jobs: Optional[int], n_users: int) -> int:
    from joblib import effective_n_jobs

    return max(1, min(int(effective_n_jobs(n_jobs)), n_users))


def _user_training_set(user: int, exp_x, exp_y, exp_yforg, neg_idx, other_negatives):
    positives = exp_x[(exp_y == user) & (exp_yforg == 0)]
    idx = neg_idx.get(user)
    neg_exp = exp_x[idx] if idx is not None and len(idx) else exp_x[:0]
    return wd_data._assemble(positives, neg_exp, other_negatives)


def _user_test_samples(user: int, x_test, y_test, yforg_test, selection):
    if selection is None:
        return (x_test[(y_test == user) & (yforg_test == 0)], x_test[(y_test != user) & (yforg_test == 0)],
                x_test[(y_test == user) & (yforg_test == 1)])
    g_idx, r_idx, s_idx = selection
    return x_test[g_idx], x_test[r_idx], x_test[s_idx]


def _user_job(user: int, train: Optional[tuple], model, test: Optional[tuple], keep_model: bool):
    """What a worker does for one user: fit (``train`` given) and/or score (``test`` given)."""
    if train is not None:
        exp_x, exp_y, exp_yforg, neg_idx, other_negatives, svm_type, C, gamma, svm_backend = train
        training_set = _user_training_set(user, exp_x, exp_y, exp_yforg, {user: neg_idx}, other_negatives)
        model = train_wdclassifier_user(training_set, svm_type, C, gamma, svm_backend)
    scores = None
    if test is not None:
        x_test, y_test, yforg_test, selection = test
        scores = test_user(model, *_user_test_samples(user, x_test, y_test, yforg_test, selection))
    return user, (model if keep_model else None), scores


def _progress(iterable, enabled: bool, total: int, desc: str):
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc)


def _shared_arrays(arrays: Dict[str, np.ndarray], folder: str) -> Dict[str, np.ndarray]:
    """Write the large arrays once to ``folder`` and reopen them memory-mapped: joblib then sends workers a
    file reference instead of hashing and copying the data for every task."""
    out = {}
    for name, a in arrays.items():
        a = np.asarray(a)
        if a.nbytes < (1 << 20):
            out[name] = a
            continue
        path = f"{folder}/{name}.npy"
        np.save(path, a)
        out[name] = np.load(path, mmap_mode="r")
    return out


def _shared_memory_dir(nbytes: int) -> Optional[str]:
    """``/dev/shm`` when it is writable and has room for twice ``nbytes`` (containers often give it 64 MB),
    else None (the system's temporary folder)."""
    import shutil

    shm = "/dev/shm"
    try:
        if os.path.isdir(shm) and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 2 * nbytes:
            return shm
    except OSError:
        pass
    return None


def _run_user_jobs(users: List[int], train_arrays: Optional[dict], train_params: tuple,
                   models: Optional[Dict[int, object]], test_arrays: Optional[dict],
                   selection: Optional[dict], keep_model: bool, n_jobs: Optional[int], progress: bool,
                   desc: str) -> Dict[int, tuple]:
    """Run :func:`_user_job` for every user, serially or on a pool of workers that take one user at a time
    (load-balanced); returns ``{user: (model or None, scores or None)}``. Large arrays are shared through
    memory-mapped files."""
    n_workers = _n_workers(n_jobs, len(users))

    def jobs(tr, te):
        for u in users:
            train = None if tr is None else (tr["x"], tr["y"], tr["yforg"], tr["neg_idx"].get(u), tr["other"],
                                             *train_params)
            test = None
            if te is not None and u in te["users"]:
                test = (te["x"], te["y"], te["yforg"], None if selection is None else selection[u])
            yield u, train, None if models is None else models[u], test, keep_model

    if test_arrays is not None:
        test_arrays = dict(test_arrays, users={int(u) for u in np.unique(test_arrays["y"])})
    out: Dict[int, tuple] = {}
    client = active_client()
    if client is not None:  # a Dask cluster (sigver.distributed): the arrays scattered once, a task per user
        tr = te = None
        if train_arrays is not None:
            tr = dict(train_arrays, **scatter(client, {k: train_arrays[k] for k in ("x", "y", "yforg", "other")}))
        if test_arrays is not None:
            te = dict(test_arrays, **scatter(client, {k: test_arrays[k] for k in ("x", "y", "yforg")}))
        bar = lambda it, total: _progress(it, progress, total, f"{desc} (Dask)")  # noqa: E731
        for u, model, scores in map_unordered(client, _user_job, jobs(tr, te), progress=bar):
            out[u] = (model, scores)
        return out
    if n_workers == 1:
        for job in _progress(jobs(train_arrays, test_arrays), progress, len(users), desc):
            u, model, scores = _user_job(*job)
            out[u] = (model, scores)
        return out

    import tempfile

    from joblib import Parallel, delayed

    big = [a for d in (train_arrays or {}, test_arrays or {}) for k, a in d.items() if k in ("x", "other")]
    with tempfile.TemporaryDirectory(prefix="sigver_wd_", dir=_shared_memory_dir(sum(a.nbytes for a in big))) \
            as folder:
        tr = te = None
        if train_arrays is not None:
            tr = dict(train_arrays)
            tr.update(_shared_arrays({k: train_arrays[k] for k in ("x", "other")}, folder))
        if test_arrays is not None:
            te = dict(test_arrays)
            te["x"] = _shared_arrays({"test_x": test_arrays["x"]}, folder)["test_x"]
        results = Parallel(n_jobs=n_workers, batch_size=1, return_as="generator_unordered")(
            delayed(_user_job)(*job) for job in jobs(tr, te))
        for u, model, scores in _progress(results, progress, len(users), f"{desc} ({n_workers} workers)"):
            out[u] = (model, scores)
    return out


def _draw_training_negatives(exp_train: Triple, dev_set: Optional[Triple], num_forg_from_dev: int,
                             num_forg_from_exp: int, rng) -> Tuple[List[int], dict, np.ndarray]:
    """The random draws of :func:`train_all_users`, in the original order: the development negatives (one
    draw for all users), then each user's negatives from the exploitation set (ascending users)."""
    exp_x, exp_y, exp_yforg = exp_train
    users = [int(u) for u in np.unique(exp_y)]
    n_dev = wd_data._check_count(num_forg_from_dev, "num_forg_from_dev")
    if n_dev > 0:
        if dev_set is None:
            raise wd_data.WDSplitError("num_forg_from_dev > 0 needs a development set")
        other_negatives = wd_data.get_random_forgeries_from_dev(dev_set, n_dev, rng)
    else:
        other_negatives = exp_x[:0]
    neg_idx = {}
    if num_forg_from_exp > 0:
        for user in users:
            neg_idx[user] = wd_data.draw_negatives_from_exp(user, exp_y, exp_yforg, num_forg_from_exp, rng)
    if len(other_negatives) == 0 and not neg_idx and users:
        wd_data._assemble(exp_x[:0], exp_x[:0], other_negatives)  # raises the "no negative sample" error
    return users, neg_idx, other_negatives


def train_all_users(exp_train: Triple, dev_set: Optional[Triple], svm_type: str, C: float, gamma: Optional[float],
                    num_forg_from_dev: int, num_forg_from_exp: int, rng, *, n_jobs: Optional[int] = 1,
                    progress: bool = True, svm_backend: str = "libsvm") -> Dict[int, sklearn.pipeline.Pipeline]:
    """Train the classifier of every user of the exploitation training set.

    Parameters
    ----------
    exp_train : tuple (x, y, yforg)
        Training split of the exploitation set, ``x`` of shape (N, D).
    dev_set : tuple (x, y, yforg) or None
        Development set (random forgeries); unused when ``num_forg_from_dev == 0``.
    svm_type : {'rbf', 'linear'}
    C, gamma : float
    num_forg_from_dev : int
        Negatives drawn per development user, once for all users (one draw per call).
    num_forg_from_exp : int
        Negatives drawn per other exploitation user, for each user.
    rng : numpy.random.RandomState or int
        Draws in the original order: the development negatives, then each user's (ascending).
    n_jobs : int or None, default 1
        Parallel workers (joblib semantics: -1 = all cores). Results do not depend on it.
    progress : bool, default True
        Show a tqdm bar.
    svm_backend : {'libsvm', 'sklearnex'}, default 'libsvm'
        SVC implementation (:mod:`sigver.evaluation.svm`).

    Returns
    -------
    dict int -> sklearn.pipeline.Pipeline
        One fitted classifier per user.
    """
    exp_train = wd_data._unpack(exp_train, "exp_train")
    users, neg_idx, other = _draw_training_negatives(exp_train, dev_set, num_forg_from_dev, num_forg_from_exp,
                                                     wd_data.check_rng(rng))
    train_arrays = dict(zip(("x", "y", "yforg"), exp_train), neg_idx=neg_idx, other=other)
    done = _run_user_jobs(users, train_arrays, (svm_type, C, gamma, svm_backend), None, None, None, True, n_jobs,
                          progress, "training")
    return {u: done[u][0] for u in users}


def test_all_users(classifier_all_user: Dict[int, object], exp_test: Triple, global_threshold: float = 0.0, *,
                   num_gen_test: Optional[int] = None, num_sk_test: Optional[int] = None, rng=None,
                   n_jobs: Optional[int] = 1, progress: bool = False) -> Dict:
    """Score the test set with every user's classifier and compute the metrics.

    Two protocols:

    * ``num_gen_test=None`` (the original sigver): per user, all its test genuine signatures, all its skilled
      forgeries, and as random forgeries the test genuine signatures of every other user.
    * ``num_gen_test=k`` (continual_sigver, docs/protocols.md; needs ``rng``): per user, ``k`` test genuine,
      ``num_sk_test`` (default ``k``) skilled forgeries and ``k`` random forgeries from ``k`` distinct other
      users, drawn with :func:`sigver.wd.data.select_test_samples`. (The continual code took these
      positionally, ``test_all_users(classifiers, exp_test, k, global_threshold, rng)``; here they are
      keywords.)

    Parameters
    ----------
    classifier_all_user : dict int -> fitted classifier
        Must hold every user of ``exp_test``.
    exp_test : tuple (x, y, yforg)
        Test split of the exploitation set, ``x`` of shape (N, D).
    global_threshold : float, default 0
        Fixed threshold of ``FRR`` / ``FAR_random`` / ``FAR_skilled``.
    n_jobs : int or None, default 1
        Parallel workers; results do not depend on it.
    progress : bool, default False

    Returns
    -------
    dict
        ``{'all_metrics': compute_metrics(...), 'predictions': {'genuinePreds': [...], 'randomPreds': [...],
        'skilledPreds': [...]}}``, one score array per user in ascending user order (the original's
        result structure, docs/formats.md).
    """
    x_test, y_test, yforg_test = wd_data._unpack(exp_test, "exp_test")
    users = [int(u) for u in np.unique(y_test)]
    missing = [u for u in users if u not in classifier_all_user]
    if missing:
        raise wd_data.WDSplitError(f"no classifier for test users {missing[:10]}")
    selection = None
    if num_gen_test is not None:
        if rng is None:
            raise ValueError("the sampled test protocol (num_gen_test given) needs rng")
        selection = wd_data.select_test_samples(exp_test, num_gen_test, num_sk_test, wd_data.check_rng(rng))

    test_arrays = {"x": x_test, "y": y_test, "yforg": yforg_test}
    done = _run_user_jobs(users, None, (), classifier_all_user, test_arrays, selection, False, n_jobs, progress,
                          "testing")
    return _results({u: done[u][1] for u in users}, users, global_threshold)


def _results(scores: Dict[int, tuple], users: List[int], global_threshold: float) -> Dict:
    genuine_preds: List[np.ndarray] = [scores[u][0] for u in users]
    random_preds: List[np.ndarray] = [scores[u][1] for u in users]
    skilled_preds: List[np.ndarray] = [scores[u][2] for u in users]
    all_metrics = metrics.compute_metrics(genuine_preds, random_preds, skilled_preds, global_threshold)
    return {"all_metrics": all_metrics,
            "predictions": {"genuinePreds": genuine_preds, "randomPreds": random_preds,
                            "skilledPreds": skilled_preds}}


def train_test_all_users(exp_set: Triple, dev_set: Optional[Triple], svm_type: str, C: float,
                         gamma: Optional[float], num_gen_train: int, num_forg_from_exp: int, num_forg_from_dev: int,
                         num_gen_test: int, global_threshold: float = 0.0, rng=None, *,
                         protocol: str = "sigver", num_sk_test: Optional[int] = None, n_jobs: Optional[int] = 1,
                         progress: bool = True, return_classifiers: bool = True,
                         svm_backend: str = "libsvm") -> Tuple[Dict[int, object], Dict]:
    """One fold: split, train every user's classifier, test them (the original's ``train_test_all_users``).

    Parameters
    ----------
    exp_set, dev_set : tuple (x, y, yforg)
        Exploitation and development sets (features).
    svm_type, C, gamma :
        See :func:`train_wdclassifier_user`.
    num_gen_train, num_gen_test : int
        Genuine signatures per user for training / testing (:func:`sigver.wd.data.split_train_test`).
    num_forg_from_exp, num_forg_from_dev : int
        Random forgeries per other exploitation / development user used as negatives.
    global_threshold : float, default 0
        Fixed threshold of FRR / FAR.
    rng : numpy.random.RandomState or int
        Shared by all folds in the original (``RandomState(1234)``): pass the same object for every fold.
        None draws a fresh unseeded one (the original's default was one generator created at import time).
    protocol : {'sigver', 'continual'}, default 'sigver'
        Test protocol of :func:`test_all_users` (``'continual'`` samples ``num_gen_test`` of each kind).
    num_sk_test : int or None
        Skilled forgeries per user in the ``'continual'`` protocol (default ``num_gen_test``).
    n_jobs : int or None, default 1
        Parallel workers; each fits and scores one user at a time. Results do not depend on it.
    return_classifiers : bool, default True
        False returns an empty dict instead of the classifiers (workers then send back scores only).
    svm_backend : {'libsvm', 'sklearnex'}, default 'libsvm'
        SVC implementation (:mod:`sigver.evaluation.svm`); libsvm gives the original's numbers.

    Returns
    -------
    classifiers : dict int -> fitted classifier
    results : dict
        See :func:`test_all_users`.
    """
    if protocol not in ("sigver", "continual"):
        raise ValueError(f"protocol must be 'sigver' or 'continual', got {protocol!r}")
    rng = wd_data.check_rng(rng)
    exp_train, exp_test = wd_data.split_train_test(exp_set, num_gen_train, num_gen_test, rng)
    # every random draw first, in the original order (training negatives, then the continual test samples),
    # then each user's fit and scores in one job, so that workers never ship classifiers back and forth
    users, neg_idx, other = _draw_training_negatives(exp_train, dev_set, num_forg_from_dev, num_forg_from_exp, rng)
    exp_test = wd_data._unpack(exp_test, "exp_test")
    test_users = [int(u) for u in np.unique(exp_test[1])]
    missing = [u for u in test_users if u not in set(users)]
    if missing:
        raise wd_data.WDSplitError(f"no classifier for test users {missing[:10]}")
    selection = None
    if protocol == "continual":
        selection = wd_data.select_test_samples(exp_test, num_gen_test, num_sk_test, rng)
    train_arrays = dict(zip(("x", "y", "yforg"), exp_train), neg_idx=neg_idx, other=other)
    test_arrays = dict(zip(("x", "y", "yforg"), exp_test))
    done = _run_user_jobs(users, train_arrays, (svm_type, C, gamma, svm_backend), None, test_arrays, selection,
                          return_classifiers, n_jobs, progress, "users")
    classifiers = {u: done[u][0] for u in users} if return_classifiers else {}
    return classifiers, _results({u: done[u][1] for u in test_users}, test_users, global_threshold)


def calibrate_threshold(dev_set: Triple, target_far: float, *, n_writers: int, num_gen_train: int,
                        num_gen_test: int, num_forg_from_exp: int, num_forg_from_dev: int, svm_type: str, C: float,
                        gamma: Optional[float], rng, forgeries: str = "auto", global_threshold: float = 0.0,
                        protocol: str = "sigver", n_jobs: Optional[int] = 1, svm_backend: str = "libsvm") -> Dict:
    """A decision threshold fixed before seeing the test data: the score at which held-out development writers
    reach ``target_far`` (used by ``wd.test --target-far`` and by ``verify``).

    ``n_writers`` development writers with at least ``num_gen_train + num_gen_test`` genuine signatures are
    drawn with ``rng`` and evaluated like exploitation users (their negatives: ``num_forg_from_dev`` random
    forgeries from each *other* development writer, ``num_forg_from_exp`` from each other calibration writer);
    the threshold is :func:`sigver.wd.metrics.threshold_at_far` of their forgery scores.

    Parameters
    ----------
    dev_set : tuple (x, y, yforg)
        Development features, ``x`` of shape (N, D).
    target_far : float in (0, 1)
    forgeries : {'auto', 'skilled', 'random'}
        Forgeries the FAR is measured on (auto: skilled when the writers have any, else random).
    svm_backend : {'libsvm', 'sklearnex'}, default 'libsvm'
        SVC implementation of the calibration writers' classifiers (:mod:`sigver.evaluation.svm`).

    Returns
    -------
    dict
        ``threshold``, ``forgeries`` (the kind used), ``dev_users``, ``dev_FAR`` and ``dev_FRR`` reached on
        the calibration writers.
    """
    x, y, yforg = wd_data._unpack(dev_set, "dev_set")
    rng = wd_data.check_rng(rng)
    need = num_gen_train + num_gen_test
    dev_users = np.unique(y)
    genuine = np.array([np.sum((y == u) & (yforg == 0)) for u in dev_users])
    eligible = dev_users[genuine >= need]
    n_cal = max(2, min(n_writers, len(dev_users) // 2 if num_forg_from_dev > 0 else len(dev_users), len(eligible)))
    if len(eligible) < n_cal:
        raise wd_data.WDSplitError(f"threshold calibration needs at least {n_cal} development writers with "
                                   f"{need} genuine signatures, found {len(eligible)}")
    cal_users = np.sort(rng.choice(eligible, n_cal, replace=False))
    cal_set = get_subset((x, y, yforg), cal_users)
    neg_set = get_subset((x, y, yforg), np.setdiff1d(dev_users, cal_users)) if num_forg_from_dev > 0 else None
    _, res = train_test_all_users(cal_set, neg_set, svm_type, C, gamma, num_gen_train, num_forg_from_exp,
                                  num_forg_from_dev, num_gen_test, global_threshold, rng, protocol=protocol,
                                  n_jobs=n_jobs, progress=False, return_classifiers=False, svm_backend=svm_backend)
    preds = res["predictions"]
    skilled = np.concatenate(preds["skilledPreds"]) if preds["skilledPreds"] else np.zeros(0)
    kind = forgeries
    if kind == "auto":
        kind = "skilled" if len(skilled) else "random"
    scores = skilled if kind == "skilled" else np.concatenate(preds["randomPreds"])
    if len(scores) == 0:
        raise wd_data.WDSplitError(f"the development writers have no {kind} forgeries to measure the FAR on")
    t = metrics.threshold_at_far(scores, target_far)
    return {"threshold": t, "forgeries": kind, "dev_users": [int(u) for u in cal_users],
            "dev_FAR": float(np.mean(scores >= t)),
            "dev_FRR": float(np.mean(np.concatenate(preds["genuinePreds"]) < t))}


# the names start with "test": keep pytest from collecting them when a test module imports them
test_user.__test__ = False
test_all_users.__test__ = False

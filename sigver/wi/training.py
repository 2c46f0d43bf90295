"""The writer-independent SVM, fused scores, and the evaluation of all exploitation writers (docs/protocols.md).

The classifier is the original's: ``Pipeline([('scaler', StandardScaler(with_mean=False)), ('classifier',
SVC(...))])`` **without** class weights (the training set is balanced), trained once for all writers. A
questioned signature ``q`` of a writer with references ``r_1..r_k`` gets the scores
``decision_function(|q - r_i|)``, fused into one (``max`` by default). All questioned signatures of a writer
are scored in one ``decision_function`` call (the original looped over them). NumPy 2 safe (the original used
``np.NaN``).
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import numpy as np
import sklearn.pipeline
import sklearn.preprocessing

from ..wd import data as wd_data
from ..evaluation import metrics
from ..evaluation.svm import make_svc
from . import data as wi_data

__all__ = ["FUSIONS", "train_wiclassifier", "fused_scores", "test_all_users", "train_test_all_users", "draw_fold",
           "fit_and_score_fold"]

Triple = Tuple[np.ndarray, np.ndarray, np.ndarray]

#: fusion rules of the per-reference scores
FUSIONS = {"max": np.max, "min": np.min, "mean": np.mean, "median": np.median}

#: dissimilarity vectors scored per decision_function call (bounds the memory of a batch)
_CHUNK = 4096


def train_wiclassifier(training_set: Tuple[np.ndarray, np.ndarray], svm_type: str, C: float,
                       gamma: Optional[float], svm_backend: str = "libsvm") -> sklearn.pipeline.Pipeline:
    """Fit the WI pipeline (scaler without centring, then an unweighted SVC) on dissimilarity vectors.

    Parameters
    ----------
    training_set : tuple (x, y)
        ``x`` (N, D) dissimilarities, ``y`` (N,) +1 (same writer) / -1 (different writers).
    svm_type : {'rbf', 'linear'}
    C, gamma : float
    svm_backend : {'libsvm', 'sklearnex'}, default 'libsvm'
        SVC implementation (:mod:`sigver.evaluation.svm`); libsvm gives the original's numbers.
    """
    model = make_svc(svm_type, C, gamma, None, svm_backend)
    pipe = sklearn.pipeline.Pipeline([("scaler", sklearn.preprocessing.StandardScaler(with_mean=False)),
                                      ("classifier", model)])
    x, y = training_set
    pipe.fit(x, y)
    return pipe


def fused_scores(model, references: np.ndarray, questioned: np.ndarray, fusion: str = "max") -> np.ndarray:
    """Scores of questioned signatures against one writer's references, fused over the references.

    Parameters
    ----------
    model : fitted WI pipeline (anything with ``decision_function``)
    references : ndarray (k, D)
    questioned : ndarray (q, D)
    fusion : {'max', 'min', 'mean', 'median'}

    Returns
    -------
    ndarray (q,)
        ``fusion`` over ``i`` of ``decision_function(|q - r_i|)`` (higher = more genuine).
    """
    if fusion not in FUSIONS:
        raise ValueError(f"fusion must be one of {sorted(FUSIONS)}, got {fusion!r}")
    q, k = len(questioned), len(references)
    if q == 0:
        return np.zeros(0)
    if k == 0:
        raise wd_data.WDSplitError("a writer has no reference signature")
    # in the features' own precision, as the original (float32 features give float32 differences)
    diffs = np.abs(np.asarray(questioned)[:, None, :] - np.asarray(references)[None]).reshape(q * k, -1)
    raw = np.concatenate([model.decision_function(diffs[s:s + _CHUNK]) for s in range(0, len(diffs), _CHUNK)])
    return FUSIONS[fusion](raw.reshape(q, k), axis=1)


def test_all_users(model, exp_ref: Triple, exp_test: Triple, num_gen_test: int, fusion: str = "max",
                   global_threshold: float = 0.0, rng=None, progress: bool = False) -> Dict:
    """Score every exploitation writer's test samples with the WI classifier and compute the metrics.

    Per writer (ascending), drawn with ``rng`` exactly as the original (and as
    :func:`sigver.wd.data.select_test_samples`): ``num_gen_test`` skilled forgeries, ``num_gen_test`` test
    genuine signatures, and ``num_gen_test`` random forgeries (one test genuine signature of each of
    ``num_gen_test`` distinct other writers).

    Returns
    -------
    dict
        ``{'all_metrics': compute_metrics(...), 'predictions': {'genuinePreds': [...], 'randomPreds': [...],
        'skilledPreds': [...]}}``, one array per writer in ascending order (the WD result structure).
    """
    selection = wd_data.select_test_samples(exp_test, num_gen_test, None, wd_data.check_rng(rng))
    return _score_selection(model, exp_ref, exp_test, selection, fusion, global_threshold, progress)


def _score_selection(model, exp_ref: Triple, exp_test: Triple, selection: Dict, fusion: str,
                     global_threshold: float, progress: bool = False) -> Dict:
    """:func:`test_all_users` once its samples are drawn (``selection``: user -> genuine, random, skilled
    indices into ``exp_test``)."""
    x_ref, y_ref, yforg_ref = wd_data._unpack(exp_ref, "exp_ref")
    x_test, y_test, _ = wd_data._unpack(exp_test, "exp_test")
    users = sorted(selection)
    if progress:
        from tqdm import tqdm

        users = tqdm(users, desc="testing")
    preds: Dict[str, List[np.ndarray]] = {"genuinePreds": [], "randomPreds": [], "skilledPreds": []}
    for user in users:
        g_idx, r_idx, s_idx = selection[user]
        refs = x_ref[(y_ref == user) & (yforg_ref == 0)]
        scores = fused_scores(model, refs, x_test[np.concatenate([g_idx, r_idx, s_idx])], fusion)
        g, r = len(g_idx), len(r_idx)
        preds["genuinePreds"].append(scores[:g])
        preds["randomPreds"].append(scores[g:g + r])
        preds["skilledPreds"].append(scores[g + r:])
    all_metrics = metrics.compute_metrics(preds["genuinePreds"], preds["randomPreds"], preds["skilledPreds"],
                                          global_threshold)
    return {"all_metrics": all_metrics, "predictions": preds}


def draw_fold(exp_set: Triple, dev_set: Triple, num_gen_train: int, num_gen_ref: int, num_gen_test: int,
              rng) -> Dict:
    """Every random draw of one fold, in the original order: :func:`~sigver.wi.data.split_ref_test`
    (exploitation), :func:`~sigver.wi.data.split_train` (development), the training pairs, then the test
    samples. Returns the inputs of :func:`fit_and_score_fold` (no rng needed after this)."""
    rng = wd_data.check_rng(rng)
    exp_ref, exp_test = wi_data.split_ref_test(exp_set, num_gen_ref, num_gen_test, rng)
    dev_train = wi_data.split_train(dev_set, num_gen_train, rng)
    training_set = wi_data.create_training_set(dev_train, num_gen_train, rng)
    selection = wd_data.select_test_samples(exp_test, num_gen_test, None, rng)
    return {"training_set": training_set, "exp_ref": exp_ref, "exp_test": exp_test, "selection": selection}


def fit_and_score_fold(fold: Dict, svm_type: str, C: float, gamma: Optional[float], fusion: str = "max",
                       global_threshold: float = 0.0, progress: bool = False, svm_backend: str = "libsvm"):
    """Train the WI SVM of a fold drawn by :func:`draw_fold` and score its exploitation writers (deterministic:
    the same on any machine); returns ``(classifier, results)`` as :func:`train_test_all_users`."""
    classifier = train_wiclassifier(fold["training_set"], svm_type, C, gamma, svm_backend)
    results = _score_selection(classifier, fold["exp_ref"], fold["exp_test"], fold["selection"], fusion,
                               global_threshold, progress)
    return classifier, results


def train_test_all_users(exp_set: Triple, dev_set: Triple, svm_type: str, C: float, gamma: Optional[float],
                         num_gen_train: int, num_gen_ref: int, num_gen_test: int, fusion: str = "max",
                         global_threshold: float = 0.0, rng=None, progress: bool = False,
                         svm_backend: str = "libsvm"):
    """One fold of the WI protocol: split, train the WI SVM on the development writers, test.

    Draws from ``rng`` in the original order (:func:`draw_fold`), then fits and scores
    (:func:`fit_and_score_fold`).

    Returns
    -------
    classifier : fitted pipeline
    results : dict
        See :func:`test_all_users`.
    """
    fold = draw_fold(exp_set, dev_set, num_gen_train, num_gen_ref, num_gen_test, rng)
    return fit_and_score_fold(fold, svm_type, C, gamma, fusion, global_threshold, progress, svm_backend)


# the names start with "test": keep pytest from collecting them when a test module imports them
test_all_users.__test__ = False

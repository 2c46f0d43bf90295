"""Results files: JSON with NaN/inf, scores .npz round trip, the original pickle, atomic writes."""
import json
import math
import pickle

import numpy as np
import pytest

from sigver.evaluation import results as R


def predictions(n_folds=2, users=(0, 1, 2), seed=0):
    rs = np.random.RandomState(seed)
    return [{"genuinePreds": [rs.randn(3) + 1 for _ in users],
             "randomPreds": [rs.randn(4) - 1 for _ in users],
             "skilledPreds": [rs.randn(2) for _ in users]} for _ in range(n_folds)]


def test_result_paths():
    p = R.result_paths("out/res.pkl")
    assert str(p["json"]) == "out/res.json" and str(p["scores"]) == "out/res_scores.npz"
    assert str(p["pickle"]) == "out/res.pkl"
    assert R.result_paths("res.pickle")["pickle"].name == "res.pickle"
    for name in ("res", "res.json", "res.npz"):
        p = R.result_paths(name)
        assert p["pickle"] is None and p["json"].name == "res.json" and p["scores"].name == "res_scores.npz"


def test_jsonable_nan_inf_numpy():
    obj = {"a": np.float32(0.5), "b": math.nan, "c": [math.inf, -np.inf], "d": np.arange(2), "e": np.bool_(True)}
    out = R.jsonable(obj)
    assert out == {"a": 0.5, "b": None, "c": ["inf", "-inf"], "d": [0, 1], "e": True}
    json.dumps(out, allow_nan=False)


def test_save_load_json(tmp_path):
    path = tmp_path / "r.json"
    R.save_json(path, {"x": math.nan, "t": -math.inf, "ok": 1.25})
    text = path.read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    back = R.load_json(path)
    assert back["x"] is None and back["t"] == -math.inf and back["ok"] == 1.25


def test_summarize():
    s = R.summarize([{"EER": 0.1, "auc_list": [1, 2], "F": math.nan}, {"EER": 0.3, "F": 0.5}])
    assert s["EER"]["mean"] == pytest.approx(0.2) and s["EER"]["std"] == pytest.approx(0.1)
    assert s["EER"]["n"] == 2 and "auc_list" not in s
    assert s["F"] == {"mean": 0.5, "std": 0.0, "n": 1}


def test_scores_round_trip(tmp_path):
    preds = predictions()
    path = tmp_path / "s.npz"
    R.save_scores(path, preds, [0, 1, 2], extra={"thr": 0.0})
    with np.load(path, allow_pickle=False) as z:
        assert {"genuine", "genuine_user", "genuine_fold", "users", "folds", "thr"} <= set(z.files)
        assert z["genuine"].shape == (2 * 3 * 3,)
    back = R.load_scores(path)
    for a, b in zip(preds, back):
        for key in a:
            for x, y in zip(a[key], b[key]):
                np.testing.assert_array_equal(x, y)


def test_pickle_original_structure(tmp_path):
    preds = predictions(1)
    path = tmp_path / "r.pkl"
    R.save_pickle(path, [{"all_metrics": {"EER": 0.1}, "predictions": preds[0]}])
    with open(path, "rb") as f:
        data = pickle.load(f)
    assert isinstance(data, list) and set(data[0]) == {"all_metrics", "predictions"}
    assert set(data[0]["predictions"]) == {"genuinePreds", "randomPreds", "skilledPreds"}
    assert isinstance(data[0]["predictions"]["genuinePreds"][0], np.ndarray)


def test_failed_write_keeps_old_file(tmp_path):
    path = tmp_path / "r.json"
    path.write_text("old")
    class Unprintable:
        def __str__(self):
            raise RuntimeError("cannot be written")

    with pytest.raises(RuntimeError):
        R.save_json(path, {"a": 1.0, "b": Unprintable()})
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_nonfinite_scores_are_refused_before_writing(tmp_path):
    from sigver.validation import NonFiniteError

    good = {"genuinePreds": [np.array([0.5, 1.0])], "randomPreds": [np.array([-1.0])],
            "skilledPreds": [np.array([-0.5])]}
    bad = dict(good, skilledPreds=[np.array([np.nan])])
    path = tmp_path / "scores.npz"
    with pytest.raises(NonFiniteError, match="fold 2, skilledPreds"):
        R.save_scores(path, [good, bad], [0])
    assert not path.exists()
    R.save_scores(path, [good], [0])
    assert path.exists()

"""sigver.distributed: the Dask engine gives the local results, number for number and byte for byte, on a real
``LocalCluster`` of worker processes (skipped without the ``dask`` extra)."""
import json

import numpy as np
import pytest

from sigver import distributed as sd
from sigver.errors import SigverError

from .wd.test_cli import SMALL, make_features, scores_equal


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def feats(tmp_path_factory):
    return make_features(tmp_path_factory.mktemp("feats") / "feats.npz")


def _same_results(local, remote):
    scores_equal(f"{local}_scores.npz", f"{remote}_scores.npz")
    a, b = (json.loads(open(f"{p}.json").read()) for p in (local, remote))
    assert a["summary"] == b["summary"]
    assert [f["metrics"] for f in a["folds"]] == [f["metrics"] for f in b["folds"]]
    return a


def test_wd_test_on_the_cluster_equals_the_local_run(tmp_path, feats, client, capsys):
    from sigver.wd import test as wdtest

    argv = ["--features-path", feats, *SMALL, "--forg-from-exp", "1", "--target-far", "0.1", "--thr-dev-users", "3"]
    assert wdtest.main([str(a) for a in argv + ["--jobs", "1", "--save-path", tmp_path / "local"]]) == 0
    assert wdtest.main([str(a) for a in argv + ["--scheduler", client.scheduler.address,
                                                 "--save-path", tmp_path / "dask"]]) == 0
    out = _same_results(tmp_path / "local", tmp_path / "dask")
    assert "target_far_threshold" in out["summary"]
    assert "(Dask)" not in capsys.readouterr().err  # --no-progress


def test_wi_test_on_the_cluster_equals_the_local_run(tmp_path, feats, client, monkeypatch):
    from sigver.wi import test as witest

    argv = ["--features-path", feats, "--exp-users", "0", "8", "--dev-users", "8", "16", "--gen-for-train", "6",
            "--gen-for-ref", "6", "--gen-for-test", "4", "--folds", "3", "--svm-gamma", "0.05", "--no-progress"]
    assert witest.main([str(a) for a in argv + ["--save-path", tmp_path / "local"]]) == 0
    monkeypatch.setenv(sd.ENV_VAR, client.scheduler.address)  # the environment variable instead of the flag
    assert witest.main([str(a) for a in argv + ["--save-path", tmp_path / "dask"]]) == 0
    _same_results(tmp_path / "local", tmp_path / "dask")


def test_calibration_on_the_cluster_equals_the_local_one(client):
    """What ``verify enroll --target-far`` runs: calibrate_threshold inside use_client."""
    from sigver.wd.training import calibrate_threshold

    rs = np.random.RandomState(1)
    x = rs.randn(12 * 9, 16)
    y = np.repeat(np.arange(12), 9)
    yforg = np.tile(np.r_[np.zeros(7, int), np.ones(2, int)], 12)
    kw = dict(n_writers=4, num_gen_train=4, num_gen_test=3, num_forg_from_exp=0, num_forg_from_dev=3,
              svm_type="rbf", C=1.0, gamma=0.05)
    local = calibrate_threshold((x, y, yforg), 0.2, rng=np.random.RandomState(7), **kw)
    with sd.use_client(client):
        remote = calibrate_threshold((x, y, yforg), 0.2, rng=np.random.RandomState(7), **kw)
    assert remote == local


def test_process_dataset_on_the_cluster_writes_the_same_bytes(tmp_path, client):
    from sigver.datasets import SyntheticSignatures
    from sigver.preprocessing.pipeline import process_dataset

    reader = SyntheticSignatures(n_users=3, genuine=5, forgeries=3, seed=4)
    for canvas in (None, "auto"):  # the reader's canvas, and one measured (on the cluster too)
        tag = canvas or "reader"
        process_dataset(reader, tmp_path / f"local_{tag}", img_size=(60, 86), workers=1, canvas_size=canvas,
                        progress=False)
        with sd.use_client(client):
            process_dataset(reader, tmp_path / f"dask_{tag}", img_size=(60, 86), canvas_size=canvas,
                            progress=False)
        files = sorted(p.name for p in (tmp_path / f"local_{tag}").iterdir())
        assert files == sorted(p.name for p in (tmp_path / f"dask_{tag}").iterdir()) and "x.npy" in files
        for name in files:
            assert (tmp_path / f"local_{tag}" / name).read_bytes() == \
                (tmp_path / f"dask_{tag}" / name).read_bytes(), name


def test_process_dataset_cli_with_scheduler(tmp_path, client):
    """The command (a folder reader, so the workers read the PNG files themselves) and an .npz target."""
    from sigver.datasets.synthetic import main as synth_main
    from sigver.preprocessing.process_dataset import main

    assert synth_main(["--users", "2", "--genuine", "4", "--forgeries", "2", "--out", str(tmp_path / "raw"),
                       "--no-progress", "--workers", "1"]) == 0
    base = ["--dataset", "gpds", "--path", str(tmp_path / "raw"), "--image-size", "60", "86", "--no-progress"]
    assert main(base + ["--save-path", str(tmp_path / "local.npz"), "--workers", "1"]) == 0
    assert main(base + ["--save-path", str(tmp_path / "dask.npz"), "--scheduler", client.scheduler.address]) == 0
    with np.load(tmp_path / "local.npz") as a, np.load(tmp_path / "dask.npz") as b:
        assert a.files == b.files
        for k in a.files:
            assert a[k].tobytes() == b[k].tobytes(), k


def test_scheduler_address_from_flag_or_environment(monkeypatch):
    monkeypatch.delenv(sd.ENV_VAR, raising=False)
    assert sd.scheduler_address(None) is None
    assert sd.scheduler_address("tcp://a:1") == "tcp://a:1"
    monkeypatch.setenv(sd.ENV_VAR, " tcp://b:2 ")
    assert sd.scheduler_address(None) == "tcp://b:2"
    assert sd.scheduler_address("tcp://a:1") == "tcp://a:1"
    monkeypatch.setenv(sd.ENV_VAR, "")
    assert sd.scheduler_address(None) is None
    with sd.cluster(None) as c:
        assert c is None and sd.active_client() is None


def test_errors_are_one_line(monkeypatch):
    import builtins

    with pytest.raises(SigverError, match="local:N"):
        sd.connect("local:0")
    real_import = builtins.__import__

    def no_dask(name, *args, **kwargs):
        if name == "distributed":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_dask)
    with pytest.raises(SigverError, match=r"pip install 'sigver\[dask\]'"):
        sd.connect("tcp://127.0.0.1:1")


def test_unreachable_scheduler_is_a_user_error(feats, capsys, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr(sd, "CONNECT_TIMEOUT", 2.0)
    from sigver.wd import test as wdtest

    code = wdtest.main([str(a) for a in ["--features-path", feats, *SMALL, "--scheduler", "tcp://127.0.0.1:1"]])
    assert code == 2
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err

"""Checkpoints: the original 3-tuple layout (docs/formats.md), sidecar metadata, legacy files, bad input."""
import json
import os
import warnings
from collections import OrderedDict

import pytest
import torch

import sigver
from sigver.errors import CheckpointError, SigverError
from sigver.featurelearning import (
    CheckpointWarning,
    SigNet,
    SigNet_smaller,
    SigNet_thin,
    load_checkpoint,
    make_heads,
    save_checkpoint,
)
from sigver.featurelearning import checkpoint as ckpt


def _randomize_bn(model, seed=0):
    """Non-trivial running statistics, so that a wrong buffer load would show in the outputs."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            m.running_mean.copy_(torch.rand(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.num_batches_tracked.fill_(7)
    return model


@pytest.fixture(scope="module")
def thin():
    torch.manual_seed(1)
    return _randomize_bn(SigNet_thin()).eval()


@pytest.fixture(scope="module")
def heads():
    torch.manual_seed(2)
    return make_heads(1024, 5, forg=True)


@pytest.fixture(scope="module")
def saved(tmp_path_factory, thin, heads):
    """A SigNet_thin checkpoint with both heads and training arguments in the metadata."""
    path = tmp_path_factory.mktemp("ckpt") / "model_last.pth"
    save_checkpoint(path, thin, heads[0], heads[1], metadata={"training_args": {"lr": 0.001, "users": [350, 881]}})
    return path


def _features(model, x):
    with torch.no_grad():
        return model.eval()(x)


X = torch.rand(2, 1, 150, 220, generator=torch.Generator().manual_seed(3))


def test_file_is_the_original_3_tuple(saved, thin):
    obj = torch.load(saved, weights_only=True)
    assert isinstance(obj, tuple) and len(obj) == 3
    base, cls_sd, forg_sd = obj
    assert all(isinstance(d, OrderedDict) for d in obj)
    assert list(base) == list(thin.state_dict())  # num_batches_tracked included, original order
    assert base["conv_layers.conv1.bn.num_batches_tracked"].item() == 7
    assert {k: list(v.shape) for k, v in cls_sd.items()} == {"weight": [5, 1024], "bias": [5]}
    assert {k: list(v.shape) for k, v in forg_sd.items()} == {"weight": [1, 1024], "bias": [1]}
    assert all(v.device.type == "cpu" for d in obj for v in d.values())


def test_original_usage_contract_loads_our_file(saved, thin):
    """README/example: ``state_dict, _, _ = torch.load(path)``; ``SigNet().load_state_dict(state_dict)``."""
    state_dict, _, _ = torch.load(saved)
    model = SigNet_thin().eval()
    model.load_state_dict(state_dict)
    assert torch.equal(_features(model, X), _features(thin, X))


def test_sidecar(saved):
    info = json.loads(saved.with_suffix(".json").read_text())
    assert info["architecture"] == "signet_thin"
    assert info["feature_space_size"] == 1024
    assert info["num_classes"] == 5
    assert info["forg"] is True
    assert info["input_size"] == [150, 220]
    assert info["pixel_range"] == [0, 1]
    assert info["training_args"] == {"lr": 0.001, "users": [350, 881]}
    assert info["sigver_version"] == sigver.__version__


def test_round_trip(saved, thin, heads):
    model, cls, forg, meta = load_checkpoint(saved)
    assert type(model) is SigNet_thin and not model.training
    f = _features(model, X)
    assert torch.equal(f, _features(thin, X))
    with torch.no_grad():
        assert torch.equal(cls(f), heads[0](f))
        assert torch.equal(forg(f), heads[1](f))
    assert meta["architecture"] == "signet_thin" and meta["sidecar"] is True
    assert meta["num_classes"] == 5 and meta["training_args"]["lr"] == 0.001
    assert model.conv_layers.conv1.bn.num_batches_tracked.item() == 7


def test_no_heads_saved_as_empty_dicts(tmp_path):
    model = SigNet_smaller()
    path = save_checkpoint(tmp_path / "m.pth", model)
    base, cls_sd, forg_sd = torch.load(path, weights_only=True)
    assert cls_sd == OrderedDict() and forg_sd == OrderedDict()
    loaded = load_checkpoint(path)
    assert type(loaded.model) is SigNet_smaller
    assert loaded.classification_layer is None and loaded.forg_layer is None
    assert loaded.metadata["num_classes"] is None and loaded.metadata["forg"] is False
    assert loaded.arch == "signet_smaller"


def test_state_dict_arguments_and_permissions(tmp_path, thin, heads):
    path = save_checkpoint(tmp_path / "sd.pth", thin.state_dict(), heads[0].state_dict())
    info = json.loads((tmp_path / "sd.json").read_text())
    assert info["architecture"] == "signet_thin" and info["feature_space_size"] == 1024
    umask = os.umask(0)
    os.umask(umask)
    assert (path.stat().st_mode & 0o777) == (0o666 & ~umask)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("legacy_format", [False, True], ids=["zip", "legacy"])
def test_original_layout_without_num_batches_tracked(tmp_path, thin, heads, legacy_format):
    """A file as the original training code wrote it (pre-0.4.1 buffers, plain torch.save, no sidecar)."""
    base = OrderedDict((k, v.clone()) for k, v in thin.state_dict().items() if "num_batches_tracked" not in k)
    assert len(base) == 35
    path = tmp_path / "signet_f.pth"
    torch.save((base, heads[0].state_dict(), heads[1].state_dict()), path,
               _use_new_zipfile_serialization=not legacy_format)
    model, cls, forg, meta = load_checkpoint(path)
    assert type(model) is SigNet_thin
    assert torch.equal(_features(model, X), _features(thin, X))
    assert model.conv_layers.conv1.bn.num_batches_tracked.item() == 0
    assert cls.out_features == 5 and forg.out_features == 1
    assert meta["sidecar"] is False and meta["architecture"] == "signet_thin"


def test_signet_inferred_without_sidecar(tmp_path):
    base = SigNet().state_dict()
    path = tmp_path / "signet.pth"
    torch.save((base, make_heads(2048, 531)[0].state_dict(), OrderedDict()), path)
    model, cls, forg, meta = load_checkpoint(path)
    assert type(model) is SigNet and cls.out_features == 531 and forg is None
    assert ckpt.infer_architecture(base) == "signet"


def test_arch_argument(saved):
    assert type(load_checkpoint(saved, arch="signet_thin").model) is SigNet_thin
    with pytest.raises(CheckpointError, match=r"not a 'signet' model: key 'conv_layers.conv2.conv.weight' has "
                                              r"shape \[128, 96, 5, 5\], expected \[256, 96, 5, 5\].*signet_thin"):
        load_checkpoint(saved, arch="signet")
    with pytest.raises(CheckpointError, match="unknown architecture 'vgg'"):
        load_checkpoint(saved, arch="vgg")


# ---------------------------------------------------------------------------------------------------
# bad input: one-line CheckpointError naming the file
# ---------------------------------------------------------------------------------------------------

def _one_line(excinfo, path):
    msg = str(excinfo.value)
    assert "\n" not in msg and str(path) in msg
    assert isinstance(excinfo.value, SigverError) and isinstance(excinfo.value, ValueError)
    return msg


def test_missing_file(tmp_path):
    path = tmp_path / "nope.pth"
    with pytest.raises(CheckpointError, match="no such checkpoint") as e:
        load_checkpoint(path)
    _one_line(e, path)


@pytest.mark.parametrize("legacy_format", [False, True], ids=["zip", "legacy"])
@pytest.mark.parametrize("keep", [0.5, 0.999, 10])
def test_truncated_file(tmp_path, saved, keep, legacy_format):
    if legacy_format:
        legacy = tmp_path / "legacy.pth"
        torch.save(torch.load(saved, weights_only=True), legacy, _use_new_zipfile_serialization=False)
        saved = legacy
    data = saved.read_bytes()
    path = tmp_path / "cut.pth"
    path.write_bytes(data[:int(len(data) * keep)] if keep < 1 else data[:keep])
    with pytest.raises(CheckpointError, match="truncated or corrupt") as e:
        load_checkpoint(path)
    _one_line(e, path)


def test_garbage_file(tmp_path):
    path = tmp_path / "garbage.pth"
    path.write_bytes(b"not a checkpoint at all\n" * 10)
    with pytest.raises(CheckpointError, match="truncated or corrupt") as e:
        load_checkpoint(path)
    _one_line(e, path)


@pytest.mark.parametrize("obj,expected", [
    ({"weight": torch.zeros(2)}, "got a dict with 1 entries; if it is a bare model state dict"),
    ((OrderedDict(), OrderedDict()), "got a tuple of 2 items"),
    (torch.zeros(3), "got a Tensor"),
    ((OrderedDict(), [1, 2], OrderedDict()), "classification state dict is a list"),
    ((OrderedDict(a=torch.zeros(1)), OrderedDict(), OrderedDict(b=3)), "forgery state dict has entry 'b'"),
])
def test_not_the_3_tuple(tmp_path, obj, expected):
    path = tmp_path / "odd.pth"
    torch.save(obj, path)
    with pytest.raises(CheckpointError, match=expected) as e:
        load_checkpoint(path)
    _one_line(e, path)


def test_pickled_object_is_refused(tmp_path):
    path = tmp_path / "module.pth"
    torch.save(torch.nn.Linear(2, 2), path)  # a whole pickled module, not a state dict
    with pytest.raises(CheckpointError, match=r"pickled Python object \(torch.nn.modules.linear.Linear\).*never unpickles") as e:
        load_checkpoint(path)
    _one_line(e, path)


def test_another_models_weights_name_the_first_mismatch(tmp_path, thin):
    base = thin.state_dict()
    wrong = OrderedDict(base)
    wrong["fc_layers.fc1.fc.weight"] = torch.zeros(1024, 1000)
    path = tmp_path / "wrong_shape.pth"
    torch.save((wrong, OrderedDict(), OrderedDict()), path)
    with pytest.raises(CheckpointError, match=r"closest 'signet_thin': key 'fc_layers.fc1.fc.weight' has shape "
                                              r"\[1024, 1000\], expected \[1024, 1920\]") as e:
        load_checkpoint(path)
    _one_line(e, path)

    renamed = OrderedDict((k.replace("conv_layers", "features"), v) for k, v in base.items())
    path = tmp_path / "renamed.pth"
    torch.save((renamed, OrderedDict(), OrderedDict()), path)
    with pytest.raises(CheckpointError, match=r"matches no known architecture.*key "
                                              r"'conv_layers.conv1.conv.weight' is missing"):
        load_checkpoint(path)

    extra = OrderedDict(base)
    extra["fc_layers.fc3.fc.weight"] = torch.zeros(2, 2)
    path = tmp_path / "extra.pth"
    torch.save((extra, OrderedDict(), OrderedDict()), path)
    with pytest.raises(CheckpointError, match="unexpected key 'fc_layers.fc3.fc.weight'"):
        load_checkpoint(path)


def test_heads_that_do_not_fit(tmp_path, thin):
    path = tmp_path / "heads.pth"
    torch.save((thin.state_dict(), make_heads(2048, 5)[0].state_dict(), OrderedDict()), path)
    with pytest.raises(CheckpointError, match=r"classification state dict has weight \[5, 2048\].*size 1024") as e:
        load_checkpoint(path)
    _one_line(e, path)
    torch.save((thin.state_dict(), OrderedDict(), make_heads(1024, 3)[0].state_dict()), path)
    with pytest.raises(CheckpointError, match=r"forgery state dict has weight \[3, 1024\]"):
        load_checkpoint(path)


def test_unreadable_sidecar_is_ignored_with_a_warning(tmp_path, thin):
    path = save_checkpoint(tmp_path / "m.pth", thin)
    (tmp_path / "m.json").write_text("{not json")
    with pytest.warns(CheckpointWarning, match="m.json: unreadable checkpoint metadata"):
        loaded = load_checkpoint(path)
    assert type(loaded.model) is SigNet_thin and loaded.metadata["sidecar"] is False


def test_stale_sidecar_is_ignored_with_a_warning(tmp_path, thin):
    path = save_checkpoint(tmp_path / "m.pth", thin)
    (tmp_path / "m.json").write_text(json.dumps({"architecture": "signet", "training_args": {"lr": 1}}))
    with pytest.warns(CheckpointWarning, match="does not match the weights"):
        loaded = load_checkpoint(path)
    assert loaded.arch == "signet_thin" and "training_args" not in loaded.metadata


def test_no_warning_for_a_good_sidecar(saved):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_checkpoint(saved)


def test_failed_save_keeps_the_existing_file(tmp_path, thin, monkeypatch):
    path = save_checkpoint(tmp_path / "m.pth", thin)
    before = path.read_bytes()

    def broken_save(obj, f, *args, **kwargs):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(ckpt.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, SigNet_thin())
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.pth"]


def test_save_into_missing_folder(tmp_path, thin):
    with pytest.raises(CheckpointError, match="does not exist"):
        save_checkpoint(tmp_path / "no" / "m.pth", thin)

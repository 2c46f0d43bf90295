"""SigNet family: state-dict keys and shapes against the tables of docs/formats.md / 3.3, forward shapes, registry."""
import pytest
import torch

from sigver.errors import SigverError
from sigver.featurelearning import models
from sigver.featurelearning.models import (
    SigNet,
    SigNet_smaller,
    SigNet_thin,
    available_models,
    create_model,
    make_heads,
)

BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _block(prefix, weight_shape):
    """Keys of one conv-bn-relu / linear-bn-relu block as listed in docs/formats.md"""
    layer = "conv" if len(weight_shape) == 4 else "fc"
    out = weight_shape[0]
    rows = [(f"{prefix}.{layer}.weight", list(weight_shape))]
    rows += [(f"{prefix}.bn.{k}", [] if k == "num_batches_tracked" else [out]) for k in BN]
    return rows


# docs/formats.md: the 42 entries of SigNet's state dict, in order
SIGNET_TABLE = (
    _block("conv_layers.conv1", (96, 1, 11, 11))
    + _block("conv_layers.conv2", (256, 96, 5, 5))
    + _block("conv_layers.conv3", (384, 256, 3, 3))
    + _block("conv_layers.conv4", (384, 384, 3, 3))
    + _block("conv_layers.conv5", (256, 384, 3, 3))
    + _block("fc_layers.fc1", (2048, 3840))
    + _block("fc_layers.fc2", (2048, 2048))
)
# docs/formats.md: SigNet_thin (128 channels from conv2 on, 1920 -> 1024 -> 1024)
THIN_TABLE = (
    _block("conv_layers.conv1", (96, 1, 11, 11))
    + _block("conv_layers.conv2", (128, 96, 5, 5))
    + _block("conv_layers.conv3", (128, 128, 3, 3))
    + _block("conv_layers.conv4", (128, 128, 3, 3))
    + _block("conv_layers.conv5", (128, 128, 3, 3))
    + _block("fc_layers.fc1", (1024, 1920))
    + _block("fc_layers.fc2", (1024, 1024))
)
# docs/formats.md: SigNet_smaller (no conv4, the last conv block is named conv5; a single fc1)
SMALLER_TABLE = (
    _block("conv_layers.conv1", (96, 1, 11, 11))
    + _block("conv_layers.conv2", (256, 96, 5, 5))
    + _block("conv_layers.conv3", (384, 256, 3, 3))
    + _block("conv_layers.conv5", (256, 384, 3, 3))
    + _block("fc_layers.fc1", (2048, 3840))
)

CASES = [
    # class, table, feature size, trainable parameters (docs/formats.md / 3.3)
    (SigNet, SIGNET_TABLE, 2048, 15_792_160),
    (SigNet_thin, THIN_TABLE, 1024, 3_781_152),
    (SigNet_smaller, SMALLER_TABLE, 2048, 10_265_888),
]


@pytest.fixture(scope="module")
def built():
    torch.manual_seed(0)
    return {cls: cls() for cls, *_ in CASES}


def test_signet_table_has_42_entries():
    assert len(SIGNET_TABLE) == 42
    assert SIGNET_TABLE[0] == ("conv_layers.conv1.conv.weight", [96, 1, 11, 11])
    assert SIGNET_TABLE[5] == ("conv_layers.conv1.bn.num_batches_tracked", [])
    assert SIGNET_TABLE[30] == ("fc_layers.fc1.fc.weight", [2048, 3840])


@pytest.mark.parametrize("cls,table,size,n_params", CASES, ids=lambda v: getattr(v, "__name__", None))
def test_state_dict_keys_and_shapes(built, cls, table, size, n_params):
    sd = built[cls].state_dict()
    assert [(k, list(v.shape)) for k, v in sd.items()] == table
    for k, v in sd.items():
        assert v.dtype == (torch.int64 if k.endswith("num_batches_tracked") else torch.float32), k


@pytest.mark.parametrize("cls,table,size,n_params", CASES, ids=lambda v: getattr(v, "__name__", None))
def test_parameter_count_and_feature_size(built, cls, table, size, n_params):
    model = built[cls]
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == n_params
    assert model.feature_space_size == size
    assert tuple(model.input_size) == (150, 220)


def test_module_tree_names(built):
    model = built[SigNet]
    assert list(dict(model.conv_layers.named_children())) == [
        "conv1", "maxpool1", "conv2", "maxpool2", "conv3", "conv4", "conv5", "maxpool3"]
    assert list(dict(model.fc_layers.named_children())) == ["fc1", "fc2"]
    assert list(dict(model.conv_layers.conv1.named_children())) == ["conv", "bn", "relu"]
    assert list(dict(model.fc_layers.fc2.named_children())) == ["fc", "bn", "relu"]
    conv1 = model.conv_layers.conv1.conv
    assert (conv1.kernel_size, conv1.stride, conv1.padding, conv1.bias) == ((11, 11), (4, 4), (0, 0), None)
    pool = model.conv_layers.maxpool1
    assert (pool.kernel_size, pool.stride, pool.padding) == (3, 2, 0)
    bn = model.conv_layers.conv1.bn
    assert (bn.eps, bn.momentum, bn.affine, bn.track_running_stats) == (1e-5, 0.1, True, True)


@pytest.mark.parametrize("cls", [SigNet, SigNet_thin, SigNet_smaller], ids=lambda c: c.__name__)
def test_forward_shape_and_relu(built, cls):
    model = built[cls].eval()
    x = torch.rand(3, 1, 150, 220)
    with torch.no_grad():
        f = model(x)
    assert f.shape == (3, model.feature_space_size)
    assert f.dtype == torch.float32
    assert (f >= 0).all()


def test_intermediate_shapes_match_spec(built):
    """docs/formats.md table: 96x35x53 -> 96x17x26 -> 256x17x26 -> 256x8x12 -> ... -> 256x3x5."""
    model = built[SigNet].eval()
    x = torch.zeros(1, 1, 150, 220)
    shapes = []
    with torch.no_grad():
        for layer in model.conv_layers:
            x = layer(x)
            shapes.append(tuple(x.shape[1:]))
    assert shapes == [(96, 35, 53), (96, 17, 26), (256, 17, 26), (256, 8, 12), (384, 8, 12), (384, 8, 12),
                      (256, 8, 12), (256, 3, 5)]


def test_wrong_input_size_is_a_clear_error(built):
    with pytest.raises(ValueError, match=r"\(N, 1, 150, 220\).*170, 242"):
        built[SigNet](torch.zeros(1, 1, 170, 242))


def test_registry_and_create_model():
    assert available_models == {"signet": SigNet, "signet_thin": SigNet_thin, "signet_smaller": SigNet_smaller}
    assert type(create_model("signet_thin")) is SigNet_thin
    with pytest.raises(SigverError, match="signet, signet_thin, signet_smaller"):
        create_model("resnet")
    assert models.model_name(SigNet_thin()) == "signet_thin"
    assert models.model_name(torch.nn.Linear(2, 2)) is None


def test_make_heads():
    cls, forg = make_heads(2048, 531)
    assert forg is None
    assert {k: list(v.shape) for k, v in cls.state_dict().items()} == {"weight": [531, 2048], "bias": [531]}
    cls, forg = make_heads(1024, 7, forg=True)
    assert {k: list(v.shape) for k, v in forg.state_dict().items()} == {"weight": [1, 1024], "bias": [1]}
    assert cls.out_features == 7
    with pytest.raises(ValueError, match="num_classes"):
        make_heads(2048, 0)

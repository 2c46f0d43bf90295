"""Export a feature extractor to ONNX: ``python -m sigver.featurelearning.export``.

::

    python -m sigver.featurelearning.export --model-path signet.pth --out signet.onnx

The graph maps ``image`` float32 ``(N, 1, 150, 220)`` in [0, 1] (background 0: pre-processed, centre-cropped
and divided by 255, as :func:`sigver.featurelearning.extract_features` feeds it) to ``features`` float32
``(N, D)`` (the model's output, or with ``--layer`` / a sidecar naming ``features.layer`` that fc block's,
as ``sigver.verify`` extracts them); the batch axis ``N`` is dynamic. The model is exported in eval mode
(batch-norm running statistics).

It uses PyTorch's TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``), which needs only the
``onnx`` package and works offline; the newer dynamo exporter (PyTorch's default since 2.9) also needs
``onnxscript``. The file is written atomically. Needs ``pip install onnx`` (``pip install "sigver[onnx]"``
also installs ``onnxruntime`` to run it).
"""
from __future__ import annotations

import argparse
import io
import sys
import warnings
from pathlib import Path
from typing import Optional, Sequence

from ..cli import cli_main, positive_int
from ..errors import SigverError
from ..fileio import atomic_write
from .checkpoint import load_checkpoint
from .features import feature_size, features_module
from .models import available_models

__all__ = ["export_onnx", "main", "build_parser", "OPSET"]

#: ONNX opset of the exported graph (onnxruntime >= 1.13 runs it)
OPSET = 17


def export_onnx(model, path, input_size=(150, 220), opset: int = OPSET) -> Path:
    """Write ``model`` (a feature extractor) as an ONNX graph with a dynamic batch axis, atomically.

    Parameters
    ----------
    model : nn.Module
        Maps ``(N, 1, h, w)`` float in [0, 1] to ``(N, D)``; exported in eval mode on the CPU (its mode and
        device are restored).
    path : path-like
        Output ``.onnx`` file; its folder must exist.
    input_size : (int, int)
        ``(h, w)`` of the model input.
    opset : int
    """
    import torch

    try:
        import onnx  # noqa: F401  (the TorchScript exporter needs it)
    except ImportError:
        raise SigverError("ONNX export needs the onnx package: pip install onnx onnxruntime") from None
    path = Path(path)
    if path.is_dir():
        raise SigverError(f"{path}: is a folder; give the path of the .onnx file to write")
    if not path.parent.is_dir():
        raise SigverError(f"{path}: folder {path.parent} does not exist; create it first")
    device = next(iter(model.parameters())).device
    was_training = model.training
    model.cpu().eval()
    dummy = torch.zeros(2, 1, int(input_size[0]), int(input_size[1]))
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(model, (dummy,), buf, input_names=["image"], output_names=["features"],
                              dynamic_axes={"image": {0: "batch"}, "features": {0: "batch"}},
                              opset_version=opset, dynamo=False, do_constant_folding=True)
    finally:
        model.to(device).train(was_training)
    data = buf.getvalue()
    return atomic_write(path, lambda f: f.write(data))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sigver.featurelearning.export",
                                description="Export a checkpoint's feature extractor to ONNX (dynamic batch).")
    p.add_argument("--model-path", required=True, help="checkpoint .pth (sigver, original or published weights)")
    p.add_argument("--out", required=True, help="output .onnx file")
    p.add_argument("--model", "-m", default=None, choices=list(available_models),
                   help="architecture (default: inferred from the checkpoint)")
    p.add_argument("--layer", default=None, metavar="NAME",
                   help="export the output of this fc block (e.g. fc1) instead of the model's; default: the layer "
                        "the model's sidecar names for verification (features.layer), else the output")
    p.add_argument("--opset", type=positive_int, default=OPSET, help=f"ONNX opset (default: {OPSET})")
    return p


@cli_main
def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    loaded = load_checkpoint(args.model_path, arch=args.model)
    input_size = tuple(loaded.metadata.get("input_size") or loaded.model.input_size)
    layer = args.layer if args.layer is not None else loaded.feature_layer
    try:
        module = features_module(loaded.model, layer)
    except ValueError as e:
        raise SigverError(f"--layer: {e}") from None
    out = export_onnx(module, args.out, input_size, args.opset)
    print(f"{loaded.arch} ({input_size[0]} x {input_size[1]} -> {feature_size(loaded.model, layer)} features"
          f"{f' of {layer}' if layer else ''}) -> {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Pre-process a signature, load a SigNet checkpoint, extract its features, and check them (docs/formats.md).

    python example.py                                   # data/some_signature.png, models/signet.pth if present
    python example.py --model-path my_model.pth --image scan.png

It runs from a fresh clone (after ``pip install -e .``). The published SigNet weights are not shipped and never
downloaded: put ``signet.pth`` (Hafemann et al.'s release) in ``models/`` to get real features. Without it the
script uses a SigNet whose weights are drawn from a fixed seed (``numpy.random.RandomState(0)``): its features
mean nothing as signature features, but they are reproducible, so they check the pipeline end to end.

Checks (the script exits with status 1 when one fails):

1. this library's path (``read_image``, ``preprocess_signature``, ``load_checkpoint``, ``extract_features``)
   gives the features of the original example's recipe (scikit-image ``imread`` + ``img_as_ubyte``,
   ``sigver.preprocessing.normalize.preprocess_signature``, ``SigNet().load_state_dict``, a forward pass of
   ``x / 255``), computed here, max abs difference < 1e-4;
2. the features equal a stored reference, max abs difference < 1e-4 (the original's test): ``--reference``, or
   by default the original's ``data/some_signature_features.pth`` (the authors' features with the published
   weights; not shipped, put it in ``data/`` to check the published weights) or, for the fixed-seed SigNet,
   ``data/some_signature_features_seed0.npy`` (computed by this library, shipped). A change of the
   pre-processing (e.g. another scikit-image resize) or of the network shows here.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CANVAS = (952, 1360)  # the GPDS canvas used for the published weights
TOLERANCE = 1e-4  # the original example's
SEED_REFERENCE = HERE / "data" / "some_signature_features_seed0.npy"


def _shown(path) -> str:
    """``path`` relative to the repository when it is inside it (``models/signet.pth``), else as given."""
    try:
        return str(Path(path).resolve().relative_to(HERE))
    except ValueError:
        return str(path)


def seeded_signet():
    """SigNet with weights drawn from ``numpy.random.RandomState(0)`` (Kaiming-uniform bounds, the same on every
    machine and torch version); batch norm at its initial state (identity in eval mode)."""
    import numpy as np
    import torch

    from sigver.featurelearning import create_model

    model = create_model("signet")
    rs = np.random.RandomState(0)
    state = model.state_dict()
    for key, value in state.items():
        if key.endswith((".conv.weight", ".fc.weight")):
            bound = np.sqrt(6.0 / int(np.prod(value.shape[1:])))
            state[key] = torch.from_numpy(rs.uniform(-bound, bound, size=tuple(value.shape)).astype(np.float32))
    model.load_state_dict(state)
    return model.eval()


def original_recipe(image_path, base_state_dict, arch: str):
    """The original example.py's steps (on the CPU): its features of ``image_path``, float32 (1, D)."""
    import torch
    from skimage import img_as_ubyte
    from skimage.io import imread

    from sigver.featurelearning import create_model
    from sigver.preprocessing.normalize import preprocess_signature

    original = img_as_ubyte(imread(str(image_path), as_gray=True))
    processed = preprocess_signature(original, CANVAS)
    x = torch.from_numpy(processed).view(1, 1, 150, 220).float().div(255)
    model = create_model(arch).eval()
    model.load_state_dict(base_state_dict)
    with torch.no_grad():
        return model(x).numpy()


def load_reference(path):
    """A ``.npy`` array or a torch tensor file (the original's ``.pth``), as float32 (1, D); no pickle."""
    import numpy as np
    import torch

    if str(path).endswith(".npy"):
        return np.load(path, allow_pickle=False)
    return torch.load(path, map_location="cpu", weights_only=True).numpy()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model-path", type=Path, default=None,
                   help="checkpoint (default: models/signet.pth, else SigNet with fixed-seed weights)")
    p.add_argument("--image", type=Path, default=None, help="signature scan (default: data/some_signature.png)")
    p.add_argument("--reference", type=Path, default=None,
                   help="expected features, [1, D] (.npy, or a torch tensor .pth as the original's)")
    p.add_argument("--save-reference", type=Path, default=None, metavar="FILE.npy",
                   help="write the features to FILE.npy (how data/some_signature_features_seed0.npy was made)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    args = p.parse_args(argv)

    image = args.image or HERE / "data" / "some_signature.png"
    if not Path(image).is_file():
        print(f"missing: the signature image {_shown(image)}; pass --image SCAN.png", file=sys.stderr)
        return 1
    model_path = args.model_path or HERE / "models" / "signet.pth"
    if args.model_path is not None and not model_path.is_file():
        print(f"missing: the model weights {model_path}; pass the path of a checkpoint (the published signet.pth, "
              f"or one trained with `python -m sigver.featurelearning.train`), or leave --model-path out to use "
              f"SigNet with fixed-seed weights", file=sys.stderr)
        return 1

    import numpy as np
    import torch

    from sigver.datasets.images import read_image
    from sigver.errors import SigverError
    from sigver.featurelearning import extract_features, load_checkpoint
    from sigver.preprocessing import preprocess_signature

    torch.backends.cuda.matmul.allow_tf32 = False  # full float32 on a GPU, as the reference features
    torch.backends.cudnn.allow_tf32 = False
    seeded = not model_path.is_file()
    try:
        img = read_image(image)                                   # uint8, dark ink on light paper
        x = preprocess_signature(img, CANVAS)                     # uint8 150 x 220, inverted
        if seeded:
            model, arch, what = seeded_signet(), "signet", "SigNet with fixed-seed weights"
        else:
            ckpt = load_checkpoint(model_path)                    # architecture inferred from the weights
            model, arch, what = ckpt.model, ckpt.arch, f"{ckpt.arch} ({_shown(model_path)})"
        features = extract_features(model, x[None, None], device=args.device)  # float32 (1, D)
    except SigverError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if seeded:
        print(f"{_shown(model_path)} not found (the published SigNet weights are not shipped: put signet.pth in models/ "
              f"for real features); using SigNet with fixed-seed weights, which checks the pipeline only")
    print(f"{_shown(image)}: features {features.shape} from {what}; L2 norm {float(np.linalg.norm(features)):.4f}, "
          f"{100 * float((features == 0).mean()):.1f} % zeros")
    if args.save_reference:
        np.save(args.save_reference, features)
        print(f"wrote {args.save_reference}")

    failed = False
    diff = float(np.abs(original_recipe(image, model.state_dict(), arch) - features).max())
    ok = diff < TOLERANCE
    failed |= not ok
    print(f"{'Test passed' if ok else 'Test FAILED'}: the original example's recipe gives the same features "
          f"(max |difference| = {diff:.2e}, expected < {TOLERANCE:g})", file=sys.stdout if ok else sys.stderr)

    default_image = args.image is None
    reference = args.reference
    if reference is None and default_image:
        reference = SEED_REFERENCE if seeded else HERE / "data" / "some_signature_features.pth"
        if not reference.is_file():
            reference = None
    if reference is None:
        print("no reference features to compare with (the original's data/some_signature_features.pth, computed "
              "by the authors with the published weights, is not shipped: put it in data/ to check them)")
    else:
        expected = load_reference(reference)
        diff = float(np.abs(expected - features).max()) if expected.shape == features.shape else float("inf")
        ok = diff < TOLERANCE
        failed |= not ok
        if ok:
            print(f"Test passed: max |features - {reference.name}| = {diff:.2e}")
        else:
            print(f"Test FAILED: max |features - {reference.name}| = {diff:.2e} (expected < {TOLERANCE:g}; shapes "
                  f"{expected.shape} and {features.shape}); check the scikit-image version and that the model is "
                  f"the one the reference was computed with", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

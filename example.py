"""Pre-process a signature, load a SigNet checkpoint, extract its features (docs/formats.md).

    python example.py                                   # models/signet.pth, data/some_signature.png
    python example.py --model-path my_model.pth --image scan.png

With the published SigNet weights (``models/signet.pth``) and the original's reference features
(``data/some_signature_features.pth``) it checks that this library reproduces them (max abs difference < 1e-4).
The weights are not shipped and never downloaded: get ``signet.pth`` from the SigNet authors' release and put it
in ``models/``. The sample scan ``some_signature.png`` comes with the original sigver repository (``data/``); the
script also finds it in ``../shared/data/samples`` beside a development checkout.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CANVAS = (952, 1360)  # the GPDS canvas used for the published weights


def _first_existing(*paths: Path):
    return next((p for p in paths if p.is_file()), None)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model-path", type=Path, default=HERE / "models" / "signet.pth")
    p.add_argument("--image", type=Path, default=None, help="signature scan (default: some_signature.png)")
    p.add_argument("--reference", type=Path, default=None,
                   help="expected features, torch tensor [1, D] (default: data/some_signature_features.pth)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    args = p.parse_args(argv)

    image = args.image or _first_existing(HERE / "data" / "some_signature.png",
                                          HERE.parent / "shared" / "data" / "samples" / "some_signature.png")
    if image is None or not Path(image).is_file():
        print(f"missing: the signature image {args.image or 'data/some_signature.png'}; pass --image SCAN.png "
              "(some_signature.png is in the original sigver repository's data/ folder)", file=sys.stderr)
        return 1
    if not args.model_path.is_file():
        print(f"missing: the model weights {args.model_path}. Download the published signet.pth (Hafemann et al.) "
              f"and put it there, or pass --model-path CKPT.pth (any checkpoint trained with "
              f"`python -m sigver.featurelearning.train`)", file=sys.stderr)
        return 1

    import torch

    from sigver.datasets.images import read_image
    from sigver.errors import SigverError
    from sigver.featurelearning import extract_features, load_checkpoint
    from sigver.preprocessing import preprocess_signature

    try:
        img = read_image(image)                                   # uint8, dark ink on light paper
        x = preprocess_signature(img, CANVAS)                     # uint8 150 x 220, inverted
        ckpt = load_checkpoint(args.model_path)                   # architecture inferred from the weights
        features = extract_features(ckpt.model, x[None, None], device=args.device)  # float32 (1, D)
    except SigverError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{image}: features {features.shape} from {ckpt.arch} ({args.model_path}); "
          f"L2 norm {float((features ** 2).sum() ** 0.5):.4f}, {100 * float((features == 0).mean()):.1f} % zeros")

    reference = args.reference or _first_existing(HERE / "data" / "some_signature_features.pth")
    if reference is None:
        print("no reference features (data/some_signature_features.pth): nothing to compare with")
        return 0
    expected = torch.load(reference, map_location="cpu", weights_only=True).numpy()
    diff = float(abs(expected - features).max())
    if diff < 1e-4:
        print(f"Test passed: max |features - reference| = {diff:.2e}")
        return 0
    print(f"Test FAILED: max |features - reference| = {diff:.2e} (expected < 1e-4); check the scikit-image "
          f"version and that {args.model_path} is the published signet.pth", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())

"""Export a trained model for shipping: the checkpoint, its JSON sidecar and its negative pool.

Writes into ``--out-dir`` (default ``models/``):

- ``NAME.pth``: the original 3-tuple checkpoint ``(base, classification, forgery)`` (float32), loadable by
  the original code's SigNet classes and by every sigver command;
- ``NAME.json``: the sidecar: architecture, input size, the pre-processing the model expects (canvas,
  binarisation), the training data and recipe, the benchmark figures (from ``scripts/bench_real.py``'s
  ``results.json``), the SHA-256 of the weights and of the ``.pth`` file;
- ``NAME_negatives.npz``: a negative pool for enrolment: the features of ``--per-writer`` genuine signatures
  of each training writer, float16, with the weights' SHA-256 (``sigver.verify`` uses it by default with
  this model).

``--layer fc1`` ships a model whose verification takes the features of its first fc block instead of its
output (sidecar ``"features": {"layer": "fc1"}``; ``sigver.verify``, the service and
``sigver.featurelearning.extract`` follow it).

Example::

    python scripts/export_model.py --checkpoint runs/bench_real/train/.../model_last.pth \\
        --train-data runs/bench_real/data/hindi.npz --results runs/bench_real/results.json \\
        --recipe recipe-real --name sigver_thin_bhsig260_hindi
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from sigver.fileio import file_sha256

REPO = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    from sigver.datasets import load_dataset, sample_per_writer
    from sigver.featurelearning import extract_features, load_checkpoint, save_checkpoint
    from sigver.featurelearning.features import feature_layers, features_module
    from sigver.datasets.features import save_features
    from sigver.verify.api import weights_sha256

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True, type=Path)
    p.add_argument("--train-data", required=True, type=Path, help="the training writers' dataset file")
    p.add_argument("--results", type=Path, help="bench_real results.json (figures for the sidecar)")
    p.add_argument("--recipe", default=None, help="the recipe's row in --results")
    p.add_argument("--seed", type=int, default=None,
                   help="this model's training seed in that row: its own figures are recorded too")
    p.add_argument("--name", default="sigver_thin_bhsig260_hindi")
    p.add_argument("--out-dir", type=Path, default=REPO / "models")
    p.add_argument("--canvas", nargs=2, type=int, default=(913, 1300),
                   help="canvas for new scans (default: the one the benchmark verified the Dutch writers on)")
    p.add_argument("--binarize", action="store_true", help="the model expects binarised scans")
    p.add_argument("--layer", default=None, metavar="NAME",
                   help="verification takes the features of this fc block (e.g. fc1) instead of the model's "
                        "output; recorded in the sidecar and used for the negative pool")
    p.add_argument("--per-writer", type=int, default=14, help="genuine signatures per writer in the pool")
    p.add_argument("--training-data-note", default="BHSig260, Hindi part: 160 writers, 24 genuine signatures "
                   "each (Pal, Alaei, Pal and Blumenstein, DAS 2016); research use only")
    args = p.parse_args(argv)

    loaded = load_checkpoint(args.checkpoint, device="cpu")
    model = loaded.model.eval()
    train_meta = loaded.metadata
    args.out_dir.mkdir(parents=True, exist_ok=True)
    pth = args.out_dir / f"{args.name}.pth"
    pool_name = f"{args.name}_negatives.npz"
    sha = weights_sha256(model)

    figures = None
    if args.results is not None:
        table = json.loads(args.results.read_text())["recipes"]
        row = table[args.recipe]["summary"]
        figures = {"protocol": "train BHSig260 Hindi (160 writers) -> verify SigComp 2011 Dutch (64 writers); "
                               "WD SVMs, 6 references, 6 genuine test signatures, skilled and random forgeries, "
                               "14 negatives per training writer, 10 folds (scripts/bench_real.py)",
                   "recipe": args.recipe, "seeds": row["n_seeds"],
                   **{k: {"mean": row[k]["mean"], "std": row[k]["std"]}
                      for k in ("wd_EER_userthresholds", "wd_EER", "wd_mean_AUC", "wd_FRR", "wd_FAR_skilled",
                                "wd_FAR_random", "wi_EER")}}
        if args.seed is not None:
            runs = [r for r in table[args.recipe]["seeds"] if r["seed"] == args.seed]
            if not runs:
                p.error(f"--seed {args.seed}: no run of that seed in the {args.recipe} row of {args.results}")
            folds = runs[0]["wd_folds"]
            values = {k: [f[k] for f in folds]
                      for k in ("EER_userthresholds", "EER", "mean_AUC", "FRR", "FAR_skilled", "FAR_random")}
            figures["this_model"] = {"seed": args.seed, **{
                f"wd_{k}": {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1))} for k, v in values.items()}}
        if "original-loop" in table:
            figures["baseline_original_recipe"] = {
                k: table["original-loop"]["summary"][k]["mean"] for k in ("wd_EER_userthresholds", "wd_EER")}

    # the negative pool: genuine signatures of every training writer, features of this model
    data = load_dataset(args.train_data)
    y, yforg = np.asarray(data.y), np.asarray(data.yforg)
    rng = np.random.RandomState(1234)
    keep = sample_per_writer(y, yforg, args.per_writer, 0, rng)
    try:
        features_module(model, args.layer)  # the layer's name, checked
    except ValueError as e:
        p.error(f"--layer {args.layer}: {e}")
    layers = feature_layers(model)
    layer = None if args.layer in (None, layers[-1]) else args.layer
    feats = extract_features(model, data.x[keep], batch_size=256, device="cpu", layer=layer)
    save_features(args.out_dir / pool_name, feats, y[keep], yforg[keep], np.asarray(data.filenames)[keep],
                  np.asarray(data.user_mapping), dtype=np.float16, model_sha256=sha,
                  architecture=loaded.arch, input_size=np.asarray(model.input_size, dtype=np.int64),
                  layer=layer or layers[-1], crops="center")
    pool_error = float(np.abs(feats.astype(np.float16).astype(np.float32) - feats).max())

    metadata = {
        "name": args.name,
        "training_data": args.training_data_note,
        "training_args": train_meta.get("training_args"),
        "recipe": args.recipe,
        "preprocessing": {"canvas": list(args.canvas), "binarize": bool(args.binarize),
                          "training_canvas": [780, 1110], "img_size": [170, 242]},
        "features": {"layer": layer or layers[-1], "crops": "center"},
        "negative_pool": pool_name,
        "negative_pool_info": {"writers": int(len(np.unique(y[keep]))), "per_writer": args.per_writer,
                               "dtype": "float16", "max_abs_rounding": pool_error},
        "benchmark": figures,
        "weights_sha256": sha,
    }
    save_checkpoint(pth, model, loaded.classification_layer, loaded.forg_layer, metadata=metadata)
    sidecar = pth.with_suffix(".json")
    meta = json.loads(sidecar.read_text())
    meta["file_sha256"] = file_sha256(pth)
    sidecar.write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote {pth} ({pth.stat().st_size / 1e6:.1f} MB), {sidecar}, {args.out_dir / pool_name} "
          f"({(args.out_dir / pool_name).stat().st_size / 1e6:.1f} MB); weights sha256 {sha}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

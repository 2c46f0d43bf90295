"""``python -m sigver.distillation.train``: flags of docs/protocols.md, files, fixes of docs/compatibility.md, bad input."""
import json

import numpy as np
import pytest

from sigver.datasets import load_dataset, save_dataset
from sigver.distillation.train import build_parser, main, prepare_distillation_data
from sigver.featurelearning import load_checkpoint

from .conftest import CPU, TEACHER_CLASSES

FAST = ["--s-model", "signet_thin", "--t-model", "signet_thin", "--epochs", "1", "--d-batch-size", "8",
        "--c-batch-size", "8", *CPU]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def test_defaults_match_spec():
    a = build_parser().parse_args(["--s-model", "signet", "--logdir", "x"])
    assert (a.d_dataset_path, a.c_dataset_path, a.d_transform, tuple(a.input_size)) == ("data/data.npz", None, False,
                                                                                         (150, 220))
    assert (tuple(a.c_users), a.t_model, a.d_batch_size, a.c_batch_size) == ((2000, 9950), "signet", 32, 32)
    assert (a.lr, a.lr_decay, a.lr_decay_times, a.momentum, a.weight_decay, a.epochs) == (0.001, 0.1, 3, 0.9,
                                                                                          1e-4, 60)
    assert (a.t_checkpoint, a.s_checkpoint, a.test, a.seed, a.gpu_idx) == ("models/signet.pth", None, False, 42, 0)
    assert (a.d_lamb, a.c_lamb, a.p_lamb, a.temperature) == (1.0, 1.0, 1.7, 1.0)


def test_continual_run_writes_a_standard_checkpoint_that_wd_test_reads(capsys, tmp_path, teacher, inverted,
                                                                      continual_data, dist_data):
    logdir = tmp_path / "run"
    code, err = run(capsys, *FAST, "--t-checkpoint", teacher, "--d-dataset-path", inverted, "--c-dataset-path",
                    continual_data, "--c-users", 0, 4, "--logdir", logdir, "--s-checkpoint", teacher)
    assert code == 0, err
    assert "teacher rows" in err and f"of {TEACHER_CLASSES} teacher classes" in err and "4 new writers" in err
    for name in ("args.json", "log.jsonl", "model_best.pth", "model_last.pth", "model_best.json",
                 "training_state.pth"):
        assert (logdir / name).is_file(), name
    record = json.loads((logdir / "log.jsonl").read_text().splitlines()[0])
    for key in ("train_d_loss", "train_c_loss", "train_p_loss", "val_d_acc", "val_c_acc", "val_p_agree",
                "val_acc"):
        assert np.isfinite(record[key]), key
    # one epoch = the longer set: 28 continual training images = 4 steps; the 21 inverted ones (8 + 8 + 5) cycle
    assert record["train_images"] == 8 + 8 + 5 + 8
    model, head, forg, meta = load_checkpoint(logdir / "model_best.pth")
    assert head.out_features == TEACHER_CLASSES + 4 and forg is None
    assert meta["teacher_classes"] == TEACHER_CLASSES and meta["continual_writer_ids"] == [101, 102, 103, 104]
    from sigver.wd.test import main as wd_main

    code = wd_main(["--model-path", str(logdir / "model_best.pth"), "--data-path", str(dist_data), "--exp-users",
                    "0", "2", "--dev-users", "2", "4", "--gen-for-train", "5", "--gen-for-test", "5",
                    "--forg-from-dev", "5", "--folds", "1", "--device", "cpu", "--no-progress", "--jobs", "1"])
    assert code == 0
    # --test evaluates the saved student; a second run into the same folder is refused
    code, err = run(capsys, *FAST, "--t-checkpoint", teacher, "--d-dataset-path", inverted, "--c-dataset-path",
                    continual_data, "--c-users", 0, 4, "--logdir", logdir, "--test", "--s-checkpoint",
                    logdir / "model_best.pth")
    assert code == 0 and "val_c_acc" in err
    code, err = run(capsys, *FAST, "--t-checkpoint", teacher, "--d-dataset-path", inverted, "--logdir", logdir)
    assert code == 2 and "--resume" in err


def test_feature_term_and_mixup_with_a_student_of_another_width(capsys, tmp_path, teacher, inverted):
    """--f-lamb with signet_smaller (feature size differs from signet_thin's: a linear map is trained with it,
    and kept in the resumable state but not in the model), --d-mixup; both logged and resumable."""
    from sigver.featurelearning.models import create_model

    assert create_model("signet_smaller").feature_space_size != create_model("signet_thin").feature_space_size
    logdir = tmp_path / "run"
    argv = [*FAST, "--s-model", "signet_smaller", "--t-checkpoint", teacher, "--d-dataset-path", inverted,
            "--f-lamb", 2, "--d-mixup", "--logdir", logdir]
    code, err = run(capsys, *argv)
    assert code == 0, err
    record = json.loads((logdir / "log.jsonl").read_text().splitlines()[0])
    assert record["train_f_loss"] > 0 and np.isfinite(record["val_d_f_loss"])
    model, head, _, meta = load_checkpoint(logdir / "model_last.pth")
    assert head.out_features == TEACHER_CLASSES and meta["training_args"]["f_lamb"] == 2
    code, err = run(capsys, *argv, "--epochs", 2, "--resume")
    assert code == 0, err
    assert len((logdir / "log.jsonl").read_text().splitlines()) == 2
    # without --f-lamb, a student of another width trains as in the original (L_f is not measured)
    code, err = run(capsys, *FAST, "--s-model", "signet_smaller", "--t-checkpoint", teacher, "--d-dataset-path",
                    inverted, "--logdir", tmp_path / "plain")
    assert code == 0, err
    record = json.loads((tmp_path / "plain" / "log.jsonl").read_text().splitlines()[0])
    assert "val_d_f_loss" not in record and "train_f_loss" not in record and np.isfinite(record["val_d_loss"])
    with pytest.raises(SystemExit) as exc:  # argparse: usage line + error, exit status 2
        run(capsys, *argv[:-1], tmp_path / "negative", "--f-lamb", -1)
    assert exc.value.code == 2 and "--f-lamb" in capsys.readouterr().err


def test_label_offset_of_the_original_inverted_file(tmp_path, inverted):
    d = load_dataset(inverted)
    shifted = tmp_path / "shifted.npz"  # the original's data.npz: y = writer index 350.. (teacher class + 350)
    save_dataset(shifted, d.x, d.y + 350, d.yforg, list(range(350 + TEACHER_CLASSES)), d.filenames)
    x, labels, offset = prepare_distillation_data(shifted, (350, 350 + TEACHER_CLASSES), None, TEACHER_CLASSES,
                                                  (150, 220), False)
    assert offset == 350 and np.array_equal(labels, d.y) and x.shape == d.x.shape
    x, labels, offset = prepare_distillation_data(inverted, None, None, TEACHER_CLASSES, (150, 220), False)
    assert offset == 0 and np.array_equal(labels, d.y)


def test_larger_images_are_centre_cropped(dist_data):
    x, labels, _ = prepare_distillation_data(dist_data, (4, 10), 4, TEACHER_CLASSES, (150, 220), False)
    full = load_dataset(dist_data)
    keep = (full.y >= 4) & (full.yforg == 0)
    assert x.shape[2:] == (150, 220) and np.array_equal(x, full.x[keep][:, :, 10:160, 11:231])
    x, _, _ = prepare_distillation_data(dist_data, (4, 10), 4, TEACHER_CLASSES, (150, 220), True)
    assert x.shape[2:] == (170, 242)


@pytest.mark.parametrize("case, message", [
    ("arch", "it looks like 'signet_thin'"),
    ("truncated", "truncated or corrupt"),
    ("no_head", "has no classification head"),
    ("missing_data", "no such dataset file"),
    ("other_teacher", "is it an inversion of this teacher"),
    ("c_users", "--c-users 0 9"),
])
def test_bad_input_one_line_nothing_written(capsys, tmp_path, teacher, inverted, continual_data, case, message):
    t_model, t_ckpt, d_path, extra = "signet_thin", teacher, inverted, []
    if case == "arch":
        t_model = "signet_smaller"
    elif case == "truncated":
        t_ckpt = tmp_path / "truncated.pth"
        t_ckpt.write_bytes(teacher.read_bytes()[:3000])
    elif case == "no_head":
        from sigver.featurelearning import save_checkpoint

        t_ckpt = tmp_path / "bare.pth"
        save_checkpoint(t_ckpt, load_checkpoint(teacher).model)
    elif case == "missing_data":
        d_path = tmp_path / "missing.npz"
    elif case == "other_teacher":
        d = load_dataset(inverted)
        d_path = tmp_path / "other.npz"
        save_dataset(d_path, d.x, d.y + 10, d.yforg, list(range(20)), d.filenames)
    elif case == "c_users":
        extra = ["--c-dataset-path", continual_data, "--c-users", 0, 9]
    logdir = tmp_path / "run"
    code, err = run(capsys, *FAST, "--t-model", t_model, "--t-checkpoint", t_ckpt, "--d-dataset-path", d_path,
                    "--logdir", logdir, *extra)
    assert code == 2
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1
    assert not (logdir / "model_last.pth").exists()

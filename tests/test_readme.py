"""The README's Python quick start and commands run as written (with the tests' small trained model as
models/signet.pth, and tiny synthetic data sets in place of the real ones); every README command's flags are
accepted by its parser."""
import importlib
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from sigver.datasets import SyntheticSignatures
from sigver.datasets.synthetic import GENUINE, render_signature
from sigver.preprocessing.process_dataset import process_dataset

README = Path(__file__).resolve().parents[1] / "README.md"


def test_quick_start(tmp_path, monkeypatch, trained_model):
    code = re.search(r"## Quick start in Python\n\n```python\n(.*?)```", README.read_text(), re.S).group(1)
    (tmp_path / "models").mkdir()
    shutil.copy(trained_model, tmp_path / "models" / "signet.pth")
    scans = {"scan": 1, "alice1": 2, "alice2": 3, "alice3": 4, "alice4": 5, "questioned1": 6}
    for name, index in scans.items():
        Image.fromarray(render_signature(11, 3, GENUINE, index)).save(tmp_path / f"{name}.png")
    Image.fromarray(render_signature(11, 4, GENUINE, 6)).save(tmp_path / "questioned2.png")
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code, "README quick start", "exec"), namespace)
    assert namespace["features"].shape == (1, namespace["ckpt"].model.feature_space_size)
    assert (tmp_path / "alice.npz").is_file()


# ---------------------------------------------------------------------------------------------------
# the README's commands

def readme_commands():
    """Every ``python`` command of the README's bash blocks as argv lists (continuation lines joined, comments
    dropped), with the block it comes from."""
    out = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(), re.S):
        for line in re.sub(r"\\\n", " ", block).splitlines():
            argv = shlex.split(line, comments=True)
            if argv and (argv[0] == "python" or "-m" in argv[:3]):
                out.append((argv, block))
    return out


def sigver_module_argv(argv):
    """``(module, args)`` of a ``python -m sigver.X ...`` / ``torchrun ... -m sigver.X ...`` command, with the
    README's optional ``[--flag value]`` groups left out; None for other commands."""
    flag = next((i for i, a in enumerate(argv) if a in ("-m", "-um")), None)
    if flag is None or not argv[flag + 1].startswith("sigver."):
        return None
    args, optional = [], False
    for a in argv[flag + 2:]:
        optional = optional or a.startswith("[")
        if not optional:
            args.append(a)
        optional = optional and not a.endswith("]")
    return argv[flag + 1], args


COMMANDS = [c for c in (sigver_module_argv(argv) for argv, _ in readme_commands()) if c]


def test_readme_has_the_commands():
    modules = {m for m, _ in COMMANDS}
    assert {"sigver.featurelearning.train", "sigver.featurelearning.distill", "sigver.wd.test",
            "sigver.preprocessing.process_dataset", "sigver.distillation.train"} <= modules
    assert len(COMMANDS) > 30


@pytest.mark.parametrize("module,args", COMMANDS, ids=[f"{i}-{m}" for i, (m, _) in enumerate(COMMANDS)])
def test_readme_command_flags(module, args):
    """Each command's flags, as written in the README, are accepted by its parser."""
    if "..." in args:
        pytest.skip("an abbreviated command (`...`)")
    mod = importlib.import_module(module + ".__main__" if module in ("sigver.verify", "sigver.serve") else module)
    if not hasattr(mod, "build_parser"):
        pytest.skip(f"{module} has no build_parser")
    try:
        mod.build_parser().parse_args(args)
    except SystemExit as e:
        pytest.fail(f"README command rejected by its parser (exit {e.code}): python -m {module} {' '.join(args)}")


def synthetic_dataset_file_at(path: Path, **kwargs) -> Path:
    """A tiny pre-processed synthetic data set written at ``path`` (in place of a real one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    process_dataset(SyntheticSignatures(**kwargs), path, workers=2, progress=False)
    return path


def run_as_written(argv, cwd):
    """Run a README command line as written, with this interpreter for ``python``."""
    argv = [sys.executable if a == "python" else a for a in argv]
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=_env())


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(README.parent), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def test_training_command_and_rerun_into_the_same_logdir(tmp_path):
    """The README's small training run, as written, on a tiny synthetic set in place of the demo's; the same
    command again stops and asks for --resume or --overwrite, as the README says beside the command."""
    (argv, _), = [(a, b) for a, b in readme_commands() if "runs/train_demo" in a]
    synthetic_dataset_file_at(tmp_path / "runs" / "demo" / "synthetic_170_242.npz", n_users=20, genuine=3,
                              forgeries=0, seed=2)
    r = run_as_written(argv, tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "runs" / "train_demo" / "model_best.pth").is_file()
    r = run_as_written(argv, tmp_path)
    assert r.returncode == 2 and "--resume" in r.stderr and "--overwrite" in r.stderr
    assert "already holds a run" in README.read_text() and "add --resume to continue" in README.read_text()
    r = run_as_written(argv + ["--resume"], tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]


@pytest.mark.slow
def test_wd_small_run_block(tmp_path):
    """The README's writer-dependent "small run" block, every command as written (it makes its own synthetic
    data set and untrained checkpoint)."""
    block = next(b for _, b in readme_commands() if "a small run: 30 synthetic writers" in b)
    argvs = [a for a, b in readme_commands() if b == block and "gpds" not in " ".join(a)]
    assert len(argvs) == 3
    for argv in argvs:
        r = run_as_written(argv, tmp_path)
        assert r.returncode == 0, (argv, r.stderr[-2000:])
    assert (tmp_path / "results" / "wd.json").is_file() and (tmp_path / "results" / "plots").is_dir()

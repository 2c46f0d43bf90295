"""The package's shape: command modules are leaves, no package reaches into another's private names, and the
former module paths still re-export what moved (see CONTRIBUTING.md and the README's "Architecture")."""
import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "sigver"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _is_command(path: Path) -> bool:
    """A command module: run with ``python -m`` (a ``__main__`` guard, or a package's ``__main__.py``)."""
    if path.name == "__main__.py":
        return True
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Compare):
            left = node.test.left
            if isinstance(left, ast.Name) and left.id == "__name__":
                return True
    return False


COMMANDS = {name for name, path in MODULES.items() if _is_command(path)}


def _package(module: str) -> str:
    """The top-level subpackage a module belongs to (``sigver`` itself for ``sigver.cli`` and the like)."""
    parts = module.split(".")
    if len(parts) >= 2 and f"sigver.{parts[1]}" in MODULES and MODULES[f"sigver.{parts[1]}"].name == "__init__.py":
        return f"sigver.{parts[1]}"
    return "sigver"


def _resolve(importer: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    is_pkg = MODULES[importer].name == "__init__.py"
    base = importer.split(".")
    base = base if is_pkg else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str):
    """``(imported module, imported name or None, line)`` of every import in ``module``, nested ones too."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in MODULES:  # `from . import metrics`: the module itself
                    yield sub, None, node.lineno
                else:
                    yield target, alias.name, node.lineno


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_the_commands_are_found():
    for name in ("sigver.featurelearning.train", "sigver.wd.test", "sigver.wi.test", "sigver.adversarial.evaluate",
                 "sigver.featurelearning.extract", "sigver.preprocessing.process_dataset", "sigver.demo"):
        assert name in COMMANDS
    for name in ("sigver.featurelearning.trainer", "sigver.evaluation.protocol", "sigver.training.run"):
        assert name not in COMMANDS


def test_no_module_imports_a_command_module():
    offences = []
    for module in MODULES:
        for target, _, line in _imports(module):
            if target in COMMANDS and target != module:
                offences.append(f"{MODULES[module].relative_to(ROOT.parent)}:{line} imports the command module "
                                f"{target}")
    assert not offences, "command modules must be leaves (move what is shared into a library module):\n" + \
        "\n".join(offences)


def test_no_cross_package_private_import():
    offences = []
    for module in MODULES:
        for target, name, line in _imports(module):
            if not target.startswith("sigver"):
                continue
            if _package(target) == _package(module):
                continue
            private = [p for p in target.split(".") if _private(p)] + ([name] if name and _private(name) else [])
            if private:
                offences.append(f"{MODULES[module].relative_to(ROOT.parent)}:{line} imports {private[0]} from "
                                f"{target}")
    assert not offences, "a package's _private names are its own (make the name public):\n" + "\n".join(offences)


def test_lower_layers_do_not_import_the_stages():
    """datasets, preprocessing and training know no stage; evaluation and training know no command."""
    stages = ("sigver.wd", "sigver.wi", "sigver.metalearning", "sigver.distillation", "sigver.adversarial",
              "sigver.verify", "sigver.demo")
    rules = {"sigver.datasets": stages + ("sigver.featurelearning", "sigver.training", "sigver.evaluation"),
             "sigver.preprocessing": stages + ("sigver.featurelearning", "sigver.training", "sigver.evaluation"),
             "sigver.training": stages + ("sigver.featurelearning", "sigver.evaluation"),
             "sigver.evaluation": stages + ("sigver.training",),
             "sigver.featurelearning": stages + ("sigver.evaluation",)}
    # the original's command paths kept as leaves that nothing imports: python -m sigver.featurelearning.distill
    # runs the distillation stage (the continual-learning code put it there)
    aliases = {"sigver.featurelearning.distill"}
    offences = []
    for module in MODULES:
        if module in aliases:
            assert module in COMMANDS, f"{module} is listed as a command alias but is not a command module"
            continue
        banned = rules.get(_package(module), ())
        for target, _, line in _imports(module):
            if any(target == b or target.startswith(b + ".") for b in banned):
                offences.append(f"{MODULES[module].relative_to(ROOT.parent)}:{line} imports {target}")
    assert not offences, "imports point down the layers (README, Architecture):\n" + "\n".join(offences)


@pytest.mark.parametrize("old, new, names", [
    ("sigver.featurelearning.loop", "sigver.training.loop", ["TrainLoop", "TrainingError", "write_run_info"]),
    ("sigver.featurelearning.logging", "sigver.training.logging", ["make_loggers", "TensorBoardLogger"]),
    ("sigver.featurelearning.data", "sigver.training.batching", ["DeviceBatches", "split_indices", "Batch"]),
    ("sigver.wd.metrics", "sigver.evaluation.metrics", ["compute_metrics", "roc_curve", "writer_separation"]),
    ("sigver.wd.results", "sigver.evaluation.results", ["save_json", "jsonable", "summarize"]),
    ("sigver.wd.plots", "sigver.evaluation.plots", ["plot_all", "PLOT_FILES"]),
    ("sigver.wd.test", "sigver.evaluation.protocol", ["add_source_arguments", "check_common_args", "load_inputs",
                                                      "format_summary", "write_outputs"]),
    ("sigver.featurelearning.extract", "sigver.datasets.features", ["save_features", "load_features",
                                                                    "FeatureFileError"]),
    ("sigver.featurelearning.train", "sigver.featurelearning.trainer", ["build_parser", "run", "evaluate_split",
                                                                        "training_step", "Net", "TrainContext"]),
    ("sigver.metalearning.models", "sigver.metalearning.models", ["create_model", "available_models"]),
])
def test_former_module_paths_re_export(old, new, names):
    old_mod, new_mod = importlib.import_module(old), importlib.import_module(new)
    for name in names:
        assert getattr(old_mod, name) is getattr(new_mod, name if old != new else name.replace("_model", "_meta_model"))


def test_wd_input_error_is_the_neutral_one():
    from sigver.evaluation.protocol import EvaluationInputError
    from sigver.wd.test import WDInputError

    assert WDInputError is EvaluationInputError

"""The layering rules of docs/architecture.md, checked on the source: one way to run a stage, one
error family, config/ as a leaf, library code without logging or progress bars."""

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import workbench
from conftest import REPO
from workbench.errors import WorkbenchError

PACKAGE = REPO / "workbench"
STAGE_FILES = sorted(p for p in (PACKAGE / "stages").glob("*.py") if p.name != "__init__.py")
MAX_STAGE_LINES = 80
DOMAIN_PACKAGES = ("asr", "nearmiss", "retrieval", "speechllm", "training", "rescoring", "rl", "features", "corpus")
# the runner and the CLI draw progress and print; stages call them; the tracking package is the log
CONSOLE_MODULES = {"cli.py", "runner.py", "__main__.py"}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def python_files(*roots: Path):
    for root in roots:
        yield from (p for p in root.rglob("*.py") if ".venv" not in p.parts)


def test_every_stage_is_a_thin_declaration():
    long = {p.name: n for p in STAGE_FILES if (n := len(p.read_text().splitlines())) > MAX_STAGE_LINES}
    assert not long, f"stage files over {MAX_STAGE_LINES} lines (move the logic into the library): {long}"
    for path in STAGE_FILES:
        module = importlib.import_module(f"workbench.stages.{path.stem}")
        assert hasattr(module, "STAGE"), f"{path.name} declares no STAGE (workbench.runner.Stage)"
        assert module.STAGE.name == path.stem


def test_nothing_but_the_cli_and_cli_tests_imports_stages():
    offenders = []
    for path in python_files(PACKAGE, REPO / "tests", REPO / "benchmarks"):
        if path.parent.name == "stages" or path.name == "cli.py":
            continue
        if any(name == "workbench.stages" or name.startswith("workbench.stages.") for name in imports_of(path)):
            source = path.read_text()
            if path.is_relative_to(REPO / "tests") and "workbench.cli" in source:
                continue  # a CLI test may reach into the stage it drives (monkeypatching its library call)
            offenders.append(str(path.relative_to(REPO)))
    assert not offenders, f"import workbench.stages outside the CLI: {offenders}"


def test_stages_do_not_import_each_other():
    for path in STAGE_FILES:
        others = [n for n in imports_of(path) if n.startswith("workbench.stages")]
        assert not others, f"{path.name} imports {others}"


def test_config_is_a_leaf():
    for path in (PACKAGE / "config").glob("*.py"):
        domain = [n for n in imports_of(path) if n.startswith("workbench.") and n.split(".")[1] in DOMAIN_PACKAGES]
        assert not domain, f"config/{path.name} imports domain packages {domain}"


def test_library_code_neither_logs_nor_draws_progress_bars():
    offenders = []
    for path in python_files(PACKAGE):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] in ("stages", "tracking", "testing") or relative.name in CONSOLE_MODULES:
            continue
        used = {n for n in imports_of(path) if n in ("logging", "tqdm") or n.startswith("tqdm.")}
        if used:
            offenders.append(f"{relative}: {sorted(used)}")
    assert not offenders, "library modules must return values and take callbacks: " + "; ".join(offenders)


def all_modules():
    for info in pkgutil.walk_packages(workbench.__path__, "workbench."):
        if info.name.endswith(("zhtts_worker", "__main__")) or ".stages." in info.name:
            continue
        yield importlib.import_module(info.name)


def test_every_error_class_belongs_to_the_one_family():
    """Every exception class the package defines derives from WorkbenchError (the CLI catches that
    class only: one line, exit 2)."""
    strays = []
    for module in all_modules():
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == module.__name__:
                if not issubclass(value, WorkbenchError):
                    strays.append(f"{module.__name__}.{name}")
    assert not strays, f"exception classes outside WorkbenchError: {strays}"


@pytest.mark.parametrize("path", STAGE_FILES, ids=lambda p: p.stem)
def test_stages_raise_no_bare_builtin_errors_for_input(path):
    """Bad input raises a WorkbenchError subclass; SystemExit/ValueError in a stage would print a
    traceback or bypass the one error path."""
    tree = ast.parse(path.read_text())
    bare = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Raise) and node.exc is not None
            and isinstance(node.exc, ast.Call) and getattr(node.exc.func, "id", None) in ("SystemExit", "ValueError")]
    assert not bare, f"{path.name} raises SystemExit/ValueError at lines {bare}"

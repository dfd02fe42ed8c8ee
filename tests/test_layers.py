"""The folders are the architecture: a layer imports only itself and the layers below it.

Every import counts, lazy ones inside functions included, because a lazy import is still a dependency
(it only moves the cost). The table below is the whole architecture in one place; a module that is in
no layer fails the test, so a new folder has to be placed on purpose.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.scripts_as_modules import OURS, import_closure

ROOT = Path(__file__).resolve().parents[1]

# Lowest first. A module may import from its own layer and from any layer before it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("rotation_doctor.model",),
    ("rotation_doctor.netsem",),
    ("rotation_doctor.analysis",),
    ("rotation_doctor.collect",),
    ("rotation_doctor.examine",),
    # what-if: a plan's changes applied to the collected snapshots, diagnosed again; only the command line uses it
    ("rotation_doctor.whatif",),
    ("remediations",),
    ("rotation_doctor.planning",),
    ("rotation_doctor.apply",),
    ("rotation_doctor.approvals",),
    ("rotation_doctor.notify",),
    ("rotation_doctor.service",),
    ("rotation_doctor.simulated",),
    ("handlers",),
    # The command line is the top: its demo plays the whole story, driving the worker Lambda's handler as
    # EventBridge and SQS would.
    ("rotation_doctor.cli", "rotation_doctor.__main__"),
)
# The package's own __init__ only documents the layers; it imports nothing of ours.
UNLAYERED = {"rotation_doctor"}


def layer_of(module: str) -> int:
    for rank, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    raise LookupError(module)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, module: str) -> set[str]:
    """Every module of ours that `path` imports, resolving relative imports against `module`. Imports only a type
    checker reads count too: a type is a dependency."""
    found: set[str] = import_closure.imported_modules(path, module, _is_module, typing_only=True)
    return {m for m in found if m.split(".")[0] in OURS}


def _is_module(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def our_modules() -> list[Path]:
    return sorted(p for package in OURS for p in (ROOT / package).rglob("*.py"))


def test_every_module_is_in_a_layer() -> None:
    unplaced = []
    for path in our_modules():
        name = module_name(path)
        if name in UNLAYERED:
            continue
        try:
            layer_of(name)
        except LookupError:
            unplaced.append(name)
    assert unplaced == [], f"modules in no layer (add them to LAYERS): {unplaced}"


@pytest.mark.parametrize("path", our_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_a_layer_above_it(path: Path) -> None:
    name = module_name(path)
    if name in UNLAYERED:
        assert imported_modules(path, name) == set()
        return
    rank = layer_of(name)
    upward = sorted(
        f"{target} ({LAYERS[layer_of(target)][0]})"
        for target in imported_modules(path, name)
        if target not in UNLAYERED and layer_of(target) > rank
    )
    assert upward == [], f"{name} ({LAYERS[rank][0]}) imports upward: {upward}"


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    """The walker must see lazy and from-imports, or the test above could never fail."""
    source = "def f():\n    from rotation_doctor.cli import render\n    import rotation_doctor.apply.executor\n"
    path = ROOT / "rotation_doctor" / "model" / "findings.py"
    tree_targets = imported_modules(_write(tmp_path, source), "rotation_doctor.model.findings")
    assert "rotation_doctor.cli.render" in tree_targets
    assert "rotation_doctor.apply.executor" in tree_targets
    assert layer_of("rotation_doctor.cli.render") > layer_of(module_name(path))


def _write(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "probe.py"
    path.write_text(source)
    return path


# ----- tests: a test file imports helpers, never another test file ---------------------------------


def imported_test_files(path: Path) -> list[str]:
    """The test files (`tests/test_*.py`) that `path` imports, lazily or not, however it spells the import."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return sorted(m for m in found if re.fullmatch(r"tests\.test_\w+", m))


TEST_FILES = sorted((ROOT / "tests").glob("test_*.py"))


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda p: p.name)
def test_no_test_file_imports_another(path: Path) -> None:
    """Shared fixtures live in conftest.py and shared code in helper modules (snapshots.py, fix_scenarios.py, faults.py,
    ...): a test file that imports another runs that file's module (and its fixtures) where nobody looks for them,
    and cannot be moved or split without breaking a stranger."""
    assert imported_test_files(path) == []


def test_the_check_sees_a_test_file_imported(tmp_path: Path) -> None:
    source = "from tests.test_worker import x\ndef f():\n    from tests import test_cli\n    import tests.test_iam\n"
    assert imported_test_files(_write(tmp_path, source)) == ["tests.test_cli", "tests.test_iam", "tests.test_worker"]
    assert imported_test_files(_write(tmp_path, "from tests.snapshots import healthy\n")) == []

"""Our own code's top-level packages, and files of scripts/ or bench/ (neither is a package) loaded as modules: the
import walker scripts/import_closure.py that both the layer test and the approval artifact's test use."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
OURS = ("rotation_doctor", "remediations", "handlers")


def load_script(path: Path) -> ModuleType:
    """A file of scripts/ or bench/ (neither is a package), as a module."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The walker scripts/package_lambda.py uses too (a function's artifact is its handler's import closure).
import_closure = load_script(ROOT / "scripts" / "import_closure.py")

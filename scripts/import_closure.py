"""What a module imports, read from the source: every `import` and `from ... import`, lazy ones inside functions
included (a lazy import still runs, later), and the closure of a module over a search path.

Imports only a type checker reads (inside `if TYPE_CHECKING:`) are left out when `typing_only=False`: they never run.
What no static reading can see (`importlib.import_module` with a computed name, `__import__`) is not found; the
packaged functions are imported in a clean environment by tests/test_packaging.py and tests/test_sam_build.py.

Used by scripts/package_lambda.py (a function's artifact holds its handler's closure) and by tests/test_layers.py
(no module imports a layer above its own). Standard library only.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

# How CPython names an extension module's file, e.g. _pydantic_core.cpython-313-x86_64-linux-gnu.so.
EXTENSION_SUFFIXES = (".so", ".pyd")


def imported_modules(
    path: Path, module: str, is_module: Callable[[str], bool], *, typing_only: bool = True
) -> set[str]:
    """The dotted names `path` (the module `module`) imports, relative imports resolved. `from a import b` names `a`,
    and `a.b` too when `is_module("a.b")` (b is a module, not a name defined in a)."""
    tree = ast.parse(path.read_bytes(), filename=str(path))
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in _walk(tree, typing_only=typing_only):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names if is_module(f"{target}.{alias.name}"))
    found.discard("")
    return found


def _walk(tree: ast.AST, *, typing_only: bool) -> Iterable[ast.AST]:
    """ast.walk, without the body of `if TYPE_CHECKING:` (its `else` runs) unless `typing_only`."""
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        yield node
        if not typing_only and isinstance(node, ast.If) and _is_type_checking(node.test):
            pending.extend(node.orelse)
            continue
        pending.extend(ast.iter_child_nodes(node))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def module_file(dotted: str, search: Sequence[Path]) -> Path | None:
    """The file that defines module `dotted` on `search`: a .py file, a package's __init__.py, an extension module,
    or a namespace package's directory; None when it is on none of them."""
    parts = dotted.split(".")
    for directory in search:
        base = directory.joinpath(*parts)
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
        if base.parent.is_dir():
            for suffix in EXTENSION_SUFFIXES:
                extensions = [*sorted(base.parent.glob(f"{base.name}.*{suffix}")), base.with_suffix(suffix)]
                for extension in extensions:
                    if extension.is_file():
                        return extension
        if base.is_dir():  # a namespace package (no __init__.py)
            return base
    return None


def closure(
    roots: Iterable[str], search: Sequence[Path], follows: Callable[[str, str], bool] = lambda importer, name: True
) -> tuple[dict[str, Path], dict[str, str]]:
    """Every module on `search` that importing `roots` imports (each package's __init__ included), with its file;
    and each import found on no directory of `search` (the standard library, what the runtime provides, or
    missing), with a module that imports it. Imports only type checkers read are left out; an import is followed
    when `follows(importer, imported)`."""
    found: dict[str, Path] = {}
    unresolved: dict[str, str] = {}
    pending = [(name, "") for root in roots for name in _with_parents(root)]
    while pending:
        name, importer = pending.pop()
        if name in found or name in unresolved:
            continue
        path = module_file(name, search)
        if path is None:
            unresolved[name] = importer
            continue
        found[name] = path
        if path.suffix != ".py":
            continue
        for imported in imported_modules(
            path, name, lambda dotted: module_file(dotted, search) is not None, typing_only=False
        ):
            if follows(name, imported):
                pending.extend((parent, name) for parent in _with_parents(imported))
    return found, unresolved


def _with_parents(dotted: str) -> list[str]:
    """`a.b.c` imports `a`, `a.b` and `a.b.c`."""
    parts = dotted.split(".")
    return [".".join(parts[:n]) for n in range(1, len(parts) + 1)]


def is_standard_library(dotted: str) -> bool:
    return dotted.split(".")[0] in sys.stdlib_module_names

"""Build the Lambda artifact for the runtime's platform: `make package` (into build/package) and `sam build`
(the template's `BuildMethod: makefile` targets, into SAM's $ARTIFACTS_DIR) both run this.

    python scripts/package_lambda.py lock [--check]      # requirements-lambda.txt from pyproject.toml (uv)
    python scripts/package_lambda.py download --python-version 3.13   # the one step that needs PyPI
    python scripts/package_lambda.py build --python-version 3.13 [--out DIR] [--handler MODULE]   # offline

What is installed is requirements-lambda.txt, the lock: every distribution pinned, with its hashes, for the
template's runtime (its Python and architecture), made by uv from pyproject.toml's dependencies. Downloads and
builds pass `--require-hashes`, so a wheel whose bytes differ from the lock's is refused. `lock --check` compiles
again against the lock's own pins and fails when pyproject.toml asks for something the lock does not hold.
The distributions the Lambda runtime already ships (boto3 and what it needs) are removed after the install,
and so is the simulated account (tests and demo only).

With `--handler` (the approval function's build), the artifact holds only what importing that module imports:
its import closure, read from the source by scripts/import_closure.py, lazy imports included and imports only type
checkers read left out. Our modules are followed wherever they import; a library's imports are followed within
itself and into the distributions it requires, never into one it names only as an extra (Powertools' OpenAPI
support imports pydantic, its tracer the X-Ray SDK: features the approval page does not use). An import of ours
that the artifact cannot satisfy (not the standard library, not the runtime's) fails the build.

Nothing is byte-compiled: .pyc files compiled here would be for this machine's Python, which the
runtime's never reads (it compiles what it imports, in memory, on a read-only file system).
`download` and `build` need only the standard library and pip; `lock` needs uv (the dev extra has it).
"""

from __future__ import annotations

import argparse
import email
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from import_closure import EXTENSION_SUFFIXES, closure, is_standard_library

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements-lambda.txt"
TEMPLATE = ROOT / "template.yaml"
# The template's Architectures, as pip's wheel platform and as uv's target platform (manylinux2014 is glibc 2.17;
# Lambda's Amazon Linux 2023 has 2.34, so every wheel built for 2.17 runs there).
PLATFORMS = {
    "x86_64": ("manylinux2014_x86_64", "x86_64-manylinux_2_17"),
    "arm64": ("manylinux2014_aarch64", "aarch64-manylinux_2_17"),
}
RUNTIME_PROVIDED = {"boto3", "botocore", "s3transfer", "urllib3", "python-dateutil", "six", "jmespath"}
PACKAGES = ("rotation_doctor", "remediations", "handlers")
LEFT_OUT = ("rotation_doctor/simulated", "rotation_doctor/cli/demo.py")


def runtime() -> tuple[str, str]:
    """The template's Python version and architecture (its Globals: every function runs on the same)."""
    text = TEMPLATE.read_text()
    version = re.search(r"^\s+Runtime:\s*python(\d+\.\d+)\s*$", text, re.MULTILINE)
    architecture = re.search(r"^\s+Architectures:\s*\[\s*(\w+)\s*\]", text, re.MULTILINE)
    if version is None or architecture is None or architecture.group(1) not in PLATFORMS:
        raise SystemExit(f"{TEMPLATE.name}: no python Runtime or no known Architectures ({', '.join(PLATFORMS)})")
    return version.group(1), architecture.group(1)


def lock(output: Path) -> None:
    """uv compiles pyproject.toml's dependencies for the runtime into `output`, keeping the pins it holds."""
    version, architecture = runtime()
    subprocess.run(
        [
            *_uv(),
            "pip",
            "compile",
            "--quiet",
            "--generate-hashes",
            "--python-version",
            version,
            "--python-platform",
            PLATFORMS[architecture][1],
            "--custom-compile-command",
            "make lock",
            "--output-file",
            str(output),
            str(ROOT / "pyproject.toml"),
        ],
        check=True,
    )


def _uv() -> list[str]:
    """The dev extra's uv (this Python's), else one on PATH."""
    if importlib.util.find_spec("uv") is not None:
        return [sys.executable, "-m", "uv"]
    found = shutil.which("uv")
    if found is None:
        raise SystemExit("the lock needs uv: pip install -e '.[dev]' (make does), or put uv on PATH")
    return [found]


def pins(path: Path) -> dict[str, str]:
    """The lock's distributions and their versions."""
    found = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", path.read_text(), re.MULTILINE)
    return {_normal(name): version for name, version in found}


def check_lock() -> list[str]:
    """What differs between the lock and a compile of pyproject.toml that keeps the lock's pins (nothing: agreed)."""
    with tempfile.TemporaryDirectory() as scratch:
        again = Path(scratch) / LOCK.name
        shutil.copy2(LOCK, again)  # uv prefers the pins of the file it writes: only what must change changes
        lock(again)
        locked, wanted = pins(LOCK), pins(again)
    return [
        f"{name}: locked {locked.get(name, '(absent)')}, pyproject.toml needs {wanted.get(name, '(nothing)')}"
        for name in sorted(locked.keys() | wanted.keys())
        if locked.get(name) != wanted.get(name)
    ]


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _distribution_name(dist_info: Path) -> str:
    for line in (dist_info / "METADATA").read_text(errors="replace").splitlines():
        if line.startswith("Name:"):
            return _normal(line.split(":", 1)[1].strip())
    return ""


def _pip_target(python_version: str) -> list[str]:
    platform = PLATFORMS[runtime()[1]][0]
    return ["--only-binary=:all:", "--platform", platform, "--implementation", "cp", "--python-version", python_version]


def _platform_and_lock(python_version: str) -> list[str]:
    return [*_pip_target(python_version), "--require-hashes", "--requirement", str(LOCK)]


def download(wheelhouse: Path, python_version: str) -> None:
    """The lock's wheels (boto3's too: a test environment installs it from here, as the runtime has it)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--dest",
            str(wheelhouse),
            *_platform_and_lock(python_version),
        ],
        check=True,
    )


def build(wheelhouse: Path, python_version: str, out: Path, handler: str | None = None) -> None:
    out = out.resolve()
    if out == ROOT or out in ROOT.parents:
        raise SystemExit(f"--out {out} would replace the source tree: name a directory of its own")
    if out.exists():
        shutil.rmtree(out)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-index",
            "--no-compile",
            "--find-links",
            str(wheelhouse),
            "--target",
            str(out),
            *_platform_and_lock(python_version),
        ],
        check=True,
        env={**os.environ, "PIP_ROOT_USER_ACTION": "ignore"},  # --target writes no environment's site-packages
    )
    provided: set[str] = set()
    for dist in list(out.glob("*.dist-info")):
        if _distribution_name(dist) in RUNTIME_PROVIDED:
            provided |= _top_level_names(dist)
            _remove_distribution(out, dist)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, out / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for left_out in LEFT_OUT:
        path = out / left_out
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    _remove_bytecode(out)
    if handler is not None:
        _keep_only_the_closure(out, handler, provided)


def _keep_only_the_closure(site: Path, handler: str, provided: set[str]) -> None:
    """Removes from `site` every module importing `handler` does not import, and every distribution none of its
    modules is: what is left is the modules' files, their packages' data files and their distributions' metadata."""
    owners = {name: dist for dist in site.glob("*.dist-info") for name in _top_level_names(dist)}
    requires = {dist: _requirements(dist) for dist in set(owners.values())}

    def follows(importer: str, imported: str) -> bool:
        source, target = owners.get(_top(importer)), owners.get(_top(imported))
        return source is None or target is None or target == source or _distribution_name(target) in requires[source]

    modules, unresolved = closure([handler], [site], follows)
    unmet = sorted(
        f"{importer} imports {name}"
        for name, importer in unresolved.items()
        if _top(importer) in PACKAGES and not is_standard_library(name) and _top(name) not in provided
    )
    if unmet:
        raise SystemExit(f"the artifact of {handler} cannot hold what it imports: {'; '.join(unmet)}")
    kept = {path for path in modules.values() if path.is_file()}
    for package in [path.parent for path in kept if path.name == "__init__.py"]:
        kept.update(
            f for f in package.iterdir() if f.is_file() and f.suffix not in (".py", ".pyi", *EXTENSION_SUFFIXES)
        )
    for dist in {owners[_top(name)] for name in modules if _top(name) in owners}:
        kept.update(dist.rglob("*"))
    for path in [p for p in site.rglob("*") if p.is_file() and p not in kept]:
        path.unlink()
    _remove_empty_directories(site)


def _top(dotted: str) -> str:
    return dotted.split(".")[0]


def _top_level_names(dist_info: Path) -> set[str]:
    """The importable names a distribution installs, from its RECORD (`six.py` is `six`; `bin/` is no module)."""
    names = set()
    for line in (dist_info / "RECORD").read_text().splitlines():
        first = line.split(",", 1)[0].split("/", 1)[0]
        if first and not first.endswith((".dist-info", ".data", ".pth")) and first not in ("..", "bin", "__pycache__"):
            names.add(first.split(".", 1)[0])
    return names


def _requirements(dist_info: Path) -> set[str]:
    """The distributions `dist_info`'s distribution requires whatever extras are asked (Requires-Dist without an
    `extra` marker); pip already judged the other markers for the runtime when it installed them."""
    metadata = email.message_from_string((dist_info / "METADATA").read_text(errors="replace"))
    required = set()
    for requirement in metadata.get_all("Requires-Dist", []):
        name, _, marker = requirement.partition(";")
        if "extra" not in marker:
            found = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", name)
            if found is not None:
                required.add(_normal(found.group(1)))
    return required


def _remove_bytecode(out: Path) -> None:
    """Whatever a wheel shipped compiled (pip --no-compile compiles nothing itself)."""
    for cache in list(out.rglob("__pycache__")):
        shutil.rmtree(cache)
    for compiled in list(out.rglob("*.py[co]")):
        compiled.unlink()


def _remove_distribution(site: Path, dist_info: Path) -> None:
    """Uninstall by the distribution's RECORD, as pip would."""
    for line in (dist_info / "RECORD").read_text().splitlines():
        path = site / line.split(",", 1)[0]
        if path.is_file():
            path.unlink()
    _remove_empty_directories(site)
    if dist_info.exists():
        shutil.rmtree(dist_info)


def _remove_empty_directories(site: Path) -> None:
    directories = [p for p in site.rglob("*") if p.is_dir()]
    for directory in sorted(directories, key=lambda p: len(p.parts), reverse=True):  # deepest first
        if not any(directory.iterdir()):
            directory.rmdir()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("lock", "download", "build"))
    parser.add_argument("--check", action="store_true", help="lock: fail when pyproject.toml and the lock disagree")
    parser.add_argument("--python-version", default=None, help="the template's Runtime unless given")
    parser.add_argument("--wheelhouse", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "package")
    parser.add_argument("--handler", default=None, help="build: only what importing this module imports")
    args = parser.parse_args()
    version = args.python_version or runtime()[0]
    wheelhouse = args.wheelhouse or ROOT / ".wheelhouse" / f"py{version.replace('.', '')}"
    if args.action == "lock" and args.check:
        differences = check_lock()
        for difference in differences:
            print(f"{LOCK.name} disagrees with pyproject.toml: {difference}", file=sys.stderr)
        if differences:
            print("Run `make lock` and commit requirements-lambda.txt.", file=sys.stderr)
        return 1 if differences else 0
    if args.action == "lock":
        lock(LOCK)
    elif args.action == "download":
        download(wheelhouse, version)
    else:
        build(wheelhouse, version, args.out, args.handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())

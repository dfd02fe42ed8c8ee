"""Build the Lambda artifact for the runtime's platform: `make package` (into build/package) and `sam build`
(the template's `BuildMethod: makefile` targets, into SAM's $ARTIFACTS_DIR) both run this.

    python scripts/package_lambda.py download --python-version 3.13   # the one step that needs PyPI
    python scripts/package_lambda.py build --python-version 3.13 [--out DIR]   # offline: pip --no-index

The runtime dependencies come from pyproject.toml; the ones the Lambda runtime already ships
(boto3 and what it needs) are left out, and so is the simulated account (tests and demo only).
Nothing is byte-compiled: .pyc files compiled here would be for this machine's Python, which the
runtime's never reads (it compiles what it imports, in memory, on a read-only file system).
It needs only the standard library and pip.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLATFORM = "manylinux2014_x86_64"  # the template's Architectures: [x86_64]
RUNTIME_PROVIDED = {"boto3", "botocore", "s3transfer", "urllib3", "python-dateutil", "six", "jmespath"}
PACKAGES = ("rotation_doctor", "remediations", "handlers")
LEFT_OUT = ("rotation_doctor/simulated", "rotation_doctor/cli/demo.py")


def requirements() -> list[str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return [d for d in deps if _name(d) not in RUNTIME_PROVIDED]


def _name(requirement: str) -> str:
    for stop in "<>=![; ":
        requirement = requirement.split(stop, 1)[0]
    return requirement.strip().lower()


def _distribution_name(dist_info: Path) -> str:
    for line in (dist_info / "METADATA").read_text(errors="replace").splitlines():
        if line.startswith("Name:"):
            return line.split(":", 1)[1].strip().lower().replace("_", "-")
    return ""


def _pip_target(python_version: str) -> list[str]:
    return ["--only-binary=:all:", "--platform", PLATFORM, "--implementation", "cp", "--python-version", python_version]


def download(wheelhouse: Path, python_version: str, with_runtime: bool) -> None:
    wanted = requirements() + (["boto3"] if with_runtime else [])
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--dest",
            str(wheelhouse),
            *_pip_target(python_version),
            *wanted,
        ],
        check=True,
    )


def build(wheelhouse: Path, python_version: str, out: Path) -> None:
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
            *_pip_target(python_version),
            *requirements(),
        ],
        check=True,
        env={**os.environ, "PIP_ROOT_USER_ACTION": "ignore"},  # --target writes no environment's site-packages
    )
    for dist in list(out.glob("*.dist-info")):
        if _distribution_name(dist) in RUNTIME_PROVIDED:
            _remove_distribution(out, dist)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, out / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for left_out in LEFT_OUT:
        path = out / left_out
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    _remove_bytecode(out)


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
    directories = [p for p in site.rglob("*") if p.is_dir()]
    for directory in sorted(directories, key=lambda p: len(p.parts), reverse=True):  # deepest first
        if not any(directory.iterdir()):
            directory.rmdir()
    if dist_info.exists():
        shutil.rmtree(dist_info)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("action", choices=("download", "build"))
    parser.add_argument("--python-version", default="3.13")
    parser.add_argument("--wheelhouse", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "package")
    parser.add_argument("--with-runtime", action="store_true", help="also download boto3 (to emulate the runtime)")
    args = parser.parse_args()
    wheelhouse = args.wheelhouse or ROOT / ".wheelhouse" / f"py{args.python_version.replace('.', '')}"
    if args.action == "download":
        download(wheelhouse, args.python_version, args.with_runtime)
    else:
        build(wheelhouse, args.python_version, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

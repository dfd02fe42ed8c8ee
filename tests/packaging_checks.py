"""The Lambda artifact checked as the runtime would load it: the runtime's own Python, the wheels for its platform, the
handlers imported in a clean environment (`make package` here, `sam build` in test_sam_build)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = ROOT / "scripts" / "package_lambda.py"

# An index nobody answers on: the build must not need one.
OFFLINE = {**os.environ, "PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_NO_INDEX": "1"}


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, check=True, capture_output=True, text=True, env=env, timeout=600)


def download(version: str, *, with_runtime: bool = False) -> Path:
    """The wheels for `version` into .wheelhouse (once: pip skips what is there); with boto3 to emulate the runtime."""
    wheelhouse = ROOT / ".wheelhouse" / f"py{version.replace('.', '')}"
    download = [sys.executable, str(SCRIPT), "download", "--python-version", version, "--wheelhouse", str(wheelhouse)]
    run(*download, *(["--with-runtime"] if with_runtime else []))
    return wheelhouse


def assert_handlers_import(packages: list[tuple[Path, str, str]], wheelhouse: Path, venv: Path) -> None:
    """Each (artifact, module, function) imports in a virtual environment holding only boto3, as Lambda's does, and
    the service's event parsing (pydantic, loaded lazily) works there."""
    run(sys.executable, "-m", "venv", str(venv))
    python = str(venv / "bin" / "python")
    run(python, "-m", "pip", "install", "--quiet", "--no-index", "--find-links", str(wheelhouse), "boto3", env=OFFLINE)
    env = {
        "PATH": os.environ["PATH"],
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "PYTHONNOUSERSITE": "1",
    }
    assert packages
    for package, module, function in packages:
        probe = (
            f"import sys; sys.path.insert(0, {str(package)!r}); import {module} as m; "
            f"assert callable(m.{function}); import rotation_doctor.service.events as e; "
            "print(type(e.parse({'version': '0', 'id': 'x', 'detail-type': 'Scheduled Event', 'source': "
            "'aws.events', 'account': '1', 'time': '2026-11-29T00:00:00Z', 'region': 'us-east-1', "
            "'resources': [], 'detail': {}})).__name__)"
        )
        out = run(python, "-I", "-c", probe, env=env)
        assert out.stdout.strip() == "Sweep"


def runtime_version() -> str:
    runtime = re.search(r"Runtime:\s*python(\d\.\d+)", (ROOT / "template.yaml").read_text())
    assert runtime is not None
    return runtime.group(1)


def assert_built_for_the_runtime(package: Path, version: str) -> None:
    """Its binaries are CPython `version` on x86_64; it leaves out what the runtime ships and compiles nothing."""
    tag = f"cpython-{version.replace('.', '')}-x86_64-linux-gnu"
    assert list((package / "pydantic_core").glob(f"*{tag}.so")), f"pydantic_core is not built for {tag}"
    binaries = [p.name for p in package.rglob("*.so")]
    assert binaries and all(tag in name for name in binaries), binaries
    assert (package / "handlers" / "worker.py").exists() and (package / "handlers" / "approval.py").exists()
    assert not (package / "boto3").exists() and not (package / "botocore").exists()
    assert not (package / "rotation_doctor" / "simulated").exists()
    # Bytecode compiled here would be for this machine's Python: the runtime's never reads it.
    compiled = [p for p in package.rglob("*") if p.name == "__pycache__" or p.suffix in (".pyc", ".pyo")]
    assert compiled == [], compiled[:5]

"""`make package`: the artifact builds offline for the Lambda platform, and its handlers import in a clean
environment that has only what the Lambda runtime has (Python and boto3)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.packaging_checks import (
    ROOT,
    assert_built_for_the_runtime,
    assert_handlers_import,
    build,
    runtime_version,
)


def handlers() -> list[tuple[str, str]]:
    text = (ROOT / "template.yaml").read_text()
    return [tuple(m.rsplit(".", 1)) for m in re.findall(r"Handler:\s*(\S+)", text)]  # type: ignore[misc]


@pytest.mark.packaging
def test_packaged_handlers_import_in_a_clean_environment(tmp_path: Path) -> None:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    package = tmp_path / "package"
    wheelhouse = build(version, package)
    assert not (package / "boto3").exists() and not (package / "botocore").exists()  # the runtime has them
    assert not (package / "rotation_doctor" / "simulated").exists() and not (package / "moto").exists()
    assert_handlers_import(
        [(package, module, function) for module, function in handlers()], wheelhouse, tmp_path / "rt"
    )


@pytest.mark.packaging
def test_the_lambda_artifact_is_built_for_the_runtime(tmp_path: Path) -> None:
    version = runtime_version()
    package = tmp_path / "package"
    build(version, package)
    assert_built_for_the_runtime(package, version)


@pytest.mark.browser
def test_the_readme_picture_is_made_by_the_script(tmp_path: Path) -> None:
    """docs/approval-page.png comes from scripts/screenshot_approval_page.py (make screenshot)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("screenshot", ROOT / "scripts" / "screenshot_approval_page.py")
    assert spec is not None and spec.loader is not None
    screenshot = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(screenshot)
    html = screenshot.page_html()
    assert "Approve and apply" in html and "CREATE_SECRETSMANAGER_ENDPOINT" in html
    out = tmp_path / "page.png"
    screenshot.photograph(html, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20_000
    assert (ROOT / "docs" / "approval-page.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def make_with_only(tmp_path: Path, pythons: dict[str, Path], *args: str) -> subprocess.CompletedProcess[str]:
    """`make` with a PATH holding only `pythons` (name → interpreter or script), as on a machine with no other."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, target in pythons.items():
        (bin_dir / name).symlink_to(target)
    return subprocess.run(
        ["/usr/bin/make", "-C", str(ROOT), *args],
        env={"PATH": str(bin_dir)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_make_says_which_python_it_needs_when_only_an_older_one_exists(tmp_path: Path) -> None:
    old = tmp_path / "python3.9"
    old.write_text('#!/bin/sh\n[ "$1" = --version ] && { echo "Python 3.9.2"; exit 0; }\nexit 1\n')
    old.chmod(0o755)
    done = make_with_only(tmp_path, {"python3": old}, "package")
    assert done.returncode != 0
    assert "rotation-doctor needs Python 3.11, 3.12 or 3.13 (found: Python 3.9.2)" in done.stderr
    assert "make package PYTHON=/path/to/python3.13" in done.stderr


def test_make_finds_a_python_3_12_when_it_is_the_only_one(tmp_path: Path) -> None:
    """By its name, as a machine without python3.11 has it (this one's interpreter stands in)."""
    done = make_with_only(tmp_path, {"python3.12": Path(sys.executable)}, "-n", "package")
    assert done.returncode == 0, done.stderr
    assert f"{tmp_path / 'bin' / 'python3.12'} scripts/package_lambda.py build --python-version 3.13" in done.stdout

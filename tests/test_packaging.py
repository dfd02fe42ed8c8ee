"""`make package`: the artifact builds offline for the Lambda platform, and its handlers import in a clean
environment that has only what the Lambda runtime has (Python and boto3)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from tests.packaging_checks import (
    OFFLINE,
    ROOT,
    SCRIPT,
    assert_built_for_the_runtime,
    assert_handlers_import,
    download,
    run,
    runtime_version,
)


def handlers() -> list[tuple[str, str]]:
    text = (ROOT / "template.yaml").read_text()
    return [tuple(m.rsplit(".", 1)) for m in re.findall(r"Handler:\s*(\S+)", text)]  # type: ignore[misc]


def build(version: str, out: Path, *, with_runtime: bool = False) -> Path:
    wheelhouse = download(version, with_runtime=with_runtime)
    run(
        sys.executable,
        str(SCRIPT),
        "build",
        "--python-version",
        version,
        "--wheelhouse",
        str(wheelhouse),
        "--out",
        str(out),
        env=OFFLINE,
    )
    return wheelhouse


@pytest.mark.packaging
def test_packaged_handlers_import_in_a_clean_environment(tmp_path: Path) -> None:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    package = tmp_path / "package"
    wheelhouse = build(version, package, with_runtime=True)
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

"""requirements-lambda.txt, the Lambda's lock: it agrees with pyproject.toml (this runs in `make test`, so CI fails
while they disagree), and the artifact is built from its hashes only."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.packaging_checks import OFFLINE, SCRIPT, download

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements-lambda.txt"


def check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(root / "scripts" / "package_lambda.py"), "lock", "--check"],
        capture_output=True,
        text=True,
        timeout=600,
    )


def checkout_of_the_lock(tmp_path: Path) -> Path:
    """What `lock --check` reads, copied: pyproject.toml, the template (the runtime), the lock and the script."""
    for name in (
        "pyproject.toml",
        "template.yaml",
        LOCK.name,
        "scripts/package_lambda.py",
        "scripts/import_closure.py",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, tmp_path / name)
    return tmp_path


@pytest.mark.packaging
def test_the_lock_agrees_with_pyproject() -> None:
    done = check(ROOT)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.packaging
def test_the_check_fails_when_pyproject_asks_for_what_the_lock_lacks(tmp_path: Path) -> None:
    root = checkout_of_the_lock(tmp_path)
    pyproject = root / "pyproject.toml"
    more = pyproject.read_text().replace('    "slack-sdk>=3.27",\n', '    "slack-sdk>=3.27",\n    "idna>=3",\n')
    pyproject.write_text(more)
    done = check(root)
    assert done.returncode == 1
    assert "requirements-lambda.txt disagrees with pyproject.toml: idna: locked (absent)" in done.stderr
    assert "Run `make lock`" in done.stderr
    assert (root / LOCK.name).read_bytes() == LOCK.read_bytes()  # the check writes nothing


def test_every_locked_distribution_is_pinned_with_hashes() -> None:
    """pip's --require-hashes would refuse the build otherwise; this says which line is wrong."""
    entries = [e for e in LOCK.read_text().split("\n") if e and not e.startswith(("#", " "))]
    assert entries
    text = LOCK.read_text()
    for entry in entries:
        name, _, version = entry.rstrip(" \\").partition("==")
        assert version, f"{name} is not pinned"
        following = text.split(entry, 1)[1].split("\n")[1]
        assert following.strip().startswith("--hash=sha256:"), f"{name} has no hash"


@pytest.mark.packaging
def test_a_wheel_whose_bytes_differ_from_the_lock_is_refused(tmp_path: Path) -> None:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    wheelhouse = tmp_path / "wheelhouse"
    shutil.copytree(download(version), wheelhouse)
    [six] = wheelhouse.glob("six-*.whl")
    with zipfile.ZipFile(six, "a") as wheel:  # the same name and version, other bytes
        wheel.writestr("six_extra.py", "TAMPERED = True\n")
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "build",
            "--python-version",
            version,
            "--wheelhouse",
            str(wheelhouse),
            "--out",
            str(tmp_path / "package"),
        ],
        capture_output=True,
        text=True,
        env=OFFLINE,
        timeout=600,
    )
    assert done.returncode != 0
    assert "DO NOT MATCH THE HASHES" in done.stderr and "six" in done.stderr

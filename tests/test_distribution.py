"""The wheel and sdist, as the package index and pipx see them: one top-level name (`rotation_doctor`), metadata
that `twine check` passes, a long description whose every link and image is absolute, and a wheel whose command
(with the fix kinds and handlers it now holds under `rotation_doctor`) runs in a clean environment."""

from __future__ import annotations

import email
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from email.message import Message
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REPOSITORY = "https://github.com/rotation-doctor/rotation-doctor"


def run(*args: str, cwd: Path | None = None, clean: bool = False) -> subprocess.CompletedProcess[str]:
    """`clean`: nothing of this checkout's environment (PYTHONPATH, the virtual environment) reaches it."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")} if clean else None
    done = subprocess.run(args, capture_output=True, text=True, timeout=900, cwd=cwd, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`python -m build`: the sdist, then the wheel built from it (as the index's users build it)."""
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--outdir", str(out), str(ROOT))
    return out


def wheel_of(dist: Path) -> Path:
    [wheel] = dist.glob("*.whl")
    return wheel


def metadata(dist: Path) -> Message:
    with zipfile.ZipFile(wheel_of(dist)) as wheel:
        [name] = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
        return email.message_from_bytes(wheel.read(name))


@pytest.mark.packaging
def test_the_wheel_holds_one_top_level_name(dist: Path) -> None:
    with zipfile.ZipFile(wheel_of(dist)) as wheel:
        names = wheel.namelist()
    assert {n.split("/")[0] for n in names if ".dist-info/" not in n} == {"rotation_doctor"}
    for moved in ("remediations/__init__.py", "handlers/worker.py", "handlers/approval.py", "py.typed", "__main__.py"):
        assert f"rotation_doctor/{moved}" in names
    with zipfile.ZipFile(wheel_of(dist)) as wheel:
        sources = {n: wheel.read(n).decode() for n in names if n.endswith(".py")}
    # An import statement of the old names, wherever it stands (a lazy one is indented); prose that says "generated
    # from remediations/" is no import.
    old_import = re.compile(r"^\s*(?:from|import)\s+(?:remediations|handlers)\b", re.MULTILINE)
    stale = [n for n, text in sources.items() if old_import.search(text)]
    assert stale == []


@pytest.mark.packaging
def test_twine_check_passes_and_the_metadata_says_what_the_index_shows(dist: Path) -> None:
    run(sys.executable, "-m", "twine", "check", "--strict", *map(str, dist.iterdir()))
    meta = metadata(dist)
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta["Requires-Python"] == ">=3.11"
    assert meta["Description-Content-Type"] == "text/markdown"
    assert "Typing :: Typed" in meta.get_all("Classifier", [])
    assert "Programming Language :: Python :: 3.13" in meta.get_all("Classifier", [])
    assert f"Repository, {REPOSITORY}" in meta.get_all("Project-URL", [])


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found += [(tag, v) for k, v in attrs if k in ("href", "src") and v is not None]


@pytest.mark.packaging
def test_every_link_of_the_long_description_is_absolute(dist: Path) -> None:
    """Rendered as the index renders it (readme_renderer, twine's): no link or image is relative, and each image
    is a file of the repository."""
    from readme_renderer.markdown import render

    html = render(metadata(dist).get_payload(), variant="GFM")
    assert html is not None
    links = Links()
    links.feed(html)
    assert links.found
    # The renderer's own anchors on each heading (`#user-content-...`) are its, not the README's.
    absolute = ("https://", "http://", "mailto:", "#user-content-")
    relative = [target for _, target in links.found if not target.startswith(absolute)]
    assert relative == []
    images = [target for tag, target in links.found if tag == "img"]
    assert images
    for image in images:
        prefix = "https://raw.githubusercontent.com/rotation-doctor/rotation-doctor/main/"
        assert image.startswith(prefix) and (ROOT / image.removeprefix(prefix)).is_file(), image


@pytest.mark.packaging
def test_the_sdist_builds_the_same_layout(dist: Path) -> None:
    [sdist] = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}
    assert {"setup.py", "pyproject.toml", "README.md", "LICENSE", "PKG-INFO"} <= names
    assert {"remediations/__init__.py", "handlers/worker.py", "rotation_doctor/py.typed"} <= names


@pytest.mark.packaging
def test_the_installed_wheel_runs_plan_and_fix(dist: Path, tmp_path: Path) -> None:
    """In a clean environment: the command, `python -m rotation_doctor`, and the planner with every fix kind."""
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", str(venv), clean=True)
    run(str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel_of(dist)), clean=True)
    for command in ("plan", "fix"):
        shown = run(str(venv / "bin" / "rotation-doctor"), command, "--help", cwd=tmp_path, clean=True).stdout
        assert f"usage: rotation-doctor {command}" in shown
    shown = run(str(venv / "bin" / "python"), "-m", "rotation_doctor", "--help", cwd=tmp_path, clean=True).stdout
    assert "usage: rotation-doctor" in shown
    probe = (
        "import sys; from rotation_doctor.planning import planner; from rotation_doctor.remediations import REGISTRY;"
        "import rotation_doctor.handlers.approval, rotation_doctor.handlers.worker;"
        "assert 'remediations' not in sys.modules and 'handlers' not in sys.modules; print(len(REGISTRY))"
    )
    out = run(str(venv / "bin" / "python"), "-I", "-c", probe, cwd=tmp_path, clean=True)
    assert int(out.stdout) >= 10

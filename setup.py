"""What pyproject.toml cannot say: the wheel's layout and its long description.

The repository keeps `remediations/` and `handlers/` at the top (the design's layers; SAM's handlers are
`handlers.worker.handler`), but an installed wheel owns one name only, `rotation_doctor`: the build puts them at
`rotation_doctor/remediations` and `rotation_doctor/handlers` and rewrites the imports of them in what it built
(`from remediations.base import ...` becomes `from rotation_doctor.remediations.base import ...`). An editable
install (`make`'s .venv) keeps the source's layout.

The long description is README.md with every relative link made absolute to the repository (images to their raw
file), so that it renders on the package index as on GitHub.
"""

from __future__ import annotations

import re
import shutil
import tomllib
from collections.abc import Callable
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
MOVED_UNDER = "rotation_doctor"
MOVED = ("remediations", "handlers")
# An import statement of a moved package, at the start of a line: `import handlers.x`, `from remediations import y`.
_MOVED_IMPORT = re.compile(rf"^(\s*(?:from|import)\s+)({'|'.join(MOVED)})(?=[\s.])", re.MULTILINE)


def under_one_name(text: str) -> str:
    return _MOVED_IMPORT.sub(rf"\g<1>{MOVED_UNDER}.\g<2>", text)


class BuildUnderOneName(build_py):  # type: ignore[misc]
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        built = Path(self.build_lib)
        for package in MOVED:
            target = built / MOVED_UNDER / package
            if target.exists():
                shutil.rmtree(target)
            shutil.move(built / package, target)
        for module in (built / MOVED_UNDER).rglob("*.py"):
            module.write_text(under_one_name(module.read_text()))


def repository() -> str:
    urls = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]
    return str(urls["Repository"]).rstrip("/")


# Images first (to their raw bytes, so that the index shows them): ![alt](target) and <img src="...">. Then every
# other link (to its page on GitHub): [text](target), a reference `[id]: target`, href="...".
_IMAGE = re.compile(r"(?P<open>!\[[^\]]*\]\(\s*<?|<img\b[^>]*?\bsrc=[\"'])(?P<target>[^)\s\"'>]+)", re.IGNORECASE)
_LINK = re.compile(r"(?P<open>\]\(\s*<?|^ {0,3}\[[^\]]+\]:\s*<?|\bhref=[\"'])(?P<target>[^)\s\"'>]+)", re.MULTILINE)
_ABSOLUTE = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)


def absolute_links(markdown: str, repo: str, ref: str = "main") -> str:
    """Every relative link made absolute: anchors to the repository's front page (GitHub renders README there),
    files to their page on GitHub, images to their raw bytes."""
    raw = repo.replace("https://github.com/", "https://raw.githubusercontent.com/") + f"/{ref}/"

    def to(base: str) -> Callable[[re.Match[str]], str]:
        def absolute(match: re.Match[str]) -> str:
            target = match["target"]
            if _ABSOLUTE.match(target):
                return match[0]
            if target.startswith("#"):
                return match["open"] + repo + target
            return match["open"] + base + target.removeprefix("./")

        return absolute

    return _LINK.sub(to(f"{repo}/blob/{ref}/"), _IMAGE.sub(to(raw), markdown))


def long_description() -> str:
    return absolute_links((ROOT / "README.md").read_text(encoding="utf-8"), repository())


setup(
    cmdclass={"build_py": BuildUnderOneName},
    long_description=long_description(),
    long_description_content_type="text/markdown",
)

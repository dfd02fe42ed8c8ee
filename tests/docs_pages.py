"""The documentation's pages (docs/*.md) as the tests read them: a table or a sentence a test holds to the code lives
in one page, found by its heading, so a test names the page and the section a reader would look in."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def page(name: str) -> str:
    return (DOCS / name).read_text()


def section(text: str, heading: str) -> str:
    """From the line `heading` (e.g. "## Finding codes") to the next heading of its level or above, or the end."""
    start = text.index(f"\n{heading}\n") if not text.startswith(f"{heading}\n") else 0
    level = len(heading) - len(heading.lstrip("#"))
    following = re.compile(rf"^#{{1,{level}}} ", re.M)
    end = following.search(text, text.index("\n", start + 1))
    return text[start : end.start() if end else None]


def headings(text: str) -> list[str]:
    """The headings' texts, outside fenced code (where `# ...` is a shell comment)."""
    found, fenced = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"^#{1,6} ", line):
            found.append(line.lstrip("#").strip())
    return found


def table(text: str, header: str) -> list[list[str]]:
    """The rows of the table whose header line is `header` ("| kind | change | risk |"), cells stripped of
    backticks; it must be there."""
    lines = text.splitlines()
    start = lines.index(header) + 2  # past the header and its |---| line
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip().strip("`") for cell in line.strip().strip("|").split(" | ")])
    return rows

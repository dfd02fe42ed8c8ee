"""MkDocs hook (mkdocs.yml `hooks`): the pages are written for GitHub too, whose tables need a `|` inside a code
span escaped (`all\\|ID,ID`); MkDocs's Markdown keeps a code span whole in a table cell and would show the
backslash. In table rows, a code span's `\\|` becomes `|` before the page is rendered; the files stay as written."""

from __future__ import annotations

import re
from typing import Any

CODE_SPAN = re.compile(r"`[^`\n]*`")


def on_page_markdown(markdown: str, **_: Any) -> str:
    lines = markdown.split("\n")
    for index, line in enumerate(lines):
        if line.startswith("|"):
            lines[index] = CODE_SPAN.sub(lambda span: span.group(0).replace("\\|", "|"), line)
    return "\n".join(lines)

"""Markdown that fits where it is posted, whatever the size of what it reports: a head always shown, then sections in
order of importance, each item shown while the whole still fits, and every section saying how many it left out.

GitHub refuses a comment body longer than 65,536 characters ("Body is too long (maximum is 65536 characters)"): a
report of a plan with thousands of changes must still be one comment, with what matters most in it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

COMMENT_LIMIT = 65_536  # GitHub's limit on an issue or pull-request comment's body, in characters
COMMENT_RESERVE = 512  # room a comment keeps for its own lines (its hidden marker) around a report
MARKDOWN_LIMIT = COMMENT_LIMIT - COMMENT_RESERVE


@dataclass(frozen=True)
class Section:
    """Items of one kind: a table's rows (`header` its two header lines, shown open) or a list in a collapsed
    `<details>` block titled `title`. Items are markdown already made inert, one line each."""

    title: str
    items: Sequence[str]
    noun: str
    header: Sequence[str] = ()
    collapsed: bool = True

    def frame(self, omitted: int) -> tuple[list[str], list[str]]:
        """The lines before and after the items shown, `omitted` items left out."""
        before = ["", f"<details><summary>{self.title} ({len(self.items)})</summary>"] if self.collapsed else []
        before += ["", *self.header] if self.header else [""]
        left_out = f"_… {omitted} more {self.noun} not shown; `--format json` lists them all._"
        after = ["", left_out] if omitted else []
        after += ["", "</details>"] if self.collapsed else []
        return before, after


def _cost(lines: Sequence[str]) -> int:
    return sum(len(line) + 1 for line in lines)  # each line and the newline that joins it to the next


def bounded(head: Sequence[str], sections: Sequence[Section], limit: int = MARKDOWN_LIMIT) -> str:
    """`head`, then each section's items in order while everything fits in `limit` characters; after the first item
    that does not fit, none is shown (what comes first matters most), and each section counts what it left out.

    Room for every section's frame is kept first, at its largest (every item left out, the count at its widest), so
    the result is within `limit` by construction. `head` must fit on its own (the caller bounds its pieces)."""
    present = [s for s in sections if s.items]
    budget = limit - _cost(head) - sum(_cost([*s.frame(len(s.items))[0], *s.frame(len(s.items))[1]]) for s in present)
    lines = list(head)
    full = False
    for section in present:
        shown: list[str] = []
        for item in section.items:
            full = full or _cost([item]) > budget
            if full:
                break
            shown.append(item)
            budget -= _cost([item])
        before, after = section.frame(len(section.items) - len(shown))
        lines += [*before, *shown, *after]
    return "\n".join(lines)

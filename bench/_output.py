"""What every benchmark prints: tables and prose for a person, or (with --json) one JSON object for a machine.

Standard library only: bench/cold_start.py uses it without _account (which sets AWS variables and imports moto).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

_figures: dict[str, Any] = {"tables": []}
_as_json = [False]  # set by `options`: every table and line goes to the one JSON object instead


def parser(doc: str | None) -> argparse.ArgumentParser:
    """A benchmark's arguments: --json, and whatever the script adds."""
    found = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0])
    found.add_argument("--json", action="store_true", help="print one JSON object with the figures, and no prose")
    return found


def options(arguments: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The parsed arguments; from here on, --json decides what `table`, `say` and `finish` print."""
    parsed = arguments.parse_args(argv)
    _as_json[0] = parsed.json
    return parsed


def as_json() -> bool:
    return _as_json[0]


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A table of figures: printed as markdown, or (with --json) kept for `finish`."""
    if as_json():
        _figures["tables"].append({"header": list(header), "rows": [list(row) for row in rows]})
    else:
        print(markdown_table(header, rows))


def say(*text: object) -> None:
    """A line of prose for a person (not printed with --json)."""
    if not as_json():
        print(*text)


def finish(**figures: Any) -> None:
    """With --json, the one JSON object: the tables and the named figures."""
    if as_json():
        print(json.dumps(_figures | figures))

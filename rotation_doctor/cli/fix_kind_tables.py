"""The fix-kind tables of docs/contract.md (section 3) and docs/fixing.md, generated from the fix kinds' own modules:
`python -m rotation_doctor.cli.fix_kind_tables [--check]` (`make fix-kind-tables`).

Each row is what the kind's module declares (`kind`, `change`, `risk`), in `FixKind`'s order, so a kind is described
once, where it is written, and the pages cannot drift from the code. Only the lines between the markers are rewritten
(the pages' prose stays theirs); tests/test_registry.py holds the committed pages equal to this.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from remediations import REGISTRY
from rotation_doctor.model.plan import FixKind

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = ("contract.md", "fixing.md")
BEGIN = (
    "<!-- The fix kinds, generated from remediations/ by `python -m rotation_doctor.cli.fix_kind_tables`: "
    "edit a kind's module (its `change` and `risk`), not this table. -->"
)
END = "<!-- End of the generated fix kinds. -->"


def table() -> str:
    rows = ["| kind | change | risk |", "|---|---|---|"]
    rows += [f"| `{kind}` | {REGISTRY[kind].change} | {REGISTRY[kind].risk} |" for kind in FixKind]
    return "\n".join(rows)


def render(page: str) -> str:
    """`page` with the table between its markers replaced by the registry's."""
    if page.count(BEGIN) != 1 or page.count(END) != 1 or page.index(BEGIN) > page.index(END):
        raise ValueError("the page must hold the generation markers once each, in order: nothing is written")
    head, rest = page.split(BEGIN)
    _, tail = rest.split(END)
    return f"{head}{BEGIN}\n\n{table()}\n\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rotation_doctor.cli.fix_kind_tables", description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare with the committed pages; write nothing")
    args = parser.parse_args(argv)
    stale = []
    for name in PAGES:
        path = DOCS / name
        text = path.read_text()
        generated = render(text)
        if generated == text:
            continue
        if args.check:
            stale.append(str(path))
        else:
            path.write_text(generated)
            print(f"wrote {path}")
    if stale:
        print(f"out of date (run `make fix-kind-tables`): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

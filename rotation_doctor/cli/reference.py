"""docs/cli.md, the CLI reference, generated from the command's own parser (`make cli-reference`, or
`python -m rotation_doctor.cli.reference`): every command, argument, choice and help text as `--help` knows them,
so the reference cannot drift from the command. tests/test_docs.py holds the committed file equal to this."""

from __future__ import annotations

import argparse
import functools
import re
from collections.abc import Iterator
from pathlib import Path

from rotation_doctor.cli.main import _parser

OUTPUT = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
# Usage lines wrap at a fixed width, never the terminal's, so the file is the same on every machine.
USAGE_WIDTH = 100
HEADER = """# CLI reference

Every command and option of `rotation-doctor`, generated from the command's own parser
(`rotation_doctor/cli/reference.py`, `make cli-reference`): what `rotation-doctor COMMAND --help` prints, as
tables. Do not edit this page by hand; a test holds it equal to the parser. How the commands are used, with
examples and their output, is [Use](usage.md); the exit statuses and the JSON they print, the
[contract](contract.md).
"""


def render() -> str:
    parser = _parser([])
    sections = [HEADER]
    for name, command in _commands("rotation-doctor", parser):
        sections.append(_section(name, command))
    return "\n".join(sections)


def _commands(name: str, parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """The parser, then each subcommand's, depth first, in the order `--help` lists them."""
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child_name, child in action.choices.items():
                yield from _commands(f"{name} {child_name}", child)


def _section(name: str, parser: argparse.ArgumentParser) -> str:
    parser.formatter_class = functools.partial(argparse.HelpFormatter, width=USAGE_WIDTH)
    lines = [f"## `{name}`", ""]
    if parser.description:
        lines += [_inline(parser.description), ""]
    lines += ["```text", parser.format_usage().strip(), "```", ""]
    rows = [_row(action) for action in parser._actions if not isinstance(action, argparse._HelpAction)]
    if rows:
        lines += ["| argument | value | what it does |", "|---|---|---|", *rows, ""]
    if parser.epilog:
        lines += [_inline(parser.epilog), ""]
    return "\n".join(lines)


def _row(action: argparse.Action) -> str:
    if isinstance(action, argparse._SubParsersAction):
        names = ", ".join(f"`{choice}`" for choice in action.choices)
        return f"| `{action.metavar}` | {_cell(names)} | {_cell(action.help or '')} |"
    name = ", ".join(f"`{option}`" for option in action.option_strings) or f"`{action.dest}`"
    return f"| {_cell(name)} | {_cell(_value(action))} | {_cell(_help(action))} |"


def _value(action: argparse.Action) -> str:
    if action.nargs == 0:
        return ""
    if action.choices is not None:
        value = " | ".join(f"`{choice}`" for choice in action.choices)
    else:
        value = f"`{action.metavar or action.dest.upper()}`"
    return f"optional {value}" if action.nargs == argparse.OPTIONAL else value


def _help(action: argparse.Action) -> str:
    text = action.help or ""
    if action.required and action.option_strings and not text.startswith("required"):
        text = f"required; {text}"
    return text


def _inline(text: str) -> str:
    """Help text as Markdown prose: angle brackets shown, never read as HTML."""
    return text.replace("<", "&lt;").replace(">", "&gt;")


def _cell(text: str) -> str:
    """A table cell: a `|` outside a code span would end the cell, so it is escaped; inside one, MkDocs's Markdown
    keeps the cell whole and would show the backslash."""
    parts = re.split(r"(`[^`]*`)", _inline(text))
    return "".join(part if part.startswith("`") else part.replace("|", "\\|") for part in parts)


def main() -> None:
    OUTPUT.write_text(render())
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()

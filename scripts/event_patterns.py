"""Write the EventBridge patterns of rotation_doctor/service/patterns.py into template.yaml and org/member.yaml.

`make templates` runs it; `--check` only says whether a template differs (tests/test_template.py holds the
parsed templates to the module as well). Only the lines under each rule's `EventPattern:` are rewritten:
the rest of a template (comments, order, layout) is left as it is, and a rule the table names must already
exist with an `EventPattern:` key (the script fills patterns in, it does not make rules).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rotation_doctor.service.patterns import PATTERNS, RULES  # noqa: E402

RESOURCE_INDENT = 2
KEY_INDENT = 6  # `EventPattern:` under `Properties:` under the resource
_PLAIN = re.compile(r"^[A-Za-z][\w.\-/]*( [\w.\-/]+)*$")
# Words YAML reads as something other than a string (YAML 1.1, which CloudFormation's parser follows).
_NOT_STRINGS = {"true", "false", "yes", "no", "on", "off", "y", "n", "null"}
FLOW_AT_MOST = 3  # a list of this many scalars or fewer stays on its key's line: `source: [aws.rds, aws.redshift]`


def scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    return text if _PLAIN.match(text) and text.lower() not in _NOT_STRINGS else json.dumps(text)


def _flow_mapping(mapping: Mapping[str, Any]) -> str:
    return "{ " + ", ".join(f"{scalar(k)}: {scalar(v)}" for k, v in mapping.items()) + " }"


def render(node: Mapping[str, Any], indent: int) -> list[str]:
    """The pattern as block YAML in the templates' style: short lists in flow style, long ones as items."""
    pad = " " * indent
    lines = []
    for key, value in node.items():
        if isinstance(value, Mapping):
            lines.append(f"{pad}{scalar(key)}:")
            lines += render(value, indent + 2)
        elif isinstance(value, list) and all(isinstance(v, Mapping) for v in value):
            if len(value) == 1:
                lines.append(f"{pad}{scalar(key)}: [{_flow_mapping(value[0])}]")
            else:
                lines.append(f"{pad}{scalar(key)}:")
                for item in value:
                    first, *rest = render(item, indent + 4)
                    lines.append(f"{pad}  - {first.lstrip()}")
                    lines += rest
        elif isinstance(value, list) and len(value) <= FLOW_AT_MOST:
            lines.append(f"{pad}{scalar(key)}: [{', '.join(scalar(v) for v in value)}]")
        elif isinstance(value, list):
            lines.append(f"{pad}{scalar(key)}:")
            lines += [f"{pad}  - {scalar(v)}" for v in value]
        else:
            lines.append(f"{pad}{scalar(key)}: {scalar(value)}")
    return lines


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def rewrite(text: str, rules: Mapping[str, str]) -> str:
    """`text` with each named rule's EventPattern replaced by its pattern from the module."""
    lines = text.split("\n")
    for rule, pattern in rules.items():
        marker = f"{' ' * RESOURCE_INDENT}{rule}:"
        if marker not in lines:
            raise LookupError(f"no resource {rule}: write the rule, then run this again")
        start = lines.index(marker)
        key = start + 1
        while key < len(lines) and lines[key].strip() != "EventPattern:":
            if lines[key].strip() and _indent(lines[key]) <= RESOURCE_INDENT:
                raise LookupError(f"{rule} has no EventPattern: key")
            key += 1
        if key == len(lines) or _indent(lines[key]) != KEY_INDENT:
            raise LookupError(f"{rule} has no EventPattern: key at indent {KEY_INDENT}")
        end = key + 1
        while end < len(lines) and lines[end].strip() and _indent(lines[end]) > KEY_INDENT:
            end += 1
        lines[key + 1 : end] = render(PATTERNS[pattern], KEY_INDENT + 2)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a template differs")
    args = parser.parse_args(argv)
    stale = []
    for name, rules in RULES.items():
        path = ROOT / name
        text = path.read_text()
        wanted = rewrite(text, rules)
        if wanted != text:
            stale.append(name)
            if not args.check:
                path.write_text(wanted)
    verb = "differ from" if args.check else "rewritten from"
    for name in stale:
        print(f"{name}: patterns {verb} rotation_doctor/service/patterns.py")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Write the JSON Schema of the CLI's output: `python -m rotation_doctor.cli.schema [--check] [DIR]` (`make schema`).

DIR defaults to docs/schema/v1 (run from the repository's root). `--check` writes nothing and exits 1 when a
committed file differs from what the models generate.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rotation_doctor.cli.schema import SCHEMA_DIR
from rotation_doctor.cli.schema.models import COMMANDS, file_name, render


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rotation_doctor.cli.schema", description=__doc__)
    parser.add_argument("dir", nargs="?", default=SCHEMA_DIR, type=Path, help=f"where to write (default {SCHEMA_DIR})")
    parser.add_argument("--check", action="store_true", help="compare with the files there; write nothing")
    args = parser.parse_args(argv)
    stale = []
    for name in COMMANDS:
        path = args.dir / file_name(name)
        text = render(name)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path}")
    if stale:
        print(f"out of date (run `make schema`): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The JSON of `--format json`, versioned: `SCHEMA_VERSION` is stamped on every object `diagnose`, `plan`, `fix`
and `scan` print (and on the error object), and names the schema in `docs/schema/v1/`.

This module is all the CLI imports to print JSON: it stays free of pydantic. The pydantic models that describe
the output, and from which the committed schema is generated, are in `models` (loaded only to write or check
the schema: `python -m rotation_doctor.cli.schema`).

The version changes only when a key is removed or renamed, or its type or meaning changes. Adding a key, a
finding code, a fix kind or a state keeps the version; the schema of that version is regenerated.
"""

from __future__ import annotations

from typing import Final

SCHEMA_VERSION: Final = "1"
SCHEMA_DIR: Final = f"docs/schema/v{SCHEMA_VERSION}"  # relative to the repository's root

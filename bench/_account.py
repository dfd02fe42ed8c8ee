"""Shared set-up for the benchmarks: a simulated account and clients that count every AWS call."""

from __future__ import annotations

import json
import os
import statistics
import sys
from collections.abc import Sequence
from typing import Any

os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
for _key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_REGION"):
    os.environ.pop(_key, None)

import boto3  # noqa: E402
import moto  # noqa: E402,F401  (registers its botocore hook before the session exists)

from rotation_doctor.collect.aws import AwsClients  # noqa: E402

REGION = "us-east-1"


def make_clients() -> AwsClients:
    return AwsClients(boto3.session.Session(region_name=REGION), region=REGION)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


JSON = "--json" in sys.argv[1:]  # every benchmark: one JSON object with its figures instead of the tables
_figures: dict[str, Any] = {"tables": []}


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A table of figures: printed as markdown, or (with --json) kept for `finish`."""
    if JSON:
        _figures["tables"].append({"header": list(header), "rows": [list(row) for row in rows]})
    else:
        print(markdown_table(header, rows))


def say(text: str = "") -> None:
    """A line of prose for a person (not printed with --json)."""
    if not JSON:
        print(text)


def finish(**figures: Any) -> None:
    """With --json, the one JSON object: the tables and the named figures."""
    if JSON:
        print(json.dumps(_figures | figures))

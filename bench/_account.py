"""Shared set-up for the benchmarks: a simulated account and clients that count every AWS call."""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence

os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
for _key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_REGION"):
    os.environ.pop(_key, None)

import boto3  # noqa: E402
import moto  # noqa: E402,F401  (registers its botocore hook before the session exists)

from rotation_doctor.collect.aws import AwsClients  # noqa: E402

REGION = "us-east-1"


def make_clients() -> AwsClients:
    return AwsClients(boto3.session.Session(region_name=REGION), region=REGION)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))

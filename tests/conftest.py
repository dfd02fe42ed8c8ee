"""Shared fixtures. Clients are made once per session; each test gets a fresh simulated account."""

from __future__ import annotations

import os
from collections.abc import Iterator

import boto3
import moto  # noqa: F401  (registers moto's botocore hook before any session exists)
import pytest

os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
for _key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
    os.environ.pop(_key, None)

REGION = "us-east-1"


@pytest.fixture(scope="session")
def clients():  # type: ignore[no-untyped-def]
    from rotation_doctor.collect.aws import AwsClients

    return AwsClients(boto3.session.Session(region_name=REGION), region=REGION)


@pytest.fixture
def builder(clients) -> Iterator[object]:  # type: ignore[no-untyped-def]
    from rotation_doctor.simulated import simulated_aws
    from rotation_doctor.simulated.account import AccountBuilder

    with simulated_aws():
        clients.counter.calls.clear()
        yield AccountBuilder(clients)

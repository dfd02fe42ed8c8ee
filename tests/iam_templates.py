"""Both templates as CloudFormation would resolve them for each kind of deployment: the statements of the worker's
role, the member role, and the parameters of a hub and its members (judged by tests/iam_authorization.py)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from cfnlint.decode import decode

from tests.cfn_resolve import Resolver

ROOT = Path(__file__).resolve().parents[1]

ORGANIZATION = "o-a1b2c3d4e5"

# What the hub's outputs give a member stack: the hub is another account (the resolver's is 123456789012).
HUB_ACCOUNT = "111122223333"

HUB_BUS = f"arn:aws:events:eu-west-1:{HUB_ACCOUNT}:event-bus/rotation-doctor-hub"

HUB_WORKER = f"arn:aws:iam::{HUB_ACCOUNT}:role/rotation-doctor-WorkerFunctionRole-AbCdEf123456"

MEMBER_PARAMETERS = {"HubEventBusArn": HUB_BUS, "HubWorkerRoleArn": HUB_WORKER, "RoleRegion": "us-east-1"}


@cache
def load(name: str) -> dict[str, Any]:
    parsed, errors = decode(str(ROOT / name))
    assert not errors and parsed is not None
    return dict(parsed)


def template() -> dict[str, Any]:
    return load("template.yaml")


def _managed_policy_statements(tpl: Mapping[str, Any], resolver: Resolver, attached: list[Any]) -> list[dict[str, Any]]:
    """The statements of the template's own managed policies among `attached` (resolved Refs), if they exist."""
    statements = []
    for policy in attached:
        if isinstance(policy, str) and policy.endswith("-physical-id"):
            name = policy.removesuffix("-physical-id")
            if resolver.exists(name):
                statements += resolver.resolve(tpl["Resources"][name]["Properties"])["PolicyDocument"]["Statement"]
    return statements


def function_statements(
    function: str, parameters: Mapping[str, str], source: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The statements of the managed policies the function's role gets, resolved for these parameter values."""
    tpl = source or template()
    resolver = Resolver(tpl, parameters)
    return _managed_policy_statements(
        tpl, resolver, resolver.resolve(tpl["Resources"][function]["Properties"]["Policies"])
    )


def worker_statements(parameters: Mapping[str, str], source: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return function_statements("WorkerFunction", parameters, source)

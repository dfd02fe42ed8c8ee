"""Reading a CloudFormation change set for `what-if`: every page of DescribeChangeSet, with property values.

Only the CLI reads change sets (with the person's credentials); the deployed service never does, so the
permission is not among `permissions.READ_ACTIONS` (the service's policy) but named here, for docs/permissions.md.
"""

from __future__ import annotations

from typing import Any

from rotation_doctor.collect.aws import AwsClients, AwsError, BadInput, attempt, error_code, is_not_found, read_failure

PERMISSION = "cloudformation:DescribeChangeSet"
_NOT_FOUND = {"ChangeSetNotFound", "ChangeSetNotFoundException"}


def describe_change_set(clients: AwsClients, change_set: str, stack: str | None) -> list[dict[str, Any]]:
    """Every page of the change set's description (`IncludePropertyValues`: each resource change carries its
    BeforeContext and AfterContext). BadInput when there is no such change set, AwsError when AWS says no."""
    client = clients.client("cloudformation")  # untyped: boto3-stubs for CloudFormation are not a dependency
    params: dict[str, Any] = {"ChangeSetName": change_set, "IncludePropertyValues": True}
    if stack:
        params["StackName"] = stack
    try:
        return attempt(lambda: list(client.get_paginator("describe_change_set").paginate(**params)))
    except AwsError:
        raise
    except Exception as exc:
        if error_code(exc) in _NOT_FOUND or is_not_found(exc):
            raise BadInput(f"no change set {change_set!r}" + (f" of stack {stack!r}" if stack else "")) from exc
        if error_code(exc) == "ValidationError":  # a name without its stack, a malformed ARN
            raise BadInput(f"change set {change_set!r}: {read_failure(PERMISSION, exc).message[:300]}") from exc
        failure = read_failure(PERMISSION, exc)
        raise AwsError(f"cannot read change set {change_set!r}: {failure.error_code}: {failure.message}") from exc

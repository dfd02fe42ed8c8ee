"""Failures injected into the simulated account (AWS refusing or failing a call) and into the process that applies
a fix (dying after a write), shared by the tests that need them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import ClientError

from rotation_doctor.apply.executor import Executor, JournalEntry
from rotation_doctor.apply.timing import LONGEST_APPLY_SECONDS
from rotation_doctor.collect.aws import AwsClients
from rotation_doctor.simulated.account import AccountBuilder

# The refusals `fail` registered, undone by `undo_failures` when the test's simulated account ends (conftest's
# `builder`): the clients are the session's, so a refusal left registered would refuse that call in every later test.
_FAILING: list[tuple[Any, str, str]] = []


def fail(b: AccountBuilder, service: str, operation: str, code: str = "AccessDenied") -> None:
    """Make one operation fail as AWS would refuse it (a botocore hook raising the service's error), for the rest of
    the test."""

    def refuse(**_: Any) -> None:
        raise ClientError({"Error": {"Code": code, "Message": f"not authorized to perform {operation}"}}, operation)

    events = b.clients.client(service).meta.events
    event, unique_id = f"before-call.{service}.{operation}", f"refuse-{operation}"
    events.register(event, refuse, unique_id=unique_id)
    _FAILING.append((events, event, unique_id))


def undo_failures() -> None:
    """Every refusal `fail` registered, unregistered."""
    while _FAILING:
        events, event, unique_id = _FAILING.pop()
        events.unregister(event, unique_id=unique_id)


def fail_nth(b: AccountBuilder, operation: str, nth: int) -> Callable[[], None]:
    seen = {"n": 0}

    def maybe_fail(**_: Any) -> None:
        seen["n"] += 1
        if seen["n"] == nth:
            raise ClientError({"Error": {"Code": "InternalError", "Message": "injected"}}, operation)

    events = b.clients.ec2.meta.events
    events.register(f"before-call.ec2.{operation}", maybe_fail, unique_id="inject")
    return lambda: events.unregister(f"before-call.ec2.{operation}", unique_id="inject")


@contextmanager
def refused(clients: AwsClients, service: str, operation: str, code: str = "UnauthorizedOperation") -> Iterator[None]:
    """`operation` fails as AWS refuses it (a botocore hook raising the service's error), for the block only."""

    def refuse(**_: Any) -> None:
        raise ClientError({"Error": {"Code": code, "Message": f"not authorized to perform {operation}"}}, operation)

    event = f"before-call.{service}.{operation}"
    clients.client(service).meta.events.register(event, refuse, unique_id=f"refused-{operation}")
    try:
        yield
    finally:
        clients.client(service).meta.events.unregister(event, unique_id=f"refused-{operation}")


DENIED_BY_POLICY = (
    "User: arn:aws:sts::123456789012:assumed-role/rotation-doctor-worker/worker is not authorized to perform: "
    "{action} on resource: {arn} with an explicit deny in a resource-based policy"
)


def deny_secret(clients: AwsClients, secret_arn: str) -> Callable[[], None]:
    """Every read of `secret_arn` through `clients` refused, as AWS answers when the secret's resource policy denies
    the caller; returns how to stop."""
    events = clients.client("secretsmanager").meta.events

    def refuse(params: dict[str, Any], model: Any, **_: Any) -> None:
        if params.get("SecretId") == secret_arn:
            message = DENIED_BY_POLICY.format(action=f"secretsmanager:{model.name}", arn=secret_arn)
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": message}}, model.name)

    def refuse_in_batch(parsed: dict[str, Any], **_: Any) -> None:
        values = parsed.get("SecretValues", [])
        if any(v.get("ARN") == secret_arn for v in values):
            parsed["SecretValues"] = [v for v in values if v.get("ARN") != secret_arn]
            message = DENIED_BY_POLICY.format(action="secretsmanager:GetSecretValue", arn=secret_arn)
            error = {"SecretId": secret_arn, "ErrorCode": "AccessDeniedException", "Message": message}
            parsed["Errors"] = [*parsed.get("Errors", []), error]

    hooks = [
        ("before-parameter-build.secretsmanager.DescribeSecret", refuse),
        ("before-parameter-build.secretsmanager.GetSecretValue", refuse),
        ("after-call.secretsmanager.BatchGetSecretValue", refuse_in_batch),
    ]
    for name, hook in hooks:
        events.register(name, hook, unique_id=f"deny-{name}")
    return lambda: [events.unregister(name, unique_id=f"deny-{name}") for name, _ in hooks] and None


LATER = LONGEST_APPLY_SECONDS + 1


class ProcessDied(BaseException):
    """What a Lambda timeout or an out-of-memory kill looks like from inside: nothing after it runs."""


def dies_after(executor: Executor, writes: int) -> None:
    """The process dies right after AWS accepted the n-th write (and the journal recorded it)."""
    real = Executor.run

    def run(self: Executor, *args: Any, journal: Any = None, **kw: Any) -> Any:
        seen = {"n": 0}

        def recording(entry: JournalEntry) -> None:
            journal(entry)
            seen["n"] += 1
            if seen["n"] == writes:
                raise ProcessDied

        return real(self, *args, journal=recording, **kw)

    executor.run = run.__get__(executor)  # type: ignore[method-assign]

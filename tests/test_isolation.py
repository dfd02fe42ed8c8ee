"""One secret never stops the others; one place never stops the others.

A secret's owner can deny rotation-doctor any read of it with an ordinary resource policy. moto does not enforce
resource policies, so the denial is injected as AWS answers it, through botocore's event hooks keyed by the secret:
DescribeSecret and GetSecretValue refused with AccessDeniedException, and BatchGetSecretValue answering the secret
in its `Errors` (the batch read checks GetSecretValue secret by secret and reports each refusal there, as its API
reference describes the `Errors` list; from AWS's documentation as we know it, not fetched here).

Each test runs the same situation twice, in fresh simulated accounts, with and without the denial, and compares
what the worker said of every other secret: they are served exactly as without it.
"""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rotation_doctor.approvals.store import ProposalStore, create_table
from rotation_doctor.collect.accounts import Place
from rotation_doctor.collect.aws import AwsClients
from rotation_doctor.simulated import scenarios, simulated_aws
from rotation_doctor.simulated.account import AccountBuilder
from rotation_doctor.simulated.lambda_runtime import SimulatedContext, sqs_event
from tests.conftest import topic_with_inbox
from tests.faults import deny_secret
from tests.worker_events import metric_values

EVENTS = Path(__file__).resolve().parent / "events"
HUB = "123456789012"
A, B, C = "111111111111", "222222222222", "333333333333"
ROLE = "rotation-doctor-member"


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """The worker's log lines as Lambda records them (Powertools' JSON formatter)."""
    import handlers.worker as worker_module

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(worker_module.logger.registered_formatter)
    worker_module.logger.addHandler(handler)
    level = worker_module.logger.log_level
    worker_module.logger.setLevel("INFO")
    yield stream
    worker_module.logger.setLevel(level)
    worker_module.logger.removeHandler(handler)


def sweep(account: str = HUB, region: str = "us-east-1") -> str:
    """The scheduled sweep of `account` and `region` (a member's, as its bus forwards it to the hub's)."""
    raw = json.loads((EVENTS / "scheduled_sweep.json").read_text())
    raw |= {"id": str(uuid.uuid4()), "account": account, "region": region}
    raw["resources"] = [f"arn:aws:events:{region}:{account}:rule/rotation-doctor-sweep"]
    return json.dumps(raw)


def ten_secrets(clients: AwsClients) -> dict[str, str]:
    """The demo's broken account with nine more secrets of the same database and function: each name's ARN."""
    b = AccountBuilder(clients)
    o = scenarios.orders(b)
    arns = {scenarios.DEMO_SECRET: o.secret_arn}
    for name in TEN[1:]:
        arns[name] = b.rotated_secret(name, {**o.db, "password": scenarios.CANARY_PASSWORD}, o.function_arn)
    return arns


def worker_of(clients: AwsClients, monkeypatch: pytest.MonkeyPatch, **extra: str) -> Any:
    import handlers.worker as worker_module

    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "RotationDoctor")
    create_table(clients, "proposals")
    create_table(clients, "idempotency")
    env = {"PROPOSALS_TABLE": "proposals", "IDEMPOTENCY_TABLE": "idempotency", "ROTATION_DOCTOR_MODE": "auto", **extra}
    worker = worker_module.build_worker(env, clients)
    worker.executor.poll = 0.01
    monkeypatch.setattr(worker_module, "_default_worker", lambda: worker)
    return worker


def deliver(*bodies: str) -> dict[str, Any]:
    import handlers.worker as worker_module

    return dict(worker_module.handler(sqs_event(*bodies), SimulatedContext()))


def served(stream: io.StringIO, store: ProposalStore) -> dict[str, dict[str, Any]]:
    """What the worker's "handled" lines said of each secret, with the plan of its proposal (the proposal's id is
    random: its plan is what a person is asked to approve)."""
    plans = {p.id: [f.kind for f in p.plan] for p in store.list()}
    out: dict[str, dict[str, Any]] = {}
    for line in map(json.loads, stream.getvalue().splitlines()):
        if line.get("message") == "handled":
            for s in line["secrets"]:
                pid = s.pop("proposal_id")
                out[s["secret_name"]] = s | {"proposed": plans.get(pid) if pid else None}
    stream.seek(0)
    stream.truncate()
    return out


# ----- one secret of ten --------------------------------------------------------------------------------------


TEN = [scenarios.DEMO_SECRET, *(f"prod/s{i}/db" for i in range(1, 10))]
DENIED = TEN[4]  # in the middle of the sweep


def sweep_of_ten(
    clients: AwsClients, monkeypatch: pytest.MonkeyPatch, stream: io.StringIO, *, deny: bool
) -> tuple[dict[str, Any], dict[str, dict[str, Any]], list[str]]:
    """Ten secrets of one broken database and function, swept in auto mode (each secret re-read before anything is
    applied for it): the response, what was said of each secret, and what people were told."""
    with simulated_aws():
        arns = ten_secrets(clients)
        topic, inbox = topic_with_inbox(clients)
        worker = worker_of(clients, monkeypatch, NOTIFICATION_TOPIC_ARN=topic)
        stop = deny_secret(clients, arns[DENIED]) if deny else lambda: None
        try:
            response = deliver(sweep())
        finally:
            stop()
        told = []
        while batch := clients.sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10).get("Messages", []):
            told += [json.loads(m["Body"])["Message"] for m in batch]
            clients.sqs.delete_message_batch(
                QueueUrl=inbox,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
            )
        return response, served(stream, worker.store), told


def test_one_denied_secret_in_a_sweep_of_ten_leaves_the_nine_served_as_without_it(
    clients: AwsClients, monkeypatch: pytest.MonkeyPatch, log_stream: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    _, without, _ = sweep_of_ten(clients, monkeypatch, log_stream, deny=False)
    capsys.readouterr()
    response, denied, told = sweep_of_ten(clients, monkeypatch, log_stream, deny=True)
    assert response == {"batchItemFailures": []}  # not retried, not dead-lettered
    assert set(without) == set(denied) == set(TEN)
    assert {n: s for n, s in denied.items() if n != DENIED} == {n: s for n, s in without.items() if n != DENIED}
    assert without[DENIED]["verdict"] == "broken"
    assert denied[DENIED] == {
        "secret_name": DENIED,
        "verdict": "unknown",
        "action": "observed",
        "applied": [],
        "proposed": None,
    }
    # Counted, and told: what could not be read and which policy refused it.
    assert metric_values(capsys.readouterr().out, "SecretsUnknownByReadFailure") == [1.0]
    [message] = [m for m in told if DENIED in m and "unknown" in m.lower()]
    assert "secretsmanager:DescribeSecret" in message
    assert "an explicit deny in a resource-based policy" in message


def test_a_rotation_failure_of_a_denied_secret_is_reported_unknown_not_retried(
    clients: AwsClients, monkeypatch: pytest.MonkeyPatch, log_stream: io.StringIO
) -> None:
    from tests.worker_events import rotation_failed

    with simulated_aws():
        o = scenarios.orders(AccountBuilder(clients))
        worker = worker_of(clients, monkeypatch, ROTATION_DOCTOR_MODE="propose")
        stop = deny_secret(clients, o.secret_arn)
        try:
            assert deliver(rotation_failed(o.secret_arn)) == {"batchItemFailures": []}
        finally:
            stop()
        [said] = served(log_stream, worker.store).values()
        assert said["verdict"] == "unknown" and said["action"] == "observed"
        assert worker.store.list() == []


# ----- one secret of an organization of three places ---------------------------------------------------------


def organization_of_three(
    clients: AwsClients, monkeypatch: pytest.MonkeyPatch, stream: io.StringIO, *, deny: bool
) -> tuple[dict[str, Any], dict[str, dict[str, Any]], str]:
    """Three member places of three secrets each, every member's forwarded sweep in one batch, auto mode; with
    `deny`, B's middle secret denied by its owner. The response, what was said of each secret, the denied one."""
    from tests.organization import build_member

    with simulated_aws():
        members = [build_member(account, "us-east-1") for account in (A, B, C)]
        for member in members:
            fn, value = member.orders.function_arn, {**member.orders.db, "password": scenarios.CANARY_PASSWORD}
            for i in (1, 2):
                member.builder.rotated_secret(f"prod/{member.place.account}/s{i}", value, fn)
        denied = f"prod/{B}/s1"
        worker = worker_of(clients, monkeypatch, ROTATION_DOCTOR_MEMBER_ROLE_NAME=ROLE)
        stop: Callable[[], None] = lambda: None  # noqa: E731
        if deny:
            b_clients = worker.sessions.clients(Place(B, "us-east-1"))  # the worker's own clients in B
            arn = b_clients.secretsmanager.describe_secret(SecretId=denied)["ARN"]
            stop = deny_secret(b_clients, arn)
        try:
            response = deliver(*(sweep(m.place.account, m.place.region) for m in members))
        finally:
            stop()
        return response, served(stream, worker.store), denied


def test_one_denied_secret_in_an_organization_of_three_places_leaves_the_others_served_as_without_it(
    clients: AwsClients, monkeypatch: pytest.MonkeyPatch, log_stream: io.StringIO
) -> None:
    _, without, denied_name = organization_of_three(clients, monkeypatch, log_stream, deny=False)
    response, denied, _ = organization_of_three(clients, monkeypatch, log_stream, deny=True)
    assert response == {"batchItemFailures": []}
    assert len(without) == len(denied) == 9
    assert {n: s for n, s in denied.items() if n != denied_name} == {
        n: s for n, s in without.items() if n != denied_name
    }
    assert (denied[denied_name]["verdict"], denied[denied_name]["action"]) == ("unknown", "observed")


def test_a_place_that_cannot_be_read_at_all_holds_up_no_other_place_of_the_hubs_sweep(
    clients: AwsClients, monkeypatch: pytest.MonkeyPatch, log_stream: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    """The hub's own place unreachable (nothing there can be read): the places with an open proposal are swept all
    the same, and the unread place is counted and said."""
    from botocore.exceptions import EndpointConnectionError

    from tests.organization import build_member

    with simulated_aws():
        scenarios.orders(AccountBuilder(clients))
        a, c = build_member(A, "us-east-1"), build_member(C, "us-east-1")
        worker = worker_of(clients, monkeypatch, ROTATION_DOCTOR_MEMBER_ROLE_NAME=ROLE, ROTATION_DOCTOR_MODE="propose")
        deliver(a.rotation_failed(), c.rotation_failed())
        assert {p.secret_arn for p in worker.store.list()} == {a.secret_arn, c.secret_arn}
        served(log_stream, worker.store)
        capsys.readouterr()

        def unreachable(**_: Any) -> None:
            raise EndpointConnectionError(endpoint_url="https://secretsmanager.us-east-1.amazonaws.com/")

        events = clients.client("secretsmanager").meta.events
        events.register("before-parameter-build.secretsmanager.ListSecrets", unreachable, unique_id="unreachable")
        try:
            assert deliver(sweep()) == {"batchItemFailures": []}  # a new batch of the same worker
        finally:
            events.unregister("before-parameter-build.secretsmanager.ListSecrets", unique_id="unreachable")
        assert set(worker.batch.handled) == {a.secret_arn, c.secret_arn}
        [line] = [json.loads(x) for x in log_stream.getvalue().splitlines() if '"handled"' in x]
        assert line["note"] == f"{HUB}/us-east-1 could not be read now"
        assert metric_values(capsys.readouterr().out, "PlacesUnread") == [1.0]


def test_a_scan_goes_on_past_one_denied_secret(clients: AwsClients) -> None:
    """`rotation-doctor scan` reads as the service does: the denied secret is unknown, the others as without it."""
    from rotation_doctor.examine import scan

    def scanned(*, deny: bool) -> dict[str, tuple[str, list[str]]]:
        with simulated_aws():
            arns = ten_secrets(clients)
            stop = deny_secret(clients, arns[DENIED]) if deny else lambda: None
            try:
                return {d.secret_name: (str(d.verdict), d.codes()) for d in scan(clients)}
            finally:
                stop()

    without, denied = scanned(deny=False), scanned(deny=True)
    assert {n: d for n, d in denied.items() if n != DENIED} == {n: d for n, d in without.items() if n != DENIED}
    # Its value was refused: the database path is not judged (said so), the Secrets Manager path still is.
    assert "DB_SG_INGRESS_DENIES" in without[DENIED][1]
    assert denied[DENIED] == ("broken", ["AWS_READ_FAILED", "SM_NO_PATH"])


def test_a_secret_refused_after_auto_mode_applied_part_of_its_plan_is_unknown_and_the_applied_fix_still_told(
    clients: AwsClients, monkeypatch: pytest.MonkeyPatch, log_stream: io.StringIO
) -> None:
    """Auto mode applied part of a plan; the fresh read that plans what is left is refused (the owner denied the
    secret meanwhile). What was applied is still reported and told, the secret is unknown, the batch goes on."""
    from rotation_doctor.apply.executor import Executor, FixResult, Outcome
    from rotation_doctor.collect.aws import SecretUnreadable
    from rotation_doctor.model.snapshot import ReadFailure
    from rotation_doctor.model.states import FixStatus, OutcomeStatus

    refused = ReadFailure("secretsmanager:DescribeSecret", "AccessDeniedException", "explicit deny", "DescribeSecret")
    real_assess = Executor.assess
    assessed: list[str] = []

    def assess_refused_after_the_apply(self: Executor, secret_id: str, **kwargs: Any) -> Any:
        assessed.append(secret_id)
        if len(assessed) > 1:
            raise SecretUnreadable(secret_id, refused)
        return real_assess(self, secret_id, **kwargs)

    def run_applying_part(self: Executor, secret_id: str, **kwargs: Any) -> Outcome:
        _, before, plan = self.assess(secret_id)
        applied = FixResult(str(plan.fixes[0].kind), FixStatus.APPLIED)
        return Outcome(OutcomeStatus.APPLIED, before, plan, [applied], after=before)  # part applied, still broken

    monkeypatch.setattr(Executor, "assess", assess_refused_after_the_apply)
    monkeypatch.setattr(Executor, "run", run_applying_part)
    with simulated_aws():
        o = scenarios.orders(AccountBuilder(clients))
        topic, inbox = topic_with_inbox(clients)
        worker = worker_of(clients, monkeypatch, NOTIFICATION_TOPIC_ARN=topic)
        assert deliver(sweep()) == {"batchItemFailures": []}
        [said] = served(log_stream, worker.store).values()
        assert said["verdict"] == "unknown"
        assert said["action"] == "applied" and said["applied"] == ["CREATE_SECRETSMANAGER_ENDPOINT"]
        assert worker.store.list() == []  # what is left could not be planned: nothing proposed from a stale read
        told = [
            json.loads(m["Body"])["Message"]
            for m in clients.sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10).get("Messages", [])
        ]
        assert any("CREATE_SECRETSMANAGER_ENDPOINT" in m for m in told)
        assert o.secret_arn in worker.batch.handled

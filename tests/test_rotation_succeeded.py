"""Closing the loop through the worker on the simulated account: a rotation that succeeded closes what is open for
the secret (its proposal, its Security Hub findings) and people are told it is healthy again; and a fix that made a
secret healthy starts its rotation again when the deployer turned that on, and only then."""

from __future__ import annotations

import json
import uuid
from typing import Any

from rotation_doctor.analysis import Diagnosis
from rotation_doctor.approvals.handoff import ApplyApproved
from rotation_doctor.model.findings import Verdict
from rotation_doctor.notify import slack
from rotation_doctor.notify.messages import Kind, build
from rotation_doctor.simulated import scenarios
from rotation_doctor.simulated.account import AccountBuilder, tcp
from tests.conftest import topic_with_inbox
from tests.worker_events import EVENTS, rotation_failed


def rotation_succeeded(secret_arn: str) -> str:
    raw = json.loads((EVENTS / "rotation_succeeded_eventbridge.json").read_text())
    raw["id"] = str(uuid.uuid4())
    raw["account"] = raw["detail"]["recipientAccountId"] = "123456789012"
    raw["region"] = raw["detail"]["awsRegion"] = "us-east-1"
    raw["detail"]["additionalEventData"]["SecretId"] = secret_arn
    return json.dumps(raw)


def broken_database_rule(builder: AccountBuilder) -> scenarios.Orders:
    """Healthy but for the database's group, which no longer admits the function (one low-risk fix)."""
    o = scenarios.orders(builder, db_admits_function=True, endpoint=True)
    builder.ec2.revoke_security_group_ingress(
        GroupId=o.db_sg, IpPermissions=[tcp(5432, group=o.fn_sg, description="rotation")]
    )
    return o


def fixed_by_hand(builder: AccountBuilder, o: scenarios.Orders) -> None:
    builder.ec2.authorize_security_group_ingress(
        GroupId=o.db_sg, IpPermissions=[tcp(5432, group=o.fn_sg, description="by hand")]
    )


def told(clients: Any, inbox: str) -> list[dict[str, Any]]:
    envelopes = clients.sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(json.loads(e["Body"])["Message"]) for e in envelopes]


def test_rotation_succeeded_closes_an_open_proposal(builder: AccountBuilder, service: Any) -> None:
    clients = builder.clients
    o = broken_database_rule(builder)
    topic, inbox = topic_with_inbox(clients)
    service.make("propose", NOTIFICATION_TOPIC_ARN=topic)
    service.deliver(rotation_failed(o.secret_arn))
    [proposal] = service.store.list()
    assert proposal.state == "proposed" and told(clients, inbox)[0]["kind"] == "proposal created"

    # Approved on the page; before the worker takes the hand-off, someone fixed it their own way and the next
    # rotation worked.
    service.store.approve(proposal.id, by="approval link (approve)", generation=proposal.generation)
    told(clients, inbox)
    fixed_by_hand(builder, o)
    assert service.deliver(rotation_succeeded(o.secret_arn)) == {"batchItemFailures": []}

    closed = service.store.get(proposal.id)
    assert closed.state == "superseded"
    assert closed.history[-1]["note"] == "the rotation succeeded and the secret is healthy without it"
    [message] = told(clients, inbox)
    assert message["kind"] == "healthy again, proposal superseded" and message["verdict"] == "healthy"
    assert message["proposal_id"] == proposal.id and message["links"]["approve"] is None
    assert message["headline"].startswith(f"{scenarios.DEMO_SECRET}: healthy again")

    assert [e["state"] for e in closed.history] == ["proposed", "approved", "superseded"]

    # The approval's hand-off, taken afterwards, applies nothing: the proposal is no longer approved.
    clients.counter.calls.clear()
    service.deliver(ApplyApproved(proposal.id, proposal.generation, "approval link (approve)").body(service.key))
    assert service.store.get(proposal.id).state == "superseded"
    assert not [c for c in clients.counter.calls if c.startswith("ec2:Authorize")]


def test_rotation_succeeded_for_a_secret_still_broken_keeps_its_proposal(
    builder: AccountBuilder,
    service: Any,
) -> None:
    o = broken_database_rule(builder)
    service.make("propose")
    service.deliver(rotation_failed(o.secret_arn))
    service.deliver(rotation_succeeded(o.secret_arn))
    [proposal] = service.store.list()
    assert proposal.state == "proposed"  # the diagnosis still finds it: nothing is closed on the event's word


def test_rotation_succeeded_with_nothing_open_costs_one_query_and_no_diagnosis(
    builder: AccountBuilder,
    service: Any,
) -> None:
    o = scenarios.orders(builder, db_admits_function=True, endpoint=True)
    service.make("propose")
    builder.clients.counter.calls.clear()
    assert service.deliver(rotation_succeeded(o.secret_arn)) == {"batchItemFailures": []}
    calls = builder.clients.counter.calls
    # The event's one query of the secret's open proposals, and the batch's reconciliation: two queries of the open
    # index, whatever the events. Besides: idempotency's record. No Scan.
    assert calls["dynamodb:Query"] == 1 + 2
    assert not [c for c in calls if c.split(":")[0] in ("ec2", "lambda", "rds", "logs", "secretsmanager")]
    assert set(calls) <= {"dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem"}


def test_rotation_succeeded_resolves_the_secrets_security_hub_findings(
    builder: AccountBuilder,
    service: Any,
) -> None:
    clients = builder.clients
    securityhub = clients.client("securityhub")
    securityhub.enable_security_hub()  # type: ignore[attr-defined]
    o = broken_database_rule(builder)
    service.make("observe", ROTATION_DOCTOR_SECURITY_HUB="Enabled")
    service.deliver(rotation_failed(o.secret_arn))
    [finding] = securityhub.get_findings()["Findings"]  # type: ignore[attr-defined]
    assert finding["GeneratorId"] == "rotation-doctor/DB_SG_INGRESS_DENIES" and finding["RecordState"] == "ACTIVE"
    assert service.store.list() == []  # observe mode: nothing proposed, only the finding is open

    fixed_by_hand(builder, o)
    clients.counter.calls.clear()
    service.deliver(rotation_succeeded(o.secret_arn))
    assert clients.counter.calls["securityhub:GetFindings"] == 2  # is anything open? then what to archive
    [finding] = securityhub.get_findings()["Findings"]  # type: ignore[attr-defined]
    assert finding["RecordState"] == "ARCHIVED"
    assert finding["ProductFields"]["rotation-doctor/Resolved"] == "the secret is healthy again"


def test_healthy_again_is_escaped_in_slack() -> None:
    hostile = "<!channel> <https://evil.example|approve>"
    diagnosis = Diagnosis("arn:aws:secretsmanager:us-east-1:1:secret:x", hostile, Verdict.HEALTHY, ())
    message = build(Kind.SUPERSEDED, diagnosis, [], mode="propose", proposal_id="p-1", outcome=(hostile,))
    # Slack reads mrkdwn (and the notification's fallback text) for links and pings; a header is plain text.
    mrkdwn = [slack.fallback_text(message)]
    for block in slack.blocks(message):
        texts = [block.get("text") or {}, *block.get("elements", [])]
        mrkdwn += [t["text"] for t in texts if t.get("type") == "mrkdwn"]
    assert all("<!channel>" not in t and "<https://evil" not in t for t in mrkdwn)
    assert sum("&lt;!channel&gt;" in t for t in mrkdwn) >= 2  # the headline and what happened


# ----- --retry-rotation in the service: after a fix that made the secret healthy, and only then ----------------------


def test_an_auto_applied_fix_that_heals_starts_the_rotation_again(
    builder: AccountBuilder,
    service: Any,
) -> None:
    o = broken_database_rule(builder)
    service.make("auto", ROTATION_DOCTOR_RETRY_ROTATION="true")
    builder.clients.counter.calls.clear()
    service.deliver(rotation_failed(o.secret_arn))
    assert builder.clients.counter.calls["ec2:AuthorizeSecurityGroupIngress"] == 1
    assert builder.clients.counter.calls["secretsmanager:RotateSecret"] == 1


def test_an_approved_fix_that_heals_starts_the_rotation_again(
    builder: AccountBuilder,
    service: Any,
) -> None:
    o = broken_database_rule(builder)
    service.make("propose", ROTATION_DOCTOR_RETRY_ROTATION="true")
    service.deliver(rotation_failed(o.secret_arn))
    [proposal] = service.store.list()
    service.store.approve(proposal.id, by="approval link (approve)", generation=proposal.generation)
    builder.clients.counter.calls.clear()
    service.deliver(ApplyApproved(proposal.id, proposal.generation, "approval link (approve)").body(service.key))
    assert service.store.get(proposal.id).state == "applied"
    assert builder.clients.counter.calls["secretsmanager:RotateSecret"] == 1


def test_no_rotation_is_started_when_retry_is_off(builder: AccountBuilder, service: Any) -> None:
    o = broken_database_rule(builder)
    service.make("auto")  # retry off (the default)
    builder.clients.counter.calls.clear()
    service.deliver(rotation_failed(o.secret_arn))
    assert builder.clients.counter.calls["ec2:AuthorizeSecurityGroupIngress"] == 1
    assert builder.clients.counter.calls["secretsmanager:RotateSecret"] == 0


def test_no_rotation_is_started_while_the_secret_is_still_broken(
    builder: AccountBuilder,
    service: Any,
) -> None:
    # Retry on, but what auto mode may apply leaves the secret broken (no way to Secrets Manager is medium risk).
    other = scenarios.orders(builder)
    service.make("auto", ROTATION_DOCTOR_RETRY_ROTATION="true")
    builder.clients.counter.calls.clear()
    service.deliver(rotation_failed(other.secret_arn))
    assert builder.clients.counter.calls["ec2:AuthorizeSecurityGroupIngress"] == 1
    assert builder.clients.counter.calls["secretsmanager:RotateSecret"] == 0


def test_a_failed_read_of_security_hub_is_not_taken_for_nothing_open(
    builder: AccountBuilder,
    service: Any,
) -> None:
    from botocore.exceptions import ClientError

    clients = builder.clients
    securityhub = clients.client("securityhub")
    o = scenarios.orders(builder, db_admits_function=True, endpoint=True)
    service.make("observe", ROTATION_DOCTOR_SECURITY_HUB="Enabled")

    def refuse(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetFindings")

    securityhub.meta.events.register("before-call.securityhub.GetFindings", refuse)
    try:
        clients.counter.calls.clear()
        service.deliver(rotation_succeeded(o.secret_arn))
    finally:
        securityhub.meta.events.unregister("before-call.securityhub.GetFindings", refuse)
    assert clients.counter.calls["secretsmanager:DescribeSecret"] >= 1  # diagnosed: something may be open


def _finding_states(builder: AccountBuilder) -> dict[str, str]:
    findings = builder.clients.client("securityhub").get_findings()["Findings"]  # type: ignore[attr-defined]
    return {f["GeneratorId"]: f["RecordState"] for f in findings}


def test_a_fix_applied_in_auto_mode_leaves_no_finding_open(builder: AccountBuilder, service: Any) -> None:
    """Security Hub holds what the account holds after the fix, not the diagnosis that led to it."""
    builder.clients.client("securityhub").enable_security_hub()  # type: ignore[attr-defined]
    o = broken_database_rule(builder)
    service.make("auto", ROTATION_DOCTOR_SECURITY_HUB="Enabled")
    builder.clients.counter.calls.clear()
    service.deliver(rotation_failed(o.secret_arn))
    assert builder.clients.counter.calls["ec2:AuthorizeSecurityGroupIngress"] == 1  # the fix
    assert "ACTIVE" not in _finding_states(builder).values()  # healthy within the event: nothing open to see


def test_an_approved_fix_applied_leaves_its_findings_archived(builder: AccountBuilder, service: Any) -> None:
    builder.clients.client("securityhub").enable_security_hub()  # type: ignore[attr-defined]
    o = broken_database_rule(builder)
    service.make("propose", ROTATION_DOCTOR_SECURITY_HUB="Enabled")
    service.deliver(rotation_failed(o.secret_arn))
    assert set(_finding_states(builder).values()) == {"ACTIVE"}
    [proposal] = service.store.list()
    service.store.approve(proposal.id, by="approval link (approve)", generation=proposal.generation)
    service.deliver(ApplyApproved(proposal.id, proposal.generation, "approval link (approve)").body(service.key))
    assert service.store.get(proposal.id).state == "applied"
    assert set(_finding_states(builder).values()) == {"ARCHIVED"}


def test_a_rotation_succeeded_whose_secret_names_another_account_is_not_acted_on(
    builder: AccountBuilder,
    service: Any,
) -> None:
    """CloudTrail records a rotation in the secret's own account and region: an event whose secret ARN names
    another place is not real, and closes nothing."""
    o = broken_database_rule(builder)
    service.make("propose", ROTATION_DOCTOR_MEMBER_ROLE_NAME="rotation-doctor-member")
    service.deliver(rotation_failed(o.secret_arn))
    [proposal] = service.store.list()
    builder.ec2.authorize_security_group_ingress(  # fixed by hand: healthy again
        GroupId=o.db_sg, IpPermissions=[tcp(5432, group=o.fn_sg, description="fixed by hand")]
    )
    forged = json.loads(rotation_succeeded(o.secret_arn))
    forged["account"] = "210987654321"
    builder.clients.counter.calls.clear()
    service.deliver(json.dumps(forged))
    assert service.store.get(proposal.id).state == "proposed"
    assert builder.clients.counter.calls["sts:AssumeRole"] == 0  # not even a look in the account it names
    service.deliver(rotation_succeeded(o.secret_arn))  # the real one closes it
    assert service.store.get(proposal.id).state == "superseded"


def test_the_sweep_archives_the_findings_of_a_secret_deleted_since(builder: AccountBuilder, service: Any) -> None:
    """A deleted secret is never diagnosed again: the sweep, which lists every Lambda-rotated secret of its place,
    archives our findings on any secret it did not list."""
    builder.clients.client("securityhub").enable_security_hub()  # type: ignore[attr-defined]
    o = broken_database_rule(builder)
    value = json.loads(builder.clients.secretsmanager.get_secret_value(SecretId=o.secret_arn)["SecretString"])
    kept = builder.rotated_secret("prod/kept/db", value, o.function_arn)  # the same database: broken, and still there
    service.make("observe", ROTATION_DOCTOR_SECURITY_HUB="Enabled")
    service.deliver(rotation_failed(o.secret_arn), rotation_failed(kept))
    builder.clients.secretsmanager.delete_secret(SecretId=o.secret_arn, ForceDeleteWithoutRecovery=True)
    service.deliver((EVENTS / "scheduled_sweep.json").read_text().replace("53dc4d37", str(uuid.uuid4())[:8]))
    findings = builder.clients.client("securityhub").get_findings()["Findings"]  # type: ignore[attr-defined]
    states = {(f["Resources"][0]["Id"], f["RecordState"]) for f in findings}
    assert {s for arn, s in states if arn == o.secret_arn} == {"ARCHIVED"}
    assert {s for arn, s in states if arn == kept} == {"ACTIVE"}

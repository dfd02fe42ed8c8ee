"""The worker Lambda end to end on the simulated account, fed real-shaped events through an SQS batch."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from rotation_doctor.apply.timing import LONGEST_APPLY_SECONDS
from rotation_doctor.simulated import scenarios
from rotation_doctor.simulated.account import AccountBuilder, tcp
from rotation_doctor.simulated.lambda_runtime import SimulatedContext, sqs_event
from tests.conftest import topic_with_inbox
from tests.worker_events import (
    EVENTS,
    FICTIONAL_DB_SG,
    FICTIONAL_FN_SG,
    FICTIONAL_VPC,
    real_shaped,
    revoke_function_rule,
    rotation_failed,
)


def test_rotation_failed_produces_a_proposal(builder: AccountBuilder, service: Any) -> None:
    o = scenarios.orders(builder)
    service.make("propose")
    response = service.deliver(rotation_failed(o.secret_arn))
    assert response == {"batchItemFailures": []}
    [proposal] = service.store.list()
    assert proposal.secret_arn == o.secret_arn and proposal.state == "proposed"
    assert [f.kind for f in proposal.plan] == ["CREATE_SECRETSMANAGER_ENDPOINT", "AUTHORIZE_DB_INGRESS"]
    assert builder.ec2.describe_vpc_endpoints()["VpcEndpoints"] == []  # nothing changed


def test_rotation_failed_in_auto_mode_applies_low_risk_and_proposes_the_rest(
    builder: AccountBuilder, service: Any
) -> None:
    o = scenarios.orders(builder)
    service.make("auto")
    service.deliver(rotation_failed(o.secret_arn))
    ingress = builder.ec2.describe_security_groups(GroupIds=[o.db_sg])["SecurityGroups"][0]["IpPermissions"]
    assert any(pair["GroupId"] == o.fn_sg for p in ingress for pair in p["UserIdGroupPairs"])
    [proposal] = service.store.list()
    assert [f.kind for f in proposal.plan] == ["CREATE_SECRETSMANAGER_ENDPOINT"]


def test_revoked_rule_proposes_for_exactly_the_affected_secrets(builder: AccountBuilder, service: Any) -> None:
    o = scenarios.orders(builder, db_admits_function=True, endpoint=True)
    # A second database with its own group, used by another secret: the revoke does not touch it.
    other_sg = builder.security_group(o.net, "billing-db", ingress=[tcp(5432, group=o.fn_sg)])
    billing = builder.rds_instance("billing-db", "orders-data", [other_sg])
    builder.rotated_secret("prod/billing/db", {**billing, "password": scenarios.CANARY_PASSWORD}, o.function_arn)
    service.make("propose")
    revoke_function_rule(builder, o)
    builder.clients.counter.calls.clear()
    service.deliver(real_shaped("revoke_sg_ingress_items.json", **{FICTIONAL_DB_SG: o.db_sg, FICTIONAL_FN_SG: o.fn_sg}))
    proposals = service.store.list()
    assert [p.secret_name for p in proposals] == [scenarios.DEMO_SECRET]
    assert [f.kind for f in proposals[0].plan] == ["AUTHORIZE_DB_INGRESS"]


def test_a_new_endpoint_that_shuts_the_function_out_wakes_the_secrets_of_its_vpc(
    builder: AccountBuilder, service: Any
) -> None:
    """A Secrets Manager endpoint with private DNS, created in a VPC whose rotation worked through a NAT gateway, with
    a group that admits nothing: the function's calls now go to the endpoint and are refused. The event names the
    VPC (its other ids are left fictional): that alone wakes the secret, before any rotation fails."""
    o = scenarios.orders(builder, db_admits_function=True)
    builder.route(o.net.tables["private"], "0.0.0.0/0", NatGatewayId=builder.nat_gateway(o.net, "public-a"))
    service.make("propose")
    closed = builder.security_group(o.net, "closed-endpoint")
    builder.secrets_manager_endpoint(o.net, ["app-a", "app-b"], [closed])
    assert service.deliver(real_shaped("create_vpc_endpoint.json", **{FICTIONAL_VPC: o.net.vpc})) == {
        "batchItemFailures": []
    }
    [proposal] = service.store.list()
    assert proposal.secret_name == scenarios.DEMO_SECRET
    assert [f.kind for f in proposal.plan] == ["AUTHORIZE_ENDPOINT_INGRESS"]


def test_a_burst_of_changes_is_one_diagnosis_per_secret(builder: AccountBuilder, service: Any) -> None:
    o = scenarios.orders(builder, db_admits_function=True, endpoint=True)
    service.make("propose")
    revoke_function_rule(builder, o)
    ids = {FICTIONAL_DB_SG: o.db_sg, FICTIONAL_FN_SG: o.fn_sg}
    builder.clients.counter.calls.clear()
    service.deliver(
        real_shaped("revoke_sg_ingress_items.json", **ids),
        real_shaped("revoke_sg_ingress_cli_flat.json", **ids),
        real_shaped("modify_sg_rules_request.json", **ids),
    )
    assert builder.clients.counter.calls["secretsmanager:ListSecrets"] == 1
    assert builder.clients.counter.calls["ec2:DescribeSecurityGroups"] == 1
    assert len(service.store.list()) == 1


def test_a_duplicate_delivery_acts_once(builder: AccountBuilder, service: Any) -> None:
    o = scenarios.orders(builder)
    service.make("auto")
    body = rotation_failed(o.secret_arn, event_id="11111111-2222-4333-8444-555555555555")
    service.deliver(body)
    builder.clients.counter.calls.clear()
    service.deliver(body)
    calls = builder.clients.counter.calls
    assert not any(k.startswith(("ec2:Authorize", "ec2:Create", "secretsmanager:Describe")) for k in calls), calls
    assert len(service.store.list()) == 1


def test_a_malformed_event_goes_to_the_dead_letter_queue_with_its_reason(builder: AccountBuilder, service: Any) -> None:
    service.make("propose")
    malformed = (EVENTS / "malformed_rotation_failed_no_secret.json").read_text()
    response = service.deliver(malformed, "not json at all")
    assert response == {"batchItemFailures": []}  # handled: retrying cannot make them understandable
    got = builder.clients.sqs.receive_message(
        QueueUrl=service.dead_letter_queue, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )["Messages"]
    reasons = sorted(m["MessageAttributes"]["reason"]["StringValue"] for m in got)
    assert reasons == ["RotationFailed without detail.additionalEventData.SecretId", "the message body is not JSON"]


def unreachable_for(builder: AccountBuilder, secret_id: str) -> Callable[[], None]:
    """DescribeSecret of `secret_id` cannot reach Secrets Manager (after which nothing can be read); returns how to
    stop."""
    from botocore.exceptions import EndpointConnectionError

    def refuse(params: dict[str, Any], **_: Any) -> None:
        if params.get("SecretId") == secret_id:
            raise EndpointConnectionError(endpoint_url="https://secretsmanager.us-east-1.amazonaws.com/")

    events = builder.clients.client("secretsmanager").meta.events
    name = "before-parameter-build.secretsmanager.DescribeSecret"  # the caller's parameters, as given
    events.register(name, refuse, unique_id="refuse-describe")
    return lambda: events.unregister(name, unique_id="refuse-describe")


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[str]]]:
    """The worker's log lines as Lambda would record them (Powertools' JSON formatter), one string each."""
    import handlers.worker as worker_module

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(worker_module.logger.registered_formatter)
    worker_module.logger.addHandler(handler)
    level = worker_module.logger.log_level
    worker_module.logger.setLevel("INFO")  # as deployed (LogLevel INFO), whatever an earlier test left
    yield lambda: stream.getvalue().splitlines()
    worker_module.logger.setLevel(level)
    worker_module.logger.removeHandler(handler)


def test_a_failing_record_fails_alone(
    builder: AccountBuilder, service: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    o = scenarios.orders(builder)
    service.make("propose")
    failing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:failing-AbCdEf"
    event = sqs_event(rotation_failed(o.secret_arn), rotation_failed(failing))
    import handlers.worker as worker_module

    # Nothing can be read (no connection): the record fails; a refusal of one secret is a finding instead
    # (tests/test_isolation.py).
    stop = unreachable_for(builder, failing)
    try:
        response = worker_module.handler(event, SimulatedContext())
    finally:
        stop()
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]}
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert any(m.get("Failures") == [1.0] or m.get("Failures") == 1.0 for m in emitted), emitted
    assert len(service.store.list()) == 1


def test_a_rotation_failure_of_a_deleted_secret_is_settled_not_retried(
    builder: AccountBuilder, service: Any, log_lines: Callable[[], list[str]]
) -> None:
    service.make("propose")
    gone = rotation_failed("arn:aws:secretsmanager:us-east-1:123456789012:secret:gone-AbCdEf")
    assert service.deliver(gone) == {"batchItemFailures": []}  # ResourceNotFoundException: nothing to retry
    [handled] = [json.loads(line) for line in log_lines() if '"handled"' in line]
    assert handled["note"] == "the secret no longer exists" and handled["secrets"] == []
    assert "MessageAttributes" not in str(
        builder.clients.sqs.receive_message(QueueUrl=service.dead_letter_queue)
    )  # settled: not dead-lettered either
    builder.clients.counter.calls.clear()
    assert service.deliver(gone) == {"batchItemFailures": []}  # delivered again: the idempotency record answers
    assert "secretsmanager:DescribeSecret" not in builder.clients.counter.calls


def test_a_secret_whose_value_cannot_be_parsed_never_fails_the_batch(builder: AccountBuilder, service: Any) -> None:
    o = scenarios.orders(builder, db_admits_function=True, endpoint=True)
    bad = {**o.db, "port": "\u00b2", "password": scenarios.CANARY_PASSWORD}  # "²".isdigit(); int("²") raises
    builder.rotated_secret("prod/billing/db", bad, o.function_arn)
    service.make("propose")
    revoke_function_rule(builder, o)
    ids = {FICTIONAL_DB_SG: o.db_sg, FICTIONAL_FN_SG: o.fn_sg}
    sweep_and_change = (real_shaped("scheduled_sweep.json"), real_shaped("revoke_sg_ingress_items.json", **ids))
    assert service.deliver(*sweep_and_change) == {"batchItemFailures": []}
    [proposal] = service.store.list()  # the other secret is handled as ever
    assert proposal.secret_name == scenarios.DEMO_SECRET
    assert service.deliver(
        rotation_failed(builder.clients.secretsmanager.describe_secret(SecretId="prod/billing/db")["ARN"])
    ) == {"batchItemFailures": []}


def nested(depth: int, leaf: Any) -> Any:
    value = leaf
    for level in range(depth):
        value = {"items": [value]} if level % 2 else [value]
    return value


def with_parameter(name: str, value: Any) -> str:
    """The real-shaped revoke event with one more request parameter, serialised without recursion limits."""
    raw = json.loads(real_shaped("revoke_sg_ingress_items.json"))
    raw["detail"]["requestParameters"]["extra"] = "@@EXTRA@@"
    text = json.dumps(raw)
    if isinstance(value, str):
        return text.replace('"@@EXTRA@@"', value)
    return text.replace('"@@EXTRA@@"', json.dumps(value))


DEEP_10000 = "[" * 5_000 + '{"items": ' * 5_000 + '"sg-0123456789abcdef0"' + "}" * 5_000 + "]" * 5_000


@pytest.mark.parametrize(
    "body,reason",
    [
        (with_parameter("deep", DEEP_10000), "the message body is nested too deeply to read"),
        (with_parameter("deep", nested(600, "sg-0123456789abcdef0")), "AWS API Call via CloudTrail without a"),
        (
            real_shaped("rotation_failed_eventbridge.json").replace(
                '"detail-type": "', '"detail-type": "' + "D" * 50_000
            ),
            "unexpected event: aws.secretsmanager / DDDD",
        ),
        ((EVENTS / "rotation_failed_cloudtrail_record.json").read_text(), "not an EventBridge event"),
        ('{"version": "0", "id": ' + json.dumps("i" * 100_000) + "}", "not an EventBridge event"),
        ("[" * 10_000 + "]" * 10_000, "the message body is nested too deeply to read"),
        ('"just a string"', "the message body is not a JSON object"),
    ],
)
def test_an_event_that_cannot_be_parsed_is_dead_lettered_at_once_with_a_short_reason(
    builder: AccountBuilder, service: Any, log_lines: Callable[[], list[str]], body: str, reason: str
) -> None:
    service.make("propose")
    builder.clients.counter.calls.clear()
    assert service.deliver(body) == {"batchItemFailures": []}  # no retries: they cannot make it readable
    [got] = builder.clients.sqs.receive_message(QueueUrl=service.dead_letter_queue, MessageAttributeNames=["All"])[
        "Messages"
    ]
    said = got["MessageAttributes"]["reason"]["StringValue"]
    assert said.startswith(reason) and len(said) <= 300 and got["Body"] == body
    lines = log_lines()
    assert lines and max(len(line) for line in lines) < 2_000, [line[:300] for line in lines]
    assert "secretsmanager:ListSecrets" not in builder.clients.counter.calls  # nothing was diagnosed


def test_a_change_too_deep_to_read_whole_looks_at_every_secret(
    builder: AccountBuilder, service: Any, log_lines: Callable[[], list[str]]
) -> None:
    o = scenarios.orders(builder, db_admits_function=True, endpoint=True)
    service.make("propose")
    revoke_function_rule(builder, o)
    # The deep part names nothing of the account; the rest names groups it does not have either.
    assert service.deliver(with_parameter("deep", nested(100, "sg-0123456789abcdef0"))) == {"batchItemFailures": []}
    [proposal] = service.store.list()  # looked at every secret, so the revoked rule was found
    assert [f.kind for f in proposal.plan] == ["AUTHORIZE_DB_INGRESS"]
    assert any("too deep or too large to read whole" in line for line in log_lines())


def test_a_failure_is_logged_briefly_even_a_recursion_error(
    builder: AccountBuilder, service: Any, log_lines: Callable[[], list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from rotation_doctor.service.batch import BatchContext

    def ping(n: int) -> int:
        return pong(n + 1)

    def pong(n: int) -> int:
        return ping(n + 1)  # two alternating frames: the traceback cannot fold them into one line

    monkeypatch.setattr(BatchContext, "process", lambda self, trigger: ping(0))
    service.make("propose")
    response = service.deliver(real_shaped("scheduled_sweep.json"))
    assert len(response["batchItemFailures"]) == 1  # not a parse problem: retried, then dead-lettered by SQS
    [failed] = [json.loads(line) for line in log_lines() if '"failed"' in line]
    assert failed["error"].startswith("RecursionError") and "pong" in failed["traceback"]
    assert max(len(line) for line in log_lines()) < 6_000


def test_refused_calls_are_ignored(builder: AccountBuilder, service: Any) -> None:
    scenarios.orders(builder)
    service.make("propose")
    builder.clients.counter.calls.clear()
    assert service.deliver(real_shaped("failed_revoke_sg_ingress.json")) == {"batchItemFailures": []}
    assert "secretsmanager:ListSecrets" not in builder.clients.counter.calls


def test_daily_sweep_diagnoses_everything(builder: AccountBuilder, service: Any) -> None:
    scenarios.orders(builder)
    service.make("observe")
    service.deliver(real_shaped("scheduled_sweep.json"))
    assert service.store.list() == []  # observe: diagnosis only
    assert builder.clients.counter.calls["secretsmanager:ListSecrets"] >= 1


def test_people_are_told_on_sns_and_slack_with_working_approval_links(
    builder: AccountBuilder, service: Any, webhook_server: dict[str, Any]
) -> None:
    from urllib.parse import parse_qs, urlsplit

    from rotation_doctor.approvals import tokens

    clients = builder.clients
    o = scenarios.orders(builder)
    topic, inbox = topic_with_inbox(clients)
    slack_secret = clients.secretsmanager.create_secret(Name="slack/webhook", SecretString=webhook_server["url"])
    key = clients.secretsmanager.create_secret(Name="rotation-doctor/key", SecretString="k" * 64)
    service.make(
        "propose",
        NOTIFICATION_TOPIC_ARN=topic,
        SLACK_WEBHOOK_SECRET_ARN=slack_secret["ARN"],
        SIGNING_KEY_SECRET_ARN=key["ARN"],
        APPROVAL_URL="https://abc123.lambda-url.us-east-1.on.aws/",
    )
    event = rotation_failed(o.secret_arn)
    service.deliver(event)
    service.deliver(event)  # redelivered: neither acts nor tells twice

    [proposal] = service.store.list()
    envelopes = clients.sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10)["Messages"]
    assert len(envelopes) == 1
    sent = json.loads(json.loads(envelopes[0]["Body"])["Message"])
    assert sent["kind"] == "proposal created" and sent["proposal_id"] == proposal.id
    link = urlsplit(sent["links"]["approve"])
    assert link.netloc == "abc123.lambda-url.us-east-1.on.aws" and link.path == f"/proposals/{proposal.id}"
    approve_token = parse_qs(link.query)["approve"][0]
    tokens.verify(
        b"k" * 64,
        approve_token,
        proposal_id=proposal.id,
        plan_hash=proposal.plan_hash,
        generation=proposal.generation,
        action="approve",
    )

    [post] = webhook_server["posts"]
    buttons = next(b for b in post["json"]["blocks"] if b["type"] == "actions")["elements"]
    assert [b["url"] for b in buttons] == [sent["links"]["approve"], sent["links"]["reject"]]


# ----- the approval page's hand-off: the worker applies an approved proposal ------------------------


def approved(builder: AccountBuilder, service: Any) -> tuple[Any, str]:
    """A proposal approved on the page, and the message the page sent the worker."""
    from rotation_doctor.approvals.handoff import ApplyApproved

    o = scenarios.orders(builder)
    service.make("propose")
    service.deliver(rotation_failed(o.secret_arn))
    [proposal] = service.store.list()
    service.store.approve(proposal.id, by="approval link (approve)", generation=proposal.generation)
    return proposal, ApplyApproved(proposal.id, proposal.generation, "approval link (approve)").body(service.key)


def account_writes(builder: AccountBuilder) -> dict[str, int]:
    reads = ("Describe", "Get", "List", "BatchGet", "FilterLog")
    calls = builder.clients.counter.calls.items()
    return {k: n for k, n in calls if not k.split(":")[1].startswith(reads) and k.split(":")[0] in ("ec2", "lambda")}


def test_an_approved_proposal_handed_over_is_applied_once(builder: AccountBuilder, service: Any) -> None:
    proposal, message = approved(builder, service)
    builder.clients.counter.calls.clear()
    assert service.deliver(message) == {"batchItemFailures": []}
    assert service.store.get(proposal.id).state == "applied"
    assert account_writes(builder)["ec2:CreateVpcEndpoint"] == 1
    history = service.store.get(proposal.id).history
    assert [e["state"] for e in history] == ["proposed", "approved", "applying", "applied"]
    builder.clients.counter.calls.clear()
    assert service.deliver(message) == {"batchItemFailures": []}  # SQS delivers at least once
    assert account_writes(builder) == {} and service.store.get(proposal.id).history == history


def test_the_hand_off_carries_no_authority(builder: AccountBuilder, service: Any) -> None:
    """A message for a proposal nobody approved (forged, or sent by mistake) applies nothing: the decision is the
    proposal's state, not the message."""
    from rotation_doctor.approvals.handoff import ApplyApproved

    o = scenarios.orders(builder)
    service.make("propose")
    service.deliver(rotation_failed(o.secret_arn))
    [proposal] = service.store.list()
    builder.clients.counter.calls.clear()
    forged = ApplyApproved(proposal.id, proposal.generation, "someone").body(service.key)
    assert service.deliver(forged) == {"batchItemFailures": []}  # nothing to retry
    assert account_writes(builder) == {} and service.store.get(proposal.id).state == "proposed"


def test_a_redelivered_hand_off_writes_nothing_even_without_the_idempotency_record(
    builder: AccountBuilder, service: Any
) -> None:
    """The proposal's conditional claim (approved -> applying) is the guard: after a rollback, the same message again
    must not apply the plan a second time."""
    from tests.faults import fail_nth

    proposal, message = approved(builder, service)
    service.make("propose", IDEMPOTENCY_TABLE="")
    stop = fail_nth(builder, "CreateVpcEndpoint", 1)
    try:
        service.deliver(message)
    finally:
        stop()
    assert service.store.get(proposal.id).state == "rolled_back"
    builder.clients.counter.calls.clear()
    assert service.deliver(message, message) == {"batchItemFailures": []}
    assert account_writes(builder) == {} and service.store.get(proposal.id).state == "rolled_back"


def test_an_approval_is_applied_whatever_the_mode(builder: AccountBuilder, service: Any) -> None:
    """As the CLI's `proposals approve`: a person's yes applies even when the deployment now only observes."""
    proposal, message = approved(builder, service)
    service.make("observe")
    service.deliver(message)
    assert service.store.get(proposal.id).state == "applied"


def test_a_hand_off_for_an_earlier_round_applies_nothing(builder: AccountBuilder, service: Any) -> None:
    from rotation_doctor.approvals.handoff import ApplyApproved

    proposal, _ = approved(builder, service)
    old = ApplyApproved(proposal.id, proposal.generation - 1, "approval link (approve)").body(service.key)
    builder.clients.counter.calls.clear()
    assert service.deliver(old) == {"batchItemFailures": []}
    assert account_writes(builder) == {} and service.store.get(proposal.id).state == "approved"


@pytest.mark.parametrize(
    "change,reason",
    [
        ({"version": 2}, "apply-approved-proposal version 2 is not 1"),
        ({"proposal_id": "../../etc"}, "apply-approved-proposal without a proposal id"),
        ({"generation": "1"}, "apply-approved-proposal without a generation"),
        ({"action": "apply"}, "apply-approved-proposal with unknown fields: action"),
        ({"id": "other"}, "apply-approved-proposal whose id is not apply#p-0123456789abcdef0123#5"),
        ({"kind": "apply-everything"}, "not an apply-approved-proposal message"),
    ],
)
def test_a_malformed_hand_off_goes_to_the_dead_letter_queue(
    builder: AccountBuilder, service: Any, change: dict[str, Any], reason: str
) -> None:
    from rotation_doctor.approvals.handoff import ApplyApproved

    service.make("propose")
    body = ApplyApproved("p-0123456789abcdef0123", 5, "approval link (approve)").to_json() | change
    assert service.deliver(json.dumps(body)) == {"batchItemFailures": []}
    [got] = builder.clients.sqs.receive_message(QueueUrl=service.dead_letter_queue, MessageAttributeNames=["All"])[
        "Messages"
    ]
    assert got["MessageAttributes"]["reason"]["StringValue"] == reason


@pytest.mark.parametrize("signed", ["unsigned", "with another key", "as a link is signed", "with a number"])
def test_a_hand_off_the_approval_function_did_not_sign_is_dropped(
    builder: AccountBuilder,
    service: Any,
    signed: str,
    log_lines: Callable[[], list[str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Anyone who may send to the queue can write a well-formed hand-off for an approved proposal: unless the
    approval function signed it, it applies nothing, is not retried, and is counted; the real one still applies."""
    import hashlib
    import hmac

    from rotation_doctor.approvals.handoff import ApplyApproved

    proposal, real = approved(builder, service)
    message = ApplyApproved(proposal.id, proposal.generation, "approval link (approve)")
    canonical = json.dumps(message.to_json(), separators=(",", ":"), sort_keys=True).encode()
    signature = {
        "unsigned": None,
        "with another key": message.signature(b"x" * 64),
        # The links' key itself, as a link's token signs: a hand-off's key is derived from it, so this is refused.
        "as a link is signed": hmac.new(service.key, canonical, hashlib.sha256).hexdigest(),
        "with a number": 1234,
    }[signed]
    forged = message.to_json() | ({"signature": signature} if signature is not None else {})
    builder.clients.counter.calls.clear()
    capsys.readouterr()
    assert service.deliver(json.dumps(forged)) == {"batchItemFailures": []}  # dropped: not retried
    assert account_writes(builder) == {} and service.store.get(proposal.id).state == "approved"
    assert builder.clients.sqs.receive_message(QueueUrl=service.dead_letter_queue).get("Messages", []) == []
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [m["HandoffsRefused"] for m in emitted if "HandoffsRefused" in m] in ([1.0], [[1.0]])
    [refused] = [json.loads(line) for line in log_lines() if "hand-off refused" in line]
    assert refused["level"] == "WARNING" and refused["sender_id"] == "AIDAEXAMPLE"
    assert "signature" in refused["reason"] and "approval link" not in json.dumps(refused)  # no body in the log
    # The forgery spent nothing: the approval function's own hand-off (same id) is applied.
    assert service.deliver(real) == {"batchItemFailures": []}
    assert service.store.get(proposal.id).state == "applied"


def test_a_worker_without_the_signing_key_applies_no_hand_off(builder: AccountBuilder, service: Any) -> None:
    proposal, message = approved(builder, service)
    service.make("propose", SIGNING_KEY_SECRET_ARN="")
    assert service.deliver(message) == {"batchItemFailures": []}
    assert service.store.get(proposal.id).state == "approved"


def test_in_auto_mode_a_fix_that_could_not_be_undone_is_told_loudly_on_every_channel(
    builder: AccountBuilder, service: Any, webhook_server: dict[str, Any]
) -> None:
    """No person approved it, so nobody is watching: the leftovers must reach SNS and Slack all the same."""
    from botocore.exceptions import ClientError

    from tests.faults import fail_nth

    clients = builder.clients
    o = scenarios.orders(builder)
    topic, inbox = topic_with_inbox(clients)
    hook = clients.secretsmanager.create_secret(Name="slack/webhook", SecretString=webhook_server["url"])
    service.make(
        "auto",
        ROTATION_DOCTOR_MAX_AUTO_RISK="medium",
        NOTIFICATION_TOPIC_ARN=topic,
        SLACK_WEBHOOK_SECRET_ARN=hook["ARN"],
    )

    def refuse(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "denied"}}, "DeleteVpcEndpoints")

    clients.ec2.meta.events.register("before-call.ec2.DeleteVpcEndpoints", refuse, unique_id="refuse-undo")
    stop = fail_nth(builder, "AuthorizeSecurityGroupIngress", 2)  # the database's rule, after the endpoint
    try:
        assert service.deliver(rotation_failed(o.secret_arn)) == {"batchItemFailures": []}
    finally:
        stop()
        clients.ec2.meta.events.unregister("before-call.ec2.DeleteVpcEndpoints", unique_id="refuse-undo")
    [endpoint] = [e["VpcEndpointId"] for e in builder.ec2.describe_vpc_endpoints()["VpcEndpoints"]]

    got = clients.sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
    envelopes = [json.loads(m["Body"]) for m in got["Messages"]]
    [loud] = [e for e in envelopes if e["MessageAttributes"]["priority"]["Value"] == "high"]
    assert loud["Subject"] == "[rotation-doctor] ACTION NEEDED: prod/orders/db: fix failed, not undone (broken)"
    told = json.loads(loud["Message"])
    assert told["mode"] == "auto" and [x["resource"] for x in told["leftovers"]] == [endpoint]
    assert f'"VpcEndpointIds":["{endpoint}"]' in told["leftovers"][0]["remove"]
    [slack_post] = [p for p in webhook_server["posts"] if p["json"]["text"].startswith("<!here>")]
    assert endpoint in json.dumps(slack_post["json"]["blocks"])


def test_an_unforeseen_parse_error_is_dead_lettered_with_its_type_only(
    builder: AccountBuilder, service: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rotation_doctor.service import events

    def broken(raw: Any) -> Any:
        raise TypeError(f"cannot parse {raw}")  # a message that would quote the whole event

    monkeypatch.setattr(events, "parse", broken)
    service.make("propose")
    assert service.deliver(real_shaped("scheduled_sweep.json")) == {"batchItemFailures": []}
    [got] = builder.clients.sqs.receive_message(QueueUrl=service.dead_letter_queue, MessageAttributeNames=["All"])[
        "Messages"
    ]
    assert got["MessageAttributes"]["reason"]["StringValue"] == "the event could not be parsed (TypeError)"


def test_the_report_types_are_what_the_batch_writes() -> None:
    """The worker reads the report as idempotency stores it (`EventReport.to_json`) through TypedDicts: the same
    keys, so that a field added to one is added to the other."""
    from handlers.worker import ReportJson, SecretJson
    from rotation_doctor.model.findings import Verdict
    from rotation_doctor.model.states import SecretAction
    from rotation_doctor.service.batch import EventReport, SecretReport

    secret = SecretReport("arn:x", "x", Verdict.HEALTHY, ["C"], SecretAction.HEALTHY, "p-1", ["AUTHORIZE_DB_INGRESS"])
    assert set(secret.to_json()) == set(SecretJson.__annotations__)
    assert set(EventReport("e", "t", [secret], note="gone").to_json()) == set(ReportJson.__annotations__)
    assert set(EventReport("e", "t", [secret]).to_json()) == set(ReportJson.__annotations__) - {"note"}


def test_an_invocation_near_its_end_writes_nothing_it_could_not_undo(builder: AccountBuilder, service: Any) -> None:
    """The executor's time budget follows the Lambda's remaining time, less the margin an undo needs."""
    import handlers.worker as worker_module
    from rotation_doctor.apply.timing import UNDO_MARGIN_SECONDS

    o = scenarios.orders(builder)
    service.make("auto")
    before = builder.ec2.describe_security_groups(GroupIds=[o.db_sg])["SecurityGroups"][0]["IpPermissions"]
    context = SimulatedContext(remaining_ms=(UNDO_MARGIN_SECONDS - 1) * 1000)  # less than the margin is left
    assert dict(worker_module.handler(sqs_event(rotation_failed(o.secret_arn)), context)) == {"batchItemFailures": []}
    after = builder.ec2.describe_security_groups(GroupIds=[o.db_sg])["SecurityGroups"][0]["IpPermissions"]
    assert after == before  # the low-risk rule auto mode would add is not added
    made = builder.ec2.describe_security_groups(
        Filters=[{"Name": "tag:rotation-doctor:created-by", "Values": ["rotation-doctor"]}]
    )["SecurityGroups"]
    assert made == []


# ----- logs: a DEBUG deployment logs no secret value -------------------------------------------------------------

DIAGNOSIS_AT_DEBUG = """
import logging, sys
from moto import mock_aws
with mock_aws():
    from rotation_doctor.collect.aws import AwsClients
    from rotation_doctor.simulated import scenarios
    from rotation_doctor.simulated.account import AccountBuilder
    from rotation_doctor.simulated.lambda_runtime import SimulatedContext, sqs_event
    from tests.worker_events import rotation_failed
    clients = AwsClients(region="us-east-1")
    orders = scenarios.orders(AccountBuilder(clients))  # its secret's password is the canary
    # From here on, as Lambda's runtime does for a function whose log level is DEBUG: the root logger at DEBUG.
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, force=True)
    import handlers.worker as worker
    built = worker.build_worker({"ROTATION_DOCTOR_MODE": "observe"}, clients)
    worker._default_worker = lambda: built
    print(worker.handler(sqs_event(rotation_failed(orders.secret_arn)), SimulatedContext()))
"""


def test_a_worker_logging_at_debug_logs_no_secret_value() -> None:
    """botocore at DEBUG logs GetSecretValue's response body, the password in it: the handler pins it at WARNING."""
    import subprocess
    import sys

    from tests.worker_events import lambda_env

    env = lambda_env(POWERTOOLS_LOG_LEVEL="DEBUG", LOG_LEVEL="DEBUG", AWS_LAMBDA_LOG_LEVEL="DEBUG")
    env |= {"POWERTOOLS_TRACE_DISABLED": "true", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        [sys.executable, "-c", DIAGNOSIS_AT_DEBUG], env=env, capture_output=True, text=True, timeout=300
    )
    logged = done.stdout + done.stderr
    assert done.returncode == 0, done.stderr[-3000:]
    assert "{'batchItemFailures': []}" in done.stdout
    # The diagnosis ran with DEBUG lines captured (the secret value was read), and none held the password.
    assert "DEBUG:rotation_doctor.collect.collector:read secretsmanager:GetSecretValue" in done.stderr
    assert '"message":"handled"' in logged.replace(" ", "")
    assert scenarios.CANARY_PASSWORD not in logged


# ----- an approval that waits: handed over again or asked again, never lost ---------------------------------------


def waited(builder: AccountBuilder, proposal_id: str, seconds: int, *, expired: bool = False) -> None:
    """As if the approval had been made `seconds` ago and waited since in a backlogged queue (and, if asked, past the
    proposal's expiry): its approval in the history and its due look, moved back as far."""
    raw = builder.clients.dynamodb.get_item(TableName="proposals", Key={"id": {"S": proposal_id}})["Item"]
    last = len(raw["history"]["L"]) - 1
    approved_at = int(raw["history"]["L"][last]["M"]["at"]["N"]) - seconds
    values = {":at": {"N": str(approved_at)}, ":due": {"N": str(approved_at + LONGEST_APPLY_SECONDS)}}
    update = f"SET history[{last}].#at = :at, open_due = :due"
    if expired:
        values[":past"] = {"N": str(int(time.time()) - 1)}
        update += ", expires_at = :past"
    builder.clients.dynamodb.update_item(
        TableName="proposals",
        Key={"id": {"S": proposal_id}},
        UpdateExpression=update,
        ExpressionAttributeNames={"#at": "at"},
        ExpressionAttributeValues=values,
    )


def queued(builder: AccountBuilder, queue_url: str) -> list[dict[str, Any]]:
    messages = builder.clients.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


def test_an_approval_waiting_in_a_backlogged_queue_is_applied_when_the_worker_reads_it(
    builder: AccountBuilder, service: Any
) -> None:
    """Past the longest apply, with its hand-off still queued behind a backlog: not failed (as it was), but handed
    over again; the worker applies whichever copy it reads first, and the other applies nothing."""
    proposal, message = approved(builder, service)
    events_queue = builder.clients.sqs.create_queue(QueueName="rotation-doctor-events")["QueueUrl"]
    service.make("propose", EVENTS_QUEUE_URL=events_queue)
    waited(builder, proposal.id, LONGEST_APPLY_SECONDS + 60)
    o_secret = service.store.get(proposal.id).secret_arn
    assert service.deliver(rotation_failed(o_secret)) == {"batchItemFailures": []}  # another event of the backlog
    assert service.store.get(proposal.id).state == "approved"
    [again] = queued(builder, events_queue)
    assert again == json.loads(message)  # the same hand-off: the same round, the same idempotency key
    builder.clients.counter.calls.clear()
    assert service.deliver(message) == {"batchItemFailures": []}  # the backlog reaches the original
    assert service.store.get(proposal.id).state == "applied"
    assert account_writes(builder)["ec2:CreateVpcEndpoint"] == 1
    builder.clients.counter.calls.clear()
    assert service.deliver(json.dumps(again)) == {"batchItemFailures": []}
    assert account_writes(builder) == {} and service.store.get(proposal.id).state == "applied"


def test_an_approval_read_from_the_queue_after_the_proposal_expired_is_asked_again(
    builder: AccountBuilder, service: Any
) -> None:
    """The worker may not apply a proposal past its expiry; a person approved it in time, so the people are asked
    again with new links and the reason (it was expired unapplied, silently, before)."""
    clients = builder.clients
    proposal, message = approved(builder, service)
    topic, inbox = topic_with_inbox(clients)
    service.make("propose", NOTIFICATION_TOPIC_ARN=topic)
    waited(builder, proposal.id, 8 * 24 * 3600, expired=True)
    clients.counter.calls.clear()
    assert service.deliver(message) == {"batchItemFailures": []}
    assert account_writes(builder) == {}
    asked = service.store.get(proposal.id)
    assert asked.state == "proposed" and asked.generation > proposal.generation and not asked.expired
    assert "expired while the approval waited in the worker's queue" in str(asked.history[-1]["note"])
    [told] = [
        json.loads(m["Body"]) for m in clients.sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10)["Messages"]
    ]
    said = json.loads(told["Message"])
    assert said["kind"] == "proposal created" and said["generation"] == asked.generation
    assert any("approve it again" in line for line in said["outcome"])


def decided_history(builder: AccountBuilder, proposal_id: str, count: int) -> None:
    """`count` decided proposals (applied), each the size of a real one: the history a table keeps for 37 days."""
    item = builder.clients.dynamodb.get_item(TableName="proposals", Key={"id": {"S": proposal_id}})["Item"]
    decided = {k: v for k, v in item.items() if k not in ("open_state", "open_due")}
    decided["state"] = {"S": "applied"}
    for start in range(0, count, 25):
        requests: list[Any] = [
            {"PutRequest": {"Item": decided | {"id": {"S": f"p-{n:020x}"}}}}
            for n in range(start, min(count, start + 25))
        ]
        builder.clients.dynamodb.batch_write_item(RequestItems={"proposals": requests})


def test_dynamodb_calls_per_event_do_not_grow_with_decided_proposals_and_none_is_a_scan(
    builder: AccountBuilder, service: Any
) -> None:
    """The same event, with no decided proposal stored and with 500 (several 1 MB pages of them): the same DynamoDB
    calls, and never a Scan (reconciliation reads the open index)."""
    o = scenarios.orders(builder)
    service.make("propose")
    service.deliver(rotation_failed(o.secret_arn))
    [proposal] = service.store.list()

    def calls_of_one_event() -> dict[str, int]:
        builder.clients.counter.calls.clear()
        assert service.deliver(rotation_failed(o.secret_arn)) == {"batchItemFailures": []}  # "proposal exists"
        return {k: n for k, n in builder.clients.counter.calls.items() if k.startswith("dynamodb:")}

    with_none = calls_of_one_event()
    decided_history(builder, proposal.id, 500)
    assert len(service.store.list(["applied"])) == 500
    with_history = calls_of_one_event()
    assert with_history == with_none
    assert "dynamodb:Scan" not in with_none


def test_the_sweep_gives_open_proposals_from_before_the_open_index_their_keys_once(
    builder: AccountBuilder, service: Any
) -> None:
    """An approval recorded by the version before the open index (no index keys): the first sweep's backfill finds
    it, and reconciliation hands it over again instead of losing it."""
    proposal, message = approved(builder, service)
    events_queue = builder.clients.sqs.create_queue(QueueName="rotation-doctor-events")["QueueUrl"]
    service.make("propose", EVENTS_QUEUE_URL=events_queue)
    waited(builder, proposal.id, LONGEST_APPLY_SECONDS + 60)  # approved before the upgrade, as it wrote it:
    builder.clients.dynamodb.update_item(
        TableName="proposals", Key={"id": {"S": proposal.id}}, UpdateExpression="REMOVE open_state, open_due"
    )
    assert service.store.list(["approved"]) == []  # the index does not know it
    builder.clients.counter.calls.clear()
    assert service.deliver(real_shaped("scheduled_sweep.json")) == {"batchItemFailures": []}
    assert builder.clients.counter.calls["dynamodb:Scan"] >= 1
    assert [p.id for p in service.store.list(["approved"])] == [proposal.id]
    assert queued(builder, events_queue) == [json.loads(message)]  # handed over again, in the sweep's batch
    builder.clients.counter.calls.clear()
    service.deliver(real_shaped("scheduled_sweep.json"))
    assert "dynamodb:Scan" not in builder.clients.counter.calls  # once per table

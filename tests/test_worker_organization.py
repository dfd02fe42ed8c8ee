"""The worker of an organization-wide deployment: member events, each acted on in its own account and region.

The hub is moto's default account (123456789012, the worker's own, as its Lambda ARN says). Members are other moto
accounts, reached as the worker reaches them: `sts:AssumeRole` into the member role, whose credentials moto maps to
that account's own backends. Member events are the real-shaped ones in `tests/events/members/` (an EventBridge event
forwarded from a member's bus keeps the member's `account` and `region`).
"""

from __future__ import annotations

import io
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from rotation_doctor.approvals.store import Proposal, ProposalStore
from rotation_doctor.collect.aws import AwsClients
from rotation_doctor.model.states import ProposalState
from rotation_doctor.simulated import scenarios
from rotation_doctor.simulated.account import AccountBuilder, tcp
from rotation_doctor.simulated.lambda_runtime import SimulatedContext, sqs_event
from tests.fix_scenarios import account_state
from tests.organization import EVENTS, HUB, Member, build_member
from tests.worker_events import metric_values, rotation_failed

A, B, C = "111111111111", "222222222222", "333333333333"
ROLE = "rotation-doctor-member"
# What the files in tests/events/members/ name (member A in eu-west-1); each test puts in a member's own.
from tests.worker_events import FICTIONAL_DB_SG, FICTIONAL_FN_SG  # noqa: E402

IDS = re.compile(r"\b(?:vpc|subnet|sg|rtb|acl|vpce)-[0-9a-f]{8,17}\b")


@pytest.fixture
def org(builder: AccountBuilder, service: Any) -> Iterator[Any]:
    """The hub's worker (the hub is `builder`'s account, the worker `service`'s with the member role named), what it
    assumed, and the members it serves."""
    from botocore.exceptions import ClientError

    clients = builder.clients
    assumed: list[str] = []
    refusing: dict[str, str] = {}  # account -> the error STS answers for it

    def assume_role(params: dict[str, Any], **_: Any) -> None:
        """Every AssumeRole the hub's session makes, as sent; the error for a refusing account, as STS says it."""
        assumed.append(params["RoleArn"])
        code = refusing.get(params["RoleArn"].split(":")[4])
        if code == "AccessDenied":
            message = f"User: arn:aws:sts::{HUB}:assumed-role/worker/x is not authorized to perform: sts:AssumeRole"
            raise ClientError({"Error": {"Code": code, "Message": message}}, "AssumeRole")
        if code is not None:
            raise ClientError({"Error": {"Code": code, "Message": "Rate exceeded"}}, "AssumeRole")

    # The session is shared by the whole test session: the hook is taken off again below.
    hook = "before-parameter-build.sts.AssumeRole"
    clients.session.events.register(hook, assume_role, unique_id="org-assume-role")

    def make(mode: str = "propose", **extra: str) -> Any:
        return service.make(mode, **{"ROTATION_DOCTOR_MEMBER_ROLE_NAME": ROLE, **extra})

    try:
        yield SimpleNamespace(
            make=make,
            deliver=service.deliver,
            store=service.store,
            key=service.key,
            assumed=assumed,
            refusing=refusing,
            hub=builder,
        )
    finally:
        clients.session.events.unregister(hook, unique_id="org-assume-role")


def role(account: str) -> str:
    return f"arn:aws:iam::{account}:role/{ROLE}"


@pytest.fixture
def handled() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The worker's "handled" log lines so far, as Lambda would record them (Powertools' JSON formatter)."""
    import handlers.worker as worker_module

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(worker_module.logger.registered_formatter)
    worker_module.logger.addHandler(handler)
    level = worker_module.logger.log_level
    worker_module.logger.setLevel("INFO")  # as deployed, whatever an earlier test left
    yield lambda: [line for line in map(json.loads, stream.getvalue().splitlines()) if line.get("message") == "handled"]
    worker_module.logger.setLevel(level)
    worker_module.logger.removeHandler(handler)


def by_secret(store: ProposalStore) -> dict[str, Any]:
    return {p.secret_arn: p for p in store.list()}


def died_mid_apply(org: Any, member: Member, writes: int, monkeypatch: pytest.MonkeyPatch) -> Proposal:
    """The member's proposal, approved, whose apply died right after `writes` writes in the member's account (the
    journal recorded them); the worker's next batch comes an hour later, when it is settled."""
    from rotation_doctor.apply.executor import Executor
    from rotation_doctor.apply.guardrails import Policy
    from rotation_doctor.approvals import workflow
    from rotation_doctor.approvals.workflow import apply_proposal
    from rotation_doctor.service import batch
    from tests.faults import LATER, ProcessDied, dies_after

    org.make("propose")
    org.deliver(member.rotation_failed())
    [proposal] = [p for p in org.store.list() if p.secret_arn == member.secret_arn]
    org.store.approve(proposal.id, by="alice")
    dying = Executor(member.builder.clients, Policy(), poll=0.01)
    dies_after(dying, writes)
    with pytest.raises(ProcessDied):
        apply_proposal(dying, org.store, proposal.id, by="alice")
    stuck = org.store.get(proposal.id)
    assert stuck.state is ProposalState.APPLYING and len(stuck.journal) == writes
    monkeypatch.setattr(batch, "reconcile", lambda *a, **k: workflow.reconcile(*a, now=time.time() + LATER, **k))
    return stuck


# ----- planning and applying in the event's account ----------------------------------------------


def test_member_events_from_two_accounts_assume_each_role_once_and_plan_in_each(org: Any) -> None:
    a_eu, a_us, b_us = build_member(A, "eu-west-1"), build_member(A, "us-east-1"), build_member(B, "us-east-1")
    hub_before = account_state(org.hub)
    org.make("propose")
    org.hub.clients.counter.calls.clear()
    assert org.deliver(a_eu.rotation_failed(), b_us.rotation_failed(), a_us.rotation_failed()) == {
        "batchItemFailures": []
    }
    # One role per account, whatever the number of its regions; the hub's own account is never assumed into, and
    # the Lambda's own ARN named it (no GetCallerIdentity).
    assert sorted(org.assumed) == [role(A), role(B)]
    assert "sts:GetCallerIdentity" not in org.hub.clients.counter.calls

    proposals = by_secret(org.store)
    assert set(proposals) == {a_eu.secret_arn, a_us.secret_arn, b_us.secret_arn}
    members = (a_eu, a_us, b_us)
    for member in members:
        plan = proposals[member.secret_arn].plan
        assert [f.kind for f in plan] == ["CREATE_SECRETSMANAGER_ENDPOINT", "AUTHORIZE_DB_INGRESS"]
        named = set(IDS.findall(json.dumps([f.to_json() for f in plan])))
        assert member.orders.net.vpc in named and member.orders.db_sg in named
        assert named <= member.resource_ids()  # every id its calls name is of its own place
        for other in members:
            if other is not member:
                assert not named & other.resource_ids()
        service_names = {s.call.params.get("ServiceName") for f in plan for s in f.steps} - {None}
        assert service_names == {f"com.amazonaws.{member.place.region}.secretsmanager"}
    assert account_state(org.hub) == hub_before  # nothing written in the hub's account

    # The credentials are kept for their lifetime: the next batch assumes nothing.
    org.deliver(a_eu.rotation_failed(), b_us.rotation_failed())
    assert sorted(org.assumed) == [role(A), role(B)]


def test_the_hubs_own_account_in_another_region_is_served_with_its_own_credentials(org: Any) -> None:
    elsewhere = build_member(HUB, "eu-west-1")  # e.g. forwarded by a member stack in the hub's account
    org.make("propose", ROTATION_DOCTOR_ALLOWED_ACCOUNTS=A)  # the allow-list gates other accounts only
    assert org.deliver(elsewhere.rotation_failed()) == {"batchItemFailures": []}
    assert org.assumed == []  # never assumed into
    [proposal] = org.store.list()
    assert proposal.secret_arn == elsewhere.secret_arn


def test_a_change_in_a_member_looks_only_at_that_members_secrets(org: Any) -> None:
    # Both rotations work; then A's database stops admitting A's function.
    a = build_member(A, "eu-west-1", db_admits_function=True, endpoint=True)
    build_member(B, "eu-west-1", db_admits_function=True, endpoint=True)
    o = a.orders
    a.builder.ec2.revoke_security_group_ingress(
        GroupId=o.db_sg, IpPermissions=[tcp(5432, group=o.fn_sg, description="rotation")]
    )
    org.make("propose")
    change = a.event("revoke_sg_ingress_items.json", **{FICTIONAL_DB_SG: o.db_sg, FICTIONAL_FN_SG: o.fn_sg})
    assert org.deliver(change) == {"batchItemFailures": []}
    assert org.assumed == [role(A)]  # B is not even looked at
    [proposal] = org.store.list()
    assert proposal.secret_arn == a.secret_arn and [f.kind for f in proposal.plan] == ["AUTHORIZE_DB_INGRESS"]


def test_auto_mode_fixes_in_the_member_and_counts_the_members_hourly_cap(org: Any) -> None:
    a = build_member(A, "eu-west-1")
    hub_before = account_state(org.hub)
    org.make("auto", ROTATION_DOCTOR_MAX_CHANGES_PER_HOUR="5")
    assert org.deliver(a.rotation_failed()) == {"batchItemFailures": []}
    o = a.orders
    ingress = a.builder.ec2.describe_security_groups(GroupIds=[o.db_sg])["SecurityGroups"][0]["IpPermissions"]
    assert any(pair["GroupId"] == o.fn_sg for p in ingress for pair in p["UserIdGroupPairs"])  # fixed in A
    assert account_state(org.hub) == hub_before
    [proposal] = org.store.list()  # what auto mode may not do is proposed, in the hub's table
    assert proposal.secret_arn == a.secret_arn and [f.kind for f in proposal.plan] == ["CREATE_SECRETSMANAGER_ENDPOINT"]
    items = org.hub.clients.dynamodb.scan(TableName="proposals")["Items"]
    caps = {i["id"]["S"].rsplit("#", 1)[0]: int(i["used"]["N"]) for i in items if i["id"]["S"].startswith("budget#")}
    assert caps == {f"budget#{A}": 1}  # the member's own cap, kept in the hub


def test_an_approved_member_proposal_is_applied_in_its_account(org: Any) -> None:
    from rotation_doctor.approvals.handoff import ApplyApproved

    a = build_member(A, "eu-west-1")
    hub_before = account_state(org.hub)
    org.make("propose")
    org.deliver(a.rotation_failed())
    [proposal] = org.store.list()
    org.store.approve(proposal.id, by="approval link (approve)", generation=proposal.generation)
    message = ApplyApproved(proposal.id, proposal.generation, "approval link (approve)").body(org.key)
    org.make("propose")  # a fresh container: the hand-off names no account, the proposal's secret does
    org.assumed.clear()
    assert org.deliver(message) == {"batchItemFailures": []}
    assert org.store.get(proposal.id).state is ProposalState.APPLIED
    assert org.assumed == [role(A)]
    [endpoint] = a.builder.ec2.describe_vpc_endpoints()["VpcEndpoints"]
    assert endpoint["VpcId"] == a.orders.net.vpc and endpoint["ServiceName"] == "com.amazonaws.eu-west-1.secretsmanager"
    assert account_state(org.hub) == hub_before


def test_reconciliation_undoes_a_dead_apply_in_the_members_account(org: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    a = build_member(A, "eu-west-1")
    before = account_state(a.builder)
    # The endpoint's group, its egress revoked, its ingress rule: then the process died.
    stuck = died_mid_apply(org, a, 3, monkeypatch)
    assert account_state(a.builder) != before
    org.make("propose")
    assert org.deliver(org_event("scheduled_sweep.json")) == {"batchItemFailures": []}
    settled = org.store.get(stuck.id)
    assert settled.state is ProposalState.ROLLED_BACK, settled.history[-1]
    assert account_state(a.builder) == before  # undone where it was written


def org_event(name: str) -> str:
    """A real-shaped event of the hub's own account (tests/events/), with a fresh id."""
    raw = json.loads((EVENTS / name).read_text())
    raw["id"] = str(uuid.uuid4())
    return json.dumps(raw)


def test_the_hubs_sweep_covers_its_own_place_and_every_place_with_an_open_proposal(
    org: Any, handled: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = scenarios.orders(org.hub)
    a, b, c = build_member(A, "eu-west-1"), build_member(B, "us-east-1"), build_member(C, "us-east-1")
    worker = org.make("observe")
    org.deliver(org_event("scheduled_sweep.json"))
    assert set(worker.batch.handled) == {hub.secret_arn}  # no proposal anywhere: the hub's place only
    assert org.assumed == []

    worker = org.make("propose")
    org.deliver(a.rotation_failed(), c.rotation_failed())
    org.assumed.clear()
    org.deliver(org_event("scheduled_sweep.json"))
    assert set(worker.batch.handled) == {hub.secret_arn, a.secret_arn, c.secret_arn}  # B has no open proposal
    assert b.secret_arn not in by_secret(org.store)

    # A member that cannot be read now holds up nothing: the others are swept, it is looked at next time.
    org.refusing[C] = "Throttling"
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # botocore's own retries of the throttled call would only be slow
    worker = org.make("propose")
    assert org.deliver(org_event("scheduled_sweep.json")) == {"batchItemFailures": []}
    assert set(worker.batch.handled) == {hub.secret_arn, a.secret_arn}
    assert handled()[-1]["note"] == f"{C}/us-east-1 could not be read now"


# ----- where nothing is done -------------------------------------------------------------------------


def test_an_account_outside_the_allow_list_is_never_assumed_into(org: Any, handled: Any) -> None:
    a, b = build_member(A, "eu-west-1"), build_member(B, "us-east-1")
    org.make("auto", ROTATION_DOCTOR_ALLOWED_ACCOUNTS=f"{HUB},{A}")
    b_before = account_state(b.builder)
    assert org.deliver(a.rotation_failed(), b.rotation_failed()) == {"batchItemFailures": []}
    assert org.assumed == [role(A)]  # B's role is never even asked for
    assert set(by_secret(org.store)) == {a.secret_arn}
    [_, for_b] = handled()
    assert for_b["note"] == f"account {B} is not in the allow-list (ROTATION_DOCTOR_ALLOWED_ACCOUNTS): ignored"
    assert account_state(b.builder) == b_before


def test_an_account_that_refuses_the_role_is_reported_not_retried(
    org: Any, handled: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = build_member(A, "eu-west-1"), build_member(B, "us-east-1")
    org.refusing[B] = "AccessDenied"
    org.make("propose")
    capsys.readouterr()
    assert org.deliver(b.rotation_failed(), a.rotation_failed(), b.rotation_failed()) == {"batchItemFailures": []}
    assert set(by_secret(org.store)) == {a.secret_arn}  # A is served all the same
    assert org.assumed == [role(B), role(A)]  # refused once: the batch's later events of B do not ask again
    out = capsys.readouterr().out
    notes = [line.get("note", "") for line in handled()]
    assert notes[0].startswith(f"account {B} refused the member role {role(B)}: AccessDenied: User: ")
    assert notes[0] == notes[2] and notes[1] == ""
    assert metric_values(out, "RoleRefused") == [1.0, 1.0]


def test_without_a_member_role_another_accounts_events_are_ignored_never_acted_on_with_the_hubs_credentials(
    org: Any, handled: Any
) -> None:
    hub = scenarios.orders(org.hub)
    a = build_member(A, "eu-west-1")
    org.make("auto", ROTATION_DOCTOR_MEMBER_ROLE_NAME="")  # a single-account deployment
    described: list[str] = []
    events = org.hub.clients.secretsmanager.meta.events  # the session's clients: the hook is taken off below
    hook = "before-parameter-build.secretsmanager.DescribeSecret"
    events.register(hook, lambda params, **_: described.append(params["SecretId"]), unique_id="org-described")
    try:
        assert org.deliver(a.rotation_failed(), rotation_failed(hub.secret_arn)) == {"batchItemFailures": []}
    finally:
        events.unregister(hook, unique_id="org-described")
    assert org.assumed == []
    assert set(by_secret(org.store)) == {hub.secret_arn}  # the hub's own event is handled as ever
    [for_a, for_hub] = handled()
    assert for_a["note"] == (
        f"the event is from account {A}, and no member role is configured (ROTATION_DOCTOR_MEMBER_ROLE_NAME): ignored"
    )
    assert for_hub["secrets"][0]["action"] == "applied"
    assert set(described) == {hub.secret_arn}  # A's secret was never asked for with the hub's credentials


def test_a_rotation_event_whose_secret_names_another_account_is_not_acted_on(org: Any, handled: Any) -> None:
    a, b = build_member(A, "eu-west-1"), build_member(B, "eu-west-1")
    org.make("propose")
    forged = a.rotation_failed().replace(a.secret_arn, b.secret_arn)  # A's event naming B's secret
    assert org.deliver(forged) == {"batchItemFailures": []}
    assert org.assumed == [] and org.store.list() == []
    [line] = handled()
    assert line["note"] == f"the secret's ARN names {B}/eu-west-1, not the event's {A}/eu-west-1: not acted on"


def test_an_approval_for_a_refusing_account_fails_with_the_reason(org: Any) -> None:
    from rotation_doctor.approvals.handoff import ApplyApproved

    b = build_member(B, "us-east-1")
    org.make("propose")
    org.deliver(b.rotation_failed())
    [proposal] = org.store.list()
    org.store.approve(proposal.id, by="alice", generation=proposal.generation)
    before = account_state(b.builder)
    org.refusing[B] = "AccessDenied"
    org.make("propose")
    signed = ApplyApproved(proposal.id, proposal.generation, "alice").body(org.key)
    assert org.deliver(signed) == {"batchItemFailures": []}
    failed = org.store.get(proposal.id)
    assert failed.state is ProposalState.FAILED
    assert str(failed.history[-1]["note"]).startswith(f"not applied: account {B} refused the member role")
    assert account_state(b.builder) == before


def test_a_dead_apply_in_an_account_that_now_refuses_is_reported_with_what_is_left(
    org: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = build_member(A, "eu-west-1")
    stuck = died_mid_apply(org, a, 1, monkeypatch)  # the endpoint's group was made, then the process died
    [group] = [e.resource for e in stuck.journal]
    org.refusing[A] = "AccessDenied"
    org.make("propose")
    assert org.deliver(org_event("scheduled_sweep.json")) == {"batchItemFailures": []}
    settled = org.store.get(stuck.id)
    assert settled.state is ProposalState.ROLLBACK_INCOMPLETE
    assert f"NOT undone: account {A} refused the member role" in str(settled.history[-1]["note"])
    [left] = settled.leftovers
    assert left.resource == group and left.remove is not None and left.remove.operation == "DeleteSecurityGroup"
    assert group in {g["GroupId"] for g in a.builder.ec2.describe_security_groups()["SecurityGroups"]}


def test_a_throttled_assume_role_is_retried_and_holds_up_nothing_else(
    org: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Throttling is not a refusal: the member's event fails alone (SQS retries it), a stuck proposal of that member
    waits for the next batch, and the rest of the batch is handled."""
    import handlers.worker as worker_module

    a, b = build_member(A, "eu-west-1"), build_member(B, "us-east-1")
    before = account_state(a.builder)
    stuck = died_mid_apply(org, a, 1, monkeypatch)
    org.refusing[A] = "Throttling"
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # botocore's own retries of the throttled call would only be slow
    org.make("propose")
    event = sqs_event(b.rotation_failed(), a.rotation_failed())
    response = worker_module.handler(event, SimulatedContext())
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]}
    assert org.store.get(stuck.id).state is ProposalState.APPLYING  # not given up on
    assert b.secret_arn in by_secret(org.store)  # B's event was handled

    del org.refusing[A]
    org.make("propose")
    assert org.deliver(a.rotation_failed()) == {"batchItemFailures": []}  # retried: served now
    assert org.store.get(stuck.id).state is ProposalState.ROLLED_BACK
    assert account_state(a.builder) == before


def test_a_dead_apply_whose_secret_was_deleted_since_is_undone(org: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    a = build_member(A, "eu-west-1")
    before = account_state(a.builder)
    stuck = died_mid_apply(org, a, 2, monkeypatch)
    a.builder.clients.secretsmanager.delete_secret(SecretId=a.secret_arn, ForceDeleteWithoutRecovery=True)
    org.make("propose")
    assert org.deliver(org_event("scheduled_sweep.json")) == {"batchItemFailures": []}
    assert org.store.get(stuck.id).state is ProposalState.ROLLED_BACK
    assert account_state(a.builder) == before


# ----- the triggers name their place -----------------------------------------------------------------


@pytest.mark.parametrize(
    "name,account,region",
    [
        ("members/rotation_failed.json", A, "eu-west-1"),
        ("members/revoke_sg_ingress_items.json", A, "eu-west-1"),
        ("scheduled_sweep.json", HUB, "us-east-1"),
        ("rotation_failed_eventbridge.json", "843407916570", "ap-southeast-2"),
    ],
)
def test_each_trigger_names_the_account_and_region_of_its_event(name: str, account: str, region: str) -> None:
    from rotation_doctor.service.events import parse

    trigger: Any = parse(json.loads((EVENTS / name).read_text()))
    assert (trigger.account, trigger.region) == (account, region)


def test_a_member_secrets_findings_are_imported_in_the_members_security_hub(org: Any) -> None:
    """A finding of the default product is accepted only from the account it names: the worker imports a member
    secret's findings through the member role, in the secret's region, and none in the hub."""
    member = build_member(A, "eu-west-1")
    member.builder.clients.client("securityhub").enable_security_hub()  # type: ignore[attr-defined]
    org.hub.clients.client("securityhub").enable_security_hub()  # type: ignore[attr-defined]
    org.make("observe", ROTATION_DOCTOR_SECURITY_HUB="Enabled")
    org.deliver(member.rotation_failed())

    def findings(clients: AwsClients) -> list[dict[str, Any]]:
        return list(clients.client("securityhub").get_findings()["Findings"])  # type: ignore[attr-defined]

    imported = findings(member.builder.clients)
    assert imported and {f["AwsAccountId"] for f in imported} == {A}
    assert {f["Resources"][0]["Id"] for f in imported} == {member.secret_arn}
    assert findings(org.hub.clients) == []


def test_a_members_forwarded_sweep_diagnoses_that_members_place_only(org: Any) -> None:
    """org/member.yaml's schedule fires in the member and is forwarded to the hub's bus: the worker sweeps the member's
    account and region (through its role), and no other."""
    a, b = build_member(A, "eu-west-1"), build_member(B, "us-east-1")
    org.make("propose")
    raw = json.loads((EVENTS / "scheduled_sweep.json").read_text())
    raw |= {"id": str(uuid.uuid4()), "account": A, "region": "eu-west-1"}
    raw["resources"] = [f"arn:aws:events:eu-west-1:{A}:rule/rotation-doctor-member-ForwardSweepRule-AbCdEf"]
    assert org.deliver(json.dumps(raw)) == {"batchItemFailures": []}
    assert org.assumed == [role(A)]
    assert set(by_secret(org.store)) == {a.secret_arn}  # A's broken secret proposed; B not looked at
    assert b.secret_arn not in by_secret(org.store)


# ----- each place's share of the hub ---------------------------------------------------------------------------


def test_a_place_flooding_change_events_is_deferred_to_the_sweep_while_another_place_is_served(
    org: Any, handled: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """A's change events beyond its share this hour are coalesced into one "sweep later" marker, never dropped: B's
    change and A's own rotation failure are served at once; the hub's next sweep sweeps A, and the marker goes."""
    a = build_member(A, "us-east-1", db_admits_function=True, endpoint=True)
    b = build_member(B, "us-east-1", db_admits_function=True, endpoint=True)
    for member in (a, b):
        o = member.orders
        member.builder.ec2.revoke_security_group_ingress(
            GroupId=o.db_sg, IpPermissions=[tcp(5432, group=o.fn_sg, description="rotation")]
        )
    a_ids = {FICTIONAL_DB_SG: a.orders.db_sg, FICTIONAL_FN_SG: a.orders.fn_sg}
    b_ids = {FICTIONAL_DB_SG: b.orders.db_sg, FICTIONAL_FN_SG: b.orders.fn_sg}
    worker = org.make("observe", ROTATION_DOCTOR_PLACE_CHANGE_READS_PER_HOUR="1")
    # A's share of the hour is spent by its first batch.
    assert org.deliver(a.event("revoke_sg_ingress_items.json", **a_ids)) == {"batchItemFailures": []}
    assert set(worker.batch.handled) == {a.secret_arn}
    capsys.readouterr()
    flood = [a.event("revoke_sg_ingress_items.json", **a_ids) for _ in range(5)]
    batch = (*flood[:3], b.event("revoke_sg_ingress_items.json", **b_ids), a.rotation_failed(), *flood[3:])
    assert org.deliver(*batch) == {"batchItemFailures": []}
    # B's change and A's rotation failure (never deferred) served now; A's changes deferred, each said and counted.
    assert set(worker.batch.handled) == {b.secret_arn, a.secret_arn}
    assert metric_values(capsys.readouterr().out, "ChangesDeferred") == [1.0] * 5
    notes = [line.get("note", "") for line in handled()[-7:]]
    assert (
        notes.count(f"{A}/us-east-1 sent more change events than its share this hour: deferred to the hub's next sweep")
        == 5
    )
    marker = org.store.clients.dynamodb.get_item(TableName="proposals", Key={"id": {"S": "deferred-places"}})
    assert marker["Item"]["places"]["SS"] == [f"{A}/us-east-1"]  # one marker for five events

    # The hub's next sweep sweeps the deferred place (no proposal is open there), and the marker goes.
    worker = org.make("observe", ROTATION_DOCTOR_PLACE_CHANGE_READS_PER_HOUR="1")
    assert org.deliver(org_event("scheduled_sweep.json")) == {"batchItemFailures": []}
    assert set(worker.batch.handled) == {a.secret_arn}
    marker = org.store.clients.dynamodb.get_item(TableName="proposals", Key={"id": {"S": "deferred-places"}})
    assert not marker.get("Item", {}).get("places")


def test_change_events_of_a_place_refused_are_refused_never_deferred_nor_marked_for_a_sweep(
    org: Any, handled: Any
) -> None:
    """A place outside the allow-list is refused whatever its rate: its events never spend a share, never enter the
    deferred marker (which the hub's every sweep would then try, and refuse, again for ever)."""
    b = build_member(B, "us-east-1")
    b_ids = {FICTIONAL_DB_SG: b.orders.db_sg, FICTIONAL_FN_SG: b.orders.fn_sg}
    org.make("observe", ROTATION_DOCTOR_PLACE_CHANGE_READS_PER_HOUR="1", ROTATION_DOCTOR_ALLOWED_ACCOUNTS=A)
    for _ in range(3):
        assert org.deliver(b.event("revoke_sg_ingress_items.json", **b_ids)) == {"batchItemFailures": []}
    refused = f"account {B} is not in the allow-list (ROTATION_DOCTOR_ALLOWED_ACCOUNTS): ignored"
    assert [line.get("note") for line in handled()[-3:]] == [refused] * 3
    marker = org.store.clients.dynamodb.get_item(TableName="proposals", Key={"id": {"S": "deferred-places"}})
    assert not marker.get("Item", {}).get("places")


def test_a_members_sweep_more_frequent_than_the_hubs_is_skipped(
    org: Any, handled: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """org/member.yaml forwards the member's own schedule: the hub sweeps a place at most once per its SweepSchedule."""
    a = build_member(A, "eu-west-1")

    def member_sweep() -> str:
        raw = json.loads((EVENTS / "scheduled_sweep.json").read_text())
        raw |= {"id": str(uuid.uuid4()), "account": A, "region": "eu-west-1"}
        return json.dumps(raw)

    worker = org.make("observe", ROTATION_DOCTOR_SWEEP_SCHEDULE="rate(1 day)")
    assert org.deliver(member_sweep()) == {"batchItemFailures": []}
    assert set(worker.batch.handled) == {a.secret_arn}
    capsys.readouterr()
    worker = org.make("observe", ROTATION_DOCTOR_SWEEP_SCHEDULE="rate(1 day)")
    assert org.deliver(member_sweep()) == {"batchItemFailures": []}  # an hour later, say: within the day
    assert worker.batch.handled == {}
    assert handled()[-1]["note"] == f"{A}/eu-west-1 was swept less than the hub's sweep interval ago: skipped"
    assert metric_values(capsys.readouterr().out, "SweepsSkipped") == [1.0]
    # A day later (less the schedule's jitter) it is swept again.
    worker = org.make("observe", ROTATION_DOCTOR_SWEEP_SCHEDULE="rate(1 day)")
    assert worker.fairness is not None
    worker.fairness.now = lambda: time.time() + 22 * 3600
    assert org.deliver(member_sweep()) == {"batchItemFailures": []}
    assert set(worker.batch.handled) == {a.secret_arn}

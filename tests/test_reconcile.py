"""A process that dies mid-apply: its proposal never stays approved or applying, and nothing stays half-made."""

from __future__ import annotations

import time
from typing import Any

import pytest

from rotation_doctor.apply.executor import Executor
from rotation_doctor.apply.guardrails import Mode, Policy
from rotation_doctor.approvals.handoff import ApplyApproved
from rotation_doctor.approvals.store import Proposal, ProposalStore, create_table
from rotation_doctor.approvals.workflow import apply_proposal, handle_secret, reconcile
from rotation_doctor.model.errors import ProposalConflict
from rotation_doctor.model.plan import Call
from rotation_doctor.model.states import ProposalState
from rotation_doctor.simulated import scenarios
from rotation_doctor.simulated.account import AccountBuilder
from tests.faults import LATER, ProcessDied, dies_after
from tests.fix_scenarios import account_state

SECRET = scenarios.DEMO_SECRET


def proposed(b: AccountBuilder) -> tuple[Executor, ProposalStore, Proposal]:
    scenarios.orders(b)  # the demo's plan: an endpoint (with its group) and the database admitting the function
    create_table(b.clients, "proposals")
    store = ProposalStore(b.clients, "proposals")
    executor = Executor(b.clients, Policy(mode=Mode.PROPOSE), poll=0.01, wait_timeout=5)
    proposal = handle_secret(executor, store, SECRET).proposal
    assert proposal is not None
    return executor, store, store.approve(proposal.id, by="alice")


def test_an_approval_not_applied_yet_is_handed_to_the_worker_again_never_failed(builder: AccountBuilder) -> None:
    """Its hand-off may be waiting in a backlogged queue: reconciliation hands it over again (with a back-off), and
    whichever copy the worker reads first applies it; the proposal is never failed for having waited."""
    executor, store, approved = proposed(builder)
    sent: list[ApplyApproved] = []
    assert reconcile(executor, store, hand_off=sent.append) == []  # not due: a worker may still be on it
    assert sent == []
    assert reconcile(executor, store, now=time.time() + LATER, hand_off=sent.append) == []
    assert store.get(approved.id).state is ProposalState.APPROVED
    assert sent == [ApplyApproved(approved.id, approved.generation, "alice")]
    assert reconcile(executor, store, now=time.time() + LATER + 1, hand_off=sent.append) == []
    assert len(sent) == 1  # backed off: the next hand-off waits twice as long
    reconcile(executor, store, now=time.time() + 3 * LATER + 1, hand_off=sent.append)
    assert len(sent) == 2 and store.get(approved.id).handoffs == 2
    # The worker finally reads a copy (the original, or one handed over again): applied, once.
    applied = apply_proposal(executor, store, approved.id, by="alice", generation=approved.generation)
    assert applied.outcome.applied and store.get(approved.id).state is ProposalState.APPLIED
    with pytest.raises(ProposalConflict):
        apply_proposal(executor, store, approved.id, by="alice", generation=approved.generation)


def test_an_approval_past_its_expiry_is_asked_again_saying_why(builder: AccountBuilder) -> None:
    executor, store, approved = proposed(builder)
    store.ttl = 60
    expired_at = int(time.time()) - 1
    builder.clients.dynamodb.update_item(
        TableName="proposals",
        Key={"id": {"S": approved.id}},
        UpdateExpression="SET expires_at = :e",
        ExpressionAttributeValues={":e": {"N": str(expired_at)}},
    )
    sent: list[ApplyApproved] = []
    (asked,) = reconcile(executor, store, now=time.time() + LATER, hand_off=sent.append)
    assert sent == []
    assert asked.state is ProposalState.PROPOSED and asked.generation > approved.generation
    assert asked.expires_at > time.time() and asked.announced == 0  # a new round, to be told with new links
    note = str(asked.history[-1]["note"])
    assert "approved by alice" in note and "expired" in note and "approve it again" in note
    with pytest.raises(ProposalConflict):  # the approval's hand-off, if it ever arrives, applies nothing
        apply_proposal(executor, store, approved.id, by="alice", generation=approved.generation)
    assert store.get(approved.id).state is ProposalState.PROPOSED


def test_a_record_from_before_the_open_index_is_reconciled_after_the_backfill(builder: AccountBuilder) -> None:
    """A proposal a dead process left applying, written by the version before the open index (no index keys): the
    sweep's one-time backfill gives it its keys, and reconciliation undoes its writes."""
    executor, store, proposal = proposed(builder)
    before = account_state(builder)
    dies_after(executor, 1)
    with pytest.raises(ProcessDied):
        apply_proposal(executor, store, proposal.id, by="alice")
    builder.clients.dynamodb.update_item(
        TableName="proposals", Key={"id": {"S": proposal.id}}, UpdateExpression="REMOVE open_state, open_due"
    )
    fresh = Executor(builder.clients, Policy(), poll=0.01)
    assert reconcile(fresh, store, now=time.time() + LATER) == []  # not in the index
    assert store.backfill_open_index() == 1
    (settled,) = reconcile(fresh, store, now=time.time() + LATER)
    assert settled.state is ProposalState.ROLLED_BACK and account_state(builder) == before
    builder.clients.counter.calls.clear()
    assert store.backfill_open_index() == 0  # once per table: its marker is read, the table is not scanned again
    assert dict(builder.clients.counter.calls) == {"dynamodb:GetItem": 1}


@pytest.mark.parametrize("writes", [1, 3])
def test_a_death_mid_apply_is_undone_from_the_journal(builder: AccountBuilder, writes: int) -> None:
    executor, store, proposal = proposed(builder)
    before = account_state(builder)
    dies_after(executor, writes)
    with pytest.raises(ProcessDied):
        apply_proposal(executor, store, proposal.id, by="alice")
    stuck = store.get(proposal.id)
    assert stuck.state is ProposalState.APPLYING and len(stuck.journal) == writes
    assert account_state(builder) != before  # half-made
    (settled,) = reconcile(Executor(builder.clients, Policy(), poll=0.01), store, now=time.time() + LATER)
    assert settled.state is ProposalState.ROLLED_BACK and f"after {writes} change(s)" in str(
        settled.history[-1]["note"]
    )
    assert account_state(builder) == before
    assert reconcile(executor, store, now=time.time() + LATER) == []  # settled once


def test_a_death_mid_apply_of_a_secret_denied_since_is_undone_not_left_applying(builder: AccountBuilder) -> None:
    """The secret's owner denied rotation-doctor the secret after the process died: nobody can say the half-made
    change helped, so it is undone from the journal (as an unverified apply is), never left applying for ever."""
    from tests.faults import deny_secret

    executor, store, proposal = proposed(builder)
    before = account_state(builder)
    dies_after(executor, 1)
    with pytest.raises(ProcessDied):
        apply_proposal(executor, store, proposal.id, by="alice")
    stop = deny_secret(builder.clients, proposal.secret_arn)
    try:
        (settled,) = reconcile(Executor(builder.clients, Policy(), poll=0.01), store, now=time.time() + LATER)
    finally:
        stop()
    assert settled.state is ProposalState.ROLLED_BACK
    assert "could not be read" in str(settled.history[-1]["note"])
    assert account_state(builder) == before


def test_a_death_after_the_last_write_keeps_a_healthy_result(builder: AccountBuilder) -> None:
    executor, store, proposal = proposed(builder)
    steps = sum(len(f.steps) for f in proposal.plan)
    dies_after(executor, steps)
    with pytest.raises(ProcessDied):
        apply_proposal(executor, store, proposal.id, by="alice")
    (settled,) = reconcile(Executor(builder.clients, Policy(), poll=0.01), store, now=time.time() + LATER)
    assert settled.state is ProposalState.APPLIED


def test_an_undo_refused_during_reconciliation_leaves_a_listed_leftover(builder: AccountBuilder) -> None:
    from botocore.exceptions import ClientError

    executor, store, proposal = proposed(builder)
    dies_after(executor, 4)  # the group, its egress revoked, its ingress rule, the endpoint
    with pytest.raises(ProcessDied):
        apply_proposal(executor, store, proposal.id, by="alice")

    def refuse(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "denied"}}, "DeleteVpcEndpoints")

    builder.clients.ec2.meta.events.register("before-call.ec2.DeleteVpcEndpoints", refuse, unique_id="refuse")
    try:
        (settled,) = reconcile(Executor(builder.clients, Policy(), poll=0.01), store, now=time.time() + LATER)
    finally:
        builder.clients.ec2.meta.events.unregister("before-call.ec2.DeleteVpcEndpoints", unique_id="refuse")
    assert settled.state is ProposalState.ROLLBACK_INCOMPLETE
    (left,) = settled.leftovers
    endpoint = [e for e in builder.ec2.describe_vpc_endpoints()["VpcEndpoints"] if e["State"].lower() != "deleted"]
    assert left.resource == endpoint[0]["VpcEndpointId"]
    assert left.remove == Call("ec2", "DeleteVpcEndpoints", {"VpcEndpointIds": [endpoint[0]["VpcEndpointId"]]})


def test_a_failure_before_any_write_does_not_leave_the_proposal_applying(builder: AccountBuilder) -> None:
    executor, store, proposal = proposed(builder)

    def broken_read(*_: Any, **__: Any) -> Any:
        raise KeyError("a bug before anything was written")

    executor.assess = broken_read  # type: ignore[method-assign]
    with pytest.raises(KeyError):
        apply_proposal(executor, store, proposal.id, by="alice")
    assert store.get(proposal.id).state is ProposalState.FAILED


def test_proposals_show_lists_the_leftovers(builder: AccountBuilder, capsys: pytest.CaptureFixture[str]) -> None:
    from rotation_doctor.cli import main as cli

    test_an_undo_refused_during_reconciliation_leaves_a_listed_leftover(builder)
    (proposal,) = ProposalStore(builder.clients, "proposals").list()
    assert cli.main(["proposals", "show", proposal.id, "--table", "proposals"]) == 0
    out = capsys.readouterr().out
    assert "rollback_incomplete" in out and "LEFT IN THE ACCOUNT" in out
    assert "remove with: ec2 DeleteVpcEndpoints" in out


def test_a_settled_proposal_is_told_with_what_is_left(builder: AccountBuilder) -> None:
    from rotation_doctor.notify.dispatch import dispatcher_from_env

    test_an_undo_refused_during_reconciliation_leaves_a_listed_leftover(builder)
    (settled,) = ProposalStore(builder.clients, "proposals").list()
    topic = builder.clients.sns.create_topic(Name="rotation-doctor")["TopicArn"]
    published: list[dict[str, Any]] = []
    builder.clients.sns.meta.events.register(
        "before-parameter-build.sns.Publish", lambda params, **_: published.append(dict(params)), unique_id="told"
    )
    dispatcher = dispatcher_from_env({"NOTIFICATION_TOPIC_ARN": topic}, builder.clients)
    assert dispatcher is not None
    dispatcher.after_decision(settled, None)  # as the worker does for each settled proposal
    (message,) = published
    assert "ACTION NEEDED" in message["Subject"]
    assert str(settled.leftovers[0].resource) in message["Message"] and "delete-vpc-endpoints" in message["Message"]

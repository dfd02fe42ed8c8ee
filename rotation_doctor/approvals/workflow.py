"""What happens to a diagnosed secret, by approval mode; and applying an approved proposal, once."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from rotation_doctor.apply.executor import Executor, JournalEntry, Leftover, Outcome
from rotation_doctor.apply.guardrails import Approval, Mode
from rotation_doctor.apply.timing import LONGEST_APPLY_SECONDS
from rotation_doctor.approvals.store import Proposal, ProposalStore
from rotation_doctor.collect.aws import describe_fatal
from rotation_doctor.model.errors import ProposalConflict
from rotation_doctor.model.findings import Verdict
from rotation_doctor.model.plan import Risk
from rotation_doctor.model.states import FixStatus, OutcomeStatus, ProposalState

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef


@dataclass
class Handled:
    outcome: Outcome
    proposal: Proposal | None = None
    proposal_is_new: bool = False


def handle_secret(
    executor: Executor, store: ProposalStore | None, secret_id: str, *, rotation_failed: bool = False
) -> Handled:
    """observe: diagnose only. propose: store the plan as a proposal. auto: apply what the risk allows,
    then propose what is left."""
    outcome = executor.run(secret_id, rotation_failed=rotation_failed)
    if executor.policy.mode is Mode.OBSERVE or store is None:
        return Handled(outcome)
    verdict_now = outcome.after.verdict if outcome.after is not None else outcome.before.verdict
    if verdict_now is Verdict.HEALTHY or outcome.plan.empty:
        return Handled(outcome)
    plan, diagnosis = outcome.plan, outcome.before
    if outcome.after is not None:  # auto applied part of it: propose the plan for what is left
        _, diagnosis, plan = executor.assess(secret_id)
        if plan.empty:
            return Handled(outcome)
    proposal, new = store.create(plan, diagnosis, max_risk=str(Risk.NEVER_AUTOMATIC))
    return Handled(outcome, proposal, new)


def approval_executor(executor: Executor) -> Executor:
    """An executor for approved plans: a person's approval applies whatever the deployment's mode (as the CLI's
    `proposals approve` and `fix --approve` do); allow-lists, opt-out tags and the hourly cap still hold."""
    if executor.policy.mode is Mode.PROPOSE:
        return executor
    return Executor(
        executor.clients,
        replace(executor.policy, mode=Mode.PROPOSE),
        wait_timeout=executor.wait_timeout,
        poll=executor.poll,
        time_left=executor.time_left,
    )


def apply_proposal(
    executor: Executor,
    store: ProposalStore,
    pid: str,
    *,
    by: str,
    retry_rotation: bool | None = None,
    generation: int | None = None,
) -> Handled:
    """Apply an approved proposal exactly once: only the caller that moves it to `applying` goes on. With
    `generation`, only if the proposal is still the round that was approved (else ProposalSuperseded)."""
    proposal = store.claim(pid, by=by, generation=generation)
    approval = Approval(by, plan_hash=proposal.plan_hash, max_risk=Risk(proposal.max_risk))
    written: list[JournalEntry] = []

    def journal(entry: JournalEntry) -> None:
        store.record_write(pid, proposal.generation, entry.to_json())  # first: a write is never unrecorded
        written.append(entry)

    try:
        outcome = executor.run(proposal.secret_arn, approval=approval, retry_rotation=retry_rotation, journal=journal)
    except Exception as exc:
        # The executor undoes whatever it wrote before anything escapes it; an error here came before any write
        # (reading the account, planning). Say so, rather than leave the proposal applying for ever.
        if not written:
            note = f"interrupted before any change: {describe_fatal(exc)}"
            store.move(pid, (ProposalState.APPLYING,), ProposalState.FAILED, by="rotation-doctor", note=note)
        raise
    if outcome.status is OutcomeStatus.STALE:
        store.move(
            pid,
            (ProposalState.APPLYING,),
            ProposalState.EXPIRED,
            by="rotation-doctor",
            note=outcome.reason or OutcomeStatus.STALE.label,
        )
        if outcome.plan.empty:
            return Handled(outcome)
        fresh, new = store.create(outcome.plan, outcome.before, max_risk=proposal.max_risk)
        return Handled(outcome, fresh, new)
    final, note = _final_state(outcome)
    leftovers = {"leftovers": _json_list([x.to_json() for x in outcome.leftovers])} if outcome.leftovers else None
    return Handled(outcome, store.move(pid, (ProposalState.APPLYING,), final, by=by, note=note, also_set=leftovers))


def reconcile(executor: Executor, store: ProposalStore, *, now: float | None = None) -> list[Proposal]:
    """Settle proposals left approved or applying by a process that died: decide from what is actually there.

    approved, never claimed: nothing was written (only the claimer writes): failed, to be approved again.
    applying: the journal lists every write AWS accepted. None: failed. The secret healthy now: applied.
    Otherwise every recorded write is undone in reverse: rolled_back, or rollback_incomplete with what is left.
    Each move is conditional on the state it read, so two workers never settle one proposal twice.
    """
    settled = []
    for stuck in store.unfinished(time.time() if now is None else now, LONGEST_APPLY_SECONDS):
        try:
            settled.append(_settle(executor, store, stuck))
        except ProposalConflict:
            continue  # another worker settled it first
    return settled


def _settle(executor: Executor, store: ProposalStore, stuck: Proposal) -> Proposal:
    by = "rotation-doctor (reconciliation)"
    was = stuck.state
    if was is ProposalState.APPROVED:
        note = "approved, but the worker never applied it (the hand-off was lost): approve it again"
        return store.move(stuck.id, (was,), ProposalState.FAILED, by=by, note=note, generation=stuck.generation)
    entries = [JournalEntry.from_json(e) for e in stuck.journal]
    if not entries:
        note = "the apply stopped before any change was made"
        return store.move(stuck.id, (was,), ProposalState.FAILED, by=by, note=note, generation=stuck.generation)
    _, diagnosis, _ = executor.assess(stuck.secret_arn)
    if diagnosis.verdict is Verdict.HEALTHY:
        note = f"the apply stopped after {len(entries)} change(s), and the secret is healthy: kept"
        return store.move(stuck.id, (was,), ProposalState.APPLIED, by=by, note=note, generation=stuck.generation)
    leftovers = executor.undo_journal(entries)
    if not leftovers:
        note = f"the apply stopped after {len(entries)} change(s), not healthy: every change was undone"
        return store.move(stuck.id, (was,), ProposalState.ROLLED_BACK, by=by, note=note, generation=stuck.generation)
    left = _left_note(leftovers)
    return store.move(
        stuck.id,
        (was,),
        ProposalState.ROLLBACK_INCOMPLETE,
        by=by,
        note=f"the apply stopped after {len(entries)} change(s), not healthy; NOT undone: {left}",
        generation=stuck.generation,
        also_set={"leftovers": _json_list([x.to_json() for x in leftovers])},
    )


def _left_note(leftovers: list[Leftover]) -> str:
    """What a failed undo left, in one line of a proposal's history."""
    return "; ".join(f"{x.what} [{x.resource or 'id unknown'}]: {x.error}" for x in leftovers)


def _json_list(items: list[dict[str, Any]]) -> AttributeValueTypeDef:
    return {"L": [{"S": json.dumps(item, sort_keys=True)} for item in items]}


def _final_state(outcome: Outcome) -> tuple[ProposalState, str]:
    if outcome.status is OutcomeStatus.NOTHING_TO_DO:
        return ProposalState.APPLIED, "nothing left to change: the account was already as planned"
    if outcome.status is OutcomeStatus.ROLLBACK_INCOMPLETE:
        left = _left_note(outcome.leftovers)
        return ProposalState.ROLLBACK_INCOMPLETE, f"{outcome.reason or 'a fix failed'}; NOT undone: {left}"
    if outcome.status is OutcomeStatus.ROLLED_BACK:
        return ProposalState.ROLLED_BACK, outcome.reason or "a step failed; every applied step was undone"
    healthy = outcome.after is not None and outcome.after.verdict is Verdict.HEALTHY
    if outcome.status is OutcomeStatus.APPLIED and healthy:
        return ProposalState.APPLIED, f"applied {', '.join(outcome.applied)}; healthy after"
    if outcome.status is OutcomeStatus.APPLIED:
        rolled = [f.kind for f in outcome.fixes if f.status is FixStatus.ROLLED_BACK]
        note = f"applied {', '.join(outcome.applied) or 'nothing'}; not healthy after"
        if rolled:
            note += f"; {FixStatus.ROLLED_BACK.label} {', '.join(rolled)}"
        return (ProposalState.ROLLED_BACK if rolled and not outcome.applied else ProposalState.FAILED), note
    reasons = "; ".join(f"{f.kind}: {f.reason}" for f in outcome.fixes if f.reason)
    return ProposalState.FAILED, reasons or outcome.status.label

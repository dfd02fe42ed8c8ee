"""What happens to a diagnosed secret, by approval mode; and applying an approved proposal, once.

Across accounts, the proposals stay in the hub while their secrets live in member accounts: `apply_proposal` and
`reconcile` take `executor_for`, which gives the executor of the account and region a proposal's secret lives in
(or raises `PlaceRefused`), so that a plan is applied, and a journal undone, where it was written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum

from rotation_doctor.apply.executor import Executor, Outcome
from rotation_doctor.apply.guardrails import Approval, Mode
from rotation_doctor.apply.timing import LONGEST_APPLY_SECONDS
from rotation_doctor.approvals.handoff import ApplyApproved
from rotation_doctor.approvals.store import Proposal, ProposalStore, leftovers_attribute
from rotation_doctor.collect.aws import SecretNotFound, SecretUnreadable, describe_fatal
from rotation_doctor.model.errors import ProposalConflict
from rotation_doctor.model.findings import Verdict
from rotation_doctor.model.plan import Risk
from rotation_doctor.model.records import JournalEntry, Leftover
from rotation_doctor.model.snapshot import ReadFailure
from rotation_doctor.model.states import FixStatus, OutcomeStatus, ProposalState

log = logging.getLogger(__name__)


class Refusal(StrEnum):
    """Why nothing is done in an account; each value is also the worker's metric for it."""

    NOT_ALLOWED = "AccountNotAllowed"  # outside ROTATION_DOCTOR_ALLOWED_ACCOUNTS: no role is even assumed
    NO_MEMBER_ROLE = "NoMemberRole"  # another account, and no member role configured: never the hub's credentials
    ROLE_REFUSED = "RoleRefused"  # the account refused the member role (no member stack, a trust or an SCP)


class PlaceRefused(Exception):
    """Nothing may be done in an account and region (`why`); the message says so, for a person."""

    def __init__(self, why: Refusal, note: str) -> None:
        super().__init__(note)
        self.why = why
        self.note = note


ExecutorFor = Callable[[Proposal], Executor]  # the executor of the place a proposal's secret lives in
HandOff = Callable[[ApplyApproved], None]  # puts an approval on the worker's queue (approvals/handoff.WorkerQueue.send)


@dataclass
class Handled:
    outcome: Outcome
    proposal: Proposal | None = None
    proposal_is_new: bool = False
    unread: ReadFailure | None = None  # auto mode applied part, then the secret could not be read to plan the rest


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
        try:
            _, diagnosis, plan = executor.assess(secret_id)
        except SecretUnreadable as exc:
            # Refused since the apply (its owner's policy): what was applied stands and is told; what is left is
            # unknown, never planned from the read before the apply.
            return Handled(outcome, unread=exc.failure)
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
    executor_for: ExecutorFor | None = None,
) -> Handled:
    """Apply an approved proposal exactly once: only the caller that moves it to `applying` goes on. With
    `generation`, only if the proposal is still the round that was approved (else ProposalSuperseded).

    `executor_for` (the worker's, across accounts) picks the executor of the secret's place before anything is
    claimed; when that place is refused, the approved proposal fails with the reason and PlaceRefused is raised."""
    if executor_for is not None:
        try:
            executor = executor_for(store.get(pid))
        except PlaceRefused as exc:
            note = f"not applied: {exc.note}"
            store.move(
                pid,
                (ProposalState.APPROVED,),
                ProposalState.FAILED,
                by="rotation-doctor",
                note=note,
                generation=generation,
            )
            raise
    proposal = store.claim(pid, by=by, generation=generation)
    approval = Approval(by, plan_hash=proposal.plan_hash, max_risk=Risk(proposal.max_risk))
    written: list[JournalEntry] = []

    def journal(entry: JournalEntry) -> None:
        store.record_write(pid, proposal.generation, entry)  # first: a write is never unrecorded
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
    leftovers = leftovers_attribute(outcome.leftovers) if outcome.leftovers else None
    return Handled(outcome, store.move(pid, (ProposalState.APPLYING,), final, by=by, note=note, also_set=leftovers))


def reconcile(
    executor: Executor,
    store: ProposalStore,
    *,
    now: float | None = None,
    executor_for: ExecutorFor | None = None,
    hand_off: HandOff | None = None,
) -> list[Proposal]:
    """Look at the proposals the open index says are due: approvals not applied yet, and applies a dead process left.
    Returns those settled or asked again (people are told of each).

    approved: never failed for waiting. Its hand-off may sit in a backlogged queue, or be lost (the page could not
    send it; it was dead-lettered): it is handed to the worker again (`hand_off`), with a back-off, and a duplicate
    applies nothing (the worker's claim is conditional on the round). Past its expiry, when no worker would claim
    it, people are asked again (`ask_again`), saying why.
    applying: the journal lists every write AWS accepted. None: failed. The secret healthy now: applied.
    Otherwise every recorded write is undone in reverse: rolled_back, or rollback_incomplete with what is left.
    Each move is conditional on the state it read, so two workers never settle one proposal twice.

    With `executor_for`, each proposal is read and undone in its secret's account and region; when that place is
    refused, its writes cannot be undone from here: rollback_incomplete, with every recorded write as a leftover.
    """
    now = time.time() if now is None else now
    settled = []
    for stuck in store.due(now):

        def executor_of(stuck: Proposal = stuck) -> Executor:
            return executor if executor_for is None else executor_for(stuck)

        try:
            if stuck.state is ProposalState.APPROVED:
                asked = _approval_waiting(store, stuck, now, hand_off)
                settled += [asked] if asked is not None else []
            else:
                settled.append(_settle(executor_of, store, stuck))
        except ProposalConflict:
            continue  # another worker settled it first
        except Exception as exc:
            # One proposal that cannot be settled now (its account's STS throttled, a read failed) holds up neither
            # the others nor the event this batch is handling: it stays as it is, and the next batch tries again.
            log.warning("%s could not be settled now: %s", stuck.id, describe_fatal(exc))
    return settled


def _approval_waiting(
    store: ProposalStore, approved: Proposal, now: float, hand_off: HandOff | None
) -> Proposal | None:
    """An approval due a look and not applied: asked again when past its expiry (the proposal, as people are told),
    else handed to the worker again (None). The n-th hand-off again waits twice as long as the one before, so a
    backlog is not made longer by more than a few duplicates, and the last look falls at the expiry."""
    if now > approved.expires_at:
        why = "the proposal expired before the worker could apply it (its queue was backlogged, or the hand-off lost)"
        return ask_again(store, approved, why)
    if hand_off is None:  # no queue to hand it to (not the service): it waits for its hand-off, asked again at expiry
        return None
    due = min(int(now) + LONGEST_APPLY_SECONDS * 2**approved.handoffs, approved.expires_at + 1)
    if store.hand_off_again(approved, due=due):
        log.info("%s: approved, not applied yet: handed to the worker again (%d)", approved.id, approved.handoffs + 1)
        hand_off(ApplyApproved(approved.id, approved.generation, _approved_by(approved)))
    return None


def ask_again(store: ProposalStore, approved: Proposal, why: str) -> Proposal | None:
    """An approval that can no longer be applied as given (`why`): back to proposed as a new round, with a fresh
    expiry, for people to approve again (the dispatcher sends new links and the reason). None when it moved
    meanwhile (applied, rejected, asked again by another worker): then it is not this call's to ask."""
    note = f"approved by {_approved_by(approved)}, not applied: {why}; approve it again"
    try:
        return store.reask(approved, note=note)
    except ProposalConflict:
        return None


def _approved_by(proposal: Proposal) -> str:
    """Who approved the proposal's current round (its last move to approved), for the history and the hand-off."""
    by = next((e["by"] for e in reversed(proposal.history) if e.get("state") == ProposalState.APPROVED), "")
    return str(by)[:200] or "?"  # the hand-off carries at most 200 characters of it


def _settle(executor_of: Callable[[], Executor], store: ProposalStore, stuck: Proposal) -> Proposal:
    by = "rotation-doctor (reconciliation)"
    was = stuck.state
    entries = list(stuck.journal)

    def left_behind(leftovers: list[Leftover], why: str) -> Proposal:
        """rollback_incomplete, with every write still in the account and the call that removes it."""
        return store.move(
            stuck.id,
            (was,),
            ProposalState.ROLLBACK_INCOMPLETE,
            by=by,
            note=f"the apply stopped after {len(entries)} change(s){why}",
            generation=stuck.generation,
            also_set=leftovers_attribute(leftovers),
        )

    if not entries:
        note = "the apply stopped before any change was made"
        return store.move(stuck.id, (was,), ProposalState.FAILED, by=by, note=note, generation=stuck.generation)
    try:
        executor = executor_of()
    except PlaceRefused as exc:
        log.warning("%s: its recorded writes cannot be undone: %s", stuck.id, exc.note)
        return left_behind(_unreachable(entries, exc.note), f"; NOT undone: {exc.note}")
    why_undone = "not healthy"
    try:
        _, diagnosis, _ = executor.assess(stuck.secret_arn)
        healthy = diagnosis.verdict is Verdict.HEALTHY
    except SecretNotFound:
        healthy = False  # deleted since: what was written for it is undone all the same
    except SecretUnreadable as exc:
        # Refused since (its owner's policy): nobody can say the changes helped, so they are not kept (as the
        # executor undoes an apply it cannot verify); left applying, they would be looked at again for ever.
        healthy, why_undone = False, f"the secret could not be read ({exc.failure.error_code})"
    if healthy:
        note = f"the apply stopped after {len(entries)} change(s), and the secret is healthy: kept"
        return store.move(stuck.id, (was,), ProposalState.APPLIED, by=by, note=note, generation=stuck.generation)
    leftovers = executor.undo_journal(entries)
    if not leftovers:
        note = f"the apply stopped after {len(entries)} change(s), {why_undone}: every change was undone"
        return store.move(stuck.id, (was,), ProposalState.ROLLED_BACK, by=by, note=note, generation=stuck.generation)
    return left_behind(leftovers, f", {why_undone}; NOT undone: {_left_note(leftovers)}")


def _unreachable(entries: list[JournalEntry], reason: str) -> list[Leftover]:
    """The recorded writes an undo would have removed (as `Executor.undo_journal` would have tried them, in reverse),
    as leftovers: the account they are in cannot be reached."""
    return [
        Leftover(e.step, e.what, e.resource, e.undo, reason)
        for e in reversed(entries)
        if e.undo is not None or e.resource is None
    ]


def _left_note(leftovers: list[Leftover]) -> str:
    """What a failed undo left, in one line of a proposal's history."""
    return "; ".join(f"{x.what} [{x.resource or 'id unknown'}]: {x.error}" for x in leftovers)


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

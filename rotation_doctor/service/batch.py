"""The service's core: what each event does. The Lambda handler only parses, calls this, and reports.

Within one invocation (one SQS batch) the account is read once for all change events (the
secret listing, functions, databases, networks: a scan) and each affected secret is diagnosed and
handled once, however many events name it: a Terraform apply that touches forty rules is one
diagnosis per secret. Each event is handled at most once across deliveries (the handler wraps
`process` in Powertools idempotency keyed on the event id).

An approved proposal handed over by the approval page is applied here, the service's one writer:
`apply_proposal` claims it (approved -> applying, conditional on its generation) before anything is
written, so a message delivered twice, or for a proposal rejected, proposed again or already
applied meanwhile, applies nothing.

Across an organization, each event names the account and region it happened in (EventBridge's envelope; a hand-off
and a stuck proposal name theirs through the secret's ARN). Everything is read, planned, applied and undone there,
with the member role's clients (`AccountSessions`); each place keeps its own inventory and planning reads. The hub's
own account is never assumed into. Nothing is done in an account outside the allow-list, in another account when no
member role is configured, or in one that refuses the role: the event is reported with a note, not retried.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from rotation_doctor.analysis import Diagnosis
from rotation_doctor.analysis.usage import resources_used
from rotation_doctor.apply.executor import Executor, Outcome
from rotation_doctor.apply.guardrails import Mode
from rotation_doctor.approvals.handoff import KIND as APPLY_APPROVED
from rotation_doctor.approvals.handoff import ApplyApproved
from rotation_doctor.approvals.store import Proposal, ProposalStore
from rotation_doctor.approvals.workflow import (
    PlaceRefused,
    Refusal,
    apply_proposal,
    approval_executor,
    ask_again,
    handle_secret,
    reconcile,
)
from rotation_doctor.collect.accounts import (
    ACCOUNT_ID,
    REGION_NAME,
    AccountSessions,
    MemberReads,
    Place,
    RoleRefused,
    place_of_arn,
)
from rotation_doctor.collect.aws import AwsError, SecretNotFound, SecretUnreadable, describe_fatal
from rotation_doctor.collect.collector import Collector
from rotation_doctor.examine import diagnose_secrets, unread_secret
from rotation_doctor.model.bounded import clip
from rotation_doctor.model.errors import ProposalConflict, ProposalExpired, ProposalNotFound
from rotation_doctor.model.findings import Verdict
from rotation_doctor.model.plan import Risk
from rotation_doctor.model.snapshot import FactKey, PlanningFacts, Snapshot
from rotation_doctor.model.states import OPEN_STATES, UNDECIDED_STATES, SecretAction
from rotation_doctor.notify.pending import announce_pending
from rotation_doctor.notify.security_hub import Diagnosed
from rotation_doctor.planning.planner import make_plan
from rotation_doctor.service.events import Change, RotationSucceeded, RotationTrigger, SettlePlace, Sweep, Trigger
from rotation_doctor.service.settle import Drained, Mark, Pending, as_change

if TYPE_CHECKING:
    from rotation_doctor.approvals.handoff import WorkerQueue
    from rotation_doctor.collect.collector import Collector
    from rotation_doctor.notify.dispatch import Dispatcher, SecretHandled
    from rotation_doctor.notify.security_hub import SecurityHubFindings
    from rotation_doctor.service.fairness import PlaceFairness
    from rotation_doctor.service.settle import SettleBatch

log = logging.getLogger(__name__)


@dataclass
class SecretReport:
    secret_arn: str
    secret_name: str
    verdict: Verdict
    codes: list[str]
    action: SecretAction
    proposal_id: str | None = None
    applied: list[str] = field(default_factory=list)
    diagnosis: Diagnosis | None = None
    outcome: Outcome | None = None  # what applying did, in auto mode (told: a fix not undone is high priority)
    superseded: list[str] = field(default_factory=list)  # proposals a successful rotation closed (healthy without)

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in vars(self).items() if k not in ("diagnosis", "outcome", "superseded")}
        return out | {"verdict": self.verdict.value, "action": self.action.value}


if TYPE_CHECKING:

    def _dispatched(report: SecretReport) -> SecretHandled:
        """The worker hands each report to `Dispatcher.after_event`: the type checker holds them together."""
        return report


@dataclass
class Decision:
    """An approved proposal this event applied (or found stale): what people are told about it."""

    proposal: Proposal  # as it ended: applied, failed, rolled_back, rollback_incomplete, or expired (stale)
    outcome: Outcome | None  # None: settled by reconciliation, from what the account held (the note says)
    fresh: Proposal | None = None  # the new proposal for the plan made afresh, when the approved one was stale


@dataclass
class EventReport:
    event_id: str
    trigger: str
    secrets: list[SecretReport]
    decisions: list[Decision] = field(default_factory=list)
    note: str | None = None  # why the event needed nothing done (the secret it names is gone, its account refused)
    refused: list[Refusal] = field(default_factory=list)  # places not acted on, and why (the worker's metrics)
    unread: list[Place] = field(default_factory=list)  # places a sweep could read nothing of (the worker's metric)
    deferred: bool = False  # a change event of a place beyond its share: swept later (the worker's metric)
    sweep_skipped: bool = False  # a sweep of a place swept within the hub's interval (the worker's metric)
    pending: Mark | None = None  # a change event marked pending in its place, not diagnosed yet (the worker's metric)
    settled: Drained | None = None  # a place's pending changes diagnosed once settled (the worker's metrics)

    def to_json(self) -> dict[str, Any]:
        out = {
            "event_id": self.event_id,
            "trigger": self.trigger,
            "secrets": [s.to_json() for s in self.secrets],
        }
        return out | ({"note": self.note} if self.note else {})


@dataclass
class PlaceScope:
    """One account and region within a batch: its executor (the place's clients), its inventory and planning reads,
    each read once however many events name the place."""

    place: Place
    executor: Executor
    inventory: list[tuple[Snapshot, Diagnosis]] | None = None
    planning: dict[tuple[str, str, str], PlanningFacts] = field(default_factory=dict)

    @property
    def collector(self) -> Collector:
        return self.executor.collector


class BatchContext:
    """One invocation's shared reads, per account and region, and the secrets it has already handled."""

    dispatcher: Dispatcher | None = None  # the worker's notifications: the sweep tells what waits for a person
    fairness: PlaceFairness | None = None  # each place's share of the hub (None: every event served at once)
    queue: WorkerQueue | None = None  # the worker's own queue: reconciliation hands an approval to it again
    settle: SettleBatch | None = None  # change events wait for their place's settle window (None: acted on at once)

    def __init__(
        self, executor: Executor, store: ProposalStore | None, sessions: AccountSessions | None = None
    ) -> None:
        """`executor` acts in the hub's own account and region; `sessions` gives clients elsewhere (without it, or
        with no member role name, events of another account are ignored)."""
        self.executor = executor
        self.store = store
        self.sessions = sessions or AccountSessions(executor.clients, role_name="")
        # Organization mode: a zone or centralized endpoint of another account is read through its member role, in
        # an account the deployment may act in only (the allow-list, as for an event's account: `_may_read`).
        self.members = MemberReads(self.sessions, self._may_read) if self.sessions.role_name else None
        if self.members is not None:
            executor.collector = Collector(executor.clients, members=self.members)
        self.collector = executor.collector
        self._scopes: dict[Place, PlaceScope] = {}
        self._refused: dict[str, PlaceRefused] = {}  # by account: a refusal holds for the whole batch
        self.handled: dict[str, SecretReport] = {}  # by secret ARN, which names the account and region
        self._reconciled = False

    @property
    def home(self) -> Place:
        """The hub's own account and region (the account asked of STS once, when the Lambda context did not say)."""
        return Place(self.sessions.base_account, str(self.executor.clients.region))

    def process(self, trigger: Trigger) -> EventReport:
        report = self._process(trigger)
        self._to_security_hub(report)
        if not self._reconciled and self.store is not None:
            # Once a batch: proposals the open index says are due (an approval not applied yet, an apply a dead
            # process left) are handed over again, asked again or settled, each in its secret's account.
            self._reconciled = True
            hand_off = self.queue.send if self.queue is not None else None
            settled = reconcile(self.executor, self.store, executor_for=self._approval_executor, hand_off=hand_off)
            report.decisions += [Decision(p, None) for p in settled]
        return report

    def _process(self, trigger: Trigger) -> EventReport:
        if isinstance(trigger, ApplyApproved):
            return self._apply_approved(trigger)
        if isinstance(trigger, RotationSucceeded):
            return self._rotation_succeeded(trigger)
        if isinstance(trigger, RotationTrigger):
            return self._rotation(trigger)
        if isinstance(trigger, Sweep):
            return self._sweep(trigger)
        if isinstance(trigger, SettlePlace):
            return self._settled(trigger)
        place = self._place(trigger.account, trigger.region)
        try:
            # A place nothing may be done in is refused before it spends a share or enters the deferred marker.
            self._refuse_unless_allowed(place)
            if self.fairness is not None and not self.fairness.admit_change(place):
                note = f"{place} sent more change events than its share this hour: deferred to the hub's next sweep"
                log.warning("%s %s: %s", trigger.source, trigger.event_name, note)
                return EventReport(trigger.event_id, trigger.event_name, [], note=note, deferred=True)
            if self.settle is not None:
                return self._mark_pending(trigger, place, self.settle)
            scope = self.scope(place)
        except PlaceRefused as exc:
            return self._refused_report(trigger.event_id, trigger.event_name, exc)
        affected = [(s, d) for s, d in self._inventory(scope) if affects(trigger, s, d)]
        log.info("%s %s in %s affects %d secret(s)", trigger.source, trigger.event_name, scope.place, len(affected))
        return EventReport(trigger.event_id, trigger.event_name, [self._act(scope, s, d) for s, d in affected])

    def _rotation(self, trigger: RotationTrigger) -> EventReport:
        named = place_of_arn(trigger.secret_id)
        place = self._place(trigger.account, trigger.region, named)
        if named is not None and named != place:
            # CloudTrail records a rotation in the secret's own account and region: this one is not real.
            note = f"the secret's ARN names {named}, not the event's {place}: not acted on"
            log.warning("%s: %s", trigger.event_name, note)
            return EventReport(trigger.event_id, trigger.event_name, [], note=clip(note))
        try:
            scope = self.scope(place)
        except PlaceRefused as exc:
            return self._refused_report(trigger.event_id, trigger.event_name, exc)
        try:
            secret = scope.collector.describe_secret(trigger.secret_id)
        except SecretNotFound:
            # Deleted since its rotation failed: nothing to diagnose, and asking again will not change that.
            log.info("%s: secret %s no longer exists", trigger.event_name, trigger.secret_id)
            return EventReport(trigger.event_id, trigger.event_name, [], note="the secret no longer exists")
        except SecretUnreadable as exc:
            # Refused for this secret (its owner's policy): unknown with the reason; asking again answers the same.
            unread = unread_secret(trigger.secret_id, exc.failure, place.region)
            return EventReport(trigger.event_id, trigger.event_name, [self._act(scope, *unread)])
        pairs = diagnose_secrets(scope.collector, [secret], rotation_failed=[secret.arn])
        return EventReport(
            trigger.event_id,
            trigger.event_name,
            [self._act(scope, snap, d, rotation_failed=True) for snap, d in pairs],
        )

    def _sweep(self, trigger: Sweep) -> EventReport:
        """The hub's schedule sweeps the hub's own place and every place a proposal is open in; a member's schedule
        (forwarded to the hub), that member's place."""
        place = self._place(trigger.account, trigger.region)
        fairness = self.fairness
        if fairness is not None and not fairness.admit_sweep(place):
            # A member's schedule more frequent than the hub's: the hub's interval holds for every place.
            note = f"{place} was swept less than the hub's sweep interval ago: skipped"
            log.warning("sweep: %s", note)
            return EventReport(trigger.event_id, "sweep", [], note=note, sweep_skipped=True)
        self._backfill_open_index()
        announce_pending(self.store, self.dispatcher)  # proposals never announced, or whose links expire
        places = [place]
        deferred: list[Place] = []
        if place == self.home and self.store is not None:
            open_in = {place_of_arn(p.secret_arn) for state in OPEN_STATES for p in self.store.open_in(state)}
            deferred = fairness.deferred() if fairness is not None else []
            places += sorted({p for p in open_in | set(deferred) if p is not None and p != place})
        report = EventReport(trigger.event_id, "sweep", [])
        for where in places:
            try:
                scope = self.scope(where)
                pending = self.settle.settle.read(where) if self.settle is not None else None
                inventory = self._inventory(scope)
                for snap, diagnosis in inventory:  # a secret that fails alone is unknown in its report (see _act)
                    report.secrets.append(self._act(scope, snap, diagnosis))
            except PlaceRefused as exc:
                report.refused.append(exc.why)
                report.note = clip("; ".join(filter(None, [report.note, exc.note])))
                continue
            except AwsError as exc:
                # Nothing of this place could be read (its listing refused, no connection): it is looked at again in
                # the next sweep, and holds up no other place (the hub's own included: retrying the whole sweep
                # would only hold up the places that could be read).
                log.warning("sweep: %s could not be read now: %s", where, exc)
                report.note = clip("; ".join(filter(None, [report.note, f"{where} could not be read now"])))
                report.unread.append(where)
                continue
            self._archive_gone(where, {snap.secret.arn for snap, _ in inventory})
            if pending is not None and self.settle is not None and self.settle.settle.clear_swept(pending):
                log.info("sweep: %s's pending changes were diagnosed by the sweep", where)
            if fairness is not None and where in deferred:
                fairness.swept(where)  # its deferred change events are served by this sweep
        return report

    # ----- the settle window ---------------------------------------------------------------------

    def _mark_pending(self, trigger: Change, place: Place, settle: SettleBatch) -> EventReport:
        """A change event waits: what it names is pending in its place until the place is quiet for the window."""
        mark = settle.mark(place, trigger)
        note = (
            f"pending in {place}: diagnosed once nothing has changed there for {settle.settle.window} s "
            f"(not before {_clock(mark.settles_at)})"
        )
        opened = "opens its settle window" if mark.opened else "pending"
        log.info(
            "%s %s in %s: %s, settles at %s", trigger.source, trigger.event_name, place, opened, _clock(mark.settles_at)
        )
        return EventReport(trigger.event_id, trigger.event_name, [], note=note, pending=mark)

    def _settled(self, message: SettlePlace) -> EventReport:
        """A place's settle message: when its pending changes are quiet for the window (or waited the longest), one
        worker claims them, diagnoses every affected secret once, and lets go what it drained."""
        report = EventReport(message.id, "settle", [])
        if self.settle is None:
            report.note = "the settle window is off in this deployment: nothing pending is kept"
            return report
        settle = self.settle.settle
        place = self._place(message.account, message.region)
        try:
            self._refuse_unless_allowed(place)
        except PlaceRefused as exc:
            return self._refused_report(message.id, "settle", exc)
        pending = settle.read(place)
        now = settle.now()
        if pending is None:
            report.note = f"nothing is pending in {place}"
            return report
        if pending.claimed_until is not None and pending.claimed_until > now:
            # Another worker is diagnosing it: looked at again a window later (its changes since reopen the item).
            settle.wake(place, pending.last_change, settle.window)
            report.note = f"{place}'s pending changes are being diagnosed by another worker"
            return report
        due = settle.due_at(pending)
        if due > now:
            if pending.last_change <= message.for_change:  # no later batch sent a message of its own: wake again
                settle.wake(place, pending.last_change, math.ceil(due - now))
            report.note = f"{place} is not settled yet: changes pending until {_clock(due)}"
            return report
        claimed_at = now
        token = settle.claim(pending)
        if token is None:
            report.note = f"{place}'s pending changes were claimed by another worker, or changed meanwhile"
            return report
        try:
            report.secrets = self._diagnose_pending(message.id, place, pending)
        except PlaceRefused as exc:
            settle.release(pending.place, token)  # kept: the place's sweep, or the item's expiry, ends it
            return self._refused_report(message.id, "settle", exc)
        except Exception:
            settle.release(pending.place, token)  # kept, and let go: the message is retried, and claims again
            raise
        report.settled = drained = settle.finish(pending, token, claimed_at)
        log.info(
            "%s settled after %.0f s (window %d s): %d pending name(s), %d secret(s) diagnosed%s",
            place,
            drained.waited,
            settle.window,
            len(pending.named),
            len(report.secrets),
            "; a change arrived meanwhile and opened a new window" if drained.reopened else "",
        )
        return report

    def _diagnose_pending(self, event_id: str, place: Place, pending: Pending) -> list[SecretReport]:
        scope = self.scope(place)
        change = as_change(event_id, place, pending.named)
        return [self._act(scope, s, d) for s, d in self._inventory(scope) if affects(change, s)]

    def _backfill_open_index(self) -> None:
        """The sweep gives open proposals written before the open index its keys, once per table (a marker item
        says it is done: one GetItem each sweep after). Here and nowhere on an event's path: a Scan grows with the
        table. Never fails the sweep: what failed is logged, and the next sweep tries again."""
        if self.store is None:
            return
        try:
            given = self.store.backfill_open_index()
        except Exception as exc:
            log.warning("open proposals from before the open index not indexed yet: %s", describe_fatal(exc))
            return
        if given:
            log.info("gave %d open proposal(s) from before the open index its keys", given)

    def _apply_approved(self, message: ApplyApproved) -> EventReport:
        report = EventReport(message.id, APPLY_APPROVED, [])
        if self.store is None:
            log.warning("no proposals table: %s cannot be applied", message.proposal_id)
            return report
        try:
            handled = apply_proposal(
                self.executor,
                self.store,
                message.proposal_id,
                by=message.by,
                generation=message.generation,
                executor_for=self._approval_executor,
            )
        except ProposalExpired:
            # Approved in time, read from the queue after the proposal expired: asked again, never expired unapplied.
            why = "the proposal expired while the approval waited in the worker's queue"
            asked = ask_again(self.store, self.store.get(message.proposal_id), why)
            report.decisions += [Decision(asked, None)] if asked is not None else []
            return report
        except (ProposalNotFound, ProposalConflict) as exc:
            # Delivered again, rejected or proposed again meanwhile, or never approved: nothing to apply.
            log.info("%s: nothing applied (%s: %s)", message.proposal_id, type(exc).__name__, exc)
            return report
        except PlaceRefused as exc:
            # The proposal failed with the reason (apply_proposal moved it): people are told, as of any decision.
            refused = self._refused_report(message.id, APPLY_APPROVED, exc)
            refused.decisions.append(Decision(self.store.get(message.proposal_id), None))
            return refused
        outcome = handled.outcome
        final = self.store.get(message.proposal_id)
        fresh = handled.proposal if handled.proposal_is_new else None
        seen = outcome.after or outcome.before
        if outcome.applied:
            action = SecretAction.APPLIED
        else:
            action = SecretAction.PROPOSED if fresh is not None else SecretAction.NOT_APPLIED
        secret = SecretReport(
            final.secret_arn,
            final.secret_name,
            seen.verdict,
            seen.codes(),
            action,
            proposal_id=(fresh or final).id,
            applied=outcome.applied,
        )
        self.handled[final.secret_arn] = secret  # later events of this batch: already diagnosed after the change
        report.secrets.append(secret)
        report.decisions.append(Decision(final, outcome, fresh))
        return report

    def _rotation_succeeded(self, trigger: RotationSucceeded) -> EventReport:
        """A rotation that worked closes what is open for the secret: re-diagnosed only if a proposal (one query of
        the proposals table) or a Security Hub finding (one GetFindings, when findings are on) is open. Healthy: its
        undecided proposals are superseded, and its findings archived (by `_to_security_hub`)."""
        event = RotationSucceeded.__name__
        named = place_of_arn(trigger.secret_id)
        place = self._place(trigger.account, trigger.region, named)
        if named is not None and named != place:
            note = f"the secret's ARN names {named}, not the event's {place}: not acted on"
            log.warning("%s: %s", event, note)
            return EventReport(trigger.event_id, event, [], note=clip(note))
        try:
            scope = self.scope(place)
        except PlaceRefused as exc:
            return self._refused_report(trigger.event_id, event, exc)
        arn = trigger.secret_id
        if not arn.startswith("arn:"):  # Secrets Manager writes the ARN; a name is looked up, once
            try:
                arn = scope.collector.describe_secret(arn).arn
            except SecretNotFound:
                return EventReport(trigger.event_id, event, [], note="the secret no longer exists")
            except SecretUnreadable as exc:
                return EventReport(
                    trigger.event_id, event, [self._act(scope, *unread_secret(arn, exc.failure, place.region))]
                )
        proposals = self.store.open_for_secret(arn) if self.store is not None else []
        hub = self._security_hub()
        findings_open = False
        if not proposals and hub is not None:
            found, read = hub.open_findings([arn])
            findings_open = bool(found.get(arn)) or bool(read.read_failures)  # a failed read is not "none open"
        if not proposals and not findings_open:
            return EventReport(trigger.event_id, event, [], note="nothing is open for the secret: not diagnosed")
        try:
            secret = scope.collector.describe_secret(arn)
        except SecretNotFound:
            return EventReport(trigger.event_id, event, [], note="the secret no longer exists")
        except SecretUnreadable as exc:  # what is open for it stays open: nobody can say it is healthy
            return EventReport(
                trigger.event_id, event, [self._act(scope, *unread_secret(arn, exc.failure, place.region))]
            )
        [(snap, diagnosis)] = diagnose_secrets(scope.collector, [secret])
        if diagnosis.verdict is not Verdict.HEALTHY or arn in self.handled:
            return EventReport(trigger.event_id, event, [self._act(scope, snap, diagnosis)])
        report = SecretReport(
            arn, snap.secret.name, diagnosis.verdict, diagnosis.codes(), SecretAction.HEALTHY, diagnosis=diagnosis
        )
        note = "the rotation succeeded and the secret is healthy without it"
        store = self.store
        for proposal in proposals:  # applying: the worker applying it settles it; decided meanwhile: not ours
            if store is not None and proposal.state in UNDECIDED_STATES:
                closed = store.supersede(proposal.id, generation=proposal.generation, note=note)
                report.superseded += [proposal.id] if closed is not None else []
        self.handled[arn] = report
        return EventReport(trigger.event_id, event, [report])

    def _security_hub(self) -> SecurityHubFindings | None:
        """The worker's Security Hub findings, carried by its dispatcher (a stand-in dispatcher may carry none)."""
        hub: SecurityHubFindings | None = getattr(self.dispatcher, "security_hub", None)
        return hub

    def _to_security_hub(self, report: EventReport) -> None:
        """The event's diagnoses as Security Hub findings, when the deployer turned them on: one read and as few
        imports as the limits allow for all of them. It never fails the event: what failed is logged."""
        hub = self._security_hub()
        diagnosed: list[Diagnosed] = []
        for s in report.secrets:
            # After a fix (auto mode), what the account holds now is the diagnosis after it, not the one before.
            latest = s.outcome.after if s.outcome is not None and s.outcome.after is not None else s.diagnosis
            if latest is not None and s.action is not SecretAction.COALESCED:
                diagnosed.append(Diagnosed(latest, s.proposal_id))
        for decision in report.decisions:  # an approved fix applied (its secret's report carries no diagnosis)
            after = decision.outcome.after if decision.outcome is not None else None
            if after is not None:
                diagnosed.append(Diagnosed(after, (decision.fresh or decision.proposal).id))
        if hub is None or not diagnosed:
            return
        try:
            told = hub.sync(diagnosed)
        except Exception as exc:
            log.warning("Security Hub findings not kept: %s", describe_fatal(exc))
            return
        (log.info if told.ok else log.warning)("%s", told.summary())

    def _archive_gone(self, place: Place, listed: set[str]) -> None:
        """The sweep listed every Lambda-rotated secret of `place`: findings of ours on any other secret (deleted, or
        no longer rotated) are archived. Never fails the sweep: what failed is logged."""
        hub = self._security_hub()
        if hub is None:
            return
        try:
            told = hub.archive_gone(place, listed)
        except Exception as exc:
            log.warning("Security Hub findings of secrets gone from %s not archived: %s", place, describe_fatal(exc))
            return
        (log.info if told.ok else log.warning)("%s: %s", place, told.summary())

    # ----- places ------------------------------------------------------------------------------

    def _place(self, account: str, region: str, named: Place | None = None) -> Place:
        """Where an event happened: what it says, else what its secret's ARN says, else the hub's own place."""
        fallback = named or self.home
        return Place(account or fallback.account, region or fallback.region)

    def scope(self, place: Place) -> PlaceScope:
        """The place's scope, opened once a batch; PlaceRefused (remembered for the batch) when nothing may be done
        there. The allow-list and the member role are checked before any role is assumed."""
        found = self._scopes.get(place)
        if found is not None:
            return found
        self._refuse_unless_allowed(place)
        try:
            executor = self._executor_in(place)
        except PlaceRefused as exc:
            log.warning("not acted on in %s: %s", place, exc.note)
            self._refused[place.account] = exc
            raise
        return self._scopes.setdefault(place, PlaceScope(place, executor))

    def _refuse_unless_allowed(self, place: Place) -> None:
        """PlaceRefused (remembered for the batch) when the deployment allows nothing in the place: not an account
        and region, outside the allow-list, another account without a member role. No role is assumed to know."""
        if place in self._scopes:
            return
        refused = self._refused.get(place.account)
        if refused is not None:
            raise refused
        try:
            self._allowed(place)
        except PlaceRefused as exc:
            log.warning("not acted on in %s: %s", place, exc.note)
            self._refused[place.account] = exc
            raise

    def _allowed(self, place: Place) -> None:
        if not ACCOUNT_ID.match(place.account) or not REGION_NAME.match(place.region):
            raise PlaceRefused(Refusal.NOT_ALLOWED, f"{clip(str(place), 80)} is not an account and region")
        policy, home = self.executor.policy, self.home.account
        if place.account != home:
            if policy.allowed_accounts and place.account not in policy.allowed_accounts:
                note = f"account {place.account} is not in the allow-list (ROTATION_DOCTOR_ALLOWED_ACCOUNTS): ignored"
                raise PlaceRefused(Refusal.NOT_ALLOWED, note)
            if not self.sessions.assumes_into(place.account):
                note = (
                    f"the event is from account {place.account}, and no member role is configured "
                    "(ROTATION_DOCTOR_MEMBER_ROLE_NAME): ignored"
                )
                raise PlaceRefused(Refusal.NO_MEMBER_ROLE, note)

    def _may_read(self, account: str) -> bool:
        """Whether a collector may read `account` through its member role: the same check as an event's account
        (the hub's own; else in the allow-list when one is set, with a member role configured)."""
        try:
            self._allowed(Place(account, str(self.executor.clients.region)))
        except PlaceRefused:
            return False
        return True

    def _executor_in(self, place: Place) -> Executor:
        """The place's executor: the hub's own, or one with the member role's clients (`_allowed` checked first)."""
        if place == self.home:
            return self.executor
        try:
            clients = self.sessions.clients(place)
        except RoleRefused as exc:
            note = f"account {place.account} refused the member role {exc.role_arn}: {clip(exc.reason, 300)}"
            raise PlaceRefused(Refusal.ROLE_REFUSED, note) from exc
        home_executor = self.executor
        return Executor(
            clients,
            home_executor.policy,  # the same guardrails; the hourly cap is counted per account (the secret's)
            wait_timeout=home_executor.wait_timeout,
            poll=home_executor.poll,
            time_left=home_executor.time_left,
            members=self.members,
        )

    def _approval_executor(self, proposal: Proposal) -> Executor:
        """The executor for a proposal approved by a person, in the place its secret lives in."""
        place = place_of_arn(proposal.secret_arn) or self.home
        return approval_executor(self.scope(place).executor)

    @staticmethod
    def _refused_report(event_id: str, trigger: str, refused: PlaceRefused) -> EventReport:
        return EventReport(event_id, trigger, [], note=clip(refused.note), refused=[refused.why])

    # ----- secrets -----------------------------------------------------------------------------

    def inventory(self, place: Place | None = None) -> list[tuple[Snapshot, Diagnosis]]:
        """Every Lambda-rotated secret of the place (the hub's own by default), read and diagnosed once per
        invocation."""
        return self._inventory(self.scope(place or self.home))

    @staticmethod
    def _inventory(scope: PlaceScope) -> list[tuple[Snapshot, Diagnosis]]:
        if scope.inventory is None:
            secrets = scope.collector.list_rotated_secrets()
            scope.inventory = diagnose_secrets(scope.collector, secrets)
        return scope.inventory

    def _act(
        self, scope: PlaceScope, snap: Snapshot, diagnosis: Diagnosis, *, rotation_failed: bool = False
    ) -> SecretReport:
        arn = snap.secret.arn
        if arn in self.handled:
            first = self.handled[arn]
            return replace(first, action=SecretAction.COALESCED, diagnosis=None)
        report = SecretReport(
            arn, snap.secret.name, diagnosis.verdict, diagnosis.codes(), SecretAction.HEALTHY, diagnosis=diagnosis
        )
        executor = scope.executor
        mode = executor.policy.mode
        if diagnosis.verdict is Verdict.HEALTHY:
            pass
        elif mode is Mode.OBSERVE or self.store is None or snap.failure(FactKey.SECRET) is not None:
            report.action = SecretAction.OBSERVED  # a secret that could not be read: told why, nothing planned
        elif mode is Mode.AUTO:
            try:
                handled = handle_secret(executor, self.store, arn, rotation_failed=rotation_failed)
            except SecretUnreadable as exc:
                # Listed, but its owner refuses the fresh read applying starts with: this secret alone is unknown.
                return self._act(scope, *unread_secret(snap.secret, exc.failure, scope.place.region))
            report.outcome = handled.outcome
            report.applied = handled.outcome.applied
            report.action = SecretAction.APPLIED if report.applied else SecretAction.NOT_APPLIED
            if handled.unread is not None:  # applied, then refused: what it applied is told, the secret is unknown
                _, unknown = unread_secret(snap.secret, handled.unread, scope.place.region)
                report.verdict, report.codes, report.diagnosis = unknown.verdict, unknown.codes(), unknown
            if handled.proposal is not None:
                report.proposal_id = handled.proposal.id
        else:
            plan = make_plan(
                self._with_planning_facts(scope, snap),
                diagnosis,
                trusted_prefixes=executor.policy.trusted_secret_prefixes,
            )
            if plan.empty:
                report.action = SecretAction.OBSERVED
            else:
                proposal, new = self.store.create(plan, diagnosis, max_risk=str(Risk.NEVER_AUTOMATIC))
                report.proposal_id = proposal.id
                report.action = SecretAction.PROPOSED if new else SecretAction.PROPOSAL_EXISTS
        self.handled[arn] = report
        return report

    @staticmethod
    def _with_planning_facts(scope: PlaceScope, snap: Snapshot) -> Snapshot:
        """Planning reads are per function and VPCs: secrets sharing them share one read."""
        fn, db = snap.function, snap.database
        key = (fn.arn if fn else "", (fn.vpc_id or "") if fn else "", (db.vpc_id or "") if db else "")
        if key not in scope.planning:
            scope.planning[key] = scope.collector.planning_facts(snap)
        return scope.planning[key].apply_to(snap)


def affects(change: Change, snap: Snapshot, diagnosis: Diagnosis | None = None) -> bool:
    """Whether the change names anything the secret's diagnosis (`diagnosis`, when made of `snap`) read."""
    if change.affects_all:
        return True
    used = resources_used(snap, diagnosis)
    if change.resource_ids & used:
        return True
    for kind, name in change.names:
        if name in used or (kind == "secret" and names_this_secret(name, snap.secret.arn, snap.secret.name)):
            return True
    return False


def _clock(at: float) -> str:
    """A moment for a log line or a note: UTC, to the second."""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# Secrets Manager ends a secret's ARN with "-" and six characters of its own.
_ARN_SUFFIX_LENGTH = len("-AbCdEf")


def names_this_secret(secret_id: str, arn: str, name: str) -> bool:
    """Whether a call's SecretId names this secret, as Secrets Manager resolves one: its full ARN, its name, or its
    ARN without the six random characters (a partial ARN). Exact: `prod/db` names neither `prod/db2` nor
    `prod/db-old`, as a prefix would (a tenant could otherwise have other teams' secrets diagnosed at will)."""
    if secret_id in (arn, name):
        return True
    return len(arn) == len(secret_id) + _ARN_SUFFIX_LENGTH and arn.startswith(secret_id + "-")

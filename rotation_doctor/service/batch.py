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
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from rotation_doctor.analysis import Diagnosis
from rotation_doctor.analysis.usage import resources_used
from rotation_doctor.apply.executor import Executor, Outcome
from rotation_doctor.apply.guardrails import Mode
from rotation_doctor.approvals.handoff import KIND as APPLY_APPROVED
from rotation_doctor.approvals.handoff import ApplyApproved
from rotation_doctor.approvals.store import Proposal, ProposalStore
from rotation_doctor.approvals.workflow import apply_proposal, approval_executor, handle_secret, reconcile
from rotation_doctor.collect.aws import SecretNotFound, describe_fatal
from rotation_doctor.examine import diagnose_secrets
from rotation_doctor.model.errors import ProposalConflict, ProposalNotFound
from rotation_doctor.model.findings import Verdict
from rotation_doctor.model.plan import Risk
from rotation_doctor.model.snapshot import PlanningFacts, Snapshot
from rotation_doctor.model.states import UNDECIDED_STATES, SecretAction
from rotation_doctor.notify.pending import announce_pending
from rotation_doctor.notify.security_hub import Diagnosed
from rotation_doctor.planning.planner import make_plan
from rotation_doctor.service.events import Change, RotationSucceeded, RotationTrigger, Sweep, Trigger

if TYPE_CHECKING:
    from rotation_doctor.notify.dispatch import Dispatcher, SecretHandled
    from rotation_doctor.notify.security_hub import SecurityHubFindings

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
    note: str | None = None  # why the event needed nothing done (the secret it names is gone)

    def to_json(self) -> dict[str, Any]:
        out = {
            "event_id": self.event_id,
            "trigger": self.trigger,
            "secrets": [s.to_json() for s in self.secrets],
        }
        return out | ({"note": self.note} if self.note else {})


class BatchContext:
    """One invocation's shared reads and the secrets it has already handled."""

    dispatcher: Dispatcher | None = None  # the worker's notifications: the sweep tells what waits for a person

    def __init__(self, executor: Executor, store: ProposalStore | None) -> None:
        self.executor = executor
        self.store = store
        self.collector = executor.collector
        self._inventory: list[tuple[Snapshot, Diagnosis]] | None = None
        self._planning: dict[tuple[str, str, str], PlanningFacts] = {}
        self.handled: dict[str, SecretReport] = {}
        self._reconciled = False

    def process(self, trigger: Trigger) -> EventReport:
        report = self._process(trigger)
        self._to_security_hub(report)
        if not self._reconciled and self.store is not None:
            # Once a batch: proposals a dead process left approved or applying are settled and announced.
            self._reconciled = True
            settled = reconcile(approval_executor(self.executor), self.store)
            report.decisions += [Decision(p, None) for p in settled]
        return report

    def _process(self, trigger: Trigger) -> EventReport:
        if isinstance(trigger, ApplyApproved):
            return self._apply_approved(trigger)
        if isinstance(trigger, RotationSucceeded):
            return self._rotation_succeeded(trigger)
        if isinstance(trigger, RotationTrigger):
            try:
                secret = self.collector.describe_secret(trigger.secret_id)
            except SecretNotFound:
                # Deleted since its rotation failed: nothing to diagnose, and asking again will not change that.
                log.info("%s: secret %s no longer exists", trigger.event_name, trigger.secret_id)
                return EventReport(trigger.event_id, trigger.event_name, [], note="the secret no longer exists")
            pairs = diagnose_secrets(self.collector, [secret], rotation_failed=[secret.arn])
            return EventReport(
                trigger.event_id, trigger.event_name, [self._act(snap, d, rotation_failed=True) for snap, d in pairs]
            )
        if isinstance(trigger, Sweep):
            announce_pending(self.store, self.dispatcher)  # proposals never announced, or whose links expire
            return EventReport(trigger.event_id, "sweep", [self._act(s, d) for s, d in self.inventory()])
        affected = [(s, d) for s, d in self.inventory() if affects(trigger, s)]
        log.info("%s %s affects %d secret(s)", trigger.source, trigger.event_name, len(affected))
        return EventReport(trigger.event_id, trigger.event_name, [self._act(s, d) for s, d in affected])

    def _apply_approved(self, message: ApplyApproved) -> EventReport:
        report = EventReport(message.id, APPLY_APPROVED, [])
        if self.store is None:
            log.warning("no proposals table: %s cannot be applied", message.proposal_id)
            return report
        try:
            handled = apply_proposal(
                approval_executor(self.executor),
                self.store,
                message.proposal_id,
                by=message.by,
                generation=message.generation,
            )
        except (ProposalNotFound, ProposalConflict) as exc:
            # Delivered again, rejected or proposed again meanwhile, expired, or never approved: nothing to apply.
            log.info("%s: nothing applied (%s: %s)", message.proposal_id, type(exc).__name__, exc)
            return report
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
        arn = trigger.secret_id
        if not arn.startswith("arn:"):  # Secrets Manager writes the ARN; a name is looked up, once
            try:
                arn = self.collector.describe_secret(arn).arn
            except SecretNotFound:
                return EventReport(trigger.event_id, event, [], note="the secret no longer exists")
        proposals = self.store.open_for_secret(arn) if self.store is not None else []
        hub = self._security_hub()
        findings_open = False
        if not proposals and hub is not None:
            found, read = hub.open_findings([arn])
            findings_open = bool(found.get(arn)) or bool(read.read_failures)  # a failed read is not "none open"
        if not proposals and not findings_open:
            return EventReport(trigger.event_id, event, [], note="nothing is open for the secret: not diagnosed")
        try:
            secret = self.collector.describe_secret(arn)
        except SecretNotFound:
            return EventReport(trigger.event_id, event, [], note="the secret no longer exists")
        [(snap, diagnosis)] = diagnose_secrets(self.collector, [secret])
        if diagnosis.verdict is not Verdict.HEALTHY or arn in self.handled:
            return EventReport(trigger.event_id, event, [self._act(snap, diagnosis)])
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
        diagnosed = [
            Diagnosed(s.diagnosis, s.proposal_id)
            for s in report.secrets
            if s.diagnosis is not None and s.action is not SecretAction.COALESCED
        ]
        if hub is None or not diagnosed:
            return
        try:
            told = hub.sync(diagnosed)
        except Exception as exc:
            log.warning("Security Hub findings not kept: %s", describe_fatal(exc))
            return
        (log.info if told.ok else log.warning)("%s", told.summary())

    def inventory(self) -> list[tuple[Snapshot, Diagnosis]]:
        """Every Lambda-rotated secret, read and diagnosed once per invocation."""
        if self._inventory is None:
            secrets = self.collector.list_rotated_secrets()
            self._inventory = diagnose_secrets(self.collector, secrets)
        return self._inventory

    def _act(self, snap: Snapshot, diagnosis: Diagnosis, *, rotation_failed: bool = False) -> SecretReport:
        arn = snap.secret.arn
        if arn in self.handled:
            first = self.handled[arn]
            return replace(first, action=SecretAction.COALESCED, diagnosis=None)
        report = SecretReport(
            arn, snap.secret.name, diagnosis.verdict, diagnosis.codes(), SecretAction.HEALTHY, diagnosis=diagnosis
        )
        mode = self.executor.policy.mode
        if diagnosis.verdict is Verdict.HEALTHY:
            pass
        elif mode is Mode.OBSERVE or self.store is None:
            report.action = SecretAction.OBSERVED
        elif mode is Mode.AUTO:
            handled = handle_secret(self.executor, self.store, arn, rotation_failed=rotation_failed)
            report.outcome = handled.outcome
            report.applied = handled.outcome.applied
            report.action = SecretAction.APPLIED if report.applied else SecretAction.NOT_APPLIED
            if handled.proposal is not None:
                report.proposal_id = handled.proposal.id
        else:
            plan = make_plan(
                self._with_planning_facts(snap),
                diagnosis,
                trusted_prefixes=self.executor.policy.trusted_secret_prefixes,
            )
            if plan.empty:
                report.action = SecretAction.OBSERVED
            else:
                proposal, new = self.store.create(plan, diagnosis, max_risk=str(Risk.NEVER_AUTOMATIC))
                report.proposal_id = proposal.id
                report.action = SecretAction.PROPOSED if new else SecretAction.PROPOSAL_EXISTS
        self.handled[arn] = report
        return report

    def _with_planning_facts(self, snap: Snapshot) -> Snapshot:
        """Planning reads are per function and VPCs: secrets sharing them share one read."""
        fn, db = snap.function, snap.database
        key = (fn.arn if fn else "", (fn.vpc_id or "") if fn else "", (db.vpc_id or "") if db else "")
        if key not in self._planning:
            self._planning[key] = self.collector.planning_facts(snap)
        return self._planning[key].apply_to(snap)


def affects(change: Change, snap: Snapshot) -> bool:
    if change.affects_all:
        return True
    used = resources_used(snap)
    if change.resource_ids & used:
        return True
    for kind, name in change.names:
        if name in used or (kind == "secret" and (snap.secret.arn.startswith(name) or snap.secret.name == name)):
            return True
    return False

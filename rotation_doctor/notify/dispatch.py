"""Which message an outcome calls for, with the signed links that let a person act on it.

Every decision is told: approved (by the approval page, as it hands the proposal to the worker), then
how it ended (by the worker): applied, failed, rolled back, or not undone (`rollback_incomplete`,
high priority, with what is left and how to remove it); rejected; expired. A proposal's first notice,
once delivered, is recorded on it (`ProposalStore.mark_announced`), so that the daily sweep can tell
the ones never announced (`notify/pending.py`), and remind with fresh links those still waiting.
"""

from __future__ import annotations

import json
import logging
import shlex
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlencode

from rotation_doctor.apply.guardrails import Mode
from rotation_doctor.approvals import tokens
from rotation_doctor.model.findings import Verdict
from rotation_doctor.model.records import ProposedFix
from rotation_doctor.model.snapshot import arn_region
from rotation_doctor.model.states import OutcomeStatus, ProposalState, SecretAction
from rotation_doctor.notify.messages import WITH_LINKS, Kind, Leftover, Links, build
from rotation_doctor.notify.notifier import Channel, Delivery, Notifier

if TYPE_CHECKING:
    from rotation_doctor.analysis import Diagnosis
    from rotation_doctor.apply.executor import Outcome
    from rotation_doctor.approvals.store import Proposal, ProposalStore
    from rotation_doctor.collect.aws import AwsClients
    from rotation_doctor.model.records import Leftover as LeftInAccount
    from rotation_doctor.notify.security_hub import SecurityHubFindings

log = logging.getLogger(__name__)

# What a decided proposal's state tells people: every state a decision or its outcome leaves it in. `proposed` is
# told as a proposal (PROPOSED, REMINDER); `applying` is a moment inside the worker, told by how it ends.
DECISION_MESSAGES = {
    ProposalState.APPROVED: Kind.APPROVED,
    ProposalState.APPLIED: Kind.APPLIED_AFTER_APPROVAL,
    ProposalState.FAILED: Kind.FAILED,
    ProposalState.ROLLED_BACK: Kind.ROLLED_BACK,
    ProposalState.ROLLBACK_INCOMPLETE: Kind.ROLLBACK_INCOMPLETE,
    ProposalState.REJECTED: Kind.REJECTED,
    ProposalState.EXPIRED: Kind.EXPIRED,
    ProposalState.SUPERSEDED: Kind.SUPERSEDED,
}


# What applying in auto mode tells beyond "applied automatically": a failure undone, or one that could not be.
_AUTO_OUTCOMES = {
    OutcomeStatus.ROLLED_BACK: Kind.ROLLED_BACK,
    OutcomeStatus.ROLLBACK_INCOMPLETE: Kind.ROLLBACK_INCOMPLETE,
}


class KeySource(Protocol):
    """The HMAC key the links are signed with (`tokens.SigningKey` reads it from Secrets Manager)."""

    def get(self) -> bytes: ...


class SecretHandled(Protocol):
    """What the worker did with one secret: `rotation_doctor.service.batch.SecretReport`, a layer above."""

    @property
    def secret_arn(self) -> str: ...
    @property
    def verdict(self) -> Verdict: ...
    @property
    def action(self) -> SecretAction: ...
    @property
    def proposal_id(self) -> str | None: ...
    @property
    def applied(self) -> Sequence[str]: ...
    @property
    def diagnosis(self) -> Diagnosis | None: ...
    @property
    def outcome(self) -> Outcome | None: ...
    @property
    def superseded(self) -> Sequence[str]: ...


class ApprovalLinks:
    """Links to the approval page: the approve link carries both tokens, the reject link only its own."""

    def __init__(self, base_url: str, key: KeySource, lifetime: int = tokens.DEFAULT_LIFETIME) -> None:
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.lifetime = lifetime

    def for_proposal(self, proposal_id: str, plan_hash: str, generation: int, *, now: float | None = None) -> Links:
        """Fresh links for this round of the proposal, valid for `lifetime` from `now`."""
        key = self.key.get()
        lifetime = self.lifetime
        approve = tokens.issue(
            key, proposal_id, plan_hash, "approve", generation=generation, lifetime=lifetime, now=now
        )
        reject = tokens.issue(key, proposal_id, plan_hash, "reject", generation=generation, lifetime=lifetime, now=now)
        page = f"{self.base_url}/proposals/{proposal_id}"
        return Links(
            f"{page}?{urlencode({'approve': approve, 'reject': reject})}",
            f"{page}?{urlencode({'reject': reject})}",
            f"rotation-doctor proposals approve {proposal_id}",
        )


class VerdictLog:
    """The last verdict told for each secret, so that "healthy again" is said once, after trouble."""

    def __init__(self, clients: AwsClients, table: str) -> None:
        self.clients = clients
        self.table = table

    def swap(self, secret_arn: str, verdict: Verdict) -> str | None:
        response = self.clients.dynamodb.update_item(
            TableName=self.table,
            Key={"id": {"S": f"verdict#{secret_arn}"}},
            UpdateExpression="SET verdict = :v",
            ExpressionAttributeValues={":v": {"S": verdict.value}},
            ReturnValues="UPDATED_OLD",
        )
        previous = response.get("Attributes", {}).get("verdict", {}).get("S")
        return str(previous) if previous is not None else None


class Dispatcher:
    security_hub: SecurityHubFindings | None = None  # diagnoses as Security Hub findings (service/batch.py keeps them)

    def __init__(
        self,
        notifier: Notifier,
        mode: str,
        links: ApprovalLinks | None = None,
        verdicts: VerdictLog | None = None,
        store: ProposalStore | None = None,
    ) -> None:
        self.notifier = notifier
        self.mode = mode
        self.links = links
        self.verdicts = verdicts
        self.store = store

    def after_event(self, report: SecretHandled) -> None:
        """A secret handled by the worker: proposed, applied automatically, observed, or healthy (again)."""
        if report.action == SecretAction.COALESCED or report.diagnosis is None:
            return
        diagnosis = report.diagnosis
        verdict = Verdict(report.verdict)
        previous = self.verdicts.swap(report.secret_arn, verdict) if self.verdicts else None
        if verdict is Verdict.HEALTHY:
            if report.superseded and self.store is not None:  # healthy again, told with the fix no longer needed
                for pid in report.superseded:
                    proposal = self.store.get(pid)
                    said = (
                        "Secrets Manager rotated the secret successfully and rotation-doctor finds it healthy: "
                        f"the proposal is {ProposalState.SUPERSEDED.label}; nothing will be changed.",
                    )
                    self._send(Kind.SUPERSEDED, diagnosis, proposal.plan, proposal=proposal, outcome=said)
                return
            if previous not in (None, Verdict.HEALTHY):
                self._send(Kind.HEALTHY_AGAIN, diagnosis, ())
            return
        if report.applied:
            self._send(Kind.APPLIED_AUTOMATICALLY, diagnosis, (), outcome=(f"applied {', '.join(report.applied)}",))
        undone = _AUTO_OUTCOMES.get(report.outcome.status) if report.outcome is not None else None
        if report.outcome is not None and undone is not None:  # auto mode: a fix that failed is told, as after approval
            plan = tuple(ProposedFix.of(f) for f in report.outcome.plan.fixes)
            reason = (report.outcome.reason,) if report.outcome.reason else ()
            leftovers = _leftovers(report.outcome.leftovers, diagnosis.secret_arn)
            self._send(undone, diagnosis, plan, outcome=reason, leftovers=leftovers)
        told = (SecretAction.PROPOSED, SecretAction.APPLIED, SecretAction.NOT_APPLIED)
        if report.proposal_id and report.action in told and self.store is not None:
            proposal = self.store.get(report.proposal_id)
            self._send(Kind.PROPOSED, proposal.diagnosis, proposal.plan, proposal=proposal)
        elif report.action == SecretAction.OBSERVED:
            self._send(Kind.DIAGNOSED, diagnosis, ())

    def after_decision(self, proposal: Proposal, outcome: Outcome | None, fresh: Proposal | None = None) -> None:
        """A proposal decided on the approval page (approved, rejected), applied by the worker (how it ended), or an
        approval that could not be applied in time, asked again (proposed: why, with new links)."""
        if proposal.state is ProposalState.PROPOSED:
            why = str(proposal.history[-1].get("note", "")) if proposal.history else ""
            self._send(
                Kind.PROPOSED, proposal.diagnosis, proposal.plan, proposal=proposal, outcome=(why,) if why else ()
            )
            return
        kind = DECISION_MESSAGES.get(proposal.state)
        if kind is None:
            return
        diagnosis = outcome.after if outcome is not None and outcome.after is not None else proposal.diagnosis
        last = proposal.history[-1] if proposal.history else {}
        said = [f"{proposal.state.label.capitalize()} at {_when(int(last.get('at', 0)))}, by {last.get('by', '?')}."]
        if last.get("note"):
            said.append(str(last["note"]))
        if kind is Kind.APPROVED:
            said.append("The worker applies it now, re-planning first; how it ends is told next.")
        # Settled by reconciliation (no outcome): what is left is stored on the proposal.
        left = outcome.leftovers if outcome is not None else proposal.leftovers
        leftovers = _leftovers(left, diagnosis.secret_arn)
        self._send(kind, diagnosis, proposal.plan, proposal=proposal, outcome=tuple(said), leftovers=leftovers)
        if fresh is not None:
            self._send(Kind.PROPOSED, fresh.diagnosis, fresh.plan, proposal=fresh)

    def announce(self, proposal: Proposal, now: float) -> bool:
        """A proposal whose first notice is not recorded as delivered, told now with fresh links (recorded if it
        goes out)."""
        late = f"Proposed at {_when(proposal.created_at)}; no notice of it was recorded as delivered then."
        return (
            self._send(Kind.PROPOSED, proposal.diagnosis, proposal.plan, proposal=proposal, outcome=(late,), now=now)
            is Delivery.SENT
        )

    def remind(self, proposal: Proposal, now: float) -> bool:
        """A proposal still waiting for a person, told again with fresh links: at most once a day (the reminder is
        claimed on the proposal first, so two sweeps never both send it)."""
        if self.links is None or self.store is None:
            return False
        links_until = int(now) + self.links.lifetime
        if not self.store.claim_reminder(
            proposal.id, proposal.generation, day=int(now) // 86400, links_until=links_until
        ):
            return False
        said = (
            f"Proposed at {_when(proposal.created_at)}; the proposal expires at {_when(proposal.expires_at)}.",
            f"Links sent before expire after {self.links.lifetime // 3600} hours: these are new, valid until "
            f"{_when(links_until)}.",
        )
        sent = self._send(Kind.REMINDER, proposal.diagnosis, proposal.plan, proposal=proposal, outcome=said, now=now)
        return sent is Delivery.SENT

    def _send(
        self,
        kind: Kind,
        diagnosis: Diagnosis,
        plan: Sequence[ProposedFix],
        *,
        proposal: Proposal | None = None,
        outcome: tuple[str, ...] = (),
        leftovers: tuple[Leftover, ...] = (),
        now: float | None = None,
    ) -> Delivery:
        now = time.time() if now is None else now
        links = Links()
        links_until = 0
        if proposal is not None and kind in WITH_LINKS and self.links is not None:
            links = self.links.for_proposal(proposal.id, proposal.plan_hash, proposal.generation, now=now)
            links_until = int(now) + self.links.lifetime
        elif proposal is not None and kind in WITH_LINKS:
            links = Links(cli=f"rotation-doctor proposals approve {proposal.id}")
        message = build(
            kind,
            diagnosis,
            plan,
            mode=self.mode,
            proposal_id=proposal.id if proposal is not None else None,
            plan_hash=proposal.plan_hash if proposal is not None else None,
            outcome=outcome,
            links=links,
            generation=proposal.generation if proposal is not None else None,
            leftovers=leftovers,
        )
        try:
            delivery = self.notifier.notify(message)
        except Exception as exc:  # telling people must never break what it tells about
            log.warning("notification failed: %s", type(exc).__name__)
            return Delivery.FAILED
        if delivery is Delivery.SENT and kind is Kind.PROPOSED and proposal is not None and self.store is not None:
            try:
                self.store.mark_announced(proposal.id, proposal.generation, links_until=links_until)
            except Exception as exc:  # the sweep announces it again: a repeat, never a silence
                log.warning("could not record that %s was announced: %s", proposal.id, type(exc).__name__)
        return delivery


def _when(epoch: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))


def _leftovers(found: Sequence[LeftInAccount], secret_arn: str) -> tuple[Leftover, ...]:
    """What a failed undo left, each with the AWS CLI command that removes it (the undo call, exactly)."""
    from botocore import xform_name

    region = arn_region(secret_arn)
    out = []
    for left in found:
        remove = call = None
        if left.remove is not None:
            call = left.remove.to_json()
            params = json.dumps(call["params"], sort_keys=True, separators=(",", ":"))
            where = f" --region {region}" if region else ""
            remove = (
                f"aws {left.remove.service} {xform_name(left.remove.operation, '-')}{where} "
                f"--cli-input-json {shlex.quote(params)}"
            )
        out.append(Leftover(left.what, left.resource, left.error, remove, call))
    return tuple(out)


def dispatcher_from_env(
    env: Mapping[str, str],
    clients: AwsClients,
    store: ProposalStore | None = None,
    security_hub: SecurityHubFindings | None = None,
) -> Dispatcher | None:
    """The deployment's channels, and the worker's Security Hub findings (`security_hub.findings_from_env`): passed
    in, never imported here, so that the approval function, which builds a dispatcher too, holds no Security Hub
    (nor account-switching) code."""
    from rotation_doctor.notify.notifier import RepeatLog
    from rotation_doctor.notify.slack import SlackWebhook
    from rotation_doctor.notify.sns import SnsTopic

    channels: list[Channel] = []
    if env.get("NOTIFICATION_TOPIC_ARN"):
        channels.append(SnsTopic(clients, env["NOTIFICATION_TOPIC_ARN"]))
    if env.get("SLACK_WEBHOOK_SECRET_ARN"):
        channels.append(SlackWebhook(clients, env["SLACK_WEBHOOK_SECRET_ARN"]))
    if not channels and security_hub is None:
        return None
    table = env.get("PROPOSALS_TABLE")
    links = (
        ApprovalLinks(env["APPROVAL_URL"], tokens.SigningKey(clients, env["SIGNING_KEY_SECRET_ARN"]))
        if env.get("APPROVAL_URL") and env.get("SIGNING_KEY_SECRET_ARN")
        else None
    )
    dispatcher = Dispatcher(
        Notifier(channels, RepeatLog(clients, table) if table else None),
        env.get("ROTATION_DOCTOR_MODE", Mode.PROPOSE.value),
        links,
        VerdictLog(clients, table) if table else None,
        store,
    )
    dispatcher.security_hub = security_hub
    return dispatcher

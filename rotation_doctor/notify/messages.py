"""What rotation-doctor tells people, as data: one `Message` per event, whatever the channel.

Every message says, in its first line, which secret and what is wrong (or what happened); then the
findings one sentence each, the plan as the exact changes with risk and cost, and how to approve.
A fix that failed and could not be undone (`Kind.ROLLBACK_INCOMPLETE`) is high priority and lists
what is left in the account, each with the command that removes it.

A channel with a size limit shortens a message with `fit`, which drops the plan's lines first, then
findings, then (last) leftovers, and records what it left out so that the message says so.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from rotation_doctor.model.findings import Finding, PathName, Severity, Verdict
from rotation_doctor.model.plan import LinkStatus
from rotation_doctor.model.snapshot import arn_account, arn_region

if TYPE_CHECKING:
    from rotation_doctor.analysis import Diagnosis
    from rotation_doctor.model.records import ProposedFix


class Kind(StrEnum):
    DIAGNOSED = "rotation will fail"  # observe mode: told, nothing proposed
    PROPOSED = "proposal created"
    APPLIED_AUTOMATICALLY = "fix applied automatically"
    APPLIED_AFTER_APPROVAL = "fix applied after approval"
    ROLLED_BACK = "fix failed and rolled back"
    REJECTED = "proposal rejected"
    EXPIRED = "proposal expired"
    HEALTHY_AGAIN = "healthy again"
    APPROVED = "fix approved, applying"  # on the approval page; the worker tells how it ended
    FAILED = "approved fix failed"
    ROLLBACK_INCOMPLETE = "fix failed, not undone"  # high priority: something is left in the account
    REMINDER = "proposal waiting for approval"  # the daily sweep, with fresh links
    SUPERSEDED = "healthy again, proposal superseded"  # a rotation succeeded: the proposed fix is not needed


# Told once per window (notifier.RepeatLog): the same secret, findings and plan (and round of a proposal) are a
# repeat. Decisions, outcomes and reminders are told every time.
TOLD_ONCE_PER_WINDOW = frozenset({Kind.DIAGNOSED, Kind.PROPOSED, Kind.HEALTHY_AGAIN})
# Kinds that carry fresh approval links.
WITH_LINKS = frozenset({Kind.PROPOSED, Kind.REMINDER})


class Priority(StrEnum):
    NORMAL = "normal"
    HIGH = "high"  # someone must act: told on every channel, marked in the subject, an attribute and a Slack ping


@dataclass(frozen=True)
class Leftover:
    """Something a failed fix left in the account because its undo failed too."""

    what: str  # the plan's line for the change, e.g. "+ interface endpoint vpce-... in subnet-..."
    resource: str | None  # its id (None: AWS never returned it)
    error: str  # why the undo failed
    remove: str | None = None  # the command that removes it (None: the id it needs is unknown)
    call: Mapping[str, Any] | None = None  # the same call as data: service, operation, params

    def to_json(self) -> dict[str, Any]:
        return {
            "what": self.what,
            "resource": self.resource,
            "error": self.error,
            "remove": self.remove,
            "call": dict(self.call) if self.call is not None else None,
        }


@dataclass(frozen=True)
class Omitted:
    """What `fit` left out of a message to keep it within a channel's limit (counts)."""

    changes: int = 0
    findings: int = 0
    leftovers: int = 0
    outcome: int = 0

    def __bool__(self) -> bool:
        return any((self.changes, self.findings, self.leftovers, self.outcome))

    def to_json(self) -> dict[str, int]:
        return {
            "changes": self.changes,
            "findings": self.findings,
            "leftovers": self.leftovers,
            "outcome": self.outcome,
        }


@dataclass(frozen=True)
class Links:
    approve: str | None = None  # the approval page, opened ready to approve
    reject: str | None = None  # the same page, for rejecting
    cli: str | None = None  # the command that does the same from a laptop


@dataclass(frozen=True)
class Message:
    kind: Kind
    secret_name: str
    secret_arn: str
    verdict: str
    mode: str
    headline: str
    findings: tuple[str, ...] = ()
    changes: tuple[tuple[str, str, tuple[str, ...]], ...] = ()  # (kind, risk, exact changes)
    costs: tuple[str, ...] = ()
    outcome: tuple[str, ...] = ()
    proposal_id: str | None = None
    plan_hash: str | None = None
    links: Links = field(default_factory=Links)
    generation: int | None = None  # the proposal's round: its links are bound to it
    leftovers: tuple[Leftover, ...] = ()
    omitted: Omitted = field(default_factory=Omitted)  # what a channel's limit left out
    plan_risk: str | None = None  # the whole plan's risk, kept when `fit` drops fixes

    @property
    def priority(self) -> Priority:
        return Priority.HIGH if self.kind is Kind.ROLLBACK_INCOMPLETE else Priority.NORMAL

    @property
    def account(self) -> str:
        return arn_account(self.secret_arn)

    @property
    def region(self) -> str:
        return arn_region(self.secret_arn)

    @property
    def risk(self) -> str:
        if self.plan_risk is not None:
            return self.plan_risk
        order = ["low", "medium", "high", "never automatic"]
        risks = [r for _, r, _ in self.changes if r in order]
        return max(risks, key=order.index) if risks else "none"

    @property
    def fingerprint(self) -> str:
        """Same secret, same findings, same plan, same kind, same round of the proposal: a repeat. A plan proposed
        again (a new generation) is news: its links are new."""
        key = json.dumps(
            [str(self.kind), self.secret_arn, sorted(self.findings), self.plan_hash, self.generation], sort_keys=True
        )
        return hashlib.sha256(key.encode()).hexdigest()[:32]

    @property
    def where_all_is(self) -> str:
        """Where a person sees everything a shortened message leaves out."""
        places = []
        if self.links.approve:
            places.append("on the approval page (Review and approve)")
        if self.proposal_id:
            places.append(f"with `rotation-doctor proposals show {self.proposal_id}`")
        else:
            places.append(f"with `rotation-doctor plan {self.secret_name}`")
        return " and ".join(places)

    def shortened_note(self) -> str | None:
        """What a shortened message says about it (None: nothing was left out)."""
        if not self.omitted:
            return None
        counts = (
            (self.omitted.changes, "change of the plan", "changes of the plan"),
            (self.omitted.findings, "finding", "findings"),
            (self.omitted.leftovers, "leftover", "leftovers"),
            (self.omitted.outcome, "line of what happened", "lines of what happened"),
        )
        parts = [f"{n} {one if n == 1 else many}" for n, one, many in counts if n]
        return f"This message is shortened to fit the channel's size limit: {', '.join(parts)} not shown. " + (
            f"All of it is {self.where_all_is}."
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind),
            "secret": {"name": self.secret_name, "arn": self.secret_arn},
            "account": self.account,
            "region": self.region,
            "verdict": self.verdict,
            "mode": self.mode,
            "risk": self.risk,
            "headline": self.headline,
            "findings": list(self.findings),
            "plan": [{"kind": k, "risk": r, "changes": list(c)} for k, r, c in self.changes],
            "costs": list(self.costs),
            "outcome": list(self.outcome),
            "proposal_id": self.proposal_id,
            "plan_hash": self.plan_hash,
            "links": {"approve": self.links.approve, "reject": self.links.reject, "cli": self.links.cli},
            "priority": str(self.priority),
            "generation": self.generation,
            "leftovers": [left.to_json() for left in self.leftovers],
            "shortened": self.omitted.to_json() if self.omitted else None,
        }


_HEADLINES = {
    Kind.DIAGNOSED: "{name}: {problem}. Approval mode is observe: nothing is proposed or changed.",
    Kind.PROPOSED: "{name}: {problem}. A fix is proposed and waits for approval.",
    Kind.APPLIED_AUTOMATICALLY: "{name}: {problem}. rotation-doctor fixed it ({mode} mode).",
    Kind.APPLIED_AFTER_APPROVAL: "{name}: the approved fix is applied.",
    Kind.ROLLED_BACK: "{name}: the fix failed and was rolled back; {problem}.",
    Kind.REJECTED: "{name}: the proposed fix was rejected; {problem}.",
    Kind.EXPIRED: "{name}: the proposed fix expired unapplied; {problem}.",
    Kind.HEALTHY_AGAIN: "{name}: rotation can reach Secrets Manager and the database again.",
    Kind.APPROVED: "{name}: the proposed fix was approved; rotation-doctor is applying it now.",
    Kind.FAILED: "{name}: the approved fix failed; {problem}.",
    Kind.ROLLBACK_INCOMPLETE: "{name}: ACTION NEEDED. The fix failed and undoing it failed too: {left}. {problem_cap}.",
    Kind.REMINDER: "{name}: {problem}. A proposed fix still waits for approval; the links below are new.",
    Kind.SUPERSEDED: "{name}: healthy again (rotation succeeded). The proposed fix is no longer needed: nothing "
    "will be changed.",
}


def build(
    kind: Kind,
    diagnosis: Diagnosis,
    plan: Sequence[ProposedFix],
    *,
    mode: str,
    proposal_id: str | None = None,
    plan_hash: str | None = None,
    outcome: tuple[str, ...] = (),
    links: Links | None = None,
    generation: int | None = None,
    leftovers: tuple[Leftover, ...] = (),
) -> Message:
    """A message about a diagnosis and a plan (made now, or as a proposal stores them)."""
    findings = [f for f in diagnosis.findings if f.severity is not Severity.INFO]
    problem = _problem(diagnosis.verdict, findings)
    name = diagnosis.secret_name
    if leftovers:
        n = len(leftovers)
        left = (
            f"{n} change{'s are' if n != 1 else ' is'} left in the account; remove {'them' if n != 1 else 'it'} by hand"
        )
    else:
        left = "changes may be left in the account (the proposal's history says which)"
    return Message(
        kind=kind,
        secret_name=name,
        secret_arn=diagnosis.secret_arn,
        verdict=str(diagnosis.verdict),
        mode=mode,
        headline=_HEADLINES[kind].format(
            name=name,
            problem=problem,
            problem_cap=problem[:1].upper() + problem[1:],
            mode=mode,
            left=left,
        ),
        findings=tuple(f"{f.code}: {f.summary}" for f in findings),
        changes=tuple((str(f.kind), str(f.risk), _changes(f)) for f in plan),
        costs=tuple(f"{f.kind}: {f.cost}" for f in plan if f.cost),
        outcome=outcome,
        proposal_id=proposal_id,
        plan_hash=plan_hash,
        links=links or Links(),
        generation=generation,
        leftovers=leftovers,
    )


def _changes(fix: ProposedFix) -> tuple[str, ...]:
    """The exact changes; first, when the database is not linked to the secret, a plain warning saying so."""
    says = tuple(s.says for s in fix.steps)
    if fix.link.status is LinkStatus.UNPROVEN:
        return (f"! not linked to this secret: {fix.link.proof}", *says)
    return says


_WHAT_FAILS = {
    PathName.SM: "cannot reach Secrets Manager",
    PathName.DB: "cannot reach its database",
    PathName.INVOKE: "Secrets Manager may not invoke the rotation function",
    PathName.CONFIG: "rotation is misconfigured",
}


def _problem(verdict: Verdict, findings: list[Finding]) -> str:
    if not findings:
        return f"rotation is {verdict}"
    first = findings[0]
    what = _WHAT_FAILS.get(first.path, "rotation will fail")
    more = f" (and {len(findings) - 1} more finding{'s' if len(findings) > 2 else ''})" if len(findings) > 1 else ""
    return (
        f"rotation is {verdict}: the function {what}{more}"
        if first.path in (PathName.SM, PathName.DB)
        else f"rotation is {verdict}: {what}{more}"
    )


def fit(message: Message, fits: Callable[[Message], bool]) -> Message:
    """The message as it is when it `fits`, else shortened until it does: the plan's lines go first (from the end),
    then findings, then leftovers, then outcome lines; `omitted` counts what went, for the message to say so.
    Each step keeps as much as fits (a binary search: what is left grows with what is kept)."""
    if fits(message):
        return message
    steps_total = sum(len(steps) for _, _, steps in message.changes)
    base = replace(message, plan_risk=message.risk)

    def trimmed(changes: int, findings: int, leftovers: int, outcome: int) -> Message:
        return _trimmed(base, changes, findings, leftovers, outcome)

    sizes = [steps_total, len(message.findings), len(message.leftovers), len(message.outcome)]
    kept = list(sizes)
    for stage in range(len(sizes)):  # shrink one part at a time, keeping the earlier parts' cuts
        kept[stage] = 0
        if not fits(trimmed(*kept)):
            continue
        low, high = 0, sizes[stage]  # 0 fits; find the most that does
        while low < high:
            middle = (low + high + 1) // 2
            kept[stage] = middle
            if fits(trimmed(*kept)):
                low = middle
            else:
                high = middle - 1
        kept[stage] = low
        return trimmed(*kept)
    return trimmed(*kept)  # nothing but the headline, the secret and the links: as short as it gets


def _trimmed(message: Message, changes: int, findings: int, leftovers: int, outcome: int) -> Message:
    kept_changes: list[tuple[str, str, tuple[str, ...]]] = []
    room = changes
    for kind, risk, steps in message.changes:
        if room <= 0:
            break
        kept_changes.append((kind, risk, steps[:room]))
        room -= len(steps[:room])
    kinds = {kind for kind, _, _ in kept_changes}
    steps_total = sum(len(steps) for _, _, steps in message.changes)
    return replace(
        message,
        changes=tuple(kept_changes),
        costs=tuple(c for c in message.costs if c.split(":", 1)[0] in kinds),
        findings=message.findings[:findings],
        leftovers=message.leftovers[:leftovers],
        outcome=message.outcome[:outcome],
        omitted=Omitted(
            changes=steps_total - min(changes, steps_total),
            findings=len(message.findings) - len(message.findings[:findings]),
            leftovers=len(message.leftovers) - len(message.leftovers[:leftovers]),
            outcome=len(message.outcome) - len(message.outcome[:outcome]),
        ),
    )

"""What a planned change does to each secret: its snapshot before and after, diagnosed by the same analyzer, and
the difference. Pure: the snapshots and the changes in, the report out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from rotation_doctor.analysis import Diagnosis, diagnose
from rotation_doctor.analysis.sm_path import secrets_manager_endpoints
from rotation_doctor.analysis.usage import resources_used
from rotation_doctor.model.findings import Finding, Severity, Verdict
from rotation_doctor.model.reads import Read
from rotation_doctor.model.snapshot import FactKey, Snapshot
from rotation_doctor.whatif.changes import EVERYTHING, Change, Handling, Source, apply_changes, is_new_id


class Effect(StrEnum):
    BREAKS = "breaks"  # broken after, not before
    DEGRADES = "degrades"  # degraded after, healthy or unknown before
    UNKNOWN = "unknown"  # something it uses changes in a way that cannot be judged
    WORSENS = "worsens"  # the same verdict, with new warnings or errors
    HEALS = "heals"  # healthy after, not before
    IMPROVES = "improves"  # better, not yet healthy
    UNCHANGED = "unchanged"


# What the gate fails on unless told otherwise (`what-if --fail-on`).
FAILING = frozenset({Effect.BREAKS, Effect.DEGRADES, Effect.UNKNOWN, Effect.WORSENS})
_RANK = {Verdict.HEALTHY: 0, Verdict.UNKNOWN: 1, Verdict.DEGRADED: 2, Verdict.BROKEN: 3}


def _key(f: Finding) -> tuple[str, str]:
    return (f.code, str(f.path))


@dataclass(frozen=True)
class SecretEffect:
    before: Diagnosis
    after: Diagnosis
    effect: Effect
    changes: tuple[str, ...]  # the addresses of the changes that touch what its paths use
    not_evaluated: tuple[str, ...]  # why part of it cannot be judged ("address: reason")

    @property
    def new_findings(self) -> tuple[Finding, ...]:
        old = {_key(f) for f in self.before.findings}
        return tuple(f for f in self.after.findings if _key(f) not in old and f.severity is not Severity.INFO)

    @property
    def resolved_findings(self) -> tuple[Finding, ...]:
        new = {_key(f) for f in self.after.findings}
        return tuple(f for f in self.before.findings if _key(f) not in new and f.severity is not Severity.INFO)

    def to_json(self) -> dict[str, Any]:
        return {
            "secret": self.before.secret_json(),
            "effect": str(self.effect),
            "before": str(self.before.verdict),
            "after": str(self.after.verdict),
            "new_findings": [f.to_json() for f in self.new_findings],
            "resolved_findings": [f.to_json() for f in self.resolved_findings],
            "findings_after": [f.to_json() for f in self.after.findings],
            "changes": list(self.changes),
            "not_evaluated": list(self.not_evaluated),
        }


@dataclass(frozen=True)
class Report:
    source: Source
    secrets: tuple[SecretEffect, ...]  # every secret a change touches, worst first
    checked: int  # the Lambda-rotated secrets read
    # The facts the diagnoses after the changes looked up and the snapshots lack (a new endpoint's VPC's DNS
    # attributes): what a second round of reads would add (`run.what_if`). Never shown.
    unread: frozenset[Read] = frozenset()

    @property
    def failing(self) -> bool:
        return self.fails(FAILING)

    def fails(self, on: frozenset[Effect]) -> bool:
        """The gate: does any secret take one of the effects `on` (what `what-if --fail-on` names)?"""
        return any(s.effect in on for s in self.secrets)

    def count(self, effect: Effect) -> int:
        return sum(1 for s in self.secrets if s.effect is effect)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": {"kind": self.source.kind, "name": self.source.name},
            "summary": {
                "secrets_checked": self.checked,
                "secrets_touched": len(self.secrets),
                **{str(e): self.count(e) for e in Effect},
                "changes": len(self.source.changes),
                "not_evaluated": sum(1 for c in self.source.changes if c.mapping is Handling.NOT_EVALUATED),
            },
            "secrets": [s.to_json() for s in self.secrets],
            "changes": [c.to_json() for c in self.source.changes],
        }


def _unread(snap: Snapshot) -> list[Read]:
    """What the paths use after the change that the account read did not hold (a group or subnet the change
    newly points at): without its facts the path cannot be judged. Asked of the plan, not of the diagnosis, which
    may stop before it (a path not evaluated while DNS is unread never looks at the endpoint's group): a second
    round reads all of it at once."""
    fn, db = snap.function, snap.database
    groups = [*(fn.security_group_ids if fn else ()), *(db.security_group_ids if db else ())]
    if fn is not None and fn.vpc_id:
        groups += [g for e in snap.vpc_endpoints if e.vpc_id == fn.vpc_id for g in e.group_ids]
    subnets = [*(fn.subnet_ids if fn else ())]
    missing = [Read(FactKey.SECURITY_GROUPS, g) for g in dict.fromkeys(groups) if g not in snap.security_groups]
    missing += [Read(FactKey.SUBNETS, s) for s in dict.fromkeys(subnets) if s not in snap.subnets]
    # The account read reads a VPC's DNS attributes only where a private-DNS endpoint is: one the change adds
    # elsewhere would otherwise be judged with DNS taken as off.
    vpc = fn.vpc_id if fn is not None else None
    unread_dns = vpc and vpc not in snap.dns_attributes and not snap.failure(FactKey.DNS_ATTRIBUTES, vpc)
    if unread_dns and any(e.private_dns_enabled for e in secrets_manager_endpoints(snap, str(vpc))):
        missing.append(Read(FactKey.DNS_ATTRIBUTES, vpc))
    return missing


def _named(read: Read) -> str:
    """A fact not read, as the report names it."""
    if read.kind == FactKey.DNS_ATTRIBUTES:
        return f"the DNS attributes of {read.key}"
    if read.kind == FactKey.HOSTED_ZONES:
        return f"the private hosted zones of {read.key}"
    return str(read.key)


def _effect(before: Diagnosis, after: Diagnosis, entry: SecretEffect | None = None) -> Effect:
    b, a = _RANK[before.verdict], _RANK[after.verdict]
    if a > b:
        return {Verdict.BROKEN: Effect.BREAKS, Verdict.DEGRADED: Effect.DEGRADES}.get(after.verdict, Effect.UNKNOWN)
    if a < b:
        return Effect.HEALS if after.verdict is Verdict.HEALTHY else Effect.IMPROVES
    if entry is not None and entry.new_findings:
        return Effect.WORSENS
    if entry is not None and entry.resolved_findings:
        return Effect.IMPROVES
    return Effect.UNCHANGED


def _fingerprint(d: Diagnosis) -> tuple[Verdict, frozenset[tuple[str, str]]]:
    return d.verdict, frozenset(_key(f) for f in d.findings)


def _judged_by_effect(snap: Snapshot, diagnosis: Diagnosis, others: Mapping[int, Change]) -> set[int]:
    """The positions of the mapped changes whose ids the secret's diagnosis did not read but which change it all
    the same (a change whose `touches` misses a fact it edits): a change is never "untouched" while applying it
    changes what the analyzer says."""
    mapped = {p: c for p, c in others.items() if c.mapping is Handling.MAPPED}
    if not mapped or _fingerprint(diagnose(apply_changes(snap, mapped.values()))) == _fingerprint(diagnosis):
        return set()
    return {p for p, c in mapped.items() if _fingerprint(diagnose(apply_changes(snap, [c]))) != _fingerprint(diagnosis)}


class _Index:
    """The changes by each id they touch, made once per plan: picking a secret's changes costs what its paths use,
    never the plan's size times that (membership tests over lists made 27,000 changes take a minute)."""

    def __init__(self, changes: Sequence[Change]) -> None:
        self.changes = changes
        self.by_id: dict[str, list[int]] = {}
        for position, change in enumerate(changes):
            for touched in change.touches():
                self.by_id.setdefault(touched, []).append(position)
        self.everything = self.by_id.get(EVERYTHING, [])

    def touching(self, used: AbstractSet[str]) -> set[int]:
        """The positions of the changes that touch what is used, and of those creating what they point at (a new
        group a function moves to): the new resources are judged with the change that uses them."""
        picked = set(self.everything)
        for used_id in used:
            picked.update(self.by_id.get(used_id, ()))
        pending = {t for p in picked for t in self.changes[p].touches() if is_new_id(t)}
        seen: set[str] = set()
        while pending:
            stand_in = pending.pop()
            seen.add(stand_in)
            for position in self.by_id.get(stand_in, ()):
                if position not in picked:
                    picked.add(position)
                    pending |= {t for t in self.changes[position].touches() if is_new_id(t) and t not in seen}
        return picked


def _reasons(snap_after: Snapshot, after: Diagnosis, touching: Sequence[Change], used: AbstractSet[str]) -> list[str]:
    """Why part of the secret cannot be judged: each not-evaluated edit that touches what its paths use, saying
    through what it could join them (a replaced group's old id: only while the paths still use it afterwards)."""
    reasons: list[str] = []
    used_after: AbstractSet[str] | None = None
    for change in touching:
        for edit in change.not_evaluated():
            if edit.while_used:
                used_after = resources_used(snap_after, after) if used_after is None else used_after
                joins = edit.ids & used_after
            else:
                joins = edit.touches() & used
                if not joins and EVERYTHING not in edit.touches():
                    continue
            if edit.while_used and not joins:
                continue
            through = f" (this secret's path uses {', '.join(sorted(joins)[:3])})" if joins else ""
            reasons.append(f"{change.address}: {edit.reason}{through}")
    return reasons


def assess(
    snapshots: Sequence[Snapshot],
    source: Source,
    before: Sequence[Diagnosis] | None = None,
    unreadable: AbstractSet[tuple[str, str]] = frozenset(),
) -> Report:
    """Each secret whose paths use anything the changes touch, diagnosed before and after them. `unreadable`: the
    (kind, id) a second round of reads failed for: a diagnosis after the changes that looks one up is unknown."""
    firsts = before if before is not None else [diagnose(s) for s in snapshots]
    index = _Index(source.changes)
    found: list[SecretEffect] = []
    missed: set[Read] = set()
    for snap, first in zip(snapshots, firsts, strict=True):
        used = resources_used(snap, first)
        picked = index.touching(used)
        touching = [source.changes[p] for p in sorted(picked)]
        after_snap = apply_changes(snap, touching)
        after = diagnose(after_snap) if touching else first
        others = {p: c for p, c in enumerate(source.changes) if p not in picked}
        extra = _judged_by_effect(after_snap, after, others)
        if extra:
            touching = [source.changes[p] for p in sorted(picked | extra)]
            after_snap = apply_changes(snap, touching)
            after = diagnose(after_snap)
        if not touching:
            continue
        reasons = _reasons(after_snap, after, touching, used)
        missed |= after.reads.missed
        not_held = _unread(after_snap)
        missed |= set(not_held)
        refused = sorted((r for r in after.reads.missed if (r.kind, r.key) in unreadable), key=str)
        missing = dict.fromkeys(map(_named, [*not_held, *refused]))
        unread = [f"{m}: not read with the account (the change newly uses it)" for m in missing]
        # A change not evaluated leaves a definite breakage standing; facts never read leave nothing standing, as
        # the breakage may be theirs (a private-DNS endpoint judged with DNS taken as off).
        if unread or (reasons and after.verdict is not Verdict.BROKEN):
            after = replace(after, verdict=Verdict.UNKNOWN)
        reasons += unread
        entry = SecretEffect(first, after, Effect.UNCHANGED, tuple(c.address for c in touching), tuple(reasons))
        effect = Effect.UNKNOWN if reasons and after.verdict is Verdict.UNKNOWN else _effect(first, after, entry)
        found.append(replace(entry, effect=effect))
    order = list(Effect)
    found.sort(key=lambda s: (order.index(s.effect), s.before.secret_name))
    return Report(source, tuple(found), len(snapshots), frozenset(missed))

"""What a proposal stores, typed: the plan as it was proposed, and the findings of the diagnosis that raised it.

A proposal's item holds its plan and diagnosis as JSON strings (approvals/store.py). They are read into types once,
where the item is read (`store._proposal`), and every reader after that (the approval page, the notices, `proposals
show`) reads attributes, never keys. Records in users' tables are never migrated: each `from_json` reads what
earlier versions wrote (tests/test_records.py holds a stored fixture to it), and each `to_json` gives back the same
keys in the same order.

A proposed plan is a record of what people were asked to approve, not something to run: the executor always plans
afresh and compares hashes. So it is its own type (`ProposedFix`), fixed to the stored format, and not `Fix`, which
may change with the fix kinds and holds what only a run needs (the error codes that mean "already done").

A stored value this version cannot read (an unknown fix kind, finding code or risk; a missing key; a wrong type) is
`RecordInvalid`, named where it is read, never a KeyError deep in a renderer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from rotation_doctor.model.errors import RecordInvalid
from rotation_doctor.model.findings import Code, Finding, Severity
from rotation_doctor.model.plan import Call, Fix, FixKind, Link, LinkStatus, ResourceKind, Risk, Step, Written

JsonObject = Mapping[str, Any]  # a JSON object as json.loads gives it: its values are checked where they are read
E = TypeVar("E", bound=StrEnum)


def text(raw: JsonObject, key: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str):
        raise RecordInvalid(f"{key!r} is not a string")
    return value


def optional_text(raw: JsonObject, key: str) -> str | None:
    value = raw.get(key)
    return None if value is None else text(raw, key)


def member(enum: type[E], raw: JsonObject, key: str) -> E:
    try:
        return enum(text(raw, key))
    except ValueError as exc:
        raise RecordInvalid(f"{key!r} is not a {enum.__name__} this version knows: {raw.get(key)!r}") from exc


def texts(raw: JsonObject, key: str) -> tuple[str, ...]:
    values = raw.get(key, [])
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise RecordInvalid(f"{key!r} is not a list of strings")
    return tuple(values)


def objects(raw: JsonObject, key: str) -> list[JsonObject]:
    values = raw.get(key, [])
    if not isinstance(values, list) or not all(isinstance(v, Mapping) for v in values):
        raise RecordInvalid(f"{key!r} is not a list of objects")
    return values


def obj(raw: JsonObject, key: str) -> JsonObject:
    value = raw.get(key)
    if not isinstance(value, Mapping):
        raise RecordInvalid(f"{key!r} is not an object")
    return value


def call_from_json(raw: JsonObject) -> Call:
    """A call as plans, journals and leftovers store it (`Call.to_json`)."""
    return Call(text(raw, "service"), text(raw, "operation"), obj(raw, "params"))


def finding_from_json(raw: JsonObject) -> Finding:
    """A finding as a stored diagnosis holds it (`Finding.to_json`; its path follows from its code). Its evidence is
    for people and stays the JSON it was; the typed `facts` fix kinds read are not stored."""
    evidence = raw.get("evidence", {})
    if not isinstance(evidence, Mapping):
        raise RecordInvalid("'evidence' is not an object")
    return Finding(
        member(Code, raw, "code"),
        member(Severity, raw, "severity"),
        text(raw, "summary"),
        texts(raw, "resources"),
        dict(evidence),
    )


@dataclass(frozen=True)
class ProposedStep:
    """One call of a proposed fix, as people were shown it (`Step.to_json`)."""

    id: str
    call: Call
    says: str
    undo: Call | None = None
    outputs: Mapping[str, str] = field(default_factory=dict)
    wait: str | None = None

    @classmethod
    def of(cls, step: Step) -> ProposedStep:
        return cls(step.id, step.call, step.says, step.undo, dict(step.outputs), step.wait)

    @classmethod
    def from_json(cls, raw: JsonObject) -> ProposedStep:
        undo = raw.get("undo")
        outputs = raw.get("outputs", {})
        if not isinstance(outputs, Mapping) or not all(isinstance(v, str) for v in outputs.values()):
            raise RecordInvalid("'outputs' is not an object of strings")
        return cls(
            text(raw, "id"),
            call_from_json(raw),
            text(raw, "says"),
            call_from_json(obj(raw, "undo")) if undo is not None else None,
            dict(outputs),
            optional_text(raw, "wait"),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, **self.call.to_json(), "says": self.says}
        if self.undo is not None:
            out["undo"] = self.undo.to_json()
        if self.outputs:
            out["outputs"] = dict(self.outputs)
        if self.wait:
            out["wait"] = self.wait
        return out


@dataclass(frozen=True)
class ProposedFix:
    """One fix of a proposed plan, as people were shown it and approve it (`Fix.to_json`)."""

    kind: FixKind
    risk: Risk
    link: Link
    summary: str
    fixes: tuple[Code, ...]
    writes: tuple[Written, ...]
    vpc: str | None
    cost: str | None
    notes: tuple[str, ...]
    steps: tuple[ProposedStep, ...]

    @classmethod
    def of(cls, fix: Fix) -> ProposedFix:
        """A fix of a plan made now, as a proposal records it."""
        return cls(
            fix.kind,
            fix.risk,
            fix.link,
            fix.summary,
            fix.fixes,
            fix.writes,
            fix.vpc_id,
            fix.cost,
            fix.notes,
            tuple(ProposedStep.of(s) for s in fix.steps),
        )

    @classmethod
    def from_json(cls, raw: JsonObject) -> ProposedFix:
        link = obj(raw, "link")
        by_person_only = link.get("by_person_only", False)
        if not isinstance(by_person_only, bool):
            raise RecordInvalid("'by_person_only' is not a boolean")
        codes = texts(raw, "fixes")
        if any(c not in Code.__members__ for c in codes):
            raise RecordInvalid(f"'fixes' names a finding code this version does not know: {codes}")
        return cls(
            member(FixKind, raw, "kind"),
            member(Risk, raw, "risk"),
            Link(member(LinkStatus, link, "status"), text(link, "proof"), by_person_only),
            text(raw, "summary"),
            tuple(Code(c) for c in codes),
            tuple(Written(member(ResourceKind, w, "kind"), text(w, "id")) for w in objects(raw, "writes")),
            optional_text(raw, "vpc"),
            optional_text(raw, "cost"),
            texts(raw, "notes"),
            tuple(ProposedStep.from_json(s) for s in objects(raw, "steps")),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind),
            "risk": str(self.risk),
            "link": self.link.to_json(),
            "summary": self.summary,
            "fixes": [str(code) for code in self.fixes],
            "writes": [{"kind": str(w.kind), "id": w.id} for w in self.writes],
            "vpc": self.vpc,
            "cost": self.cost,
            "notes": list(self.notes),
            "steps": [s.to_json() for s in self.steps],
        }


@dataclass(frozen=True)
class JournalEntry:
    """A write AWS accepted, recorded before anything else happens, with the call that undoes it. If the
    process dies mid-apply, reconciliation undoes from these (the proposal store keeps them)."""

    step: str
    what: str
    resource: str | None
    undo: Call | None  # None: it has no undo, or the id the undo needs was never returned

    def to_json(self) -> dict[str, Any]:
        undo = self.undo.to_json() if self.undo is not None else None
        return {"step": self.step, "what": self.what, "resource": self.resource, "undo": undo}

    @classmethod
    def from_json(cls, raw: JsonObject) -> JournalEntry:
        undo = raw.get("undo")
        call = call_from_json(obj(raw, "undo")) if undo else None
        return cls(text(raw, "step"), text(raw, "what"), optional_text(raw, "resource"), call)


@dataclass(frozen=True)
class Leftover:
    """Something a failed apply could not undo: what it is, its id, and the call that would remove it."""

    step: str
    what: str  # the step's line of the plan, e.g. "+ interface endpoint vpce-... in subnet-..."
    resource: str | None  # its id, when AWS returned one
    remove: Call | None  # the undo call as it would run now (None: the id to put in it is unknown)
    error: str  # why the undo failed

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "what": self.what,
            "resource": self.resource,
            "remove": self.remove.to_json() if self.remove is not None else None,
            "error": self.error,
        }

    @classmethod
    def from_json(cls, raw: JsonObject) -> Leftover:
        """As a proposal stores it (reconciliation's leftovers are told from the proposal)."""
        remove = raw.get("remove")
        call = call_from_json(obj(raw, "remove")) if remove else None
        error = optional_text(raw, "error") or ""
        return cls(text(raw, "step"), text(raw, "what"), optional_text(raw, "resource"), call, error)

"""The typed change model of `what-if`: what a planned change does to the facts of a snapshot, and applying it.

A Terraform plan and a CloudFormation change set are both read into `Change`s (one per planned resource change),
each holding `Edit`s: the one vocabulary of changes to a snapshot (`model.edits`), which fix kinds speak too. An
edit names the ids it `touches`: a secret whose paths use one of them (`analysis.usage`) is diagnosed again.
`NotEvaluated` is the edit for what cannot be mapped (a value known only after apply, a type that may touch a path
but is not modelled): it changes nothing and makes the secrets it touches `unknown`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from rotation_doctor.model.edits import Edit, apply
from rotation_doctor.model.snapshot import NaclEntry, SecurityGroupRule, Snapshot

EVERYTHING = "*"  # a `touches` entry: every secret (an unmapped change that names no id)


class BadPlan(ValueError):
    """The file is not the JSON of `terraform show -json PLAN`."""


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    REPLACE = "replace"


class Handling(StrEnum):
    """How a change was understood."""

    MAPPED = "mapped"  # its effect on the snapshot is applied
    NO_EFFECT = "no_effect"  # a supported type whose change touches no rotation path (a new group nobody uses)
    NOT_EVALUATED = "not_evaluated"  # it may touch a path but cannot be judged: the secrets it touches are unknown
    IGNORED = "ignored"  # a type that cannot touch a rotation path (an S3 bucket)


_NEW = "(new "


def new_id(address: str) -> str:
    """The stand-in id of a resource the change creates (AWS gives it its id only when it is applied)."""
    return f"{_NEW}{address})"


def is_new_id(value: str) -> bool:
    """Whether `value` is the stand-in id of a resource the changes create (never an id AWS gave)."""
    return value.startswith(_NEW) and value.endswith(")")


# ----- what cannot be mapped ---------------------------------------------------------------------


@dataclass(frozen=True)
class NotEvaluated(Edit):
    """Changes nothing; the secrets whose paths use what it touches are `unknown` after it (`while_used`: only
    those whose paths still use it once every change is applied, as a replaced group's old id)."""

    ids: frozenset[str]
    reason: str
    while_used: bool = False

    def touches(self) -> frozenset[str]:
        return self.ids or frozenset({EVERYTHING})

    def applied(self, snap: Snapshot) -> Snapshot:
        return snap


@dataclass(frozen=True)
class Change:
    """One planned resource change and what it does to the snapshot."""

    address: str  # Terraform's address, or the change set's logical id
    resource_type: str
    action: Action
    edits: tuple[Edit, ...] = ()
    mapping: Handling = Handling.MAPPED
    note: str = ""
    physical_id: str | None = None

    def touches(self) -> frozenset[str]:
        return frozenset().union(*(e.touches() for e in self.edits))

    def not_evaluated(self) -> tuple[NotEvaluated, ...]:
        return tuple(e for e in self.edits if isinstance(e, NotEvaluated))

    def to_json(self) -> dict[str, object]:
        return {
            "address": self.address,
            "type": self.resource_type,
            "action": str(self.action),
            "mapping": str(self.mapping),
            "id": self.physical_id,
            "note": self.note,
        }


def apply_changes(snap: Snapshot, changes: Iterable[Change]) -> Snapshot:
    """The snapshot as it will be once every change is applied, in the plan's order."""
    return apply(snap, (edit for change in changes for edit in change.edits))


@dataclass(frozen=True)
class Source:
    """Where the changes came from, for the report."""

    kind: str  # "terraform-plan" | "change-set"
    name: str
    changes: tuple[Change, ...] = field(default_factory=tuple)


# ----- builders both readers share -----------------------------------------------------------------

_SG_PROTOCOLS = {"6": "tcp", "17": "udp", "1": "icmp", "all": "-1", "-1": "-1"}
_NACL_PROTOCOLS = {"tcp": "6", "udp": "17", "icmp": "1", "all": "-1", "-1": "-1"}


def sg_protocol(value: object) -> str:
    """A security group rule's protocol as the snapshot spells it ("tcp", "-1", ...)."""
    text = str(value).lower()
    return _SG_PROTOCOLS.get(text, text)


def nacl_protocol(value: object) -> str:
    """A network ACL entry's protocol as the snapshot spells it (a number as text, "-1" for all)."""
    text = str(value).lower()
    return _NACL_PROTOCOLS.get(text, text)


def port(value: object) -> int | None:
    if value is None or value == "":
        return None
    return int(str(value))


def sg_rules(
    group_id: str,
    *,
    egress: bool,
    protocol: object,
    from_port: object,
    to_port: object,
    cidrs: Iterable[str] = (),
    groups: Iterable[str] = (),
    prefix_lists: Iterable[str] = (),
    description: str | None = None,
) -> tuple[SecurityGroupRule, ...]:
    """The snapshot's rules for one declared permission (one rule per peer, as `collect.convert` reads them).
    `cidrs` holds both families (a rule's `cidr` is its CidrIp or its CidrIpv6, as the account is read)."""
    proto = sg_protocol(protocol)
    low, high = (None, None) if proto == "-1" else (port(from_port), port(to_port))
    made = [SecurityGroupRule(group_id, egress, proto, low, high, cidr=c, description=description) for c in cidrs]
    made += [
        SecurityGroupRule(group_id, egress, proto, low, high, referenced_group_id=g, description=description)
        for g in groups
    ]
    made += [
        SecurityGroupRule(group_id, egress, proto, low, high, prefix_list_id=p, description=description)
        for p in prefix_lists
    ]
    return tuple(made)


def nacl_entry(
    *, rule_number: object, egress: bool, allow: bool, protocol: object, cidr: str, from_port: object, to_port: object
) -> NaclEntry:
    proto = nacl_protocol(protocol)
    low, high = (None, None) if proto == "-1" else (port(from_port), port(to_port))
    return NaclEntry(int(str(rule_number)), egress, allow, proto, cidr, low, high)


# A new ACL denies what no entry allows: the entries AWS gives it and no template declares.
FINAL_DENY = (
    NaclEntry(32767, False, False, "-1", "0.0.0.0/0", None, None),
    NaclEntry(32767, True, False, "-1", "0.0.0.0/0", None, None),
)

ALLOW_ALL_EGRESS = "0.0.0.0/0"


def invoke_statement(
    sid: str, action: object, principal: object, source_account: object, source_arn: object
) -> dict[str, object]:
    """The statement Lambda's AddPermission writes (its Resource is the function's ARN, filled in on apply)."""
    text = str(principal)
    statement: dict[str, object] = {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": text} if text.endswith(".amazonaws.com") else {"AWS": text},
        "Action": str(action),
    }
    condition: dict[str, dict[str, str]] = {}
    if source_account:
        condition["StringEquals"] = {"AWS:SourceAccount": str(source_account)}
    if source_arn:
        condition["ArnLike"] = {"AWS:SourceArn": str(source_arn)}
    if condition:
        statement["Condition"] = condition
    return statement


def unsupported(
    address: str, kind: str, action: Action, ids: set[str], physical_id: str | None, *, relevant: bool
) -> Change:
    """A type no handler reads: not evaluated when it may touch a path (`relevant`, the reader's exact list of
    types), ignored otherwise."""
    if not relevant:
        return Change(address, kind, action, (), Handling.IGNORED, "cannot touch a rotation path", physical_id)
    reason = f"{kind} is not modelled"
    touched = frozenset(ids) or frozenset({EVERYTHING})
    return Change(address, kind, action, (NotEvaluated(touched, reason),), Handling.NOT_EVALUATED, reason, physical_id)

"""Where the path checks say what they judged: each check records the hop it asked, while it asks it.

Recording is off unless `analysis/paths.py` turns it on around a diagnosis (a context variable, so concurrent
diagnoses in one process never mix), and a check's result never depends on it: the hops are a by-product of the
judgement, not a second one. A hop recorded after a `Case` is made belongs to that case; before any case (an
endpoint's state, a hosted zone), to every case of the path.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING

from rotation_doctor.model.paths import Hop, HopKind, HopVerdict, PathLeg
from rotation_doctor.netsem.network_acls import Outcome
from rotation_doctor.netsem.transit_gateways import Outcome as TgwOutcome

if TYPE_CHECKING:
    from rotation_doctor.analysis.cases import Case, Problem
    from rotation_doctor.model.snapshot import Route, SecurityGroupRule
    from rotation_doctor.netsem.network_acls import NaclDecision
    from rotation_doctor.netsem.routes import Choice
    from rotation_doctor.netsem.security_groups import SgDecision
    from rotation_doctor.netsem.transit_gateways import Crossing


class Stage(IntEnum):
    """Where on the way a hop is, for the order hops are shown in (the order packets meet them)."""

    SOURCE = 0
    TRANSIT = 1
    DESTINATION = 2
    RETURN = 3


@dataclass
class Pending:
    hop: Hop  # its verdict is PASSES until the case's problems are known (`analysis/paths.py`)
    stage: Stage
    subnet: str | None = None  # a network ACL's subnet: which end it guards decides its stage
    # The problems the check itself produced for this hop (None: the hop is judged by the problems naming its ids)
    problems: tuple[Problem, ...] | None = None
    place: int = 0  # where within its stage (`placed`): a path whose checks run out of the packets' order


@dataclass
class CaseHops:
    case: Case | None  # None: hops recorded before any case
    hops: list[Pending] = field(default_factory=list)


@dataclass
class Recorder:
    leg: PathLeg | None = None
    preamble: dict[PathLeg, list[Pending]] = field(default_factory=dict)
    cases: dict[PathLeg, list[CaseHops]] = field(default_factory=dict)
    place: int = 0
    _current: CaseHops | None = None

    def begin(self, leg: PathLeg) -> None:
        self.leg = leg
        self._current = None

    def add(self, pending: Pending) -> None:
        if self.leg is None:
            return
        if self._current is not None:
            self._current.hops.append(pending)
        else:
            self.preamble.setdefault(self.leg, []).append(pending)

    def case_started(self, case: Case) -> None:
        if self.leg is None:
            return
        self._current = CaseHops(case)
        self.cases.setdefault(self.leg, []).append(self._current)


_active: ContextVar[Recorder | None] = ContextVar("rotation_doctor_path_recorder", default=None)


@contextmanager
def recording() -> Iterator[Recorder]:
    recorder = Recorder()
    token = _active.set(recorder)
    try:
        yield recorder
    finally:
        _active.reset(token)


@contextmanager
def placed(place: int) -> Iterator[None]:
    """The hops recorded inside are shown at `place` within their stage, after those of lower places (0 unless
    placed), whatever order the checks ran in: a path that judges a subnet's network ACL last, once the way through
    it is known, still shows it where packets meet it."""
    recorder = _active.get()
    if recorder is None:
        yield
        return
    outer = recorder.place
    recorder.place = place
    try:
        yield
    finally:
        recorder.place = outer


def case_started(case: Case) -> None:
    recorder = _active.get()
    if recorder is not None:
        recorder.case_started(case)


def leg(which: PathLeg) -> None:
    """The checks that follow judge another leg (an RDS Proxy's own, after the function's to the proxy)."""
    recorder = _active.get()
    if recorder is not None:
        recorder.begin(which)


def hop(
    kind: HopKind,
    component: str,
    question: str,
    answer: str,
    *,
    decided_by: str | None = None,
    resources: Sequence[str] = (),
    stage: Stage = Stage.TRANSIT,
    subnet: str | None = None,
    problems: Sequence[Problem] | None = None,
) -> None:
    recorder = _active.get()
    if recorder is None:
        return
    ids = tuple(dict.fromkeys((component, *resources)))
    found = Hop(kind, component, question, answer, HopVerdict.PASSES, decided_by, ids)
    recorder.add(Pending(found, stage, subnet, None if problems is None else tuple(problems), recorder.place))


def route(
    table_id: str | None,
    where: str,
    destination: str,
    choice: Choice | None,
    *,
    stage: Stage = Stage.TRANSIT,
    problems: Sequence[Problem] | None = None,
) -> None:
    """A route table asked where `destination` goes (`where`: the VPC when the subnet has no table); `problems`:
    what its own check found, where another hop of the path asks the same table about another destination."""
    chosen: Route | None = choice.route if choice is not None else None
    if choice is not None and not choice.known:
        answer, decided = "depends on an unread prefix list", None
    elif chosen is None:
        answer, decided = "no route", None
    else:
        answer = chosen.target if chosen.state == "active" else f"{chosen.target} ({chosen.state})"
        decided = f"{chosen.destination} → {chosen.target}"
    hop(
        HopKind.ROUTE_TABLE,
        table_id or where,
        f"route for {destination}",
        answer,
        decided_by=decided,
        stage=stage,
        problems=problems,
    )


def groups(
    group_ids: Sequence[str],
    question: str,
    decision: SgDecision,
    *,
    stage: Stage,
    problems: Sequence[Problem] | None = None,
) -> None:
    """The security groups of one end asked whether they let the flow out (or in)."""
    if decision.undecided:
        answer = "depends on an unread prefix list"
    else:
        answer = "allowed" if decision.allowed else "no rule allows it"
    hop(
        HopKind.SECURITY_GROUPS,
        group_ids[0] if group_ids else "no security group",
        question,
        answer,
        decided_by=_rule_text(decision.rules[0]) if decision.allowed and decision.rules else None,
        resources=group_ids,
        stage=stage,
        problems=problems,
    )


def network_acl(
    acl_id: str,
    subnet_id: str,
    question: str,
    decision: NaclDecision,
    *,
    problems: Sequence[Problem],
) -> None:
    """A subnet's network ACL asked about one direction of a flow (the request, or the reply's ephemeral ports)."""
    if decision.allowed:
        answer = "allowed"
        decided = f"rule {decision.allowing_rules[0]}" if decision.allowing_rules else None
    else:
        answer = "denies part of it" if decision.outcome is Outcome.PARTIAL else "denied"
        decided = ", ".join("rule *" if n == _DEFAULT_NACL_RULE else f"rule {n}" for n in decision.denying_rules)
    hop(
        HopKind.NETWORK_ACL,
        acl_id,
        question,
        answer,
        decided_by=decided,
        resources=(acl_id,),
        stage=Stage.TRANSIT,
        subnet=subnet_id,
        problems=problems,
    )


_DEFAULT_NACL_RULE = 32767  # the final `*` rule every network ACL ends with


def _rule_text(rule: SecurityGroupRule) -> str:
    """A security group rule as the console lists it: its group, protocol, ports and peer."""
    protocol = "all traffic" if rule.protocol == "-1" else rule.protocol.upper()
    if rule.protocol == "-1" or rule.port_from is None:
        ports = ""
    elif rule.port_from == rule.port_to:
        ports = f" {rule.port_from}"
    else:
        ports = f" {rule.port_from}-{rule.port_to}"
    peer = rule.cidr or rule.referenced_group_id or rule.prefix_list_id or "?"
    direction = "outbound" if rule.egress else "inbound"
    return f"{rule.group_id} {direction} {protocol}{ports} {'to' if rule.egress else 'from'} {peer}"


def transit_gateway(tgw_id: str, question: str, crossing: Crossing, *, stage: Stage) -> None:
    """A transit gateway crossed: the attachment it entered by, its route table, the route that decided."""
    route = crossing.route
    decided = None
    if crossing.route_table_id:
        where = ", ".join(route.attachment_ids) or route.state if route else ""
        decided = crossing.route_table_id + (
            f": {route.destination or route.prefix_list_id} → {where}" if route else ""
        )
    hop(
        HopKind.TRANSIT_GATEWAY,
        tgw_id,
        question,
        crossing.outcome.replace("_", " "),
        decided_by=decided,
        resources=tuple(r for r in (crossing.attachment_id, crossing.route_table_id) if r),
        stage=stage,
        # Delivered is its own verdict: a problem of the other crossing names the same gateway.
        problems=() if crossing.outcome is TgwOutcome.DELIVERED else None,
    )

"""Network ACLs: stateless, the lowest-numbered matching rule wins, and what nothing matches is denied.

A flow is judged over every address its peer can have and every port it can use (the return
traffic of a TCP connection comes back to an ephemeral port, 1024-65535 for Lambda), so the
answer is `ALLOW` (all of it passes), `DENY` (none of it), or `PARTIAL`.

IPv4 entries (`CidrBlock`) and IPv6 entries (`Ipv6CidrBlock`) share one list of rule numbers, but an
entry only ever matches addresses of its own family: an IPv6 peer is judged by the IPv6 entries alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from rotation_doctor.model.reads import matching
from rotation_doctor.model.snapshot import NaclEntry, NetworkAcl
from rotation_doctor.netsem.addresses import Network, exclude, intersection, network

EPHEMERAL_PORTS = (1024, 65535)
TCP = "6"

_Box = tuple[Network, int, int]  # addresses x [first port, last port]


class Outcome(StrEnum):
    ALLOW = "allow"
    DENY = "deny"
    PARTIAL = "partial"


@dataclass(frozen=True)
class NaclDecision:
    outcome: Outcome
    denying_rules: tuple[int, ...]  # rule numbers that deny part of the flow; 32767 is the final `*`
    allowing_rules: tuple[int, ...] = ()  # rule numbers that allow part of the flow, in the order they match

    @property
    def allowed(self) -> bool:
        return self.outcome is Outcome.ALLOW


def _entry_ports(entry: NaclEntry) -> tuple[int, int]:
    if entry.protocol == "-1" or entry.port_from is None or entry.port_to is None:
        return 0, 65535
    return entry.port_from, entry.port_to


def _minus(box: _Box, part: _Box) -> list[_Box]:
    """`box` without `part`, where `part` lies inside `box`."""
    net, lo, hi = box
    inner, a, b = part
    pieces: list[_Box] = [(rest, lo, hi) for rest in (exclude(net, inner) if inner != net else ())]
    if a > lo:
        pieces.append((inner, lo, a - 1))
    if b < hi:
        pieces.append((inner, b + 1, hi))
    return pieces


def evaluate(
    acl: NetworkAcl,
    *,
    egress: bool,
    addresses: Sequence[Network],
    ports: tuple[int, int],
    protocol: str = TCP,
) -> NaclDecision:
    """Judge the flow to (egress) or from `addresses` on `ports` against the ACL's rules in order."""
    undecided: list[_Box] = [(net, ports[0], ports[1]) for net in addresses]
    allowed_any = False
    denying: list[int] = []
    allowing: list[int] = []
    rules = sorted((e for e in acl.entries if e.egress == egress), key=lambda e: e.rule_number)
    for entry in rules:
        if not undecided:
            break
        if entry.protocol not in ("-1", protocol):
            continue
        block = network(entry.cidr)
        if block is None:
            continue
        lo, hi = _entry_ports(entry)
        remaining: list[_Box] = []
        for box in undecided:
            overlap = intersection(box[0], block)
            first, last = max(box[1], lo), min(box[2], hi)
            if overlap is None or first > last:
                remaining.append(box)
                continue
            if entry.allow:
                allowed_any = True
                if entry.rule_number not in allowing:
                    allowing.append(entry.rule_number)
            elif entry.rule_number not in denying:
                denying.append(entry.rule_number)
            remaining.extend(_minus(box, (overlap, first, last)))
        undecided = remaining
    if undecided:
        denying.append(32767)
    if not denying:
        return NaclDecision(Outcome.ALLOW, (), tuple(allowing))
    return NaclDecision(Outcome.PARTIAL if allowed_any else Outcome.DENY, tuple(denying), tuple(allowing))


def acl_for_subnet(subnet_id: str, vpc_id: str, acls: Sequence[NetworkAcl]) -> NetworkAcl | None:
    """The ACL a subnet is associated with; a subnet is always associated with exactly one."""
    listing = matching(acls, subnet_ids=subnet_id)
    if listing:
        return listing[0]
    # A subnet with no association listed uses its VPC's default ACL.
    return next(iter(matching(acls, vpc_id=vpc_id, is_default=True)), None)

"""Security groups: stateful, and the union of every rule of every group on an ENI decides.

A rule admits a peer when it names one of the peer's groups, or when its CIDR blocks
(together) cover every address the peer can have: a peer ENI can take any address of its
subnet, so a rule for part of a subnet admits the peer only some of the time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network

from rotation_doctor.model.snapshot import SecurityGroup, SecurityGroupRule
from rotation_doctor.netsem.addresses import covered_by, ipv4

_TCP = {"tcp", "6"}


@dataclass(frozen=True)
class Peer:
    """The other end of a flow: the groups on its ENI and every address it may have."""

    group_ids: frozenset[str]
    addresses: tuple[IPv4Network, ...]


@dataclass(frozen=True)
class SgDecision:
    allowed: bool
    rules: tuple[SecurityGroupRule, ...]  # the rules that admit the peer (empty when denied)


def rule_admits_tcp_port(rule: SecurityGroupRule, port: int) -> bool:
    """True when the rule's protocol and port range include TCP `port`."""
    if rule.protocol == "-1":
        return True
    if rule.protocol.lower() not in _TCP:
        return False
    if rule.port_from is None or rule.port_to is None or rule.port_from == -1:
        return True
    return rule.port_from <= port <= rule.port_to


def allows_tcp(groups: Iterable[SecurityGroup], *, egress: bool, port: int, peer: Peer) -> SgDecision:
    """Whether the union of `groups` lets TCP `port` go out to (egress) or in from `peer`."""
    candidates = [
        rule for group in groups for rule in group.rules if rule.egress == egress and rule_admits_tcp_port(rule, port)
    ]
    by_reference = [r for r in candidates if r.referenced_group_id in peer.group_ids]
    if by_reference:
        return SgDecision(True, tuple(by_reference))
    by_cidr = [r for r in candidates if r.cidr and ipv4(r.cidr) is not None]
    blocks: Sequence[IPv4Network] = [net for r in by_cidr if (net := ipv4(r.cidr or "")) is not None]
    if peer.addresses and covered_by(peer.addresses, blocks):
        useful = [r for r in by_cidr if any(_overlaps(ipv4(r.cidr or ""), a) for a in peer.addresses)]
        return SgDecision(True, tuple(useful))
    return SgDecision(False, ())


def _overlaps(block: IPv4Network | None, net: IPv4Network) -> bool:
    return block is not None and (block.subnet_of(net) or net.subnet_of(block))

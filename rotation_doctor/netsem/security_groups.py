"""Security groups: stateful, and the union of every rule of every group on an ENI decides.

A rule admits a peer when it names one of the peer's groups, or when its CIDR blocks
(together) cover every address the peer can have: a peer ENI can take any address of its
subnet, so a rule for part of a subnet admits the peer only some of the time.

A rule that names a managed prefix list stands for the union of the list's CIDR blocks. A list
that was not read leaves the answer open: when nothing else admits the peer, the decision names
the unread lists (`unread_prefix_lists`) instead of counting their rules as matching nothing.
IPv4 and IPv6 blocks (`CidrIp`, `CidrIpv6`, either kind of list) are judged against peer
addresses of their own family.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from rotation_doctor.model.snapshot import PrefixList, SecurityGroup, SecurityGroupRule
from rotation_doctor.netsem.addresses import Network, covered_by, intersection, network

_TCP = {"tcp", "6"}


@dataclass(frozen=True)
class Peer:
    """The other end of a flow: the groups on its ENI and every address it may have."""

    group_ids: frozenset[str]
    addresses: tuple[Network, ...]  # of one family, or both


@dataclass(frozen=True)
class SgDecision:
    allowed: bool
    rules: tuple[SecurityGroupRule, ...]  # the rules that admit the peer (empty when denied)
    unread_prefix_lists: tuple[str, ...] = ()  # denied unless these lists, which were not read, admit the peer

    @property
    def undecided(self) -> bool:
        """Not admitted by what is known, but a rule on an unread prefix list might admit the peer."""
        return not self.allowed and bool(self.unread_prefix_lists)


def rule_admits_tcp_port(rule: SecurityGroupRule, port: int) -> bool:
    """True when the rule's protocol and port range include TCP `port`."""
    if rule.protocol == "-1":
        return True
    if rule.protocol.lower() not in _TCP:
        return False
    if rule.port_from is None or rule.port_to is None or rule.port_from == -1:
        return True
    return rule.port_from <= port <= rule.port_to


def allows_tcp(
    groups: Iterable[SecurityGroup],
    *,
    egress: bool,
    port: int,
    peer: Peer,
    prefix_lists: Mapping[str, PrefixList] | None = None,
) -> SgDecision:
    """Whether the union of `groups` lets TCP `port` go out to (egress) or in from `peer`.

    `prefix_lists`: the lists rules may name, by id; a rule on a list not in it is not evaluated.
    """
    candidates = [
        rule for group in groups for rule in group.rules if rule.egress == egress and rule_admits_tcp_port(rule, port)
    ]
    by_reference = [r for r in candidates if r.referenced_group_id in peer.group_ids]
    if by_reference:
        return SgDecision(True, tuple(by_reference))
    lists = prefix_lists or {}
    by_blocks = [(r, blocks) for r in candidates if (blocks := rule_blocks(r, lists))]
    if peer.addresses and covered_by(peer.addresses, [b for _, blocks in by_blocks for b in blocks]):
        useful = [r for r, blocks in by_blocks if any(intersection(b, a) for b in blocks for a in peer.addresses)]
        return SgDecision(True, tuple(useful))
    unread = sorted({r.prefix_list_id for r in candidates if r.prefix_list_id and r.prefix_list_id not in lists})
    return SgDecision(False, (), tuple(unread))


def rule_blocks(rule: SecurityGroupRule, prefix_lists: Mapping[str, PrefixList]) -> tuple[Network, ...]:
    """The CIDR blocks a rule names: its own CIDR, or every entry of the prefix list it names (if read)."""
    if rule.cidr:
        net = network(rule.cidr)
        return (net,) if net is not None else ()
    if rule.prefix_list_id and rule.prefix_list_id in prefix_lists:
        return tuple(n for c in prefix_lists[rule.prefix_list_id].cidrs if (n := network(c)) is not None)
    return ()

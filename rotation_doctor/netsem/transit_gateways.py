"""Transit gateways: one crossing from a subnet, through its VPC's attachment and route table, to the far side.

AWS's rules, as the Transit Gateway guide states them:
- a subnet's traffic enters the transit gateway only through its VPC's attachment, and only when that
  attachment has a subnet in the same Availability Zone ("resources in Availability Zones where there is
  no transit gateway attachment cannot reach the transit gateway");
- the attachment's associated transit gateway route table decides where the traffic goes, longest prefix
  first; for equal prefixes, static routes, then prefix-list references (one route per entry of the list),
  then propagated routes ("Route evaluation order"); a blackhole route drops it; an attachment with no
  association drops everything;
- the route leads to one attachment (several with ECMP): a VPC attachment delivers into that VPC, whose local
  route carries it on; anything else (a peering, VPN, Direct Connect, Connect, network-function attachment)
  or a VPC other than the destination's (an inspection VPC) is beyond this model;
- security groups of one attached VPC cannot name groups of another, unless security group referencing is
  enabled on the transit gateway and on both VPC attachments.

The way back is another crossing, from the far subnet towards the near one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from ipaddress import IPv4Network

from rotation_doctor.model.reads import matching
from rotation_doctor.model.snapshot import (
    PrefixList,
    Subnet,
    TransitGateway,
    TransitGatewayAttachment,
    TransitGatewayRoute,
    TransitGatewayRouteTable,
)
from rotation_doctor.netsem.addresses import ipv4

AVAILABLE = "available"


class Outcome(StrEnum):
    DELIVERED = "delivered"  # into the destination's VPC
    NOT_ATTACHED = "not_attached"  # the source VPC has no available attachment to this transit gateway
    NO_ZONE = "no_zone"  # the attachment has no subnet in the source subnet's Availability Zone
    NOT_ASSOCIATED = "not_associated"  # the attachment is associated with no transit gateway route table
    NO_ROUTE = "no_route"  # the route table has no route to the destination
    BLACKHOLE = "blackhole"  # the matching route drops the traffic
    FAR_NOT_ATTACHED = "far_not_attached"  # the route leads to an attachment that is not available
    NOT_MODELLED = "not_modelled"  # a peering/VPN/... attachment, an inspection VPC, appliance mode, an unread table


@dataclass(frozen=True)
class Crossing:
    """One crossing of a transit gateway, and how far it got."""

    outcome: Outcome
    transit_gateway_id: str
    attachment_id: str | None = None  # the source VPC's attachment
    route_table_id: str | None = None  # its associated transit gateway route table
    route: TransitGatewayRoute | None = None
    far_attachment_id: str | None = None
    why: str = ""  # for NOT_MODELLED and FAR_NOT_ATTACHED: what stands in the way, in words


@dataclass(frozen=True)
class Facts:
    """The transit gateway facts of a snapshot, with the subnets (their zones)."""

    gateways: Mapping[str, TransitGateway]
    attachments: Mapping[str, TransitGatewayAttachment]
    route_tables: Mapping[str, TransitGatewayRouteTable]
    subnets: Mapping[str, Subnet]
    prefix_lists: Mapping[str, PrefixList]  # those read, by id: a prefix-list reference's entries


def vpc_attachment(facts: Facts, tgw_id: str, vpc_id: str) -> TransitGatewayAttachment | None:
    """The VPC's available attachment to the transit gateway (AWS allows one per VPC and gateway)."""
    found = matching(
        facts.attachments, transit_gateway_id=tgw_id, resource_type="vpc", resource_id=vpc_id, state=AVAILABLE
    )
    return next(iter(found), None)


def attachment_subnet_in_zone(facts: Facts, attachment: TransitGatewayAttachment, zone: str) -> str | None:
    return next(
        (s for s in attachment.subnet_ids if s in facts.subnets and facts.subnets[s].availability_zone == zone), None
    )


# For routes of the same prefix, AWS's order (Transit Gateway guide, "Route evaluation order"): static routes, then
# prefix-list references, then propagated routes. Higher first.
_KIND_ORDER = {"static": 2, "prefix-list": 1, "propagated": 0}


def _kind(route: TransitGatewayRoute) -> str:
    return "prefix-list" if route.prefix_list_id else "propagated" if route.route_type == "propagated" else "static"


def route_for(
    table: TransitGatewayRouteTable, destination: IPv4Network, prefix_lists: Mapping[str, PrefixList]
) -> tuple[TransitGatewayRoute | None, tuple[str, ...]]:
    """The most specific route that holds every address of `destination`, by AWS's order for equal prefixes; and
    the prefix lists, not read, whose entries could decide instead (then the route is None: unknown)."""
    best: tuple[tuple[int, int], TransitGatewayRoute] | None = None
    unread: set[str] = set()
    for route in table.routes:
        cidrs: tuple[str, ...] = (route.destination,) if route.destination else ()
        if route.prefix_list_id and not route.destination:
            listed = prefix_lists.get(route.prefix_list_id)
            if listed is None:
                unread.add(route.prefix_list_id)
            cidrs = listed.cidrs if listed is not None else ()
        for cidr in cidrs:
            net = ipv4(cidr)
            if net is None or not destination.subnet_of(net):
                continue
            rank = (net.prefixlen, _KIND_ORDER[_kind(route)])
            if best is None or rank > best[0]:
                best = (rank, route)
    # An unread list's entry holding `destination` is at most as long as it and loses a tie to a static route.
    if unread and (best is None or best[0] != (destination.prefixlen, _KIND_ORDER["static"])):
        return None, tuple(sorted(unread))
    return (best[1] if best else None), ()


def cross(facts: Facts, tgw_id: str, src: Subnet, dst: Subnet) -> Crossing:
    """Where traffic from `src` to `dst`, sent by `src`'s route table to `tgw_id`, ends up."""
    dst_net = ipv4(dst.cidr)
    if dst_net is None:
        return cross_toward(facts, tgw_id, src, None, dst.vpc_id)
    return cross_toward(facts, tgw_id, src, dst_net, dst.vpc_id)


def cross_toward(
    facts: Facts, tgw_id: str, src: Subnet, destination: IPv4Network | None, dst_vpc: str | None
) -> Crossing:
    """Where traffic from `src` to `destination`, sent by `src`'s route table to `tgw_id`, ends up.

    `dst_vpc`: the VPC the traffic must arrive in (a database's); None when any VPC the gateway delivers into is
    the far side to judge next (centralized egress: the internet, as 0.0.0.0/0, is reached through whichever VPC
    the gateway's route leads to). `Crossing.far_attachment_id` names that VPC's attachment."""
    attachment = vpc_attachment(facts, tgw_id, src.vpc_id)
    if attachment is None:
        return Crossing(Outcome.NOT_ATTACHED, tgw_id)
    if attachment_subnet_in_zone(facts, attachment, src.availability_zone) is None:
        return Crossing(Outcome.NO_ZONE, tgw_id, attachment.id)
    base = Crossing(Outcome.NOT_ASSOCIATED, tgw_id, attachment.id, attachment.route_table_id)
    if attachment.route_table_id is None:
        return base
    table = facts.route_tables.get(attachment.route_table_id)
    dst_net = destination
    if table is None or dst_net is None:
        why = f"transit gateway route table {attachment.route_table_id} was not read"
        return _with(base, Outcome.NOT_MODELLED, why=why)
    route, unread = route_for(table, dst_net, facts.prefix_lists)
    if unread:
        why = f"prefix list {', '.join(unread)}, referenced by transit gateway route table {table.id}, was not read"
        return _with(base, Outcome.NOT_MODELLED, why=why)
    if route is None:
        if not table.complete:
            why = f"transit gateway route table {table.id} holds more routes than one search returns"
            return _with(base, Outcome.NOT_MODELLED, why=why)
        return _with(base, Outcome.NO_ROUTE)
    if route.state == "blackhole" or not route.attachment_ids:
        return _with(base, Outcome.BLACKHOLE, route=route)
    if route.state != "active":
        return _with(base, Outcome.NOT_MODELLED, route=route, why=f"the route is {route.state}")
    far_id = route.attachment_ids[0]
    far = facts.attachments.get(far_id)
    if far is None:
        return _with(base, Outcome.NOT_MODELLED, route=route, far_attachment_id=far_id, why=f"{far_id} was not read")
    if far.resource_type != "vpc":
        why = f"{far_id} is a {far.resource_type} attachment; what lies beyond it is not modelled"
        return _with(base, Outcome.NOT_MODELLED, route=route, far_attachment_id=far_id, why=why)
    if far.state != AVAILABLE:
        return _with(base, Outcome.FAR_NOT_ATTACHED, route=route, far_attachment_id=far_id, why=f"it is {far.state}")
    if dst_vpc is not None and far.resource_id != dst_vpc:
        why = f"{far_id} leads into {far.resource_id}, not {dst_vpc}: an inspection VPC or appliance is not modelled"
        return _with(base, Outcome.NOT_MODELLED, route=route, far_attachment_id=far_id, why=why)
    if far.appliance_mode or attachment.appliance_mode:
        where = far_id if far.appliance_mode else attachment.id
        why = f"appliance mode is enabled on attachment {where}: the appliance's own path is not modelled"
        return _with(base, Outcome.NOT_MODELLED, route=route, far_attachment_id=far_id, why=why)
    return _with(base, Outcome.DELIVERED, route=route, far_attachment_id=far_id)


def references_allowed(facts: Facts, tgw_id: str, vpc_a: str, vpc_b: str) -> bool:
    """Whether a security group in one VPC may name a group in the other across this transit gateway."""
    gateway = facts.gateways.get(tgw_id)
    ends = (vpc_attachment(facts, tgw_id, vpc_a), vpc_attachment(facts, tgw_id, vpc_b))
    return bool(
        gateway is not None
        and gateway.security_group_referencing
        and all(a is not None and a.security_group_referencing for a in ends)
    )


def _with(base: Crossing, outcome: Outcome, **changes: object) -> Crossing:
    return replace(base, outcome=outcome, **changes)  # type: ignore[arg-type]

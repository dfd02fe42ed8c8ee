"""Centralized egress: the Secrets Manager path through a transit gateway to an egress VPC's NAT gateway, and back.

The pattern of AWS's whitepaper "Building a Scalable and Secure Multi-VPC AWS Network Infrastructure", section
"Centralized egress to internet": a spoke VPC's default route leads to a transit gateway; the route table associated
with the spoke's attachment sends 0.0.0.0/0 to an egress VPC's attachment; there the attachment's subnets route
0.0.0.0/0 to a NAT gateway, whose public subnet routes 0.0.0.0/0 to the internet gateway and the spokes' blocks back
to the transit gateway; the route table associated with the egress attachment routes each spoke's block back to it.

Judged from each function subnet, in the order a packet meets them (the crossing itself is `transit_gateways`,
shared with the database path: one evaluator):
1. the spoke's crossing (`spoke_to_far_vpc`): the spoke's attachment and its subnet in the function's zone, the
   transit gateway route table associated with it (longest prefix; static, prefix-list, then propagated; blackholes),
   the far attachment (a VPC attachment, available, not in appliance mode);
2. the egress attachment's subnet in the same zone (a transit gateway keeps traffic in its Availability Zone when the
   far attachment has a subnet there), and that subnet's default route to an available public NAT gateway;
3. the NAT gateway's subnet: its default route to an internet gateway (an active route to one means it is attached:
   EC2 marks a route `blackhole` when its gateway is detached, EC2 API Reference, `Route.State`, from memory), and
   its route back to the function's subnet through the same transit gateway;
4. the way back through the gateway: the route table associated with the egress attachment, to the spoke's;
5. network ACLs of every subnet crossed (the function's, the spoke attachment's, the egress attachment's, the NAT's)
   and the function's groups' egress on 443.

A firewall on the way (a Gateway Load Balancer or AWS Network Firewall endpoint, an instance or a network interface
as a route's target, an appliance-mode attachment) ends the judgement: `SM_PATH_NOT_EVALUATED` naming it
(`diagnose --deep` asks Reachability Analyzer). So does an egress VPC that was not read (another account's: EC2
describes only an account's own VPCs), never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from ipaddress import IPv4Network

from rotation_doctor.analysis import hops, tgw_crossings
from rotation_doctor.analysis.cases import Problem
from rotation_doctor.analysis.flows import SM_PORT, internet_problems, nacl_problems, unread_route_problem
from rotation_doctor.model.evidence import PeerKind
from rotation_doctor.model.findings import Code
from rotation_doctor.model.paths import HopKind
from rotation_doctor.model.snapshot import (
    FactKey,
    Function,
    NatGateway,
    Route,
    RouteTable,
    Snapshot,
    Subnet,
    TransitGatewayAttachment,
)
from rotation_doctor.netsem import routes
from rotation_doctor.netsem import transit_gateways as tgw
from rotation_doctor.netsem.addresses import ipv4, public_internet

# Route targets that put a firewall or appliance on the way, in words (the route's target id names it).
FIREWALL_TARGETS = {
    "vpce": "a Gateway Load Balancer or AWS Network Firewall endpoint",
    "eni": "a network interface (an appliance)",
    "i": "an instance (a NAT instance or appliance)",
}


class Where(IntEnum):
    """Where on the way out each hop is (`hops.placed`): the checks judge the egress subnets' network ACLs last, once
    the NAT gateway is known, and the spoke attachment's after the crossing; packets meet them in this order."""

    SPOKE_ATTACHMENT = 1
    TRANSIT_GATEWAY = 2
    EGRESS_ATTACHMENT = 3
    NAT_GATEWAY = 4
    NAT_SUBNET = 5
    INTERNET = 6


@dataclass(frozen=True)
class FarSide:
    """Where a transit gateway delivers traffic from a spoke subnet: the crossing, and, when it delivers, the far
    VPC's attachment and that attachment's subnet in the source's zone (None: none there, or the VPC was not read)."""

    crossing: tgw.Crossing
    attachment: TransitGatewayAttachment | None = None
    subnet: Subnet | None = None

    @property
    def vpc_id(self) -> str | None:
        return self.attachment.resource_id if self.attachment is not None else None


def spoke_to_far_vpc(snap: Snapshot, tgw_id: str, src: Subnet, destination: IPv4Network) -> FarSide:
    """The spoke → far-VPC crossing of a transit gateway for `destination` (0.0.0.0/0 for the internet, an endpoint's
    address for a centralized endpoint): whichever VPC the gateway's route leads to is the far side."""
    facts = tgw_crossings.facts(snap)
    crossing = tgw.cross_toward(facts, tgw_id, src, destination, None)
    far = snap.tgw_attachments.get(crossing.far_attachment_id or "")
    if crossing.outcome is not tgw.Outcome.DELIVERED or far is None:
        return FarSide(crossing)
    subnet_id = tgw.attachment_subnet_in_zone(facts, far, src.availability_zone)
    return FarSide(crossing, far, snap.subnets.get(subnet_id) if subnet_id else None)


def through_transit_gateway(snap: Snapshot, fn: Function, fs: Subnet, table_id: str, tgw_id: str) -> list[Problem]:
    """The function subnet `fs`, whose route table `table_id` sends 0.0.0.0/0 to `tgw_id`: centralized egress."""
    out = tgw_crossings.Leg("0.0.0.0/0", "to Secrets Manager, from {subjects}", "to Secrets Manager", fs.id)
    carry_out = f"carry traffic {out.direction}"
    if snap.failure(FactKey.TRANSIT_GATEWAYS):
        with hops.placed(Where.TRANSIT_GATEWAY):
            hops.hop(HopKind.TRANSIT_GATEWAY, tgw_id, carry_out, "could not be read")
        return [tgw_crossings.unread_problem(tgw_id, fs, out, tgw_crossings.SM_TGW)]
    far = spoke_to_far_vpc(snap, tgw_id, fs, routes.DEFAULT_ROUTE)
    with hops.placed(Where.TRANSIT_GATEWAY):
        hops.transit_gateway(tgw_id, carry_out, far.crossing, stage=hops.Stage.TRANSIT)
    stopped = tgw_crossings.crossing_problem(far.crossing, fs, out, tgw_crossings.SM_TGW)
    if stopped is not None:
        return [stopped]
    assert far.attachment is not None  # delivered
    unread = _egress_vpc_unread(snap, far.attachment, fs)
    entry = far.subnet
    if unread is not None or entry is None:
        with hops.placed(Where.TRANSIT_GATEWAY):
            # Where the gateway delivers: judged no further (the findings name the egress attachment).
            hops.hop(
                HopKind.TRANSIT_GATEWAY,
                far.attachment.id,
                f"deliver into egress VPC {far.vpc_id} in {fs.availability_zone}",
                "not read" if unread is not None else "no subnet in that zone",
            )
    if unread is not None:
        return [unread]
    if entry is None:
        return [
            _not_evaluated(
                f"Egress attachment {far.attachment.id} has no subnet in {fs.availability_zone}, the zone of "
                "{subjects}: which of its subnets transit gateway "
                + tgw_id
                + " delivers through then is not modelled.",
                (far.attachment.id,),
                fs,
            )
        ]
    with hops.placed(Where.SPOKE_ATTACHMENT):
        problems = _spoke_attachment_acls(snap, tgw_id, fs)
    with hops.placed(Where.NAT_GATEWAY):
        nat, way_out = _way_to_nat(snap, entry, fs)
    problems += way_out
    if nat is None:
        return problems
    nat_subnet = snap.subnets.get(nat.subnet_id)
    if nat_subnet is None:
        return [
            *problems,
            _not_evaluated(f"NAT gateway {nat.id}'s subnet {nat.subnet_id} was not read.", (nat.id,), fs),
        ]
    with hops.placed(Where.INTERNET):
        problems += _nat_to_internet(snap, nat, nat_subnet, fs)
    problems += _route_back(snap, nat_subnet, fs, tgw_id)
    back = tgw_crossings.Leg(
        "{subjects}", f"back to the function, from NAT gateway {nat.id}", "back to the function", fs.id
    )
    crossing = tgw.cross(tgw_crossings.facts(snap), tgw_id, nat_subnet, fs)
    hops.transit_gateway(tgw_id, f"carry traffic {back.direction}", crossing, stage=hops.Stage.RETURN)
    problem = tgw_crossings.crossing_problem(crossing, nat_subnet, back, tgw_crossings.SM_TGW)
    problems += [problem] if problem is not None else []
    problems += internet_problems(snap, fn, fs, None)
    problems += _egress_acls(snap, entry, nat_subnet, fs)
    return problems


def egress_subnets(snap: Snapshot, fn: Function) -> set[str]:
    """The subnets of the VPC attachments the function's default routes lead to through a transit gateway (where
    centralized egress enters the egress VPC): a change to them, their route tables, their NAT gateways or their
    ACLs may break the path (`usage.resources_used` follows them on)."""
    found: set[str] = set()
    for far in _far_attachments(snap, fn):
        found |= {s for s in far.subnet_ids if s in snap.subnets}
    return found


def egress_internet_gateway(snap: Snapshot, fn: Function) -> str | None:
    """The internet gateway centralized egress leads to (an egress VPC's, read), for `diagnose --deep` to aim at."""
    vpcs = {far.resource_id for far in _far_attachments(snap, fn)}
    gateways = sorted(
        r.target
        for t in snap.route_tables
        if t.vpc_id in vpcs
        for r in t.routes
        if r.target_kind == "igw" and r.state == "active"
    )
    return gateways[0] if gateways else None


def _far_attachments(snap: Snapshot, fn: Function) -> list[TransitGatewayAttachment]:
    """The VPC attachments a transit gateway sends the function subnets' default routes to, also where the crossing
    is not judged (appliance mode: that is when --deep asks)."""
    found: dict[str, TransitGatewayAttachment] = {}
    if snap.failure(FactKey.TRANSIT_GATEWAYS):
        return []
    for fs in (snap.subnets[s] for s in fn.subnet_ids if s in snap.subnets):
        table = routes.table_for_subnet(fs.id, fs.vpc_id, snap.route_tables)
        route = routes.choose(table, routes.DEFAULT_ROUTE, snap.prefix_lists).route if table else None
        if route is None or route.target_kind != "tgw":
            continue
        crossing = tgw.cross_toward(tgw_crossings.facts(snap), route.target, fs, routes.DEFAULT_ROUTE, None)
        far = snap.tgw_attachments.get(crossing.far_attachment_id or "")
        if far is not None and far.resource_type == "vpc" and far.resource_id:
            found[far.id] = far
    return list(found.values())


def _not_evaluated(summary: str, resources: tuple[str, ...], fs: Subnet, **evidence: object) -> Problem:
    return Problem(Code.SM_PATH_NOT_EVALUATED, summary, resources, dict(evidence), subject=fs.id)


def _egress_vpc_unread(snap: Snapshot, far: TransitGatewayAttachment, fs: Subnet) -> Problem | None:
    """The egress VPC's subnets, route tables and ACLs, or exactly why they are not known."""
    vpc = far.resource_id or "?"
    owner = far.resource_owner_id
    if owner and owner != snap.secret.account:
        why = (
            f"it belongs to account {owner}, and EC2 describes only account {snap.secret.account}'s own VPCs: its "
            f"route tables, subnets, network ACLs and NAT gateways were not read (diagnose it with --role-arn in "
            f"{owner}, or ask that account's network team)"
        )
    else:
        failed = [k for k in (FactKey.SUBNETS, FactKey.ROUTE_TABLES, FactKey.NETWORK_ACLS) if snap.failure(k, vpc)]
        if failed:
            why = f"its {', '.join(str(k).replace('_', ' ') for k in failed)} could not be read"
        elif not any(s in snap.subnets for s in far.subnet_ids):
            why = "its subnets were not read"
        else:
            return None
    return _not_evaluated(
        f"Transit gateway {far.transit_gateway_id} sends {{subjects}}'s traffic to Secrets Manager into egress VPC "
        f"{vpc} (attachment {far.id}), but {why}; the way out and back is not judged.",
        (far.id, vpc),
        fs,
        egress_vpc=vpc,
        owner=owner,
    )


def _spoke_attachment_acls(snap: Snapshot, tgw_id: str, fs: Subnet) -> list[Problem]:
    """The spoke attachment's subnet in the function's zone: the request comes in from the function (its inbound
    rules), the reply goes out to it (its outbound rules); none when the attachment shares the function's subnet."""
    facts = tgw_crossings.facts(snap)
    attachment = tgw.vpc_attachment(facts, tgw_id, fs.vpc_id)
    subnet_id = tgw.attachment_subnet_in_zone(facts, attachment, fs.availability_zone) if attachment else None
    fs_net = ipv4(fs.cidr)
    if attachment is None or subnet_id is None or subnet_id == fs.id or fs_net is None:
        return []
    return nacl_problems(
        snap,
        snap.subnets[subnet_id],
        peer=(fs_net,),
        peer_kind=PeerKind.FUNCTION,
        peer_label=f"the function in {fs.id}, through transit gateway attachment {attachment.id}",
        port=SM_PORT,
        initiator=False,
        code=Code.SM_NACL_DENIES,
    )


def _egress_acls(snap: Snapshot, entry: Subnet, nat_subnet: Subnet, fs: Subnet) -> list[Problem]:
    """The egress VPC's subnets: the NAT's sees the function's request and the reply to it, and the internet both
    ways; the attachment's (when it is another subnet) passes the request on to the internet and takes the reply
    (the packets keep Secrets Manager's address there). Partial denials of the internet are doubts."""
    fs_net = ipv4(fs.cidr)
    internet = public_internet()
    to_internet = {"peer": internet, "peer_kind": PeerKind.INTERNET, "peer_label": "the internet", "initiator": True}
    problems: list[Problem] = []
    subnets = [nat_subnet] if entry.id == nat_subnet.id else [entry, nat_subnet]
    for subnet in subnets:
        with hops.placed(Where.NAT_SUBNET if subnet is nat_subnet else Where.EGRESS_ATTACHMENT):
            problems += nacl_problems(
                snap,
                subnet,
                port=SM_PORT,
                code=Code.SM_NACL_DENIES,
                soft_when_partial=True,
                **to_internet,  # type: ignore[arg-type]
            )
    if entry.id != nat_subnet.id and fs_net is not None:
        with hops.placed(Where.NAT_SUBNET):
            problems += nacl_problems(
                snap,
                nat_subnet,
                peer=(fs_net,),
                peer_kind=PeerKind.FUNCTION,
                peer_label=f"the function in {fs.id}",
                port=SM_PORT,
                initiator=False,
                code=Code.SM_NACL_DENIES,
            )
    return problems


def _way_to_nat(snap: Snapshot, entry: Subnet, fs: Subnet) -> tuple[NatGateway | None, list[Problem]]:
    """The egress attachment's subnet's default route: to an available public NAT gateway, or what stops it."""
    table = routes.table_for_subnet(entry.id, entry.vpc_id, snap.route_tables)
    choice = routes.choose(table, routes.DEFAULT_ROUTE, snap.prefix_lists) if table else None
    hops.route(table.id if table else None, entry.id, "0.0.0.0/0", choice)
    if table is not None and choice is not None and not choice.known:
        return None, [unread_route_problem(Code.SM_PATH_NOT_EVALUATED, table.id, "0.0.0.0/0", choice, fs.id)]
    route = choice.route if choice else None
    where = (
        f"Egress subnet {entry.id} (route table {table.id if table else 'none'}), where the transit gateway delivers "
        "{subjects}'s traffic,"
    )
    resources = tuple(r for r in (entry.id, table.id if table else None) if r)
    if route is None:
        return None, [_no_nat(f"{where} has no default route: nothing leads on to a NAT gateway.", resources, fs)]
    if route.state != "active":
        return None, [
            _no_nat(
                f"{where} routes 0.0.0.0/0 to {route.target}, but the route is {route.state}.",
                (*resources, route.target),
                fs,
            )
        ]
    if route.target_kind == "igw":
        return None, [
            _no_nat(
                f"{where} routes 0.0.0.0/0 straight to internet gateway {route.target}, which does not translate the "
                "function's private address: there is no NAT gateway on the way.",
                (*resources, route.target),
                fs,
            )
        ]
    if route.target_kind != "nat":
        return None, [_beyond(f"{where} routes 0.0.0.0/0 to", route, resources, fs)]
    unread_nat = snap.failure(FactKey.NAT_GATEWAYS)
    nat = None if unread_nat else snap.nat_gateways.get(route.target)
    state = "could not be read" if unread_nat else nat.state if nat else "gone"
    hops.hop(HopKind.NAT_GATEWAY, route.target, "forward to the internet", state)
    if unread_nat:
        return None, [_not_evaluated(f"NAT gateway {route.target} could not be read.", (route.target,), fs)]
    if nat is None or nat.state != "available":
        return None, [
            _no_nat(
                f"{where} routes 0.0.0.0/0 to NAT gateway {route.target}, which is {state}.",
                (*resources, route.target),
                fs,
            )
        ]
    if nat.connectivity == "private":
        return None, [
            _not_evaluated(
                f"NAT gateway {nat.id} in the egress VPC is private; where it sends on is not modelled.", (nat.id,), fs
            )
        ]
    return nat, []


def _nat_to_internet(snap: Snapshot, nat: NatGateway, nat_subnet: Subnet, fs: Subnet) -> list[Problem]:
    table = routes.table_for_subnet(nat_subnet.id, nat_subnet.vpc_id, snap.route_tables)
    choice = routes.choose(table, routes.DEFAULT_ROUTE, snap.prefix_lists) if table else None
    problems = _nat_route_problems(nat, nat_subnet, fs, table.id if table else None, choice)
    # The table's own verdict: the route back, asked of the same table, is judged by its own problems.
    hops.route(table.id if table else None, nat_subnet.id, "0.0.0.0/0", choice, problems=problems)
    route = choice.route if choice else None
    if not problems and route is not None:
        # An active route to an internet gateway: EC2 marks it blackhole when the gateway is detached.
        hops.hop(HopKind.INTERNET_GATEWAY, route.target, f"attached to {nat.vpc_id}", "attached", problems=())
    return problems


def _nat_route_problems(
    nat: NatGateway, nat_subnet: Subnet, fs: Subnet, table_id: str | None, choice: routes.Choice | None
) -> list[Problem]:
    """What stops the NAT gateway's subnet's default route from leading to an internet gateway."""
    if table_id is not None and choice is not None and not choice.known:
        return [unread_route_problem(Code.SM_PATH_NOT_EVALUATED, table_id, "0.0.0.0/0", choice, fs.id)]
    route = choice.route if choice else None
    if route is not None and route.state == "active" and route.target_kind == "igw":
        return []
    if route is not None and route.state == "active" and route.target_kind != "nat":
        return [_beyond(f"NAT gateway {nat.id}'s subnet {nat_subnet.id} routes 0.0.0.0/0 to", route, (nat.id,), fs)]
    why = "has no default route" if route is None else f"routes 0.0.0.0/0 to {route.target} ({route.state})"
    return [
        Problem(
            Code.SM_NAT_NO_INTERNET,
            f"NAT gateway {nat.id} of egress VPC {nat.vpc_id} is in subnet {nat_subnet.id}, which {why}; the NAT "
            "cannot reach the internet.",
            tuple(r for r in (nat.id, nat_subnet.id, table_id) if r),
            {
                "nat_subnet": nat_subnet.id,
                "nat_route_table": table_id,
                "target": route.target if route else None,
            },
            subject=fs.id,
        )
    ]


def _route_back(snap: Snapshot, nat_subnet: Subnet, fs: Subnet, tgw_id: str) -> list[Problem]:
    """The NAT gateway's subnet must send the function's subnet back to the same transit gateway."""
    table = routes.table_for_subnet(nat_subnet.id, nat_subnet.vpc_id, snap.route_tables)
    fs_net = ipv4(fs.cidr)
    if table is None or fs_net is None:
        return []
    choice = routes.choose(table, fs_net, snap.prefix_lists)
    problems = _return_route_problems(table, nat_subnet, fs, tgw_id, choice)
    hops.route(table.id, nat_subnet.id, f"{fs.cidr} ({fs.id})", choice, stage=hops.Stage.RETURN, problems=problems)
    return problems


def _return_route_problems(
    table: RouteTable, nat_subnet: Subnet, fs: Subnet, tgw_id: str, choice: routes.Choice
) -> list[Problem]:
    if not choice.known:
        return [unread_route_problem(Code.SM_PATH_NOT_EVALUATED, table.id, fs.cidr, choice, fs.id)]
    route = choice.route
    if route is not None and route.state == "active" and route.target == tgw_id:
        return []
    if (
        route is not None
        and route.state == "active"
        and (route.target_kind in FIREWALL_TARGETS or route.target_kind == "tgw")
    ):
        return [
            _beyond(
                f"Route table {table.id} of NAT subnet {nat_subnet.id} sends {fs.cidr} (of {{subjects}}) back to",
                route,
                (table.id,),
                fs,
            )
        ]
    how = (
        f"has no route to {{subjects}} ({fs.cidr})"
        if route is None
        else f"sends {{subjects}} ({fs.cidr}) to {route.target}"
        + (f", but the route is {route.state}" if route.state != "active" else "")
    )
    return [
        Problem(
            Code.SM_EGRESS_NO_RETURN_ROUTE,
            f"Route table {table.id} of the egress VPC's NAT subnet {nat_subnet.id} {how}, not to transit gateway "
            f"{tgw_id}: Secrets Manager's replies never come back to the function.",
            (table.id, nat_subnet.id),
            {
                "route_table": table.id,
                "destination": fs.cidr,
                "target": route.target if route else None,
                "transit_gateway": tgw_id,
            },
            subject=fs.id,
        )
    ]


def _no_nat(summary: str, resources: tuple[str, ...], fs: Subnet) -> Problem:
    return Problem(Code.SM_EGRESS_NO_NAT, summary, resources, {"resources": list(resources)}, subject=fs.id)


def _beyond(prefix: str, route: Route, resources: tuple[str, ...], fs: Subnet) -> Problem:
    """A route whose target the model does not follow: a firewall named as one, anything else as itself."""
    what = FIREWALL_TARGETS.get(route.target_kind)
    beyond = "the firewall or appliance's own path" if what else "what lies beyond"
    return _not_evaluated(
        f"{prefix} {route.target} ({what or 'a ' + route.target_kind + ' target'}); {beyond} is not modelled "
        "(diagnose --deep asks VPC Reachability Analyzer).",
        (*resources, route.target),
        fs,
        target=route.target,
        component=what or route.target_kind,
    )

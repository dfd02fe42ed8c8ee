"""Routes between two subnets, both ways, across VPCs: the local route, a peering, a transit gateway.

One evaluator for every path that leaves the function's VPC (the database's, a centralized Secrets Manager
endpoint's); each path names its own codes (`CrossingCodes`) and its own words for the two directions.
"""

from __future__ import annotations

from dataclasses import dataclass

from rotation_doctor.analysis import hops, tgw_crossings
from rotation_doctor.analysis.cases import Problem
from rotation_doctor.analysis.flows import Side, nacl_problems, unread_route_problem
from rotation_doctor.model.evidence import PeeringUnusable, RouteElsewhere, RouteInactive, RouteMissing
from rotation_doctor.model.findings import Code
from rotation_doctor.model.paths import HopKind
from rotation_doctor.model.snapshot import FactKey, Snapshot, Subnet
from rotation_doctor.netsem import routes
from rotation_doctor.netsem import transit_gateways as tgw
from rotation_doctor.netsem.addresses import ipv4


@dataclass(frozen=True)
class CrossingCodes:
    """The codes one path reports a route problem with, and how its summaries name each direction."""

    no_route: Code
    not_evaluated: Code
    tgw_not_attached: Code
    tgw_route_missing: Code
    tgw_blackhole: Code
    toward: str  # "to the database"
    back: str  # "back to the function"


def route_problems(snap: Snapshot, fs: Subnet, ds: Subnet, codes: CrossingCodes) -> list[Problem]:
    """Routes both ways between `fs` (the function's end) and `ds` (the far end): the local route inside one VPC,
    an active peering or a transit gateway between two."""
    problems = []
    same_vpc = fs.vpc_id == ds.vpc_id
    for src, dst in ((fs, ds), (ds, fs)):
        table = routes.table_for_subnet(src.id, src.vpc_id, snap.route_tables)
        dst_net = ipv4(dst.cidr)
        if table is None or dst_net is None:
            continue
        choice = routes.choose(table, dst_net, snap.prefix_lists)
        route = choice.route
        hops.route(
            table.id,
            src.vpc_id,
            f"{dst.cidr} ({dst.id})",
            choice,
            stage=hops.Stage.RETURN if src is ds else hops.Stage.TRANSIT,
        )
        where = f"Route table {table.id} of {src.id}"
        if not choice.known:
            problems.append(unread_route_problem(codes.not_evaluated, table.id, dst.cidr, choice))
            continue
        if route is None:
            problems.append(
                Problem(
                    codes.no_route,
                    f"{where} has no route to {dst.id} ({dst.cidr}) in {dst.vpc_id}.",
                    (table.id, src.id),
                    facts=RouteMissing(table.id, dst.cidr),
                )
            )
            continue
        kind = route.target_kind
        if route.state != "active":
            problems.append(
                Problem(
                    codes.no_route,
                    f"{where} routes {dst.cidr} to {route.target}, but the route is {route.state}.",
                    (table.id, route.target),
                    facts=RouteInactive(table.id, route.target, route.state),
                )
            )
        elif same_vpc and kind == "local":
            continue
        elif not same_vpc and kind == "pcx":
            problem = _peering_problem(snap, where, route.target, src.vpc_id, dst.vpc_id, table.id, dst.cidr, codes)
            if problem:
                problems.append(problem)
        elif not same_vpc and kind == "tgw":
            problem = _tgw_problem(snap, route.target, src, dst, codes, back=src is ds)
            if problem:
                problems.append(problem)
        elif kind in {"local", "igw", "nat"}:
            problems.append(
                Problem(
                    codes.no_route,
                    f"{where} sends {dst.cidr} to {route.target}, which does not lead to {dst.vpc_id}.",
                    (table.id, src.id),
                    facts=RouteElsewhere(table.id, route.target, dst.cidr),
                )
            )
        else:
            problems.append(
                Problem(
                    codes.not_evaluated,
                    f"{where} sends {dst.cidr} to {route.target}; what lies beyond is not modelled.",
                    (table.id, route.target),
                    {"route_table": table.id, "target": route.target},
                )
            )
    return problems


def _peering_problem(
    snap: Snapshot, where: str, pcx_id: str, src_vpc: str, dst_vpc: str, table_id: str, cidr: str, codes: CrossingCodes
) -> Problem | None:
    peering = snap.peerings.get(pcx_id)
    hops.hop(HopKind.PEERING, pcx_id, f"carry {cidr} to {dst_vpc}", peering.status if peering else "gone")
    ends = {peering.requester_vpc_id, peering.accepter_vpc_id} if peering else set()
    if peering is not None and peering.status == "active" and ends == {src_vpc, dst_vpc}:
        return None
    why = (
        "does not exist"
        if peering is None
        else f"is {peering.status}"
        if peering.status != "active"
        else f"connects {' and '.join(sorted(ends))}"
    )
    return Problem(
        codes.no_route,
        f"{where} sends {cidr} to peering {pcx_id}, which {why}.",
        (table_id, pcx_id),
        facts=PeeringUnusable(table_id, pcx_id, why),
    )


def tgw_facts(snap: Snapshot) -> tgw.Facts:
    return tgw_crossings.facts(snap)


def _tgw_problem(
    snap: Snapshot, tgw_id: str, src: Subnet, dst: Subnet, codes: CrossingCodes, *, back: bool
) -> Problem | None:
    """One crossing of a transit gateway (to the far end, or `back` to the function), judged natively and told as
    `tgw_crossings` tells every path's crossings: by the gateway's parts, the far subnets that differ between cases
    as the `{subjects}`, so one cause in many subnet cases is one finding."""
    toward = codes.back if back else codes.toward
    leg = tgw_crossings.Leg("{subjects}", toward, toward, dst.id)
    tgw_codes = tgw_crossings.TgwCodes(
        codes.tgw_not_attached, codes.tgw_route_missing, codes.tgw_blackhole, codes.not_evaluated
    )
    if snap.failure(FactKey.TRANSIT_GATEWAYS):
        return tgw_crossings.unread_problem(tgw_id, src, leg, tgw_codes)
    crossing = tgw.cross(tgw_facts(snap), tgw_id, src, dst)
    hops.transit_gateway(
        tgw_id, f"carry traffic {toward}", crossing, stage=hops.Stage.RETURN if back else hops.Stage.TRANSIT
    )
    return tgw_crossings.crossing_problem(crossing, src, leg, tgw_codes)


def tgw_subnet_nacls(snap: Snapshot, src: Side, dst: Side, port: int, code: Code) -> list[Problem]:
    """The network ACLs of the transit gateway attachments' own subnets, as AWS applies them: traffic from a
    VPC's instances into the gateway meets the attachment subnet's inbound rules, traffic from the gateway to
    them its outbound rules (neither when the attachment shares the instance's subnet). Each end's attachment
    subnet is the one in that end's zone (where its traffic enters the gateway)."""
    tgw_id = tgw_on_route(snap, src.subnet, dst.subnet)
    if tgw_id is None or snap.failure(FactKey.TRANSIT_GATEWAYS):
        return []
    facts = tgw_facts(snap)
    problems = []
    # The function's end sends the request into the gateway (inbound there) and gets the answer (outbound);
    # the database's end gets the request from the gateway (outbound there) and answers (inbound).
    for end, initiator in ((src, False), (dst, True)):
        attachment = tgw.vpc_attachment(facts, tgw_id, end.subnet.vpc_id)
        subnet_id = (
            tgw.attachment_subnet_in_zone(facts, attachment, end.subnet.availability_zone) if attachment else None
        )
        if attachment is None or subnet_id is None or subnet_id == end.subnet.id or subnet_id not in snap.subnets:
            continue
        end_net = ipv4(end.subnet.cidr)
        problems += nacl_problems(
            snap,
            snap.subnets[subnet_id],
            peer=(end_net,) if end_net else (),
            peer_kind=end.kind,
            peer_label=f"{end.label} in {end.subnet.id}, through transit gateway attachment {attachment.id}",
            port=port,
            initiator=initiator,
            code=code,
        )
    return problems


def tgw_on_route(snap: Snapshot, fs: Subnet, ds: Subnet) -> str | None:
    """The transit gateway `fs`'s route table sends `ds`'s block to, if it is one (another VPC only)."""
    return _target_on_route(snap, fs, ds, "tgw")


def _target_on_route(snap: Snapshot, fs: Subnet, ds: Subnet, kind: str) -> str | None:
    """What `fs`'s route table sends `ds`'s block to, if it is an active route to a `kind` (another VPC only)."""
    if fs.vpc_id == ds.vpc_id:
        return None
    table = routes.table_for_subnet(fs.id, fs.vpc_id, snap.route_tables)
    dst_net = ipv4(ds.cidr)
    choice = routes.choose(table, dst_net, snap.prefix_lists) if table is not None and dst_net is not None else None
    route = choice.route if choice is not None else None
    return route.target if route is not None and route.target_kind == kind and route.state == "active" else None


def references_allowed(snap: Snapshot, fs: Subnet, ds: Subnet) -> bool:
    """Whether a group rule naming the other end's group matches: not across a transit gateway, unless it
    supports security group referencing (on the gateway and both attachments); across a peering only within one
    region ("You can't reference the security group of a peer VPC that's in a different Region", VPC Peering
    guide, "Update your security groups to reference peer security groups")."""
    tgw_id = tgw_on_route(snap, fs, ds)
    if tgw_id is not None:
        return tgw.references_allowed(tgw_facts(snap), tgw_id, fs.vpc_id, ds.vpc_id)
    pcx_id = _target_on_route(snap, fs, ds, "pcx")
    peering = snap.peerings.get(pcx_id) if pcx_id else None
    return peering is None or peering.requester_region == peering.accepter_region

"""The path from the rotation function to its database: routes between VPCs, groups, network ACLs.

Every (function subnet, database subnet) pair is a case: the function may run in any of its
subnets and a multi-AZ database may fail over to any subnet of its group.

A dual-stack RDS database (NetworkType DUAL) in the function's VPC, reached by a function that may
send IPv6 from dual-stack subnets, may be connected to over either family (see `over_ipv6`): each
case is then judged over both, and works when either does (the driver falls back to the other).
"""

from __future__ import annotations

from dataclasses import replace

from rotation_doctor.analysis import tgw_crossings
from rotation_doctor.analysis.cases import Case, Problem, fold
from rotation_doctor.analysis.flows import (
    DB_FLOW,
    FlowCodes,
    Side,
    groups,
    nacl_problems,
    security_group_problems,
    unread_route_problem,
)
from rotation_doctor.analysis.flows import subnet_pair_nacl_problems as pair_nacls
from rotation_doctor.model.bounded import clip
from rotation_doctor.model.evidence import PeeringUnusable, PeerKind, RouteElsewhere, RouteInactive, RouteMissing
from rotation_doctor.model.findings import Code, Finding, Severity
from rotation_doctor.model.snapshot import Database, FactKey, Function, ProxyTarget, Snapshot, Subnet, TargetKind
from rotation_doctor.netsem import routes, security_groups
from rotation_doctor.netsem import transit_gateways as tgw
from rotation_doctor.netsem.addresses import ipv4, ipv6, public_internet

DB_NEEDS = (FactKey.SUBNETS, FactKey.ROUTE_TABLES, FactKey.NETWORK_ACLS, FactKey.SECURITY_GROUPS)
# The proxy's own leg to its targets: every way it is blocked is one code, the summary says which.
PROXY_FLOW = FlowCodes(
    Code.DB_PROXY_TARGET_UNREACHABLE,
    Code.DB_PROXY_TARGET_UNREACHABLE,
    Code.DB_PROXY_TARGET_UNREACHABLE,
    Code.DB_PATH_NOT_EVALUATED,
)
# Target health reasons that a person waits out rather than fixes.
_WAIT_REASONS = frozenset({"PENDING_PROXY_CAPACITY"})


def analyze(snap: Snapshot) -> list[Finding]:
    fn, db = snap.function, snap.database
    if fn is None:
        return []
    if db is None:
        return _unresolved(snap)
    label = f"database {db.identifier}"
    return _port_mismatch(db, label) + _path(snap, fn, db, label) + _proxy_targets(snap, db)


def _port_mismatch(db: Database, label: str) -> list[Finding]:
    """The secret names a port the database does not listen on: rotation connects there and fails."""
    if db.secret_port is None or db.secret_port == db.port:
        return []
    return [
        Finding(
            Code.DB_PORT_MISMATCH,
            Severity.ERROR,
            f"The secret names port {db.secret_port}, but {label} listens on {db.port}: the rotation function "
            f"connects to the wrong port. rotation-doctor judges and opens only port {db.port}.",
            (db.identifier,),
            {"secret_port": db.secret_port, "database_port": db.port},
        )
    ]


def _path(snap: Snapshot, fn: Function, db: Database, label: str) -> list[Finding]:
    if not fn.in_vpc:
        return _from_outside_vpc(snap, fn, db, label)
    if any(snap.failure(k) for k in DB_NEEDS):
        return []
    if db.vpc_id != fn.vpc_id and snap.failure(FactKey.PEERINGS):
        return []
    fn_subnets = [snap.subnets[s] for s in fn.subnet_ids if s in snap.subnets]
    db_subnets = [snap.subnets[s] for s in db.subnet_ids if s in snap.subnets]
    if not db_subnets:
        return [
            Finding(
                Code.DB_TARGET_UNRESOLVED,
                Severity.WARNING,
                f"{label.capitalize()} was found, but not the subnets it runs in, so the database path is not judged.",
                (db.identifier,),
                {"subnets": list(db.subnet_ids)},
            )
        ]
    cases = []
    for fs in fn_subnets:
        for ds in db_subnets:
            case = Case(f"{fs.id} -> {ds.id}")
            src = Side(fs, fn.security_group_ids, f"rotation function {fn.name}", PeerKind.FUNCTION)
            dst = Side(ds, db.security_group_ids, label, PeerKind.DATABASE)
            route_problems = _route_problems(snap, fs, ds)
            case.problems.extend(route_problems)
            if not any(p.code == Code.DB_NO_ROUTE for p in route_problems):
                # No route decides the case; groups and ACLs matter only on a path that exists.
                references = _references_allowed(snap, fs, ds)
                case.problems.extend(security_group_problems(snap, src, dst, db.port, DB_FLOW, references=references))
                case.problems.extend(pair_nacls(snap, src, dst, db.port, DB_FLOW.nacl))
                case.problems.extend(_tgw_subnet_nacls(snap, src, dst, db.port))
            if over_ipv6(fn, db, fn_subnets, db_subnets):
                case.problems = _either_family(case.problems, _ipv6_problems(snap, src, dst, db.port))
            cases.append(case)
    return fold(cases)


def over_ipv6(fn: Function, db: Database, fn_subnets: list[Subnet], db_subnets: list[Subnet]) -> bool:
    """Whether the function may connect to the database over IPv6 as well as IPv4.

    A DUAL database's endpoint answers with both families; the function's ENIs have IPv6 addresses only
    when Lambda lets it send IPv6 (Ipv6AllowedForDualStack) from dual-stack subnets. Only within one VPC
    (IPv6 across peerings is not modelled: those are judged over IPv4).
    """
    return (
        (db.network_type or "").upper() == "DUAL"
        and fn.ipv6_allowed_for_dual_stack
        and db.vpc_id == fn.vpc_id
        and bool(fn_subnets)
        and all(s.dual_stack for s in (*fn_subnets, *db_subnets))
    )


def _ipv6_problems(snap: Snapshot, src: Side, dst: Side, port: int) -> list[Problem]:
    """The same flow over IPv6, inside one VPC: the IPv6 local route, groups, ACLs; summaries say so."""
    src6 = replace(src, ipv6=True, label=f"{src.label} (over IPv6)")
    dst6 = replace(dst, ipv6=True, label=f"{dst.label} (over IPv6)")
    problems: list[Problem] = []
    for a, b in ((src.subnet, dst.subnet), (dst.subnet, src.subnet)):
        table = routes.table_for_subnet(a.id, a.vpc_id, snap.route_tables)
        block = ipv6(b.ipv6_cidrs[0]) if b.ipv6_cidrs else None
        choice = routes.choose(table, block, snap.prefix_lists) if table is not None and block is not None else None
        route = choice.route if choice is not None else None
        if table is not None and choice is not None and not choice.known:
            problems.append(unread_route_problem(Code.DB_PATH_NOT_EVALUATED, table.id, str(block), choice))
        elif table is not None and route is not None and route.target != "local":
            problems.append(
                Problem(
                    Code.DB_PATH_NOT_EVALUATED,
                    f"Route table {table.id} of {a.id} sends {route.destination} to {route.target} instead of the "
                    "IPv6 local route; what lies beyond is not modelled.",
                    (table.id, route.target),
                    {"route_table": table.id, "target": route.target, "destination": route.destination},
                )
            )
    problems.extend(security_group_problems(snap, src6, dst6, port, DB_FLOW))
    problems.extend(pair_nacls(snap, src6, dst6, port, DB_FLOW.nacl))
    return problems


def _either_family(v4: list[Problem], v6: list[Problem]) -> list[Problem]:
    """One case over both families: it works when either works, and the other's problems are then doubts."""
    v4_works = not any(not p.soft for p in v4)
    v6_works = not any(not p.soft for p in v6)
    if v4_works:
        return [*v4, *(replace(p, soft=True) for p in v6)]
    if v6_works:
        return [*(replace(p, soft=True) for p in v4), *v6]
    return [*v4, *v6]


def _unresolved(snap: Snapshot) -> list[Finding]:
    if snap.failure(FactKey.SECRET_VALUE) and snap.target_ref is None:
        return []  # AWS_READ_FAILED tells which permission would let the target be read
    if snap.failure(FactKey.DATABASE):
        return []
    ref = snap.target_ref
    resources: tuple[str, ...] = (snap.secret.arn,)
    if ref is None:
        why = "its value has no host or database identifier and it has no rotation-doctor:target tag"
    elif ref.invalid:
        why = ref.invalid  # the field that cannot be used (the rotation function cannot either): named, never quoted
    else:
        named = ref.host or ref.instance_id or ref.cluster_id or "?"
        why = f"{named} (from the secret's {ref.source}) matches no database, proxy or network interface found"
        resources = (named,)
    return [
        Finding(
            Code.DB_TARGET_UNRESOLVED,
            Severity.WARNING,
            f"The database could not be identified: {why}; the database path is not judged.",
            resources,
            {
                "source": ref.source if ref else None,
                "engine": ref.engine if ref else None,
                "invalid": ref.invalid if ref else None,
            },
        )
    ]


def _from_outside_vpc(snap: Snapshot, fn: Function, db: Database, label: str) -> list[Finding]:
    if db.publicly_accessible and not snap.failure(FactKey.SECURITY_GROUPS):
        admits = security_groups.allows_tcp(
            groups(snap, db.security_group_ids),
            egress=False,
            port=db.port,
            peer=security_groups.Peer(frozenset(), public_internet()),
            prefix_lists=snap.prefix_lists,
        )
        if admits.allowed:
            return []
        if admits.undecided:
            return [
                Finding(
                    Code.DB_PATH_NOT_EVALUATED,
                    Severity.WARNING,
                    f"Rotation function {fn.name} is not in a VPC and reaches {label} only if prefix list "
                    f"{', '.join(admits.unread_prefix_lists)} admits the internet, and it could not be read.",
                    (fn.name, db.identifier, *admits.unread_prefix_lists),
                    {"prefix_lists": list(admits.unread_prefix_lists)},
                )
            ]
        why = (
            f"{label} is publicly accessible, but its security groups admit no internet address on TCP "
            f"{db.port}, and a function outside a VPC has no fixed address to admit"
        )
    else:
        why = f"{label} is not publicly accessible"
    return [
        Finding(
            Code.DB_LAMBDA_NOT_IN_VPC,
            Severity.ERROR,
            f"Rotation function {fn.name} is not in a VPC and {why}.",
            tuple(r for r in (fn.name, db.identifier, db.vpc_id) if r),
            {"publicly_accessible": db.publicly_accessible, "database_vpc": db.vpc_id},
        )
    ]


def _route_problems(snap: Snapshot, fs: Subnet, ds: Subnet) -> list[Problem]:
    """Routes both ways: the local route inside one VPC, an active peering between two."""
    problems = []
    same_vpc = fs.vpc_id == ds.vpc_id
    for src, dst in ((fs, ds), (ds, fs)):
        table = routes.table_for_subnet(src.id, src.vpc_id, snap.route_tables)
        dst_net = ipv4(dst.cidr)
        if table is None or dst_net is None:
            continue
        choice = routes.choose(table, dst_net, snap.prefix_lists)
        route = choice.route
        where = f"Route table {table.id} of {src.id}"
        if not choice.known:
            problems.append(unread_route_problem(Code.DB_PATH_NOT_EVALUATED, table.id, dst.cidr, choice))
            continue
        if route is None:
            problems.append(
                Problem(
                    Code.DB_NO_ROUTE,
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
                    Code.DB_NO_ROUTE,
                    f"{where} routes {dst.cidr} to {route.target}, but the route is {route.state}.",
                    (table.id, route.target),
                    facts=RouteInactive(table.id, route.target, route.state),
                )
            )
        elif same_vpc and kind == "local":
            continue
        elif not same_vpc and kind == "pcx":
            problem = _peering_problem(snap, where, route.target, src.vpc_id, dst.vpc_id, table.id, dst.cidr)
            if problem:
                problems.append(problem)
        elif not same_vpc and kind == "tgw":
            problem = _tgw_problem(snap, route.target, src, dst, back=src is ds)
            if problem:
                problems.append(problem)
        elif kind in {"local", "igw", "nat"}:
            problems.append(
                Problem(
                    Code.DB_NO_ROUTE,
                    f"{where} sends {dst.cidr} to {route.target}, which does not lead to {dst.vpc_id}.",
                    (table.id, src.id),
                    facts=RouteElsewhere(table.id, route.target, dst.cidr),
                )
            )
        else:
            problems.append(
                Problem(
                    Code.DB_PATH_NOT_EVALUATED,
                    f"{where} sends {dst.cidr} to {route.target}; what lies beyond is not modelled.",
                    (table.id, route.target),
                    {"route_table": table.id, "target": route.target},
                )
            )
    return problems


def _peering_problem(
    snap: Snapshot, where: str, pcx_id: str, src_vpc: str, dst_vpc: str, table_id: str, cidr: str
) -> Problem | None:
    peering = snap.peerings.get(pcx_id)
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
        Code.DB_NO_ROUTE,
        f"{where} sends {cidr} to peering {pcx_id}, which {why}.",
        (table_id, pcx_id),
        facts=PeeringUnusable(table_id, pcx_id, why),
    )


def _tgw_problem(snap: Snapshot, tgw_id: str, src: Subnet, dst: Subnet, *, back: bool) -> Problem | None:
    """One crossing of a transit gateway (to the database, or `back` to the function), judged natively.

    The summaries name the gateway's parts, not the subnet pair: the far subnets that differ between cases are
    the `{subjects}`, so one cause in many subnet cases is one finding."""
    toward = "back to the function" if back else "to the database"
    leg = tgw_crossings.Leg("{subjects}", toward, toward, dst.id)
    if snap.failure(FactKey.TRANSIT_GATEWAYS):
        return tgw_crossings.unread_problem(tgw_id, src, leg, tgw_crossings.DB_TGW)
    crossing = tgw.cross(tgw_crossings.facts(snap), tgw_id, src, dst)
    return tgw_crossings.crossing_problem(crossing, src, leg, tgw_crossings.DB_TGW)


def _tgw_subnet_nacls(snap: Snapshot, src: Side, dst: Side, port: int) -> list[Problem]:
    """The network ACLs of the transit gateway attachments' own subnets, as AWS applies them: traffic from a
    VPC's instances into the gateway meets the attachment subnet's inbound rules, traffic from the gateway to
    them its outbound rules (neither when the attachment shares the instance's subnet). Each end's attachment
    subnet is the one in that end's zone (where its traffic enters the gateway)."""
    tgw_id = _tgw_on_route(snap, src.subnet, dst.subnet)
    if tgw_id is None or snap.failure(FactKey.TRANSIT_GATEWAYS):
        return []
    facts = tgw_crossings.facts(snap)
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
            code=DB_FLOW.nacl,
        )
    return problems


def _tgw_on_route(snap: Snapshot, fs: Subnet, ds: Subnet) -> str | None:
    """The transit gateway `fs`'s route table sends `ds`'s block to, if it is one (another VPC only)."""
    if fs.vpc_id == ds.vpc_id:
        return None
    table = routes.table_for_subnet(fs.id, fs.vpc_id, snap.route_tables)
    dst_net = ipv4(ds.cidr)
    choice = routes.choose(table, dst_net, snap.prefix_lists) if table is not None and dst_net is not None else None
    route = choice.route if choice is not None else None
    return route.target if route is not None and route.target_kind == "tgw" and route.state == "active" else None


def _references_allowed(snap: Snapshot, fs: Subnet, ds: Subnet) -> bool:
    """Whether a group rule naming the other end's group matches: not across a transit gateway, unless it
    supports security group referencing (on the gateway and both attachments)."""
    tgw_id = _tgw_on_route(snap, fs, ds)
    return tgw_id is None or tgw.references_allowed(tgw_crossings.facts(snap), tgw_id, fs.vpc_id, ds.vpc_id)


def _proxy_targets(snap: Snapshot, db: Database) -> list[Finding]:
    """An RDS Proxy's own leg: its targets' health as the proxy reports it, and its network path to them."""
    if db.kind is not TargetKind.RDS_PROXY or db.proxy_targets is None or snap.failure(FactKey.PROXY_TARGETS):
        return []
    label = f"RDS Proxy {db.identifier}"
    if not db.proxy_targets:
        return [
            Finding(
                Code.DB_PROXY_TARGET_UNHEALTHY,
                Severity.ERROR,
                f"{label} has no registered target: it accepts the rotation function's connection but has no "
                "database to pass it to.",
                (db.identifier,),
                {"targets": []},
            )
        ]
    findings = [f for t in db.proxy_targets for f in _target_health(snap, db, t, label)]
    if any(snap.failure(k) for k in DB_NEEDS):
        return findings
    judged: set[tuple[tuple[str, ...], tuple[str, ...], int]] = set()
    for target in db.proxy_targets:
        port = target.port or db.port
        key = (target.subnet_ids, target.security_group_ids, port)
        if not target.subnet_ids or key in judged:
            continue  # not found (a serverless endpoint, a target being deleted), or judged already
        judged.add(key)
        findings += _target_reach(snap, db, target, port, label)
    return findings


def _target_health(snap: Snapshot, db: Database, target: ProxyTarget, label: str) -> list[Finding]:
    if target.state != "UNAVAILABLE":
        return []  # AVAILABLE, REGISTERING, or a tracked cluster (its instances carry the health)
    reason = target.reason or "unknown"
    words = f": {clip(target.description, 200)}" if target.description else ""
    note = ""
    if reason == "AUTH_FAILURE" and snap.secret.arn in db.proxy_auth_secrets:
        note = (
            " The proxy signs in with this very secret: a rotation that changed the password in the database but "
            "did not finish leaves the proxy with the old one."
        )
    return [
        Finding(
            Code.DB_PROXY_TARGET_UNHEALTHY,
            Severity.WARNING if reason in _WAIT_REASONS else Severity.ERROR,
            f"{label} reports its target {target.identifier} UNAVAILABLE ({reason}){words}.{note}",
            (db.identifier, target.identifier),
            {"target": target.identifier, "type": target.target_type, "state": target.state, "reason": reason},
        )
    ]


def _target_reach(snap: Snapshot, db: Database, target: ProxyTarget, port: int, label: str) -> list[Finding]:
    """Security groups and network ACLs from each of the proxy's subnets to each subnet the target may be in.
    A proxy and its targets share a VPC (RDS requires it): the local route carries the traffic."""
    proxy_subnets = [snap.subnets[s] for s in db.subnet_ids if s in snap.subnets]
    target_subnets = [snap.subnets[s] for s in target.subnet_ids if s in snap.subnets]
    cases = []
    for ps in proxy_subnets:
        for ts in target_subnets:
            if ps.vpc_id != ts.vpc_id:
                continue
            case = Case(f"{ps.id} -> {ts.id}")
            src = Side(ps, db.security_group_ids, label, PeerKind.DATABASE)
            dst = Side(ts, target.security_group_ids, f"its target {target.identifier}", PeerKind.DATABASE)
            case.problems.extend(security_group_problems(snap, src, dst, port, PROXY_FLOW))
            case.problems.extend(pair_nacls(snap, src, dst, port, PROXY_FLOW.nacl))
            cases.append(case)
    return fold(cases)

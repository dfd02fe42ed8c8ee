"""The path from the rotation function to its database: routes between VPCs, groups, network ACLs.

Every (function subnet, database subnet) pair is a case: the function may run in any of its
subnets and a multi-AZ database may fail over to any subnet of its group.

A dual-stack RDS database (NetworkType DUAL) in the function's VPC, reached by a function that may
send IPv6 from dual-stack subnets, may be connected to over either family (see `over_ipv6`): each
case is then judged over both, and works when either does (the driver falls back to the other).
"""

from __future__ import annotations

from dataclasses import replace

from rotation_doctor.analysis.cases import Case, Problem, fold
from rotation_doctor.analysis.flows import DB_FLOW, Side, groups, security_group_problems
from rotation_doctor.analysis.flows import subnet_pair_nacl_problems as pair_nacls
from rotation_doctor.model.evidence import PeeringUnusable, PeerKind, RouteElsewhere, RouteInactive, RouteMissing
from rotation_doctor.model.findings import Finding, Severity
from rotation_doctor.model.snapshot import Database, FactKey, Function, Snapshot, Subnet
from rotation_doctor.netsem import routes, security_groups
from rotation_doctor.netsem.addresses import ipv4, ipv6, public_internet

DB_NEEDS = (FactKey.SUBNETS, FactKey.ROUTE_TABLES, FactKey.NETWORK_ACLS, FactKey.SECURITY_GROUPS)


def analyze(snap: Snapshot) -> list[Finding]:
    fn, db = snap.function, snap.database
    if fn is None:
        return []
    if db is None:
        return _unresolved(snap)
    label = f"database {db.identifier}"
    return _port_mismatch(db, label) + _path(snap, fn, db, label)


def _port_mismatch(db: Database, label: str) -> list[Finding]:
    """The secret names a port the database does not listen on: rotation connects there and fails."""
    if db.secret_port is None or db.secret_port == db.port:
        return []
    return [
        Finding(
            "DB_PORT_MISMATCH",
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
                "DB_TARGET_UNRESOLVED",
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
            if not any(p.code == "DB_NO_ROUTE" for p in route_problems):
                # No route decides the case; groups and ACLs matter only on a path that exists.
                case.problems.extend(security_group_problems(snap, src, dst, db.port, DB_FLOW))
                case.problems.extend(pair_nacls(snap, src, dst, db.port, DB_FLOW.nacl))
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
        route = routes.ipv6_route_for(table, block) if table is not None and block is not None else None
        if table is not None and route is not None and route.target != "local":
            problems.append(
                Problem(
                    "DB_PATH_NOT_EVALUATED",
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
            "DB_TARGET_UNRESOLVED",
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
                    "DB_PATH_NOT_EVALUATED",
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
            "DB_LAMBDA_NOT_IN_VPC",
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
        route = routes.route_for(table, dst_net)
        where = f"Route table {table.id} of {src.id}"
        if route is None:
            problems.append(
                Problem(
                    "DB_NO_ROUTE",
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
                    "DB_NO_ROUTE",
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
        elif kind in {"local", "igw", "nat"}:
            problems.append(
                Problem(
                    "DB_NO_ROUTE",
                    f"{where} sends {dst.cidr} to {route.target}, which does not lead to {dst.vpc_id}.",
                    (table.id, src.id),
                    facts=RouteElsewhere(table.id, route.target, dst.cidr),
                )
            )
        else:
            problems.append(
                Problem(
                    "DB_PATH_NOT_EVALUATED",
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
        "DB_NO_ROUTE",
        f"{where} sends {cidr} to peering {pcx_id}, which {why}.",
        (table_id, pcx_id),
        facts=PeeringUnusable(table_id, pcx_id, why),
    )

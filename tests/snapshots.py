"""Hand-built snapshots for the pure analyzer tests: one healthy baseline, changed per test with `replace`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from rotation_doctor.model.snapshot import (
    Database,
    DnsAttributes,
    Function,
    InternetGateway,
    NaclEntry,
    NatGateway,
    NetworkAcl,
    PeeringConnection,
    PolicyDocument,
    PrefixList,
    ProxyTarget,
    Route,
    RouteTable,
    Secret,
    SecurityGroup,
    SecurityGroupRule,
    Snapshot,
    Subnet,
    TargetKind,
    TargetRef,
    TransitGateway,
    TransitGatewayAttachment,
    TransitGatewayRoute,
    TransitGatewayRouteTable,
    VpcEndpoint,
)

REGION = "us-east-1"
ACCOUNT = "123456789012"
SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:prod/app-AbCdEf"
FN_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:rotate"
VPC = "vpc-1"
SM_SERVICE = f"com.amazonaws.{REGION}.secretsmanager"

INVOKE_POLICY = PolicyDocument(
    (
        {
            "Sid": "SecretsManagerAccess",
            "Effect": "Allow",
            "Principal": {"Service": "secretsmanager.amazonaws.com"},
            "Action": "lambda:InvokeFunction",
            "Resource": FN_ARN,
            "Condition": {"StringEquals": {"AWS:SourceAccount": ACCOUNT}},
        },
    )
)


def rule(
    group: str,
    *,
    egress: bool,
    port: int | None = None,
    cidr: str | None = None,
    ref: str | None = None,
    protocol: str = "tcp",
) -> SecurityGroupRule:
    if protocol == "-1":
        return SecurityGroupRule(group, egress, "-1", None, None, cidr=cidr, referenced_group_id=ref)
    return SecurityGroupRule(group, egress, protocol, port, port, cidr=cidr, referenced_group_id=ref)


ALL_OUT = "0.0.0.0/0"


def acl(
    acl_id: str, subnets: tuple[str, ...], entries: tuple[NaclEntry, ...] = (), default: bool = False
) -> NetworkAcl:
    return NetworkAcl(acl_id, VPC, default, subnets, entries)


def allow_all_entries() -> tuple[NaclEntry, ...]:
    return (
        NaclEntry(100, False, True, "-1", "0.0.0.0/0", None, None),
        NaclEntry(100, True, True, "-1", "0.0.0.0/0", None, None),
    )


def healthy(**changes: Any) -> Snapshot:
    """Function in app-a/app-b, endpoint (private DNS) in app-a/app-b, Multi-AZ DB in data-a/data-b."""
    subnets = {
        "app-a": Subnet("app-a", VPC, "10.0.1.0/24", "us-east-1a"),
        "app-b": Subnet("app-b", VPC, "10.0.2.0/24", "us-east-1b"),
        "data-a": Subnet("data-a", VPC, "10.0.11.0/24", "us-east-1a"),
        "data-b": Subnet("data-b", VPC, "10.0.12.0/24", "us-east-1b"),
        "public-a": Subnet("public-a", VPC, "10.0.101.0/24", "us-east-1a"),
    }
    groups = {
        "sg-fn": SecurityGroup("sg-fn", VPC, "fn", (rule("sg-fn", egress=True, cidr=ALL_OUT, protocol="-1"),)),
        "sg-db": SecurityGroup("sg-db", VPC, "db", (rule("sg-db", egress=False, port=5432, ref="sg-fn"),)),
        "sg-vpce": SecurityGroup(
            "sg-vpce", VPC, "vpce", (rule("sg-vpce", egress=False, port=443, cidr="10.0.0.0/16"),)
        ),
    }
    local = Route("10.0.0.0/16", "local", "active")
    tables = (
        RouteTable("rtb-main", VPC, True, (), (local,)),
        RouteTable("rtb-private", VPC, False, ("app-a", "app-b"), (local,)),
        RouteTable("rtb-public", VPC, False, ("public-a",), (local, Route("0.0.0.0/0", "igw-1", "active"))),
    )
    snap = Snapshot(
        region=REGION,
        secret=Secret(SECRET_ARN, "prod/app", True, FN_ARN),
        function=Function(
            "rotate", FN_ARN, f"arn:aws:iam::{ACCOUNT}:role/rotate", ("app-a", "app-b"), ("sg-fn",), VPC, None
        ),
        function_policy=INVOKE_POLICY,
        target_ref=TargetRef("secret-value", host="db.abc.us-east-1.rds.amazonaws.com", port=5432),
        database=Database(TargetKind.RDS_INSTANCE, "db", 5432, VPC, ("data-a", "data-b"), ("sg-db",)),
        dns_attributes={VPC: DnsAttributes(True, True)},
        subnets=subnets,
        route_tables=tables,
        network_acls=(acl("acl-default", tuple(subnets), allow_all_entries(), default=True),),
        security_groups=groups,
        vpc_endpoints=(
            VpcEndpoint(
                "vpce-1", VPC, SM_SERVICE, "Interface", "available", ("app-a", "app-b"), ("sg-vpce",), True, None
            ),
        ),
        internet_gateways={"igw-1": InternetGateway("igw-1", (VPC,))},
        hosted_zones={VPC: ()},
    )
    return replace(snap, **changes)


def nat_path(**changes: Any) -> Snapshot:
    """The baseline without the endpoint: the private subnets reach Secrets Manager through nat-1 in public-a."""
    base = healthy()
    tables = tuple(
        replace(t, routes=(*t.routes, Route("0.0.0.0/0", "nat-1", "active"))) if t.id == "rtb-private" else t
        for t in base.route_tables
    )
    fields: dict[str, Any] = {
        "vpc_endpoints": (),
        "route_tables": tables,
        "nat_gateways": {"nat-1": NatGateway("nat-1", VPC, "public-a", "available")},
    }
    return replace(base, **{**fields, **changes})


def with_group(snap: Snapshot, group: SecurityGroup) -> Snapshot:
    return replace(snap, security_groups={**snap.security_groups, group.id: group})


def with_table(snap: Snapshot, table: RouteTable) -> Snapshot:
    return replace(snap, route_tables=tuple(table if t.id == table.id else t for t in snap.route_tables))


def table(snap: Snapshot, table_id: str) -> RouteTable:
    return next(t for t in snap.route_tables if t.id == table_id)


# The route from the database's VPC back to the function's, over the peering.
ROUTE_BACK = (Route("10.0.0.0/16", "pcx-1", "active"),)


def peered(*, back: tuple[Route, ...] = (), peering: str = "active") -> Snapshot:
    """The database in vpc-2, peered with the function's VPC over pcx-1; `back` are vpc-2's routes to vpc-1."""
    base = healthy()
    db_subnets = {
        "db-a": Subnet("db-a", "vpc-2", "10.1.1.0/24", "us-east-1a"),
        "db-b": Subnet("db-b", "vpc-2", "10.1.2.0/24", "us-east-1b"),
    }
    tables = (
        *(
            replace(t, routes=(*t.routes, Route("10.1.0.0/16", "pcx-1", "active"))) if t.id == "rtb-private" else t
            for t in base.route_tables
        ),
        RouteTable("rtb-db", "vpc-2", True, (), (Route("10.1.0.0/16", "local", "active"), *back)),
    )
    db_sg = SecurityGroup("sg-db", "vpc-2", "db", (rule("sg-db", egress=False, port=5432, ref="sg-fn"),))
    return with_group(
        replace(
            base,
            subnets={**base.subnets, **db_subnets},
            route_tables=tables,
            network_acls=(*base.network_acls, replace(base.network_acls[0], id="acl-2", vpc_id="vpc-2", subnet_ids=())),
            database=Database(TargetKind.RDS_INSTANCE, "db", 5432, "vpc-2", ("db-a", "db-b"), ("sg-db",)),
            peerings={"pcx-1": PeeringConnection("pcx-1", VPC, "vpc-2", peering)},
        ),
        db_sg,
    )


# The function's VPC and the database's, linked by transit gateway tgw-1 (both attached, one route table).
TGW_ROUTE_BACK = (Route("10.0.0.0/16", "tgw-1", "active"),)


def through_tgw(*, referencing: bool = False, **changes: Any) -> Snapshot:
    """`peered()` with transit gateway tgw-1 in place of the peering: vpc-1 and vpc-2 attached in both zones to one
    route table that routes each VPC's block to its attachment; the database's group admits the function's block
    (a group reference does not cross a transit gateway unless `referencing` is on everywhere)."""
    base = peered(back=TGW_ROUTE_BACK)
    tables = tuple(
        replace(t, routes=tuple(Route(r.destination, "tgw-1", r.state) if r.target == "pcx-1" else r for r in t.routes))
        for t in base.route_tables
    )
    db_sg = SecurityGroup("sg-db", "vpc-2", "db", (rule("sg-db", egress=False, port=5432, cidr="10.0.0.0/16"),))
    snap = replace(
        with_group(base, db_sg),
        route_tables=tables,
        peerings={},
        transit_gateways={"tgw-1": TransitGateway("tgw-1", "available", referencing)},
        tgw_attachments={
            "tgw-attach-1": TransitGatewayAttachment(
                "tgw-attach-1",
                "tgw-1",
                "vpc",
                VPC,
                "available",
                "tgw-rtb-1",
                ("app-a", "app-b"),
                security_group_referencing=referencing,
            ),
            "tgw-attach-2": TransitGatewayAttachment(
                "tgw-attach-2",
                "tgw-1",
                "vpc",
                "vpc-2",
                "available",
                "tgw-rtb-1",
                ("db-a", "db-b"),
                security_group_referencing=referencing,
            ),
        },
        tgw_route_tables={
            "tgw-rtb-1": TransitGatewayRouteTable(
                "tgw-rtb-1",
                "tgw-1",
                (
                    TransitGatewayRoute("10.0.0.0/16", ("tgw-attach-1",), "active", "propagated"),
                    TransitGatewayRoute("10.1.0.0/16", ("tgw-attach-2",), "active", "propagated"),
                ),
            )
        },
    )
    return replace(snap, **changes)


# ----- one breakage each fix kind mends (the planner's property, evidence and IAM tests combine them) ---------

Breakage = Callable[[Snapshot], Snapshot]


def _no_endpoint(s: Snapshot) -> Snapshot:
    return replace(s, vpc_endpoints=())


def _private_dns_off(s: Snapshot) -> Snapshot:
    return replace(s, vpc_endpoints=tuple(replace(e, private_dns_enabled=False) for e in s.vpc_endpoints))


def _vpc_dns_off(s: Snapshot) -> Snapshot:
    return replace(s, dns_attributes={VPC: DnsAttributes(True, False)})


def _endpoint_group_closed(s: Snapshot) -> Snapshot:
    return with_group(s, SecurityGroup("sg-vpce", VPC, "vpce", ()))


def _function_egress_closed(s: Snapshot) -> Snapshot:
    return with_group(s, SecurityGroup("sg-fn", VPC, "fn", ()))


def _database_group_closed(s: Snapshot) -> Snapshot:
    return with_group(s, SecurityGroup("sg-db", VPC, "db", (rule("sg-db", egress=False, port=5432, ref="sg-app"),)))


def _data_acl_closed(s: Snapshot) -> Snapshot:
    entries = (
        NaclEntry(100, False, True, "6", "0.0.0.0/0", 443, 443),
        NaclEntry(100, True, True, "6", "10.0.0.0/8", 443, 443),
    )
    return replace(
        s,
        network_acls=(
            acl("acl-default", ("app-a", "app-b", "public-a"), allow_all_entries(), True),
            acl("acl-data", ("data-a", "data-b"), entries),
        ),
    )


def _no_invoke_permission(s: Snapshot) -> Snapshot:
    return replace(s, function_policy=None)


def _function_outside_vpc(s: Snapshot) -> Snapshot:
    assert s.function is not None
    return replace(s, function=replace(s.function, subnet_ids=(), security_group_ids=(), vpc_id=None))


def _nat_deleted(s: Snapshot) -> Snapshot:
    return replace(s, nat_gateways={k: replace(v, state="deleted") for k, v in s.nat_gateways.items()})


BREAKAGES: list[Breakage] = [
    _no_endpoint,
    _private_dns_off,
    _vpc_dns_off,
    _endpoint_group_closed,
    _function_egress_closed,
    _database_group_closed,
    _data_acl_closed,
    _no_invoke_permission,
    _function_outside_vpc,
    _nat_deleted,
]


def dual_stack(**changes: Any) -> Snapshot:
    """No endpoint, no NAT: the app subnets are dual-stack and route ::/0 to eigw-1, the function calls the
    dual-stack name with IPv6 allowed, its group sends anything anywhere (both families), the ACL allows both."""
    base = healthy()
    subnets = {
        **base.subnets,
        "app-a": replace(base.subnets["app-a"], ipv6_cidrs=("2600:1f18:0:1::/64",)),
        "app-b": replace(base.subnets["app-b"], ipv6_cidrs=("2600:1f18:0:2::/64",)),
    }
    fn = replace(base.function, ipv6_allowed_for_dual_stack=True, uses_dualstack_endpoint=True)  # type: ignore[type-var]
    private = next(t for t in base.route_tables if t.id == "rtb-private")
    private = replace(
        private, ipv6_routes=(Route("2600:1f18::/56", "local", "active"), Route("::/0", "eigw-1", "active"))
    )
    fn_group = SecurityGroup(
        "sg-fn",
        "vpc-1",
        "fn",
        (
            SecurityGroupRule("sg-fn", True, "-1", None, None, cidr="0.0.0.0/0"),
            SecurityGroupRule("sg-fn", True, "-1", None, None, cidr="::/0"),
        ),
    )
    entries = (*allow_all_entries(), *(NaclEntry(101, e, True, "-1", "::/0", None, None) for e in (True, False)))
    snap = with_group(with_table(replace(base, vpc_endpoints=()), private), fn_group)
    snap = replace(
        snap,
        subnets=subnets,
        function=fn,
        network_acls=(acl("acl-default", tuple(subnets), entries, default=True),),
    )
    return replace(snap, **changes)


DB_LIST = PrefixList("pl-data", "data", "IPv4", ("10.0.11.0/24", "10.0.12.0/24"))


def _pl_rule(group: str, pl: str, port: int, *, egress: bool) -> SecurityGroupRule:
    return SecurityGroupRule(group, egress, "tcp", port, port, prefix_list_id=pl)


def _db_reached_by_list(**changes: Any):  # type: ignore[no-untyped-def]
    """The baseline, but the function's group reaches the database only through pl-data (plus 443 to the VPC)."""
    fn_group = SecurityGroup(
        "sg-fn",
        "vpc-1",
        "fn",
        (
            SecurityGroupRule("sg-fn", True, "tcp", 443, 443, cidr="10.0.0.0/16"),
            _pl_rule("sg-fn", "pl-data", 5432, egress=True),
        ),
    )
    return replace(with_group(healthy(), fn_group), **changes)


TARGET = ProxyTarget("db", "RDS_INSTANCE", 5432, "AVAILABLE", None, None, VPC, ("data-a", "data-b"), ("sg-db",))


def proxied(*targets: ProxyTarget, auth: tuple[str, ...] = (), **changes: Any) -> Snapshot:
    """The baseline with the secret's host an RDS Proxy in data-a/data-b (group sg-proxy, admitting the function)
    in front of the database `db` (group sg-db, admitting the proxy's group)."""
    base = healthy()
    proxy = Database(
        TargetKind.RDS_PROXY,
        "orders-proxy",
        5432,
        VPC,
        ("data-a", "data-b"),
        ("sg-proxy",),
        proxy_targets=targets,
        proxy_auth_secrets=auth,
    )
    snap = with_group(
        with_group(
            base,
            SecurityGroup(
                "sg-proxy",
                VPC,
                "proxy",
                (
                    rule("sg-proxy", egress=False, port=5432, ref="sg-fn"),
                    rule("sg-proxy", egress=True, cidr="0.0.0.0/0", protocol="-1"),
                ),
            ),
        ),
        SecurityGroup("sg-db", VPC, "db", (rule("sg-db", egress=False, port=5432, ref="sg-proxy"),)),
    )
    return replace(snap, database=proxy, **changes)


DB_BLOCKS = PrefixList("pl-db", "database blocks", "IPv4", ("10.1.0.0/16",))


def by_prefix_list(snap: Snapshot, *lists: PrefixList, read: bool = True) -> Snapshot:
    """`snap` with rtb-private sending the database's VPC to tgw-1 by prefix list pl-db instead of by CIDR."""
    private = table(snap, "rtb-private")
    routed = replace(
        private,
        routes=tuple(r for r in private.routes if r.destination != "10.1.0.0/16"),
        prefix_list_routes=(Route("pl-db", "tgw-1", "active"),),
    )
    return replace(with_table(snap, routed), prefix_lists={pl.id: pl for pl in lists} if read else {})

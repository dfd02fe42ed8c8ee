"""Transit gateways: the pure crossing (netsem), the database path through one (analysis on hand-built snapshots),
and the collector and simulated account on moto."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rotation_doctor.analysis import diagnose
from rotation_doctor.collect import convert
from rotation_doctor.collect.aws import AwsClients
from rotation_doctor.examine import diagnose_secret
from rotation_doctor.model.findings import Severity, Verdict
from rotation_doctor.model.snapshot import (
    FactKey,
    ReadFailure,
    Route,
    SecurityGroup,
    Snapshot,
    Subnet,
    TransitGatewayAttachment,
    TransitGatewayRoute,
    TransitGatewayRouteTable,
)
from rotation_doctor.netsem import transit_gateways as tgw
from rotation_doctor.simulated import scenarios
from rotation_doctor.simulated.account import AccountBuilder
from tests.faults import refused
from tests.snapshots import (
    DB_BLOCKS,
    acl,
    allow_all_entries,
    by_prefix_list,
    rule,
    table,
    through_tgw,
    with_group,
    with_table,
)

# ----- netsem: one crossing ---------------------------------------------------------------------


def facts(snap: Snapshot) -> tgw.Facts:
    return tgw.Facts(
        snap.transit_gateways, snap.tgw_attachments, snap.tgw_route_tables, snap.subnets, snap.prefix_lists
    )


def with_tgw_routes(snap: Snapshot, *routes: TransitGatewayRoute, complete: bool = True) -> Snapshot:
    return replace(
        snap, tgw_route_tables={"tgw-rtb-1": TransitGatewayRouteTable("tgw-rtb-1", "tgw-1", routes, complete)}
    )


def with_attachment(snap: Snapshot, attachment: TransitGatewayAttachment) -> Snapshot:
    return replace(snap, tgw_attachments={**snap.tgw_attachments, attachment.id: attachment})


def test_a_crossing_reaches_the_far_vpc_both_ways() -> None:
    snap = through_tgw()
    there = tgw.cross(facts(snap), "tgw-1", snap.subnets["app-a"], snap.subnets["db-b"])
    back = tgw.cross(facts(snap), "tgw-1", snap.subnets["db-b"], snap.subnets["app-a"])
    assert (there.outcome, there.attachment_id, there.far_attachment_id) == (
        tgw.Outcome.DELIVERED,
        "tgw-attach-1",
        "tgw-attach-2",
    )
    assert (back.outcome, back.far_attachment_id) == (tgw.Outcome.DELIVERED, "tgw-attach-1")


def test_the_longest_prefix_wins_and_a_static_route_beats_a_propagated_one() -> None:
    routes = TransitGatewayRouteTable(
        "t",
        "tgw-1",
        (
            TransitGatewayRoute("10.0.0.0/8", ("a",), "active"),
            TransitGatewayRoute("10.1.0.0/16", ("b",), "active", "propagated"),
            TransitGatewayRoute("10.1.0.0/16", ("c",), "active", "static"),
            TransitGatewayRoute("10.1.1.0/24", (), "blackhole"),
        ),
    )
    assert tgw.route_for(routes, IPv4Network("10.1.2.0/24"), {})[0].attachment_ids == ("c",)  # type: ignore[union-attr]
    assert tgw.route_for(routes, IPv4Network("10.1.1.0/24"), {})[0].state == "blackhole"  # type: ignore[union-attr]
    assert tgw.route_for(routes, IPv4Network("10.9.0.0/24"), {})[0].attachment_ids == ("a",)  # type: ignore[union-attr]
    assert tgw.route_for(routes, IPv4Network("192.168.0.0/24"), {})[0] is None


@pytest.mark.parametrize(
    ("change", "outcome"),
    [
        # The function's VPC is not attached at all.
        (lambda s: replace(s, tgw_attachments={"tgw-attach-2": s.tgw_attachments["tgw-attach-2"]}), "not_attached"),
        # Attached, but not in app-a's zone: AWS drops what that zone sends.
        (
            lambda s: with_attachment(s, replace(s.tgw_attachments["tgw-attach-1"], subnet_ids=("app-b",))),
            "no_zone",
        ),
        (
            lambda s: with_attachment(s, replace(s.tgw_attachments["tgw-attach-1"], state="pending")),
            "not_attached",
        ),
        (
            lambda s: with_attachment(s, replace(s.tgw_attachments["tgw-attach-1"], route_table_id=None)),
            "not_associated",
        ),
        (lambda s: with_tgw_routes(s, TransitGatewayRoute("10.0.0.0/16", ("tgw-attach-1",), "active")), "no_route"),
        (lambda s: with_tgw_routes(s, TransitGatewayRoute("10.1.0.0/16", (), "blackhole")), "blackhole"),
        (
            lambda s: with_attachment(s, replace(s.tgw_attachments["tgw-attach-2"], state="deleting")),
            "far_not_attached",
        ),
        # Beyond the model: a truncated route table, an inspection VPC, appliance mode, a peering attachment.
        (lambda s: with_tgw_routes(s, complete=False), "not_modelled"),
        (
            lambda s: with_attachment(s, replace(s.tgw_attachments["tgw-attach-2"], resource_id="vpc-inspection")),
            "not_modelled",
        ),
        (
            lambda s: with_attachment(s, replace(s.tgw_attachments["tgw-attach-2"], appliance_mode=True)),
            "not_modelled",
        ),
        (
            lambda s: with_attachment(s, replace(s.tgw_attachments["tgw-attach-2"], resource_type="peering")),
            "not_modelled",
        ),
    ],
)
def test_where_a_crossing_stops(change, outcome: str) -> None:  # type: ignore[no-untyped-def]
    snap = change(through_tgw())
    assert tgw.cross(facts(snap), "tgw-1", snap.subnets["app-a"], snap.subnets["db-a"]).outcome == outcome


def test_group_references_cross_only_where_every_part_supports_them() -> None:
    assert not tgw.references_allowed(facts(through_tgw()), "tgw-1", "vpc-1", "vpc-2")
    snap = through_tgw(referencing=True)
    assert tgw.references_allowed(facts(snap), "tgw-1", "vpc-1", "vpc-2")
    one_side_off = with_attachment(
        snap, replace(snap.tgw_attachments["tgw-attach-2"], security_group_referencing=False)
    )
    assert not tgw.references_allowed(facts(one_side_off), "tgw-1", "vpc-1", "vpc-2")


# ----- analysis: the database path through a transit gateway ----------------------------------


def codes(snap: Snapshot) -> dict[str, object]:
    d = diagnose(snap)
    return {f.code: f for f in d.findings}


def test_the_database_through_a_transit_gateway_is_healthy_natively() -> None:
    d = diagnose(through_tgw())
    assert d.verdict is Verdict.HEALTHY, d.findings


def test_a_blackhole_to_the_database_is_named() -> None:
    snap = with_tgw_routes(
        through_tgw(),
        TransitGatewayRoute("10.0.0.0/16", ("tgw-attach-1",), "active"),
        TransitGatewayRoute("10.1.0.0/16", (), "blackhole"),
    )
    d = diagnose(snap)
    assert d.verdict is Verdict.BROKEN
    found = {f.code: f for f in d.findings}
    assert set(found) == {"DB_TGW_BLACKHOLE"}
    f = found["DB_TGW_BLACKHOLE"]
    assert f.severity is Severity.ERROR and "tgw-rtb-1" in f.resources and "to the database" in f.summary


def test_a_missing_route_back_in_the_transit_gateway_is_named() -> None:
    snap = with_tgw_routes(through_tgw(), TransitGatewayRoute("10.1.0.0/16", ("tgw-attach-2",), "active"))
    d = diagnose(snap)
    found = {f.code: f for f in d.findings}
    assert set(found) == {"DB_TGW_ROUTE_MISSING"} and d.verdict is Verdict.BROKEN
    assert found["DB_TGW_ROUTE_MISSING"].evidence["direction"] == "back to the function"


def test_a_missing_route_back_in_the_database_vpc_is_no_route() -> None:
    snap = through_tgw()
    snap = with_table(snap, replace(table(snap, "rtb-db"), routes=(Route("10.1.0.0/16", "local", "active"),)))
    assert set(codes(snap)) == {"DB_NO_ROUTE"}


def test_an_attachment_missing_a_zone_breaks_only_that_zone() -> None:
    snap = through_tgw()
    snap = with_attachment(snap, replace(snap.tgw_attachments["tgw-attach-1"], subnet_ids=("app-b",)))
    d = diagnose(snap)
    found = {f.code: f for f in d.findings}
    assert set(found) == {"DB_TGW_NOT_ATTACHED"}
    # app-b still reaches the database: the function fails only where it runs in app-a.
    assert found["DB_TGW_NOT_ATTACHED"].severity is Severity.WARNING and d.verdict is Verdict.DEGRADED
    assert found["DB_TGW_NOT_ATTACHED"].evidence["zone"] == "us-east-1a"


def test_a_group_reference_does_not_cross_a_transit_gateway_unless_referencing_is_on() -> None:
    by_reference = SecurityGroup("sg-db", "vpc-2", "db", (rule("sg-db", egress=False, port=5432, ref="sg-fn"),))
    assert "DB_SG_INGRESS_DENIES" in codes(with_group(through_tgw(), by_reference))
    assert diagnose(with_group(through_tgw(referencing=True), by_reference)).verdict is Verdict.HEALTHY


def test_beyond_the_model_is_not_evaluated_with_the_reason() -> None:
    snap = through_tgw()
    snap = with_attachment(snap, replace(snap.tgw_attachments["tgw-attach-2"], appliance_mode=True))
    d = diagnose(snap)
    assert d.verdict is Verdict.UNKNOWN
    assert "appliance mode" in next(f.summary for f in d.findings if f.code == "DB_PATH_NOT_EVALUATED")


def test_unread_transit_gateways_are_not_evaluated_never_healthy() -> None:
    failure = ReadFailure("ec2:DescribeTransitGateways", "UnauthorizedOperation", "no", "ec2:DescribeTransitGateways")
    snap = through_tgw(failures={FactKey.TRANSIT_GATEWAYS: failure})
    d = diagnose(snap)
    assert d.verdict is Verdict.UNKNOWN
    assert {"DB_PATH_NOT_EVALUATED", "AWS_READ_FAILED"} <= set(d.codes())


def test_planning_calls_a_transit_gateway_route_unfixable_with_the_remedy() -> None:
    from rotation_doctor.planning.planner import make_plan

    snap = with_tgw_routes(through_tgw(), TransitGatewayRoute("10.1.0.0/16", ("tgw-attach-2",), "active"))
    plan = make_plan(snap)
    assert not plan.fixes
    assert any("DB_TGW_ROUTE_MISSING" in u.code and "never edits" in u.reason for u in plan.unfixable)


# ----- on the simulated account (moto) ------------------------------------------------------------


def _diagnose(clients: AwsClients, secret: str):  # type: ignore[no-untyped-def]
    return diagnose_secret(clients, secret)[1]


def healthy_orders(b: AccountBuilder) -> scenarios.Orders:
    return scenarios.orders(b, db_admits_function=True, endpoint=True)


def test_a_database_behind_a_transit_gateway_on_the_simulated_account_is_healthy(builder: AccountBuilder) -> None:
    scenarios.tgw_database(builder, healthy_orders(builder))
    d = _diagnose(builder.clients, "prod/ledger/db")
    assert d.verdict is Verdict.HEALTHY, d.findings


@pytest.mark.parametrize(("breaks", "code"), [("return", "DB_TGW_ROUTE_MISSING"), ("blackhole", "DB_TGW_BLACKHOLE")])
def test_a_broken_transit_gateway_on_the_simulated_account(builder: AccountBuilder, breaks: str, code: str) -> None:
    built = scenarios.tgw_database(builder, healthy_orders(builder), breaks=breaks)
    d = _diagnose(builder.clients, "prod/ledger/db")
    assert d.verdict is Verdict.BROKEN and d.codes() == [code], d.findings
    side = "apps" if breaks == "blackhole" else "data"
    assert built["tgw_tables"][side] in d.findings[0].resources


def test_no_transit_gateway_read_without_a_route_to_one(builder: AccountBuilder) -> None:
    healthy_orders(builder)
    builder.clients.counter.calls.clear()
    _diagnose(builder.clients, scenarios.DEMO_SECRET)
    assert not [c for c in builder.clients.counter.calls.elements() if "TransitGateway" in c]


def test_transit_gateway_reads_are_bounded(builder: AccountBuilder) -> None:
    scenarios.tgw_database(builder, healthy_orders(builder))
    builder.clients.counter.calls.clear()
    _diagnose(builder.clients, "prod/ledger/db")
    tgw_calls = sorted(c for c in builder.clients.counter.calls.elements() if "TransitGateway" in c)
    # The gateway, its attachments, its VPC attachments: one call each; one route search per route table.
    assert tgw_calls == [
        "ec2:DescribeTransitGatewayAttachments",
        "ec2:DescribeTransitGatewayVpcAttachments",
        "ec2:DescribeTransitGateways",
        "ec2:SearchTransitGatewayRoutes",
        "ec2:SearchTransitGatewayRoutes",
    ]


def test_the_attachment_subnets_network_acl_is_on_the_path() -> None:
    # vpc-1's attachment gets its own subnets (tgw-a, tgw-b) behind an ACL that admits nothing from the function.
    base = through_tgw()
    tgw_subnets = {
        "tgw-a": Subnet("tgw-a", "vpc-1", "10.0.201.0/28", "us-east-1a"),
        "tgw-b": Subnet("tgw-b", "vpc-1", "10.0.201.16/28", "us-east-1b"),
    }
    closed = acl("acl-tgw", ("tgw-a", "tgw-b"), ())
    snap = replace(
        with_attachment(base, replace(base.tgw_attachments["tgw-attach-1"], subnet_ids=("tgw-a", "tgw-b"))),
        subnets={**base.subnets, **tgw_subnets},
        network_acls=(*base.network_acls, closed),
    )
    d = diagnose(snap)
    f = next(f for f in d.findings if f.code == "DB_NACL_DENIES")
    assert d.verdict is Verdict.BROKEN and "acl-tgw" in f.resources and "tgw-attach-1" in f.summary
    # Open, the same topology is healthy: the finding came from the attachment subnet's ACL alone.
    opened = replace(closed, entries=allow_all_entries())
    assert diagnose(replace(snap, network_acls=(*base.network_acls, opened))).verdict is Verdict.HEALTHY


def test_secrets_manager_egress_to_a_transit_gateway_the_vpc_is_not_attached_to_is_broken() -> None:
    # Centralized egress is judged (tests/test_centralized_egress.py): a default route to a gateway the VPC has no
    # attachment to leads nowhere.
    from tests.snapshots import nat_path

    snap = nat_path()
    private = table(snap, "rtb-private")
    snap = with_table(snap, replace(private, routes=(private.routes[0], Route("0.0.0.0/0", "tgw-1", "active"))))
    d = diagnose(snap)
    assert d.verdict is Verdict.BROKEN and d.codes() == ["SM_TGW_NOT_ATTACHED"], d.findings


@pytest.mark.parametrize("operation", ["DescribeTransitGatewayAttachments", "SearchTransitGatewayRoutes"])
def test_a_denied_transit_gateway_read_is_unknown_never_healthy(builder: AccountBuilder, operation: str) -> None:
    scenarios.tgw_database(builder, healthy_orders(builder))
    with refused(builder.clients, "ec2", operation):
        d = _diagnose(builder.clients, "prod/ledger/db")
    assert d.verdict is Verdict.UNKNOWN, d.findings
    read_failed = next(f for f in d.findings if f.code == "AWS_READ_FAILED")
    assert read_failed.evidence["permission"] == f"ec2:{operation}"
    assert "DB_PATH_NOT_EVALUATED" in d.codes()


_prefixes = st.builds(
    lambda a, n: str(IPv4Network((a, n), strict=False)),
    st.integers(0, 2**32 - 1).map(lambda a: (a & 0x0AFFFFFF) | 0x0A000000),  # inside 10.0.0.0/8
    st.integers(8, 28),
)


@given(
    st.lists(st.tuples(_prefixes, st.sampled_from(["static", "propagated"])), max_size=12),
    _prefixes,
)
@settings(max_examples=200, deadline=None)
def test_route_for_is_the_most_specific_covering_route(table_routes: list[tuple[str, str]], wanted: str) -> None:
    routes = tuple(TransitGatewayRoute(d, (f"att-{i}",), "active", t) for i, (d, t) in enumerate(table_routes))
    chosen, _ = tgw.route_for(TransitGatewayRouteTable("t", "tgw-1", routes), IPv4Network(wanted), {})
    covering = [r for r in routes if IPv4Network(wanted).subnet_of(IPv4Network(r.destination))]
    if not covering:
        assert chosen is None
        return
    assert chosen is not None
    longest = max(IPv4Network(r.destination).prefixlen for r in covering)
    best = [r for r in covering if IPv4Network(r.destination).prefixlen == longest]
    assert chosen in best and IPv4Network(chosen.destination).prefixlen == longest
    if any(r.route_type == "static" for r in best):
        assert chosen.route_type == "static"


# ----- routes whose destination is a managed prefix list ------------------------------------------


def test_a_vpc_route_to_a_transit_gateway_by_prefix_list_reaches_the_database() -> None:
    d = diagnose(by_prefix_list(through_tgw(), DB_BLOCKS))
    assert d.verdict is Verdict.HEALTHY, d.findings


def test_a_route_prefix_list_that_could_not_be_read_leaves_the_path_unjudged_never_unrouted() -> None:
    failure = ReadFailure(
        "ec2:GetManagedPrefixListEntries", "UnauthorizedOperation", "", "ec2:GetManagedPrefixListEntries"
    )
    snap = replace(by_prefix_list(through_tgw(), read=False), failures={f"{FactKey.PREFIX_LISTS}:pl-db": failure})
    d = diagnose(snap)
    assert d.verdict is Verdict.UNKNOWN, d.findings
    assert "DB_NO_ROUTE" not in d.codes()
    unjudged = next(f for f in d.findings if f.code == "DB_PATH_NOT_EVALUATED")
    assert unjudged.evidence["prefix_lists"] == ["pl-db"]


def test_a_cidr_route_beats_a_prefix_list_entry_of_the_same_length_and_loses_to_a_longer_one() -> None:
    snap = through_tgw()
    private = table(snap, "rtb-private")
    elsewhere = replace(private, prefix_list_routes=(Route("pl-db", "igw-1", "active"),))
    same_length = replace(with_table(snap, elsewhere), prefix_lists={"pl-db": DB_BLOCKS})
    assert diagnose(same_length).verdict is Verdict.HEALTHY  # 10.1.0.0/16 -> tgw-1 (CIDR) wins the tie
    longer = replace(same_length, prefix_lists={"pl-db": replace(DB_BLOCKS, cidrs=("10.1.0.0/17",))})
    assert "DB_NO_ROUTE" in diagnose(longer).codes()  # db-a (10.1.1.0/24) goes to igw-1 by the /17 entry


def test_a_transit_gateway_prefix_list_reference_beats_a_propagated_route_and_loses_to_a_static_one() -> None:
    reference = TransitGatewayRoute("", (), "blackhole", "static", prefix_list_id="pl-db")
    propagated = TransitGatewayRoute("10.1.0.0/16", ("tgw-attach-2",), "active", "propagated")
    back = TransitGatewayRoute("10.0.0.0/16", ("tgw-attach-1",), "active", "propagated")
    snap = replace(with_tgw_routes(through_tgw(), back, propagated, reference), prefix_lists={"pl-db": DB_BLOCKS})
    there = tgw.cross(facts(snap), "tgw-1", snap.subnets["app-a"], snap.subnets["db-a"])
    assert there.outcome is tgw.Outcome.BLACKHOLE and there.route == reference
    static = replace(propagated, route_type="static")
    snap = with_tgw_routes(snap, back, static, reference)
    assert tgw.cross(facts(snap), "tgw-1", snap.subnets["app-a"], snap.subnets["db-a"]).outcome is tgw.Outcome.DELIVERED


def test_an_unread_transit_gateway_prefix_list_reference_is_not_modelled_rather_than_no_route() -> None:
    reference = TransitGatewayRoute("", ("tgw-attach-2",), "active", "static", prefix_list_id="pl-db")
    snap = with_tgw_routes(through_tgw(), reference)
    there = tgw.cross(facts(snap), "tgw-1", snap.subnets["app-a"], snap.subnets["db-a"])
    assert there.outcome is tgw.Outcome.NOT_MODELLED and "pl-db" in there.why
    read = replace(snap, prefix_lists={"pl-db": DB_BLOCKS})
    assert tgw.cross(facts(read), "tgw-1", read.subnets["app-a"], read.subnets["db-a"]).outcome is tgw.Outcome.DELIVERED


def test_prefix_list_routes_are_read_from_both_kinds_of_route_table() -> None:
    vpc_table = convert.route_table(
        {
            "RouteTableId": "rtb-1",
            "VpcId": "vpc-1",
            "Routes": [
                {"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "State": "active"},
                {"DestinationPrefixListId": "pl-db", "TransitGatewayId": "tgw-1", "State": "active"},
            ],
        }
    )
    assert vpc_table.prefix_list_routes == (Route("pl-db", "tgw-1", "active"),)
    assert [r.destination for r in vpc_table.routes] == ["10.0.0.0/16"]
    reference = convert.tgw_route({"PrefixListId": "pl-db", "Type": "static", "State": "blackhole"})
    assert reference == TransitGatewayRoute("", (), "blackhole", "static", prefix_list_id="pl-db")

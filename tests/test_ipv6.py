"""IPv6: dual-stack subnets, IPv6 routes, NACL entries and security-group rules, and the function's IPv6 egress.

The model (docs/diagnosis.md, "Semantics, precisely"): the public Secrets Manager API is reached over IPv6
only when the function calls the dual-stack name (AWS_USE_DUALSTACK_ENDPOINT=true), Lambda lets it send IPv6
(Ipv6AllowedForDualStack) and all its subnets are dual-stack; then `::/0` must lead to an egress-only or
internet gateway and the IPv6 rules must admit it. Otherwise the IPv4 path is judged, as before.
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rotation_doctor.analysis.diagnosis import diagnose as diagnose_snapshot
from rotation_doctor.collect.collector import Collector
from rotation_doctor.examine import diagnose_secret
from rotation_doctor.model.evidence import EgressDenied
from rotation_doctor.model.findings import Severity, Verdict
from rotation_doctor.model.snapshot import (
    NaclEntry,
    NetworkAcl,
    PrefixList,
    Route,
    RouteTable,
    SecurityGroup,
    SecurityGroupRule,
    Snapshot,
)
from rotation_doctor.netsem import dns, network_acls, routes, security_groups
from rotation_doctor.netsem.addresses import covered_by, ipv4, ipv6, network, public_internet_v6
from rotation_doctor.netsem.network_acls import Outcome
from rotation_doctor.simulated import scenarios
from rotation_doctor.simulated.account import AccountBuilder
from tests.snapshots import allow_all_entries, dual_stack, with_group, with_table

N = ipaddress.ip_network

# ----- addresses ---------------------------------------------------------------------------------


def test_address_helpers_keep_the_families_apart() -> None:
    assert ipv6("2600:1f18::/64") == N("2600:1f18::/64") and ipv6("10.0.0.0/8") is None
    assert ipv4("2600:1f18::/64") is None
    assert network("::/0") == N("::/0") and network("10.0.0.0/8") == N("10.0.0.0/8") and network("nope") is None
    assert not covered_by([N("2600:1f18::/64")], [N("0.0.0.0/0")])  # an IPv4 block never covers IPv6 addresses
    assert covered_by([N("2600:1f18::/64")], [N("::/0")])
    assert covered_by(list(public_internet_v6()), [N("::/0")])


# ----- network ACLs: IPv6 entries ---------------------------------------------------------------

PEER6 = N("2600:1f18:0:1::/120")  # 256 addresses: small enough to check every one


def _acl6(*entries: NaclEntry) -> NetworkAcl:
    return NetworkAcl("acl-1", "vpc-1", False, ("subnet-1",), entries)


def test_ipv4_entries_do_not_match_ipv6_peers() -> None:
    """A default ACL of a VPC without IPv6 rules (only 0.0.0.0/0) denies IPv6 traffic: the implicit deny."""
    acl4 = _acl6(NaclEntry(100, True, True, "-1", "0.0.0.0/0", None, None))
    decision = network_acls.evaluate(acl4, egress=True, addresses=[N("::/0")], ports=(443, 443))
    assert decision.outcome is Outcome.DENY and decision.denying_rules == (32767,)
    both = _acl6(*acl4.entries, NaclEntry(101, True, True, "-1", "::/0", None, None))
    assert network_acls.evaluate(both, egress=True, addresses=[N("::/0")], ports=(443, 443)).allowed
    assert network_acls.evaluate(both, egress=True, addresses=[N("10.0.0.0/8")], ports=(443, 443)).allowed


_cidrs6 = st.sampled_from(
    [
        "::/0",
        "2600:1f18::/32",
        "2600:1f18:0:1::/120",
        "2600:1f18:0:1::/121",
        "2600:1f18:0:1::80/122",
        "2600:1f18:0:2::/64",
        "2600:1f18:0:1::7/128",
        "0.0.0.0/0",  # IPv4 entries share the rule numbers but never match an IPv6 peer
        "10.0.1.0/24",
    ]
)
_entries6 = st.lists(
    st.builds(
        lambda number, allow, cidr, lo, hi, protocol: NaclEntry(number, False, allow, protocol, cidr, lo, hi),
        st.integers(1, 300),
        st.booleans(),
        _cidrs6,
        st.sampled_from([0, 443, 1024, 32768]),
        st.sampled_from([443, 1023, 40000, 65535]),
        st.sampled_from(["6", "-1", "17"]),
    ),
    max_size=6,
    unique_by=lambda e: e.rule_number,
)


def _packet_allowed(rules: list[NaclEntry], address: ipaddress.IPv6Address, port: int) -> bool:
    """One packet, decided as AWS documents it: the lowest-numbered rule of the packet's family that matches."""
    for e in rules:
        block = N(e.cidr)
        lo, hi = (0, 65535) if e.protocol == "-1" else (e.port_from, e.port_to)
        if block.version != 6 or e.protocol not in ("-1", "6"):
            continue
        if address in block and lo <= port <= hi:  # type: ignore[operator]
            return e.allow
    return False


@settings(max_examples=120, deadline=None)
@given(_entries6, st.sampled_from([(443, 443), (1024, 65535)]))
def test_ipv6_nacl_matches_packet_by_packet_evaluation(entries: list[NaclEntry], ports: tuple[int, int]) -> None:
    """Exhaustive over the peer's 256 IPv6 addresses and every port where some rule's range starts or ends."""
    entries = [e for e in entries if e.port_from <= e.port_to]  # type: ignore[operator]
    decision = network_acls.evaluate(_acl6(*entries), egress=False, addresses=[PEER6], ports=ports)
    edges = {ports[0], ports[1]} | {
        p for e in entries for p in (e.port_from, e.port_to, (e.port_from or 0) - 1, (e.port_to or 0) + 1)
    }
    probe_ports = sorted(p for p in edges if p is not None and ports[0] <= p <= ports[1])
    rules = sorted(entries, key=lambda e: e.rule_number)
    seen = {_packet_allowed(rules, address, port) for address in PEER6 for port in probe_ports}  # type: ignore[arg-type]
    expected = {Outcome.ALLOW: {True}, Outcome.DENY: {False}, Outcome.PARTIAL: {True, False}}[decision.outcome]
    assert seen == expected


# ----- routes: IPv6 longest prefix, apart from IPv4 ---------------------------------------------


def test_ipv6_longest_prefix_wins_and_ipv4_routes_never_match() -> None:
    table = RouteTable(
        "rtb",
        "vpc-1",
        True,
        (),
        (Route("0.0.0.0/0", "nat-1", "active"),),
        ipv6_routes=(
            Route("2600:1f18::/56", "local", "active"),
            Route("2600:1f18:0:ff::/64", "pcx-1", "active"),
            Route("::/0", "eigw-1", "active"),
        ),
    )
    assert routes.choose(table, routes.DEFAULT_ROUTE_V6, {}).route.target == "eigw-1"  # type: ignore[union-attr]
    assert routes.choose(table, N("2600:1f18:0:ff::/64"), {}).route.target == "pcx-1"  # type: ignore[union-attr,arg-type]
    assert routes.choose(table, N("2600:1f18:0:1::/64"), {}).route.target == "local"  # type: ignore[union-attr,arg-type]
    assert routes.choose(table, routes.DEFAULT_ROUTE, {}).route.target == "nat-1"  # type: ignore[union-attr]
    v4_only = replace(table, ipv6_routes=())
    assert routes.choose(v4_only, routes.DEFAULT_ROUTE_V6, {}).route is None


# ----- security groups: CidrIpv6 ----------------------------------------------------------------


def test_ipv6_rules_admit_ipv6_peers_only() -> None:
    v4_all = SecurityGroupRule("sg", True, "-1", None, None, cidr="0.0.0.0/0")
    v6_all = SecurityGroupRule("sg", True, "-1", None, None, cidr="::/0")
    internet6 = security_groups.Peer(frozenset(), public_internet_v6())
    only_v4 = SecurityGroup("sg", "vpc-1", "sg", (v4_all,))
    assert not security_groups.allows_tcp([only_v4], egress=True, port=443, peer=internet6).allowed
    both = SecurityGroup("sg", "vpc-1", "sg", (v4_all, v6_all))
    decision = security_groups.allows_tcp([both], egress=True, port=443, peer=internet6)
    assert decision.allowed and decision.rules == (v6_all,)


# ----- analysis on hand-built snapshots ---------------------------------------------------------


def _codes(snap: Snapshot) -> tuple[Verdict, dict[str, Any]]:
    d = diagnose_snapshot(snap)
    return d.verdict, {f.code: f for f in d.findings}


def test_dual_stack_function_with_an_egress_only_gateway_is_healthy() -> None:
    verdict, found = _codes(dual_stack())
    assert verdict is Verdict.HEALTHY, found


def test_internet_gateway_serves_ipv6_without_a_nat() -> None:
    snap = dual_stack()
    private = next(t for t in snap.route_tables if t.id == "rtb-private")
    private = replace(private, ipv6_routes=(Route("::/0", "igw-1", "active"),))
    verdict, found = _codes(with_table(snap, private))
    assert verdict is Verdict.HEALTHY, found


def _without_v6_default_route(snap: Snapshot) -> Snapshot:
    private = next(t for t in snap.route_tables if t.id == "rtb-private")
    return with_table(
        snap, replace(private, ipv6_routes=tuple(r for r in private.ipv6_routes if r.destination != "::/0"))
    )


def test_no_ipv6_default_route_is_its_own_error() -> None:
    verdict, found = _codes(_without_v6_default_route(dual_stack()))
    assert verdict is Verdict.BROKEN
    finding = found["SM_IPV6_NO_ROUTE"]
    assert finding.severity is Severity.ERROR and "rtb-private" in finding.resources
    assert "SM_NO_PATH" not in found  # the IPv4 path is not what the function uses


def test_the_standard_name_is_dual_stack_without_any_sdk_switch() -> None:
    """secretsmanager.REGION.amazonaws.com answers over IPv6 too (Secrets Manager User Guide): a dual-stack function
    reaches it through the egress-only gateway alone, with AWS_USE_DUALSTACK_ENDPOINT unset or naming it outright."""
    base = dual_stack()
    fn = base.function
    assert fn is not None
    standard = replace(fn, uses_dualstack_endpoint=False)
    named = replace(standard, secrets_manager_endpoint="https://secretsmanager.us-east-1.amazonaws.com")
    for function in (standard, named):
        verdict, found = _codes(replace(base, function=function))
        assert verdict is Verdict.HEALTHY, found


def test_the_fips_name_answers_over_ipv4_only_unless_it_is_the_dual_stack_one() -> None:
    base = dual_stack()
    fn = base.function
    assert fn is not None
    fips = replace(fn, uses_dualstack_endpoint=False, uses_fips_endpoint=True)
    verdict, found = _codes(replace(base, function=fips))
    assert verdict is Verdict.BROKEN and "SM_NO_PATH" in found and "SM_IPV6_NO_ROUTE" not in found
    named = replace(
        fn, uses_dualstack_endpoint=False, secrets_manager_endpoint="secretsmanager-fips.us-east-1.amazonaws.com"
    )
    assert "SM_NO_PATH" in _codes(replace(base, function=named))[1]
    verdict, found = _codes(replace(base, function=replace(fips, uses_dualstack_endpoint=True)))
    assert verdict is Verdict.HEALTHY, found  # secretsmanager-fips.us-east-1.api.aws


def test_the_names_answer_with_the_documented_families() -> None:
    assert dns.address_families("secretsmanager.us-east-1.amazonaws.com", "us-east-1") == {"IPv4", "IPv6"}
    assert dns.address_families("secretsmanager.us-east-1.api.aws", "us-east-1") == {"IPv4", "IPv6"}
    assert dns.address_families("secretsmanager-fips.us-east-1.amazonaws.com", "us-east-1") == {"IPv4"}
    assert dns.address_families("secretsmanager-fips.us-east-1.api.aws", "us-east-1") == {"IPv4", "IPv6"}
    assert dns.address_families("secretsmanager.cn-north-1.amazonaws.com.cn", "cn-north-1") == {"IPv4"}
    assert dns.address_families("secrets.internal.example.com", "us-east-1") == {"IPv4"}


def test_the_ipv4_model_applies_without_ipv6_on_the_function() -> None:
    """Without Ipv6AllowedForDualStack or without dual-stack subnets: IPv4, no NAT: no path."""
    base = dual_stack()
    fn = base.function
    assert fn is not None
    for changed in (
        replace(base, function=replace(fn, ipv6_allowed_for_dual_stack=False)),
        replace(base, subnets={**base.subnets, "app-b": replace(base.subnets["app-b"], ipv6_cidrs=())}),
    ):
        verdict, found = _codes(changed)
        assert verdict is Verdict.BROKEN and "SM_NO_PATH" in found and "SM_IPV6_NO_ROUTE" not in found


def test_blackholed_ipv6_default_route() -> None:
    snap = dual_stack()
    private = next(t for t in snap.route_tables if t.id == "rtb-private")
    private = replace(private, ipv6_routes=(Route("::/0", "eigw-1", "blackhole"),))
    verdict, found = _codes(with_table(snap, private))
    assert verdict is Verdict.BROKEN and "::/0" in found["SM_ROUTE_BLACKHOLE"].summary


def test_ipv6_route_to_a_transit_gateway_is_not_evaluated() -> None:
    snap = dual_stack()
    private = next(t for t in snap.route_tables if t.id == "rtb-private")
    verdict, found = _codes(with_table(snap, replace(private, ipv6_routes=(Route("::/0", "tgw-1", "active"),))))
    assert verdict is Verdict.UNKNOWN and "SM_PATH_NOT_EVALUATED" in found


def test_group_without_ipv6_egress_denies() -> None:
    v4_only = SecurityGroup(
        "sg-fn", "vpc-1", "fn", (SecurityGroupRule("sg-fn", True, "-1", None, None, cidr="0.0.0.0/0"),)
    )
    verdict, found = _codes(with_group(dual_stack(), v4_only))
    assert verdict is Verdict.BROKEN
    denied = found["SM_LAMBDA_EGRESS_DENIES"].facts
    assert isinstance(denied, EgressDenied) and denied.to_cidr == "::/0"


def test_ipv6_egress_through_an_ipv6_prefix_list() -> None:
    group = SecurityGroup(
        "sg-fn",
        "vpc-1",
        "fn",
        (
            SecurityGroupRule("sg-fn", True, "-1", None, None, cidr="0.0.0.0/0"),
            SecurityGroupRule("sg-fn", True, "tcp", 443, 443, prefix_list_id="pl-v6"),
        ),
    )
    everywhere = PrefixList("pl-v6", "anywhere-v6", "IPv6", ("::/0",))
    verdict, found = _codes(replace(with_group(dual_stack(), group), prefix_lists={"pl-v6": everywhere}))
    assert verdict is Verdict.HEALTHY, found


def test_acl_without_ipv6_entries_denies_ipv6() -> None:
    snap = dual_stack()
    v4_only = replace(snap.network_acls[0], entries=allow_all_entries())
    verdict, found = _codes(replace(snap, network_acls=(v4_only,)))
    assert verdict is Verdict.BROKEN and "SM_NACL_DENIES" in found
    assert "the internet over IPv6" in found["SM_NACL_DENIES"].summary


# ----- the simulated account (moto emulates IPv6 blocks, egress-only gateways, IPv6 rules) ---------


def test_collector_reads_the_ipv6_facts(builder: AccountBuilder) -> None:
    o = scenarios.orders(builder, db_admits_function=True, dual_stack=True)
    collector = Collector(builder.clients)
    snap = collector.snapshots([collector.describe_secret(scenarios.DEMO_SECRET)])[0]
    fn = snap.function
    assert fn is not None and fn.ipv6_allowed_for_dual_stack and fn.uses_dualstack_endpoint
    app_a = snap.subnets[o.net.subnets["app-a"]]
    assert app_a.dual_stack and ipv6(app_a.ipv6_cidrs[0]) is not None
    assert not snap.subnets[o.net.subnets["data-a"]].dual_stack
    private = next(t for t in snap.route_tables if t.id == o.net.tables["private"])
    assert any(r.destination == "::/0" and r.target == o.extra["eigw"] for r in private.ipv6_routes)
    assert all(ipv4(r.destination) for r in private.routes)  # IPv4 routes stay IPv4-only
    assert any(e.cidr == "::/0" for a in snap.network_acls for e in a.entries)
    assert any(r.cidr == "::/0" for r in snap.security_groups[o.fn_sg].rules if r.egress)


def test_dual_stack_scenario_is_healthy_natively(builder: AccountBuilder) -> None:
    scenarios.orders(builder, db_admits_function=True, dual_stack=True)
    _, d = diagnose_secret(builder.clients, scenarios.DEMO_SECRET)
    assert d.verdict is Verdict.HEALTHY, [f.summary for f in d.findings]


def test_removing_the_egress_only_route_breaks_the_dual_stack_scenario(builder: AccountBuilder) -> None:
    o = scenarios.orders(builder, db_admits_function=True, dual_stack=True)
    builder.ec2.delete_route(RouteTableId=o.net.tables["private"], DestinationIpv6CidrBlock="::/0")
    _, d = diagnose_secret(builder.clients, scenarios.DEMO_SECRET)
    found = {f.code: f for f in d.findings}
    assert d.verdict is Verdict.BROKEN, [f.summary for f in d.findings]
    assert found["SM_IPV6_NO_ROUTE"].severity is Severity.ERROR
    assert not any(f.code.endswith("NOT_EVALUATED") for f in d.findings)


# ----- the database over IPv6: a DUAL database in the function's VPC ------------------------------


def dual_stack_database(**changes: Any) -> Snapshot:
    """`dual_stack()` plus dual-stack data subnets and a DUAL database; its group admits the function's group."""
    snap = dual_stack()
    subnets = {
        **snap.subnets,
        "data-a": replace(snap.subnets["data-a"], ipv6_cidrs=("2600:1f18:0:11::/64",)),
        "data-b": replace(snap.subnets["data-b"], ipv6_cidrs=("2600:1f18:0:12::/64",)),
    }
    db = replace(snap.database, network_type="DUAL")  # type: ignore[type-var]
    return replace(replace(snap, subnets=subnets, database=db), **changes)


def _db_admitting(snap: Snapshot, *cidrs: str) -> Snapshot:
    rules = tuple(SecurityGroupRule("sg-db", False, "tcp", 5432, 5432, cidr=c) for c in cidrs)
    return with_group(snap, SecurityGroup("sg-db", "vpc-1", "db", rules))


V4_APP = ("10.0.1.0/24", "10.0.2.0/24")
V6_APP = ("2600:1f18:0:1::/64", "2600:1f18:0:2::/64")


def test_dual_database_admitting_the_function_group_is_healthy_over_both_families() -> None:
    verdict, found = _codes(dual_stack_database())
    assert verdict is Verdict.HEALTHY, found


def test_dual_database_closed_over_ipv6_only_is_degraded() -> None:
    """The driver tries the IPv6 address first, waits out the connect timeout, then falls back to IPv4."""
    verdict, found = _codes(_db_admitting(dual_stack_database(), *V4_APP))
    assert verdict is Verdict.DEGRADED, found
    finding = found["DB_SG_INGRESS_DENIES"]
    assert finding.severity is Severity.WARNING and "over IPv6" in finding.summary


def test_dual_database_open_over_ipv6_only_still_works() -> None:
    verdict, found = _codes(_db_admitting(dual_stack_database(), *V6_APP))
    assert verdict is Verdict.DEGRADED and found["DB_SG_INGRESS_DENIES"].severity is Severity.WARNING
    assert "over IPv6" not in found["DB_SG_INGRESS_DENIES"].summary  # the IPv4 leg is the doubt


def test_dual_database_closed_over_both_families_is_broken() -> None:
    verdict, found = _codes(_db_admitting(dual_stack_database(), "192.168.0.0/16"))
    assert verdict is Verdict.BROKEN and found["DB_SG_INGRESS_DENIES"].severity is Severity.ERROR


def test_ipv4_database_is_judged_over_ipv4_only() -> None:
    snap = dual_stack_database()
    db = replace(snap.database, network_type="IPV4")  # type: ignore[type-var]
    verdict, found = _codes(_db_admitting(replace(snap, database=db), *V4_APP))
    assert verdict is Verdict.HEALTHY, found
    fn = replace(snap.function, ipv6_allowed_for_dual_stack=False)  # type: ignore[type-var]
    verdict, found = _codes(_db_admitting(replace(snap, function=fn), *V4_APP))
    assert "DB_SG_INGRESS_DENIES" not in found  # no IPv6 from the function: IPv4 only


def test_collector_reads_the_database_network_type(builder: AccountBuilder) -> None:
    scenarios.orders(builder, db_admits_function=True, dual_stack=True)
    builder.clients.rds.modify_db_instance(DBInstanceIdentifier="orders-db", NetworkType="DUAL", ApplyImmediately=True)
    collector = Collector(builder.clients)
    snap = collector.snapshots([collector.describe_secret(scenarios.DEMO_SECRET)])[0]
    assert snap.database is not None and snap.database.network_type == "DUAL"

"""Security-group rules that name managed prefix lists: the union of the list's blocks, read from AWS.

A list that was not read leaves its rules not evaluated; it never counts as matching nothing.
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace

from rotation_doctor.analysis.diagnosis import diagnose as diagnose_snapshot
from rotation_doctor.collect.collector import Collector
from rotation_doctor.examine import diagnose_secret
from rotation_doctor.model.findings import Severity, Verdict
from rotation_doctor.model.snapshot import FactKey, PrefixList, ReadFailure, SecurityGroup, SecurityGroupRule
from rotation_doctor.netsem import security_groups
from rotation_doctor.simulated import scenarios
from rotation_doctor.simulated.account import AccountBuilder
from tests.snapshots import DB_LIST, _db_reached_by_list, _pl_rule, healthy, nat_path, with_group

N = ipaddress.ip_network


# ----- netsem ------------------------------------------------------------------------------------


def test_prefix_list_rule_is_the_union_of_its_blocks() -> None:
    group = SecurityGroup("sg-x", "vpc-1", "x", (_pl_rule("sg-x", "pl-data", 5432, egress=True),))
    peer = security_groups.Peer(frozenset(), (N("10.0.11.0/24"),))
    decision = security_groups.allows_tcp([group], egress=True, port=5432, peer=peer, prefix_lists={"pl-data": DB_LIST})
    assert decision.allowed and decision.rules == group.rules
    outside = security_groups.Peer(frozenset(), (N("10.0.13.0/24"),))
    denied = security_groups.allows_tcp(
        [group], egress=True, port=5432, peer=outside, prefix_lists={"pl-data": DB_LIST}
    )
    assert not denied.allowed and not denied.undecided


def test_prefix_list_blocks_join_the_rules_own_cidrs() -> None:
    """Half of the peer's subnet from a CIDR rule, the other half from a list: together they cover it."""
    halves = PrefixList("pl-half", "half", "IPv4", ("10.0.11.128/25",))
    group = SecurityGroup(
        "sg-x",
        "vpc-1",
        "x",
        (
            SecurityGroupRule("sg-x", True, "tcp", 5432, 5432, cidr="10.0.11.0/25"),
            _pl_rule("sg-x", "pl-half", 5432, egress=True),
        ),
    )
    peer = security_groups.Peer(frozenset(), (N("10.0.11.0/24"),))
    assert security_groups.allows_tcp(
        [group], egress=True, port=5432, peer=peer, prefix_lists={"pl-half": halves}
    ).allowed
    assert not security_groups.allows_tcp([group], egress=True, port=5432, peer=peer, prefix_lists={}).allowed


def test_unread_prefix_list_is_undecided_never_denied() -> None:
    group = SecurityGroup("sg-x", "vpc-1", "x", (_pl_rule("sg-x", "pl-gone", 5432, egress=True),))
    peer = security_groups.Peer(frozenset(), (N("10.0.11.0/24"),))
    decision = security_groups.allows_tcp([group], egress=True, port=5432, peer=peer, prefix_lists={})
    assert not decision.allowed and decision.undecided and decision.unread_prefix_lists == ("pl-gone",)


def test_unread_list_does_not_matter_when_another_rule_admits() -> None:
    group = SecurityGroup(
        "sg-x",
        "vpc-1",
        "x",
        (
            _pl_rule("sg-x", "pl-gone", 5432, egress=True),
            SecurityGroupRule("sg-x", True, "-1", None, None, cidr="0.0.0.0/0"),
        ),
    )
    peer = security_groups.Peer(frozenset(), (N("10.0.11.0/24"),))
    assert security_groups.allows_tcp([group], egress=True, port=5432, peer=peer, prefix_lists={}).allowed


def test_ipv6_list_entries_do_not_admit_ipv4_peers() -> None:
    v6 = PrefixList("pl-v6", "v6", "IPv6", ("::/0",))
    group = SecurityGroup("sg-x", "vpc-1", "x", (_pl_rule("sg-x", "pl-v6", 443, egress=True),))
    v4_peer = security_groups.Peer(frozenset(), (N("10.0.11.0/24"),))
    v6_peer = security_groups.Peer(frozenset(), (N("2600:1f18::/64"),))
    assert not security_groups.allows_tcp(
        [group], egress=True, port=443, peer=v4_peer, prefix_lists={"pl-v6": v6}
    ).allowed
    assert security_groups.allows_tcp([group], egress=True, port=443, peer=v6_peer, prefix_lists={"pl-v6": v6}).allowed


# ----- analysis on hand-built snapshots ----------------------------------------------------------


def test_database_reached_through_a_prefix_list_is_healthy() -> None:
    d = diagnose_snapshot(_db_reached_by_list(prefix_lists={"pl-data": DB_LIST}))
    assert d.verdict is Verdict.HEALTHY, [f.summary for f in d.findings]


def test_database_missing_from_the_list_is_an_egress_denial() -> None:
    short = replace(DB_LIST, cidrs=("10.0.11.0/24",))
    d = diagnose_snapshot(_db_reached_by_list(prefix_lists={"pl-data": short}))
    found = {f.code: f for f in d.findings}
    assert "DB_LAMBDA_EGRESS_DENIES" in found
    assert found["DB_LAMBDA_EGRESS_DENIES"].severity is Severity.WARNING  # data-a still works: degraded
    assert d.verdict is Verdict.DEGRADED


def test_unread_list_is_not_evaluated_and_names_the_list() -> None:
    failure = ReadFailure(
        "ec2:GetManagedPrefixListEntries", "UnauthorizedOperation", "no", "ec2:GetManagedPrefixListEntries"
    )
    d = diagnose_snapshot(_db_reached_by_list(failures={f"{FactKey.PREFIX_LISTS}:pl-data": failure}))
    codes = d.codes()
    assert "DB_PATH_NOT_EVALUATED" in codes and "DB_LAMBDA_EGRESS_DENIES" not in codes
    finding = next(f for f in d.findings if f.code == "DB_PATH_NOT_EVALUATED")
    assert "pl-data" in finding.resources and "pl-data" in finding.summary
    assert "AWS_READ_FAILED" in codes and d.verdict is Verdict.UNKNOWN


def test_internet_egress_through_an_unread_list_is_not_evaluated() -> None:
    fn_group = SecurityGroup(
        "sg-fn",
        "vpc-1",
        "fn",
        (
            _pl_rule("sg-fn", "pl-egress", 443, egress=True),
            SecurityGroupRule("sg-fn", True, "tcp", 5432, 5432, cidr="10.0.0.0/16"),
        ),
    )
    d = diagnose_snapshot(with_group(nat_path(), fn_group))
    assert "SM_PATH_NOT_EVALUATED" in d.codes() and "SM_LAMBDA_EGRESS_DENIES" not in d.codes()
    everywhere = PrefixList("pl-egress", "egress", "IPv4", ("0.0.0.0/0",))
    healthy_now = diagnose_snapshot(replace(with_group(nat_path(), fn_group), prefix_lists={"pl-egress": everywhere}))
    assert healthy_now.verdict is Verdict.HEALTHY, [f.summary for f in healthy_now.findings]


# ----- the simulated account (moto emulates managed prefix lists) ---------------------------------


def _orders_with_lists(b: AccountBuilder) -> tuple[scenarios.Orders, dict[str, str]]:
    o = scenarios.orders(b, db_admits_function=False, endpoint=True)
    return o, scenarios.prefix_list_paths(b, o)


def test_collector_reads_only_the_lists_rules_name_with_their_entries(builder: AccountBuilder) -> None:
    _, lists = _orders_with_lists(builder)
    unrelated = builder.prefix_list("unrelated", ["192.168.0.0/16"])
    collector = Collector(builder.clients)
    builder.clients.counter.calls.clear()
    snap = collector.snapshots([collector.describe_secret(scenarios.DEMO_SECRET)])[0]
    assert set(snap.prefix_lists) == {lists["data_list"], lists["callers_list"]} and unrelated not in snap.prefix_lists
    assert snap.prefix_lists[lists["data_list"]].cidrs == ("10.20.11.0/24", "10.20.12.0/24")
    assert snap.prefix_lists[lists["data_list"]].address_family == "IPv4"
    calls = builder.clients.counter.calls
    assert calls.get("ec2:DescribeManagedPrefixLists") == 1  # one batched call for both lists
    assert calls.get("ec2:GetManagedPrefixListEntries") == 2  # one per list


def test_account_without_lists_makes_no_prefix_list_call(builder: AccountBuilder) -> None:
    scenarios.orders(builder, db_admits_function=True, endpoint=True)
    builder.clients.counter.calls.clear()
    _, d = diagnose_secret(builder.clients, scenarios.DEMO_SECRET)
    assert d.verdict is Verdict.HEALTHY
    assert not any("PrefixList" in name for name in builder.clients.counter.calls)


def test_prefix_list_scenario_is_healthy_natively(builder: AccountBuilder) -> None:
    _orders_with_lists(builder)
    _, d = diagnose_secret(builder.clients, scenarios.DEMO_SECRET)
    assert d.verdict is Verdict.HEALTHY, [f.summary for f in d.findings]
    assert not any(f.code.endswith("NOT_EVALUATED") for f in d.findings)


def test_database_removed_from_the_list_breaks_the_database_path(builder: AccountBuilder) -> None:
    _, lists = _orders_with_lists(builder)
    scenarios.remove_from_prefix_list(builder, lists["data_list"], ["10.20.11.0/24", "10.20.12.0/24"])
    _, d = diagnose_secret(builder.clients, scenarios.DEMO_SECRET)
    found = {f.code: f for f in d.findings}
    assert d.verdict is Verdict.BROKEN, [f.summary for f in d.findings]
    assert found["DB_LAMBDA_EGRESS_DENIES"].severity is Severity.ERROR
    assert "DB_SG_INGRESS_DENIES" not in found  # the callers' list still admits the function


def test_entries_read_refused_is_a_read_failure_and_not_evaluated(builder: AccountBuilder) -> None:
    from tests.faults import fail

    _orders_with_lists(builder)
    fail(builder, "ec2", "GetManagedPrefixListEntries", "UnauthorizedOperation")
    _, d = diagnose_secret(builder.clients, scenarios.DEMO_SECRET)
    codes = d.codes()
    assert "AWS_READ_FAILED" in codes and "DB_PATH_NOT_EVALUATED" in codes
    assert "DB_LAMBDA_EGRESS_DENIES" not in codes and "DB_SG_INGRESS_DENIES" not in codes
    assert d.verdict is Verdict.UNKNOWN
    failed = next(f for f in d.findings if f.code == "AWS_READ_FAILED")
    assert failed.evidence["permission"] == "ec2:GetManagedPrefixListEntries"


# ----- planning: a rule through a prefix list counts as done ---------------------------------------


def _db_admitting_by_list(cidrs: tuple[str, ...]):  # type: ignore[no-untyped-def]
    """No endpoint (so a plan is needed), and the database's group admits only the prefix list pl-callers."""
    from tests.snapshots import healthy as base

    db_group = SecurityGroup("sg-db", "vpc-1", "db", (_pl_rule("sg-db", "pl-callers", 5432, egress=False),))
    callers = PrefixList("pl-callers", "callers", "IPv4", cidrs)
    return replace(with_group(base(vpc_endpoints=()), db_group), prefix_lists={"pl-callers": callers})


def test_plan_adds_no_ingress_rule_that_a_prefix_list_already_grants() -> None:
    from rotation_doctor.model.plan import FixKind
    from rotation_doctor.planning.planner import make_plan

    plan = make_plan(_db_admitting_by_list(("10.0.1.0/24", "10.0.2.0/24")))
    assert [f.kind for f in plan.fixes] == [FixKind.CREATE_SECRETSMANAGER_ENDPOINT] and plan.ends_healthy


def test_plan_adds_the_ingress_rule_when_the_list_leaves_the_function_out() -> None:
    from rotation_doctor.model.plan import FixKind
    from rotation_doctor.planning.planner import make_plan

    plan = make_plan(_db_admitting_by_list(("10.0.1.0/24",)))  # app-b is missing from the list
    assert FixKind.AUTHORIZE_DB_INGRESS in [f.kind for f in plan.fixes] and plan.ends_healthy


def test_other_callers_reaching_the_endpoint_through_a_list_are_not_stranded() -> None:
    """Turning private DNS on moves every caller of the VPC to the endpoint: a caller whose group sends 443 to the
    endpoint's subnets through a prefix list keeps working and needs no new rule."""
    from rotation_doctor.model.plan import FixKind
    from rotation_doctor.model.snapshot import NetworkInterface
    from rotation_doctor.planning.planner import make_plan

    endpoint = replace(healthy().vpc_endpoints[0], private_dns_enabled=False)
    via_list = SecurityGroup("sg-batch", "vpc-1", "batch", (_pl_rule("sg-batch", "pl-apps", 443, egress=True),))
    broken_fn = SecurityGroup(
        "sg-fn",
        "vpc-1",
        "fn",
        (
            SecurityGroupRule("sg-fn", True, "tcp", 5432, 5432, referenced_group_id="sg-db"),
            SecurityGroupRule("sg-fn", True, "tcp", 443, 443, referenced_group_id="sg-vpce"),
        ),
    )
    apps = PrefixList("pl-apps", "apps", "IPv4", ("10.0.1.0/24", "10.0.2.0/24"))
    enis = (NetworkInterface("eni-batch", "app-b", ("sg-batch",), "interface"),)
    snap = with_group(with_group(nat_path(), via_list), broken_fn)
    plan = make_plan(replace(snap, vpc_endpoints=(endpoint,), network_interfaces=enis, prefix_lists={"pl-apps": apps}))
    fix = plan.fixes[0]
    assert fix.kind is FixKind.ENABLE_ENDPOINT_PRIVATE_DNS
    assert [s.call.params.get("GroupId") for s in fix.steps[1:]] == []  # sg-batch needs nothing
    unread = make_plan(replace(snap, vpc_endpoints=(endpoint,), network_interfaces=enis))
    assert [s.call.params.get("GroupId") for s in unread.fixes[0].steps[1:]] == ["sg-batch"]

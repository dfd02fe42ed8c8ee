"""Centralized egress: the Secrets Manager path through a transit gateway to an egress VPC's NAT gateway and back.

On the simulated account (moto builds the transit gateway, its route tables and associations, a Gateway Load
Balancer endpoint and appliance mode; `moto_fidelity` makes it report associations and route attachments as AWS
does); what moto cannot build (an egress VPC of another account) is the collected snapshot changed by hand."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from rotation_doctor.analysis import diagnose as analyze
from rotation_doctor.analysis import reachability, sm_egress
from rotation_doctor.analysis.usage import resources_used
from rotation_doctor.apply.guardrails import Mode, Policy, blocked
from rotation_doctor.collect import collector as collector_module
from rotation_doctor.collect.collector import Collector
from rotation_doctor.examine import diagnose_secret
from rotation_doctor.model.findings import Code, PathName, Severity, Verdict
from rotation_doctor.model.plan import FixKind, Plan, Risk
from rotation_doctor.model.snapshot import Snapshot, TransitGatewayAttachment
from rotation_doctor.netsem import routes
from rotation_doctor.planning.planner import make_plan
from rotation_doctor.simulated import scenarios
from rotation_doctor.simulated.account import AccountBuilder, tcp
from tests.faults import refused

OTHER_ACCOUNT = "210987654321"


def spoke(b: AccountBuilder) -> scenarios.Orders:
    """The orders VPC with a healthy database path and no way to Secrets Manager of its own."""
    return scenarios.orders(b, db_admits_function=True)


def diagnosed(b: AccountBuilder) -> tuple[Snapshot, Any]:
    return diagnose_secret(b.clients, scenarios.DEMO_SECRET)


def test_centralized_egress_is_healthy(builder: AccountBuilder) -> None:
    built = scenarios.centralized_egress(builder, spoke(builder))
    snap, d = diagnosed(builder)
    assert d.verdict is Verdict.HEALTHY, d.findings
    # It was judged, not skipped: the egress VPC's NAT gateways and route tables were read.
    assert set(built["nats"].values()) <= set(snap.nat_gateways)
    assert built["public_table"] in {t.id for t in snap.route_tables}


def test_centralized_egress_costs_at_most_six_calls_more_than_a_nat_path(builder: AccountBuilder) -> None:
    o = spoke(builder)
    builder.route(o.net.tables["private"], "0.0.0.0/0", NatGatewayId=builder.nat_gateway(o.net, "public-a"))
    builder.clients.counter.calls.clear()
    diagnosed(builder)
    nat_path = builder.clients.counter.total
    builder.ec2.delete_route(RouteTableId=o.net.tables["private"], DestinationCidrBlock="0.0.0.0/0")
    scenarios.centralized_egress(builder, o)
    builder.clients.counter.calls.clear()
    _, d = diagnosed(builder)
    calls = sorted(builder.clients.counter.calls.elements())
    assert d.verdict is Verdict.HEALTHY, d.findings
    assert len(calls) <= nat_path + 6, calls
    # The attachments (two reads), one route search per transit gateway route table (the spoke's, the egress
    # attachment's); no DescribeTransitGateways (group references do not matter on the way to the internet).
    assert [c for c in calls if "TransitGateway" in c] == [
        "ec2:DescribeTransitGatewayAttachments",
        "ec2:DescribeTransitGatewayVpcAttachments",
        "ec2:SearchTransitGatewayRoutes",
        "ec2:SearchTransitGatewayRoutes",
    ]
    assert calls.count("ec2:DescribeNatGateways") == 1 and "ec2:DescribeInternetGateways" not in calls


# What each way of breaking it looks like to a user: the verdict, the codes, and a resource every finding names.
BROKEN: dict[str, tuple[Verdict, set[Code], Callable[[dict[str, Any]], str | None]]] = {
    "spoke_route": (Verdict.BROKEN, {Code.SM_NO_PATH}, lambda built: None),
    "tgw_out": (Verdict.BROKEN, {Code.SM_TGW_ROUTE_MISSING}, lambda built: built["tgw_tables"]["spoke"]),
    "tgw_back": (Verdict.BROKEN, {Code.SM_TGW_ROUTE_MISSING}, lambda built: built["tgw_tables"]["egress"]),
    "blackhole": (Verdict.BROKEN, {Code.SM_TGW_BLACKHOLE}, lambda built: built["tgw_tables"]["spoke"]),
    "no_nat": (Verdict.BROKEN, {Code.SM_EGRESS_NO_NAT}, lambda built: None),
    "nat_no_igw": (Verdict.BROKEN, {Code.SM_NAT_NO_INTERNET}, lambda built: built["public_table"]),
    "no_return": (Verdict.BROKEN, {Code.SM_EGRESS_NO_RETURN_ROUTE}, lambda built: built["public_table"]),
    "acl": (Verdict.BROKEN, {Code.SM_NACL_DENIES}, lambda built: None),
    "appliance": (Verdict.UNKNOWN, {Code.SM_PATH_NOT_EVALUATED}, lambda built: built["tgw_tables"]["spoke"]),
    "gwlb": (Verdict.UNKNOWN, {Code.SM_PATH_NOT_EVALUATED}, lambda built: None),
}


def test_every_break_has_an_expectation() -> None:
    assert set(BROKEN) == set(scenarios.EGRESS_BREAKS)


@pytest.mark.parametrize("breaks", scenarios.EGRESS_BREAKS)
def test_each_way_centralized_egress_breaks_is_named(builder: AccountBuilder, breaks: str) -> None:
    built = scenarios.centralized_egress(builder, spoke(builder), breaks=breaks)
    _, d = diagnosed(builder)
    verdict, codes, named = BROKEN[breaks]
    assert d.verdict is verdict and set(d.codes()) == codes, d.findings
    assert all(f.path is PathName.SM for f in d.findings)
    resource = named(built)
    if resource is not None:
        assert all(resource in f.resources for f in d.findings), d.findings


def test_each_zone_is_judged_through_its_own_egress_subnet_and_nat(builder: AccountBuilder) -> None:
    built = scenarios.centralized_egress(builder, spoke(builder), breaks="nat_no_igw")
    _, d = diagnosed(builder)
    named = {n for f in d.findings for n in f.resources if n.startswith("nat-")}
    assert named == set(built["nats"].values())
    assert all(f.severity is Severity.ERROR and "cannot reach the internet" in f.summary for f in d.findings)


def test_a_firewall_endpoint_on_the_way_is_named_and_not_judged(builder: AccountBuilder) -> None:
    scenarios.centralized_egress(builder, spoke(builder), breaks="gwlb")
    _, d = diagnosed(builder)
    endpoints = [e for e in d.findings[0].resources if e.startswith("vpce-")]
    assert endpoints and "Gateway Load Balancer or AWS Network Firewall endpoint" in d.findings[0].summary
    assert d.findings[0].severity is Severity.WARNING


def test_appliance_mode_names_the_attachment(builder: AccountBuilder) -> None:
    built = scenarios.centralized_egress(builder, spoke(builder), breaks="appliance")
    _, d = diagnosed(builder)
    assert f"appliance mode is enabled on attachment {built['attachments']['egress']}" in d.findings[0].summary


@pytest.mark.parametrize("breaks", ["gwlb", "appliance"])
def test_deep_aims_at_the_egress_vpcs_internet_gateway(builder: AccountBuilder, breaks: str) -> None:
    built = scenarios.centralized_egress(builder, spoke(builder), breaks=breaks)
    snap, d = diagnosed(builder)
    (question,) = reachability.questions(snap, d.findings)
    assert (question.path, question.destination_id, question.skipped) == (PathName.SM, built["igw"], None)


def test_an_acl_of_the_egress_attachment_subnets_is_on_the_path(builder: AccountBuilder) -> None:
    built = scenarios.centralized_egress(builder, spoke(builder))
    egress = scenarios.Network(built["vpc"], "10.100.0.0/16", built["subnets"])
    closed = [{"RuleNumber": 100, "Protocol": "-1", "RuleAction": "allow", "Egress": True, "CidrBlock": "0.0.0.0/0"}]
    acl = builder.nacl(egress, ["tgw-a", "tgw-b"], closed)  # inbound: only the final deny, the replies are dropped
    _, d = diagnosed(builder)
    assert d.verdict is Verdict.BROKEN and set(d.codes()) == {Code.SM_NACL_DENIES}, d.findings
    assert all(acl in f.resources and "inbound" in f.summary and "the internet" in f.summary for f in d.findings)


def test_the_functions_own_egress_rule_still_counts(builder: AccountBuilder) -> None:
    o = spoke(builder)
    scenarios.centralized_egress(builder, o)
    builder.ec2.revoke_security_group_egress(
        GroupId=o.fn_sg, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )
    builder.ec2.authorize_security_group_egress(GroupId=o.fn_sg, IpPermissions=[tcp(5432, cidr="10.20.0.0/16")])
    _, d = diagnosed(builder)
    assert d.verdict is Verdict.BROKEN and Code.SM_LAMBDA_EGRESS_DENIES in d.codes(), d.findings


def test_an_unreadable_transit_gateway_is_unknown_never_healthy(builder: AccountBuilder) -> None:
    scenarios.centralized_egress(builder, spoke(builder))
    with refused(builder.clients, "ec2", "SearchTransitGatewayRoutes"):
        _, d = diagnosed(builder)
    assert d.verdict is Verdict.UNKNOWN, d.findings
    assert {Code.AWS_READ_FAILED, Code.SM_PATH_NOT_EVALUATED} <= set(d.codes())


def test_unreadable_nat_gateways_of_the_egress_vpc_are_unknown_never_healthy(builder: AccountBuilder) -> None:
    scenarios.centralized_egress(builder, spoke(builder))
    with refused(builder.clients, "ec2", "DescribeNatGateways"):
        _, d = diagnosed(builder)
    assert d.verdict is Verdict.UNKNOWN, d.findings
    read_failed = next(f for f in d.findings if f.code is Code.AWS_READ_FAILED)
    assert read_failed.evidence["permission"] == "ec2:DescribeNatGateways"
    assert any(f.code is Code.SM_PATH_NOT_EVALUATED and "could not be read" in f.summary for f in d.findings)


def owned_by_another_account(monkeypatch: pytest.MonkeyPatch, vpc: str) -> None:
    """The egress VPC's attachment reports another account as the VPC's owner (ResourceOwnerId), as a network
    account's egress VPC does; moto reports its own account for every attachment."""
    row = collector_module.TGW_ATTACHMENTS_OF_GATEWAYS

    def converted(raw: dict[str, Any]) -> TransitGatewayAttachment:
        attachment: TransitGatewayAttachment = row.convert(raw)
        return replace(attachment, resource_owner_id=OTHER_ACCOUNT) if attachment.resource_id == vpc else attachment

    monkeypatch.setattr(collector_module, "TGW_ATTACHMENTS_OF_GATEWAYS", replace(row, convert=converted))


def test_an_egress_vpc_of_another_account_is_named_never_guessed(
    builder: AccountBuilder, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = scenarios.centralized_egress(builder, spoke(builder), breaks="no_return")
    owned_by_another_account(monkeypatch, built["vpc"])
    builder.clients.counter.calls.clear()
    snap, d = diagnosed(builder)
    assert d.verdict is Verdict.UNKNOWN and d.codes() == [Code.SM_PATH_NOT_EVALUATED], d.findings
    finding = d.findings[0]
    assert f"belongs to account {OTHER_ACCOUNT}" in finding.summary and built["vpc"] in finding.resources
    assert "route tables, subnets, network ACLs and NAT gateways were not read" in finding.summary
    # Not asked for: EC2 would answer with nothing, which must never pass for "no route".
    assert "ec2:DescribeNatGateways" not in builder.clients.counter.calls
    assert built["public_table"] not in {t.id for t in snap.route_tables}


def test_an_egress_attachment_without_a_subnet_in_the_functions_zone_is_not_judged_there(
    builder: AccountBuilder,
) -> None:
    built = scenarios.centralized_egress(builder, spoke(builder))
    snap, _ = diagnosed(builder)
    egress = built["attachments"]["egress"]
    only_a = replace(snap.tgw_attachments[egress], subnet_ids=(built["subnets"]["tgw-a"],))
    d = analyze(replace(snap, tgw_attachments={**snap.tgw_attachments, egress: only_a}))
    (finding,) = d.findings
    assert d.verdict is Verdict.UNKNOWN and finding.code is Code.SM_PATH_NOT_EVALUATED
    assert "has no subnet in us-east-1b" in finding.summary and "1 of 2 subnet cases" in finding.summary


def test_the_spoke_to_far_vpc_crossing_is_reusable(builder: AccountBuilder) -> None:
    o = spoke(builder)
    built = scenarios.centralized_egress(builder, o)
    snap, _ = diagnosed(builder)
    fs = snap.subnets[o.fn_subnets[1]]
    far = sm_egress.spoke_to_far_vpc(snap, built["tgw"], fs, routes.DEFAULT_ROUTE)
    assert (far.vpc_id, far.subnet.id if far.subnet else None) == (built["vpc"], built["subnets"]["tgw-b"])


def test_a_change_in_the_egress_vpc_or_its_transit_gateway_table_concerns_the_secret(builder: AccountBuilder) -> None:
    # The service re-diagnoses the secrets whose paths use what a CloudTrail event names.
    built = scenarios.centralized_egress(builder, spoke(builder))
    snap, _ = diagnosed(builder)
    used = resources_used(snap)
    expected = {built["public_table"], built["tgw_tables"]["spoke"], built["tgw_tables"]["egress"], built["vpc"]}
    expected |= {*built["nats"].values(), *built["attachments"].values(), built["subnets"]["tgw-a"]}
    assert expected <= used, expected - used


# ----- planning: the spoke's own endpoint first; a fix in the egress VPC only by a person -------------------------


def planned(b: AccountBuilder, *, prefer_nat: bool = False) -> tuple[Snapshot, Plan]:
    """The plan as `plan` and the executor make it (the diagnosis, then what planning reads), and its snapshot."""
    snap, d = diagnosed(b)
    snap = Collector(b.clients).with_planning_facts(snap)
    return snap, make_plan(snap, d, prefer_nat=prefer_nat)


@pytest.mark.parametrize("breaks", ["tgw_back", "no_return", "acl", "no_nat"])
def test_the_spokes_own_endpoint_is_the_first_proposal(builder: AccountBuilder, breaks: str) -> None:
    built = scenarios.centralized_egress(builder, spoke(builder), breaks=breaks)
    _, plan = planned(builder)
    assert plan.fixes[0].kind is FixKind.CREATE_SECRETSMANAGER_ENDPOINT, plan.fixes
    assert plan.ends_healthy and all(f.vpc_id != built["vpc"] for f in plan.fixes), plan


def test_a_fix_in_the_egress_vpc_is_high_risk_and_never_applied_automatically(builder: AccountBuilder) -> None:
    built = scenarios.centralized_egress(builder, spoke(builder), breaks="acl")
    snap, plan = planned(builder, prefer_nat=True)  # no endpoint asked for: the ACL entry in the egress VPC is planned
    in_egress_vpc = [f for f in plan.fixes if f.vpc_id == built["vpc"]]
    assert in_egress_vpc and plan.ends_healthy, plan
    anything_goes = Policy(mode=Mode.AUTO, max_auto_risk=Risk.HIGH)
    for fix in in_egress_vpc:
        assert fix.kind is FixKind.ADD_NACL_ENTRIES and fix.risk is Risk.HIGH and fix.link.by_person_only
        assert any("Only a person can approve this fix" in n and built["vpc"] in n for n in fix.notes)
        why = blocked(fix, snap, anything_goes, None)
        assert why is not None and why.startswith("waits for a person's approval") and built["vpc"] in why

"""A secret whose host is an RDS Proxy: the function's leg to the proxy, and the proxy's own leg to its targets
(their health as the proxy reports it, and the network between them). Hand-built snapshots, moto, and the
Stubber for the health reasons moto never reports."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from botocore.stub import Stubber

from rotation_doctor.analysis import diagnose
from rotation_doctor.examine import diagnose_secret
from rotation_doctor.model.findings import Severity, Verdict
from rotation_doctor.model.plan import FixKind
from rotation_doctor.model.snapshot import (
    Database,
    FactKey,
    NaclEntry,
    ReadFailure,
    SecurityGroup,
    Snapshot,
    TargetKind,
)
from rotation_doctor.planning.planner import make_plan
from rotation_doctor.simulated import scenarios
from rotation_doctor.simulated.account import AccountBuilder, tcp
from tests import fix_scenarios
from tests.fix_scenarios import fix_and_recheck
from tests.snapshots import SECRET_ARN, TARGET, VPC, acl, allow_all_entries, proxied, rule, with_group


def found(snap: Snapshot) -> dict[str, Any]:
    return {f.code: f for f in diagnose(snap).findings}


# ----- analysis ---------------------------------------------------------------------------------


def test_a_proxy_that_reaches_a_healthy_target_is_healthy() -> None:
    d = diagnose(proxied(TARGET))
    assert d.verdict is Verdict.HEALTHY, d.findings


def test_the_targets_group_not_admitting_the_proxy_breaks_rotation() -> None:
    snap = with_group(
        proxied(TARGET), SecurityGroup("sg-db", VPC, "db", (rule("sg-db", egress=False, port=5432, ref="sg-fn"),))
    )
    d = diagnose(snap)
    assert d.verdict is Verdict.BROKEN and d.codes() == ["DB_PROXY_TARGET_UNREACHABLE"]
    f = d.findings[0]
    assert f.severity is Severity.ERROR and "sg-db" in f.resources and "admit no TCP 5432 from RDS Proxy" in f.summary


def test_the_proxys_egress_not_reaching_the_target_breaks_rotation() -> None:
    only_in = SecurityGroup("sg-proxy", VPC, "proxy", (rule("sg-proxy", egress=False, port=5432, ref="sg-fn"),))
    d = diagnose(with_group(proxied(TARGET), only_in))
    assert (
        d.codes() == ["DB_PROXY_TARGET_UNREACHABLE"]
        and "allow no TCP 5432 out to its target db" in d.findings[0].summary
    )


def test_a_network_acl_between_proxy_and_target_is_on_the_proxys_leg() -> None:
    # data-b's ACL denies everything; the function (app-a/app-b) is kept out of data-b to isolate the proxy's leg.
    proxy_in_a = Database(
        TargetKind.RDS_PROXY, "orders-proxy", 5432, VPC, ("data-a",), ("sg-proxy",), proxy_targets=(TARGET,)
    )
    deny_b = acl("acl-b", ("data-b",), (NaclEntry(100, False, True, "-1", "10.0.0.0/22", None, None),))
    others = acl("acl-default", ("app-a", "app-b", "data-a", "public-a"), allow_all_entries(), default=True)
    snap = replace(proxied(TARGET), database=proxy_in_a, network_acls=(others, deny_b))
    codes = found(snap)
    assert set(codes) == {"DB_PROXY_TARGET_UNREACHABLE"}
    # data-a -> data-a works, data-a -> data-b does not: the target may fail over there, so a warning.
    assert codes["DB_PROXY_TARGET_UNREACHABLE"].severity is Severity.WARNING
    assert "acl-b" in codes["DB_PROXY_TARGET_UNREACHABLE"].resources


@pytest.mark.parametrize(
    ("reason", "severity"),
    [
        ("AUTH_FAILURE", Severity.ERROR),
        ("CONNECTION_FAILED", Severity.ERROR),
        ("PENDING_PROXY_CAPACITY", Severity.WARNING),
    ],
)
def test_an_unavailable_target_is_named_with_its_reason(reason: str, severity: Severity) -> None:
    target = replace(TARGET, state="UNAVAILABLE", reason=reason, description="line one\nline two " + "x" * 500)
    f = found(proxied(target))["DB_PROXY_TARGET_UNHEALTHY"]
    assert f.severity is severity and reason in f.summary and f.evidence["reason"] == reason
    # AWS's description is outside text: one line, bounded.
    assert "\n" not in f.summary and len(f.summary) < 500


def test_an_auth_failure_with_the_rotated_secret_says_so() -> None:
    target = replace(TARGET, state="UNAVAILABLE", reason="AUTH_FAILURE")
    assert "this very secret" in found(proxied(target, auth=(SECRET_ARN,)))["DB_PROXY_TARGET_UNHEALTHY"].summary
    assert "this very secret" not in found(proxied(target, auth=("arn:other",)))["DB_PROXY_TARGET_UNHEALTHY"].summary


def test_registering_and_tracked_clusters_carry_no_health_finding() -> None:
    registering = replace(TARGET, state="REGISTERING")
    cluster = replace(TARGET, identifier="aurora", target_type="TRACKED_CLUSTER", state=None)
    assert diagnose(proxied(registering, cluster)).verdict is Verdict.HEALTHY


def test_a_proxy_without_targets_is_broken() -> None:
    d = diagnose(proxied())
    assert d.verdict is Verdict.BROKEN and d.codes() == ["DB_PROXY_TARGET_UNHEALTHY"]


def test_targets_not_read_are_never_taken_as_none() -> None:
    failure = ReadFailure("rds:DescribeDBProxyTargets", "AccessDenied", "no", "rds:DescribeDBProxyTargets")
    snap = replace(proxied(), database=replace(proxied().database, proxy_targets=None))  # type: ignore[arg-type]
    d = diagnose(replace(snap, failures={FactKey.PROXY_TARGETS: failure}))
    assert d.verdict is Verdict.UNKNOWN and d.codes() == ["AWS_READ_FAILED"]
    assert "rds:DescribeDBProxyTargets" in d.findings[0].summary


# ----- planning the proxy's leg ---------------------------------------------------------------------


def _steps(snap: Snapshot) -> list[tuple[FixKind, str, dict[str, Any]]]:
    plan = make_plan(snap)
    assert plan.ends_healthy and plan.unfixable == (), plan.unfixable
    return [(f.kind, f.fixes[0], s.call.params) for f in plan.fixes for s in f.steps]


@pytest.mark.parametrize("port", [5432, 6543])
def test_the_targets_group_is_planned_to_admit_the_proxys_on_the_targets_port(port: int) -> None:
    # The target listens on its own port (6543), not the proxy's (5432): its port is the one opened.
    target = replace(TARGET, port=port)
    (step,) = _steps(with_group(proxied(target), SecurityGroup("sg-db", VPC, "db", ())))
    kind, code, params = step
    assert (kind, code, params["GroupId"]) == (FixKind.AUTHORIZE_DB_INGRESS, "DB_PROXY_TARGET_UNREACHABLE", "sg-db")
    (permission,) = params["IpPermissions"]
    assert (permission["FromPort"], permission["ToPort"]) == (port, port)
    assert [pair["GroupId"] for pair in permission["UserIdGroupPairs"]] == ["sg-proxy"]


def test_both_legs_closed_are_planned_together() -> None:
    closed_proxy = SecurityGroup(
        "sg-proxy", VPC, "proxy", (rule("sg-proxy", egress=True, cidr="0.0.0.0/0", protocol="-1"),)
    )
    snap = with_group(with_group(proxied(TARGET), SecurityGroup("sg-db", VPC, "db", ())), closed_proxy)
    rules = {
        (params["GroupId"], params["IpPermissions"][0]["UserIdGroupPairs"][0]["GroupId"])
        for _, _, params in _steps(snap)
    }
    assert rules == {("sg-proxy", "sg-fn"), ("sg-db", "sg-proxy")}


def test_the_proxys_network_acl_leg_is_planned_for_the_proxys_subnets() -> None:
    proxy_in_a = Database(
        TargetKind.RDS_PROXY, "orders-proxy", 5432, VPC, ("data-a",), ("sg-proxy",), proxy_targets=(TARGET,)
    )
    deny_b = acl("acl-b", ("data-b",), ())
    others = acl("acl-default", ("app-a", "app-b", "data-a", "public-a"), allow_all_entries(), default=True)
    snap = replace(proxied(TARGET), database=proxy_in_a, network_acls=(others, deny_b))
    entries = [(kind, code, p["Egress"], p["CidrBlock"], p["PortRange"]) for kind, code, p in _steps(snap)]
    proxy_subnet = snap.subnets["data-a"].cidr
    assert sorted(entries, key=str) == sorted(
        [
            (FixKind.ADD_NACL_ENTRIES, "DB_PROXY_TARGET_UNREACHABLE", False, proxy_subnet, {"From": 5432, "To": 5432}),
            (FixKind.ADD_NACL_ENTRIES, "DB_PROXY_TARGET_UNREACHABLE", True, proxy_subnet, {"From": 1024, "To": 65535}),
        ],
        key=str,
    )


def test_the_proxys_own_egress_is_left_to_a_person_and_says_so() -> None:
    only_in = SecurityGroup("sg-proxy", VPC, "proxy", (rule("sg-proxy", egress=False, port=5432, ref="sg-fn"),))
    plan = make_plan(with_group(proxied(TARGET), only_in))
    assert plan.fixes == () and not plan.ends_healthy
    (unfixable,) = plan.unfixable
    assert unfixable.code == "DB_PROXY_TARGET_UNREACHABLE" and "outbound rule to the proxy's group" in unfixable.reason


# ----- on the simulated account (moto) ------------------------------------------------------------


def test_the_proxys_leg_heals_on_the_simulated_account(builder: AccountBuilder) -> None:
    broken = fix_scenarios.proxy_target_closed(builder)
    assert broken.orders is not None
    fix_and_recheck(builder, FixKind.AUTHORIZE_DB_INGRESS, secret=broken.secret)
    ingress = builder.ec2.describe_security_groups(GroupIds=[broken.orders.db_sg])["SecurityGroups"][0]["IpPermissions"]
    added = [pair for p in ingress for pair in p["UserIdGroupPairs"] if pair["GroupId"] == broken.extra["proxy_sg"]]
    assert len(added) == 1 and added[0]["Description"].startswith("rotation-doctor: prod/orders/via-proxy")


def test_the_proxys_network_acl_leg_heals_on_the_simulated_account(builder: AccountBuilder) -> None:
    broken = fix_scenarios.proxy_acl_closed(builder)
    _, before = diagnose_secret(builder.clients, broken.secret)
    assert set(before.codes()) == {"DB_PROXY_TARGET_UNREACHABLE"}, before.findings
    fix_and_recheck(builder, FixKind.ADD_NACL_ENTRIES, secret=broken.secret)
    entries = builder.ec2.describe_network_acls(NetworkAclIds=[broken.extra["acl"]])["NetworkAcls"][0]["Entries"]
    added = {
        (e["Egress"], e["CidrBlock"], e["PortRange"]["From"])
        for e in entries
        if e["RuleAction"] == "allow" and e["RuleNumber"] not in (100, 200, 32767)
    }
    # Only the data subnets (the proxy's and the target's), only the target's port and the return ports.
    assert added == {(False, cidr, port) for cidr in ("10.20.11.0/24", "10.20.12.0/24") for port in (5432, 1024)}


def test_a_proxy_on_the_simulated_account_is_healthy(builder: AccountBuilder) -> None:
    o = scenarios.orders(builder, db_admits_function=True, endpoint=True)
    scenarios.proxied_database(builder, o)
    builder.clients.counter.calls.clear()
    snap, d = diagnose_secret(builder.clients, "prod/orders/via-proxy")
    assert d.verdict is Verdict.HEALTHY, d.findings
    assert snap.database is not None and [t.identifier for t in snap.database.proxy_targets or ()] == ["orders-db"]
    assert snap.database.proxy_auth_secrets == (o.secret_arn,)
    # One read of the proxy's targets; the target instance is read with the other instances (here: only it).
    calls = builder.clients.counter.calls
    assert calls["rds:DescribeDBProxyTargets"] == 1 and calls["rds:DescribeDBInstances"] == 1


def test_a_proxy_whose_target_no_longer_admits_it(builder: AccountBuilder) -> None:
    o = scenarios.orders(builder, db_admits_function=True, endpoint=True)
    built = scenarios.proxied_database(builder, o, admits_proxy=False)
    _, d = diagnose_secret(builder.clients, "prod/orders/via-proxy")
    assert d.verdict is Verdict.BROKEN and d.codes() == ["DB_PROXY_TARGET_UNREACHABLE"], d.findings
    assert o.db_sg in d.findings[0].resources and built["proxy_sg"] in d.findings[0].resources


def test_no_proxy_target_read_for_a_database(builder: AccountBuilder) -> None:
    scenarios.orders(builder, db_admits_function=True, endpoint=True)
    builder.clients.counter.calls.clear()
    diagnose_secret(builder.clients, scenarios.DEMO_SECRET)
    assert "rds:DescribeDBProxyTargets" not in builder.clients.counter.calls


def test_an_unavailable_target_as_aws_reports_it(builder: AccountBuilder) -> None:
    """moto reports only REGISTERING and AVAILABLE: the Stubber answers DescribeDBProxyTargets as AWS does."""
    o = scenarios.orders(builder, db_admits_function=True, endpoint=True)
    scenarios.proxied_database(builder, o)
    rds = builder.clients.rds
    proxy = rds.describe_db_proxies(DBProxyName="orders-proxy")
    instances = rds.describe_db_instances(Filters=[{"Name": "db-instance-id", "Values": ["orders-db"]}])
    target = {
        "TargetArn": "arn:aws:rds:us-east-1:123456789012:db:orders-db",
        "Endpoint": "orders-db.c9akciq32.us-east-1.rds.amazonaws.com",
        "RdsResourceId": "orders-db",
        "Port": 5432,
        "Type": "RDS_INSTANCE",
        "Role": "READ_WRITE",
        "TargetHealth": {
            "State": "UNAVAILABLE",
            "Reason": "AUTH_FAILURE",
            "Description": "Proxy does not have any registered credentials for user orders_app.",
        },
    }
    with Stubber(rds) as stub:
        stub.add_response("describe_db_proxies", proxy, {"DBProxyName": "orders-proxy"})
        stub.add_response("describe_db_proxy_targets", {"Targets": [target]}, {"DBProxyName": "orders-proxy"})
        stub.add_response(
            "describe_db_instances", instances, {"Filters": [{"Name": "db-instance-id", "Values": ["orders-db"]}]}
        )
        _, d = diagnose_secret(builder.clients, "prod/orders/via-proxy")
        stub.assert_no_pending_responses()
    assert d.verdict is Verdict.BROKEN and d.codes() == ["DB_PROXY_TARGET_UNHEALTHY"], d.findings
    assert "AUTH_FAILURE" in d.findings[0].summary and "this very secret" not in d.findings[0].summary


def test_denied_proxy_targets_are_unknown_for_that_secret(builder: AccountBuilder) -> None:
    from tests.faults import refused

    o = scenarios.orders(builder, db_admits_function=True, endpoint=True)
    scenarios.proxied_database(builder, o)
    with refused(builder.clients, "rds", "DescribeDBProxyTargets", "AccessDenied"):
        _, d = diagnose_secret(builder.clients, "prod/orders/via-proxy")
        _, plain = diagnose_secret(builder.clients, scenarios.DEMO_SECRET)
    assert d.verdict is Verdict.UNKNOWN and d.codes() == ["AWS_READ_FAILED"], d.findings
    assert d.findings[0].evidence["permission"] == "rds:DescribeDBProxyTargets"
    assert plain.verdict is Verdict.HEALTHY  # the secret of the database itself never needed the proxy's targets


@pytest.mark.parametrize("admits_proxy", [True, False])
def test_a_proxy_in_front_of_an_aurora_cluster(builder: AccountBuilder, admits_proxy: bool) -> None:
    """A cluster target (TRACKED_CLUSTER) is found through its cluster and subnet group, read with the others."""
    o = scenarios.orders(builder, db_admits_function=True, endpoint=True)
    cluster_sg = builder.security_group(o.net, "aurora", ingress=[])
    builder.aurora_cluster("orders-aurora", "orders-data", [cluster_sg])
    built = scenarios.proxied_database(builder, o)
    rds = builder.clients.rds
    rds.deregister_db_proxy_targets(DBProxyName="orders-proxy", DBInstanceIdentifiers=["orders-db"])
    rds.register_db_proxy_targets(DBProxyName="orders-proxy", DBClusterIdentifiers=["orders-aurora"])
    if admits_proxy:
        builder.ec2.authorize_security_group_ingress(
            GroupId=cluster_sg, IpPermissions=[tcp(5432, group=built["proxy_sg"])]
        )
    snap, d = diagnose_secret(builder.clients, "prod/orders/via-proxy")
    assert snap.database is not None and snap.database.proxy_targets is not None
    (target,) = snap.database.proxy_targets
    assert (target.identifier, target.target_type, target.security_group_ids) == (
        "orders-aurora",
        "TRACKED_CLUSTER",
        (cluster_sg,),
    )
    assert set(target.subnet_ids) == set(o.db_subnets)
    if admits_proxy:
        assert d.verdict is Verdict.HEALTHY, d.findings
    else:
        assert d.codes() == ["DB_PROXY_TARGET_UNREACHABLE"] and cluster_sg in d.findings[0].resources

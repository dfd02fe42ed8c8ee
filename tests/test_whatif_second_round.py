"""what-if reads what a change newly brings into a path: a pull request that adds the missing Secrets Manager endpoint
to a VPC whose DNS attributes the account read did not read (no private-DNS endpoint was there) is judged on the
attributes read in a second round, never on DNS taken as off."""

from __future__ import annotations

from typing import Any

from rotation_doctor.collect.collector import Collector
from rotation_doctor.model.findings import Code
from rotation_doctor.simulated import scenarios
from rotation_doctor.simulated.account import AccountBuilder, tcp
from rotation_doctor.whatif.report import Effect, Report, assess
from rotation_doctor.whatif.run import what_if
from rotation_doctor.whatif.terraform import parse_plan
from tests import whatif_plans as tf

REGION = "us-east-1"


def adding_the_endpoint(builder: AccountBuilder, *, dns_hostnames: bool = True) -> tuple[scenarios.Orders, str]:
    """The orders function, its database reachable, no way to Secrets Manager; the plan adds an interface endpoint
    with private DNS in the function's subnets, in the function's group (which admits HTTPS from the VPC)."""
    o = scenarios.orders(builder, db_admits_function=True)
    builder.ec2.authorize_security_group_ingress(GroupId=o.fn_sg, IpPermissions=[tcp(443, cidr="10.20.0.0/16")])
    if not dns_hostnames:
        builder.ec2.modify_vpc_attribute(VpcId=o.net.vpc, EnableDnsHostnames={"Value": False})
    endpoint = tf.tf_endpoint("vpce-new", o.net.vpc, o.fn_subnets, [o.fn_sg], REGION)
    change = tf.resource_change(
        "aws_vpc_endpoint.sm", "aws_vpc_endpoint", ["create"], None, endpoint, unknown=("id", "arn", "dns_entry")
    )
    return o, tf.plan(change)


def test_the_first_round_does_not_read_the_vpcs_dns_attributes(builder: AccountBuilder) -> None:
    o, plan = adding_the_endpoint(builder)
    collector = Collector(builder.clients)
    [snap] = collector.snapshots(collector.list_rotated_secrets())
    assert o.net.vpc not in snap.dns_attributes  # what makes the second round needed
    [s] = assess([snap], parse_plan(plan, name="plan.json")).secrets
    # Judged on the first round alone: unknown, and never "DNS is off".
    assert (s.effect, str(s.after.verdict)) == (Effect.UNKNOWN, "unknown")
    assert Code.SM_VPC_DNS_DISABLED not in {f.code for f in s.after.findings}


def test_a_plan_adding_the_missing_endpoint_heals_the_secret(builder: AccountBuilder) -> None:
    _, plan = adding_the_endpoint(builder)
    builder.clients.counter.calls.clear()
    report = what_if(builder.clients, parse_plan(plan, name="plan.json"))
    [s] = report.secrets
    assert (s.effect, str(s.before.verdict), str(s.after.verdict)) == (Effect.HEALS, "broken", "healthy")
    assert s.not_evaluated == ()
    assert [f.code for f in s.resolved_findings] == [Code.SM_NO_PATH]
    # The second round is one VPC's two attributes, read once.
    assert builder.clients.counter.calls["ec2:DescribeVpcAttribute"] == 2


def test_dns_read_in_the_second_round_and_off_is_judged_off(builder: AccountBuilder) -> None:
    _, plan = adding_the_endpoint(builder, dns_hostnames=False)
    [s] = what_if(builder.clients, parse_plan(plan, name="plan.json")).secrets
    assert Code.SM_VPC_DNS_DISABLED in {f.code for f in s.after.findings}
    assert str(s.after.verdict) == "broken" and s.not_evaluated == ()


def test_a_second_round_read_that_fails_leaves_the_secret_unknown(builder: AccountBuilder) -> None:
    o, plan = adding_the_endpoint(builder)

    def refuse(model: object, params: object, **_: object) -> None:
        from botocore.exceptions import ClientError

        if getattr(model, "name", "") == "DescribeVpcAttribute":
            raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "no"}}, "DescribeVpcAttribute")

    builder.clients.ec2.meta.events.register("before-call.ec2.DescribeVpcAttribute", refuse)
    try:
        [s] = what_if(builder.clients, parse_plan(plan, name="plan.json")).secrets
    finally:
        builder.clients.ec2.meta.events.unregister("before-call.ec2.DescribeVpcAttribute", refuse)
    assert (s.effect, str(s.after.verdict)) == (Effect.UNKNOWN, "unknown")
    assert Code.SM_VPC_DNS_DISABLED not in {f.code for f in s.after.findings}
    assert s.not_evaluated == (
        f"the DNS attributes of {o.net.vpc}: not read with the account (the change newly uses it)",
    )
    assert str(s.before.verdict) == "broken" and Code.AWS_READ_FAILED not in {f.code for f in s.before.findings}


# ----- every kind the changes newly use, not only DNS ---------------------------------------------------------


def endpoint_in_an_unread_group(builder: AccountBuilder, *, admits: bool) -> tuple[scenarios.Orders, str, str]:
    """The orders function, its database reachable, no way to Secrets Manager; the plan adds a private-DNS interface
    endpoint in a group of its own that exists in the account but that nothing read uses (so the account read did
    not read it). `admits`: the group admits HTTPS from the VPC, or only from an unrelated network."""
    o = scenarios.orders(builder, db_admits_function=True)
    group = builder.security_group(o.net, "sm-endpoint")
    peer = "10.20.0.0/16" if admits else "192.168.0.0/24"
    builder.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[tcp(443, cidr=peer)])
    endpoint = tf.tf_endpoint("vpce-new", o.net.vpc, o.fn_subnets, [group], REGION)
    change = tf.resource_change(
        "aws_vpc_endpoint.sm", "aws_vpc_endpoint", ["create"], None, endpoint, unknown=("id", "arn", "dns_entry")
    )
    return o, group, tf.plan(change)


def second_round_calls(builder: AccountBuilder, plan: str) -> tuple[Report, int]:
    """The report, and how many calls what-if made beyond the account read (`scan`'s rounds)."""
    collector = Collector(builder.clients)
    builder.clients.counter.calls.clear()
    collector.snapshots(collector.list_rotated_secrets())
    first = sum(builder.clients.counter.calls.values())
    builder.clients.counter.calls.clear()
    report = what_if(builder.clients, parse_plan(plan, name="plan.json"))
    return report, sum(builder.clients.counter.calls.values()) - first


def test_an_endpoint_whose_unread_group_admits_the_function_heals(builder: AccountBuilder) -> None:
    _, group, plan = endpoint_in_an_unread_group(builder, admits=True)
    collector = Collector(builder.clients)
    [snap] = collector.snapshots(collector.list_rotated_secrets())
    assert group not in snap.security_groups  # what makes the second round needed
    report, extra = second_round_calls(builder, plan)
    [s] = report.secrets
    assert (s.effect, str(s.before.verdict), str(s.after.verdict)) == (Effect.HEALS, "broken", "healthy")
    assert s.not_evaluated == ()
    # The bound: the group in one DescribeSecurityGroups, the VPC's two DNS attributes; nothing else.
    assert builder.clients.counter.calls["ec2:DescribeSecurityGroups"] == 2  # the account read's, the group's
    assert extra == 3


def test_an_endpoint_whose_unread_group_denies_the_function_is_broken_by_that_group(builder: AccountBuilder) -> None:
    _, group, plan = endpoint_in_an_unread_group(builder, admits=False)
    [s] = what_if(builder.clients, parse_plan(plan, name="plan.json")).secrets
    # Judged on the group's rules as read: it was read, not assumed to admit or to deny.
    assert str(s.after.verdict) == "broken" and s.not_evaluated == ()
    denies = [f for f in s.after.findings if f.code == Code.SM_ENDPOINT_SG_DENIES]
    assert denies and group in denies[0].resources


def test_an_unread_group_whose_read_is_refused_leaves_the_secret_unknown_naming_it(builder: AccountBuilder) -> None:
    _, group, plan = endpoint_in_an_unread_group(builder, admits=True)
    refused_groups: list[object] = []

    def refuse(params: dict[str, Any], **_: object) -> None:
        from botocore.exceptions import ClientError

        values = [v for f in params.get("Filters", []) for v in f.get("Values", [])]
        if group in values:  # the second round's read; the account read's own groups are read as before
            refused_groups.append(group)
            raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "no"}}, "DescribeSecurityGroups")

    builder.clients.ec2.meta.events.register("before-parameter-build.ec2.DescribeSecurityGroups", refuse)
    try:
        [s] = what_if(builder.clients, parse_plan(plan, name="plan.json")).secrets
    finally:
        builder.clients.ec2.meta.events.unregister("before-parameter-build.ec2.DescribeSecurityGroups", refuse)
    assert refused_groups == [group]
    assert (s.effect, str(s.after.verdict)) == (Effect.UNKNOWN, "unknown")
    assert f"{group}: not read with the account (the change newly uses it)" in s.not_evaluated


def test_a_far_vpcs_subnets_are_read_with_their_route_tables_and_acls_in_one_call_each(
    builder: AccountBuilder,
) -> None:
    """A change that routes to a VPC the account read did not read (a peering to a far VPC): its subnets, looked up
    and missing, are read by id, and with them the far VPC's route tables and network ACLs."""
    o = scenarios.orders(builder, db_admits_function=True)
    far = builder.network("10.30.0.0/16", name="shared")
    far_subnet = builder.subnet(far, "shared-a", "10.30.1.0/24", "a")
    far_table = builder.route_table(far, "shared", ["shared-a"])
    collector = Collector(builder.clients)
    snapshots = collector.snapshots(collector.list_rotated_secrets())
    assert far_subnet not in snapshots[0].subnets
    builder.clients.counter.calls.clear()
    [snap], failed = collector.read_unread(snapshots, {"subnets": {far_subnet}})
    assert failed == frozenset()
    assert snap.subnets[far_subnet].vpc_id == far.vpc
    assert far_table in {t.id for t in snap.route_tables}
    assert far.vpc in {a.vpc_id for a in snap.network_acls}
    assert set(snap.subnets) >= set(o.fn_subnets)  # what the account read held stays
    assert dict(builder.clients.counter.calls) == {
        "ec2:DescribeSubnets": 1,
        "ec2:DescribeRouteTables": 1,
        "ec2:DescribeNetworkAcls": 1,
    }


def test_a_far_vpc_whose_route_tables_cannot_be_read_leaves_its_subnets_unread(builder: AccountBuilder) -> None:
    """A subnet without its VPC's tables would be judged as routed by nothing: the read of the subnet counts as
    failed, so the diagnosis names it as not read instead."""
    scenarios.orders(builder, db_admits_function=True)
    far = builder.network("10.30.0.0/16", name="shared")
    far_subnet = builder.subnet(far, "shared-a", "10.30.1.0/24", "a")
    collector = Collector(builder.clients)
    snapshots = collector.snapshots(collector.list_rotated_secrets())

    def refuse(**_: object) -> None:
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "no"}}, "DescribeRouteTables")

    builder.clients.ec2.meta.events.register("before-call.ec2.DescribeRouteTables", refuse)
    try:
        [snap], failed = collector.read_unread(snapshots, {"subnets": {far_subnet}})
    finally:
        builder.clients.ec2.meta.events.unregister("before-call.ec2.DescribeRouteTables", refuse)
    assert failed == frozenset({("subnets", far_subnet)})
    assert far_subnet not in snap.subnets

"""what-if reads what a change newly brings into a path: a pull request that adds the missing Secrets Manager endpoint
to a VPC whose DNS attributes the account read did not read (no private-DNS endpoint was there) is judged on the
attributes read in a second round, never on DNS taken as off."""

from __future__ import annotations

from rotation_doctor.collect.collector import Collector
from rotation_doctor.model.findings import Code
from rotation_doctor.simulated import scenarios
from rotation_doctor.simulated.account import AccountBuilder, tcp
from rotation_doctor.whatif.report import Effect, assess
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

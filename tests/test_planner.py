"""The planner on hand-built snapshots: composition, precision, and a property over generated topologies."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from rotation_doctor.analysis import diagnose
from rotation_doctor.model.findings import Verdict
from rotation_doctor.model.plan import FixKind, Plan, references
from rotation_doctor.model.snapshot import (
    DnsAttributes,
    NatGateway,
    NetworkInterface,
    PolicyDocument,
    SecurityGroup,
    Snapshot,
    Vpc,
)
from rotation_doctor.planning.planner import make_plan
from tests.snapshots import BREAKAGES, VPC, healthy, nat_path, rule, with_group


def kinds(plan: Plan) -> list[FixKind]:
    return [f.kind for f in plan.fixes]


def test_healthy_account_needs_no_plan() -> None:
    plan = make_plan(healthy())
    assert plan.empty and plan.ends_healthy and plan.unfixable == ()


def test_endpoint_then_egress_rule_when_the_function_egress_is_restricted() -> None:
    fn_sg = SecurityGroup("sg-fn", VPC, "fn", (rule("sg-fn", egress=True, port=5432, ref="sg-db"),))
    plan = make_plan(with_group(healthy(vpc_endpoints=()), fn_sg))
    assert kinds(plan) == [FixKind.CREATE_SECRETSMANAGER_ENDPOINT, FixKind.AUTHORIZE_LAMBDA_EGRESS]
    egress = plan.fixes[1].steps[0].call.params
    # The rule names the group the first fix creates, by reference to that step's output.
    assert egress["IpPermissions"][0]["UserIdGroupPairs"][0]["GroupId"] == "${s1.GroupId}"
    assert references(egress) == {"s1"} and references(plan.fixes[0].steps[0].call.params) == set()
    assert plan.ends_healthy


def test_private_dns_needs_vpc_dns_first() -> None:
    endpoint = replace(healthy().vpc_endpoints[0], private_dns_enabled=False)
    plan = make_plan(
        healthy(vpc_endpoints=(endpoint,), dns_attributes={VPC: DnsAttributes(False, False)}, network_interfaces=())
    )
    assert kinds(plan) == [FixKind.ENABLE_VPC_DNS, FixKind.ENABLE_ENDPOINT_PRIVATE_DNS]
    assert [s.call.params for s in plan.fixes[0].steps] == [
        {"VpcId": VPC, "EnableDnsSupport": {"Value": True}},
        {"VpcId": VPC, "EnableDnsHostnames": {"Value": True}},
    ]


def test_dns_attributes_that_were_not_read_are_not_assumed_off() -> None:
    plan = make_plan(healthy(vpc_endpoints=(), dns_attributes={}))
    assert FixKind.ENABLE_VPC_DNS not in kinds(plan)


def test_private_dns_keeps_other_callers_in_the_vpc_working() -> None:
    # A container in public-a... no: in app-b behind the NAT, whose group allows 443 only to one public range.
    snap = nat_path()
    endpoint = replace(healthy().vpc_endpoints[0], private_dns_enabled=False)
    tight = SecurityGroup("sg-batch", VPC, "batch", (rule("sg-batch", egress=True, port=443, cidr="52.94.0.0/16"),))
    open_ = SecurityGroup("sg-web", VPC, "web", (rule("sg-web", egress=True, cidr="0.0.0.0/0", protocol="-1"),))
    enis = (
        NetworkInterface("eni-batch", "app-b", ("sg-batch",), "interface"),
        NetworkInterface("eni-web", "app-a", ("sg-web",), "lambda"),
        NetworkInterface("eni-fn", "app-a", ("sg-fn",), "lambda"),
    )
    broken_fn = SecurityGroup(
        "sg-fn",
        VPC,
        "fn",
        (rule("sg-fn", egress=True, port=5432, ref="sg-db"), rule("sg-fn", egress=True, port=443, ref="sg-vpce")),
    )
    snap = with_group(with_group(with_group(snap, tight), open_), broken_fn)
    # The function's NAT path is broken (it may not reach the internet), so private DNS is the fix.
    plan = make_plan(replace(snap, vpc_endpoints=(endpoint,), network_interfaces=enis))
    fix = plan.fixes[0]
    assert fix.kind is FixKind.ENABLE_ENDPOINT_PRIVATE_DNS
    assert any("2 other network interface(s)" in n for n in fix.notes)
    assert [s.call.params["GroupId"] for s in fix.steps[1:]] == ["sg-batch"]
    assert plan.ends_healthy


def test_nat_gateway_only_when_asked() -> None:
    snap = nat_path(nat_gateways={"nat-1": NatGateway("nat-1", VPC, "public-a", "deleted")})
    assert kinds(make_plan(snap)) == [FixKind.CREATE_SECRETSMANAGER_ENDPOINT]
    nat_plan = make_plan(snap, prefer_nat=True)
    assert kinds(nat_plan) == [FixKind.CREATE_NAT_GATEWAY] and nat_plan.ends_healthy
    assert nat_plan.fixes[0].steps[-1].call.operation == "ReplaceRoute"  # the blackholed default route


def test_unfixable_findings_are_explained() -> None:
    policy = PolicyDocument(({"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"},))
    plan = make_plan(healthy(vpc_endpoints=(replace(healthy().vpc_endpoints[0], policy=policy),)))
    assert plan.empty and not plan.ends_healthy
    assert [u.code for u in plan.unfixable] == ["SM_ENDPOINT_POLICY_DENIES"]
    assert "edit it by hand" in plan.unfixable[0].reason


def test_plan_hash_is_stable_and_binds_the_calls() -> None:
    snap = healthy(vpc_endpoints=())
    assert make_plan(snap).hash == make_plan(snap).hash
    other = replace(snap, secret=replace(snap.secret, name="prod/other"))
    assert make_plan(other).hash != make_plan(snap).hash


# ----- a property over generated topologies -----------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([healthy, nat_path]), st.lists(st.sampled_from(BREAKAGES), min_size=1, max_size=4), st.booleans()
)
def test_every_plan_ends_healthy_or_says_why_and_opens_nothing_wide(base, breakages, prefer_nat) -> None:  # type: ignore[no-untyped-def]
    snap = base(network_interfaces=())
    for breakage in breakages:
        snap = breakage(snap)
    plan = make_plan(snap, prefer_nat=prefer_nat)
    # Every breakage generated here has a fix kind, so "say why not" is not enough: the plan must end healthy.
    assert plan.ends_healthy, ([b.__name__ for b in breakages], plan.unfixable)
    assert diagnose(snap).verdict is Verdict.HEALTHY or not plan.empty
    for fix in plan.fixes:
        assert fix.kind is not FixKind.CREATE_NAT_GATEWAY or prefer_nat
        assert not (prefer_nat and fix.kind is FixKind.CREATE_SECRETSMANAGER_ENDPOINT) or plan.notes
        for step in fix.steps:
            params = step.call.params
            opens = step.call.operation.startswith("Authorize")  # a revoke (of a new group's default egress) closes
            for permission in params.get("IpPermissions", []) if opens else []:
                assert permission["FromPort"] == permission["ToPort"], step  # exactly one port
                assert all(r["CidrIp"] != "0.0.0.0/0" for r in permission.get("IpRanges", [])), step
            if step.call.operation == "CreateNetworkAclEntry":
                assert params["CidrBlock"] != "0.0.0.0/0" and params["Protocol"] == "6", step


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(BREAKAGES), max_size=3))
def test_unfixable_breakage_is_always_explained(breakages) -> None:  # type: ignore[no-untyped-def]
    policy = PolicyDocument(
        ({"Effect": "Deny", "Principal": "*", "Action": "secretsmanager:PutSecretValue", "Resource": "*"},)
    )
    snap = healthy(network_interfaces=(), vpc_endpoints=(replace(healthy().vpc_endpoints[0], policy=policy),))
    for breakage in breakages:
        snap = breakage(snap)
    plan = make_plan(snap)
    if not plan.ends_healthy:
        assert plan.unfixable, [b.__name__ for b in breakages]


def _default_egress_revoked(snap: Snapshot) -> list[str]:
    (fix,) = [f for f in make_plan(snap).fixes if f.kind is FixKind.CREATE_SECRETSMANAGER_ENDPOINT]
    return [s.says for s in fix.steps if s.call.operation == "RevokeSecurityGroupEgress"]


def test_a_new_group_loses_the_default_ipv6_egress_where_the_vpc_has_ipv6_or_was_not_read() -> None:
    no_endpoint = healthy(vpc_endpoints=())
    v4_only = replace(no_endpoint, vpcs={VPC: Vpc(VPC, ("10.0.0.0/16",))})
    dual = replace(no_endpoint, vpcs={VPC: Vpc(VPC, ("10.0.0.0/16",), ipv6_cidr_blocks=("2600:1f18:1::/56",))})
    assert _default_egress_revoked(v4_only) == ["- sg-new1 egress all -> 0.0.0.0/0 (AWS's default rule)"]
    assert _default_egress_revoked(dual) == [
        "- sg-new1 egress all -> 0.0.0.0/0 (AWS's default rule)",
        "- sg-new1 egress all -> ::/0 (AWS's default rule: the VPC has IPv6)",
    ]
    # Its IPv6 blocks were not read: no guess, both are revoked (one that is not there is already done).
    assert _default_egress_revoked(no_endpoint) == [
        "- sg-new1 egress all -> 0.0.0.0/0 (AWS's default rule)",
        f"- sg-new1 egress all -> ::/0 (AWS's default rule if {VPC} has IPv6: its blocks were not read)",
    ]

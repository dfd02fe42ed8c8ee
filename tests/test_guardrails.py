"""Guardrails check every resource any step writes: opt-out tags and the VPC allow-list hold across VPCs."""

from __future__ import annotations

from dataclasses import replace

import pytest

from rotation_doctor.apply.guardrails import Approval, Mode, Policy, blocked
from rotation_doctor.model.plan import Call, Fix, FixKind, ResourceKind, Risk, Step, Written
from rotation_doctor.model.snapshot import FactKey, ReadFailure, Snapshot, Vpc
from rotation_doctor.planning.planner import make_plan
from tests.snapshots import VPC, healthy, peered

AUTO = Policy(mode=Mode.AUTO, max_auto_risk=Risk.HIGH)
IGNORE = {"rotation-doctor:ignore": "true"}


def peering_fix() -> tuple[Snapshot, Fix]:
    """The database in vpc-2 without a route back: the fix writes a route into the database's VPC."""
    base = peered()
    assert base.database is not None
    snap = replace(
        base,
        vpcs={VPC: Vpc(VPC, ("10.0.0.0/16",)), "vpc-2": Vpc("vpc-2", ("10.1.0.0/16",))},
        database=replace(base.database, tags={"rotation-doctor:secrets": base.secret.name}),  # the owner links it
    )
    plan = make_plan(snap)
    (fix,) = [f for f in plan.fixes if f.kind is FixKind.ADD_PEERING_ROUTES]
    return snap, fix


def test_a_fix_declares_every_resource_its_steps_write() -> None:
    _, fix = peering_fix()
    assert Written(ResourceKind.ROUTE_TABLE, "rtb-db") in fix.writes


def test_peering_routes_are_applied_when_nothing_opts_out() -> None:
    snap, fix = peering_fix()
    assert blocked(fix, snap, AUTO, None) is None


def test_the_database_vpcs_opt_out_tag_stops_a_route_written_into_it() -> None:
    snap, fix = peering_fix()
    snap = replace(snap, vpcs={**snap.vpcs, "vpc-2": Vpc("vpc-2", ("10.1.0.0/16",), tags=IGNORE)})
    assert blocked(fix, snap, AUTO, None) == "VPC vpc-2 is tagged rotation-doctor:ignore=true"
    # A person's approval does not override an opt-out either.
    assert blocked(fix, snap, AUTO, Approval("alice")) == "VPC vpc-2 is tagged rotation-doctor:ignore=true"


def test_the_allow_list_holds_for_the_database_vpc_too() -> None:
    snap, fix = peering_fix()
    only_the_function_vpc = replace(AUTO, allowed_vpcs=frozenset({VPC}))
    assert blocked(fix, snap, only_the_function_vpc, None) == "VPC vpc-2 is not in the allow-list"
    both = replace(AUTO, allowed_vpcs=frozenset({VPC, "vpc-2"}))
    assert blocked(fix, snap, both, None) is None


def test_a_tagged_route_table_is_left_alone() -> None:
    snap, fix = peering_fix()
    tables = tuple(replace(t, tags=IGNORE) if t.id == "rtb-db" else t for t in snap.route_tables)
    assert blocked(fix, replace(snap, route_tables=tables), AUTO, None) == (
        "route-table rtb-db is tagged rotation-doctor:ignore=true"
    )


def test_a_resource_that_was_not_read_is_not_changed() -> None:
    snap, fix = peering_fix()
    unread = replace(snap, route_tables=tuple(t for t in snap.route_tables if t.id != "rtb-db"))
    assert blocked(fix, unread, AUTO, None) == (
        "route-table rtb-db was not read, so its opt-out tag and VPC cannot be checked"
    )


@pytest.mark.parametrize(
    ("param", "kind"),
    [("GroupId", ResourceKind.SECURITY_GROUP), ("NetworkAclId", ResourceKind.NETWORK_ACL), ("VpcId", ResourceKind.VPC)],
)
def test_writes_come_from_the_call_and_its_undo(param: str, kind: ResourceKind) -> None:
    step = Step("s1", Call("ec2", "X", {param: "id-1"}), "", undo=Call("ec2", "Y", {"FunctionName": "fn"}))
    assert step.writes == (Written(kind, "id-1"), Written(ResourceKind.FUNCTION, "fn"))


def test_a_referenced_peer_group_is_named_not_written() -> None:
    params = {"GroupId": "sg-db", "IpPermissions": [{"UserIdGroupPairs": [{"GroupId": "sg-fn"}]}]}
    assert Step("s1", Call("ec2", "AuthorizeSecurityGroupIngress", params), "").writes == (
        Written(ResourceKind.SECURITY_GROUP, "sg-db"),
    )


# ----- an opt-out that could not be read stops the change (unread is unknown, never "not opted out") ------------

DENIED = ReadFailure("ec2:DescribeVpcs", "UnauthorizedOperation", "not authorized", "ec2:DescribeVpcs")


def test_a_vpc_whose_tags_could_not_be_read_is_not_changed() -> None:
    snap, fix = peering_fix()
    unread = replace(snap, vpcs={VPC: snap.vpcs[VPC]}, failures={**snap.failures, FactKey.VPCS: DENIED})
    assert blocked(fix, unread, AUTO, None) == (
        "VPC vpc-2 was not read (ec2:DescribeVpcs failed: UnauthorizedOperation), so its opt-out tag cannot be checked"
    )
    # A person's approval does not stand in for the tag either.
    assert blocked(fix, unread, AUTO, Approval("alice")) == blocked(fix, unread, AUTO, None)


def test_a_vpc_missing_from_what_was_read_is_not_changed() -> None:
    snap, fix = peering_fix()
    missing = replace(snap, vpcs={VPC: snap.vpcs[VPC]})
    assert blocked(fix, missing, AUTO, None) == (
        "VPC vpc-2 was not read (not in what was read), so its opt-out tag cannot be checked"
    )


def test_a_function_whose_tags_could_not_be_read_is_not_changed() -> None:
    # Secrets Manager may not invoke the function: the fix adds a permission to it.
    snap = healthy(function_policy=None, vpcs={VPC: Vpc(VPC, ("10.0.0.0/16",))})
    (fix,) = [f for f in make_plan(snap).fixes if f.kind is FixKind.ADD_INVOKE_PERMISSION]
    assert snap.function is not None and blocked(fix, snap, AUTO, None) is None
    tags_denied = ReadFailure("lambda:ListTags", "AccessDeniedException", "denied", "lambda:ListTags")
    unread = replace(snap, failures={**snap.failures, f"{FactKey.FUNCTION}:tags": tags_denied})
    assert blocked(fix, unread, AUTO, None) == (
        f"function {snap.function.arn}: its tags could not be read (lambda:ListTags failed: AccessDeniedException), "
        "so its opt-out cannot be checked"
    )

"""What `what-if` says about plans that touch nothing that exists today, on hand-built snapshots (pure, milliseconds).

A gate teams keep on must not fail unrelated pull requests: a value known only after apply can only name what the
same plan creates or replaces, so a create whose unknown values name only new resources has no effect; kinds that
cannot join a path without a change to it (a new secret, a public zone, a gateway, a parameter or subnet group) have
none either; types are matched by their exact names. Where the answer is `unknown`, it says which value is unknown
and through what it could join the secret's path; a replaced group's new id is followed to what uses it, judged."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rotation_doctor.model.snapshot import Snapshot
from rotation_doctor.whatif.changes import Handling
from rotation_doctor.whatif.report import Effect, Report, assess
from rotation_doctor.whatif.terraform import parse_plan
from tests import snapshots
from tests import whatif_plans as tf

rc = tf.resource_change


def judged(snap: Snapshot, *items: dict[str, Any], config: dict[str, Any] | None = None) -> Report:
    document = json.loads(tf.plan(*items))
    if config is not None:
        document["configuration"]["root_module"] = {"resources": [{"mode": "managed", **r} for r in config]}
    return assess([snap], parse_plan(json.dumps(document), name="plan.json"))


def mappings(report: Report) -> dict[str, Handling]:
    return {c.address: c.mapping for c in report.source.changes}


NEW_VPC = rc("aws_vpc.new", "aws_vpc", ["create"], None, {"cidr_block": "10.9.0.0/16"}, unknown=("id", "arn"))


@pytest.mark.parametrize(
    ("item", "says"),
    [
        (
            rc(
                "aws_secretsmanager_secret.new",
                "aws_secretsmanager_secret",
                ["create"],
                None,
                {"name": "reports/api-key", "kms_key_id": None},
                unknown=("id", "arn"),
            ),
            "a new secret",
        ),
        (
            rc(
                "aws_route53_zone.public",
                "aws_route53_zone",
                ["create"],
                None,
                {"name": "example.com", "vpc": [], "force_destroy": False},
                unknown=("id", "zone_id", "name_servers"),
            ),
            "a public hosted zone",
        ),
        (
            rc(
                "aws_internet_gateway.new",
                "aws_internet_gateway",
                ["create"],
                None,
                {"tags": None},
                unknown=("id", "arn", "vpc_id"),
            ),
            "a new internet gateway",
        ),
        (  # even attached to an existing VPC: no route names it yet
            rc(
                "aws_internet_gateway.main",
                "aws_internet_gateway",
                ["create"],
                None,
                {"vpc_id": snapshots.VPC},
                unknown=("id", "arn"),
            ),
            "no path uses it until a route names it",
        ),
        (
            rc(
                "aws_db_parameter_group.pg",
                "aws_db_parameter_group",
                ["create"],
                None,
                {"name": "reports-pg16", "family": "postgres16", "parameter": []},
                unknown=("id", "arn"),
            ),
            "a new parameter group",
        ),
        (
            rc(
                "aws_db_subnet_group.reports",
                "aws_db_subnet_group",
                ["create"],
                None,
                {"name": "reports"},
                unknown=("id", "arn", "subnet_ids"),
            ),
            "a new subnet group",
        ),
        (
            rc(
                "aws_network_interface.appliance",
                "aws_network_interface",
                ["create"],
                None,
                {"private_ips_count": 0, "source_dest_check": True},
                unknown=("id", "subnet_id", "security_groups"),
            ),
            "name only resources this plan creates",
        ),
        (
            rc(
                "aws_route_table_association.new",
                "aws_route_table_association",
                ["create"],
                None,
                {"gateway_id": None},
                unknown=("id", "subnet_id", "route_table_id"),
            ),
            "name only resources this plan creates",
        ),
        (
            rc(
                "aws_lambda_permission.new",
                "aws_lambda_permission",
                ["create"],
                None,
                {"action": "lambda:InvokeFunction", "principal": "s3.amazonaws.com", "statement_id": "s3"},
                unknown=("id", "function_name", "source_arn"),
            ),
            "name only resources this plan creates",
        ),
    ],
    ids=[
        "secret",
        "public-zone",
        "igw-new-vpc",
        "igw-existing-vpc",
        "parameter-group",
        "subnet-group",
        "eni-new-subnet",
        "association-new-subnet",
        "permission-new-function",
    ],
)
def test_a_new_resource_that_joins_no_existing_path_has_no_effect(item: dict[str, Any], says: str) -> None:
    report = judged(snapshots.healthy(), NEW_VPC, item)
    [change] = [c for c in report.source.changes if c.address == item["address"]]
    assert change.mapping is Handling.NO_EFFECT and says in change.note, change.note
    assert report.secrets == () and not report.failing


def test_an_interface_in_a_subnet_the_path_uses_is_not_evaluated() -> None:
    """The same new interface, in a subnet that exists (and the function uses): it names what exists."""
    item = rc(
        "aws_network_interface.appliance",
        "aws_network_interface",
        ["create"],
        None,
        {"subnet_id": "app-a"},
        unknown=("id",),
    )
    report = judged(snapshots.healthy(), item)
    assert mappings(report) == {"aws_network_interface.appliance": Handling.NOT_EVALUATED}
    assert [s.effect for s in report.secrets] == [Effect.UNKNOWN]


@pytest.mark.parametrize(
    "kind",
    [
        "aws_route53_health_check",
        "aws_route53domains_registered_domain",
        "aws_db_event_subscription",
        "aws_vpc_ipam",
        "aws_lambda_layer_version",
        "aws_networkmanager_global_network",
    ],
)
def test_types_are_matched_by_their_exact_names(kind: str) -> None:
    """A prefix meant for aws_route (aws_db_, aws_vpc, aws_lambda_, aws_network_) caught these: none joins a path."""
    report = judged(snapshots.healthy(), rc(f"{kind}.x", kind, ["delete"], {"id": "x-1"}, None))
    assert mappings(report) == {f"{kind}.x": Handling.IGNORED} and not report.failing


def test_a_route_in_a_table_the_path_uses_to_a_new_gateway_says_which_value_and_which_path() -> None:
    """`unknown` where it is honest: the route's target is unknown, in a table the function's subnets use."""
    item = rc(
        "aws_route.egress",
        "aws_route",
        ["create"],
        None,
        {"route_table_id": "rtb-private", "destination_cidr_block": "0.0.0.0/0"},
        unknown=("id", "nat_gateway_id"),
    )
    report = judged(snapshots.nat_path(), item)
    [secret] = report.secrets
    assert secret.effect is Effect.UNKNOWN
    [reason] = secret.not_evaluated
    assert "nat_gateway_id unknown until apply" in reason and "this secret's path uses rtb-private" in reason


def test_a_data_source_read_at_apply_may_name_what_exists() -> None:
    """A subnet looked up only at apply may be one the function uses: the association stays unknown."""
    lookup = {
        "address": "data.aws_subnet.picked",
        "mode": "data",
        "type": "aws_subnet",
        "name": "picked",
        "provider_name": tf.PROVIDER,
        "change": {"actions": ["read"], "before": None, "after": {}, "after_unknown": {"id": True}},
    }
    item = rc(
        "aws_route_table_association.x",
        "aws_route_table_association",
        ["create"],
        None,
        {"route_table_id": "rtb-public"},
        unknown=("id", "subnet_id"),
    )
    report = judged(snapshots.healthy(), lookup, item)
    assert mappings(report) == {"aws_route_table_association.x": Handling.NOT_EVALUATED}
    assert report.failing and "data.aws_subnet.picked" in report.secrets[0].not_evaluated[0]


# ----- a replaced group's new id, followed to what uses it -------------------------------------------------------


def _vpce_group(ingress_port: int) -> dict[str, Any]:
    rule = {
        "cidr_blocks": ["10.0.0.0/16"],
        "from_port": ingress_port,
        "to_port": ingress_port,
        "protocol": "tcp",
        "self": False,
        "security_groups": [],
        "prefix_list_ids": [],
        "ipv6_cidr_blocks": [],
        "description": "",
    }
    return {"name": "vpce-v2", "vpc_id": snapshots.VPC, "ingress": [rule], "egress": [], "description": "vpce"}


def _replaced_group_moves_the_endpoint(ingress_port: int, *, references: list[str]) -> Report:
    before_group = {**_vpce_group(443), "id": "sg-vpce", "name": "vpce"}
    group = rc(
        "aws_security_group.vpce",
        "aws_security_group",
        ["create", "delete"],
        before_group,
        _vpce_group(ingress_port),
        unknown=("id", "arn"),
    )
    endpoint = tf.tf_endpoint("vpce-1", snapshots.VPC, ["app-a", "app-b"], ["sg-vpce"], "us-east-1")
    moved = {k: v for k, v in endpoint.items() if k != "security_group_ids"}
    update = rc("aws_vpc_endpoint.sm", "aws_vpc_endpoint", ["update"], endpoint, moved)
    update["change"]["after_unknown"]["security_group_ids"] = True
    config = [
        {"address": "aws_security_group.vpce", "type": "aws_security_group", "name": "vpce", "expressions": {}},
        {
            "address": "aws_vpc_endpoint.sm",
            "type": "aws_vpc_endpoint",
            "name": "sm",
            "expressions": {"security_group_ids": {"references": references}},
        },
    ]
    return judged(snapshots.healthy(), group, update, config=config)


def test_a_replaced_group_whose_new_id_flows_to_the_endpoint_is_judged() -> None:
    refs = ["aws_security_group.vpce.id", "aws_security_group.vpce"]
    same = _replaced_group_moves_the_endpoint(443, references=refs)
    assert [(s.effect, str(s.after.verdict), s.not_evaluated) for s in same.secrets] == [
        (Effect.UNCHANGED, "healthy", ())
    ]
    assert not same.failing
    closed = _replaced_group_moves_the_endpoint(22, references=refs)  # the new group no longer admits HTTPS
    [secret] = closed.secrets
    assert secret.effect is Effect.BREAKS and secret.not_evaluated == ()
    assert [f.code for f in secret.new_findings] == ["SM_ENDPOINT_SG_DENIES"]


def test_a_new_id_the_references_do_not_pin_down_stays_unknown() -> None:
    """A variable in the expression may hold any group: the endpoint's groups are unknown, and so is the secret."""
    report = _replaced_group_moves_the_endpoint(443, references=["var.extra_groups", "aws_security_group.vpce.id"])
    [secret] = report.secrets
    assert secret.effect is Effect.UNKNOWN
    assert any("security_group_ids unknown until apply" in r for r in secret.not_evaluated)

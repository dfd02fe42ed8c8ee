"""Parsing real-shaped events: every shape of CloudTrail parameters yields the ids a change touches."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rotation_doctor.service import events
from rotation_doctor.service.event_models import CloudTrailDetail
from rotation_doctor.service.events import Change, MalformedEvent, RotationTrigger, Sweep, failed_call, parse
from tests.worker_events import load

EVENTS = Path(__file__).resolve().parent / "events"


def test_rotation_failed_names_the_secret_and_the_step() -> None:
    trigger = parse(load("rotation_failed_eventbridge.json"))
    assert isinstance(trigger, RotationTrigger)
    assert trigger.secret_id == "arn:aws:secretsmanager:ap-southeast-2:843407916570:secret:IcaSecretsWorkflow-yUaicA"
    assert trigger.step == "createSecret" and trigger.event_name == "RotationFailed"


NEW_ENDPOINT_IDS = {
    "vpc-0a1b2c3d4e5f60001",
    "subnet-0a1b2c3d4e5f60001",
    "subnet-0a1b2c3d4e5f60002",
    "sg-0e5ec00000000a003",
    "vpce-0e0d0c0b0a0900002",
    "eni-0a1b2c3d4e5f60001",
    "eni-0a1b2c3d4e5f60002",
}


@pytest.mark.parametrize(
    "name,ids,names",
    [
        ("revoke_sg_ingress_items.json", {"sg-0db5ec0000000a001", "sg-0f0ec00000000a002"}, set()),
        ("revoke_sg_ingress_cli_flat.json", {"sg-0db5ec0000000a001"}, set()),
        ("modify_sg_rules_request.json", {"sg-0db5ec0000000a001", "sg-0f0ec00000000a002"}, set()),
        ("delete_vpc_endpoints_request.json", {"vpce-0e0d0c0b0a0900001"}, set()),
        ("delete_nat_gateway.json", {"nat-0123456789abcdef0"}, set()),
        ("delete_route.json", {"rtb-0a0b0c0d0e0f00001"}, set()),
        ("modify_managed_prefix_list.json", {"pl-0a1b2c3d4e5f60001"}, set()),
        ("delete_transit_gateway_route.json", {"tgw-rtb-0a1b2c3d4e5f60001"}, set()),
        # The new endpoint's VPC (the subject of a diagnosis's query for the VPC's endpoints), subnets, groups, id and
        # network interfaces: request (`tag`/`content` lists) and response (`item` sets) alike.
        ("create_vpc_endpoint.json", NEW_ENDPOINT_IDS, set()),
        ("restore_managed_prefix_list_version.json", {"pl-0a1b2c3d4e5f60001"}, set()),
        (
            "enable_transit_gateway_route_table_propagation.json",
            {"tgw-rtb-0a1b2c3d4e5f60001", "tgw-attach-0a1b2c3d4e5f60002"},
            set(),
        ),
        (
            "create_transit_gateway_prefix_list_reference.json",
            {"tgw-rtb-0a1b2c3d4e5f60001", "pl-0a1b2c3d4e5f60001", "tgw-attach-0a1b2c3d4e5f60002"},
            set(),
        ),
        (
            "modify_transit_gateway_prefix_list_reference.json",
            {"tgw-rtb-0a1b2c3d4e5f60001", "pl-0a1b2c3d4e5f60001"},
            set(),
        ),
        (
            "delete_transit_gateway_prefix_list_reference.json",
            {"tgw-rtb-0a1b2c3d4e5f60001", "pl-0a1b2c3d4e5f60001"},
            set(),
        ),
        ("replace_network_acl_entry.json", {"acl-0a1b2c3d4e5f60001"}, set()),
        ("modify_vpc_attribute.json", {"vpc-0a1b2c3d4e5f60001"}, set()),
        (
            "update_function_configuration.json",
            {"subnet-0a1b2c3d4e5f60001", "sg-0f0ec00000000a002", "vpc-0a1b2c3d4e5f60001"},
            {("function", "orders-db-rotation")},
        ),
        ("modify_db_instance.json", {"sg-0db5ec0000000a001"}, {("database", "orders-db")}),
        (
            "rotate_secret.json",
            set(),
            {
                ("secret", "prod/orders/db"),
                ("secret", "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/orders/db-AbCdEf"),
            },
        ),
    ],
)
def test_changes_yield_the_resources_they_touch(name: str, ids: set[str], names: set[tuple[str, str]]) -> None:
    change = parse(load(name))
    assert isinstance(change, Change) and not change.affects_all
    assert change.resource_ids == ids
    assert names <= change.names


def test_disassociation_cannot_be_mapped_so_it_looks_at_everything() -> None:
    raw = load("delete_route.json")
    raw["detail"]["eventName"] = "DisassociateRouteTable"
    raw["detail"]["requestParameters"] = {"associationId": "rtbassoc-0a1b2c3d4e5f60001"}
    change = parse(raw)
    assert isinstance(change, Change) and change.affects_all


def test_sweep() -> None:
    assert isinstance(parse(load("scheduled_sweep.json")), Sweep)


def test_refused_calls_are_recognised() -> None:
    assert failed_call(load("failed_revoke_sg_ingress.json"))
    assert not failed_call(load("revoke_sg_ingress_items.json"))


@pytest.mark.parametrize(
    "raw,reason",
    [
        ({"hello": "world"}, "not an EventBridge event"),
        (
            json.loads((EVENTS / "malformed_rotation_failed_no_secret.json").read_text()),
            "without detail.additionalEventData",
        ),
        (
            {**json.loads((EVENTS / "rotation_failed_eventbridge.json").read_text()), "detail": {"no": "name"}},
            "without a CloudTrail record",
        ),
    ],
)
def test_malformed_events_say_why(raw: dict[str, Any], reason: str) -> None:
    with pytest.raises(MalformedEvent, match=reason):
        parse(raw)


# ----- bounded: depth, size, and what is logged -------------------------------------------------------------------

SG_DB, SG_FN = "sg-0db5ec0000000a001", "sg-0f0ec00000000a002"
# How every real-shaped event parsed before the walk was bounded (the recursive walk): it must parse exactly so.
AS_BEFORE: dict[str, tuple[str, dict[str, Any] | str]] = {
    "delete_nat_gateway.json": ("Change", {"resource_ids": ["nat-0123456789abcdef0"], "names": []}),
    "delete_route.json": ("Change", {"resource_ids": ["rtb-0a0b0c0d0e0f00001"], "names": []}),
    "modify_managed_prefix_list.json": ("Change", {"resource_ids": ["pl-0a1b2c3d4e5f60001"], "names": []}),
    "delete_transit_gateway_route.json": ("Change", {"resource_ids": ["tgw-rtb-0a1b2c3d4e5f60001"], "names": []}),
    "delete_vpc_endpoints_request.json": ("Change", {"resource_ids": ["vpce-0e0d0c0b0a0900001"], "names": []}),
    "create_vpc_endpoint.json": ("Change", {"resource_ids": sorted(NEW_ENDPOINT_IDS), "names": []}),
    "restore_managed_prefix_list_version.json": ("Change", {"resource_ids": ["pl-0a1b2c3d4e5f60001"], "names": []}),
    "enable_transit_gateway_route_table_propagation.json": (
        "Change",
        {"resource_ids": ["tgw-attach-0a1b2c3d4e5f60002", "tgw-rtb-0a1b2c3d4e5f60001"], "names": []},
    ),
    **{
        f"{verb}_transit_gateway_prefix_list_reference.json": (
            "Change",
            {"resource_ids": ["pl-0a1b2c3d4e5f60001", *attachment, "tgw-rtb-0a1b2c3d4e5f60001"], "names": []},
        )
        for verb, attachment in (("create", ["tgw-attach-0a1b2c3d4e5f60002"]), ("modify", []), ("delete", []))
    },
    "failed_revoke_sg_ingress.json": ("Change", {"resource_ids": [SG_DB, SG_FN], "names": []}),
    "malformed_rotation_failed_no_secret.json": (
        "MalformedEvent",
        "RotationFailed without detail.additionalEventData.SecretId",
    ),
    "modify_db_instance.json": ("Change", {"resource_ids": [SG_DB], "names": [("database", "orders-db")]}),
    "modify_sg_rules_request.json": ("Change", {"resource_ids": [SG_DB, SG_FN], "names": []}),
    "modify_vpc_attribute.json": ("Change", {"resource_ids": ["vpc-0a1b2c3d4e5f60001"], "names": []}),
    "negative_authorize_sg_ingress.json": ("Change", {"resource_ids": [SG_DB, SG_FN], "names": []}),
    "negative_run_instances.json": ("Change", {"resource_ids": [SG_FN, "subnet-0a1b2c3d4e5f60001"], "names": []}),
    "negative_s3_put_object.json": ("Change", {"resource_ids": [], "names": [], "affects_all": True}),
    "negative_update_function_code.json": (
        "Change",
        {"resource_ids": [], "names": [("function", "orders-db-rotation")]},
    ),
    "replace_network_acl_entry.json": ("Change", {"resource_ids": ["acl-0a1b2c3d4e5f60001"], "names": []}),
    "revoke_sg_ingress_cli_flat.json": ("Change", {"resource_ids": [SG_DB], "names": []}),
    "revoke_sg_ingress_items.json": ("Change", {"resource_ids": [SG_DB, SG_FN], "names": []}),
    "rotate_secret.json": (
        "Change",
        {
            "resource_ids": [],
            "names": [
                ("secret", "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/orders/db-AbCdEf"),
                ("secret", "prod/orders/db"),
            ],
        },
    ),
    "rotation_failed_cloudtrail_record.json": ("MalformedEvent", "not an EventBridge event: version: Field required"),
    "rotation_failed_eventbridge.json": (
        "RotationTrigger",
        {
            "secret_id": "arn:aws:secretsmanager:ap-southeast-2:843407916570:secret:IcaSecretsWorkflow-yUaicA",
            "step": "createSecret",
        },
    ),
    "rotation_succeeded_eventbridge.json": (
        "RotationSucceeded",
        {"secret_id": "arn:aws:secretsmanager:us-west-2:accountid:secret:Appuser-pyodbc-WoDpmU"},
    ),
    "scheduled_sweep.json": ("Sweep", {}),
    "update_function_configuration.json": (
        "Change",
        {
            "resource_ids": [SG_FN, "subnet-0a1b2c3d4e5f60001", "vpc-0a1b2c3d4e5f60001"],
            "names": [("function", "orders-db-rotation")],
        },
    ),
}


def test_every_real_shaped_event_is_known_here() -> None:
    assert sorted(AS_BEFORE) == sorted(p.name for p in EVENTS.glob("*.json"))


@pytest.mark.parametrize("name", sorted(AS_BEFORE))
def test_every_real_shaped_event_parses_as_before(name: str) -> None:
    kind, expected = AS_BEFORE[name]
    raw = load(name)
    if kind == "MalformedEvent":
        with pytest.raises(MalformedEvent) as caught:
            parse(raw)
        assert str(caught.value) == expected
        return
    trigger = parse(raw)
    assert type(trigger).__name__ == kind and trigger.event_id == raw["id"]
    if isinstance(trigger, Change):
        got = {
            "resource_ids": sorted(trigger.resource_ids),
            "names": sorted(trigger.names),
            "affects_all": trigger.affects_all,
        }
        assert got == {"affects_all": False, **expected} and trigger.read_whole
    elif isinstance(trigger, RotationTrigger):
        assert {"secret_id": trigger.secret_id, "step": trigger.step} == expected


def recursive_leaves(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """The walk as it was (unbounded recursion): the reference the bounded walk is held to."""
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, Mapping):
        if set(value) <= {"tag", "content"} and "content" in value:
            yield from recursive_leaves(value["content"], key)
            return
        for k, v in value.items():
            yield from recursive_leaves(v, key if k in ("items", "item") or k.endswith("Request") else str(k))
    elif isinstance(value, list | tuple):
        for item in value:
            yield from recursive_leaves(item, key)


@pytest.mark.parametrize("name", sorted(AS_BEFORE))
def test_the_bounded_walk_reads_real_events_as_the_recursive_one_did(name: str) -> None:
    detail = load(name).get("detail") or {}
    for part in ("requestParameters", "responseElements", "additionalEventData"):
        value = detail.get(part) or {}
        assert events._leaves(value) == (list(recursive_leaves(value)), True)


KEYS = st.sampled_from(["items", "item", "tag", "content", "groupId", "ModifyRulesRequest", "functionName", "a"])
SHAPES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.sampled_from([SG_DB, SG_FN, "orders-db", "x"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(SHAPES)
def test_within_its_bounds_the_walk_reads_what_the_recursive_one_read(value: Any) -> None:
    assert events._leaves(value) == (list(recursive_leaves(value)), True)


def nested(depth: int, leaf: Any) -> Any:
    """`leaf` under `depth` alternating object and list levels (the shape that defeated the traceback's folding)."""
    value = leaf
    for level in range(depth):
        value = {"items": [value]} if level % 2 else [value]
    return value


def test_a_walk_10000_deep_stops_at_its_bound_without_recursion() -> None:
    pairs, whole = events._leaves({"groupId": SG_DB, "deep": nested(10_000, SG_FN)})
    assert pairs == [("groupId", SG_DB)] and not whole


def test_a_change_too_deep_to_read_whole_looks_at_every_secret() -> None:
    # Past the walk's bound (32), within pydantic's (about 250): parsed, and the shallow ids are kept.
    raw = load("revoke_sg_ingress_items.json")
    raw["detail"]["requestParameters"]["deep"] = nested(100, "sg-0123456789abcdef0")
    change = parse(raw)
    assert isinstance(change, Change) and change.affects_all and not change.read_whole
    assert change.resource_ids == {SG_DB, SG_FN}


def test_a_change_too_large_to_read_whole_looks_at_every_secret() -> None:
    raw = load("revoke_sg_ingress_items.json")
    raw["detail"]["requestParameters"]["wide"] = [{"cidrIp": "10.0.0.0/8"}] * (events.MAX_NODES + 1)
    change = parse(raw)
    assert isinstance(change, Change) and change.affects_all and not change.read_whole


def test_a_change_made_by_hand_10000_deep_is_walked_without_recursion() -> None:
    detail = CloudTrailDetail.model_construct(
        eventName="RevokeSecurityGroupIngress", requestParameters={"groupId": SG_DB, "deep": nested(10_000, SG_FN)}
    )
    change = events._change("e-1", "aws.ec2", detail)
    assert change.resource_ids == {SG_DB} and change.affects_all and not change.read_whole


@pytest.mark.parametrize(
    "raw,reason",
    [
        (  # past pydantic's validation depth: its error's location is as deep as the value
            {
                **load("revoke_sg_ingress_items.json"),
                "detail": {"eventName": "X", "requestParameters": {"d": nested(600, 1)}},
            },
            "without a CloudTrail record",
        ),
        ({**load("rotation_succeeded_eventbridge.json"), "detail-type": "D" * 100_000}, "unexpected event"),
        ({**load("rotation_succeeded_eventbridge.json"), "detail-type": "two\nlines"}, "unexpected event"),
        (
            {**load("rotation_succeeded_eventbridge.json"), "source": "s" * 100_000, "detail-type": "Not CloudTrail"},
            "unexpected event",
        ),
        ({"kind": "k" * 100_000}, "not an apply-approved-proposal message"),
        ({"hello": "world", "x" * 100_000: 1}, "not an EventBridge event"),
    ],
)
def test_every_reason_is_short_and_on_one_line(raw: dict[str, Any], reason: str) -> None:
    with pytest.raises(MalformedEvent, match=reason) as caught:
        parse(raw)
    assert len(str(caught.value)) <= 300 and "\n" not in str(caught.value)


def test_a_value_too_deep_to_print_is_a_malformed_event_not_a_recursion_error() -> None:
    # The hand-off's reason quotes a bad version briefly; printing one 100,000 deep overflows the stack.
    with pytest.raises(MalformedEvent, match="nested too deeply"):
        parse({"kind": "apply-approved-proposal", "version": nested(100_000, 1)})


@pytest.mark.parametrize(
    "written",
    [
        "orders-db-rotation",
        "arn:aws:lambda:us-east-1:123456789012:function:orders-db-rotation",
        "arn:aws:lambda:us-east-1:123456789012:function:orders-db-rotation:PROD",
        "123456789012:function:orders-db-rotation",  # Lambda's "partial ARN"
    ],
)
def test_a_function_named_by_name_arn_or_partial_arn_is_named_by_its_name(written: str) -> None:
    """Lambda takes a function's name, its ARN or its partial ARN (Lambda API Reference, UpdateFunctionConfiguration,
    FunctionName "Name formats"); CloudTrail writes what the caller wrote. Each must wake the function's secrets."""
    raw = load("update_function_configuration.json")
    raw["detail"]["requestParameters"]["functionName"] = written
    change = parse(raw)
    assert isinstance(change, Change)
    assert {name for kind, name in change.names if kind == "function"} == {"orders-db-rotation"}


def test_a_database_named_in_capitals_is_named_as_rds_stores_it() -> None:
    """RDS stores a DB instance's or cluster's identifier in lowercase and takes it in any case (RDS API Reference,
    CreateDBInstance / ModifyDBInstance, DBInstanceIdentifier: "stored as a lowercase string"); CloudTrail records
    what the caller wrote, the snapshot what RDS describes."""
    raw = load("modify_db_instance.json")
    raw["detail"]["requestParameters"]["dBInstanceIdentifier"] = "Orders-DB"
    change = parse(raw)
    assert isinstance(change, Change)
    assert ("database", "orders-db") in change.names

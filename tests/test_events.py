"""Parsing real-shaped events: every shape of CloudTrail parameters yields the ids a change touches."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rotation_doctor.service.events import Change, MalformedEvent, RotationTrigger, Sweep, failed_call, parse

EVENTS = Path(__file__).resolve().parent / "events"


def load(name: str) -> dict[str, Any]:
    return dict(json.loads((EVENTS / name).read_text()))


def test_rotation_failed_names_the_secret_and_the_step() -> None:
    trigger = parse(load("rotation_failed_eventbridge.json"))
    assert isinstance(trigger, RotationTrigger)
    assert trigger.secret_id == "arn:aws:secretsmanager:ap-southeast-2:843407916570:secret:IcaSecretsWorkflow-yUaicA"
    assert trigger.step == "createSecret" and trigger.event_name == "RotationFailed"


@pytest.mark.parametrize(
    "name,ids,names",
    [
        ("revoke_sg_ingress_items.json", {"sg-0db5ec0000000a001", "sg-0f0ec00000000a002"}, set()),
        ("revoke_sg_ingress_cli_flat.json", {"sg-0db5ec0000000a001"}, set()),
        ("modify_sg_rules_request.json", {"sg-0db5ec0000000a001", "sg-0f0ec00000000a002"}, set()),
        ("delete_vpc_endpoints_request.json", {"vpce-0e0d0c0b0a0900001"}, set()),
        ("delete_nat_gateway.json", {"nat-0123456789abcdef0"}, set()),
        ("delete_route.json", {"rtb-0a0b0c0d0e0f00001"}, set()),
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

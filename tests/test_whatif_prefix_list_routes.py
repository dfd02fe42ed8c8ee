"""what-if on routes whose destination is a managed prefix list: a VPC route by `destination_prefix_list_id` /
`DestinationPrefixListId` (Terraform's `aws_route` and inline `aws_route_table` routes, CloudFormation's
`AWS::EC2::Route`) and a transit gateway route table's reference to a list
(`aws_ec2_transit_gateway_prefix_list_reference`; CloudFormation has no such type) are route edits, judged with the
list's entries by AWS's route priority; a change to the list's entries is judged through the routes that name it.

On the simulated account: the ledger database sits in a second VPC behind a transit gateway
(`scenarios.tgw_database`), and the orders VPC's private table sends the database's block there by a prefix list
instead of a CIDR route. moto has no transit gateway prefix-list references, so those are judged on hand-built
snapshots (`tests/snapshots.through_tgw`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pytest

from rotation_doctor.analysis import diagnose
from rotation_doctor.examine import diagnose_secret
from rotation_doctor.model.findings import Verdict
from rotation_doctor.simulated import scenarios
from rotation_doctor.simulated.account import AccountBuilder
from rotation_doctor.whatif.changes import Handling
from rotation_doctor.whatif.report import assess
from rotation_doctor.whatif.terraform import parse_plan
from tests import whatif_plans as tf
from tests.snapshots import DB_BLOCKS
from tests.whatif_runs import effects, run, run_change_set

LEDGER = "prod/ledger/db"
ORDERS = scenarios.DEMO_SECRET
DATA_BLOCK = "10.40.0.0/16"  # the ledger VPC's block (`scenarios.tgw_database`)


@dataclass
class Routed:
    o: scenarios.Orders
    tgw: str
    data_list: str  # the customer-managed list holding the ledger VPC's block
    table: str  # the orders function's route table (its subnets' explicit table)


def _tgw_ledger(b: AccountBuilder) -> tuple[scenarios.Orders, dict[str, Any], str]:
    o = scenarios.orders(b, db_admits_function=True, endpoint=True)
    built = scenarios.tgw_database(b, o, secret_name=LEDGER)
    data_list = b.prefix_list("ledger-data", [DATA_BLOCK])
    b.ec2.delete_route(RouteTableId=o.net.tables["private"], DestinationCidrBlock=DATA_BLOCK)
    return o, built, data_list


def routed_by_list(b: AccountBuilder) -> Routed:
    """Healthy: the private table sends the ledger VPC to the transit gateway by the list, not by a CIDR route."""
    o, built, data_list = _tgw_ledger(b)
    b.ec2.create_route(
        RouteTableId=o.net.tables["private"], DestinationPrefixListId=data_list, TransitGatewayId=built["tgw"]
    )
    return Routed(o, built["tgw"], data_list, o.net.tables["private"])


def unrouted(b: AccountBuilder) -> Routed:
    """Broken: the private table has no route to the ledger VPC; the public table already routes the list to the
    transit gateway (so the account read holds its entries, as it reads every list a route or rule names)."""
    o, built, data_list = _tgw_ledger(b)
    b.ec2.create_route(
        RouteTableId=o.net.tables["public"], DestinationPrefixListId=data_list, TransitGatewayId=built["tgw"]
    )
    return Routed(o, built["tgw"], data_list, o.net.tables["private"])


def tf_route(a: Routed) -> dict[str, Any]:
    """An `aws_route` by prefix list as the AWS provider (v5) stores it: one destination set, the others empty."""
    return {
        "id": f"r-{a.table}3781045520",
        "route_table_id": a.table,
        "destination_cidr_block": "",
        "destination_ipv6_cidr_block": "",
        "destination_prefix_list_id": a.data_list,
        "carrier_gateway_id": "",
        "core_network_arn": "",
        "egress_only_gateway_id": "",
        "gateway_id": "",
        "instance_id": "",
        "instance_owner_id": "",
        "local_gateway_id": "",
        "nat_gateway_id": "",
        "network_interface_id": "",
        "origin": "CreateRoute",
        "state": "active",
        "timeouts": None,
        "transit_gateway_id": a.tgw,
        "vpc_endpoint_id": "",
        "vpc_peering_connection_id": "",
    }


def _ledger_verdict(a: Routed) -> Verdict:
    return diagnose_secret(a.o.builder.clients, LEDGER)[1].verdict


def _delete_route(a: Routed) -> dict[str, Any]:
    return tf.resource_change("aws_route.ledger", "aws_route", ["delete"], tf_route(a), None)


def _create_route(a: Routed, **values: Any) -> dict[str, Any]:
    after = {**tf_route(a), "id": None, "origin": None, "state": None, "instance_owner_id": None, **values}
    unknown = ("id", "origin", "state", "instance_owner_id")
    return tf.resource_change("aws_route.ledger", "aws_route", ["create"], None, after, unknown=unknown)


# ----- on the simulated account --------------------------------------------------------------------


@pytest.fixture
def routed(builder: AccountBuilder) -> Routed:
    a = routed_by_list(builder)
    assert _ledger_verdict(a) is Verdict.HEALTHY
    return a


@pytest.fixture
def broken(builder: AccountBuilder) -> Routed:
    a = unrouted(builder)
    assert _ledger_verdict(a) is Verdict.BROKEN
    return a


def test_removing_the_prefix_list_route_the_database_path_uses_breaks_the_secret(routed: Routed) -> None:
    report = run(routed.o.builder.clients, tf.plan(_delete_route(routed)))
    # The orders database is in the function's own VPC (the local route): its secret is judged, and unchanged.
    assert effects(report) == {LEDGER: ("breaks", ["DB_NO_ROUTE"]), ORDERS: ("unchanged", [])}
    assert [c.mapping for c in report.source.changes] == [Handling.MAPPED]
    assert report.failing


@pytest.mark.parametrize("whole_list", [False, True], ids=["entry", "list"])
def test_an_entry_taken_out_of_the_list_is_judged_through_the_route_that_names_it(
    routed: Routed, whole_list: bool
) -> None:
    """The list's entries decide where the route sends the database's block: without the entry, no route does."""
    entry = {"cidr": DATA_BLOCK, "description": "ledger VPC"}
    if whole_list:
        values = {"id": routed.data_list, "name": "ledger-data", "address_family": "IPv4", "max_entries": 5}
        change = tf.resource_change(
            "aws_ec2_managed_prefix_list.ledger",
            "aws_ec2_managed_prefix_list",
            ["update"],
            {**values, "entry": [entry]},
            {**values, "entry": [{"cidr": "10.41.0.0/16", "description": "another VPC"}]},
        )
    else:
        values = {"id": f"{routed.data_list},{DATA_BLOCK}", "prefix_list_id": routed.data_list, **entry}
        change = tf.resource_change(
            "aws_ec2_managed_prefix_list_entry.ledger", "aws_ec2_managed_prefix_list_entry", ["delete"], values, None
        )
    report = run(routed.o.builder.clients, tf.plan(change))
    found = effects(report)
    assert found[LEDGER] == ("breaks", ["DB_NO_ROUTE"])
    # A secret whose diagnosis also reads the list (its route table names it) is touched, and stays as it was.
    assert all(effect == ("unchanged", []) for secret, effect in found.items() if secret != LEDGER)


def test_a_prefix_list_route_to_the_transit_gateway_heals_the_path(broken: Routed) -> None:
    report = run(broken.o.builder.clients, tf.plan(_create_route(broken)))
    assert effects(report)[LEDGER] == ("heals", [])
    [secret] = [s for s in report.secrets if s.before.secret_name == LEDGER]
    assert secret.after.verdict is Verdict.HEALTHY and not secret.not_evaluated


def test_the_same_route_in_a_change_set_heals_the_path(broken: Routed) -> None:
    props = {"RouteTableId": broken.table, "DestinationPrefixListId": broken.data_list, "TransitGatewayId": broken.tgw}
    report = run_change_set(
        broken.o.builder.clients, [[tf.cfn_change("LedgerRoute", "AWS::EC2::Route", "Add", after=props)]]
    )
    assert effects(report)[LEDGER] == ("heals", [])


def test_a_second_route_to_a_routed_list_is_refused_and_an_update_in_place_replaces_it(routed: Routed) -> None:
    """CreateRoute to a list the table already routes fails (RouteAlreadyExists): the working route stays. The same
    target changed in place (ReplaceRoute) sends the database's block to the internet gateway."""
    igw = routed.o.builder.ec2.describe_internet_gateways()["InternetGateways"][0]["InternetGatewayId"]
    elsewhere = {"transit_gateway_id": "", "gateway_id": igw}
    report = run(routed.o.builder.clients, tf.plan(_create_route(routed, **elsewhere)))
    assert effects(report)[LEDGER] == ("unchanged", [])
    update = tf.resource_change(
        "aws_route.ledger", "aws_route", ["update"], tf_route(routed), {**tf_route(routed), **elsewhere}
    )
    report = run(routed.o.builder.clients, tf.plan(update))
    assert effects(report)[LEDGER] == ("breaks", ["DB_NO_ROUTE"])


def test_a_prefix_list_id_known_only_after_apply_is_unknown_naming_it(routed: Routed) -> None:
    """The plan makes a new list and routes it from the function's table: which addresses the route takes is known
    only once the list exists. Every secret whose path uses the table is unknown, and the note names the value."""
    new_list = tf.resource_change(
        "aws_ec2_managed_prefix_list.partners",
        "aws_ec2_managed_prefix_list",
        ["create"],
        None,
        {
            "id": None,
            "arn": None,
            "name": "partners",
            "address_family": "IPv4",
            "max_entries": 5,
            "version": None,
            "entry": [{"cidr": "10.40.1.0/24", "description": ""}],
        },
        unknown=("id", "arn", "version"),
    )
    route = _create_route(routed, destination_prefix_list_id=None)
    route["change"]["after_unknown"]["destination_prefix_list_id"] = True
    report = run(routed.o.builder.clients, tf.plan(new_list, route))
    assert {name: effect for name, (effect, _) in effects(report).items()} == {LEDGER: "unknown", ORDERS: "unknown"}
    for secret in report.secrets:
        assert any(
            n.startswith("aws_route.ledger: destination_prefix_list_id is known only after apply") and routed.table in n
            for n in secret.not_evaluated
        ), secret.not_evaluated
    assert report.failing


def test_a_change_set_prefix_list_id_known_only_after_it_runs_is_unknown_naming_it(routed: Routed) -> None:
    props = {
        "RouteTableId": routed.table,
        "DestinationPrefixListId": "{{changeSet:KNOWN_AFTER_APPLY}}",
        "TransitGatewayId": routed.tgw,
    }
    report = run_change_set(
        routed.o.builder.clients, [[tf.cfn_change("PartnersRoute", "AWS::EC2::Route", "Add", after=props)]]
    )
    assert effects(report)[LEDGER][0] == "unknown"
    [secret] = [s for s in report.secrets if s.before.secret_name == LEDGER]
    assert any("DestinationPrefixListId is known only after the change set runs" in n for n in secret.not_evaluated), (
        secret.not_evaluated
    )


# ----- transit gateway prefix-list references and inline routes, on hand-built snapshots ----------------------


def _tgw_read(*, to_db: bool = True) -> Any:
    """`through_tgw()` with pl-db (the database VPC's block) read; `to_db` False: tgw-rtb-1 has no route there."""
    from tests.snapshots import through_tgw

    snap = replace(through_tgw(), prefix_lists={"pl-db": DB_BLOCKS})
    if to_db:
        return snap
    table = snap.tgw_route_tables["tgw-rtb-1"]
    kept = tuple(r for r in table.routes if r.destination != "10.1.0.0/16")
    return replace(snap, tgw_route_tables={"tgw-rtb-1": replace(table, routes=kept)})


REFERENCE = {
    "id": "tgw-rtb-1_pl-db",
    "transit_gateway_route_table_id": "tgw-rtb-1",
    "prefix_list_id": "pl-db",
    "prefix_list_owner_id": "123456789012",
    "transit_gateway_attachment_id": "tgw-attach-2",
    "blackhole": False,
}
BLACKHOLE = {**REFERENCE, "transit_gateway_attachment_id": None, "blackhole": True}
KIND = "aws_ec2_transit_gateway_prefix_list_reference"


def _assessed(snap: Any, *items: dict[str, Any]) -> tuple[str, list[str], tuple[str, ...]]:
    report = assess([snap], parse_plan(tf.plan(*items), name="plan.json"))
    [secret] = report.secrets
    return str(secret.effect), sorted({f.code for f in secret.new_findings}), secret.not_evaluated


@pytest.mark.parametrize(
    ("to_db", "actions", "before", "after", "expected"),
    [
        (False, ["create"], None, REFERENCE, ("heals", [])),
        (True, ["create"], None, BLACKHOLE, ("breaks", ["DB_TGW_BLACKHOLE"])),  # beats the propagated route
        (True, ["update"], {**REFERENCE, "blackhole": False}, BLACKHOLE, ("unchanged", [])),  # none to modify
    ],
    ids=["reference-heals", "blackhole-reference-breaks", "modify-without-a-reference-is-refused"],
)
def test_a_transit_gateway_prefix_list_reference_is_a_route_by_the_lists_entries(
    to_db: bool, actions: list[str], before: Any, after: Any, expected: tuple[str, list[str]]
) -> None:
    item = tf.resource_change(f"{KIND}.db", KIND, actions, before, after)
    assert _assessed(_tgw_read(to_db=to_db), item)[:2] == expected


def test_a_reference_removed_or_turned_into_a_blackhole_breaks_the_path() -> None:
    from rotation_doctor.model.edits import PutTgwPrefixListReference, apply

    referenced = apply(_tgw_read(to_db=False), [PutTgwPrefixListReference("tgw-rtb-1", "pl-db", ("tgw-attach-2",))])
    assert diagnose(referenced).verdict is Verdict.HEALTHY
    deleted = tf.resource_change(f"{KIND}.db", KIND, ["delete"], REFERENCE, None)
    assert _assessed(referenced, deleted)[:2] == ("breaks", ["DB_TGW_ROUTE_MISSING"])
    modified = tf.resource_change(f"{KIND}.db", KIND, ["update"], REFERENCE, BLACKHOLE)
    assert _assessed(referenced, modified)[:2] == ("breaks", ["DB_TGW_BLACKHOLE"])


def test_a_reference_to_a_list_known_only_after_apply_is_unknown_naming_it() -> None:
    item = tf.resource_change(f"{KIND}.db", KIND, ["create"], None, {**REFERENCE, "prefix_list_id": None})
    item["change"]["after_unknown"]["prefix_list_id"] = True
    effect, _, reasons = _assessed(_tgw_read(), item)
    assert effect == "unknown"
    assert any(r.startswith(f"{KIND}.db: prefix_list_id is known only after apply") for r in reasons), reasons


def test_inline_routes_to_a_prefix_list_are_the_tables_routes() -> None:
    """An `aws_route_table` whose inline routes send the database's VPC by prefix list: dropping that route breaks
    the path, keeping it changes nothing, and a list id known only after apply is unknown naming it."""
    from tests.snapshots import by_prefix_list

    snap = by_prefix_list(replace(_tgw_read(), prefix_lists={}), DB_BLOCKS)
    assert diagnose(snap).verdict is Verdict.HEALTHY
    table = next(t for t in snap.route_tables if t.id == "rtb-private")
    block = {"cidr_block": "", "ipv6_cidr_block": "", "gateway_id": "", "nat_gateway_id": "", "transit_gateway_id": ""}
    cidr_routes = [
        {**block, "cidr_block": r.destination, "nat_gateway_id": r.target} for r in table.routes if r.target != "local"
    ]
    listed = {**block, "destination_prefix_list_id": "pl-db", "transit_gateway_id": "tgw-1"}
    values = {"id": "rtb-private", "vpc_id": table.vpc_id, "route": [*cidr_routes, listed], "tags": {}}

    def update(after: dict[str, Any]) -> dict[str, Any]:
        return tf.resource_change("aws_route_table.private", "aws_route_table", ["update"], values, after)

    assert _assessed(snap, update({**values, "route": cidr_routes}))[:2] == ("breaks", ["DB_NO_ROUTE"])
    assert _assessed(snap, update({**values, "tags": {"team": "data"}}))[:2] == ("unchanged", [])
    unknown = update({**values, "route": [*cidr_routes, {**listed, "destination_prefix_list_id": None}]})
    unknown["change"]["after_unknown"]["route"] = [{} for _ in cidr_routes] + [{"destination_prefix_list_id": True}]
    effect, _, reasons = _assessed(snap, unknown)
    assert effect == "unknown"
    assert any("a route's destination_prefix_list_id is known only after apply" in r for r in reasons), reasons

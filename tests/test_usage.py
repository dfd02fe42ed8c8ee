"""What a secret's paths use (`resources_used`): the worker's `affects` and `what-if` look at a secret only when a
change touches something in it, so a part of the model missing here is a change that is never looked at."""

from __future__ import annotations

from rotation_doctor.analysis.usage import resources_used
from rotation_doctor.service.batch import affects
from rotation_doctor.service.events import Change
from tests.snapshots import DB_LIST, TARGET, _db_reached_by_list, dual_stack, proxied, through_tgw


def change_to(*ids: str) -> Change:
    return Change("e", "RevokeSecurityGroupIngress", "aws.ec2", frozenset(ids), frozenset())


def test_an_rds_proxys_targets_their_groups_and_subnets_are_used() -> None:
    snap = proxied(TARGET)
    used = resources_used(snap)
    assert {"db", "sg-db", "data-a", "data-b"} <= used
    assert affects(change_to("sg-db"), snap)  # the target's group no longer admitting the proxy breaks rotation


def test_an_ipv6_route_target_is_used() -> None:
    assert "eigw-1" in resources_used(dual_stack())


def test_a_transit_gateways_attachments_and_route_table_are_used() -> None:
    used = resources_used(through_tgw())
    assert {"tgw-1", "tgw-attach-1", "tgw-attach-2", "tgw-rtb-1"} <= used


def test_a_prefix_list_a_used_groups_rule_names_is_used() -> None:
    snap = _db_reached_by_list(prefix_lists={"pl-data": DB_LIST})
    assert "pl-data" in resources_used(snap)
    assert affects(change_to("pl-data"), snap)  # ModifyManagedPrefixList on the list


def test_a_change_names_a_secret_by_its_arn_its_name_or_its_partial_arn_and_nothing_near_them() -> None:
    """CloudTrail's `secretId` is what the caller wrote: a full ARN, the name, or the ARN without its six random
    characters. Those wake the secret; a name or ARN that merely starts the same never does."""
    from tests.snapshots import healthy

    snap = healthy()
    arn, name = snap.secret.arn, snap.secret.name
    partial = arn[: -len("-AbCdEf")]
    assert arn.startswith(partial + "-") and partial.endswith(name)

    def woken(secret_id: str) -> bool:
        return affects(
            Change("e", "PutSecretValue", "aws.secretsmanager", frozenset(), frozenset({("secret", secret_id)})), snap
        )

    assert woken(arn) and woken(name) and woken(partial)
    for near in (arn[:-1], partial[:-1], partial + "-", arn + "x", "arn:aws:secretsmanager", name[:-1], name + "2"):
        assert not woken(near), near


def _moved(event_name: str, request: dict[str, object], response: dict[str, object]) -> Change:
    """A real-shaped CloudTrail record of an association replaced: the call names the association and the new table
    or ACL (its response the new association), never the subnet it moves (EC2 API Reference,
    ReplaceNetworkAclAssociation / ReplaceRouteTableAssociation: the request holds AssociationId and NetworkAclId or
    RouteTableId, the response NewAssociationId)."""
    from rotation_doctor.service.events import parse
    from tests.worker_events import load

    raw = load("replace_network_acl_entry.json")
    raw["detail"] |= {"eventName": event_name, "requestParameters": request, "responseElements": response}
    change = parse(raw)
    assert isinstance(change, Change)
    return change


NEW_ACL, NEW_TABLE = "acl-0a1b2c3d4e5f60009", "rtb-0a1b2c3d4e5f60009"


def test_a_subnet_moved_to_a_network_acl_the_diagnosis_never_read_wakes_its_secrets() -> None:
    from dataclasses import replace

    from rotation_doctor.analysis import diagnose
    from tests.snapshots import acl, allow_all_entries, healthy

    deny_all = acl(NEW_ACL, ())  # no entry but the implicit deny
    before = replace(healthy(), network_acls=(*healthy().network_acls, deny_all))
    others = tuple(s for s in before.subnets if s != "app-a")
    after = replace(
        before, network_acls=(acl("acl-default", others, allow_all_entries(), default=True), acl(NEW_ACL, ("app-a",)))
    )
    seen = diagnose(before)
    assert diagnose(after).to_json() != seen.to_json()  # the move breaks the path from app-a
    change = _moved(
        "ReplaceNetworkAclAssociation",
        {"associationId": "aclassoc-0a1b2c3d4e5f60001", "networkAclId": NEW_ACL},
        {"requestId": "r", "newAssociationId": "aclassoc-0a1b2c3d4e5f60002"},
    )
    assert affects(change, before, seen)


def test_a_subnet_moved_to_a_route_table_the_diagnosis_never_read_wakes_its_secrets() -> None:
    from dataclasses import replace

    from rotation_doctor.analysis import diagnose
    from rotation_doctor.model.snapshot import Route, RouteTable
    from tests.snapshots import VPC, nat_path

    local_only = RouteTable(NEW_TABLE, VPC, False, (), (Route("10.0.0.0/16", "local", "active"),))
    before = replace(nat_path(), route_tables=(*nat_path().route_tables, local_only))
    after = replace(
        before,
        route_tables=tuple(
            replace(t, subnet_ids=tuple(s for s in t.subnet_ids if s != "app-a"))
            if t.id != NEW_TABLE
            else replace(t, subnet_ids=("app-a",))
            for t in before.route_tables
        ),
    )
    seen = diagnose(before)
    assert diagnose(after).to_json() != seen.to_json()  # app-a loses its NAT route
    change = _moved(
        "ReplaceRouteTableAssociation",
        {"associationId": "rtbassoc-0a1b2c3d4e5f60001", "routeTableId": NEW_TABLE},
        {
            "requestId": "r",
            "newAssociationId": "rtbassoc-0a1b2c3d4e5f60002",
            "associationState": {"state": "associated"},
        },
    )
    assert affects(change, before, seen)


def test_a_new_endpoint_whose_group_shuts_the_function_out_wakes_the_secrets_of_its_vpc() -> None:
    """CreateVpcEndpoint names the VPC: an interface endpoint with private DNS takes over Secrets Manager's name there,
    so one whose group admits nothing breaks a path that worked through the NAT gateway. The event's other ids (its
    subnets, group, endpoint and interfaces) are left fictional: the VPC alone must wake the secret."""
    from dataclasses import replace

    from rotation_doctor.analysis import diagnose
    from rotation_doctor.model.snapshot import SecurityGroup, VpcEndpoint
    from rotation_doctor.service.events import parse
    from tests.snapshots import SM_SERVICE, VPC, nat_path, with_group
    from tests.worker_events import load

    before = nat_path()
    closed = VpcEndpoint("vpce-new", VPC, SM_SERVICE, "Interface", "pending", ("app-a",), ("sg-closed",), True, None)
    after = replace(with_group(before, SecurityGroup("sg-closed", VPC, "closed", ())), vpc_endpoints=(closed,))
    seen = diagnose(before)
    assert seen.verdict == "healthy" and diagnose(after).verdict != "healthy"

    # The hand-built snapshot's ids are not AWS-shaped (the parser would pass `vpc-1` over): the event's VPC is put
    # in the change as the snapshot spells it, after parsing.
    created = parse(load("create_vpc_endpoint.json"))
    assert isinstance(created, Change) and not created.affects_all and "vpc-0a1b2c3d4e5f60001" in created.resource_ids
    in_this_vpc = replace(created, resource_ids=(created.resource_ids - {"vpc-0a1b2c3d4e5f60001"}) | {VPC})
    assert affects(in_this_vpc, before, seen)
    assert not affects(created, before, seen)  # the same endpoint in another VPC

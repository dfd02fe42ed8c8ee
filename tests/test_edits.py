"""The one vocabulary of changes to a snapshot (`model.edits`): each edit, a repeat where AWS refuses it or makes it
a no-op, and the ACL entry on a rule number already used, which fix kinds and what-if now model as AWS does."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from remediations import PlanContext
from remediations.add_nacl_entries import AddNaclEntries
from rotation_doctor.analysis import diagnose
from rotation_doctor.model.edits import (
    AddInvokeStatement,
    AddRules,
    AssociateAcl,
    AssociateTable,
    AssociateTgwTable,
    CreateNaclEntry,
    CreateRoute,
    DeleteAcl,
    DeleteEgressOnlyGateway,
    DeleteEndpoint,
    DeleteFunction,
    DeleteRouteTable,
    Edit,
    PutAcl,
    PutEndpoint,
    PutNatGateway,
    PutPeering,
    PutPrefixListCidr,
    PutRouteTable,
    PutSecurityGroup,
    PutTgwPrefixListReference,
    PutTgwRoute,
    RemoveInvokeStatement,
    RemoveNaclEntry,
    RemoveRoute,
    RemoveRules,
    RemoveTgwPrefixListReference,
    RemoveTgwRoute,
    ReplaceNaclEntry,
    ReplaceRoute,
    SetEndpointPrivateDns,
    SetNaclEntries,
    SetPrefixListCidrs,
    SetRoutes,
    SetRules,
    SetVpcDns,
    UpdateDatabase,
    UpdateFunction,
    UpdateTgwAttachment,
    apply,
)
from rotation_doctor.model.findings import Code, Verdict
from rotation_doctor.model.snapshot import (
    DnsAttributes,
    NaclEntry,
    NatGateway,
    NetworkAcl,
    PeeringConnection,
    PrefixList,
    Route,
    RouteTable,
    SecurityGroup,
    Snapshot,
    TransitGatewayRoute,
    VpcEndpoint,
)
from rotation_doctor.whatif.changeset import parse_change_set
from rotation_doctor.whatif.report import assess
from rotation_doctor.whatif.terraform import parse_plan
from tests import whatif_plans as tf
from tests.snapshots import (
    FN_ARN,
    INVOKE_POLICY,
    SECRET_ARN,
    VPC,
    acl,
    allow_all_entries,
    healthy,
    rule,
    through_tgw,
)

DENY_ALL_IN = NaclEntry(100, False, False, "-1", "0.0.0.0/0", None, None)


def acl_entries(snap: Snapshot, acl_id: str = "acl-default") -> set[NaclEntry]:
    return {e for a in snap.network_acls if a.id == acl_id for e in a.entries}


def table_routes(snap: Snapshot, table_id: str) -> set[Route]:
    return {r for t in snap.route_tables if t.id == table_id for r in (*t.routes, *t.ipv6_routes)}


# ----- network ACL entries: the same rule number ----------------------------------------------------


def test_create_on_a_rule_number_in_use_is_refused_and_replace_replaces() -> None:
    """AWS: CreateNetworkAclEntry on a number its direction uses fails (NetworkAclEntryAlreadyExists);
    ReplaceNetworkAclEntry replaces it. The fix kind appended and what-if replaced; both now do what AWS does."""
    snap = healthy()
    before = acl_entries(snap)

    refused = apply(snap, [CreateNaclEntry("acl-default", DENY_ALL_IN)])
    assert acl_entries(refused) == before
    assert diagnose(refused).verdict is Verdict.HEALTHY

    replaced = apply(snap, [ReplaceNaclEntry("acl-default", DENY_ALL_IN)])
    assert DENY_ALL_IN in acl_entries(replaced) and NaclEntry(100, False, True, "-1", "0.0.0.0/0", None, None) not in (
        acl_entries(replaced)
    )
    assert diagnose(replaced).verdict is Verdict.BROKEN


def test_acl_rule_numbers_are_per_direction_and_shared_by_both_families() -> None:
    snap = healthy()
    v6_in = NaclEntry(100, False, True, "-1", "::/0", None, None)
    assert acl_entries(apply(snap, [CreateNaclEntry("acl-default", v6_in)])) == acl_entries(snap)
    free = NaclEntry(101, False, True, "-1", "::/0", None, None)
    assert acl_entries(apply(snap, [CreateNaclEntry("acl-default", free)])) == {*acl_entries(snap), free}


def test_acl_entry_repeats_and_missing_entries_change_nothing() -> None:
    snap = healthy()
    entry = NaclEntry(90, True, True, "6", "10.0.11.0/24", 5432, 5432)
    once = apply(snap, [CreateNaclEntry("acl-default", entry)])
    assert apply(once, [CreateNaclEntry("acl-default", replace(entry, allow=False))]) == once  # refused
    assert apply(snap, [ReplaceNaclEntry("acl-default", entry)]) == snap  # InvalidNetworkAclEntry.NotFound
    gone = apply(once, [RemoveNaclEntry("acl-default", 90, True)])
    assert acl_entries(gone) == acl_entries(snap)
    assert apply(gone, [RemoveNaclEntry("acl-default", 90, True)]) == gone
    assert apply(snap, [RemoveNaclEntry("acl-default", 100, True)]) != snap  # the other direction's 100 stays
    assert acl_entries(apply(snap, [RemoveNaclEntry("acl-default", 100, True)])) == {
        NaclEntry(100, False, True, "-1", "0.0.0.0/0", None, None)
    }


def test_the_nacl_fix_kind_never_plans_a_create_on_a_number_in_use() -> None:
    """The planner looks for free numbers below the denying rule: with 49 and 47 taken it takes 48 and 46, and the
    edits it simulates are the entries AWS will hold."""
    data_acl = (
        NaclEntry(50, False, False, "6", "10.0.0.0/16", 5432, 5432),
        NaclEntry(49, False, True, "6", "192.168.0.0/24", 22, 22),
        NaclEntry(47, False, True, "6", "192.168.1.0/24", 22, 22),
        *allow_all_entries(),
    )
    acls = (
        acl("acl-default", ("app-a", "app-b", "public-a"), allow_all_entries(), default=True),
        acl("acl-data", ("data-a", "data-b"), data_acl),
    )
    snap = replace(healthy(), network_acls=acls)
    found = [f for f in diagnose(snap).findings if f.code is Code.DB_NACL_DENIES]
    planned = AddNaclEntries().plan(snap, found, PlanContext(SECRET_ARN, "prod/app"))
    numbers = [s.call.params["RuleNumber"] for p in planned for s in p.fix.steps]
    assert numbers == [48, 46]
    after = snap
    for p in planned:
        after = p.apply_to(after)
    assert acl_entries(after, "acl-data") - acl_entries(snap, "acl-data") == {
        NaclEntry(48, False, True, "6", "10.0.1.0/24", 5432, 5432),
        NaclEntry(46, False, True, "6", "10.0.2.0/24", 5432, 5432),
    }
    assert diagnose(after).verdict is Verdict.HEALTHY


TF_ENTRY = {
    "network_acl_id": "acl-default",
    "rule_number": 100,
    "egress": False,
    "protocol": "-1",
    "rule_action": "deny",
    "cidr_block": "0.0.0.0/0",
    "ipv6_cidr_block": "",
    "from_port": 0,
    "to_port": 0,
}


def _effect_of_plan(*items: dict[str, Any]) -> str:
    report = assess([healthy()], parse_plan(tf.plan(*items), name="plan.json"))
    return str(report.secrets[0].effect) if report.secrets else "untouched"


def test_what_if_maps_a_new_terraform_entry_on_a_number_in_use_to_the_create_aws_refuses() -> None:
    """Terraform's aws_network_acl_rule calls CreateNetworkAclEntry: on rule 100 of acl-default, which allows all,
    AWS refuses the deny and the allow stays (what-if had replaced it and said "breaks")."""
    create = tf.resource_change("aws_network_acl_rule.deny", "aws_network_acl_rule", ["create"], None, TF_ENTRY)
    assert _effect_of_plan(create) == "unchanged"
    # Replaced (the provider deletes the old entry, then creates the new one): the number is free again.
    old = {**TF_ENTRY, "id": "nacl-1", "rule_action": "allow"}
    recreated = tf.resource_change(
        "aws_network_acl_rule.deny", "aws_network_acl_rule", ["delete", "create"], old, TF_ENTRY
    )
    assert _effect_of_plan(recreated) == "breaks"


def test_what_if_maps_a_change_set_entry_modified_in_place_to_replace() -> None:
    """CloudFormation updates an AWS::EC2::NetworkAclEntry in place with ReplaceNetworkAclEntry; a new one on a
    number in use fails as CreateNetworkAclEntry does."""
    entry = {
        "NetworkAclId": "acl-default",
        "RuleNumber": 100,
        "Protocol": -1,
        "RuleAction": "allow",
        "Egress": False,
        "CidrBlock": "0.0.0.0/0",
    }
    denied = {**entry, "RuleAction": "deny"}
    modified = tf.cfn_change(
        "Entry",
        "AWS::EC2::NetworkAclEntry",
        "Modify",
        physical="acl-default|100",
        before=entry,
        after=denied,
        replacement="False",
    )
    added = tf.cfn_change("Entry", "AWS::EC2::NetworkAclEntry", "Add", after=denied)
    for change, effect in ((modified, "breaks"), (added, "unchanged")):
        source = parse_change_set([{"Changes": [change]}], name="cs")
        (secret,) = assess([healthy()], source).secrets
        assert str(secret.effect) == effect


# ----- security group rules -----------------------------------------------------------------------


def test_a_rule_the_group_has_is_a_duplicate_aws_refuses() -> None:
    """AuthorizeSecurityGroup* with a rule the group has (description aside): InvalidPermission.Duplicate."""
    snap = healthy()
    existing = snap.security_groups["sg-db"].rules[0]
    again = apply(snap, [AddRules("sg-db", (replace(existing, description="again"),))])
    assert again.security_groups["sg-db"].rules == snap.security_groups["sg-db"].rules
    new = rule("sg-db", egress=False, port=5432, ref="sg-other")
    twice = apply(snap, [AddRules("sg-db", (new,)), AddRules("sg-db", (new,))])
    assert twice.security_groups["sg-db"].rules == (existing, new)


def test_rules_are_removed_by_everything_but_their_description_and_unknown_groups_are_left_alone() -> None:
    snap = healthy()
    existing = snap.security_groups["sg-db"].rules[0]
    gone = apply(snap, [RemoveRules("sg-db", (replace(existing, description="any"),))])
    assert gone.security_groups["sg-db"].rules == ()
    assert diagnose(gone).verdict is Verdict.BROKEN
    assert apply(snap, [AddRules("sg-unread", (existing,))]) == snap


def test_added_rules_are_gathered_but_keep_their_order_against_other_edits() -> None:
    snap = healthy()
    new = rule("sg-db", egress=False, port=5432, ref="sg-other")
    edits: list[Edit] = [AddRules("sg-db", (new,)), RemoveRules("sg-db", (new,)), AddRules("sg-db", (new,))]
    assert apply(snap, edits).security_groups["sg-db"].rules[-1] == new
    assert apply(snap, edits[:2]) == snap


# ----- routes --------------------------------------------------------------------------------------


def test_create_route_on_a_routed_destination_is_refused_and_replace_route_replaces() -> None:
    snap = healthy()
    to_nat = Route("0.0.0.0/0", "nat-1", "active")
    assert apply(snap, [CreateRoute("rtb-public", to_nat)]) == snap  # RouteAlreadyExists
    assert to_nat in table_routes(apply(snap, [ReplaceRoute("rtb-public", to_nat)]), "rtb-public")
    assert apply(snap, [ReplaceRoute("rtb-private", to_nat)]) == snap  # nothing to replace
    created = apply(snap, [CreateRoute("rtb-private", to_nat)])
    assert to_nat in table_routes(created, "rtb-private")
    v6 = Route("::/0", "eigw-1", "active")  # the families are separate: 0.0.0.0/0 does not hold ::/0
    assert v6 in table_routes(apply(created, [CreateRoute("rtb-private", v6)]), "rtb-private")
    assert apply(created, [RemoveRoute("rtb-private", "0.0.0.0/0")]) == snap


def test_an_ipv6_destination_is_one_however_it_is_spelt() -> None:
    """AWS stores an IPv6 block in its canonical text (lowercase, zeros compressed): a planned CreateRoute to
    `2001:DB8:0::/64` is refused by the table's `2001:db8::/64`, and ReplaceRoute and DeleteRoute spelt so find it.
    A block with host bits set is no block AWS stores: it is compared as written."""
    routed = apply(healthy(), [CreateRoute("rtb-private", Route("2001:db8::/64", "eigw-1", "active"))])
    assert apply(routed, [CreateRoute("rtb-private", Route("2001:DB8:0::/64", "pcx-1", "active"))]) == routed
    replaced = apply(routed, [ReplaceRoute("rtb-private", Route("2001:DB8::/64", "pcx-1", "active"))])
    assert [r.target for t in replaced.route_tables if t.id == "rtb-private" for r in t.ipv6_routes] == ["pcx-1"]
    assert apply(routed, [RemoveRoute("rtb-private", "2001:DB8::/64")]) == healthy()
    assert apply(routed, [RemoveRoute("rtb-private", "2001:db8::1/64")]) == routed


def prefix_list_routes(snap: Snapshot, table_id: str) -> set[Route]:
    return {r for t in snap.route_tables if t.id == table_id for r in t.prefix_list_routes}


def test_a_prefix_list_is_a_destination_of_its_own_created_once_replaced_and_removed() -> None:
    """CreateRoute with a DestinationPrefixListId the table already routes fails with RouteAlreadyExists; ReplaceRoute
    changes its target; a CIDR route beside it (even one of the list's entries) is another destination."""
    snap = healthy()
    by_list = Route("pl-data", "tgw-1", "active")
    created = apply(snap, [CreateRoute("rtb-private", by_list)])
    assert prefix_list_routes(created, "rtb-private") == {by_list}
    assert table_routes(created, "rtb-private") == table_routes(snap, "rtb-private")  # the CIDR routes untouched
    elsewhere = Route("pl-data", "nat-1", "active")
    assert apply(created, [CreateRoute("rtb-private", elsewhere)]) == created  # RouteAlreadyExists
    assert prefix_list_routes(apply(created, [ReplaceRoute("rtb-private", elsewhere)]), "rtb-private") == {elsewhere}
    assert apply(snap, [ReplaceRoute("rtb-private", elsewhere)]) == snap  # no route to the list: nothing to replace
    cidr = Route("10.0.11.0/24", "nat-1", "active")
    assert cidr in table_routes(apply(created, [CreateRoute("rtb-private", cidr)]), "rtb-private")
    assert apply(created, [RemoveRoute("rtb-private", "pl-data")]) == snap
    assert CreateRoute("rtb-private", by_list).touches() == {"rtb-private", "tgw-1", "pl-data"}


def test_inline_routes_replace_prefix_list_routes_but_a_gateway_endpoints_stay() -> None:
    """A gateway endpoint's route to its service's list belongs to the endpoint, never to the table's inline routes."""
    s3 = Route("pl-63a5400a", "vpce-s3", "active")
    mine = Route("pl-data", "tgw-1", "active")
    snap = apply(healthy(), [CreateRoute("rtb-private", s3), CreateRoute("rtb-private", mine)])
    kept = [r for t in snap.route_tables if t.id == "rtb-private" for r in t.routes]
    cleared = apply(snap, [SetRoutes("rtb-private", tuple(kept))])
    assert prefix_list_routes(cleared, "rtb-private") == {s3}
    moved = Route("pl-data", "nat-1", "active")
    assert prefix_list_routes(apply(snap, [SetRoutes("rtb-private", tuple(kept), (), (moved,))]), "rtb-private") == {
        s3,
        moved,
    }


# ----- the function's resource policy ----------------------------------------------------------------


def test_add_permission_with_a_sid_in_use_is_refused() -> None:
    """Lambda's AddPermission with a StatementId the policy holds fails (ResourceConflictException)."""
    snap = healthy()
    (held,) = INVOKE_POLICY.statements
    assert apply(snap, [AddInvokeStatement(FN_ARN, {**held, "Effect": "Deny"})]) == snap
    other = {"Sid": "other", "Effect": "Allow", "Action": "lambda:InvokeFunction"}
    added = apply(snap, [AddInvokeStatement("rotate", other)])
    assert added.function_policy is not None
    assert added.function_policy.statements == (held, {"Resource": FN_ARN, **other})
    removed = apply(snap, [RemoveInvokeStatement(FN_ARN, str(held["Sid"]))])
    assert removed.function_policy is None
    assert diagnose(removed).verdict is Verdict.BROKEN
    assert apply(snap, [AddInvokeStatement("another-function", other)]) == snap


# ----- every other edit: it changes what it names, and only that ------------------------------------

NEW_ACL = NetworkAcl("acl-new", VPC, False, ("data-a",), (DENY_ALL_IN,))
ENDPOINT = VpcEndpoint("vpce-2", VPC, "com.amazonaws.us-east-1.s3", "Gateway", "available", (), (), False, None)
NAT = NatGateway("nat-9", VPC, "public-a", "available")
PCX = PeeringConnection("pcx-9", VPC, "vpc-9", "active")
TABLE = RouteTable("rtb-new", VPC, False, ("app-a",), ())
GROUP = SecurityGroup("sg-new", VPC, "new", ())
TGW_ROUTE = TransitGatewayRoute("10.9.0.0/16", ("tgw-attach-1",), "active")


def _acl(s: Snapshot, acl_id: str) -> NetworkAcl | None:
    return next((a for a in s.network_acls if a.id == acl_id), None)


def _table(s: Snapshot, table_id: str) -> RouteTable | None:
    return next((t for t in s.route_tables if t.id == table_id), None)


CASES: list[tuple[str, Edit, Any, Any]] = [
    ("put-group", PutSecurityGroup(GROUP), lambda s: s.security_groups.get("sg-new"), GROUP),
    ("set-rules", SetRules("sg-db", (), egress=False), lambda s: s.security_groups["sg-db"].rules, ()),
    (
        "set-routes",
        SetRoutes("rtb-public", ()),
        lambda s: _table(s, "rtb-public").routes,
        tuple(r for r in healthy().route_tables[2].routes if r.target == "local"),
    ),
    (
        "eigw-deleted",
        DeleteEgressOnlyGateway("igw-1"),
        lambda s: {r.state for r in _table(s, "rtb-public").routes if r.target == "igw-1"},
        {"blackhole"},
    ),
    ("put-table", PutRouteTable(TABLE), lambda s: _table(s, "rtb-new"), TABLE),
    ("delete-table", DeleteRouteTable("rtb-private"), lambda s: _table(s, "rtb-private"), None),
    (
        "associate-table",
        AssociateTable("app-a", "rtb-public"),
        lambda s: _table(s, "rtb-public").subnet_ids,
        (
            "public-a",
            "app-a",
        ),
    ),
    (
        "set-entries",
        SetNaclEntries("acl-default", (DENY_ALL_IN,)),
        lambda s: _acl(s, "acl-default").entries,
        (DENY_ALL_IN,),
    ),
    ("put-acl", PutAcl(NEW_ACL), lambda s: "data-a" in _acl(s, "acl-default").subnet_ids, False),
    ("delete-acl", DeleteAcl("acl-new"), lambda s: _acl(s, "acl-new"), None),
    ("associate-acl", AssociateAcl("data-a", None), lambda s: "data-a" in _acl(s, "acl-default").subnet_ids, True),
    ("put-endpoint", PutEndpoint(ENDPOINT), lambda s: s.vpc_endpoints[-1], ENDPOINT),
    ("delete-endpoint", DeleteEndpoint("vpce-1"), lambda s: [e.id for e in s.vpc_endpoints], []),
    (
        "private-dns",
        SetEndpointPrivateDns("vpce-1", enabled=False),
        lambda s: s.vpc_endpoints[0].private_dns_enabled,
        False,
    ),
    ("put-nat", PutNatGateway(NAT), lambda s: s.nat_gateways.get("nat-9"), NAT),
    ("put-peering", PutPeering(PCX), lambda s: s.peerings.get("pcx-9"), PCX),
    (
        "vpc-dns",
        SetVpcDns(VPC, DnsAttributes(False, False)),
        lambda s: s.dns_attributes[VPC],
        DnsAttributes(False, False),
    ),
    ("function", UpdateFunction("rotate", group_ids=("sg-db",)), lambda s: s.function.security_group_ids, ("sg-db",)),
    ("function-out", UpdateFunction(FN_ARN, subnet_ids=()), lambda s: s.function.vpc_id, None),
    (
        "function-moved",
        UpdateFunction(FN_ARN, subnet_ids=("x-1",), vpc_id="vpc-9"),
        lambda s: s.function.vpc_id,
        "vpc-9",
    ),
    ("function-gone", DeleteFunction("rotate"), lambda s: (s.function, s.function_policy), (None, None)),
    ("database", UpdateDatabase("db", port=3306), lambda s: s.database.port, 3306),
    ("other-database", UpdateDatabase("other", port=3306), lambda s: s.database.port, 5432),
]


@pytest.mark.parametrize(("edit", "read", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_edit_changes_what_it_names(edit: Edit, read: Any, expected: Any) -> None:
    snap = apply(healthy(), [PutAcl(NEW_ACL)]) if isinstance(edit, DeleteAcl) else healthy()
    after = apply(snap, [edit])
    assert read(after) == expected
    assert apply(after, [edit]) == after  # a repeat changes nothing more
    assert edit.touches()


def test_prefix_list_and_transit_gateway_edits() -> None:
    snap = replace(through_tgw(), prefix_lists={"pl-1": PrefixList("pl-1", "mine", "IPv4", ("10.0.0.0/16",))})
    assert apply(snap, [SetPrefixListCidrs("pl-1", ())]).prefix_lists["pl-1"].cidrs == ()
    added = apply(snap, [PutPrefixListCidr("pl-1", "10.9.0.0/16", present=True)])
    assert added.prefix_lists["pl-1"].cidrs == ("10.0.0.0/16", "10.9.0.0/16")
    assert apply(added, [PutPrefixListCidr("pl-1", "10.9.0.0/16", present=False)]) == snap
    assert apply(snap, [SetPrefixListCidrs("pl-unread", ())]) == snap

    routed = apply(snap, [PutTgwRoute("tgw-rtb-1", TGW_ROUTE)])
    assert TGW_ROUTE in routed.tgw_route_tables["tgw-rtb-1"].routes
    assert apply(routed, [RemoveTgwRoute("tgw-rtb-1", "10.9.0.0/16")]) == snap
    # A static route removed leaves the propagated one to the same block.
    propagated = apply(snap, [RemoveTgwRoute("tgw-rtb-1", "10.0.0.0/16")])
    assert propagated == snap
    unassociated = apply(snap, [AssociateTgwTable("tgw-attach-2", None)])
    assert unassociated.tgw_attachments["tgw-attach-2"].route_table_id is None
    assert diagnose(unassociated).verdict is not Verdict.HEALTHY
    deleted = apply(snap, [UpdateTgwAttachment("tgw-attach-2", state="deleted")])
    assert deleted.tgw_attachments["tgw-attach-2"].state == "deleted"


def test_a_prefix_list_entry_and_a_transit_gateway_route_are_found_however_their_ipv6_block_is_spelt() -> None:
    snap = replace(through_tgw(), prefix_lists={"pl-1": PrefixList("pl-1", "mine", "IPv6", ("2001:db8::/64",))})
    assert apply(snap, [PutPrefixListCidr("pl-1", "2001:DB8::/64", present=False)]).prefix_lists["pl-1"].cidrs == ()
    v6 = TransitGatewayRoute("2001:db8::/64", ("tgw-attach-2",), "active")
    routed = apply(snap, [PutTgwRoute("tgw-rtb-1", v6)])
    assert apply(routed, [RemoveTgwRoute("tgw-rtb-1", "2001:DB8::/64")]) == snap


def test_a_transit_gateway_table_references_a_list_once() -> None:
    """Modify and Delete name a reference by its table and list alone: a second Create is refused, Modify changes
    the one there, Delete removes it; a static route to one of the list's entries is another route."""
    snap = through_tgw()
    to_db = TransitGatewayRoute("", ("tgw-attach-2",), "active", prefix_list_id="pl-db")
    dropped = TransitGatewayRoute("", (), "blackhole", prefix_list_id="pl-db")
    created = apply(snap, [PutTgwPrefixListReference("tgw-rtb-1", "pl-db", ("tgw-attach-2",))])
    assert to_db in created.tgw_route_tables["tgw-rtb-1"].routes
    assert apply(created, [PutTgwPrefixListReference("tgw-rtb-1", "pl-db", ())]) == created  # already referenced
    modified = apply(created, [PutTgwPrefixListReference("tgw-rtb-1", "pl-db", (), exists=True)])
    assert dropped in modified.tgw_route_tables["tgw-rtb-1"].routes
    assert to_db not in modified.tgw_route_tables["tgw-rtb-1"].routes
    assert apply(snap, [PutTgwPrefixListReference("tgw-rtb-1", "pl-db", (), exists=True)]) == snap  # none to modify
    assert apply(created, [RemoveTgwPrefixListReference("tgw-rtb-1", "pl-db")]) == snap
    assert apply(created, [RemoveTgwRoute("tgw-rtb-1", "")]) == created  # a reference is no static route


# ----- what-if's one dispatch table -----------------------------------------------------------------


def test_what_if_reads_each_type_through_the_one_table() -> None:
    """Each Terraform and CloudFormation type names one kind, and each reader looks its types up in that table:
    a type of either format that no kind names is read as not modelled (its secrets unknown) or ignored."""
    from rotation_doctor.whatif import changeset, terraform
    from rotation_doctor.whatif.mapping import CLOUDFORMATION_HANDLERS, KINDS, TERRAFORM_HANDLERS

    types = [t for k in KINDS for t in (*k.terraform, *k.cloudformation)]
    assert len(types) == len(set(types))
    assert set(TERRAFORM_HANDLERS) <= terraform.RELEVANT_TYPES
    assert all(changeset._relevant(t) for t in CLOUDFORMATION_HANDLERS)
    # The same change in both formats is the same edit: a rule removed from the database's group.
    rule_tf = {"security_group_id": "sg-db", "type": "ingress", "protocol": "tcp", "from_port": 5432}
    rule_tf |= {"to_port": 5432, "source_security_group_id": "sg-fn", "id": "sgrule-1"}
    plan = parse_plan(
        tf.plan(tf.resource_change("aws_security_group_rule.db", "aws_security_group_rule", ["delete"], rule_tf, None)),
        name="plan.json",
    )
    rule_cfn = {"GroupId": "sg-db", "IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432}
    rule_cfn |= {"SourceSecurityGroupId": "sg-fn"}
    change_set = parse_change_set(
        [
            {
                "Changes": [
                    tf.cfn_change("Db", "AWS::EC2::SecurityGroupIngress", "Remove", physical="sgr-1", before=rule_cfn)
                ]
            }
        ],
        name="cs",
    )
    assert (
        plan.changes[0].edits
        == change_set.changes[0].edits
        == (RemoveRules("sg-db", healthy().security_groups["sg-db"].rules),)
    )

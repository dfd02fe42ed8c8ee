"""A Terraform plan (`terraform show -json PLAN`) read into `Change`s. Pure: the JSON in, the changes out.

Each `resource_changes[]` item has the resource's `type`, `address` and `change` (`actions`, `before`, `after`,
`after_unknown`). `after_unknown` mirrors `after` with `true` where a value is known only after apply (the id of
anything created, a reference to it): where such a value decides a path, the change is `NotEvaluated`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from rotation_doctor.model.snapshot import (
    NetworkAcl,
    Route,
)
from rotation_doctor.whatif import mapping
from rotation_doctor.whatif.changes import (
    FINAL_DENY,
    Action,
    AssociateAcl,
    BadPlan,
    Change,
    DeleteAcl,
    DeleteRouteTable,
    Edit,
    Handling,
    PutAcl,
    PutPrefixListCidr,
    SetNaclEntries,
    SetRoutes,
    SetRules,
    Source,
    UpdateTgwAttachment,
    nacl_entry,
    new_id,
    sg_rules,
    unsupported,
)
from rotation_doctor.whatif.mapping import Resource, strings, target

_ACTIONS: dict[tuple[str, ...], Action | None] = {
    ("create",): Action.CREATE,
    ("update",): Action.UPDATE,
    ("delete",): Action.DELETE,
    ("delete", "create"): Action.REPLACE,
    ("create", "delete"): Action.REPLACE,
    ("no-op",): None,
    ("read",): None,
    ("forget",): None,  # removed from the state, left in the account
}

_ID = re.compile(r"^(sg|subnet|vpc|rtb|acl|vpce|nat|pcx|igw|eigw|tgw|tgw-attach|tgw-rtb|eni|vgw|pl)-[0-9a-f]{8,17}$")
_ARN = re.compile(r"^arn:aws[a-z-]*:(lambda|secretsmanager|rds):")
_NAME_KEYS = ("function_name", "identifier", "cluster_identifier", "db_instance_identifier", "secret_id")


@dataclass(frozen=True)
class _Resource(Resource):
    unknown: Mapping[str, Any]

    later: ClassVar[str] = "apply"
    document: ClassVar[str] = "plan"

    def unknown_key(self, key: str) -> bool:
        return _has_true(self.unknown.get(key))

    def unknown_in(self, block: str, *keys: str) -> bool:
        """Whether any of `keys` of a nested block is known only after apply (a computed neighbour, such as
        vpc_config's vpc_id, does not count)."""
        value = self.unknown.get(block)
        if value is True:
            return True
        return isinstance(value, list) and any(
            isinstance(item, Mapping) and any(_has_true(item.get(k)) for k in keys) for item in value
        )

    def block(self, name: str) -> Mapping[str, Any]:
        return _one(self.after.get(name))

    def flag(self, value: Any) -> bool:
        return bool(value)

    @property
    def id(self) -> str:
        return str(self.before.get("id") or new_id(self.address))

    @property
    def existing_id(self) -> str | None:
        return self.before.get("id")

    @property
    def named_id(self) -> str | None:
        return self.id

    def known_ids(self, ids: Iterable[object]) -> frozenset[str]:
        return frozenset(str(i) for i in ids if i) or frozenset(_ids_in(self.before, self.after))

    def peering_status(self) -> str:
        a = self.after
        return "active" if a.get("auto_accept") or a.get("accept_status") == "active" else "pending-acceptance"


def _has_true(value: Any) -> bool:
    if value is True:
        return True
    if isinstance(value, Mapping):
        return any(_has_true(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_true(v) for v in value)
    return False


def _ids_in(*values: Any) -> set[str]:
    """AWS ids and ARNs anywhere in the values, and the names that identify functions, databases and secrets."""
    found: set[str] = set()

    def walk(value: Any, key: str = "") -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(v, str(k))
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif isinstance(value, str) and (_ID.match(value) or _ARN.match(value) or key in _NAME_KEYS):
            found.add(value)

    for v in values:
        walk(v)
    return found


def _one(value: Any) -> Mapping[str, Any]:
    """A nested block Terraform writes as a list of at most one."""
    return value[0] if isinstance(value, list) and value and isinstance(value[0], Mapping) else {}


# ----- security groups ---------------------------------------------------------------------------


def _inline_rules(group_id: str, blocks: Iterable[Mapping[str, Any]], *, egress: bool) -> list[Any]:
    rules: list[Any] = []
    for b in blocks or ():
        groups = strings(b.get("security_groups")) + ([group_id] if b.get("self") else [])
        rules += sg_rules(
            group_id,
            egress=egress,
            protocol=b.get("protocol", "-1"),
            from_port=b.get("from_port"),
            to_port=b.get("to_port"),
            cidrs=strings(b.get("cidr_blocks")) + strings(b.get("ipv6_cidr_blocks")),
            groups=groups,
            prefix_lists=strings(b.get("prefix_list_ids")),
            description=b.get("description") or None,
        )
    return rules


def _security_group(r: _Resource) -> Change:
    whole = mapping.security_group_whole(r, "ingress", "egress")
    if whole is not None:
        return whole
    return r.change(
        SetRules(r.id, tuple(_inline_rules(r.id, r.after.get("ingress") or (), egress=False)), egress=False),
        SetRules(r.id, tuple(_inline_rules(r.id, r.after.get("egress") or (), egress=True)), egress=True),
    )


def _rule_resource(r: Resource, values: Mapping[str, Any]) -> tuple[str, tuple[Any, ...]]:
    """(group id, rules) of an aws_security_group_rule or an aws_vpc_security_group_{ingress,egress}_rule."""
    group, kind = str(values.get("security_group_id") or ""), r.type
    if kind == "aws_security_group_rule":
        egress = values.get("type") == "egress"
        peer = values.get("source_security_group_id") or (group if values.get("self") else None)
        return group, sg_rules(
            group,
            egress=egress,
            protocol=values.get("protocol", "-1"),
            from_port=values.get("from_port"),
            to_port=values.get("to_port"),
            cidrs=strings(values.get("cidr_blocks")) + strings(values.get("ipv6_cidr_blocks")),
            groups=[peer] if peer else [],
            prefix_lists=strings(values.get("prefix_list_ids")),
            description=values.get("description") or None,
        )
    return group, sg_rules(
        group,
        egress=kind.endswith("_egress_rule"),
        protocol=values.get("ip_protocol", "-1"),
        from_port=values.get("from_port"),
        to_port=values.get("to_port"),
        cidrs=strings([values.get("cidr_ipv4"), values.get("cidr_ipv6")]),
        groups=strings([values.get("referenced_security_group_id")]),
        prefix_lists=strings([values.get("prefix_list_id")]),
        description=values.get("description") or None,
    )


_security_group_rule = mapping.standalone_rule(
    _rule_resource,
    group="security_group_id",
    rule=(
        *("cidr_blocks", "ipv6_cidr_blocks", "cidr_ipv4", "cidr_ipv6", "prefix_list_ids", "prefix_list_id"),
        *("from_port", "to_port", "protocol", "ip_protocol"),
    ),
    peer=("source_security_group_id", "referenced_security_group_id"),
)


# ----- routes ------------------------------------------------------------------------------------


def _inline_routes(r: _Resource, blocks: Iterable[Mapping[str, Any]], key: str) -> tuple[Route, ...]:
    return tuple(Route(str(b[key]), target(r, b) or "unknown", "active") for b in blocks or () if b.get(key))


def _route_table(r: _Resource) -> Change:
    if r.action is Action.CREATE:
        return r.change(note="a new table: no subnet uses it until it is associated")
    if r.action is Action.DELETE:
        return r.change(DeleteRouteTable(r.id))
    if r.unknown_at("route"):
        return r.not_evaluated("its routes are known only after apply", r.id)
    blocks = r.after.get("route") or ()
    if any(b.get("destination_prefix_list_id") for b in blocks):
        return r.not_evaluated("a prefix-list route: the model holds no such route", r.id)
    return r.change(
        SetRoutes(r.id, _inline_routes(r, blocks, "cidr_block"), _inline_routes(r, blocks, "ipv6_cidr_block"))
    )


# ----- network ACLs ------------------------------------------------------------------------------


def _inline_entries(values: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(
        nacl_entry(
            rule_number=b["rule_no"],
            egress=egress,
            allow=b.get("action") == "allow",
            protocol=b.get("protocol", "-1"),
            cidr=str(b.get("cidr_block") or b["ipv6_cidr_block"]),
            from_port=b.get("from_port"),
            to_port=b.get("to_port"),
        )
        for egress, key in ((False, "ingress"), (True, "egress"))
        for b in values.get(key) or ()
        if b.get("cidr_block") or b.get("ipv6_cidr_block")
    )


def _network_acl(r: _Resource) -> Change:
    acl_id = str(r.before.get("id") or r.after.get("default_network_acl_id") or new_id(r.address))
    if r.action is Action.DELETE:
        return r.change(DeleteAcl(acl_id))
    if r.unknown_at("ingress", "egress", "subnet_ids"):
        return r.not_evaluated(
            "its entries or subnets are known only after apply", acl_id, *strings(r.after.get("subnet_ids"))
        )
    entries = _inline_entries(r.after)
    after_subnets = strings(r.after.get("subnet_ids"))
    if r.action in (Action.CREATE, Action.REPLACE):
        if not after_subnets:
            return r.change(note="a new ACL: no subnet uses it until it is associated")
        acl = NetworkAcl(
            new_id(r.address), str(r.after.get("vpc_id")), False, tuple(after_subnets), (*FINAL_DENY, *entries)
        )
        return r.change(*([DeleteAcl(acl_id)] if r.action is Action.REPLACE else []), PutAcl(acl))
    edits: list[Edit] = [SetNaclEntries(acl_id, entries)]
    before_subnets = strings(r.before.get("subnet_ids"))
    edits += [AssociateAcl(s, acl_id) for s in after_subnets if s not in before_subnets]
    edits += [AssociateAcl(s, None) for s in before_subnets if s not in after_subnets]
    return r.change(*edits)


def _ports(values: Mapping[str, Any]) -> tuple[Any, Any]:
    return values.get("from_port"), values.get("to_port")


# ----- managed prefix lists and transit gateways ---------------------------------------------------


def _prefix_list_entry(r: _Resource) -> Change:
    edits: list[Edit] = []
    if r.action is not Action.CREATE:
        edits.append(PutPrefixListCidr(str(r.before["prefix_list_id"]), str(r.before["cidr"]), present=False))
    if r.action is not Action.DELETE:
        if r.unknown_at("prefix_list_id"):
            return r.change(*edits, note="the entry is in a list this plan creates")
        if r.unknown_at("cidr"):
            return r.not_evaluated("the entry is known only after apply", r.after.get("prefix_list_id"))
        edits.append(PutPrefixListCidr(str(r.after["prefix_list_id"]), str(r.after["cidr"]), present=True))
    return r.change(*edits)


_TGW_ROUTING = ("transit_gateway_default_route_table_association", "transit_gateway_default_route_table_propagation")


def _tgw_vpc_attachment(r: _Resource) -> Change:
    if r.action is Action.DELETE:
        return r.change(UpdateTgwAttachment(r.id, state="deleted"), note="the attachment is deleted")
    if r.action is not Action.UPDATE:
        # A new attachment may join the default table and propagate its VPC's routes: routes no one can name yet.
        return r.not_evaluated("a new attachment's routes and association are known only after apply")
    if r.unknown_at("subnet_ids", "appliance_mode_support", *_TGW_ROUTING) or any(
        r.before.get(k) != r.after.get(k) for k in _TGW_ROUTING
    ):
        return r.not_evaluated("its subnets, association or propagation change in ways the model does not follow", r.id)
    return r.change(
        UpdateTgwAttachment(
            r.id,
            subnet_ids=tuple(strings(r.after.get("subnet_ids"))),
            appliance_mode=r.after.get("appliance_mode_support") == "enable",
        )
    )


HANDLERS: dict[str, Callable[[_Resource], Change]] = {
    "aws_security_group": _security_group,
    "aws_default_security_group": _security_group,
    "aws_security_group_rule": _security_group_rule,
    "aws_vpc_security_group_ingress_rule": _security_group_rule,
    "aws_vpc_security_group_egress_rule": _security_group_rule,
    "aws_route": mapping.route,
    "aws_route_table": _route_table,
    "aws_default_route_table": _route_table,
    "aws_route_table_association": mapping.association(acl=False),
    "aws_network_acl": _network_acl,
    "aws_default_network_acl": _network_acl,
    "aws_network_acl_rule": mapping.acl_entry(_ports, port_fields=("from_port", "to_port")),
    "aws_network_acl_association": mapping.association(acl=True),
    "aws_vpc_endpoint": mapping.vpc_endpoint,
    "aws_nat_gateway": mapping.nat_gateway,
    "aws_vpc_peering_connection": mapping.peering,
    "aws_egress_only_internet_gateway": mapping.egress_only_gateway(replaced=None),
    "aws_ec2_managed_prefix_list": mapping.prefix_list,
    "aws_ec2_managed_prefix_list_entry": _prefix_list_entry,
    "aws_ec2_transit_gateway_route": mapping.tgw_route,
    "aws_ec2_transit_gateway_route_table_association": mapping.tgw_association,
    "aws_ec2_transit_gateway_vpc_attachment": _tgw_vpc_attachment,
    "aws_vpc": mapping.vpc,
    "aws_default_vpc": mapping.vpc,
    "aws_subnet": mapping.subnet,
    "aws_lambda_function": mapping.lambda_function,
    "aws_lambda_permission": mapping.lambda_permission,
    "aws_db_instance": mapping.database(groups="vpc_security_group_ids", name="identifier"),
    "aws_rds_cluster": mapping.database(groups="vpc_security_group_ids", name="cluster_identifier"),
}


def parse_plan(text: str, *, name: str) -> Source:
    """The changes of a plan's JSON; BadPlan when it is no such JSON."""
    try:
        plan = json.loads(text)
    except ValueError as exc:
        raise BadPlan(f"{name} is not JSON: {exc}") from exc
    except RecursionError as exc:  # nested deeper than the parser goes: no plan Terraform writes
        raise BadPlan(f"{name} is nested too deeply to be a plan") from exc
    if not isinstance(plan, Mapping) or "format_version" not in plan or "terraform_version" not in plan:
        raise BadPlan(f"{name} is not the JSON of `terraform show -json PLAN` (no format_version/terraform_version)")
    items = plan.get("resource_changes") or []
    if not isinstance(items, list):
        raise BadPlan(f"{name}: resource_changes is not a list")
    changes = []
    for item in items:
        try:
            change = _read_item(item)
        except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
            address = str(item.get("address", "?"))[:200] if isinstance(item, Mapping) else "?"
            raise BadPlan(f"{name}: {address} cannot be read ({type(exc).__name__})") from exc
        if change is not None:
            changes.append(change)
    return Source("terraform-plan", name, tuple(changes))


def _read_item(item: Mapping[str, Any]) -> Change | None:
    if item.get("mode", "managed") != "managed":
        return None  # data sources are read, never changed
    change = item["change"]
    action = _ACTIONS.get(tuple(change["actions"]))
    if action is None:
        return None
    if action is Action.DELETE and str(item["type"]).startswith("aws_default_"):
        # Destroying a default VPC, group, table or ACL only makes Terraform forget it: AWS keeps it as it is.
        return Change(str(item["address"]), str(item["type"]), action, (), Handling.NO_EFFECT, "Terraform forgets it")
    resource = _Resource(
        address=str(item["address"]),
        type=str(item["type"]),
        action=action,
        before=change.get("before") or {},
        after=change.get("after") or {},
        unknown=change.get("after_unknown") or {},
    )
    handler = HANDLERS.get(resource.type)
    if handler is None:
        return unsupported(
            resource.address, resource.type, action, _ids_in(resource.before, resource.after), resource.before.get("id")
        )
    return resource.read(handler)

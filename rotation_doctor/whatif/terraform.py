"""A Terraform plan (`terraform show -json PLAN`) read into `Change`s. Pure: the JSON in, the changes out.

Each `resource_changes[]` item has the resource's `type`, `address` and `change` (`actions`, `before`, `after`,
`after_unknown`). `after_unknown` mirrors `after` with `true` where a value is known only after apply (the id of
anything created, a reference to it): where such a value decides a path, the change is `NotEvaluated`.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rotation_doctor.model.edits import (
    AssociateAcl,
    DeleteAcl,
    DeleteRouteTable,
    Edit,
    PutAcl,
    PutSecurityGroup,
    SetNaclEntries,
    SetRoutes,
    SetRules,
    UpdateTgwAttachment,
)
from rotation_doctor.model.snapshot import (
    NetworkAcl,
    Route,
    SecurityGroup,
    SecurityGroupRule,
)
from rotation_doctor.whatif import mapping
from rotation_doctor.whatif.changes import (
    EVERYTHING,
    FINAL_DENY,
    Action,
    BadPlan,
    Change,
    Handling,
    NotEvaluated,
    Source,
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
# Names that identify an existing function, database, secret or hosted zone (a zone's id, "Z...", is no EC2 id).
_NAME_KEYS = ("function_name", "identifier", "cluster_identifier", "db_instance_identifier", "secret_id", "zone_id")


@dataclass(frozen=True)
class _Resource(Resource):
    unknown: Mapping[str, Any]
    # Whether a value known only after apply can only name what this plan creates or replaces: true unless the plan
    # reads, at apply, a data source that may return the id of something that exists (`_Plan.deferred`).
    unknowns_are_new: bool = True
    deferred: tuple[str, ...] = ()

    later: ClassVar[str] = "apply"
    document: ClassVar[str] = "plan"
    TYPE_FIELDS: ClassVar[Mapping[str, Mapping[str, str | None]]] = {
        "aws_rds_cluster": {"identifier": "cluster_identifier"}
    }
    RULE_FIELDS: ClassVar[tuple[str, ...]] = (
        *("cidr_blocks", "ipv6_cidr_blocks", "cidr_ipv4", "cidr_ipv6", "prefix_list_ids", "prefix_list_id"),
        *("from_port", "to_port", "protocol", "ip_protocol"),
    )
    RULE_PEER_FIELDS: ClassVar[tuple[str, ...]] = ("source_security_group_id", "referenced_security_group_id")
    ACL_PORT_FIELDS: ClassVar[tuple[str, ...]] = ("from_port", "to_port")
    # Terraform replaces a gateway by deleting it (the routes naming it are replaced with it, and judged).
    GATEWAY_REPLACED: ClassVar[str | None] = None

    def not_evaluated(self, reason: str, *ids: object) -> Change:
        """A create whose unknown values can only name resources this plan creates touches nothing that exists
        today: unless it also names, by a known id, something that exists (the table a new route goes in, the
        subnet a new association re-points), it has no effect on any path. The ids a handler passes are the ones
        that join the change to a path; a handler that passes none leaves it to the known ids of its values."""
        unknown = self.unknown_fields()
        if unknown and f"after {self.later}" in reason:
            reason = f"{reason} ({', '.join(unknown)} unknown until apply)"
        if self.deferred and f"after {self.later}" in reason:
            reason = (
                f"{reason}; the plan reads {', '.join(self.deferred[:3])} only at apply, which may name what exists"
            )
        new_only = self.action is Action.CREATE and self.unknowns_are_new
        touched = frozenset(str(i) for i in ids if i) if new_only and ids else self.known_ids(ids)
        if new_only and not touched and (ids or not _known_references(self.after)):
            note = f"{reason}: those values name only resources this plan creates, which no path uses yet"
            return Change(self.address, self.type, self.action, (), Handling.NO_EFFECT, note, None)
        return Change(
            self.address,
            self.type,
            self.action,
            (NotEvaluated(touched, reason),),
            Handling.NOT_EVALUATED,
            reason,
            self.named_id,
        )

    def unknown_fields(self) -> list[str]:
        """The fields naming other resources (`*_id`, `*_ids`, `*_arn`, and inside blocks) known only after apply."""
        found = []
        for key, flag in self.unknown.items():
            if key == "id":
                continue
            if flag is True and _names_resources(key):
                found.append(key)
            elif isinstance(flag, list):
                subs = {k for block in flag if isinstance(block, Mapping) for k, v in block.items() if v is True}
                found += [f"{key}.{k}" for k in sorted(subs) if _names_resources(k)]
        return found

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

    def security_group(self) -> Change:
        return _security_group(self)

    def rule(self, values: Mapping[str, Any]) -> tuple[str, tuple[SecurityGroupRule, ...]]:
        return _rule_resource(self, values)

    def acl_ports(self, values: Mapping[str, Any]) -> tuple[object, object]:
        return values.get("from_port"), values.get("to_port")

    def route_table(self) -> Change:
        return _route_table(self)

    def network_acl(self) -> Change:
        return _network_acl(self)

    def tgw_attachment(self) -> Change:
        return _tgw_vpc_attachment(self)


def _names_resources(field_name: str) -> bool:
    return field_name.endswith(("_id", "_ids", "_arn", "_arns")) or field_name in ("security_groups", "subnets")


def _known_references(values: Mapping[str, Any]) -> bool:
    """Whether a field that names other resources (at the top or in a block) holds a known value: a create that
    names something by a value of its own shape (not an AWS id) may still name what exists."""
    for key, value in values.items():
        if _names_resources(key) and key != "id" and value not in (None, "", [], {}):
            return True
        if isinstance(value, list) and any(isinstance(b, Mapping) and _known_references(b) for b in value):
            return True
    return False


def _has_true(value: Any) -> bool:
    # JSON gives dicts and lists: exact type checks, as this runs for every field of every change of a big plan.
    if value is True:
        return True
    if type(value) is dict:
        return any(_has_true(v) for v in value.values())
    if type(value) is list:
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
    if r.action in (Action.CREATE, Action.REPLACE) and not r.unknown_at("ingress", "egress"):
        # The new group, under its stand-in id: a change that points a path at it (its id followed through the
        # plan's references, `_Plan.resolve`) is judged against these rules.
        new = new_id(r.address)
        rules = (
            *_inline_rules(new, r.after.get("ingress") or (), egress=False),
            *_inline_rules(new, r.after.get("egress") or (), egress=True),
        )
        put = PutSecurityGroup(
            SecurityGroup(new, str(r.after.get("vpc_id") or ""), str(r.after.get("name") or ""), rules)
        )
        if r.action is Action.CREATE:
            return r.change(
                put, note="a new group: nothing uses it until a change names it", handling=Handling.NO_EFFECT
            )
        old = NotEvaluated(
            frozenset({r.id}),
            f"the group {r.id} is replaced: what still uses it once the plan is applied cannot be judged",
            while_used=True,
        )
        return r.change(put, old, note="the group is replaced: what the plan points at the new group is judged")
    whole = mapping.security_group_whole(r, "ingress", "egress")
    if whole is not None:
        return whole
    return r.change(
        SetRules(r.id, tuple(_inline_rules(r.id, r.after.get("ingress") or (), egress=False)), egress=False),
        SetRules(r.id, tuple(_inline_rules(r.id, r.after.get("egress") or (), egress=True)), egress=True),
    )


def _rule_resource(r: Resource, values: Mapping[str, Any]) -> tuple[str, tuple[SecurityGroupRule, ...]]:
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


# ----- routes ------------------------------------------------------------------------------------


def _inline_routes(r: _Resource, blocks: Iterable[Mapping[str, Any]], key: str) -> tuple[Route, ...]:
    return tuple(Route(str(b[key]), target(r, b) or "unknown", "active") for b in blocks or () if b.get(key))


def _route_table(r: _Resource) -> Change:
    if r.action is Action.CREATE:
        return r.change(note="a new table: no subnet uses it until it is associated")
    if r.action is Action.DELETE:
        return r.change(DeleteRouteTable(r.id))
    if r.unknown_at("route"):
        listed = r.unknown.get("route") is not True and r.unknown_in("route", "destination_prefix_list_id")
        what = "a route's destination_prefix_list_id is" if listed else "its routes are"
        return r.not_evaluated(f"{what} known only after apply", r.id)
    blocks = r.after.get("route") or ()
    return r.change(
        SetRoutes(
            r.id,
            _inline_routes(r, blocks, "cidr_block"),
            _inline_routes(r, blocks, "ipv6_cidr_block"),
            _inline_routes(r, blocks, "destination_prefix_list_id"),
        )
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


# ----- transit gateways ---------------------------------------------------------------------------


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


# Types that may change a rotation path, by their exact names: one no handler reads is not evaluated (its secrets
# unknown), any other type is ignored. Exact, never a prefix: "aws_route" must not take in "aws_route53_zone".
RELEVANT_TYPES = frozenset(
    {
        *mapping.TERRAFORM_HANDLERS,
        *("aws_vpc_ipv4_cidr_block_association", "aws_vpc_ipv6_cidr_block_association"),
        *("aws_vpc_dhcp_options", "aws_vpc_dhcp_options_association", "aws_default_vpc_dhcp_options"),
        *("aws_default_subnet", "aws_main_route_table_association", "aws_internet_gateway"),
        "aws_internet_gateway_attachment",
        *("aws_vpc_endpoint_subnet_association", "aws_vpc_endpoint_security_group_association"),
        *("aws_vpc_endpoint_route_table_association", "aws_vpc_endpoint_policy", "aws_vpc_endpoint_private_dns"),
        *("aws_vpc_peering_connection_accepter", "aws_vpc_peering_connection_options"),
        *("aws_network_interface", "aws_network_interface_sg_attachment", "aws_network_interface_attachment"),
        *(
            "aws_ec2_transit_gateway",
            "aws_ec2_transit_gateway_route_table",
            "aws_ec2_transit_gateway_vpc_attachment_accepter",
        ),
        *("aws_ec2_transit_gateway_route_table_propagation", "aws_ec2_transit_gateway_peering_attachment"),
        "aws_ec2_transit_gateway_peering_attachment_accepter",
        *("aws_vpn_gateway", "aws_vpn_gateway_attachment", "aws_vpn_gateway_route_propagation"),
        *("aws_vpn_connection", "aws_vpn_connection_route", "aws_ec2_carrier_gateway"),
        *("aws_networkfirewall_firewall", "aws_networkfirewall_firewall_policy", "aws_networkfirewall_rule_group"),
        *("aws_lambda_alias",),
        *("aws_rds_cluster_instance", "aws_rds_cluster_endpoint", "aws_db_subnet_group"),
        *("aws_db_parameter_group", "aws_rds_cluster_parameter_group", "aws_db_option_group"),
        *("aws_db_proxy", "aws_db_proxy_target", "aws_db_proxy_default_target_group", "aws_db_proxy_endpoint"),
        *("aws_docdb_cluster", "aws_docdb_cluster_instance", "aws_docdb_subnet_group"),
        *("aws_redshift_cluster", "aws_redshift_subnet_group", "aws_redshiftserverless_workgroup"),
        *("aws_secretsmanager_secret", "aws_secretsmanager_secret_rotation", "aws_secretsmanager_secret_version"),
        "aws_secretsmanager_secret_policy",
        *("aws_route53_zone", "aws_route53_zone_association", "aws_route53_record"),
        *("aws_route53_resolver_rule", "aws_route53_resolver_rule_association", "aws_route53_resolver_endpoint"),
        *("aws_route53_resolver_firewall_rule_group_association", "aws_route53_resolver_config"),
    }
)

# New resources of kinds that cannot join an existing path without a change to that path (which is then judged):
# whatever they name, creating one has no effect.
_NEW_AND_UNUSED = {
    "aws_internet_gateway": "a new internet gateway: no path uses it until a route names it",
    "aws_internet_gateway_attachment": "an internet gateway attached: no path uses it until a route names it",
    "aws_secretsmanager_secret": "a new secret: it rotates nothing until it is given a value and a rotation",
    "aws_db_parameter_group": "a new parameter group: no database uses it until one names it",
    "aws_rds_cluster_parameter_group": "a new parameter group: no database uses it until one names it",
    "aws_db_option_group": "a new option group: no database uses it until one names it",
    "aws_db_subnet_group": "a new subnet group: no database uses it until one names it",
    "aws_docdb_subnet_group": "a new subnet group: no database uses it until one names it",
    "aws_redshift_subnet_group": "a new subnet group: no database uses it until one names it",
    "aws_vpc_dhcp_options": "new DHCP options: no VPC uses them until they are associated",
    "aws_ec2_transit_gateway": "a new transit gateway: no path uses it until a route names it",
    "aws_ec2_transit_gateway_route_table": "a new transit gateway table: no attachment uses it until associated",
    "aws_networkfirewall_firewall_policy": "a new firewall policy: no firewall uses it until one names it",
    "aws_networkfirewall_rule_group": "a new rule group: no firewall uses it until a policy names it",
}

# Types identified by a name as well as an id (a secret by its name, a DB group by its name).
_NAMED_BY = {
    "aws_secretsmanager_secret": "name",
    "aws_db_subnet_group": "name",
    "aws_db_parameter_group": "name",
    "aws_rds_cluster_parameter_group": "name",
    "aws_db_option_group": "name",
}

# Default resources AWS made and Terraform adopts: "creating" one rewrites what exists.
_ADOPTED = {
    "aws_default_security_group": "the VPC's default group",
    "aws_default_network_acl": "the VPC's default ACL",
    "aws_default_route_table": "the VPC's main route table",
    "aws_default_vpc_dhcp_options": "the region's default DHCP options",
    "aws_default_vpc": "the region's default VPC",
    "aws_default_subnet": "a default subnet",
}

# Data sources whose answer may be the id of something that exists: read at apply (their inputs unknown), they
# make a plan's unknown values possibly name existing resources. Others (a policy document, the caller's
# identity, an AMI) cannot name a path's resource.
_DATA_NAMING_EXISTING = frozenset(
    {
        *("terraform_remote_state", "external", "http", "aws_ssm_parameter", "aws_ssm_parameters_by_path"),
        *("aws_cloudformation_stack", "aws_cloudformation_export"),
        *("aws_vpc", "aws_vpcs", "aws_subnet", "aws_subnets", "aws_subnet_ids", "aws_security_group"),
        *("aws_security_groups", "aws_route_table", "aws_route_tables", "aws_vpc_endpoint", "aws_nat_gateway"),
        *("aws_nat_gateways", "aws_network_acls", "aws_internet_gateway", "aws_lambda_function", "aws_db_instance"),
        *("aws_db_instances", "aws_rds_cluster", "aws_rds_clusters", "aws_secretsmanager_secret"),
        *("aws_secretsmanager_secrets", "aws_ec2_managed_prefix_list", "aws_prefix_list", "aws_network_interface"),
        *("aws_network_interfaces", "aws_vpc_peering_connection", "aws_vpc_peering_connections", "aws_route53_zone"),
        *("aws_ec2_transit_gateway", "aws_ec2_transit_gateway_route_table", "aws_ec2_transit_gateway_vpc_attachment"),
        *("aws_db_proxy", "aws_default_tags"),
    }
)

# The resource types whose new id a reference may stand for (each handler puts the new resource, under its stand-in
# id, into the snapshot after): a field pointing at one is judged, not left unknown.
_STAND_INS = frozenset({"aws_security_group"})
_REFERENCE = re.compile(
    r"^(?P<type>[a-z][a-z0-9_]*)\.(?P<name>[A-Za-z_][A-Za-z0-9_-]*)(?:\[(?P<index>[^\]]*)\])?(?:\.(?P<attr>[A-Za-z0-9_]+))?$"
)
_NOT_RESOURCES = frozenset({"var", "local", "module", "data", "path", "terraform", "self", "count", "each"})
_INSTANCE_KEYS = frozenset({"count.index", "each.key", "each.value"})
_INDEX = re.compile(r"\[[^\]]*\]")

_HOW = "write a plan's JSON with `terraform plan -out=tfplan` and then `terraform show -json tfplan > plan.json`"


@dataclass(frozen=True)
class _Plan:
    """What the whole plan says about where a resource's unknown values come from."""

    # (module instance, type, name) -> (address, index) of each instance the plan creates or replaces
    new: Mapping[tuple[str, str, str], tuple[tuple[str, Any], ...]] = field(default_factory=dict)
    # (module path without instance keys, "type.name") -> the resource's configuration expressions
    expressions: Mapping[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)
    deferred: tuple[str, ...] = ()  # data sources read at apply whose answer may name what exists

    def resolve(self, module: str, expression: Any, *, many: bool) -> list[str] | None:
        """The stand-in ids an unknown field holds when its expression names nothing but the ids of resources
        this plan creates or replaces (`many`: a list of ids); None when it names anything else (a variable, a
        local, a module's output, a data source, another attribute), which stays unknown."""
        refs = expression.get("references") if isinstance(expression, Mapping) else None
        if not isinstance(refs, list) or not refs:
            return None
        targets: dict[tuple[str, str], tuple[set[str], set[str]]] = {}
        for ref in refs:
            if not isinstance(ref, str):
                return None
            if ref in _INSTANCE_KEYS:
                continue
            m = _REFERENCE.match(ref)
            if m is None or m["type"] in _NOT_RESOURCES or m["type"] not in _STAND_INS:
                return None
            indexes, attrs = targets.setdefault((m["type"], m["name"]), (set(), set()))
            if m["index"] is not None:
                indexes.add(m["index"])
            if m["attr"] is not None:
                attrs.add(m["attr"])
        ids: list[str] = []
        for (kind, name), (indexes, attrs) in targets.items():
            instances = self.new.get((module, kind, name), ())
            if attrs != {"id"}:
                return None
            if indexes:
                instances = tuple(i for i in instances if json.dumps(i[1]) in indexes)
            if len(instances) != 1:
                return None
            ids.append(new_id(instances[0][0]))
        if not ids or (not many and len(ids) != 1):
            return None
        return ids

    def settle(
        self, item: Mapping[str, Any], after: Mapping[str, Any], unknown: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """`after` and `after_unknown` with each unknown field (top level, or in a block) that holds only the new ids
        of resources the plan creates put in as their stand-in ids: a group's new id flows to what uses it."""
        after, unknown = dict(after), dict(unknown)
        if not self.new:
            return after, unknown
        module = str(item.get("module_address") or "")
        exprs = self.expressions.get((_INDEX.sub("", module), f"{item.get('type')}.{item.get('name')}"), {})
        for key, flag in list(unknown.items()):
            if flag is True and _names_resources(key):
                value = self.resolve(module, exprs.get(key), many=not key.endswith("_id"))
                if value is not None:
                    after[key], unknown[key] = (value[0] if key.endswith("_id") else value), False
            blocks, block_exprs = after.get(key), exprs.get(key)
            if not (isinstance(flag, list) and isinstance(blocks, list) and isinstance(block_exprs, list)):
                continue
            if not (len(flag) == len(blocks) == len(block_exprs)):
                continue
            new_blocks, new_flags = list(blocks), list(flag)
            for i, (block_flag, block, expr) in enumerate(zip(flag, blocks, block_exprs, strict=True)):
                if not (isinstance(block_flag, Mapping) and isinstance(block, Mapping) and isinstance(expr, Mapping)):
                    continue
                for sub, sub_flag in block_flag.items():
                    if sub_flag is not True or not _names_resources(sub):
                        continue
                    value = self.resolve(module, expr.get(sub), many=not sub.endswith("_id"))
                    if value is not None:
                        new_blocks[i] = {**new_blocks[i], sub: value[0] if sub.endswith("_id") else value}
                        new_flags[i] = {**new_flags[i], sub: False}
            after[key], unknown[key] = new_blocks, new_flags
        return after, unknown


def _plan_context(plan: Mapping[str, Any], items: list[Any]) -> _Plan:
    new: dict[tuple[str, str, str], list[tuple[str, Any]]] = {}
    deferred: list[str] = []
    for item in items:
        if not isinstance(item, Mapping) or not isinstance(item.get("change"), Mapping):
            continue
        actions = tuple(item["change"].get("actions") or ())
        if item.get("mode") == "data":
            if actions == ("read",) and item.get("type") in _DATA_NAMING_EXISTING:
                deferred.append(str(item.get("address"))[:200])
            continue
        if _ACTIONS.get(actions) in (Action.CREATE, Action.REPLACE) and item.get("type") in _STAND_INS:
            key = (str(item.get("module_address") or ""), str(item.get("type")), str(item.get("name")))
            new.setdefault(key, []).append((str(item.get("address")), item.get("index")))
    expressions: dict[tuple[str, str], Mapping[str, Any]] = {}

    def walk(module: Any, path: str, depth: int) -> None:
        if not isinstance(module, Mapping) or depth > 32:
            return
        for resource in module.get("resources") or ():
            if isinstance(resource, Mapping) and resource.get("mode", "managed") == "managed":
                exprs = resource.get("expressions")
                if isinstance(exprs, Mapping):
                    expressions[(path, str(resource.get("address")))] = exprs
        calls = module.get("module_calls")
        for call_name, call in calls.items() if isinstance(calls, Mapping) else ():
            if isinstance(call, Mapping):
                walk(call.get("module"), f"{path}.module.{call_name}" if path else f"module.{call_name}", depth + 1)

    configuration = plan.get("configuration")
    if new and isinstance(configuration, Mapping):
        walk(configuration.get("root_module"), "", 0)
    return _Plan({k: tuple(v) for k, v in new.items()}, expressions, tuple(deferred))


def decode_plan(data: bytes, *, name: str) -> str:
    """A plan file's text: UTF-8, UTF-8 with a BOM, or UTF-16 (what Windows PowerShell's `>` writes, with its BOM;
    without one, told by the zero bytes JSON's ASCII leaves)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif data.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif len(data) >= 2 and data[0] != 0 and data[1] == 0:
        encoding = "utf-16-le"
    elif len(data) >= 2 and data[0] == 0 and data[1] != 0:
        encoding = "utf-16-be"
    else:
        encoding = "utf-8"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise BadPlan(f"{name} is neither UTF-8 nor UTF-16 text ({exc.reason} at byte {exc.start}): {_HOW}") from exc


def _kind_of(document: Any) -> str:
    """What a JSON document that is not a plan is, as far as its keys tell (for the message only)."""
    if not isinstance(document, Mapping):
        return f"a JSON {type(document).__name__}"
    if "Modules" in document:
        return "a module manifest (.terraform/modules/modules.json)"
    if "provider_schemas" in document:
        return "the output of `terraform providers schema -json`"
    if "valid" in document and "diagnostics" in document:
        return "the output of `terraform validate -json`"
    if "values" in document or ("lineage" in document and "resources" in document):
        return "a state (`terraform show -json` without a plan file, or a .tfstate file)"
    return "JSON of another kind"


def parse_plan(text: str, *, name: str) -> Source:
    """The changes of a plan's JSON; BadPlan when it is no such JSON (a state, a manifest, any other JSON)."""
    try:
        plan = json.loads(text)
    except ValueError as exc:
        raise BadPlan(f"{name} is not JSON: {exc}; {_HOW}") from exc
    except RecursionError as exc:  # nested deeper than the parser goes: no plan Terraform writes
        raise BadPlan(f"{name} is nested too deeply to be a plan") from exc
    # A plan has format_version and terraform_version, and planned_values (resource_changes when anything changes);
    # a state from `terraform show -json` has the first two and `values` instead.
    is_plan = (
        isinstance(plan, Mapping)
        and "format_version" in plan
        and "terraform_version" in plan
        and ("planned_values" in plan or "resource_changes" in plan)
    )
    if not is_plan:
        raise BadPlan(f"{name} is not the JSON of `terraform show -json PLAN` ({_kind_of(plan)}): {_HOW}")
    items = plan.get("resource_changes") or []
    if not isinstance(items, list):
        raise BadPlan(f"{name}: resource_changes is not a list")
    context = _plan_context(plan, items)
    changes = []
    for item in items:
        try:
            change = _read_item(item, context)
        except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
            address = str(item.get("address", "?"))[:200] if isinstance(item, Mapping) else "?"
            raise BadPlan(f"{name}: {address} cannot be read ({type(exc).__name__})") from exc
        if change is not None:
            changes.append(change)
    return Source("terraform-plan", name, tuple(changes))


def _read_item(item: Mapping[str, Any], context: _Plan) -> Change | None:
    if item.get("mode", "managed") != "managed":
        return None  # data sources are read, never changed
    change = item["change"]
    action = _ACTIONS.get(tuple(change["actions"]))
    if action is None:
        return None
    address, kind = str(item["address"]), str(item["type"])
    if action is Action.DELETE and kind in _ADOPTED:
        # Destroying a default VPC, group, table or ACL only makes Terraform forget it: AWS keeps it as it is.
        return Change(address, kind, action, (), Handling.NO_EFFECT, "Terraform forgets it")
    after, unknown = context.settle(item, change.get("after") or {}, change.get("after_unknown") or {})
    resource = _Resource(
        address=address,
        type=kind,
        action=action,
        before=change.get("before") or {},
        after=after,
        unknown=unknown,
        unknowns_are_new=not context.deferred,
        deferred=context.deferred,
    )
    if action is Action.CREATE and kind in _NEW_AND_UNUSED:
        return resource.change(note=_NEW_AND_UNUSED[kind])
    public_zone = kind == "aws_route53_zone" and not resource.after.get("vpc") and not resource.unknown_at("vpc")
    if action is Action.CREATE and public_zone:
        return resource.change(note="a public hosted zone: it answers only once its domain is delegated to it")
    if action is Action.CREATE and kind in _ADOPTED:
        what = _ADOPTED[kind]
        reason = f"Terraform adopts {what} and rewrites it to the declared values"
        if kind in ("aws_default_vpc", "aws_default_subnet", "aws_default_vpc_dhcp_options"):
            # What it adopts is named by no id in the plan: it may be what any path uses.
            edit = NotEvaluated(frozenset({EVERYTHING}), reason)
            return Change(address, kind, action, (edit,), Handling.NOT_EVALUATED, reason, None)
        return resource.not_evaluated(reason, *_ids_in(resource.after))
    handler = mapping.TERRAFORM_HANDLERS.get(kind)
    if handler is None:
        relevant = kind in RELEVANT_TYPES
        if not relevant:
            return unsupported(address, kind, action, set(), resource.before.get("id"), relevant=False)
        known = _ids_in(resource.before, resource.after)
        if kind in _NAMED_BY:  # a secret or group named by its name: the one a change names even without its id
            known |= set(strings([resource.before.get(_NAMED_BY[kind]), resource.after.get(_NAMED_BY[kind])]))
        naming = known or _known_references(resource.after)
        if relevant and action is Action.CREATE and not naming and resource.unknowns_are_new:
            return resource.not_evaluated(f"{kind} is not modelled; what it joins is known only after apply", None)
        return unsupported(address, kind, action, known, resource.before.get("id"), relevant=relevant)
    return resource.read(handler)

"""What a planned resource change does, read once for both readers (`terraform`, `changeset`).

A Terraform plan and a CloudFormation change set describe the same AWS resources with different field names
(`subnet_ids`, `SubnetIds`), different spellings of "known only after apply" and different booleans ("true"
text or JSON `true`). Each reader's `Resource` hides those: fields are named here by Terraform's names and the
reader's `FIELDS` table gives its own; `unknown_at`, `flag` and `later` say the rest. `KINDS` is the one dispatch
table: each kind's Terraform types, CloudFormation types and handler. The handlers below serve both formats; where a
kind's shape really differs (Terraform's inline rule, route and entry blocks, CloudFormation's declared-direction
groups), the handler asks the reader's `Resource` (its `security_group`, `rule`, `route_table`, ... methods).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from rotation_doctor.collect import convert
from rotation_doctor.model.edits import (
    AddInvokeStatement,
    AddRules,
    AssociateAcl,
    AssociateTable,
    AssociateTgwTable,
    CreateNaclEntry,
    CreateRoute,
    DeleteEgressOnlyGateway,
    DeleteEndpoint,
    DeleteFunction,
    Edit,
    PutEndpoint,
    PutNatGateway,
    PutPeering,
    PutPrefixListCidr,
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
    SetPrefixListCidrs,
    SetRules,
    SetVpcDns,
    UpdateDatabase,
    UpdateFunction,
    is_ipv6,
)
from rotation_doctor.model.snapshot import (
    DnsAttributes,
    NaclEntry,
    NatGateway,
    PeeringConnection,
    Route,
    SecurityGroupRule,
    TransitGatewayRoute,
    VpcEndpoint,
)
from rotation_doctor.whatif.changes import (
    Action,
    Change,
    Handling,
    NotEvaluated,
    invoke_statement,
    nacl_entry,
    new_id,
    port,
)

ROUTE_TARGETS = (
    "gateway_id",
    "nat_gateway_id",
    "transit_gateway_id",
    "vpc_peering_connection_id",
    "network_interface_id",
    "vpc_endpoint_id",
    "egress_only_gateway_id",
    "local_gateway_id",
    "carrier_gateway_id",
    "core_network_arn",
    "instance_id",
)
ROUTE_CIDRS = ("destination_cidr_block", "destination_ipv6_cidr_block")
ROUTE_DESTINATIONS = (*ROUTE_CIDRS, "destination_prefix_list_id")


class MissingBefore(Exception):
    """A change that removes or replaces a resource without saying what it was."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


@dataclass(frozen=True)
class Resource(ABC):
    """One planned resource change as a reader sees it; fields are asked for by Terraform's names."""

    address: str
    type: str
    action: Action
    before: Mapping[str, Any]
    after: Mapping[str, Any]

    later: ClassVar[str]  # when a value the plan cannot know becomes known: "apply", "the change set runs"
    document: ClassVar[str]  # what the format calls itself: "plan", "change set"
    # Terraform's field name -> this format's (absent: the same, or a name only this format has; None: the
    # format has no such field). Where the formats differ in more than names (a group's rules), the reader passes
    # its own names.
    FIELDS: ClassVar[Mapping[str, str | None]] = {}
    # Where one type of the format names a field otherwise (a DB cluster's groups): type -> FIELDS' exceptions.
    TYPE_FIELDS: ClassVar[Mapping[str, Mapping[str, str | None]]] = {}
    # The fields of a standalone security group rule (this format's names): its ports and CIDRs, the group it admits.
    RULE_FIELDS: ClassVar[tuple[str, ...]]
    RULE_PEER_FIELDS: ClassVar[tuple[str, ...]]
    ACL_PORT_FIELDS: ClassVar[tuple[str, ...]]  # an ACL entry's port range
    # Why an egress-only gateway's replacement is not evaluated (None: the format deletes it, as a deletion does).
    GATEWAY_REPLACED: ClassVar[str | None]

    def key(self, name: str) -> str | None:
        by_type = self.TYPE_FIELDS.get(self.type)
        if by_type is not None and name in by_type:
            return by_type[name]
        return self.FIELDS.get(name, name)

    def now(self, name: str, default: Any = None) -> Any:
        """The field's value after the change."""
        key = self.key(name)
        return self.after.get(key, default) if key is not None else default

    def was(self, name: str, *, required: bool = False) -> Any:
        """The field's value before the change. `required`: a field naming what the change removes or replaces; a
        document without it (no plan Terraform or CloudFormation writes) cannot be mapped (`read` says so)."""
        key = self.key(name)
        value = self.before.get(key) if key is not None else None
        if required and value in (None, ""):
            raise MissingBefore(key or name)
        return value

    def read(self, handler: Callable[[Self], Change]) -> Change:
        """`handler`'s change. A document that leaves out what a removed resource was cannot say what the change
        touches: every secret is then unknown (never a silent "no effect" on a resource named "None")."""
        try:
            return handler(self)
        except MissingBefore as missing:
            reason = f"the {self.document} does not say what its {missing.field} was"
            return Change(
                self.address,
                self.type,
                self.action,
                (NotEvaluated(frozenset(), reason),),
                Handling.NOT_EVALUATED,
                reason,
                self.named_id,
            )

    def unknown_at(self, *names: str) -> bool:
        """Whether any of the fields is known only after the change is made (anywhere inside it)."""
        return any(self.unknown_key(key) for key in map(self.key, names) if key is not None)

    @abstractmethod
    def unknown_key(self, key: str) -> bool:
        """Whether the field (by this format's name) is known only after the change is made."""

    @abstractmethod
    def unknown_in(self, block: str, *names: str) -> bool:
        """Whether any of the fields `names` of the nested block `block` is known only after the change is made."""

    @abstractmethod
    def block(self, name: str) -> Mapping[str, Any]:
        """A nested block's values after the change ({}: none)."""

    @abstractmethod
    def flag(self, value: Any) -> bool:
        """A boolean field's value as this format writes it."""

    @property
    @abstractmethod
    def id(self) -> str:
        """The resource's id, or the stand-in id of one the change creates."""

    @property
    @abstractmethod
    def existing_id(self) -> str | None:
        """The id of the resource as it is now (None: the change creates it)."""

    @property
    @abstractmethod
    def named_id(self) -> str | None:
        """The id a not-evaluated change of this resource names."""

    @abstractmethod
    def known_ids(self, ids: Iterable[object]) -> frozenset[str]:
        """The ids a not-evaluated change touches, from those given (the format's fallback when none are)."""

    @abstractmethod
    def peering_status(self) -> str:
        """The status a peering connection has after the change (the formats accept peerings differently)."""

    # The kinds whose shape differs between the formats: each reader reads them its own way.

    @abstractmethod
    def security_group(self) -> Change:
        """A security group with its inline rules."""

    @abstractmethod
    def rule(self, values: Mapping[str, Any]) -> tuple[str, tuple[SecurityGroupRule, ...]]:
        """A standalone rule's group id and rules, from its values before or after the change."""

    @abstractmethod
    def acl_ports(self, values: Mapping[str, Any]) -> tuple[object, object]:
        """An ACL entry's port range (from, to), from its values before or after the change."""

    @abstractmethod
    def route_table(self) -> Change:
        """A route table (Terraform's inline routes; a change set's routes are their own resources)."""

    @abstractmethod
    def network_acl(self) -> Change:
        """A network ACL (Terraform's inline entries; a change set's entries are their own resources)."""

    @abstractmethod
    def tgw_attachment(self) -> Change:
        """A transit gateway VPC attachment."""

    def not_evaluated(self, reason: str, *ids: object) -> Change:
        return Change(
            self.address,
            self.type,
            self.action,
            (NotEvaluated(self.known_ids(ids), reason),),
            Handling.NOT_EVALUATED,
            reason,
            self.named_id,
        )

    def change(self, *edits: Edit, note: str = "", handling: Handling | None = None) -> Change:
        """`handling`: NO_EFFECT for edits that only add what nothing uses yet (a new group under its stand-in id)."""
        handling = handling or (Handling.MAPPED if edits else Handling.NO_EFFECT)
        return Change(self.address, self.type, self.action, tuple(edits), handling, note, self.existing_id)


def strings(value: Any) -> list[str]:
    return [str(v) for v in value or () if v]


def named_elsewhere(r: Resource, *, what: str, replaced: str | None, deleted: Edit, gone: str) -> Change | None:
    """The change of a resource others name by its id (a group, a prefix list, a gateway) when it is created,
    replaced or deleted (`replaced` None: a replacement deletes it as a deletion does); None: it is updated."""
    if r.action is Action.CREATE:
        return r.change(note=f"a new {what}")
    if r.action is Action.REPLACE and replaced is not None:
        return r.not_evaluated(replaced, r.id)
    if r.action in (Action.DELETE, Action.REPLACE):
        return r.change(deleted, note=gone)
    return None


# ----- security groups and ACL entries -------------------------------------------------------------


def security_group_whole(r: Resource, *rules: str) -> Change | None:
    """A security group created, replaced or deleted, or whose `rules` fields are not known yet; None: the reader
    reads its rules."""
    # AWS refuses to delete a group in use; if it could, nothing it admitted would be admitted.
    whole = named_elsewhere(
        r,
        what="group: nothing uses it until a change names it",
        replaced="the group is replaced: what uses it moves to a group whose id is not known yet",
        deleted=SetRules(r.id, ()),
        gone="the group is deleted",
    )
    if whole is None and r.unknown_at(*rules):
        return r.not_evaluated(f"its rules are known only after {r.later}", r.id)
    return whole


def security_group(r: Resource) -> Change:
    return r.security_group()


def standalone_rule(r: Resource) -> Change:
    """A rule resource of one group (`Resource.rule` reads its group and rules)."""
    group = "security_group_id"
    edits: list[Edit] = []
    if r.action is not Action.CREATE:
        edits.append(RemoveRules(*r.rule(r.before)))
    if r.action is not Action.DELETE:
        if r.unknown_at(group):
            return r.change(*edits, note=f"the rule is in a group this {r.document} creates")
        if r.unknown_at(*r.RULE_FIELDS):
            return r.not_evaluated(f"the rule's peer or ports are known only after {r.later}", r.now(group))
        if r.unknown_at(*r.RULE_PEER_FIELDS):
            return r.change(*edits, note=f"the rule admits a group this {r.document} creates")
        edits.append(AddRules(*r.rule(r.after)))
    return r.change(*edits)


def _acl_entry_values(r: Resource, values: Mapping[str, Any]) -> NaclEntry:
    low, high = r.acl_ports(values)
    return nacl_entry(
        rule_number=values[r.key("rule_number") or ""],
        egress=r.flag(values.get(r.key("egress") or "", False)),
        allow=values.get(r.key("rule_action") or "") == "allow",
        protocol=values.get(r.key("protocol") or "", "-1"),
        cidr=str(values.get(r.key("cidr_block") or "") or values.get(r.key("ipv6_cidr_block") or "")),
        from_port=low,
        to_port=high,
    )


def acl_entry(r: Resource) -> Change:
    """An ACL entry resource (`Resource.acl_ports` reads its port range, which the formats shape differently)."""
    # What the provider calls (EC2 API Reference): a new entry is CreateNetworkAclEntry, refused on a rule
    # number its direction already uses (NetworkAclEntryAlreadyExists); an update in place (CloudFormation's
    # Modify without replacement: the same ACL, number and direction) is ReplaceNetworkAclEntry; a replacement
    # deletes the old entry (DeleteNetworkAclEntry) and creates the new one. `model.edits` does what each does.
    edits: list[Edit] = []
    in_place = r.action is Action.UPDATE and all(r.was(f) == r.now(f) for f in ("network_acl_id", "rule_number"))
    in_place = in_place and r.flag(r.was("egress")) == r.flag(r.now("egress"))
    if r.action is not Action.CREATE:
        rule_number = int(str(r.before[r.key("rule_number") or ""]))
        acl = str(r.was("network_acl_id", required=True))
        if not in_place:
            edits.append(RemoveNaclEntry(acl, rule_number, r.flag(r.was("egress"))))
    if r.action is not Action.DELETE:
        acl = r.now("network_acl_id")
        if r.unknown_at("network_acl_id"):
            return r.change(*edits, note=f"the entry is in an ACL this {r.document} creates")
        entry_fields = ("cidr_block", "ipv6_cidr_block", "rule_number", "egress", "rule_action", "protocol")
        if r.unknown_at(*entry_fields, *r.ACL_PORT_FIELDS):
            return r.not_evaluated(f"the entry is known only after {r.later}", acl)
        if not (r.now("cidr_block") or r.now("ipv6_cidr_block")):
            return r.not_evaluated("the entry names no CIDR block", acl)
        call = ReplaceNaclEntry if in_place else CreateNaclEntry
        edits.append(call(str(acl), _acl_entry_values(r, r.after)))
    return r.change(*edits)


# ----- subnets' tables and ACLs --------------------------------------------------------------------


def association(*, acl: bool) -> Callable[[Resource], Change]:
    """A subnet's association with a route table (or, `acl`, with a network ACL)."""
    table, what = ("network_acl_id", "ACL") if acl else ("route_table_id", "table")

    def associate(subnet: str, target: str | None) -> Edit:
        return AssociateAcl(subnet, target) if acl else AssociateTable(subnet, target)

    def mapped(r: Resource) -> Change:
        edits: list[Edit] = []
        if r.action in (Action.DELETE, Action.REPLACE) and r.was("subnet_id"):
            edits.append(associate(str(r.was("subnet_id")), None))
        if r.action is not Action.DELETE:
            if r.unknown_at("subnet_id", table):
                return r.not_evaluated(f"the subnet or its {what} is known only after {r.later}", r.now("subnet_id"))
            if not r.now("subnet_id"):
                return r.change(note="a gateway's edge association: outside the model")
            edits.append(associate(str(r.now("subnet_id")), str(r.now(table))))
        return r.change(*edits)

    return mapped


# ----- routes ------------------------------------------------------------------------------------


def target(r: Resource, values: Mapping[str, Any]) -> str | None:
    """The route's target in a route's values or an inline route block."""
    return next((str(values[k]) for k in map(r.key, ROUTE_TARGETS) if k is not None and values.get(k)), None)


def destination(r: Resource, values: Mapping[str, Any], fields: tuple[str, ...] = ROUTE_DESTINATIONS) -> str | None:
    """The route's destination: an IPv4 or IPv6 CIDR block, or a managed prefix list's id (a route of its own,
    which AWS ranks after a CIDR route of the same prefix: `netsem.routes`); `fields`: only those."""
    return next((str(values[k]) for k in map(r.key, fields) if k is not None and values.get(k)), None)


def route(r: Resource) -> Change:
    # As the providers call EC2: a new route is CreateRoute (refused where the table already routes the
    # destination, a prefix list included), an update in place is ReplaceRoute, a replacement DeleteRoute then
    # CreateRoute.
    edits: list[Edit] = []
    in_place = r.action is Action.UPDATE and r.was("route_table_id") == r.now("route_table_id")
    in_place = in_place and destination(r, r.before) == destination(r, r.after)
    if r.action is not Action.CREATE:
        before = destination(r, r.before)
        if not in_place:
            if not before:
                raise MissingBefore("destination")
            edits.append(RemoveRoute(str(r.was("route_table_id", required=True)), before))
    if r.action is not Action.DELETE:
        table = r.now("route_table_id")
        known_cidr = destination(r, r.after, ROUTE_CIDRS) and not r.unknown_at(*ROUTE_CIDRS)
        if r.unknown_at("destination_prefix_list_id") and not known_cidr:
            # The list decides which addresses the route takes (a route has one destination: an unknown list id
            # beside a known CIDR block, as older providers computed it, is not this route's).
            return r.not_evaluated(f"{r.key('destination_prefix_list_id')} is known only after {r.later}", table)
        if r.unknown_at("route_table_id", *ROUTE_CIDRS, *ROUTE_TARGETS):
            return r.not_evaluated(f"the route's table or target is known only after {r.later}", table)
        after = destination(r, r.after)
        if not after:
            return r.not_evaluated("the route names no destination", table)
        call = ReplaceRoute if in_place else CreateRoute
        edits.append(call(str(table), Route(after, target(r, r.after) or "unknown", "active")))
    return r.change(*edits)


# ----- endpoints, gateways, peerings, VPCs, subnets ------------------------------------------------


def vpc_endpoint(r: Resource) -> Change:
    edits: list[Edit] = []
    if r.action in (Action.DELETE, Action.REPLACE):
        edits.append(DeleteEndpoint(r.id))
    if r.action is not Action.DELETE:
        if r.unknown_at("vpc_id", "service_name", "subnet_ids", "security_group_ids", "private_dns_enabled", "policy"):
            return r.not_evaluated(
                f"the endpoint's VPC, subnets, groups or policy are known only after {r.later}",
                r.now("vpc_id"),
                r.existing_id,
            )
        endpoint_id = r.id if r.action is Action.UPDATE else new_id(r.address)
        edits.append(
            PutEndpoint(
                VpcEndpoint(
                    endpoint_id,
                    str(r.now("vpc_id")),
                    str(r.now("service_name")),
                    str(r.now("vpc_endpoint_type") or "Gateway"),
                    "available",
                    tuple(strings(r.now("subnet_ids"))),
                    tuple(strings(r.now("security_group_ids"))),
                    r.flag(r.now("private_dns_enabled", False)),
                    convert.policy(r.now("policy") or None),
                    tuple(str(d["dns_name"]).lower() for d in r.now("dns_entry") or () if d.get("dns_name")),
                )
            )
        )
    return r.change(*edits)


def nat_gateway(r: Resource) -> Change:
    edits: list[Edit] = []
    if r.action in (Action.DELETE, Action.REPLACE):
        edits.append(PutNatGateway(NatGateway(r.id, "", str(r.was("subnet_id", required=True)), "deleted")))
    if r.action is not Action.DELETE:
        if r.unknown_at("subnet_id"):
            return r.not_evaluated(f"the NAT gateway's subnet is known only after {r.later}")
        nat_id = r.id if r.action is Action.UPDATE else new_id(r.address)
        connectivity = str(r.now("connectivity_type") or "public")
        edits.append(PutNatGateway(NatGateway(nat_id, "", str(r.now("subnet_id")), "available", connectivity)))
    return r.change(*edits)


def peering(r: Resource) -> Change:
    if r.action is Action.DELETE:
        vpcs = (str(r.was("vpc_id", required=True)), str(r.was("peer_vpc_id", required=True)))
        pcx = PeeringConnection(r.id, *vpcs, "deleted")
        return r.change(PutPeering(pcx))
    if r.unknown_at("vpc_id", "peer_vpc_id"):
        return r.not_evaluated(f"the peered VPCs are known only after {r.later}")
    pcx_id = r.id if r.action is Action.UPDATE else new_id(r.address)
    return r.change(
        PutPeering(PeeringConnection(pcx_id, str(r.now("vpc_id")), str(r.now("peer_vpc_id")), r.peering_status()))
    )


def vpc(r: Resource) -> Change:
    if r.action is Action.CREATE:
        return r.change(note="a new VPC: nothing rotates in it yet")
    if r.action is Action.DELETE:
        return r.not_evaluated("the VPC is deleted", r.id)
    if r.unknown_at("enable_dns_support", "enable_dns_hostnames"):
        return r.not_evaluated(f"its DNS attributes are known only after {r.later}", r.id)
    # AWS's defaults: DNS support on, DNS hostnames off.
    support = r.flag(r.now("enable_dns_support", True))
    hostnames = r.flag(r.now("enable_dns_hostnames", False))
    return r.change(SetVpcDns(r.id, DnsAttributes(support, hostnames)))


def egress_only_gateway(r: Resource) -> Change:
    """An egress-only internet gateway (`Resource.GATEWAY_REPLACED`: why a replacement is not evaluated)."""
    whole = named_elsewhere(
        r,
        what="gateway: no route uses it until a route names it",
        replaced=r.GATEWAY_REPLACED,
        deleted=DeleteEgressOnlyGateway(r.id),
        gone="the routes to it become blackholes",
    )
    return whole or r.change(note="a gateway's tags change no path")


def subnet(r: Resource) -> Change:
    if r.action in (Action.CREATE, Action.UPDATE):
        return r.change(note="a new or retagged subnet changes no path")
    return r.not_evaluated("the subnet is deleted or replaced", r.id)


# ----- managed prefix lists and transit gateways ---------------------------------------------------


def prefix_list(r: Resource) -> Change:
    whole = named_elsewhere(
        r,
        what="list: no rule names it until a change does",
        replaced="the list is replaced: the rules naming it move to an id not known yet",
        deleted=SetPrefixListCidrs(r.id, ()),
        gone="the list is deleted",
    )
    if whole is not None:
        return whole
    if r.unknown_at("entry"):
        return r.not_evaluated(f"its entries are known only after {r.later}", r.named_id)
    cidr = r.key("cidr") or "cidr"
    return r.change(SetPrefixListCidrs(r.id, tuple(strings(e.get(cidr) for e in r.now("entry") or ()))))


def tgw_route(r: Resource) -> Change:
    edits: list[Edit] = []
    if r.action is not Action.CREATE:
        table_was = str(r.was("transit_gateway_route_table_id", required=True))
        edits.append(RemoveTgwRoute(table_was, str(r.was("destination_cidr_block", required=True))))
    if r.action is not Action.DELETE:
        table = r.now("transit_gateway_route_table_id")
        if r.unknown_at(
            "transit_gateway_route_table_id", "destination_cidr_block", "transit_gateway_attachment_id", "blackhole"
        ):
            return r.not_evaluated(f"the route's table or attachment is known only after {r.later}", table)
        cidr = str(r.now("destination_cidr_block"))
        if is_ipv6(cidr):
            return r.not_evaluated("an IPv6 transit gateway route: the model holds IPv4 ones", table)
        blackhole = r.flag(r.now("blackhole", False))
        attachments = () if blackhole else tuple(strings([r.now("transit_gateway_attachment_id")]))
        edits.append(
            PutTgwRoute(str(table), TransitGatewayRoute(cidr, attachments, "blackhole" if blackhole else "active"))
        )
    return r.change(*edits)


def tgw_prefix_list_reference(r: Resource) -> Change:
    """A transit gateway route table's reference to a prefix list (Terraform only: CloudFormation has no such type).
    The provider creates it with CreateTransitGatewayPrefixListReference, changes its attachment or blackhole with
    ModifyTransitGatewayPrefixListReference, and replaces it (delete, then create) for another table or list."""
    edits: list[Edit] = []
    in_place = r.action is Action.UPDATE and all(
        r.was(f) == r.now(f) for f in ("transit_gateway_route_table_id", "prefix_list_id")
    )
    if r.action is not Action.CREATE and not in_place:
        table_was = str(r.was("transit_gateway_route_table_id", required=True))
        edits.append(RemoveTgwPrefixListReference(table_was, str(r.was("prefix_list_id", required=True))))
    if r.action is not Action.DELETE:
        table = r.now("transit_gateway_route_table_id")
        if r.unknown_at("prefix_list_id"):
            return r.not_evaluated(f"{r.key('prefix_list_id')} is known only after {r.later}", table)
        if r.unknown_at("transit_gateway_route_table_id", "transit_gateway_attachment_id", "blackhole"):
            return r.not_evaluated(f"the reference's table or attachment is known only after {r.later}", table)
        blackhole = r.flag(r.now("blackhole", False))
        attachments = () if blackhole else tuple(strings([r.now("transit_gateway_attachment_id")]))
        edits.append(PutTgwPrefixListReference(str(table), str(r.now("prefix_list_id")), attachments, in_place))
    return r.change(*edits)


def tgw_association(r: Resource) -> Change:
    edits: list[Edit] = []
    if r.action is not Action.CREATE:
        edits.append(AssociateTgwTable(str(r.was("transit_gateway_attachment_id", required=True)), None))
    if r.action is not Action.DELETE:
        attachment = r.now("transit_gateway_attachment_id")
        if r.unknown_at("transit_gateway_attachment_id", "transit_gateway_route_table_id"):
            return r.not_evaluated(f"the attachment or its table is known only after {r.later}", attachment)
        edits.append(AssociateTgwTable(str(attachment), str(r.now("transit_gateway_route_table_id"))))
    return r.change(*edits)


# ----- the function, its permissions and the database ---------------------------------------------


def lambda_function(r: Resource) -> Change:
    name = str(r.was("function_name") or r.existing_id or r.now("function_name") or r.address)
    if r.action is Action.CREATE:
        return r.change(note="a new function rotates no secret until a rotation names it")
    if r.action is Action.DELETE:
        return r.change(DeleteFunction(name))
    if r.unknown_in("vpc_config", "subnet_ids", "security_group_ids") or r.unknown_in("environment", "variables"):
        return r.not_evaluated(f"its network settings or environment are known only after {r.later}", name)
    vpc = r.block("vpc_config")
    variables = r.block("environment").get(r.key("variables") or "") or {}
    # Only the variable that steers the SDK is read: the others may hold secrets.
    endpoint = variables.get("SECRETS_MANAGER_ENDPOINT") or None
    return r.change(
        UpdateFunction(
            name,
            subnet_ids=tuple(strings(vpc.get(r.key("subnet_ids") or ""))),
            group_ids=tuple(strings(vpc.get(r.key("security_group_ids") or ""))),
            secrets_manager_endpoint=str(endpoint) if endpoint else None,
        )
    )


def lambda_permission(r: Resource) -> Change:
    edits: list[Edit] = []
    if r.action is not Action.CREATE:
        function_name = str(r.was("function_name", required=True))
        edits.append(RemoveInvokeStatement(function_name, str(r.was("statement_id") or r.id)))
    if r.action is not Action.DELETE:
        function = r.now("function_name")
        if r.unknown_at("function_name", "principal", "source_account", "source_arn", "action"):
            return r.not_evaluated(
                f"the permission is known only after {r.later}", function if isinstance(function, str) else None
            )
        sid = str(r.now("statement_id") or (r.id if r.action is Action.UPDATE else new_id(r.address)))
        statement = invoke_statement(
            sid, r.now("action"), r.now("principal"), r.now("source_account"), r.now("source_arn")
        )
        edits.append(AddInvokeStatement(str(function), statement))
    return r.change(*edits)


def database(r: Resource) -> Change:
    """A DB instance or cluster, named by its identifier's field where the format has one, else by its id."""
    by_name = r.key("identifier") is not None
    identifier = str(r.was("identifier") or r.now("identifier") or r.address) if by_name else r.id
    named = identifier if by_name else r.existing_id
    if r.action is Action.CREATE:
        return r.change(note="a new database: no secret names it yet")
    if r.action is Action.DELETE:
        return r.not_evaluated("the database is deleted", named)
    if r.unknown_at("vpc_security_group_ids", "port"):
        return r.not_evaluated(f"its groups or port are known only after {r.later}", named)
    group_ids = tuple(strings(r.now("vpc_security_group_ids")))
    return r.change(UpdateDatabase(identifier, group_ids=group_ids or None, port=port(r.now("port"))))


def route_table(r: Resource) -> Change:
    return r.route_table()


def network_acl(r: Resource) -> Change:
    return r.network_acl()


def tgw_attachment(r: Resource) -> Change:
    return r.tgw_attachment()


def prefix_list_entry(r: Resource) -> Change:
    """One entry of a managed prefix list (Terraform's own resource; a change set's entries are the list's)."""
    edits: list[Edit] = []
    list_field, cidr_field = r.key("prefix_list_id") or "", r.key("cidr") or ""
    if r.action is not Action.CREATE:
        edits.append(PutPrefixListCidr(str(r.before[list_field]), str(r.before[cidr_field]), present=False))
    if r.action is not Action.DELETE:
        if r.unknown_at("prefix_list_id"):
            return r.change(*edits, note=f"the entry is in a list this {r.document} creates")
        if r.unknown_at("cidr"):
            return r.not_evaluated(f"the entry is known only after {r.later}", r.after.get(list_field))
        edits.append(PutPrefixListCidr(str(r.after[list_field]), str(r.after[cidr_field]), present=True))
    return r.change(*edits)


# ----- the one table: each kind's Terraform types, CloudFormation types and handler -----------------


@dataclass(frozen=True)
class Kind:
    """One kind of resource what-if reads, in both formats (a format without it: no types)."""

    terraform: tuple[str, ...]
    cloudformation: tuple[str, ...]
    handler: Callable[[Resource], Change]


KINDS: tuple[Kind, ...] = (
    Kind(("aws_security_group", "aws_default_security_group"), ("AWS::EC2::SecurityGroup",), security_group),
    Kind(
        ("aws_security_group_rule", "aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule"),
        ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress"),
        standalone_rule,
    ),
    Kind(("aws_route",), ("AWS::EC2::Route",), route),
    Kind(("aws_route_table", "aws_default_route_table"), ("AWS::EC2::RouteTable",), route_table),
    Kind(("aws_route_table_association",), ("AWS::EC2::SubnetRouteTableAssociation",), association(acl=False)),
    Kind(("aws_network_acl", "aws_default_network_acl"), ("AWS::EC2::NetworkAcl",), network_acl),
    Kind(("aws_network_acl_rule",), ("AWS::EC2::NetworkAclEntry",), acl_entry),
    Kind(("aws_network_acl_association",), ("AWS::EC2::SubnetNetworkAclAssociation",), association(acl=True)),
    Kind(("aws_vpc_endpoint",), ("AWS::EC2::VPCEndpoint",), vpc_endpoint),
    Kind(("aws_nat_gateway",), ("AWS::EC2::NatGateway",), nat_gateway),
    Kind(("aws_vpc_peering_connection",), ("AWS::EC2::VPCPeeringConnection",), peering),
    Kind(("aws_egress_only_internet_gateway",), ("AWS::EC2::EgressOnlyInternetGateway",), egress_only_gateway),
    Kind(("aws_ec2_managed_prefix_list",), ("AWS::EC2::PrefixList",), prefix_list),
    Kind(("aws_ec2_managed_prefix_list_entry",), (), prefix_list_entry),
    Kind(("aws_ec2_transit_gateway_route",), ("AWS::EC2::TransitGatewayRoute",), tgw_route),
    Kind(("aws_ec2_transit_gateway_prefix_list_reference",), (), tgw_prefix_list_reference),
    Kind(
        ("aws_ec2_transit_gateway_route_table_association",),
        ("AWS::EC2::TransitGatewayRouteTableAssociation",),
        tgw_association,
    ),
    Kind(
        ("aws_ec2_transit_gateway_vpc_attachment",),
        ("AWS::EC2::TransitGatewayVpcAttachment", "AWS::EC2::TransitGatewayAttachment"),
        tgw_attachment,
    ),
    Kind(("aws_vpc", "aws_default_vpc"), ("AWS::EC2::VPC",), vpc),
    Kind(("aws_subnet",), ("AWS::EC2::Subnet",), subnet),
    Kind(("aws_lambda_function",), ("AWS::Lambda::Function",), lambda_function),
    Kind(("aws_lambda_permission",), ("AWS::Lambda::Permission",), lambda_permission),
    Kind(("aws_db_instance",), ("AWS::RDS::DBInstance",), database),
    Kind(("aws_rds_cluster",), ("AWS::RDS::DBCluster",), database),
)

# The table by each format's type names: what the readers look up.
TERRAFORM_HANDLERS: Mapping[str, Callable[[Resource], Change]] = {t: k.handler for k in KINDS for t in k.terraform}
CLOUDFORMATION_HANDLERS: Mapping[str, Callable[[Resource], Change]] = {
    t: k.handler for k in KINDS for t in k.cloudformation
}

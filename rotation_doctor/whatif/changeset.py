"""A CloudFormation change set (DescribeChangeSet with `IncludePropertyValues`) read into `Change`s. Pure: the
response pages in, the changes out; `collect.changesets` reads them.

Each `Changes[].ResourceChange` has `Action` (Add, Modify, Remove, Dynamic, Import, SyncWithActual), `Replacement`,
`ResourceType`, `LogicalResourceId`, `PhysicalResourceId` and `BeforeContext`/`AfterContext`: JSON text whose
`Properties` are the resource's properties. A value CloudFormation resolves only while it deploys reads
`{{changeSet:KNOWN_AFTER_APPLY}}`: where such a value decides a path, the change is `NotEvaluated`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rotation_doctor.model.edits import (
    DeleteAcl,
    DeleteRouteTable,
    Edit,
    SetRules,
    UpdateTgwAttachment,
)
from rotation_doctor.model.snapshot import SecurityGroupRule
from rotation_doctor.whatif import mapping
from rotation_doctor.whatif.changes import (
    ALLOW_ALL_EGRESS,
    Action,
    BadPlan,
    Change,
    Source,
    new_id,
    sg_rules,
    unsupported,
)
from rotation_doctor.whatif.mapping import Resource, strings

KNOWN_AFTER_APPLY = "KNOWN_AFTER_APPLY"
# Terraform's field names (mapping's names for them) -> CloudFormation's.
_FIELDS: dict[str, str | None] = {
    "route_table_id": "RouteTableId",
    "destination_cidr_block": "DestinationCidrBlock",
    "destination_ipv6_cidr_block": "DestinationIpv6CidrBlock",
    "destination_prefix_list_id": "DestinationPrefixListId",
    "gateway_id": "GatewayId",
    "nat_gateway_id": "NatGatewayId",
    "transit_gateway_id": "TransitGatewayId",
    "vpc_peering_connection_id": "VpcPeeringConnectionId",
    "network_interface_id": "NetworkInterfaceId",
    "vpc_endpoint_id": "VpcEndpointId",
    "egress_only_gateway_id": "EgressOnlyInternetGatewayId",
    "local_gateway_id": "LocalGatewayId",
    "carrier_gateway_id": "CarrierGatewayId",
    "core_network_arn": "CoreNetworkArn",
    "instance_id": "InstanceId",
    "vpc_id": "VpcId",
    "peer_vpc_id": "PeerVpcId",
    "service_name": "ServiceName",
    "vpc_endpoint_type": "VpcEndpointType",
    "subnet_id": "SubnetId",
    "subnet_ids": "SubnetIds",
    "security_group_ids": "SecurityGroupIds",
    "private_dns_enabled": "PrivateDnsEnabled",
    "policy": "PolicyDocument",
    "dns_entry": None,  # Terraform reads the endpoint's DNS names back; a change set does not
    "connectivity_type": "ConnectivityType",
    "enable_dns_support": "EnableDnsSupport",
    "enable_dns_hostnames": "EnableDnsHostnames",
    "entry": "Entries",
    "cidr": "Cidr",
    "transit_gateway_route_table_id": "TransitGatewayRouteTableId",
    "transit_gateway_attachment_id": "TransitGatewayAttachmentId",
    "blackhole": "Blackhole",
    "network_acl_id": "NetworkAclId",
    "security_group_id": "GroupId",  # a standalone rule's group
    "identifier": None,  # a database is named by its physical id
    "cidr_block": "CidrBlock",
    "ipv6_cidr_block": "Ipv6CidrBlock",
    "rule_number": "RuleNumber",
    "rule_action": "RuleAction",
    "protocol": "Protocol",
    "egress": "Egress",  # an ACL entry's direction (a group's directions are its own: SecurityGroupEgress)
    "function_name": "FunctionName",
    "statement_id": None,  # a permission's statement id is its physical id
    "principal": "Principal",
    "source_account": "SourceAccount",
    "source_arn": "SourceArn",
    "action": "Action",
    "port": "Port",
    "vpc_config": "VpcConfig",
    "environment": "Environment",
    "variables": "Variables",
}


def _unknown(value: Any) -> bool:
    if isinstance(value, str):
        return KNOWN_AFTER_APPLY in value
    if isinstance(value, Mapping):
        return any(_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(_unknown(v) for v in value)
    return False


def _properties(context: str | None) -> dict[str, Any]:
    if not context:
        return {}
    parsed = json.loads(context)
    if not isinstance(parsed, dict):
        raise ValueError("a context that is not an object")
    props = parsed.get("Properties", parsed)
    return props if isinstance(props, dict) else {}


@dataclass(frozen=True)
class _Resource(Resource):
    physical_id: str | None

    later: ClassVar[str] = "the change set runs"
    document: ClassVar[str] = "change set"
    FIELDS: ClassVar[Mapping[str, str | None]] = _FIELDS
    TYPE_FIELDS: ClassVar[Mapping[str, Mapping[str, str | None]]] = {
        "AWS::RDS::DBInstance": {"vpc_security_group_ids": "VPCSecurityGroups"},
        "AWS::RDS::DBCluster": {"vpc_security_group_ids": "VpcSecurityGroupIds"},
    }
    RULE_FIELDS: ClassVar[tuple[str, ...]] = (
        *("CidrIp", "CidrIpv6", "IpProtocol", "FromPort", "ToPort"),
        *("SourcePrefixListId", "DestinationPrefixListId"),
    )
    RULE_PEER_FIELDS: ClassVar[tuple[str, ...]] = ("SourceSecurityGroupId", "DestinationSecurityGroupId")
    ACL_PORT_FIELDS: ClassVar[tuple[str, ...]] = ("PortRange",)
    GATEWAY_REPLACED: ClassVar[str | None] = "the gateway is replaced: its routes move to an id not known yet"

    def unknown_key(self, key: str) -> bool:
        return _unknown(self.after.get(key))

    def unknown_in(self, block: str, *names: str) -> bool:
        return self.unknown_at(block)  # a change set marks the block, not its fields

    def block(self, name: str) -> Mapping[str, Any]:
        value = self.now(name)
        return value if isinstance(value, Mapping) else {}

    def flag(self, value: Any) -> bool:
        return str(value).lower() == "true"

    @property
    def id(self) -> str:
        return self.physical_id or new_id(self.address)

    @property
    def existing_id(self) -> str | None:
        return self.physical_id

    @property
    def named_id(self) -> str | None:
        return self.physical_id

    def known_ids(self, ids: Iterable[object]) -> frozenset[str]:
        return frozenset(str(i) for i in ids if i and not _unknown(i))

    def peering_status(self) -> str:
        # CloudFormation accepts a same-account peering itself; a cross-account one waits for the peer's acceptance.
        return "pending-acceptance" if self.after.get("PeerOwnerId") else "active"

    def security_group(self) -> Change:
        return _security_group(self)

    def rule(self, values: Mapping[str, Any]) -> tuple[str, tuple[SecurityGroupRule, ...]]:
        group = str(values.get("GroupId"))
        return group, _permission(group, values, egress=self.type == "AWS::EC2::SecurityGroupEgress")

    def acl_ports(self, values: Mapping[str, Any]) -> tuple[object, object]:
        ports = values.get("PortRange") or {}
        return ports.get("From"), ports.get("To")

    def route_table(self) -> Change:
        return _route_table(self)

    def network_acl(self) -> Change:
        return _network_acl(self)

    def tgw_attachment(self) -> Change:
        return _tgw_vpc_attachment(self)


# ----- security groups ---------------------------------------------------------------------------


def _permission(group_id: str, p: Mapping[str, Any], *, egress: bool) -> tuple[SecurityGroupRule, ...]:
    peer_group = p.get("DestinationSecurityGroupId" if egress else "SourceSecurityGroupId")
    prefix_list = p.get("DestinationPrefixListId" if egress else "SourcePrefixListId")
    return sg_rules(
        group_id,
        egress=egress,
        protocol=p.get("IpProtocol", "-1"),
        from_port=p.get("FromPort"),
        to_port=p.get("ToPort"),
        cidrs=strings([p.get("CidrIp"), p.get("CidrIpv6")]),
        groups=strings([peer_group]),
        prefix_lists=strings([prefix_list]),
        description=p.get("Description") or None,
    )


def _inline(group_id: str, perms: Iterable[Mapping[str, Any]], *, egress: bool) -> tuple[Any, ...]:
    return tuple(r for p in perms for r in _permission(group_id, p, egress=egress))


def _security_group(r: _Resource) -> Change:
    whole = mapping.security_group_whole(r, "SecurityGroupIngress", "SecurityGroupEgress")
    if whole is not None:
        return whole
    edits: list[Edit] = []
    # A direction the template never declared is left to standalone rules; declared, it is the whole direction.
    if "SecurityGroupIngress" in r.after or "SecurityGroupIngress" in r.before:
        edits.append(
            SetRules(r.id, _inline(r.id, r.after.get("SecurityGroupIngress") or (), egress=False), egress=False)
        )
    if "SecurityGroupEgress" in r.after:
        edits.append(SetRules(r.id, _inline(r.id, r.after["SecurityGroupEgress"] or (), egress=True), egress=True))
    elif "SecurityGroupEgress" in r.before:  # no longer declared: AWS's default allow-all egress again
        default = sg_rules(r.id, egress=True, protocol="-1", from_port=None, to_port=None, cidrs=[ALLOW_ALL_EGRESS])
        edits.append(SetRules(r.id, default, egress=True))
    return r.change(*edits)


# ----- routes and ACLs ---------------------------------------------------------------------------


def _route_table(r: _Resource) -> Change:
    if r.action is Action.DELETE:
        return r.change(DeleteRouteTable(r.id))
    return r.change(note="a route table's own properties change no route (routes are AWS::EC2::Route)")


def _network_acl(r: _Resource) -> Change:
    if r.action is Action.DELETE:
        return r.change(DeleteAcl(r.id))
    return r.change(note="an ACL's own properties change no entry (entries are AWS::EC2::NetworkAclEntry)")


# ----- managed prefix lists and transit gateways ---------------------------------------------------


def _tgw_vpc_attachment(r: _Resource) -> Change:
    if r.action is Action.DELETE:
        return r.change(UpdateTgwAttachment(r.id, state="deleted"), note="the attachment is deleted")
    if r.action is not Action.UPDATE:
        # A new attachment may join the default table and propagate its VPC's routes: routes no one can name yet.
        return r.not_evaluated(
            "a new attachment's routes and association are known only after it is made",
            r.physical_id,
            r.after.get("VpcId"),
            *strings(r.after.get("SubnetIds")),
        )
    if r.unknown_at("SubnetIds", "Options"):
        return r.not_evaluated("its subnets or options are known only after the change set runs", r.physical_id)
    options = r.after.get("Options") or {}
    return r.change(
        UpdateTgwAttachment(
            r.id,
            subnet_ids=tuple(strings(r.after.get("SubnetIds"))),
            appliance_mode=str(options.get("ApplianceModeSupport", "disable")).lower() == "enable",
        )
    )


# The services whose resources may change a rotation path, matched by the type's service namespace exactly
# ("AWS::Route53" and "AWS::Route53Resolver" are two namespaces, each named).
_RELEVANT_SERVICES = frozenset(
    {"EC2", "Lambda", "RDS", "SecretsManager", "Route53", "Route53Resolver", "NetworkFirewall"}
)


def _relevant(kind: str) -> bool:
    parts = kind.split("::")
    return len(parts) == 3 and parts[0] == "AWS" and parts[1] in _RELEVANT_SERVICES


def _action(change: Mapping[str, Any]) -> Action | None:
    kind = change.get("Action")
    if kind == "Add":
        return Action.CREATE
    if kind == "Remove":
        return Action.DELETE
    if kind in ("Modify", "Dynamic"):
        return Action.REPLACE if change.get("Replacement") in ("True", "Conditional") else Action.UPDATE
    return None  # Import, SyncWithActual: nothing changes in the account


def parse_change_set(pages: Sequence[Mapping[str, Any]], *, name: str) -> Source:
    """The changes of a change set's DescribeChangeSet pages; BadPlan when a context cannot be read."""
    changes = []
    for page in pages:
        for item in page.get("Changes") or ():
            rc = item.get("ResourceChange") if item.get("Type", "Resource") == "Resource" else None
            if not rc:
                continue
            action = _action(rc)
            if action is None:
                continue
            address = str(rc.get("LogicalResourceId"))
            try:
                resource = _Resource(
                    address=address,
                    type=str(rc.get("ResourceType")),
                    action=action,
                    physical_id=rc.get("PhysicalResourceId") or None,
                    before=_properties(rc.get("BeforeContext")),
                    after=_properties(rc.get("AfterContext")),
                )
                handler = mapping.CLOUDFORMATION_HANDLERS.get(resource.type)
                if handler is not None and rc.get("Action") == "Dynamic":
                    changes.append(
                        resource.not_evaluated(
                            "CloudFormation cannot say yet what it will change", resource.physical_id
                        )
                    )
                elif handler is not None and "BeforeContext" not in rc and "AfterContext" not in rc:
                    # DescribeChangeSet without IncludePropertyValues (or a change set made before it existed):
                    # the change names its resource, never what it does to it.
                    changes.append(
                        resource.not_evaluated(
                            "the change set carries no property values (describe it with IncludePropertyValues)",
                            resource.physical_id,
                        )
                    )
                elif handler is None:
                    ids = {i for i in (resource.physical_id,) if i}
                    relevant = _relevant(resource.type)
                    changes.append(
                        unsupported(address, resource.type, action, ids, resource.physical_id, relevant=relevant)
                    )
                else:
                    changes.append(resource.read(handler))
            except (KeyError, TypeError, ValueError, RecursionError) as exc:
                raise BadPlan(f"{name}: {address[:200]} cannot be read ({type(exc).__name__})") from exc
    return Source("change-set", name, tuple(changes))

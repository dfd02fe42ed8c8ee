"""A CloudFormation change set (DescribeChangeSet with `IncludePropertyValues`) read into `Change`s. Pure: the
response pages in, the changes out; `collect.changesets` reads them.

Each `Changes[].ResourceChange` has `Action` (Add, Modify, Remove, Dynamic, Import, SyncWithActual), `Replacement`,
`ResourceType`, `LogicalResourceId`, `PhysicalResourceId` and `BeforeContext`/`AfterContext`: JSON text whose
`Properties` are the resource's properties. A value CloudFormation resolves only while it deploys reads
`{{changeSet:KNOWN_AFTER_APPLY}}`: where such a value decides a path, the change is `NotEvaluated`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rotation_doctor.whatif import mapping
from rotation_doctor.whatif.changes import (
    ALLOW_ALL_EGRESS,
    Action,
    AddRules,
    AssociateAcl,
    AssociateTable,
    BadPlan,
    Change,
    DeleteAcl,
    DeleteEgressOnlyGateway,
    DeleteFunction,
    DeleteRouteTable,
    Edit,
    PutInvokeStatement,
    PutNaclEntry,
    RemoveNaclEntry,
    RemoveRules,
    SetRules,
    Source,
    UpdateDatabase,
    UpdateFunction,
    UpdateTgwAttachment,
    invoke_statement,
    nacl_entry,
    new_id,
    port,
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
    FIELDS: ClassVar[Mapping[str, str | None]] = _FIELDS

    def unknown_key(self, key: str) -> bool:
        return _unknown(self.after.get(key))

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


# ----- security groups ---------------------------------------------------------------------------


def _permission(group_id: str, p: Mapping[str, Any], *, egress: bool) -> tuple[Any, ...]:
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
    if r.action is Action.CREATE:
        return r.change(note="a new group: nothing uses it until a change names it")
    if r.action is Action.REPLACE:
        return r.not_evaluated("the group is replaced: what uses it moves to a group whose id is not known yet", r.id)
    if r.action is Action.DELETE:
        return r.change(SetRules(r.id, ()), note="the group is deleted")
    if r.unknown_at("SecurityGroupIngress", "SecurityGroupEgress"):
        return r.not_evaluated("its rules are known only after the change set runs", r.id)
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


def _standalone_rule(*, egress: bool) -> Callable[[_Resource], Change]:
    def mapped(r: _Resource) -> Change:
        edits: list[Edit] = []
        if r.action is not Action.CREATE:
            group = str(r.before.get("GroupId"))
            edits.append(RemoveRules(group, _permission(group, r.before, egress=egress)))
        if r.action is not Action.DELETE:
            if r.unknown_at("GroupId"):
                return r.change(*edits, note="the rule is in a group this change set creates")
            if r.unknown_at(
                *("CidrIp", "CidrIpv6", "IpProtocol", "FromPort", "ToPort"),
                *("SourcePrefixListId", "DestinationPrefixListId"),
            ):
                return r.not_evaluated("the rule is known only after the change set runs", r.after.get("GroupId"))
            if r.unknown_at("SourceSecurityGroupId", "DestinationSecurityGroupId"):
                return r.change(*edits, note="the rule admits a group this change set creates")
            group = str(r.after.get("GroupId"))
            edits.append(AddRules(group, _permission(group, r.after, egress=egress)))
        return r.change(*edits)

    return mapped


# ----- routes and ACLs ---------------------------------------------------------------------------


def _route_table(r: _Resource) -> Change:
    if r.action is Action.DELETE:
        return r.change(DeleteRouteTable(r.id))
    return r.change(note="a route table's own properties change no route (routes are AWS::EC2::Route)")


def _association(*, table_key: str, acl: bool) -> Callable[[_Resource], Change]:
    def mapped(r: _Resource) -> Change:
        edits: list[Edit] = []
        undo: Callable[[str], Edit] = (lambda s: AssociateAcl(s, None)) if acl else (lambda s: AssociateTable(s, None))
        if r.action in (Action.DELETE, Action.REPLACE) and r.before.get("SubnetId"):
            edits.append(undo(str(r.before["SubnetId"])))
        if r.action is not Action.DELETE:
            if r.unknown_at("SubnetId", table_key):
                return r.not_evaluated(
                    "the subnet or its table/ACL is known only after the change set runs", r.after.get("SubnetId")
                )
            subnet, target = str(r.after.get("SubnetId")), str(r.after.get(table_key))
            edits.append(AssociateAcl(subnet, target) if acl else AssociateTable(subnet, target))
        return r.change(*edits)

    return mapped


def _network_acl(r: _Resource) -> Change:
    if r.action is Action.DELETE:
        return r.change(DeleteAcl(r.id))
    return r.change(note="an ACL's own properties change no entry (entries are AWS::EC2::NetworkAclEntry)")


def _entry(values: Mapping[str, Any]) -> Any:
    ports = values.get("PortRange") or {}
    return nacl_entry(
        rule_number=values["RuleNumber"],
        egress=str(values.get("Egress", False)).lower() == "true",
        allow=values.get("RuleAction") == "allow",
        protocol=values.get("Protocol", "-1"),
        cidr=str(values.get("CidrBlock") or values.get("Ipv6CidrBlock")),
        from_port=ports.get("From"),
        to_port=ports.get("To"),
    )


def _network_acl_entry(r: _Resource) -> Change:
    edits: list[Edit] = []
    if r.action is not Action.CREATE:
        egress = str(r.before.get("Egress", False)).lower() == "true"
        edits.append(RemoveNaclEntry(str(r.before.get("NetworkAclId")), int(str(r.before["RuleNumber"])), egress))
    if r.action is not Action.DELETE:
        if r.unknown_at("NetworkAclId"):
            return r.change(*edits, note="the entry is in an ACL this change set creates")
        if r.unknown_at("CidrBlock", "Ipv6CidrBlock", "Protocol", "PortRange", "RuleNumber", "RuleAction", "Egress"):
            return r.not_evaluated("the entry is known only after the change set runs", r.after.get("NetworkAclId"))
        if not (r.after.get("CidrBlock") or r.after.get("Ipv6CidrBlock")):
            return r.not_evaluated("the entry names no CIDR block", r.after.get("NetworkAclId"))
        edits.append(PutNaclEntry(str(r.after.get("NetworkAclId")), _entry(r.after)))
    return r.change(*edits)


# ----- endpoints, gateways, peerings, VPCs ---------------------------------------------------------


def _egress_only_gateway(r: _Resource) -> Change:
    if r.action is Action.CREATE:
        return r.change(note="a new gateway: no route uses it until a route names it")
    if r.action is Action.REPLACE:
        return r.not_evaluated("the gateway is replaced: its routes move to an id not known yet", r.physical_id)
    if r.action is Action.UPDATE:
        return r.change(note="a gateway's tags change no path")
    return r.change(DeleteEgressOnlyGateway(r.id), note="the routes to it become blackholes")


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


# ----- the function and the database -------------------------------------------------------------


def _lambda_function(r: _Resource) -> Change:
    name = str(r.physical_id or r.after.get("FunctionName") or r.address)
    if r.action is Action.CREATE:
        return r.change(note="a new function rotates no secret until a rotation names it")
    if r.action is Action.DELETE:
        return r.change(DeleteFunction(name))
    if r.unknown_at("VpcConfig", "Environment"):
        return r.not_evaluated("its network settings or environment are known only after the change set runs", name)
    vpc = r.after.get("VpcConfig") or {}
    variables = (r.after.get("Environment") or {}).get("Variables") or {}
    endpoint = variables.get("SECRETS_MANAGER_ENDPOINT") or None  # the only variable read: others may be secrets
    return r.change(
        UpdateFunction(
            name,
            subnet_ids=tuple(strings(vpc.get("SubnetIds"))),
            group_ids=tuple(strings(vpc.get("SecurityGroupIds"))),
            secrets_manager_endpoint=str(endpoint) if endpoint else None,
        )
    )


def _lambda_permission(r: _Resource) -> Change:
    edits: list[Edit] = []
    if r.action is not Action.CREATE:
        edits.append(PutInvokeStatement(str(r.before.get("FunctionName")), r.id, None))
    if r.action is not Action.DELETE:
        a = r.after
        if r.unknown_at("FunctionName", "Principal", "SourceAccount", "SourceArn", "Action"):
            return r.not_evaluated("the permission is known only after the change set runs", a.get("FunctionName"))
        sid = new_id(r.address) if r.action is not Action.UPDATE else r.id
        statement = invoke_statement(
            sid, a.get("Action"), a.get("Principal"), a.get("SourceAccount"), a.get("SourceArn")
        )
        edits.append(PutInvokeStatement(str(a.get("FunctionName")), sid, statement))
    return r.change(*edits)


def _database(groups_key: str) -> Callable[[_Resource], Change]:
    def mapped(r: _Resource) -> Change:
        if r.action is Action.CREATE:
            return r.change(note="a new database: no secret names it yet")
        if r.action is Action.DELETE:
            return r.not_evaluated("the database is deleted", r.physical_id)
        if r.unknown_at(groups_key, "Port"):
            return r.not_evaluated("its groups or port are known only after the change set runs", r.physical_id)
        groups = tuple(strings(r.after.get(groups_key)))
        return r.change(UpdateDatabase(r.id, group_ids=groups or None, port=port(r.after.get("Port"))))

    return mapped


HANDLERS: dict[str, Callable[[_Resource], Change]] = {
    "AWS::EC2::SecurityGroup": _security_group,
    "AWS::EC2::SecurityGroupIngress": _standalone_rule(egress=False),
    "AWS::EC2::SecurityGroupEgress": _standalone_rule(egress=True),
    "AWS::EC2::Route": mapping.route,
    "AWS::EC2::RouteTable": _route_table,
    "AWS::EC2::SubnetRouteTableAssociation": _association(table_key="RouteTableId", acl=False),
    "AWS::EC2::NetworkAcl": _network_acl,
    "AWS::EC2::NetworkAclEntry": _network_acl_entry,
    "AWS::EC2::SubnetNetworkAclAssociation": _association(table_key="NetworkAclId", acl=True),
    "AWS::EC2::VPCEndpoint": mapping.vpc_endpoint,
    "AWS::EC2::NatGateway": mapping.nat_gateway,
    "AWS::EC2::VPCPeeringConnection": mapping.peering,
    "AWS::EC2::EgressOnlyInternetGateway": _egress_only_gateway,
    "AWS::EC2::PrefixList": mapping.prefix_list,
    "AWS::EC2::TransitGatewayRoute": mapping.tgw_route,
    "AWS::EC2::TransitGatewayRouteTableAssociation": mapping.tgw_association,
    "AWS::EC2::TransitGatewayVpcAttachment": _tgw_vpc_attachment,
    "AWS::EC2::TransitGatewayAttachment": _tgw_vpc_attachment,
    "AWS::EC2::VPC": mapping.vpc,
    "AWS::EC2::Subnet": mapping.subnet,
    "AWS::Lambda::Function": _lambda_function,
    "AWS::Lambda::Permission": _lambda_permission,
    "AWS::RDS::DBInstance": _database("VPCSecurityGroups"),
    "AWS::RDS::DBCluster": _database("VpcSecurityGroupIds"),
}


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
                if rc.get("Action") == "Dynamic":
                    changes.append(
                        resource.not_evaluated(
                            "CloudFormation cannot say yet what it will change", resource.physical_id
                        )
                    )
                    continue
                handler = HANDLERS.get(resource.type)
                if handler is None:
                    ids = {i for i in (resource.physical_id,) if i}
                    changes.append(unsupported(address, resource.type, action, ids, resource.physical_id))
                else:
                    changes.append(handler(resource))
            except (KeyError, TypeError, ValueError, RecursionError) as exc:
                raise BadPlan(f"{name}: {address[:200]} cannot be read ({type(exc).__name__})") from exc
    return Source("change-set", name, tuple(changes))

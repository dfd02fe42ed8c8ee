"""AWS API responses to snapshot facts. Pure: each function takes what boto3 returned."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Any

from rotation_doctor.model.snapshot import (
    Function,
    HostedZoneRecord,
    InternetGateway,
    NaclEntry,
    NatGateway,
    NetworkAcl,
    NetworkInterface,
    PeeringConnection,
    PolicyDocument,
    PrefixList,
    Route,
    RouteTable,
    Secret,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
    TransitGateway,
    TransitGatewayAttachment,
    TransitGatewayRoute,
    Vpc,
    VpcEndpoint,
)
from rotation_doctor.netsem import dns

Raw = Mapping[str, Any]


def tags(items: Iterable[Raw] | None) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in items or ()}


def _iso(value: object) -> str | None:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value) if value else None


def secret(raw: Raw) -> Secret:
    # Before 2024 some Secrets Manager responses spelled the ARN `aRN`; accept both.
    return Secret(
        arn=str(raw.get("ARN") or raw.get("aRN")),
        name=str(raw["Name"]),
        rotation_enabled=bool(raw.get("RotationEnabled", False)),
        rotation_lambda_arn=raw.get("RotationLambdaARN") or None,
        owning_service=raw.get("OwningService"),
        tags=tags(raw.get("Tags")),
        next_rotation_date=_iso(raw.get("NextRotationDate")),
        last_rotated_date=_iso(raw.get("LastRotatedDate")),
    )


def function(raw: Raw) -> Function:
    vpc = raw.get("VpcConfig") or {}
    env = (raw.get("Environment") or {}).get("Variables") or {}
    subnet_ids = tuple(vpc.get("SubnetIds") or ())
    return Function(
        name=str(raw["FunctionName"]),
        arn=str(raw["FunctionArn"]),
        role_arn=raw.get("Role"),
        subnet_ids=subnet_ids,
        security_group_ids=tuple(vpc.get("SecurityGroupIds") or ()),
        vpc_id=(vpc.get("VpcId") or None) if subnet_ids else None,
        # Only the variables that steer the SDK are kept: other values may be secrets.
        secrets_manager_endpoint=env.get("SECRETS_MANAGER_ENDPOINT") or None,
        state=raw.get("State"),
        log_group=(raw.get("LoggingConfig") or {}).get("LogGroup") or None,
        ipv6_allowed_for_dual_stack=bool(vpc.get("Ipv6AllowedForDualStack")),
        # The SDK's own switch for dual-stack endpoint names; its value is "true" or "false", never a secret.
        uses_dualstack_endpoint=str(env.get("AWS_USE_DUALSTACK_ENDPOINT", "")).strip().lower() == "true",
        uses_fips_endpoint=str(env.get("AWS_USE_FIPS_ENDPOINT", "")).strip().lower() == "true",
    )


def policy(document: str | Mapping[str, Any] | None) -> PolicyDocument | None:
    if document is None or document == "":
        return None
    parsed = json.loads(document) if isinstance(document, str) else document
    statements = parsed.get("Statement", [])
    if isinstance(statements, Mapping):
        statements = [statements]
    return PolicyDocument(tuple(statements))


def vpc(raw: Raw) -> Vpc:
    blocks = [
        a["CidrBlock"]
        for a in raw.get("CidrBlockAssociationSet") or []
        if (a.get("CidrBlockState") or {}).get("State", "associated") == "associated"
    ]
    return Vpc(
        id=raw["VpcId"],
        cidr_blocks=tuple(blocks or [raw["CidrBlock"]]),
        tags=tags(raw.get("Tags")),
        owner_id=raw.get("OwnerId"),
        ipv6_cidr_blocks=tuple(
            a["Ipv6CidrBlock"]
            for a in raw.get("Ipv6CidrBlockAssociationSet") or []
            if a.get("Ipv6CidrBlock") and _ipv6_block_may_be_there(a)
        ),
    )


def network_interface(raw: Raw) -> NetworkInterface:
    return NetworkInterface(
        id=raw["NetworkInterfaceId"],
        subnet_id=raw.get("SubnetId", ""),
        group_ids=tuple(g["GroupId"] for g in raw.get("Groups") or []),
        interface_type=str(raw.get("InterfaceType", "interface")),
        description=str(raw.get("Description", ""))[:200],
    )


def subnet(raw: Raw) -> Subnet:
    return Subnet(
        id=raw["SubnetId"],
        vpc_id=raw["VpcId"],
        cidr=raw.get("CidrBlock") or "",  # an IPv6-only subnet has none
        availability_zone=raw.get("AvailabilityZone", ""),
        tags=tags(raw.get("Tags")),
        ipv6_cidrs=tuple(
            a["Ipv6CidrBlock"]
            for a in raw.get("Ipv6CidrBlockAssociationSet") or []
            if a.get("Ipv6CidrBlock") and _ipv6_block_in_use(a)
        ),
        ipv6_native=bool(raw.get("Ipv6Native")),
    )


_IPV6_BLOCK_NOT_IN_USE = frozenset({"associating", "disassociating", "disassociated", "failing", "failed"})


def _ipv6_block_in_use(association: Raw) -> bool:
    """An associated block (moto spells the state oddly, see docs/moto.md: only AWS's other states exclude one)."""
    return str((association.get("Ipv6CidrBlockState") or {}).get("State", "associated")) not in _IPV6_BLOCK_NOT_IN_USE


def _ipv6_block_may_be_there(association: Raw) -> bool:
    """A block that is, or may yet or still be, associated: only one disassociated or failed is surely gone."""
    return str((association.get("Ipv6CidrBlockState") or {}).get("State", "associated")) not in {
        "disassociated",
        "failed",
    }


def _route_target(raw: Raw) -> str:
    if raw.get("GatewayId"):
        return str(raw["GatewayId"])  # "local", "igw-...", "vgw-...", "vpce-..." (gateway endpoints)
    for key in (
        "NatGatewayId",
        "TransitGatewayId",
        "VpcPeeringConnectionId",
        "NetworkInterfaceId",
        "InstanceId",
        "LocalGatewayId",
        "CarrierGatewayId",
        "EgressOnlyInternetGatewayId",
        "CoreNetworkArn",
    ):
        if raw.get(key):
            return str(raw[key])
    return "unknown"


def route_table(raw: Raw) -> RouteTable:
    associations = raw.get("Associations") or []
    routes = tuple(
        Route(r["DestinationCidrBlock"], _route_target(r), r.get("State", "active"))
        for r in raw.get("Routes") or []
        if r.get("DestinationCidrBlock")  # IPv6 and prefix-list routes are kept apart
    )
    ipv6_routes = tuple(
        Route(r["DestinationIpv6CidrBlock"], _route_target(r), r.get("State", "active"))
        for r in raw.get("Routes") or []
        if r.get("DestinationIpv6CidrBlock")
    )
    prefix_list_routes = tuple(
        Route(r["DestinationPrefixListId"], _route_target(r), r.get("State", "active"))
        for r in raw.get("Routes") or []
        if r.get("DestinationPrefixListId")
    )
    return RouteTable(
        id=raw["RouteTableId"],
        vpc_id=raw["VpcId"],
        is_main=any(a.get("Main") for a in associations),
        subnet_ids=tuple(a["SubnetId"] for a in associations if a.get("SubnetId")),
        routes=routes,
        tags=tags(raw.get("Tags")),
        ipv6_routes=ipv6_routes,
        prefix_list_routes=prefix_list_routes,
    )


def network_acl(raw: Raw) -> NetworkAcl:
    entries = tuple(
        NaclEntry(
            rule_number=int(e["RuleNumber"]),
            egress=bool(e["Egress"]),
            allow=e["RuleAction"] == "allow",
            protocol=str(e["Protocol"]),
            cidr=e.get("CidrBlock") or e["Ipv6CidrBlock"],
            port_from=(e.get("PortRange") or {}).get("From"),
            port_to=(e.get("PortRange") or {}).get("To"),
        )
        for e in raw.get("Entries") or []
        if e.get("CidrBlock") or e.get("Ipv6CidrBlock")
    )
    return NetworkAcl(
        id=raw["NetworkAclId"],
        vpc_id=raw["VpcId"],
        is_default=bool(raw.get("IsDefault")),
        subnet_ids=tuple(a["SubnetId"] for a in raw.get("Associations") or [] if a.get("SubnetId")),
        entries=entries,
        tags=tags(raw.get("Tags")),
    )


def _permission_rules(group_id: str, egress: bool, perm: Raw) -> list[SecurityGroupRule]:
    rule = partial(
        SecurityGroupRule,
        group_id,
        egress,
        str(perm.get("IpProtocol", "-1")),
        perm.get("FromPort"),
        perm.get("ToPort"),
    )
    rules = [rule(cidr=r["CidrIp"], description=r.get("Description")) for r in perm.get("IpRanges") or []]
    rules += [rule(cidr=r["CidrIpv6"], description=r.get("Description")) for r in perm.get("Ipv6Ranges") or []]
    rules += [
        rule(referenced_group_id=p["GroupId"], description=p.get("Description"))
        for p in perm.get("UserIdGroupPairs") or []
    ]
    rules += [
        rule(prefix_list_id=p["PrefixListId"], description=p.get("Description"))
        for p in perm.get("PrefixListIds") or []
    ]
    return rules


def security_group(raw: Raw) -> SecurityGroup:
    gid = raw["GroupId"]
    rules = [r for p in raw.get("IpPermissions") or [] for r in _permission_rules(gid, False, p)]
    rules += [r for p in raw.get("IpPermissionsEgress") or [] for r in _permission_rules(gid, True, p)]
    return SecurityGroup(
        id=gid,
        vpc_id=raw.get("VpcId", ""),
        name=raw.get("GroupName", ""),
        rules=tuple(rules),
        tags=tags(raw.get("Tags")),
    )


def prefix_list(raw: Raw, entries: Iterable[Raw]) -> PrefixList:
    """DescribeManagedPrefixLists' item and every entry GetManagedPrefixListEntries returned for it."""
    return PrefixList(
        id=raw["PrefixListId"],
        name=str(raw.get("PrefixListName", ""))[:200],
        address_family=str(raw.get("AddressFamily", "IPv4")),
        cidrs=tuple(str(e["Cidr"]) for e in entries if e.get("Cidr")),
        owner_id=raw.get("OwnerId"),
    )


def vpc_endpoint(raw: Raw) -> VpcEndpoint:
    return VpcEndpoint(
        id=raw["VpcEndpointId"],
        vpc_id=raw["VpcId"],
        service_name=raw["ServiceName"],
        endpoint_type=raw.get("VpcEndpointType", "Interface"),
        state=str(raw.get("State", "")).lower(),
        subnet_ids=tuple(raw.get("SubnetIds") or ()),
        group_ids=tuple(g["GroupId"] for g in raw.get("Groups") or []),
        private_dns_enabled=bool(raw.get("PrivateDnsEnabled")),
        policy=policy(raw.get("PolicyDocument")),
        dns_names=tuple(str(d["DnsName"]).lower() for d in raw.get("DnsEntries") or [] if d.get("DnsName")),
        tags=tags(raw.get("Tags")),
    )


def nat_gateway(raw: Raw) -> NatGateway:
    return NatGateway(
        id=raw["NatGatewayId"],
        vpc_id=raw["VpcId"],
        subnet_id=raw["SubnetId"],
        state=raw["State"],
        connectivity=raw.get("ConnectivityType", "public"),
    )


def internet_gateway(raw: Raw) -> InternetGateway:
    attached = tuple(a["VpcId"] for a in raw.get("Attachments") or [] if a.get("State") in ("available", "attached"))
    return InternetGateway(id=raw["InternetGatewayId"], attached_vpc_ids=attached)


def peering(raw: Raw) -> PeeringConnection:
    requester, accepter = raw.get("RequesterVpcInfo") or {}, raw.get("AccepterVpcInfo") or {}
    return PeeringConnection(
        id=raw["VpcPeeringConnectionId"],
        requester_vpc_id=requester.get("VpcId", ""),
        accepter_vpc_id=accepter.get("VpcId", ""),
        status=(raw.get("Status") or {}).get("Code", ""),
        requester_region=requester.get("Region"),
        accepter_region=accepter.get("Region"),
    )


def hosted_zone_record(raw: Raw) -> HostedZoneRecord:
    alias = raw.get("AliasTarget") or {}
    return HostedZoneRecord(
        name=dns.normalised(str(raw["Name"])),
        record_type=raw["Type"],
        alias_target=dns.normalised(str(alias["DNSName"])) if alias.get("DNSName") else None,
        values=tuple(dns.normalised(str(v["Value"])) for v in raw.get("ResourceRecords") or []),
    )


def transit_gateway(raw: Raw) -> TransitGateway:
    options = raw.get("Options") or {}
    return TransitGateway(
        id=raw["TransitGatewayId"],
        state=str(raw.get("State", "")),
        security_group_referencing=options.get("SecurityGroupReferencingSupport") == "enable",
    )


def tgw_attachment(raw: Raw) -> TransitGatewayAttachment:
    """An attachment as DescribeTransitGatewayAttachments has it; a VPC attachment's subnets and options come
    from DescribeTransitGatewayVpcAttachments (`with_vpc_attachment`)."""
    association = raw.get("Association") or {}
    associated = association.get("State") == "associated"
    return TransitGatewayAttachment(
        id=raw["TransitGatewayAttachmentId"],
        transit_gateway_id=raw.get("TransitGatewayId", ""),
        resource_type=str(raw.get("ResourceType", "")),
        resource_id=raw.get("ResourceId"),
        state=str(raw.get("State", "")),
        route_table_id=association.get("TransitGatewayRouteTableId") if associated else None,
        resource_owner_id=raw.get("ResourceOwnerId"),
    )


def with_vpc_attachment(attachment: TransitGatewayAttachment, raw: Raw) -> TransitGatewayAttachment:
    options = raw.get("Options") or {}
    return replace(
        attachment,
        subnet_ids=tuple(raw.get("SubnetIds") or ()),
        appliance_mode=options.get("ApplianceModeSupport") == "enable",
        security_group_referencing=options.get("SecurityGroupReferencingSupport") == "enable",
    )


def tgw_route(raw: Raw) -> TransitGatewayRoute | None:
    """A route of SearchTransitGatewayRoutes, a prefix-list reference's too; None for one with neither a CIDR nor
    a prefix list (a route table announcement's)."""
    if not raw.get("DestinationCidrBlock") and not raw.get("PrefixListId"):
        return None
    return TransitGatewayRoute(
        destination=str(raw.get("DestinationCidrBlock") or ""),
        prefix_list_id=raw.get("PrefixListId") or None,
        attachment_ids=tuple(
            a["TransitGatewayAttachmentId"]
            for a in raw.get("TransitGatewayAttachments") or []
            if a.get("TransitGatewayAttachmentId")
        ),
        state=str(raw.get("State", "")),
        route_type=str(raw.get("Type", "static")),
    )

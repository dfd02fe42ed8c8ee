"""Named situations on the simulated account, shared by the demo, the tests and the benchmarks."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from rotation_doctor.simulated.account import AccountBuilder, Network, tcp

DEMO_SECRET = "prod/orders/db"
CANARY_PASSWORD = "CANARY-7f3a-do-not-print"  # tests look for it in every output


@dataclass
class Orders:
    """A typical private-subnet rotation setup: function in two app subnets, Multi-AZ Postgres in two data subnets."""

    builder: AccountBuilder
    net: Network
    fn_sg: str
    db_sg: str
    app_sg: str
    function_arn: str
    secret_arn: str
    db: dict[str, Any]
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def fn_subnets(self) -> list[str]:
        return [self.net.subnets["app-a"], self.net.subnets["app-b"]]

    @property
    def db_subnets(self) -> list[str]:
        return [self.net.subnets["data-a"], self.net.subnets["data-b"]]


def orders(
    b: AccountBuilder,
    *,
    db_admits_function: bool = False,
    endpoint: bool = False,
    secret_name: str = DEMO_SECRET,
    function_env: dict[str, str] | None = None,
    linked: bool = True,
    dual_stack: bool = False,
) -> Orders:
    """The demo's account. As built by default it is broken twice over: the private subnets have no way to
    Secrets Manager, and the database's group admits only the application's group, not the function's.
    `linked`: the database's owners tagged it rotation-doctor:secrets with the secret's name.
    `dual_stack`: the app subnets are dual-stack with ::/0 to an egress-only internet gateway, and the function
    calls Secrets Manager's dual-stack name over IPv6 (Ipv6AllowedForDualStack, AWS_USE_DUALSTACK_ENDPOINT)."""
    net = b.network("10.20.0.0/16", name="orders")
    for name, cidr, zone in (
        ("app-a", "10.20.1.0/24", "a"),
        ("app-b", "10.20.2.0/24", "b"),
        ("data-a", "10.20.11.0/24", "a"),
        ("data-b", "10.20.12.0/24", "b"),
        ("public-a", "10.20.101.0/24", "a"),
    ):
        b.subnet(net, name, cidr, zone)
    b.route_table(net, "private", ["app-a", "app-b"])
    b.route_table(net, "data", ["data-a", "data-b"])
    public = b.route_table(net, "public", ["public-a"])
    b.route(public, "0.0.0.0/0", GatewayId=b.internet_gateway(net))
    app_sg = b.security_group(net, "orders-app")
    fn_sg = b.security_group(net, "orders-rotation")
    db_ingress = [tcp(5432, group=app_sg, description="orders app")]
    if db_admits_function:
        db_ingress.append(tcp(5432, group=fn_sg, description="rotation"))
    db_sg = b.security_group(net, "orders-db", ingress=db_ingress)
    b.db_subnet_group(net, "orders-data", ["data-a", "data-b"])
    db = b.rds_instance("orders-db", "orders-data", [db_sg], multi_az=True, tags=_link(linked, secret_name))
    extra: dict[str, str] = {}
    if dual_stack:
        b.dual_stack(net, ["app-a", "app-b"])
        extra["eigw"] = b.egress_only_gateway(net)
        b.route_v6(net.tables["private"], "::/0", EgressOnlyInternetGatewayId=extra["eigw"])
        # Groups made before the VPC had IPv6 have no IPv6 egress (as in AWS): the function's is given HTTPS out.
        b.ec2.authorize_security_group_egress(
            GroupId=fn_sg, IpPermissions=[tcp(443, cidr_ipv6="::/0", description="Secrets Manager over IPv6")]
        )
        function_env = {**(function_env or {}), "AWS_USE_DUALSTACK_ENDPOINT": "true"}
    if endpoint:
        endpoint_sg = b.security_group(
            net, "secretsmanager-endpoint", ingress=[tcp(443, cidr="10.20.0.0/16", description="VPC")]
        )
        extra["endpoint_sg"] = endpoint_sg
        extra["endpoint"] = b.secrets_manager_endpoint(net, ["app-a", "app-b"], [endpoint_sg])
    fn = b.rotation_function(
        "orders-db-rotation",
        subnets=[net.subnets["app-a"], net.subnets["app-b"]],
        groups=[fn_sg],
        env=function_env,
        ipv6_allowed=dual_stack,
    )
    secret = b.rotated_secret(secret_name, {**db, "username": "orders_app", "password": CANARY_PASSWORD}, fn)
    return Orders(b, net, fn_sg, db_sg, app_sg, fn, secret, db, extra)


def _link(linked: bool, secret_name: str) -> dict[str, str]:
    return {"rotation-doctor:secrets": secret_name} if linked else {}


def peered_database(
    b: AccountBuilder, o: Orders, *, routes: str = "both", secret_name: str = "prod/ledger/db"
) -> dict[str, Any]:
    """A Multi-AZ database in a second VPC (10.40.0.0/16), peered with the orders VPC, admitting the function's
    group. `routes`: "both" ways, only "there" (no route back), "none", or "tgw" (both ways to a transit gateway that
    neither VPC is attached to; `tgw_database` builds one that works)."""
    peer = b.network("10.40.0.0/16", name="data")
    b.subnet(peer, "db-a", "10.40.1.0/24", "a")
    b.subnet(peer, "db-b", "10.40.2.0/24", "b")
    table = b.route_table(peer, "db", ["db-a", "db-b"])
    db_sg = b.security_group(peer, "peer-db", ingress=[tcp(5432, group=o.fn_sg)])
    b.db_subnet_group(peer, "peer-data", ["db-a", "db-b"])
    db = b.rds_instance("ledger-db", "peer-data", [db_sg], multi_az=True, tags=_link(True, secret_name))
    pcx = b.peering(o.net, peer)
    if routes == "tgw":
        tgw = b.ec2.create_transit_gateway()["TransitGateway"]["TransitGatewayId"]
        b.route(o.net.tables["private"], "10.40.0.0/16", TransitGatewayId=tgw)
        b.route(table, "10.20.0.0/16", TransitGatewayId=tgw)
    if routes in ("both", "there"):
        b.route(o.net.tables["private"], "10.40.0.0/16", VpcPeeringConnectionId=pcx)
    if routes == "both":
        b.route(table, "10.20.0.0/16", VpcPeeringConnectionId=pcx)
    b.rotated_secret(secret_name, {**db, "password": CANARY_PASSWORD}, o.function_arn)
    return {"vpc": peer.vpc, "peering": pcx, "table": table, "db_sg": db_sg}


def prefix_list_paths(b: AccountBuilder, o: Orders) -> dict[str, str]:
    """The function's group reaches the database only through a prefix-list rule (the data subnets' list), and the
    database's group admits the function only through another (the app subnets' list). Build `o` with
    `db_admits_function=False, endpoint=True`: healthy, judged natively."""
    data_list = b.prefix_list("orders-data", ["10.20.11.0/24", "10.20.12.0/24"])
    callers_list = b.prefix_list("orders-rotation-callers", ["10.20.1.0/24", "10.20.2.0/24"])
    ec2 = b.ec2
    ec2.revoke_security_group_egress(
        GroupId=o.fn_sg, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )
    ec2.authorize_security_group_egress(
        GroupId=o.fn_sg,
        IpPermissions=[
            tcp(443, cidr="10.20.0.0/16", description="Secrets Manager endpoint"),
            tcp(5432, prefix_list=data_list, description="orders data subnets"),
        ],
    )
    ec2.authorize_security_group_ingress(
        GroupId=o.db_sg, IpPermissions=[tcp(5432, prefix_list=callers_list, description="rotation callers")]
    )
    return {"data_list": data_list, "callers_list": callers_list}


def remove_from_prefix_list(b: AccountBuilder, prefix_list: str, cidrs: list[str]) -> None:
    """Take `cidrs` out of a customer-managed list, as a change to the list (a new version) would."""
    current = b.ec2.describe_managed_prefix_lists(PrefixListIds=[prefix_list])["PrefixLists"][0]
    b.ec2.modify_managed_prefix_list(
        PrefixListId=prefix_list, CurrentVersion=current["Version"], RemoveEntries=[{"Cidr": c} for c in cidrs]
    )


def tgw_database(
    b: AccountBuilder, o: Orders, *, breaks: str | None = None, secret_name: str = "prod/ledger/db"
) -> dict[str, Any]:
    """A Multi-AZ database in a second VPC (10.40.0.0/16) linked to the orders VPC by a transit gateway, hub and
    spoke: each VPC's attachment (a subnet in both zones) is associated with its own transit gateway route table,
    which routes the other VPC's block to its attachment. The database's group admits the orders VPC's block (a
    group reference does not cross a transit gateway). `breaks`: "return" (the data side's table has no route
    back), "blackhole" (the apps side's route to the database is a blackhole), or None (healthy)."""
    data = b.network("10.40.0.0/16", name="data")
    b.subnet(data, "db-a", "10.40.1.0/24", "a")
    b.subnet(data, "db-b", "10.40.2.0/24", "b")
    db_table = b.route_table(data, "db", ["db-a", "db-b"])
    db_sg = b.security_group(data, "ledger-db", ingress=[tcp(5432, cidr=o.net.cidr, description="orders VPC")])
    b.db_subnet_group(data, "ledger-data", ["db-a", "db-b"])
    db = b.rds_instance("ledger-db", "ledger-data", [db_sg], multi_az=True, tags=_link(True, secret_name))
    ec2 = b.ec2
    # Hub and spoke: no default route table, each attachment gets its own.
    tgw = ec2.create_transit_gateway(
        Options={"DefaultRouteTableAssociation": "disable", "DefaultRouteTablePropagation": "disable"}
    )["TransitGateway"]["TransitGatewayId"]
    attachments, tables = {}, {}
    for name, net, subnets in (("apps", o.net, o.fn_subnets), ("data", data, list(data.subnets.values()))):
        attachment = ec2.create_transit_gateway_vpc_attachment(TransitGatewayId=tgw, VpcId=net.vpc, SubnetIds=subnets)
        attachments[name] = attachment["TransitGatewayVpcAttachment"]["TransitGatewayAttachmentId"]
        tables[name] = ec2.create_transit_gateway_route_table(TransitGatewayId=tgw)["TransitGatewayRouteTable"][
            "TransitGatewayRouteTableId"
        ]
        ec2.associate_transit_gateway_route_table(
            TransitGatewayRouteTableId=tables[name], TransitGatewayAttachmentId=attachments[name]
        )
    if breaks == "blackhole":
        ec2.create_transit_gateway_route(
            TransitGatewayRouteTableId=tables["apps"], DestinationCidrBlock=data.cidr, Blackhole=True
        )
    else:
        ec2.create_transit_gateway_route(
            TransitGatewayRouteTableId=tables["apps"],
            DestinationCidrBlock=data.cidr,
            TransitGatewayAttachmentId=attachments["data"],
        )
    if breaks != "return":
        ec2.create_transit_gateway_route(
            TransitGatewayRouteTableId=tables["data"],
            DestinationCidrBlock=o.net.cidr,
            TransitGatewayAttachmentId=attachments["apps"],
        )
    b.route(o.net.tables["private"], data.cidr, TransitGatewayId=tgw)
    b.route(db_table, o.net.cidr, TransitGatewayId=tgw)
    b.rotated_secret(secret_name, {**db, "password": CANARY_PASSWORD}, o.function_arn)
    return {"vpc": data.vpc, "tgw": tgw, "attachments": attachments, "tgw_tables": tables, "db_sg": db_sg}


def endpoint_zone(b: AccountBuilder, endpoint: str, zone_vpc: str, spoke_vpc: str | None) -> str:
    """A private hosted zone for Secrets Manager's standard name, made by `b`'s account in `zone_vpc`, associated with
    `spoke_vpc` too (None: not associated), with an A alias to `endpoint`'s regional DNS name: what a centralized
    endpoint's owners build. Returns the zone's id as Route 53 answers it (`/hostedzone/...`)."""
    entry = b.ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint])["VpcEndpoints"][0]["DnsEntries"][0]
    name = f"secretsmanager.{b.region}.amazonaws.com"
    r53 = b.clients.route53
    zone = r53.create_hosted_zone(
        Name=name,
        CallerReference=f"central-{endpoint}",
        HostedZoneConfig={"PrivateZone": True},
        VPC={"VPCRegion": b.region, "VPCId": zone_vpc},  # type: ignore[typeddict-item]
    )["HostedZone"]["Id"]
    if spoke_vpc is not None:
        # Across accounts AWS wants CreateVPCAssociationAuthorization by the owner first; moto associates directly.
        r53.associate_vpc_with_hosted_zone(HostedZoneId=zone, VPC={"VPCRegion": b.region, "VPCId": spoke_vpc})  # type: ignore[typeddict-item]
    alias: dict[str, Any] = {"Name": name, "Type": "A"}
    alias["AliasTarget"] = {
        "HostedZoneId": entry["HostedZoneId"],
        "DNSName": entry["DnsName"],
        "EvaluateTargetHealth": False,
    }
    r53.change_resource_record_sets(
        HostedZoneId=zone,
        ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": alias}]},  # type: ignore[typeddict-item]
    )
    return str(zone)


def central_endpoint(
    b: AccountBuilder, o: Orders, *, via: str = "peering", admits: str = "cidr", breaks: str | None = None
) -> dict[str, Any]:
    """A centralized Secrets Manager endpoint: one interface endpoint, private DNS off, in a shared-services VPC
    (10.50.0.0/16, a subnet in each zone); a private hosted zone `secretsmanager.REGION.amazonaws.com` with an alias
    to the endpoint's regional DNS name, associated with the shared VPC and the orders VPC; the VPCs linked by a
    peering or (`via="tgw"`) a transit gateway, hub and spoke as in `tgw_database`. Build `o` without an endpoint
    and without a NAT route: healthy as built. `admits`: the endpoint's group admits the orders VPC's block
    ("cidr"), the function's group ("group": works across a same-region peering, not across a transit gateway) or
    nothing ("none"). `breaks`: "zone" (not associated with the orders VPC), "deleted" (the endpoint deleted after
    the alias was made), "there" or "back" (the route from the orders VPC, or back to it, missing), "dns" (DNS
    support off in the orders VPC), or None."""
    shared = b.network("10.50.0.0/16", name="shared-services")
    b.subnet(shared, "svc-a", "10.50.1.0/24", "a")
    b.subnet(shared, "svc-b", "10.50.2.0/24", "b")
    shared_table = b.route_table(shared, "svc", ["svc-a", "svc-b"])
    ingress = {
        "cidr": [tcp(443, cidr=o.net.cidr, description="orders VPC")],
        "group": [tcp(443, group=o.fn_sg, description="orders rotation")],
        "none": [],
    }[admits]
    endpoint_sg = b.security_group(shared, "central-secretsmanager", ingress=ingress)
    endpoint = b.secrets_manager_endpoint(shared, ["svc-a", "svc-b"], [endpoint_sg], private_dns=False)
    zone = endpoint_zone(b, endpoint, shared.vpc, None if breaks == "zone" else o.net.vpc)
    if breaks == "deleted":
        b.ec2.delete_vpc_endpoints(VpcEndpointIds=[endpoint])
    if breaks == "dns":
        b.ec2.modify_vpc_attribute(VpcId=o.net.vpc, EnableDnsSupport={"Value": False})
    found: dict[str, Any] = {"vpc": shared.vpc, "endpoint": endpoint, "endpoint_sg": endpoint_sg, "zone": zone}
    if via == "tgw":
        ec2 = b.ec2
        tgw = ec2.create_transit_gateway(
            Options={"DefaultRouteTableAssociation": "disable", "DefaultRouteTablePropagation": "disable"}
        )["TransitGateway"]["TransitGatewayId"]
        attachments, tables = {}, {}
        for end, net, subnets in (("apps", o.net, o.fn_subnets), ("shared", shared, list(shared.subnets.values()))):
            made = ec2.create_transit_gateway_vpc_attachment(TransitGatewayId=tgw, VpcId=net.vpc, SubnetIds=subnets)
            attachments[end] = made["TransitGatewayVpcAttachment"]["TransitGatewayAttachmentId"]
            tables[end] = ec2.create_transit_gateway_route_table(TransitGatewayId=tgw)["TransitGatewayRouteTable"][
                "TransitGatewayRouteTableId"
            ]
            ec2.associate_transit_gateway_route_table(
                TransitGatewayRouteTableId=tables[end], TransitGatewayAttachmentId=attachments[end]
            )
        ec2.create_transit_gateway_route(
            TransitGatewayRouteTableId=tables["apps"],
            DestinationCidrBlock=shared.cidr,
            TransitGatewayAttachmentId=attachments["shared"],
        )
        ec2.create_transit_gateway_route(
            TransitGatewayRouteTableId=tables["shared"],
            DestinationCidrBlock=o.net.cidr,
            TransitGatewayAttachmentId=attachments["apps"],
        )
        hop: dict[str, Any] = {"TransitGatewayId": tgw}
        found |= {"tgw": tgw, "attachments": attachments, "tgw_tables": tables}
    else:
        pcx = b.peering(o.net, shared)
        hop = {"VpcPeeringConnectionId": pcx}
        found["peering"] = pcx
    if breaks != "there":
        b.route(o.net.tables["private"], shared.cidr, **hop)
    if breaks != "back":
        b.route(shared_table, o.net.cidr, **hop)
    return found


EGRESS_BREAKS = (
    "spoke_route",  # the function subnets' table has no default route
    "tgw_out",  # the spoke's transit gateway route table has no 0.0.0.0/0
    "tgw_back",  # the egress attachment's transit gateway route table has no route back to the spoke
    "blackhole",  # the spoke's transit gateway route to 0.0.0.0/0 is a blackhole
    "no_nat",  # the egress attachment's subnets have no default route (to a NAT gateway)
    "nat_no_igw",  # the NAT gateways' public subnets have no default route to the internet gateway
    "no_return",  # the public subnets' table has no route back to the spoke's block
    "acl",  # the public subnets' network ACL denies the spoke's requests
    "appliance",  # appliance mode on the egress attachment: a firewall's path
    "gwlb",  # the egress attachment's subnets route 0.0.0.0/0 to a Gateway Load Balancer endpoint (inspection)
)
# A Gateway Load Balancer endpoint service's name, as a firewall vendor's or AWS Network Firewall's would be.
FIREWALL_SERVICE = "com.amazonaws.vpce.{region}.vpce-svc-0a1b2c3d4e5f60718"


def centralized_egress(b: AccountBuilder, o: Orders, *, breaks: str | None = None) -> dict[str, Any]:
    """Centralized egress ("Centralized egress to internet", AWS's multi-VPC whitepaper): the orders VPC's function
    subnets send 0.0.0.0/0 to a transit gateway; its attachment's route table sends 0.0.0.0/0 to an egress VPC
    (10.100.0.0/16) whose attachment subnets (one per zone) route to a NAT gateway in their zone's public subnet; the
    public subnets route 0.0.0.0/0 to the internet gateway and the orders block back to the transit gateway, and the
    egress attachment's route table routes the orders block back to the orders attachment. `breaks`: one of
    `EGRESS_BREAKS`, or None (healthy)."""
    egress = b.network("10.100.0.0/16", name="egress")
    for name, cidr, zone in (
        ("tgw-a", "10.100.0.0/28", "a"),
        ("tgw-b", "10.100.0.16/28", "b"),
        ("public-a", "10.100.1.0/24", "a"),
        ("public-b", "10.100.2.0/24", "b"),
    ):
        b.subnet(egress, name, cidr, zone)
    public = b.route_table(egress, "public", ["public-a", "public-b"])
    igw = b.internet_gateway(egress)
    nats = {zone: b.nat_gateway(egress, f"public-{zone}") for zone in ("a", "b")}
    ec2 = b.ec2
    tgw = ec2.create_transit_gateway(
        Options={"DefaultRouteTableAssociation": "disable", "DefaultRouteTablePropagation": "disable"}
    )["TransitGateway"]["TransitGatewayId"]
    attachments, tables = {}, {}
    for name, net, subnets in (
        ("spoke", o.net, o.fn_subnets),
        ("egress", egress, [egress.subnets["tgw-a"], egress.subnets["tgw-b"]]),
    ):
        appliance = breaks == "appliance" and name == "egress"
        attachment = ec2.create_transit_gateway_vpc_attachment(
            TransitGatewayId=tgw,
            VpcId=net.vpc,
            SubnetIds=subnets,
            Options={"ApplianceModeSupport": "enable" if appliance else "disable"},
        )
        attachments[name] = attachment["TransitGatewayVpcAttachment"]["TransitGatewayAttachmentId"]
        tables[name] = ec2.create_transit_gateway_route_table(TransitGatewayId=tgw)["TransitGatewayRouteTable"][
            "TransitGatewayRouteTableId"
        ]
        ec2.associate_transit_gateway_route_table(
            TransitGatewayRouteTableId=tables[name], TransitGatewayAttachmentId=attachments[name]
        )
    if breaks == "blackhole":
        ec2.create_transit_gateway_route(
            TransitGatewayRouteTableId=tables["spoke"], DestinationCidrBlock="0.0.0.0/0", Blackhole=True
        )
    elif breaks != "tgw_out":
        ec2.create_transit_gateway_route(
            TransitGatewayRouteTableId=tables["spoke"],
            DestinationCidrBlock="0.0.0.0/0",
            TransitGatewayAttachmentId=attachments["egress"],
        )
    if breaks != "tgw_back":
        ec2.create_transit_gateway_route(
            TransitGatewayRouteTableId=tables["egress"],
            DestinationCidrBlock=o.net.cidr,
            TransitGatewayAttachmentId=attachments["spoke"],
        )
    for zone in ("a", "b"):
        table = b.route_table(egress, f"tgw-{zone}", [f"tgw-{zone}"])
        if breaks == "gwlb":
            firewall = ec2.create_vpc_endpoint(
                VpcEndpointType="GatewayLoadBalancer",
                VpcId=egress.vpc,
                ServiceName=FIREWALL_SERVICE.format(region=b.region),
                SubnetIds=[egress.subnets[f"tgw-{zone}"]],
            )["VpcEndpoint"]["VpcEndpointId"]
            b.route(table, "0.0.0.0/0", VpcEndpointId=firewall)
        elif breaks != "no_nat":
            b.route(table, "0.0.0.0/0", NatGatewayId=nats[zone])
    if breaks != "nat_no_igw":
        b.route(public, "0.0.0.0/0", GatewayId=igw)
    if breaks != "no_return":
        b.route(public, o.net.cidr, TransitGatewayId=tgw)
    if breaks == "acl":
        b.nacl(
            egress,
            ["public-a", "public-b"],
            [
                {
                    "RuleNumber": 100,
                    "Protocol": "6",
                    "RuleAction": "deny",
                    "Egress": False,
                    "CidrBlock": o.net.cidr,
                    "PortRange": {"From": 443, "To": 443},
                },
                {"RuleNumber": 200, "Protocol": "-1", "RuleAction": "allow", "Egress": False, "CidrBlock": "0.0.0.0/0"},
                {"RuleNumber": 200, "Protocol": "-1", "RuleAction": "allow", "Egress": True, "CidrBlock": "0.0.0.0/0"},
            ],
        )
    if breaks != "spoke_route":
        b.route(o.net.tables["private"], "0.0.0.0/0", TransitGatewayId=tgw)
    return {
        "vpc": egress.vpc,
        "tgw": tgw,
        "attachments": attachments,
        "tgw_tables": tables,
        "nats": nats,
        "igw": igw,
        "public_table": public,
        "subnets": dict(egress.subnets),
    }


def proxied_database(
    b: AccountBuilder,
    o: Orders,
    *,
    admits_function: bool = True,
    admits_proxy: bool = True,
    secret_name: str = "prod/orders/via-proxy",
) -> dict[str, Any]:
    """An RDS Proxy in the orders data subnets in front of orders-db, and a secret whose host is the proxy. The
    proxy's group admits the function's (`admits_function`: the function's leg); the database's group admits the
    proxy's (`admits_proxy`: the proxy's own leg to its target)."""
    proxy_sg = b.security_group(
        o.net, "orders-proxy", ingress=[tcp(5432, group=o.fn_sg if admits_function else o.app_sg)]
    )
    if admits_proxy:
        b.ec2.authorize_security_group_ingress(
            GroupId=o.db_sg, IpPermissions=[tcp(5432, group=proxy_sg, description="orders proxy")]
        )
    rds = b.clients.rds
    proxy = rds.create_db_proxy(
        DBProxyName="orders-proxy",
        EngineFamily="POSTGRESQL",
        RoleArn=b.role(),
        Auth=[{"AuthScheme": "SECRETS", "SecretArn": o.secret_arn}],
        VpcSubnetIds=o.db_subnets,
        VpcSecurityGroupIds=[proxy_sg],
    )["DBProxy"]
    rds.register_db_proxy_targets(DBProxyName="orders-proxy", DBInstanceIdentifiers=[o.db["dbInstanceIdentifier"]])
    secret = b.rotated_secret(
        secret_name, {"engine": "postgres", "host": proxy["Endpoint"], "password": CANARY_PASSWORD}, o.function_arn
    )
    return {"proxy_sg": proxy_sg, "proxy": proxy["DBProxyName"], "secret": secret}


def healthy_with_ledger(b: AccountBuilder, *, ledger_secret: str = "prod/ledger/db") -> Orders:
    """The demo's account healthy, as a platform team keeps it (what `what-if` plans are tried against): the
    function admitted by the database and served by a Secrets Manager endpoint, the app subnets behind their own
    allow-all network ACL (`extra["acl"]`), and a second secret, for the ledger database in a peered VPC, rotated
    by the same function (`extra["ledger_vpc"]`, `extra["peering"]`)."""
    o = orders(b, db_admits_function=True, endpoint=True)
    allow_all = [
        {"RuleNumber": 100, "Protocol": "-1", "RuleAction": "allow", "Egress": egress, "CidrBlock": "0.0.0.0/0"}
        for egress in (False, True)
    ]
    o.extra["acl"] = b.nacl(o.net, ["app-a", "app-b"], allow_all)
    ledger = peered_database(b, o, secret_name=ledger_secret)
    o.extra["ledger_vpc"], o.extra["peering"] = ledger["vpc"], ledger["peering"]
    return o


def seed_failed_rotation_logs(b: AccountBuilder, function_name: str) -> None:
    """What a rotation function that cannot reach Secrets Manager writes, as AWS's templates write it."""
    logs = b.clients.logs
    group = f"/aws/lambda/{function_name}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="2026/11/29/[$LATEST]0a1b2c")
    now = int(time.time() * 1000)
    lines = [
        "START RequestId: 6f1c Version: $LATEST",
        "[ERROR] ConnectTimeoutError: Connect timeout on endpoint URL: "
        '"https://secretsmanager.us-east-1.amazonaws.com/"',
        "END RequestId: 6f1c",
        "REPORT RequestId: 6f1c Duration: 30000.00 ms",
        "Task timed out after 30.03 seconds",
    ]
    logs.put_log_events(
        logGroupName=group,
        logStreamName="2026/11/29/[$LATEST]0a1b2c",
        logEvents=[{"timestamp": now - 60_000 + i, "message": m} for i, m in enumerate(lines)],
    )


def rotation_failed_event(secret_arn: str, function_arn: str, region: str, account: str) -> dict[str, Any]:
    """A RotationFailed event as EventBridge delivers it (shape of tests/events/rotation_failed_eventbridge.json)."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {
        "version": "0",
        "id": "5b3c8c9e-1f0a-4a55-9d7e-0c1d2e3f4a5b",
        "detail-type": "AWS Service Event via CloudTrail",
        "source": "aws.secretsmanager",
        "account": account,
        "time": now,
        "region": region,
        "resources": [],
        "detail": {
            "eventVersion": "1.08",
            "userIdentity": {"accountId": account, "invokedBy": "secretsmanager.amazonaws.com"},
            "eventTime": now,
            "eventSource": "secretsmanager.amazonaws.com",
            "eventName": "RotationFailed",
            "awsRegion": region,
            "sourceIPAddress": "secretsmanager.amazonaws.com",
            "userAgent": "secretsmanager.amazonaws.com",
            "errorMessage": f"Error when executing lambda {function_arn} during createSecret step",
            "requestParameters": None,
            "responseElements": None,
            "additionalEventData": {"SecretId": secret_arn},
            "requestID": f"Rotation-{secret_arn}-2d0c6a1e-1b7f-4a4e-8a51-6c2b1f0e9d33",
            "eventID": "9c1e5d2a-7b3f-4c8e-a1d0-2e4f6a8b0c1d",
            "readOnly": False,
            "eventType": "AwsServiceEvent",
            "managementEvent": True,
            "recipientAccountId": account,
            "eventCategory": "Management",
        },
    }

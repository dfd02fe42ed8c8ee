"""Build realistic account topologies through the AWS APIs (against moto), the way a user's IaC would."""

from __future__ import annotations

import io
import ipaddress
import json
import zipfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

from rotation_doctor.collect.aws import AwsClients

if TYPE_CHECKING:
    from typing import Unpack

    from mypy_boto3_ec2.type_defs import IpPermissionTypeDef

ACCOUNT = "123456789012"
_ALL = "-1"


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("index.py", "def handler(event, context):\n    return event\n")
    return buf.getvalue()


def tcp(
    port: int,
    *,
    cidr: str | None = None,
    group: str | None = None,
    description: str = "",
    prefix_list: str | None = None,
    cidr_ipv6: str | None = None,
) -> IpPermissionTypeDef:
    """An IpPermissions entry for one TCP port, to a CIDR, a group, a managed prefix list or an IPv6 CIDR."""
    perm: IpPermissionTypeDef = {"IpProtocol": "tcp", "FromPort": port, "ToPort": port}
    if cidr:
        perm["IpRanges"] = [{"CidrIp": cidr, "Description": description or "test"}]
    if prefix_list:
        perm["PrefixListIds"] = [{"PrefixListId": prefix_list, "Description": description or "test"}]
    if cidr_ipv6:
        perm["Ipv6Ranges"] = [{"CidrIpv6": cidr_ipv6, "Description": description or "test"}]
    if group:
        perm["UserIdGroupPairs"] = [{"GroupId": group, "Description": description or "test"}]
    return perm


class RouteTarget(TypedDict, total=False):
    """Where a route leads (one of CreateRoute's targets)."""

    GatewayId: str
    NatGatewayId: str
    TransitGatewayId: str
    VpcPeeringConnectionId: str
    EgressOnlyInternetGatewayId: str
    VpcEndpointId: str  # a Gateway Load Balancer endpoint (a firewall)


@dataclass
class Network:
    vpc: str
    cidr: str
    subnets: dict[str, str] = field(default_factory=dict)  # name -> subnet id
    tables: dict[str, str] = field(default_factory=dict)  # name -> route table id


class AccountBuilder:
    """Thin helpers over boto3 calls; every resource is created exactly as a user would create it."""

    def __init__(self, clients: AwsClients, account: str = ACCOUNT) -> None:
        self.clients = clients
        self.account = account  # the account the clients are of (a member of a simulated organization: another)
        self.region = str(clients.region)
        self.ec2 = clients.ec2
        self._role_arn: str | None = None

    # ----- network -----------------------------------------------------------------------

    def network(self, cidr: str = "10.0.0.0/16", *, name: str = "app", dns: bool = True) -> Network:
        vpc = self.ec2.create_vpc(
            CidrBlock=cidr,
            TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": name}]}],
        )["Vpc"]["VpcId"]
        self.ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsSupport={"Value": dns})
        self.ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": dns})
        return Network(vpc, cidr)

    def subnet(self, net: Network, name: str, cidr: str, zone: str) -> str:
        subnet = self.ec2.create_subnet(
            VpcId=net.vpc,
            CidrBlock=cidr,
            AvailabilityZone=f"{self.region}{zone}",
            TagSpecifications=[{"ResourceType": "subnet", "Tags": [{"Key": "Name", "Value": name}]}],
        )
        net.subnets[name] = str(subnet["Subnet"]["SubnetId"])
        return net.subnets[name]

    def route_table(self, net: Network, name: str, subnets: list[str]) -> str:
        table = str(self.ec2.create_route_table(VpcId=net.vpc)["RouteTable"]["RouteTableId"])
        for subnet in subnets:
            current = self.ec2.describe_route_tables(
                Filters=[{"Name": "association.subnet-id", "Values": [net.subnets[subnet]]}]
            )["RouteTables"]
            existing = [
                a["RouteTableAssociationId"]
                for t in current
                for a in t["Associations"]
                if a.get("SubnetId") == net.subnets[subnet]
            ]
            if existing:  # AWS allows one explicit association per subnet: move it, as a user would
                self.ec2.replace_route_table_association(AssociationId=existing[0], RouteTableId=table)
            else:
                self.ec2.associate_route_table(RouteTableId=table, SubnetId=net.subnets[subnet])
        net.tables[name] = table
        return table

    def internet_gateway(self, net: Network) -> str:
        igw = str(self.ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"])
        self.ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=net.vpc)
        return igw

    def nat_gateway(self, net: Network, subnet: str) -> str:
        allocation = self.ec2.allocate_address(Domain="vpc")["AllocationId"]
        return str(
            self.ec2.create_nat_gateway(SubnetId=net.subnets[subnet], AllocationId=allocation)["NatGateway"][
                "NatGatewayId"
            ]
        )

    def route(self, table: str, cidr: str, **target: Unpack[RouteTarget]) -> None:
        self.ec2.create_route(RouteTableId=table, DestinationCidrBlock=cidr, **target)

    def dual_stack(self, net: Network, subnets: list[str]) -> dict[str, str]:
        """Give the VPC an Amazon IPv6 /56 and each named subnet a /64 of it (dual-stack subnets); returns the
        subnets' IPv6 blocks by name. AWS adds IPv6 allow-all rules (101) to the default network ACL when the
        VPC gets its block; moto does not (docs/moto.md), so they are added here as AWS would."""
        self.ec2.associate_vpc_cidr_block(VpcId=net.vpc, AmazonProvidedIpv6CidrBlock=True)
        vpc = self.ec2.describe_vpcs(VpcIds=[net.vpc])["Vpcs"][0]
        block = ipaddress.ip_network(vpc["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"])
        halves = block.subnets(new_prefix=64)
        next(halves)  # the first /64 stays free, as a user would keep it
        blocks = {}
        for name in subnets:
            cidr = str(next(halves))
            self.ec2.associate_subnet_cidr_block(SubnetId=net.subnets[name], Ipv6CidrBlock=cidr)
            blocks[name] = cidr
        acls = self.ec2.describe_network_acls(
            Filters=[{"Name": "vpc-id", "Values": [net.vpc]}, {"Name": "default", "Values": ["true"]}]
        )["NetworkAcls"]
        for acl in acls:
            if not any(e.get("Ipv6CidrBlock") for e in acl.get("Entries", [])):
                for egress in (True, False):
                    self.ec2.create_network_acl_entry(
                        NetworkAclId=acl["NetworkAclId"],
                        RuleNumber=101,
                        Protocol=_ALL,
                        RuleAction="allow",
                        Egress=egress,
                        Ipv6CidrBlock="::/0",
                    )
        return blocks

    def egress_only_gateway(self, net: Network) -> str:
        made = self.ec2.create_egress_only_internet_gateway(VpcId=net.vpc)["EgressOnlyInternetGateway"]
        return str(made["EgressOnlyInternetGatewayId"])

    def route_v6(self, table: str, cidr: str, **target: Unpack[RouteTarget]) -> None:
        self.ec2.create_route(RouteTableId=table, DestinationIpv6CidrBlock=cidr, **target)

    def prefix_list(self, name: str, cidrs: list[str], *, family: str = "IPv4") -> str:
        """A customer-managed prefix list holding `cidrs`."""
        made = self.ec2.create_managed_prefix_list(
            PrefixListName=name,
            AddressFamily=family,
            MaxEntries=max(len(cidrs), 5),
            Entries=[{"Cidr": c, "Description": name} for c in cidrs],
        )
        return str(made["PrefixList"]["PrefixListId"])

    def security_group(
        self,
        net: Network,
        name: str,
        *,
        ingress: list[IpPermissionTypeDef] | None = None,
        egress: list[IpPermissionTypeDef] | None = None,
    ) -> str:
        """A group; `egress=None` keeps AWS's default allow-all egress, a list replaces it."""
        group = self.ec2.create_security_group(VpcId=net.vpc, GroupName=name, Description=name)["GroupId"]
        if ingress:
            self.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=ingress)
        if egress is not None:
            self.ec2.revoke_security_group_egress(
                GroupId=group, IpPermissions=[{"IpProtocol": _ALL, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
            )
            if egress:
                self.ec2.authorize_security_group_egress(GroupId=group, IpPermissions=egress)
        return str(group)

    def secrets_manager_endpoint(
        self,
        net: Network,
        subnets: list[str],
        groups: list[str],
        *,
        private_dns: bool = True,
        policy: dict[str, Any] | None = None,
    ) -> str:
        params: dict[str, Any] = {
            "VpcEndpointType": "Interface",
            "VpcId": net.vpc,
            "ServiceName": f"com.amazonaws.{self.region}.secretsmanager",
            "SubnetIds": [net.subnets[s] for s in subnets],
            "SecurityGroupIds": groups,
            "PrivateDnsEnabled": private_dns,
        }
        if policy is not None:
            params["PolicyDocument"] = json.dumps(policy)
        return str(self.ec2.create_vpc_endpoint(**params)["VpcEndpoint"]["VpcEndpointId"])

    def peering(self, a: Network, b: Network) -> str:
        pcx = self.ec2.create_vpc_peering_connection(VpcId=a.vpc, PeerVpcId=b.vpc)["VpcPeeringConnection"]
        self.ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx["VpcPeeringConnectionId"])
        return str(pcx["VpcPeeringConnectionId"])

    def nacl(self, net: Network, subnets: list[str], entries: list[dict[str, Any]]) -> str:
        acl = self.ec2.create_network_acl(VpcId=net.vpc)["NetworkAcl"]["NetworkAclId"]
        for entry in entries:
            self.ec2.create_network_acl_entry(NetworkAclId=acl, **entry)
        current = self.ec2.describe_network_acls(
            Filters=[{"Name": "association.subnet-id", "Values": [net.subnets[s] for s in subnets]}]
        )
        for old in current["NetworkAcls"]:
            for assoc in old["Associations"]:
                if assoc["SubnetId"] in {net.subnets[s] for s in subnets}:
                    self.ec2.replace_network_acl_association(
                        AssociationId=assoc["NetworkAclAssociationId"], NetworkAclId=acl
                    )
        return str(acl)

    # ----- databases ---------------------------------------------------------------------

    def db_subnet_group(self, net: Network, name: str, subnets: list[str]) -> str:
        self.clients.rds.create_db_subnet_group(
            DBSubnetGroupName=name, DBSubnetGroupDescription=name, SubnetIds=[net.subnets[s] for s in subnets]
        )
        return name

    def rds_instance(
        self,
        identifier: str,
        subnet_group: str,
        groups: list[str],
        *,
        engine: str = "postgres",
        port: int = 5432,
        multi_az: bool = False,
        public: bool = False,
        tags: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        made = self.clients.rds.create_db_instance(
            Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
            DBInstanceIdentifier=identifier,
            DBInstanceClass="db.t3.micro",
            Engine=engine,
            Port=port,
            MasterUsername="admin",
            MasterUserPassword="not-the-secret-1",
            AllocatedStorage=20,
            DBSubnetGroupName=subnet_group,
            VpcSecurityGroupIds=groups,
            MultiAZ=multi_az,
            PubliclyAccessible=public,
        )["DBInstance"]
        return {
            "host": made["Endpoint"]["Address"],
            "port": made["Endpoint"]["Port"],
            "engine": engine,
            "dbInstanceIdentifier": identifier,
        }

    def aurora_cluster(
        self,
        identifier: str,
        subnet_group: str,
        groups: list[str],
        *,
        engine: str = "aurora-postgresql",
        port: int = 5432,
    ) -> dict[str, Any]:
        made = self.clients.rds.create_db_cluster(
            DBClusterIdentifier=identifier,
            Engine=engine,
            Port=port,
            MasterUsername="admin",
            MasterUserPassword="not-the-secret-1",
            DBSubnetGroupName=subnet_group,
            VpcSecurityGroupIds=groups,
        )["DBCluster"]
        return {
            "host": made["Endpoint"],
            "reader": made["ReaderEndpoint"],
            "port": port,
            "engine": engine,
            "dbClusterIdentifier": identifier,
        }

    # ----- the rotation function and its secret ---------------------------------------------

    def role(self) -> str:
        if self._role_arn is None:
            trust = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "sts:AssumeRole",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                    }
                ],
            }
            iam = self.clients.iam
            try:
                self._role_arn = iam.create_role(
                    RoleName="rotation-lambda-role", AssumeRolePolicyDocument=json.dumps(trust)
                )["Role"]["Arn"]
            except iam.exceptions.EntityAlreadyExistsException:  # IAM is global: made by the builder of another region
                self._role_arn = iam.get_role(RoleName="rotation-lambda-role")["Role"]["Arn"]
        return self._role_arn

    def rotation_function(
        self,
        name: str,
        *,
        subnets: list[str] | None = None,
        groups: list[str] | None = None,
        env: dict[str, str] | None = None,
        allow_secrets_manager: bool = True,
        ipv6_allowed: bool = False,
    ) -> str:
        params: dict[str, Any] = {
            "FunctionName": name,
            "Runtime": "python3.12",
            "Role": self.role(),
            "Handler": "index.handler",
            "Code": {"ZipFile": _zip()},
            "Timeout": 30,
        }
        if subnets:
            params["VpcConfig"] = {"SubnetIds": subnets, "SecurityGroupIds": groups or []}
            if ipv6_allowed:
                params["VpcConfig"]["Ipv6AllowedForDualStack"] = True
        if env:
            params["Environment"] = {"Variables": env}
        arn = str(self.clients.lambda_.create_function(**params)["FunctionArn"])
        if allow_secrets_manager:
            self.clients.lambda_.add_permission(
                FunctionName=name,
                StatementId="SecretsManagerAccess",
                Action="lambda:InvokeFunction",
                Principal="secretsmanager.amazonaws.com",
                SourceAccount=self.account,
            )
        return arn

    def rotated_secret(
        self, name: str, value: dict[str, Any], function_arn: str, *, tags: dict[str, str] | None = None
    ) -> str:
        params: dict[str, Any] = {"Name": name, "SecretString": json.dumps(value)}
        if tags:
            params["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
        arn = str(self.clients.secretsmanager.create_secret(**params)["ARN"])
        self.clients.secretsmanager.rotate_secret(
            SecretId=arn,
            RotationLambdaARN=function_arn,
            RotationRules={"AutomaticallyAfterDays": 30},
            RotateImmediately=False,
        )
        return arn

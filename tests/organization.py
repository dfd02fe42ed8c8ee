"""An organization on the simulated account: member accounts through STS, each with its own broken secret."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from rotation_doctor.collect.accounts import AccountSessions, Place
from rotation_doctor.collect.aws import AwsClients, CallCounter
from rotation_doctor.simulated import scenarios
from rotation_doctor.simulated.account import AccountBuilder, tcp

EVENTS = Path(__file__).resolve().parent / "events"

FICTIONAL_ACCOUNT, FICTIONAL_REGION = "111111111111", "eu-west-1"
HUB = "123456789012"  # moto's default account: the hub's, as SimulatedContext's function ARN names it

FICTIONAL_SECRET = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:prod/a/db-AbCdEf"

# The members' owners build them through a session of their own (made once: clients are cheap after the first).
SETUP_SESSION = boto3.session.Session(region_name="us-east-1")


@dataclass
class Member:
    """One member account and region with the demo's broken rotation (its own secret name, so reports tell them
    apart)."""

    place: Place
    builder: AccountBuilder
    orders: scenarios.Orders

    @property
    def secret_arn(self) -> str:
        return self.orders.secret_arn

    def resource_ids(self) -> set[str]:
        """Every VPC, subnet and group id of the member's place."""
        ec2 = self.builder.ec2
        return (
            {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]}
            | {s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]}
            | {g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]}
        )

    def event(self, name: str, **ids: str) -> str:
        """The real-shaped member event `name` as this member's bus forwards it, with a fresh id."""
        text = (EVENTS / "members" / name).read_text().replace(FICTIONAL_SECRET, self.secret_arn)
        for fictional, real in ids.items():
            text = text.replace(fictional, real)
        text = text.replace(FICTIONAL_ACCOUNT, self.place.account).replace(FICTIONAL_REGION, self.place.region)
        raw = json.loads(text)
        raw["id"] = str(uuid.uuid4())
        return json.dumps(raw)

    def rotation_failed(self) -> str:
        return self.event("rotation_failed.json")


class MemberBuilder(AccountBuilder):
    """IAM is global to an account: a second region of a member uses the rotation role its first one made."""

    def role(self) -> str:
        try:
            return str(self.clients.iam.get_role(RoleName="rotation-lambda-role")["Role"]["Arn"])
        except self.clients.iam.exceptions.NoSuchEntityException:
            return super().role()


def member_builder(account: str, region: str) -> MemberBuilder:
    """A builder of a member account, with the member role's credentials, as its owners' IaC would use (a setup
    session of its own: the hub's call counter and hooks see only the worker)."""
    setup = AwsClients(SETUP_SESSION, region=region, counter=CallCounter())
    clients = AccountSessions(setup, role_name="setup", base_account=HUB).clients(Place(account, region))
    return MemberBuilder(clients, account)


def build_member(account: str, region: str, **situation: Any) -> Member:
    """A member built through the real APIs with the member role's credentials, as its owners' IaC would."""
    builder = member_builder(account, region)
    clients = builder.clients
    orders = scenarios.orders(builder, secret_name=f"prod/{account}-{region}/db", **situation)
    # The builder's invoke permission names the simulated default account; a member's own secret is its account's.
    clients.lambda_.remove_permission(FunctionName="orders-db-rotation", StatementId="SecretsManagerAccess")
    clients.lambda_.add_permission(
        FunctionName="orders-db-rotation",
        StatementId="SecretsManagerAccess",
        Action="lambda:InvokeFunction",
        Principal="secretsmanager.amazonaws.com",
        SourceAccount=account,
    )
    return Member(Place(account, region), builder, orders)


def shared_services_endpoint(shared: AccountBuilder, spoke: Member, *, admits: bool = True) -> dict[str, Any]:
    """A centralized Secrets Manager endpoint owned by another member (`shared`, a shared-services account), as
    `scenarios.central_endpoint` builds one in a single account: a VPC (10.50.0.0/16, a subnet in each zone), the
    endpoint with private DNS off, its group admitting the spoke's block on 443 (`admits`) or nothing, and a private
    zone `secretsmanager.REGION.amazonaws.com` the shared account owns, aliasing the name to the endpoint and
    associated with the spoke's VPC across accounts; the two VPCs joined by a peering the spoke requested and the
    shared account accepted, routed both ways."""
    o = spoke.orders
    net = shared.network("10.50.0.0/16", name="shared-services")
    shared.subnet(net, "svc-a", "10.50.1.0/24", "a")
    shared.subnet(net, "svc-b", "10.50.2.0/24", "b")
    table = shared.route_table(net, "svc", ["svc-a", "svc-b"])
    ingress = [tcp(443, cidr=o.net.cidr, description="spoke VPC")] if admits else []
    group = shared.security_group(net, "central-secretsmanager", ingress=ingress)
    endpoint = shared.secrets_manager_endpoint(net, ["svc-a", "svc-b"], [group], private_dns=False)
    zone = scenarios.endpoint_zone(shared, endpoint, net.vpc, o.net.vpc)
    pcx = spoke.builder.ec2.create_vpc_peering_connection(
        VpcId=o.net.vpc, PeerVpcId=net.vpc, PeerOwnerId=shared.account
    )["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    shared.ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    spoke.builder.route(o.net.tables["private"], net.cidr, VpcPeeringConnectionId=pcx)
    shared.route(table, o.net.cidr, VpcPeeringConnectionId=pcx)
    return {"vpc": net.vpc, "endpoint": endpoint, "endpoint_sg": group, "zone": zone.split("/")[-1], "peering": pcx}


def zones_associated_across_accounts(monkeypatch: Any) -> None:
    """ListHostedZonesByVPC as AWS answers it: every private zone associated with the VPC, whichever account owns
    it, with that owner (moto lists only the caller's own zones)."""
    from moto.route53.models import Route53Backend, route53_backends

    def listed(self: Route53Backend, vpc_id: str) -> list[dict[str, Any]]:
        return [
            {"HostedZoneId": zone.resource_id, "Name": zone.name, "Owner": {"OwningAccount": backend.account_id}}
            for _, _, backend in route53_backends.iter_backends()
            for zone in backend.zones.values()
            if zone.private_zone and any(v["vpc_id"] == vpc_id for v in zone.vpcs)
        ]

    monkeypatch.setattr(Route53Backend, "list_hosted_zones_by_vpc", listed)

"""CREATE_SECRETSMANAGER_ENDPOINT: an interface endpoint in the function's subnets (one per AZ), private DNS on,
with its own group admitting TCP 443 from the VPC's CIDR blocks. AWS's advice: prefer it to a NAT gateway."""

from __future__ import annotations

from collections.abc import Sequence

from remediations._rules import new_group_steps, rule_added, rule_step
from remediations._vpc_callers import current_callers
from remediations.base import PlanContext, Planned, Remediation
from remediations.enable_vpc_dns import EnableVpcDns
from rotation_doctor.analysis.sm_path import secrets_manager_endpoints
from rotation_doctor.model.edits import PutEndpoint, PutSecurityGroup
from rotation_doctor.model.evidence import EgressDenied, EndpointUnavailable, NaclDenied, PeerKind
from rotation_doctor.model.findings import Code, Finding
from rotation_doctor.model.plan import Call, Fix, FixKind, Risk, Step
from rotation_doctor.model.snapshot import SecurityGroup, SecurityGroupRule, Snapshot, VpcEndpoint
from rotation_doctor.netsem import dns

HTTPS = 443
HOURLY_PER_AZ = 0.01  # USD, us-east-1 list price of an interface endpoint per AZ-hour (plus $0.01 per GB)
# Reasons the public path fails that an endpoint answers (with private DNS the routes stop mattering). Centralized
# egress broken anywhere (the transit gateway, the egress VPC, perhaps another account's) is one of them: the spoke's
# own endpoint heals it whatever the hub does.
ROUTE_CODES = frozenset(
    {
        Code.SM_NO_PATH,
        Code.SM_PUBLIC_SUBNET_NO_NAT,
        Code.SM_ROUTE_BLACKHOLE,
        Code.SM_NAT_NO_INTERNET,
        Code.SM_TGW_NOT_ATTACHED,
        Code.SM_TGW_ROUTE_MISSING,
        Code.SM_TGW_BLACKHOLE,
        Code.SM_EGRESS_NO_NAT,
        Code.SM_EGRESS_NO_RETURN_ROUTE,
    }
)


def vpc_cidrs(snap: Snapshot, vpc_id: str) -> list[str]:
    """The VPC's CIDR blocks: from DescribeVpcs when read, else from the local routes (one per block)."""
    vpc = snap.vpcs.get(vpc_id)
    if vpc is not None and vpc.cidr_blocks:
        return list(vpc.cidr_blocks)
    return sorted(
        {r.destination for t in snap.route_tables if t.vpc_id == vpc_id for r in t.routes if r.target == "local"}
    )


def one_subnet_per_zone(snap: Snapshot, subnet_ids: Sequence[str]) -> list[str]:
    chosen: dict[str, str] = {}
    for subnet_id in subnet_ids:
        subnet = snap.subnets.get(subnet_id)
        if subnet is not None and subnet.availability_zone not in chosen:
            chosen[subnet.availability_zone] = subnet_id
    return [chosen[z] for z in sorted(chosen)]


class CreateSecretsManagerEndpoint(Remediation):
    kind = FixKind.CREATE_SECRETSMANAGER_ENDPOINT
    risk = Risk.MEDIUM
    change = (
        "interface endpoint in the function's subnets (one per AZ), private DNS on, its own SG admitting TCP "
        "443 from the VPC's CIDR blocks"
    )
    iam_actions = (
        "ec2:CreateSecurityGroup",
        "ec2:DeleteSecurityGroup",
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:RevokeSecurityGroupIngress",
        "ec2:AuthorizeSecurityGroupEgress",
        "ec2:RevokeSecurityGroupEgress",
        "ec2:CreateVpcEndpoint",
        "ec2:DeleteVpcEndpoints",
        "ec2:CreateTags",
        "route53:AssociateVPCWithHostedZone",
    )
    handles = ROUTE_CODES | {Code.SM_LAMBDA_EGRESS_DENIES, Code.SM_NACL_DENIES, Code.SM_ENDPOINT_NOT_AVAILABLE}

    def plan(self, snap: Snapshot, findings: Sequence[Finding], ctx: PlanContext) -> list[Planned]:
        fn = snap.function
        if fn is None or fn.vpc_id is None or not self._wanted(snap, findings):
            return []
        vpc = fn.vpc_id
        if secrets_manager_endpoints(snap, vpc):
            return []  # one exists: other kinds repair it (a second one cannot have private DNS)
        zones = [z for z in snap.hosted_zones.get(vpc, ()) if z.owner_service is None]
        if dns.zone_answering(dns.secrets_manager_hostname(snap.region), zones) is not None:
            return []  # a private zone owns the name: private DNS for an endpoint would conflict with it
        planned: list[Planned] = []
        dns_fix = EnableVpcDns().for_vpc(snap, vpc, ctx, tuple(sorted({f.code for f in findings})))
        if dns_fix is not None:
            planned.append(dns_fix)
        subnets = one_subnet_per_zone(snap, fn.subnet_ids)
        cidrs = vpc_cidrs(snap, vpc)
        group, steps = new_group_steps(
            ctx,
            snap,
            vpc=vpc,
            name=f"rotation-doctor-secretsmanager-{vpc}",
            purpose="Secrets Manager endpoint",
            tag="secretsmanager-endpoint",
        )
        ingress = [{"CidrIp": c, "Description": ctx.description("VPC to Secrets Manager endpoint")} for c in cidrs]
        steps.append(
            self.step(
                ctx,
                Call(
                    "ec2",
                    "AuthorizeSecurityGroupIngress",
                    {
                        "GroupId": ctx.real(group),
                        "IpPermissions": [
                            {"IpProtocol": "tcp", "FromPort": HTTPS, "ToPort": HTTPS, "IpRanges": ingress}
                        ],
                    },
                ),
                f"+ {group} ingress tcp/443 <- {', '.join(cidrs)} (the VPC's CIDR blocks)",
                already_done=("InvalidPermission.Duplicate",),
            )
        )
        endpoint_step = ctx.step_id()
        endpoint = ctx.placeholder("vpce", endpoint_step, "VpcEndpointId")
        service = dns.secrets_manager_service_name(snap.region)
        steps.append(
            Step(
                endpoint_step,
                Call(
                    "ec2",
                    "CreateVpcEndpoint",
                    {
                        "VpcEndpointType": "Interface",
                        "VpcId": vpc,
                        "ServiceName": service,
                        "SubnetIds": subnets,
                        "SecurityGroupIds": [ctx.real(group)],
                        "PrivateDnsEnabled": True,
                        "TagSpecifications": [
                            {"ResourceType": "vpc-endpoint", "Tags": ctx.tags("secretsmanager-endpoint")}
                        ],
                    },
                ),
                f"+ interface endpoint {endpoint} {service} in {', '.join(subnets)}, private DNS on",
                undo=Call("ec2", "DeleteVpcEndpoints", {"VpcEndpointIds": [ctx.real(endpoint)]}),
                outputs={"VpcEndpointId": "VpcEndpoint.VpcEndpointId"},
                wait="vpc_endpoint_available",
            )
        )
        callers = current_callers(snap, vpc, group, subnets)
        stranded_rules = [
            rule_step(ctx, group=g, peer=group, port=HTTPS, egress=True, why="keep Secrets Manager reachable")
            for g in callers.stranded
        ]
        steps += stranded_rules
        monthly = HOURLY_PER_AZ * len(subnets) * 730
        fix = Fix(
            self.kind,
            self.risk,
            f"Create a Secrets Manager interface endpoint in {vpc} ({len(subnets)} AZ), private DNS on.",
            tuple(sorted({f.code for f in findings})),
            tuple(steps),
            vpc_id=vpc,
            cost=f"about ${HOURLY_PER_AZ:.2f} per AZ-hour x {len(subnets)} AZ = ${monthly:.2f} a month, plus $0.01 "
            "per GB (us-east-1 list price)",
            notes=callers.notes(vpc),
        )
        rules = tuple(SecurityGroupRule(group, False, "tcp", HTTPS, HTTPS, cidr=c) for c in cidrs)
        edits = (
            PutSecurityGroup(SecurityGroup(group, vpc, group, rules)),
            PutEndpoint(
                VpcEndpoint(endpoint, vpc, service, "Interface", "available", tuple(subnets), (group,), True, None)
            ),
            *(rule_added(group=g, peer=group, port=HTTPS, egress=True) for g in callers.stranded),
        )
        planned.append(Planned(fix, edits))
        return planned

    @staticmethod
    def _wanted(snap: Snapshot, findings: Sequence[Finding]) -> bool:
        """Only for failures of the public path (or of an endpoint that is gone and not named by the function)."""
        for f in findings:
            facts = f.facts
            if f.code in ROUTE_CODES:
                return True
            if (
                f.code == Code.SM_LAMBDA_EGRESS_DENIES
                and isinstance(facts, EgressDenied)
                and facts.peer is PeerKind.INTERNET
            ):
                return True
            if (
                f.code == Code.SM_NACL_DENIES
                and isinstance(facts, NaclDenied)
                and facts.peer is PeerKind.INTERNET
                and not facts.partial
            ):
                return True
            if f.code == Code.SM_NACL_DENIES and isinstance(facts, NaclDenied) and _outside_vpc(snap, facts.subnet):
                return True  # an ACL of the egress VPC (centralized egress): the endpoint heals without it
            if (
                f.code == Code.SM_ENDPOINT_NOT_AVAILABLE
                and isinstance(facts, EndpointUnavailable)
                and facts.state in ("deleted", "deleting")
                and not (snap.function and snap.function.secrets_manager_endpoint)
            ):
                return True
        return False


def _outside_vpc(snap: Snapshot, subnet_id: str) -> bool:
    """Whether a subnet is known to be outside the function's VPC."""
    subnet = snap.subnets.get(subnet_id)
    return subnet is not None and snap.function is not None and subnet.vpc_id != snap.function.vpc_id

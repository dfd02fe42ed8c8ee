"""ENABLE_ENDPOINT_PRIVATE_DNS: turn private DNS on for the existing Secrets Manager endpoint.

This takes the public name away from every client in the VPC, so the plan first lists who calls
Secrets Manager today and adds the egress rules that keep them working (see `_vpc_callers`).
"""

from __future__ import annotations

from collections.abc import Sequence

from remediations._rules import rule_added, rule_step
from remediations._vpc_callers import current_callers
from remediations.base import PlanContext, Planned, Remediation
from remediations.enable_vpc_dns import EnableVpcDns
from rotation_doctor.analysis.sm_path import secrets_manager_endpoints
from rotation_doctor.model.edits import SetEndpointPrivateDns
from rotation_doctor.model.findings import Code, Finding
from rotation_doctor.model.plan import Call, Fix, FixKind, Risk
from rotation_doctor.model.snapshot import Snapshot


class EnableEndpointPrivateDns(Remediation):
    kind = FixKind.ENABLE_ENDPOINT_PRIVATE_DNS
    risk = Risk.MEDIUM
    change = "turn private DNS on for the existing endpoint"
    iam_actions = (
        "ec2:ModifyVpcEndpoint",
        "route53:AssociateVPCWithHostedZone",
        "ec2:AuthorizeSecurityGroupEgress",
        "ec2:RevokeSecurityGroupEgress",
    )
    handles = frozenset({Code.SM_ENDPOINT_PRIVATE_DNS_DISABLED})

    def plan(self, snap: Snapshot, findings: Sequence[Finding], ctx: PlanContext) -> list[Planned]:
        fn = snap.function
        if fn is None or fn.vpc_id is None:
            return []
        endpoints = [e for e in secrets_manager_endpoints(snap, fn.vpc_id) if not e.private_dns_enabled]
        if not endpoints or endpoints[0].state != "available":
            return []
        endpoint = endpoints[0]
        planned: list[Planned] = []
        dns_fix = EnableVpcDns().for_vpc(snap, fn.vpc_id, ctx, (Code.SM_ENDPOINT_PRIVATE_DNS_DISABLED,))
        if dns_fix is not None:
            planned.append(dns_fix)  # AWS refuses private DNS on an endpoint while the VPC's DNS is off
        group = endpoint.group_ids[0] if endpoint.group_ids else ""
        callers = current_callers(snap, fn.vpc_id, group, endpoint.subnet_ids)
        steps = [
            self.step(
                ctx,
                Call("ec2", "ModifyVpcEndpoint", {"VpcEndpointId": endpoint.id, "PrivateDnsEnabled": True}),
                f"~ {endpoint.id} private DNS: off -> on (secretsmanager.{snap.region}.amazonaws.com resolves to it "
                f"in all of {fn.vpc_id})",
                undo=Call("ec2", "ModifyVpcEndpoint", {"VpcEndpointId": endpoint.id, "PrivateDnsEnabled": False}),
            )
        ]
        steps += [
            rule_step(ctx, group=g, peer=group, port=443, egress=True, why="keep Secrets Manager reachable")
            for g in callers.stranded
        ]
        fix = Fix(
            self.kind,
            self.risk,
            f"Turn on private DNS for Secrets Manager endpoint {endpoint.id}.",
            (Code.SM_ENDPOINT_PRIVATE_DNS_DISABLED,),
            tuple(steps),
            vpc_id=fn.vpc_id,
            notes=callers.notes(fn.vpc_id),
        )
        edits = (
            SetEndpointPrivateDns(endpoint.id, enabled=True),
            *(rule_added(group=g, peer=group, port=443, egress=True) for g in callers.stranded),
        )
        planned.append(Planned(fix, edits))
        return planned

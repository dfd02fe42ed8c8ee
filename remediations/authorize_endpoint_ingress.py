"""AUTHORIZE_ENDPOINT_INGRESS: the Secrets Manager endpoint's group admits TCP 443 from the function's group."""

from __future__ import annotations

from collections.abc import Sequence

from remediations._rules import function_group, rule_added, rule_step
from remediations.base import PlanContext, Planned, Remediation
from rotation_doctor.model.evidence import IngressDenied
from rotation_doctor.model.findings import Code, Finding
from rotation_doctor.model.plan import Fix, FixKind, Risk
from rotation_doctor.model.snapshot import Snapshot

HTTPS = 443


class AuthorizeEndpointIngress(Remediation):
    kind = FixKind.AUTHORIZE_ENDPOINT_INGRESS
    risk = Risk.LOW
    change = "endpoint SG: ingress TCP 443 from the function's SG"
    iam_actions = ("ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress")
    handles = frozenset({Code.SM_ENDPOINT_SG_DENIES})

    def plan(self, snap: Snapshot, findings: Sequence[Finding], ctx: PlanContext) -> list[Planned]:
        fn, peer = snap.function, function_group(snap)
        # Only an endpoint in the function's own VPC: a centralized endpoint's group is the shared VPC's (its owners'
        # to change), and a rule naming the function's group would match nothing across a transit gateway.
        own = {g for g, group in snap.security_groups.items() if fn is not None and group.vpc_id == fn.vpc_id}
        groups = [g for f in findings if isinstance(f.facts, IngressDenied) for g in f.facts.groups if g in own]
        if fn is None or peer is None or not groups:
            return []
        group = groups[0]
        step = rule_step(ctx, group=group, peer=peer, port=HTTPS, egress=False, why=Code.SM_ENDPOINT_SG_DENIES)
        fix = Fix(
            self.kind,
            self.risk,
            f"Let the endpoint's group {group} admit TCP 443 from the function's group {peer}.",
            (Code.SM_ENDPOINT_SG_DENIES,),
            (step,),
            vpc_id=fn.vpc_id,
        )
        return [Planned(fix, (rule_added(group=group, peer=peer, port=HTTPS, egress=False),))]

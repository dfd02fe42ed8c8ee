"""AUTHORIZE_LAMBDA_EGRESS: the function's group may send TCP to the database's or the endpoint's group."""

from __future__ import annotations

from collections.abc import Sequence

from remediations._rules import function_group, rule_added, rule_step
from remediations.base import PlanContext, Planned, Remediation
from rotation_doctor.model.evidence import EgressDenied, PeerKind
from rotation_doctor.model.findings import Code, Finding
from rotation_doctor.model.plan import Fix, FixKind, Risk
from rotation_doctor.model.snapshot import Snapshot


class AuthorizeLambdaEgress(Remediation):
    kind = FixKind.AUTHORIZE_LAMBDA_EGRESS
    risk = Risk.LOW
    change = "function SG: egress TCP port to the database SG or endpoint SG (group reference)"
    iam_actions = ("ec2:AuthorizeSecurityGroupEgress", "ec2:RevokeSecurityGroupEgress")
    handles = frozenset({Code.SM_LAMBDA_EGRESS_DENIES, Code.DB_LAMBDA_EGRESS_DENIES})

    def plan(self, snap: Snapshot, findings: Sequence[Finding], ctx: PlanContext) -> list[Planned]:
        fn, group = snap.function, function_group(snap)
        if fn is None or group is None:
            return []
        planned: dict[tuple[str, int], Planned] = {}
        for finding in findings:
            denied = finding.facts
            if not isinstance(denied, EgressDenied) or denied.peer is PeerKind.INTERNET or not denied.to_groups:
                continue  # egress to the internet (NAT path): never opened; an endpoint is planned instead
            peer, port = denied.to_groups[0], denied.port
            peer_group = snap.security_groups.get(peer)
            if finding.code is Code.SM_LAMBDA_EGRESS_DENIES and (peer_group is None or peer_group.vpc_id != fn.vpc_id):
                continue  # a centralized endpoint's group: a reference to it matches nothing across a transit gateway
            if (peer, port) in planned:
                continue
            step = rule_step(ctx, group=group, peer=peer, port=port, egress=True, why=finding.code)
            fix = Fix(
                self.kind,
                self.risk,
                f"Let the function's group {group} send TCP {port} to {peer}.",
                (finding.code,),
                (step,),
                vpc_id=fn.vpc_id,
            )
            planned[(peer, port)] = Planned(fix, (rule_added(group=group, peer=peer, port=port, egress=True),))
        return list(planned.values())

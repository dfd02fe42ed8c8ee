"""AUTHORIZE_DB_INGRESS: the database's group admits the function's group on the database port; for an RDS Proxy,
also its own leg: the target's group admits the proxy's group on the target's port."""

from __future__ import annotations

from collections.abc import Sequence

from remediations._rules import function_group, rule_added, rule_step
from remediations.base import PlanContext, Planned, Remediation
from rotation_doctor.model.evidence import IngressDenied
from rotation_doctor.model.findings import Code, Finding
from rotation_doctor.model.plan import Fix, FixKind, Risk
from rotation_doctor.model.snapshot import Snapshot

FUNCTION_LEG = Code.DB_SG_INGRESS_DENIES
PROXY_LEG = Code.DB_PROXY_TARGET_UNREACHABLE


class AuthorizeDbIngress(Remediation):
    kind = FixKind.AUTHORIZE_DB_INGRESS
    risk = Risk.LOW
    change = (
        "database SG: ingress TCP port from the function's SG (group reference); behind an RDS Proxy, also "
        "the target's SG: ingress on the target's port from the proxy's SG"
    )
    iam_actions = ("ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress")
    handles = frozenset({FUNCTION_LEG, PROXY_LEG})

    def plan(self, snap: Snapshot, findings: Sequence[Finding], ctx: PlanContext) -> list[Planned]:
        planned = self._function_leg(snap, ctx) if any(f.code == FUNCTION_LEG for f in findings) else []
        return planned + self._proxy_leg(snap, [f for f in findings if f.code == PROXY_LEG], ctx)

    def _function_leg(self, snap: Snapshot, ctx: PlanContext) -> list[Planned]:
        db, peer = snap.database, function_group(snap)
        if db is None or peer is None or not db.security_group_ids:
            return []
        group, port = db.security_group_ids[0], db.port
        step = rule_step(ctx, group=group, peer=peer, port=port, egress=False, why=FUNCTION_LEG)
        fix = Fix(
            self.kind,
            self.risk,
            f"Let {db.identifier}'s group {group} admit TCP {port} from the function's group {peer}.",
            (FUNCTION_LEG,),
            (step,),
            vpc_id=db.vpc_id,
        )
        return [Planned(fix, (rule_added(group=group, peer=peer, port=port, egress=False),))]

    def _proxy_leg(self, snap: Snapshot, findings: Sequence[Finding], ctx: PlanContext) -> list[Planned]:
        """The proxy's leg reads only its typed denials: the target's groups (where the rule goes), the proxy's
        groups (the rule's source) and the target's port. Its other denials (the proxy's own egress, its ACLs)
        are not this kind's."""
        db = snap.database
        if db is None:
            return []
        planned, done = [], set()
        for finding in findings:
            denied = finding.facts
            if not isinstance(denied, IngressDenied) or not denied.groups or not denied.from_groups:
                continue
            group, peer, port = denied.groups[0], denied.from_groups[0], denied.port
            if (group, peer, port) in done:
                continue
            done.add((group, peer, port))
            step = rule_step(ctx, group=group, peer=peer, port=port, egress=False, why=PROXY_LEG)
            fix = Fix(
                self.kind,
                self.risk,
                f"Let the group {group} of RDS Proxy {db.identifier}'s target admit TCP {port} from the proxy's "
                f"group {peer}.",
                (PROXY_LEG,),
                (step,),
                vpc_id=db.vpc_id,
            )
            planned.append(Planned(fix, (rule_added(group=group, peer=peer, port=port, egress=False),)))
        return planned

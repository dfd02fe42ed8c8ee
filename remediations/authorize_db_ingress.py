"""AUTHORIZE_DB_INGRESS: the database's group admits the function's group on the database port."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from remediations._rules import function_group, rule_step, with_rule
from remediations.base import PlanContext, Planned, Remediation
from rotation_doctor.model.findings import Code, Finding
from rotation_doctor.model.plan import Fix, FixKind, Risk
from rotation_doctor.model.snapshot import Snapshot


class AuthorizeDbIngress(Remediation):
    kind = FixKind.AUTHORIZE_DB_INGRESS
    risk = Risk.LOW
    iam_actions = ("ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress")
    handles = frozenset({Code.DB_SG_INGRESS_DENIES})

    def plan(self, snap: Snapshot, findings: Sequence[Finding], ctx: PlanContext) -> list[Planned]:
        db, peer = snap.database, function_group(snap)
        if db is None or peer is None or not db.security_group_ids:
            return []
        group, port = db.security_group_ids[0], db.port
        step = rule_step(ctx, group=group, peer=peer, port=port, egress=False, why=Code.DB_SG_INGRESS_DENIES)
        fix = Fix(
            self.kind,
            self.risk,
            f"Let {db.identifier}'s group {group} admit TCP {port} from the function's group {peer}.",
            (Code.DB_SG_INGRESS_DENIES,),
            (step,),
            vpc_id=db.vpc_id,
        )
        return [Planned(fix, partial(with_rule, group=group, peer=peer, port=port, egress=False))]

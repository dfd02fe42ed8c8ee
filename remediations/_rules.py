"""Security group rules by group reference, one exact TCP port: the three AUTHORIZE_* kinds share this."""

from __future__ import annotations

from dataclasses import replace

from remediations.base import PlanContext
from rotation_doctor.model.plan import Call, Step
from rotation_doctor.model.snapshot import SecurityGroup, SecurityGroupRule, Snapshot


def rule_step(ctx: PlanContext, *, group: str, peer: str, port: int, egress: bool, why: str) -> Step:
    """Authorize TCP `port` between `group` and `peer` (a group reference); revoke is the undo."""
    permission = {
        "IpProtocol": "tcp",
        "FromPort": port,
        "ToPort": port,
        "UserIdGroupPairs": [{"GroupId": ctx.real(peer), "Description": ctx.description(why)}],
    }
    verb = "AuthorizeSecurityGroupEgress" if egress else "AuthorizeSecurityGroupIngress"
    undo = "RevokeSecurityGroupEgress" if egress else "RevokeSecurityGroupIngress"
    arrow = "->" if egress else "<-"
    params = {"GroupId": ctx.real(group), "IpPermissions": [permission]}
    undo_params = {
        "GroupId": ctx.real(group),
        "IpPermissions": [
            {k: v for k, v in permission.items() if k != "UserIdGroupPairs"}
            | {"UserIdGroupPairs": [{"GroupId": ctx.real(peer)}]}
        ],
    }
    return Step(
        ctx.step_id(),
        Call("ec2", verb, params),
        f"+ {group} {'egress' if egress else 'ingress'} tcp/{port} {arrow} {peer} (rotation-doctor: {ctx.secret_name})",
        undo=Call("ec2", undo, undo_params),
        already_done=("InvalidPermission.Duplicate",),
    )


def with_rule(snap: Snapshot, *, group: str, peer: str, port: int, egress: bool) -> Snapshot:
    """The snapshot as it will be once the rule exists."""
    existing = snap.security_groups.get(group) or SecurityGroup(group, "", group, ())
    rule = SecurityGroupRule(group, egress, "tcp", port, port, referenced_group_id=peer)
    updated = replace(existing, rules=(*existing.rules, rule))
    return replace(snap, security_groups={**snap.security_groups, group: updated})

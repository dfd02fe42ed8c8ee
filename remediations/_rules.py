"""Security group rules by group reference, one exact TCP port: the three AUTHORIZE_* kinds share this."""

from __future__ import annotations

from typing import Any

from remediations.base import PlanContext
from rotation_doctor.model.edits import AddRules
from rotation_doctor.model.plan import RULE_NOT_FOUND, Call, Step
from rotation_doctor.model.snapshot import SecurityGroupRule, Snapshot


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
    # The undo names the very permission authorized. AWS ignores the description when it matches a rule
    # to revoke; moto does not, so leaving it out made every undo of a rule fail on the simulated account.
    undo_params = params
    return Step(
        ctx.step_id(),
        Call("ec2", verb, params),
        f"+ {group} {'egress' if egress else 'ingress'} tcp/{port} {arrow} {peer} (rotation-doctor: {ctx.secret_name})",
        undo=Call("ec2", undo, undo_params),
        already_done=("InvalidPermission.Duplicate",),
    )


def function_group(snap: Snapshot) -> str | None:
    """The function's group a rule names or is put on: its first group the database does not also wear, so that
    the rule concerns the function alone. Only a function without one gets its first group, which the database
    also wears: ownership then takes the rule for the database's side (link needed, and risk high when it joins
    two of the database's groups)."""
    fn = snap.function
    if fn is None or not fn.security_group_ids:
        return None
    return next(iter(snap.function_own_group_ids), fn.security_group_ids[0])


def rule_added(*, group: str, peer: str, port: int, egress: bool) -> AddRules:
    """What `rule_step`'s call does to the snapshot."""
    return AddRules(group, (SecurityGroupRule(group, egress, "tcp", port, port, referenced_group_id=peer),))


# AWS gives every new group an allow-all IPv4 egress rule, and an allow-all IPv6 one when its VPC has an IPv6 block
# (Amazon VPC User Guide, "Security group rules": "If your VPC has an IPv6 CIDR block, we also add an outbound rule
# that allows all IPv6 traffic"). The groups a plan creates take them away.
DEFAULT_EGRESS = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
DEFAULT_EGRESS_V6 = {"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}


def default_egress(snap: Snapshot, vpc: str) -> list[tuple[dict[str, Any], str]]:
    """AWS's default egress rules of a new group in `vpc`, each with what the plan says of it: the IPv4 one always;
    the IPv6 one when the VPC has an IPv6 block, or when its blocks were not read (no guess: then its revoke may
    find nothing, which is "already done")."""
    rules = [(DEFAULT_EGRESS, "0.0.0.0/0 (AWS's default rule)")]
    known = snap.vpcs.get(vpc)
    if known is None:
        rules.append((DEFAULT_EGRESS_V6, f"::/0 (AWS's default rule if {vpc} has IPv6: its blocks were not read)"))
    elif known.ipv6_cidr_blocks:
        rules.append((DEFAULT_EGRESS_V6, "::/0 (AWS's default rule: the VPC has IPv6)"))
    return rules


def new_group_steps(
    ctx: PlanContext, snap: Snapshot, *, vpc: str, name: str, purpose: str, tag: str
) -> tuple[str, list[Step]]:
    """Create a group of the plan's own and revoke AWS's default allow-all egress rules: it opens nothing yet.

    Returns the placeholder id later steps use and the steps. Undone in reverse: each default rule the plan
    revoked is given back, then the group is deleted, so the account ends exactly as it was. A revoke that finds
    no rule is already done: it is not undone, so no rule that never existed is added back.
    """
    create_id = ctx.step_id()
    group = ctx.placeholder("sg", create_id, "GroupId")
    create = Step(
        create_id,
        Call(
            "ec2",
            "CreateSecurityGroup",
            {
                "GroupName": name,
                "VpcId": vpc,
                "Description": ctx.description(purpose),
                "TagSpecifications": [{"ResourceType": "security-group", "Tags": ctx.tags(tag)}],
            },
        ),
        f"+ security group {group} {name} in {vpc}",
        undo=Call("ec2", "DeleteSecurityGroup", {"GroupId": ctx.real(group)}),
        outputs={"GroupId": "GroupId"},
    )
    revokes = []
    for rule, says in default_egress(snap, vpc):
        # One rule a step: a revoke AWS answers with the rule unknown is then wholly done (apply.executor._found_none).
        closed = {"GroupId": ctx.real(group), "IpPermissions": [rule]}
        revokes.append(
            Step(
                ctx.step_id(),
                Call("ec2", "RevokeSecurityGroupEgress", closed),
                f"- {group} egress all -> {says}",
                undo=Call("ec2", "AuthorizeSecurityGroupEgress", closed),
                already_done=(RULE_NOT_FOUND,),
            )
        )
    return group, [create, *revokes]

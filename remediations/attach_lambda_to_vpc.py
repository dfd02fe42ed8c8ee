"""ATTACH_LAMBDA_TO_VPC: put the rotation function in the database's VPC and subnets, with a group of its own.

The planner then composes what the new place needs: the database admitting the new group, and a
way to Secrets Manager from those subnets.
"""

from __future__ import annotations

from collections.abc import Sequence

from remediations._rules import new_group_steps, rule_added, rule_step
from remediations.base import PlanContext, Planned, Remediation
from remediations.create_secretsmanager_endpoint import HTTPS, vpc_cidrs
from rotation_doctor.model.edits import PutSecurityGroup, UpdateFunction
from rotation_doctor.model.findings import Code, Finding
from rotation_doctor.model.plan import Call, Fix, FixKind, Risk
from rotation_doctor.model.snapshot import SecurityGroup, SecurityGroupRule, Snapshot


class AttachLambdaToVpc(Remediation):
    kind = FixKind.ATTACH_LAMBDA_TO_VPC
    risk = Risk.HIGH
    change = "put the function in the database's VPC and subnets"
    iam_actions = (
        "lambda:UpdateFunctionConfiguration",
        "ec2:CreateSecurityGroup",
        "ec2:DeleteSecurityGroup",
        "ec2:AuthorizeSecurityGroupEgress",
        "ec2:RevokeSecurityGroupEgress",
        "ec2:CreateTags",
    )
    handles = frozenset({Code.DB_LAMBDA_NOT_IN_VPC})

    def plan(self, snap: Snapshot, findings: Sequence[Finding], ctx: PlanContext) -> list[Planned]:
        fn, db = snap.function, snap.database
        if fn is None or db is None or fn.in_vpc or db.vpc_id is None or not db.subnet_ids:
            return []
        vpc = db.vpc_id
        name = f"rotation-doctor-{fn.name}"[:255]
        group, steps = new_group_steps(
            ctx, snap, vpc=vpc, name=name, purpose=f"rotation function {fn.name}", tag="rotation-function"
        )
        # Egress only where rotation goes: TCP 443 inside the VPC (its Secrets Manager endpoint), and the
        # database port to the database's groups. A path over the internet is not opened: the planner
        # prefers an endpoint, as AWS does.
        cidrs = vpc_cidrs(snap, vpc)
        https = {
            "IpProtocol": "tcp",
            "FromPort": HTTPS,
            "ToPort": HTTPS,
            "IpRanges": [{"CidrIp": c, "Description": ctx.description("to Secrets Manager in the VPC")} for c in cidrs],
        }
        steps.append(
            self.step(
                ctx,
                Call("ec2", "AuthorizeSecurityGroupEgress", {"GroupId": ctx.real(group), "IpPermissions": [https]}),
                f"+ {group} egress tcp/443 -> {', '.join(cidrs)} (the VPC's CIDR blocks)",
                undo=Call("ec2", "RevokeSecurityGroupEgress", {"GroupId": ctx.real(group), "IpPermissions": [https]}),
                already_done=("InvalidPermission.Duplicate",),
            )
        )
        steps += [
            rule_step(ctx, group=group, peer=db_group, port=db.port, egress=True, why="to the database")
            for db_group in db.security_group_ids
        ]
        steps.append(
            self.step(
                ctx,
                Call(
                    "lambda",
                    "UpdateFunctionConfiguration",
                    {
                        "FunctionName": fn.arn,
                        "VpcConfig": {"SubnetIds": list(db.subnet_ids), "SecurityGroupIds": [ctx.real(group)]},
                    },
                ),
                f"~ {fn.name} VPC: none -> {vpc}, subnets {', '.join(db.subnet_ids)}, group {group}",
                undo=Call(
                    "lambda",
                    "UpdateFunctionConfiguration",
                    {"FunctionName": fn.arn, "VpcConfig": {"SubnetIds": [], "SecurityGroupIds": []}},
                ),
                wait="function_updated_v2",
            )
        )
        fix = Fix(
            self.kind,
            self.risk,
            f"Attach {fn.name} to {vpc}, in the database's subnets.",
            (Code.DB_LAMBDA_NOT_IN_VPC,),
            tuple(steps),
            vpc_id=vpc,
            notes=(
                "The function's role needs the ENI permissions of AWSLambdaVPCAccessExecutionRole "
                "(ec2:CreateNetworkInterface, DescribeNetworkInterfaces, DeleteNetworkInterface).",
            ),
        )
        rules = tuple(SecurityGroupRule(group, True, "tcp", HTTPS, HTTPS, cidr=c) for c in cidrs)
        edits = (
            UpdateFunction(fn.arn, subnet_ids=db.subnet_ids, group_ids=(group,), vpc_id=vpc),
            PutSecurityGroup(SecurityGroup(group, vpc, name, rules)),
            *(rule_added(group=group, peer=g, port=db.port, egress=True) for g in db.security_group_ids),
        )
        return [Planned(fix, edits)]

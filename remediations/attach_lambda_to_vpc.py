"""ATTACH_LAMBDA_TO_VPC: put the rotation function in the database's VPC and subnets, with a group of its own.

The planner then composes what the new place needs: the database admitting the new group, and a
way to Secrets Manager from those subnets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from remediations.base import PlanContext, Planned, Remediation
from rotation_doctor.model.findings import Finding
from rotation_doctor.model.plan import Call, Fix, FixKind, Risk, Step
from rotation_doctor.model.snapshot import SecurityGroup, SecurityGroupRule, Snapshot


class AttachLambdaToVpc(Remediation):
    kind = FixKind.ATTACH_LAMBDA_TO_VPC
    risk = Risk.HIGH
    iam_actions = (
        "lambda:UpdateFunctionConfiguration",
        "ec2:CreateSecurityGroup",
        "ec2:DeleteSecurityGroup",
        "ec2:CreateTags",
    )
    handles = frozenset({"DB_LAMBDA_NOT_IN_VPC"})

    def plan(self, snap: Snapshot, findings: Sequence[Finding], ctx: PlanContext) -> list[Planned]:
        fn, db = snap.function, snap.database
        if fn is None or db is None or fn.in_vpc or db.vpc_id is None or not db.subnet_ids:
            return []
        vpc = db.vpc_id
        sg_step = ctx.step_id()
        group = ctx.placeholder("sg", sg_step, "GroupId")
        name = f"rotation-doctor-{fn.name}"[:255]
        steps = (
            Step(
                sg_step,
                Call(
                    "ec2",
                    "CreateSecurityGroup",
                    {
                        "GroupName": name,
                        "VpcId": vpc,
                        "Description": ctx.description(f"rotation function {fn.name}"),
                        "TagSpecifications": [
                            {"ResourceType": "security-group", "Tags": ctx.tags("rotation-function")}
                        ],
                    },
                ),
                f"+ security group {group} {name} in {vpc} (AWS's default egress)",
                undo=Call("ec2", "DeleteSecurityGroup", {"GroupId": ctx.real(group)}),
                outputs={"GroupId": "GroupId"},
            ),
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
            ),
        )
        fix = Fix(
            self.kind,
            self.risk,
            f"Attach {fn.name} to {vpc}, in the database's subnets.",
            ("DB_LAMBDA_NOT_IN_VPC",),
            steps,
            touches=(fn.arn, vpc),
            vpc_id=vpc,
            notes=(
                "The function's role needs the ENI permissions of AWSLambdaVPCAccessExecutionRole "
                "(ec2:CreateNetworkInterface, DescribeNetworkInterfaces, DeleteNetworkInterface).",
            ),
        )

        def apply_to(s: Snapshot) -> Snapshot:
            egress = SecurityGroupRule(group, True, "-1", None, None, cidr="0.0.0.0/0")
            moved = replace(fn, subnet_ids=db.subnet_ids, security_group_ids=(group,), vpc_id=vpc)
            return replace(
                s,
                function=moved,
                security_groups={**s.security_groups, group: SecurityGroup(group, vpc, name, (egress,))},
            )

        return [Planned(fix, apply_to)]

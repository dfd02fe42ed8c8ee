"""ADD_INVOKE_PERMISSION: the function's resource policy lets Secrets Manager invoke it, for this account only."""

from __future__ import annotations

from collections.abc import Sequence

from remediations.base import PlanContext, Planned, Remediation
from rotation_doctor.model.edits import AddInvokeStatement
from rotation_doctor.model.findings import Code, Finding
from rotation_doctor.model.plan import Call, Fix, FixKind, Risk
from rotation_doctor.model.snapshot import Snapshot

STATEMENT_ID = "rotation-doctor-SecretsManagerInvoke"


class AddInvokePermission(Remediation):
    kind = FixKind.ADD_INVOKE_PERMISSION
    risk = Risk.LOW
    change = "function resource policy: allow `secretsmanager.amazonaws.com`, scoped by source account"
    iam_actions = ("lambda:AddPermission", "lambda:RemovePermission")
    handles = frozenset({Code.INVOKE_PERMISSION_MISSING})

    def plan(self, snap: Snapshot, findings: Sequence[Finding], ctx: PlanContext) -> list[Planned]:
        fn = snap.function
        if fn is None:
            return []
        function_name = snap.secret.rotation_lambda_arn or fn.arn
        account = snap.secret.account
        statement = {
            "Sid": STATEMENT_ID,
            "Effect": "Allow",
            "Principal": {"Service": "secretsmanager.amazonaws.com"},
            "Action": "lambda:InvokeFunction",
            "Resource": function_name,
            "Condition": {"StringEquals": {"AWS:SourceAccount": account}},
        }
        step = self.step(
            ctx,
            Call(
                "lambda",
                "AddPermission",
                {
                    "FunctionName": function_name,
                    "StatementId": STATEMENT_ID,
                    "Action": "lambda:InvokeFunction",
                    "Principal": "secretsmanager.amazonaws.com",
                    "SourceAccount": account,
                },
            ),
            f"+ {fn.name} resource policy: allow secretsmanager.amazonaws.com to invoke (source account {account})",
            undo=Call("lambda", "RemovePermission", {"FunctionName": function_name, "StatementId": STATEMENT_ID}),
            already_done=("ResourceConflictException",),
        )
        fix = Fix(
            self.kind,
            self.risk,
            f"Let Secrets Manager invoke {fn.name}, scoped to account {account}.",
            (Code.INVOKE_PERMISSION_MISSING,),
            (step,),
            vpc_id=fn.vpc_id,
        )
        return [Planned(fix, (AddInvokeStatement(fn.arn, statement),))]

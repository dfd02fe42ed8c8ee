"""Whether Secrets Manager may invoke the rotation function (its resource-based policy)."""

from __future__ import annotations

from rotation_doctor.model.findings import Code, Finding, Severity
from rotation_doctor.model.snapshot import FactKey, PolicyDocument, Snapshot
from rotation_doctor.netsem import iam_policy

SECRETS_MANAGER = "secretsmanager.amazonaws.com"


def analyze(snap: Snapshot) -> list[Finding]:
    fn = snap.function
    if fn is None or snap.failure(FactKey.FUNCTION_POLICY):
        return []
    resource = snap.secret.rotation_lambda_arn or fn.arn
    request = iam_policy.Request(
        "lambda:InvokeFunction",
        resource,
        frozenset({SECRETS_MANAGER}),
        {"aws:sourceaccount": snap.secret.account, "aws:sourcearn": snap.secret.arn},
    )
    decision = iam_policy.evaluate(snap.function_policy or PolicyDocument(()), request)
    if decision.allowed:
        return []
    why = (
        "its resource policy explicitly denies it"
        if decision.explicit_deny
        else "it has no resource policy"
        if snap.function_policy is None
        else "no statement of its resource policy allows it for this secret"
    )
    return [
        Finding(
            Code.INVOKE_PERMISSION_MISSING,
            Severity.ERROR,
            f"Secrets Manager may not invoke rotation function {fn.name}: {why}.",
            (fn.arn,),
            {
                "principal": SECRETS_MANAGER,
                "source_account": snap.secret.account,
                "statements": list(decision.statement_ids),
            },
        )
    ]

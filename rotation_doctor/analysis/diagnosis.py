"""One secret's diagnosis: every path's findings, the evidence from its logs, and the verdict."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rotation_doctor.analysis import invoke, logs, paths
from rotation_doctor.model.diagnosis import Diagnosis as Diagnosis  # its home is the model: stored proposals load it
from rotation_doctor.model.findings import Code, Finding, PathName, Severity, Verdict, verdict_of
from rotation_doctor.model.reads import Reads, tracking
from rotation_doctor.model.snapshot import FactKey, ReadFailure, Snapshot

# Which paths go unjudged when a fact cannot be read (for the AWS_READ_FAILED summary).
_AFFECTS: dict[str, str] = {
    FactKey.SECRET: "every path (nothing about the secret is known)",
    FactKey.SECRET_VALUE: "the database path (the secret's host and port)",
    FactKey.FUNCTION: "every path",
    FactKey.FUNCTION_POLICY: "the invoke permission",
    FactKey.DATABASE: "the database path",
    FactKey.VPCS: "the database and Secrets Manager paths",
    FactKey.SUBNETS: "the database and Secrets Manager paths",
    FactKey.ROUTE_TABLES: "the database and Secrets Manager paths",
    FactKey.NETWORK_ACLS: "the database and Secrets Manager paths",
    FactKey.SECURITY_GROUPS: "the database and Secrets Manager paths",
    FactKey.VPC_ENDPOINTS: "the Secrets Manager path",
    FactKey.DNS_ATTRIBUTES: "the Secrets Manager path",
    FactKey.HOSTED_ZONES: "the Secrets Manager path",
    FactKey.NAT_GATEWAYS: "the Secrets Manager path",
    FactKey.INTERNET_GATEWAYS: "the Secrets Manager path",
    FactKey.PEERINGS: "the database path",
    FactKey.TRANSIT_GATEWAYS: "the database path through a transit gateway",
    FactKey.PROXY_TARGETS: "the RDS Proxy's path to its targets",
    FactKey.LOGS: "nothing (logs are only evidence)",
    FactKey.PREFIX_LISTS: "every flow whose security-group rules name the list",
}


# How AWS's access-denied messages name the policy that refused (IAM User Guide, "Troubleshooting access denied
# error messages": "... with an explicit deny in a <policy type>" or "... because no <policy type> allows the
# <action> action"; from that guide as we know it, not fetched here). Longest first: "resource-based policy"
# must not be read as "identity-based policy".
_POLICY_TYPES = (
    "service control policy",
    "resource control policy",
    "identity-based policy",
    "resource-based policy",
    "permissions boundary",
    "session policy",
    "VPC endpoint policy",
)


def refused_by(message: str) -> str | None:
    """Which policy refused a read, as AWS's message says it ("an explicit deny in a resource-based policy", "no
    identity-based policy allows it"); None when the message does not say. Only our own words are returned: the
    message itself is AWS's, and may carry whatever a resource's name holds."""
    lowered = message.lower()
    for kind in _POLICY_TYPES:
        if f"explicit deny in a {kind.lower()}" in lowered or f"explicit deny in an {kind.lower()}" in lowered:
            return f"an explicit deny in a {kind}"
        if f"because no {kind.lower()} allows" in lowered:
            return f"no {kind} allows it"
    return None


def _read_failed(key: str, failure: ReadFailure) -> Finding:
    base = key.split(":", 1)[0]
    affects = _AFFECTS.get(base, "part of the diagnosis")
    scope = f" for {key.split(':', 1)[1]}" if ":" in key else ""
    severity = Severity.INFO if base == FactKey.LOGS else Severity.WARNING
    policy = refused_by(failure.message)
    refused = f", refused by {policy}" if policy else ""
    grant = (
        f"the secret's owner must allow {failure.permission} in its resource policy"
        if policy is not None and "resource-based" in policy
        else f"grant {failure.permission}"
    )
    return Finding(
        Code.AWS_READ_FAILED,
        severity,
        f"Could not read {base.replace('_', ' ')}{scope} ({failure.operation}: {failure.error_code}{refused}), so "
        f"{affects} is not judged; {grant}.",
        (failure.permission,),
        {
            "operation": failure.operation,
            "error_code": failure.error_code,
            "permission": failure.permission,
            "message": failure.message[:300],
        },
    )


def _config_findings(snap: Snapshot) -> list[Finding] | None:
    """Findings that end the diagnosis before any path is judged (None: go on)."""
    secret = snap.secret
    if not secret.rotation_enabled or not secret.rotation_lambda_arn:
        how = (
            f"managed by {secret.owning_service}"
            if secret.owning_service and secret.rotation_enabled
            else "not turned on"
            if not secret.rotation_enabled
            else "not done by a Lambda function"
        )
        return [
            Finding(
                Code.ROTATION_NOT_LAMBDA,
                Severity.INFO,
                f"Rotation of {secret.name} is {how}: there is no rotation function to diagnose.",
                (secret.arn,),
                {"rotation_enabled": secret.rotation_enabled, "owning_service": secret.owning_service},
            )
        ]
    if snap.function is None and not snap.failure(FactKey.FUNCTION):
        return [
            Finding(
                Code.ROTATION_LAMBDA_MISSING,
                Severity.ERROR,
                f"The secret's rotation function {secret.rotation_lambda_arn} does not exist, so every rotation fails "
                "before it starts.",
                (secret.rotation_lambda_arn,),
                {},
            )
        ]
    return None


def _with_log_evidence(findings: list[Finding], snap: Snapshot) -> list[Finding]:
    """Attach what the logs show to the failing findings of the path the logs point at."""
    if not snap.log_signals:
        return findings
    out = []
    for finding in findings:
        signals = logs.path_signals(snap, finding.path) if finding.path in (PathName.SM, PathName.DB) else []
        if signals and finding.severity is not Severity.INFO:
            finding = replace(finding, evidence={**finding.evidence, "logs": [vars(s) for s in signals]})
        out.append(finding)
    return out


def diagnose(snap: Snapshot, reads: Reads | None = None) -> Diagnosis:
    """The diagnosis, with the record of every fact it read (filled into `reads` when given)."""
    view, record = tracking(snap, reads)
    return replace(_diagnose(view), reads=record)


def _diagnose(snap: Snapshot) -> Diagnosis:
    findings = [_read_failed(key, failure) for key, failure in sorted(snap.failures.items())]
    judged: paths.Judged | None = None
    stop = _config_findings(snap)
    if snap.failure(FactKey.SECRET) is not None:
        pass  # a secret that could not be described is known by its id alone: its read failure is the diagnosis
    elif stop is not None:
        findings = [f for f in findings if f.severity is Severity.INFO] + stop
    else:
        judged = paths.judge(snap)
        network = [*judged.sm, *judged.db, *invoke.analyze(snap)]
        findings += _with_log_evidence(network, snap)
        findings += logs.analyze(snap, network)
    return Diagnosis(
        secret_arn=snap.secret.arn,
        secret_name=snap.secret.name,
        verdict=verdict_of(findings),
        findings=tuple(findings),
        context=_context(snap),
        paths=judged.paths if judged is not None else (),
    )


def wants_logs(snap: Snapshot, first_pass: Diagnosis) -> bool:
    """Logs cost a call: read them only when something is wrong or a rotation is known to have failed."""
    if snap.function is None or snap.log_signals is not None:
        return False
    return snap.rotation_failed_recently or first_pass.verdict is not Verdict.HEALTHY


def _context(snap: Snapshot) -> dict[str, Any]:
    fn, db = snap.function, snap.database
    context: dict[str, Any] = {"region": snap.region}
    if fn is not None:
        context["function"] = {
            "name": fn.name,
            "vpc": fn.vpc_id,
            "subnets": list(fn.subnet_ids),
            "security_groups": list(fn.security_group_ids),
        }
    if db is not None:
        context["database"] = {
            "kind": str(db.kind),
            "id": db.identifier,
            "port": db.port,
            "vpc": db.vpc_id,
            "subnets": list(db.subnet_ids),
            "security_groups": list(db.security_group_ids),
        }
    if snap.log_signals is not None:
        context["logs"] = [vars(s) for s in snap.log_signals]
    return context

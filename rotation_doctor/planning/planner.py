"""The smallest set of fixes after which a fresh diagnosis is healthy, or the reasons there is none.

Round by round: diagnose, let each fix kind (in registry order) offer fixes for the findings it
handles, apply them to a copy of the snapshot, diagnose again. Fixes compose this way (a new
endpoint, then the egress rule that reaches it; a function moved into a VPC, then the database
admitting it and a way to Secrets Manager from there), and the plan's claim to end healthy is
checked by the same analyzer that diagnosed the account. Pure: no AWS calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from remediations import REGISTRY, PlanContext
from rotation_doctor.analysis import Diagnosis, diagnose
from rotation_doctor.model.findings import Code, Finding, Severity, Verdict
from rotation_doctor.model.plan import Fix, FixKind, Plan, Unfixable
from rotation_doctor.model.snapshot import Snapshot
from rotation_doctor.planning.ownership import with_links

MAX_ROUNDS = 6

_WHY_NOT: dict[Code, str] = {
    Code.SM_ENDPOINT_POLICY_DENIES: "the endpoint policy governs every caller in the VPC; edit it by hand",
    Code.SM_PATH_NOT_EVALUATED: "the path leaves what rotation-doctor models (transit gateway, firewall, hub endpoint)",
    Code.DB_PATH_NOT_EVALUATED: "the path leaves what rotation-doctor models (transit gateway peering or VPN, "
    "appliance)",
    Code.SM_ENDPOINT_NO_ROUTE: "the route to the centralized endpoint crosses into another VPC (a peering or a "
    "transit gateway shared by other VPCs): add it by hand; rotation-doctor changes only the function's own VPC",
    Code.DB_TGW_NOT_ATTACHED: "attach the VPC to the transit gateway in the zone named; rotation-doctor never "
    "changes a transit gateway",
    Code.DB_TGW_ROUTE_MISSING: "add the route (or the association) to the transit gateway route table named; it is "
    "shared by every attached VPC, so rotation-doctor never edits one",
    Code.DB_TGW_BLACKHOLE: "replace the blackhole route in the transit gateway route table named; it is shared by "
    "every attached VPC, so rotation-doctor never edits one",
    Code.SM_TGW_NOT_ATTACHED: "attach the VPC to the transit gateway in the zone named, or give the function's VPC "
    "a Secrets Manager endpoint; rotation-doctor never changes a transit gateway",
    Code.SM_TGW_ROUTE_MISSING: "add the route (or the association) to the transit gateway route table named; it is "
    "shared by every attached VPC, so rotation-doctor never edits one",
    Code.SM_TGW_BLACKHOLE: "replace the blackhole route in the transit gateway route table named; it is shared by "
    "every attached VPC, so rotation-doctor never edits one",
    Code.SM_EGRESS_NO_NAT: "route the egress VPC's transit gateway subnets to a NAT gateway; the egress VPC serves "
    "every spoke, so rotation-doctor never edits its routes",
    Code.SM_EGRESS_NO_RETURN_ROUTE: "route the spoke's block back to the transit gateway in the egress VPC's public "
    "route table; the egress VPC serves every spoke, so rotation-doctor never edits its routes",
    Code.DB_PROXY_TARGET_UNREACHABLE: "the proxy's own groups send nothing to its target on the target's port: add "
    "the outbound rule to the proxy's group by hand (rotation-doctor plans only the target's group admitting the "
    "proxy's, and the network ACL entries between them)",
    Code.DB_PROXY_TARGET_UNHEALTHY: "the proxy's target is unhealthy: look at its health reason, register a target "
    "or fix the proxy's Auth secret",
    Code.DB_TARGET_UNRESOLVED: "the database is not identified: tag the secret rotation-doctor:target",
    Code.DB_PORT_MISMATCH: "the secret names the wrong port: correct the secret; rotation-doctor never edits one",
    Code.ROTATION_LAMBDA_MISSING: "the rotation function does not exist: redeploy it or change the secret's rotation",
    Code.LOGS_SHOW_NON_NETWORK_ERROR: "not a network problem: credentials, IAM or KMS",
    Code.AWS_READ_FAILED: "part of the account could not be read: grant the permission and plan again",
    Code.SM_ENDPOINT_NOT_AVAILABLE: "the endpoint the function uses is not available: wait for it, or repair it",
}


def make_plan(
    snap: Snapshot,
    first: Diagnosis | None = None,
    *,
    prefer_nat: bool = False,
    trusted_prefixes: Sequence[str] = (),
) -> Plan:
    """The plan, each fix with its link to the secret (see ownership: unproven fixes are high risk)."""
    plan = _make_plan(snap, first, prefer_nat=prefer_nat)
    if prefer_nat and not plan.ends_healthy:
        # A NAT path needs the function to reach the internet, which rotation-doctor never opens (rules name
        # groups, never 0.0.0.0/0): when that is what stands in the way, the endpoint is the way.
        fallback = _make_plan(snap, first, prefer_nat=False)
        if fallback.ends_healthy:
            note = "A NAT gateway was asked for, but it cannot end healthy here; the plan uses the endpoint instead."
            plan = replace(fallback, notes=(*fallback.notes, note))
    return replace(plan, fixes=with_links(plan.fixes, snap, trusted_prefixes))


def _make_plan(snap: Snapshot, first: Diagnosis | None, *, prefer_nat: bool) -> Plan:
    ctx = PlanContext(snap.secret.arn, snap.secret.name)
    current, diagnosis = snap, first or diagnose(snap)
    fixes: list[Fix] = []
    for _ in range(MAX_ROUNDS):
        if diagnosis.verdict is Verdict.HEALTHY:
            break
        actionable = [f for f in diagnosis.findings if f.severity is not Severity.INFO]
        offered = False
        for kind, remediation in REGISTRY.items():
            if (kind is FixKind.CREATE_NAT_GATEWAY) is not prefer_nat and kind in (
                FixKind.CREATE_NAT_GATEWAY,
                FixKind.CREATE_SECRETSMANAGER_ENDPOINT,
            ):
                continue  # one of the two ways to Secrets Manager, as asked
            mine = [f for f in actionable if f.code in remediation.handles]
            if not mine:
                continue
            for planned in remediation.plan(current, mine, ctx):
                fixes.append(planned.fix)
                current = planned.apply_to(current)
                offered = True
            if offered:
                break  # one kind a round: the next diagnosis sees what it changed
        if not offered:
            break
        diagnosis = diagnose(current)
    return Plan(
        secret_arn=snap.secret.arn,
        secret_name=snap.secret.name,
        fixes=tuple(fixes),
        unfixable=_unfixable(diagnosis.findings),
        ends_healthy=diagnosis.verdict is Verdict.HEALTHY,
    )


def _unfixable(findings: tuple[Finding, ...]) -> tuple[Unfixable, ...]:
    out: dict[Code, Unfixable] = {}
    for f in findings:
        if f.severity is Severity.INFO or f.code in out:
            continue
        out[f.code] = Unfixable(
            f.code, _WHY_NOT.get(f.code, f"no fix kind applies here; {f.remedy[0].lower()}{f.remedy[1:]}")
        )
    return tuple(out.values())

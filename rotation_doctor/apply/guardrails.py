"""What may be changed, decided before anything is: approval mode, risk, opt-out tags, allow-lists, a rate cap."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from rotation_doctor.model.plan import Fix, FixKind, ResourceKind, Risk, Written
from rotation_doctor.model.snapshot import FactKey, Snapshot

IGNORE_TAG = "rotation-doctor:ignore"
MIN_HASH_PREFIX = 12  # what the text output shows of a plan's hash


class Mode(StrEnum):
    OBSERVE = "observe"  # diagnose and notify; change nothing
    PROPOSE = "propose"  # store a proposal; apply only once approved
    AUTO = "auto"  # apply at once up to max_auto_risk; propose the rest


@dataclass(frozen=True)
class Approval:
    """A person's yes: to a plan with this hash (None: whatever the fresh plan is), up to this risk."""

    by: str
    plan_hash: str | None = None  # the whole hash, or (from a person at a terminal) its first 12+ characters
    max_risk: Risk = Risk.HIGH

    def __post_init__(self) -> None:
        if self.plan_hash is not None and len(self.plan_hash) < MIN_HASH_PREFIX:
            raise ValueError(f"a plan hash of at least {MIN_HASH_PREFIX} characters binds an approval")

    def binds(self, plan_hash: str) -> bool:
        """Whether this approval is for the plan with that hash (any plan, when it names none)."""
        return self.plan_hash is None or plan_hash.startswith(self.plan_hash.lower())


class ChangeBudget(Protocol):
    def take(self, account: str, changes: int) -> bool:
        """Reserve `changes` changes for `account` in the current hour; False when over the cap."""


class InMemoryBudget:
    """A per-process cap (the CLI's); the service keeps its count in DynamoDB."""

    def __init__(self, per_hour: int) -> None:
        self.per_hour = per_hour
        self._used: dict[tuple[str, int], int] = defaultdict(int)
        self._lock = threading.Lock()

    def take(self, account: str, changes: int) -> bool:
        key = (account, int(time.time() // 3600))
        with self._lock:
            if self._used[key] + changes > self.per_hour:
                return False
            self._used[key] += changes
            return True


@dataclass(frozen=True)
class Policy:
    mode: Mode = Mode.PROPOSE
    max_auto_risk: Risk = Risk.LOW
    allowed_vpcs: frozenset[str] = frozenset()  # empty: any
    allowed_accounts: frozenset[str] = frozenset()  # empty: any
    # Secret names the deployer trusts to name their own database (see planning.ownership).
    trusted_secret_prefixes: tuple[str, ...] = ()
    # After a fix ends healthy, start the rotation again (the template grants RotateSecret only then).
    retry_rotation: bool = False
    # Fix kinds the deployment does not permit (the template grants their writes only when the deployer enables
    # them): proposed, never applied. A person's own credentials (the CLI) permit every kind.
    not_permitted: frozenset[FixKind] = frozenset()
    budget: ChangeBudget | None = field(default=None, compare=False)


def policy_from_env(env: Mapping[str, str], **overrides: object) -> Policy:
    """The deployment's settings: ROTATION_DOCTOR_MODE, _MAX_AUTO_RISK, _ALLOWED_VPCS, _ALLOWED_ACCOUNTS,
    _TRUSTED_SECRET_PREFIXES (comma-separated), _MAX_CHANGES_PER_HOUR, _RETRY_ROTATION (true|false),
    _ATTACH_LAMBDA_TO_VPC (Enabled|Disabled; unset, as for the CLI: permitted)."""

    def listed(name: str) -> frozenset[str]:
        return frozenset(v.strip() for v in env.get(name, "").split(",") if v.strip())

    cap = env.get("ROTATION_DOCTOR_MAX_CHANGES_PER_HOUR", "").strip()
    values: dict[str, object] = {
        "mode": Mode(env.get("ROTATION_DOCTOR_MODE", "").strip() or Mode.PROPOSE),
        "max_auto_risk": Risk(env.get("ROTATION_DOCTOR_MAX_AUTO_RISK", "low").strip() or "low"),
        "allowed_vpcs": listed("ROTATION_DOCTOR_ALLOWED_VPCS"),
        "allowed_accounts": listed("ROTATION_DOCTOR_ALLOWED_ACCOUNTS"),
        "trusted_secret_prefixes": tuple(sorted(listed("ROTATION_DOCTOR_TRUSTED_SECRET_PREFIXES"))),
        "retry_rotation": env.get("ROTATION_DOCTOR_RETRY_ROTATION", "").strip().lower() == "true",
        "not_permitted": frozenset(
            kind for kind, variable in OPT_IN_FIX_KINDS.items() if env.get(variable, "Enabled").strip() != "Enabled"
        ),
        "budget": InMemoryBudget(int(cap)) if cap else None,
    }
    values.update(overrides)
    return Policy(**values)  # type: ignore[arg-type]


# Fix kinds whose writes a deployment grants only when its deployer enables them, and the variable that says so.
OPT_IN_FIX_KINDS: Mapping[FixKind, str] = {FixKind.ATTACH_LAMBDA_TO_VPC: "ROTATION_DOCTOR_ATTACH_LAMBDA_TO_VPC"}


def opted_out(tags: Mapping[str, str]) -> bool:
    return tags.get(IGNORE_TAG, "").strip().lower() == "true"


def blocked(fix: Fix, snap: Snapshot, policy: Policy, approval: Approval | None) -> str | None:
    """Why `fix` may not be applied now, or None when it may."""
    if policy.mode is Mode.OBSERVE:
        return "mode is observe"
    if fix.kind in policy.not_permitted:
        return f"{fix.kind} is not permitted in this deployment (its deployer has not enabled it)"
    if approval is None:
        if policy.mode is not Mode.AUTO:
            return "waits for approval"
        if fix.kind is FixKind.CREATE_NAT_GATEWAY or not fix.risk.at_most(policy.max_auto_risk):
            return f"risk {fix.risk} is above max_auto_risk {policy.max_auto_risk}"
        if fix.link.by_person_only:
            return f"waits for a person's approval: {fix.link.proof}"
    elif not fix.risk.at_most(approval.max_risk):
        return f"risk {fix.risk} is above the approved {approval.max_risk}"
    if policy.allowed_accounts and snap.secret.account not in policy.allowed_accounts:
        return f"account {snap.secret.account} is not in the allow-list"
    if opted_out(snap.secret.tags):
        return f"the secret is tagged {IGNORE_TAG}=true"
    return _every_written_resource_may_change(fix, snap, policy)


def _every_written_resource_may_change(fix: Fix, snap: Snapshot, policy: Policy) -> str | None:
    """Opt-out tags and the VPC allow-list, on every resource any step writes (and on the VPC it lives in)."""
    vpcs: set[str] = set()
    for written in fix.writes:
        if written.created_by_plan:
            continue  # new, untagged, and made in a VPC that the creating call names (checked as its own write)
        found = locate(written, snap)
        if found is None:
            return f"{written.kind} {written.id} was not read, so its opt-out tag and VPC cannot be checked"
        vpc_id, tags = found
        unread = _tags_unread(written, snap)
        if unread is not None:
            return (
                f"{written.kind} {written.id}: its tags could not be read ({unread}), so its opt-out cannot be checked"
            )
        if tags is not None and opted_out(tags):
            return f"{written.kind} {written.id} is tagged {IGNORE_TAG}=true"
        if vpc_id is not None:
            vpcs.add(vpc_id)
    for vpc_id in sorted(vpcs):
        vpc = snap.vpcs.get(vpc_id)
        if vpc is None:  # unread is unknown, never "not opted out"
            failure = snap.failure(FactKey.VPCS)
            why = f"{failure.operation} failed: {failure.error_code}" if failure is not None else "not in what was read"
            return f"VPC {vpc_id} was not read ({why}), so its opt-out tag cannot be checked"
        if opted_out(vpc.tags):
            return f"VPC {vpc_id} is tagged {IGNORE_TAG}=true"
        if policy.allowed_vpcs and vpc_id not in policy.allowed_vpcs:
            return f"VPC {vpc_id} is not in the allow-list"
    if policy.allowed_vpcs and not vpcs:
        return "the fix changes nothing inside an allow-listed VPC"
    return None


def _tags_unread(written: Written, snap: Snapshot) -> str | None:
    """Why the tags of a resource that was itself read are unknown, or None. Only a function's come from a read of
    their own (lambda:ListTags); every other kind's come with the resource (None from `locate`: unread)."""
    if written.kind is not ResourceKind.FUNCTION:
        return None
    failure = snap.failure(FactKey.FUNCTION, "tags")
    return f"{failure.operation} failed: {failure.error_code}" if failure is not None else None


def locate(written: Written, snap: Snapshot) -> tuple[str | None, Mapping[str, str] | None] | None:
    """The VPC a written resource is in and its tags (None: the kind carries none here), or None if unread."""
    kind, rid = written.kind, written.id
    if kind is ResourceKind.VPC:
        vpc = snap.vpcs.get(rid)
        return (rid, vpc.tags) if vpc is not None else None
    if kind is ResourceKind.FUNCTION:
        fn = snap.function
        if fn is not None and rid in (fn.arn, fn.name):
            return fn.vpc_id, fn.tags
        return None
    if kind is ResourceKind.SUBNET and rid in snap.subnets:
        return snap.subnets[rid].vpc_id, snap.subnets[rid].tags
    if kind is ResourceKind.SECURITY_GROUP and rid in snap.security_groups:
        return snap.security_groups[rid].vpc_id, snap.security_groups[rid].tags
    if kind is ResourceKind.NAT_GATEWAY and rid in snap.nat_gateways:
        return snap.nat_gateways[rid].vpc_id, None
    by_id: Mapping[str, tuple[str, Mapping[str, str]]] = {}
    if kind is ResourceKind.ROUTE_TABLE:
        by_id = {t.id: (t.vpc_id, t.tags) for t in snap.route_tables}
    elif kind is ResourceKind.NETWORK_ACL:
        by_id = {a.id: (a.vpc_id, a.tags) for a in snap.network_acls}
    elif kind is ResourceKind.VPC_ENDPOINT:
        by_id = {e.id: (e.vpc_id, e.tags) for e in snap.vpc_endpoints}
    return by_id.get(rid)

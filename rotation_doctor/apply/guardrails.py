"""What may be changed, decided before anything is: approval mode, risk, opt-out tags, allow-lists, a rate cap."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from rotation_doctor.model.plan import Fix, FixKind, Risk
from rotation_doctor.model.snapshot import Snapshot

IGNORE_TAG = "rotation-doctor:ignore"


class Mode(StrEnum):
    OBSERVE = "observe"  # diagnose and notify; change nothing
    PROPOSE = "propose"  # store a proposal; apply only once approved
    AUTO = "auto"  # apply at once up to max_auto_risk; propose the rest


@dataclass(frozen=True)
class Approval:
    """A person's yes: to a plan with this hash (None: whatever the fresh plan is), up to this risk."""

    by: str
    plan_hash: str | None = None
    max_risk: Risk = Risk.HIGH


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
    budget: ChangeBudget | None = field(default=None, compare=False)


def policy_from_env(env: Mapping[str, str], **overrides: object) -> Policy:
    """The deployment's settings: ROTATION_DOCTOR_MODE, _MAX_AUTO_RISK, _ALLOWED_VPCS, _ALLOWED_ACCOUNTS
    (comma-separated), _MAX_CHANGES_PER_HOUR."""

    def listed(name: str) -> frozenset[str]:
        return frozenset(v.strip() for v in env.get(name, "").split(",") if v.strip())

    cap = env.get("ROTATION_DOCTOR_MAX_CHANGES_PER_HOUR", "").strip()
    values: dict[str, object] = {
        "mode": Mode(env.get("ROTATION_DOCTOR_MODE", "").strip() or Mode.PROPOSE),
        "max_auto_risk": Risk(env.get("ROTATION_DOCTOR_MAX_AUTO_RISK", "low").strip() or "low"),
        "allowed_vpcs": listed("ROTATION_DOCTOR_ALLOWED_VPCS"),
        "allowed_accounts": listed("ROTATION_DOCTOR_ALLOWED_ACCOUNTS"),
        "budget": InMemoryBudget(int(cap)) if cap else None,
    }
    values.update(overrides)
    return Policy(**values)  # type: ignore[arg-type]


def opted_out(tags: Mapping[str, str]) -> bool:
    return tags.get(IGNORE_TAG, "").strip().lower() == "true"


def blocked(fix: Fix, snap: Snapshot, policy: Policy, approval: Approval | None) -> str | None:
    """Why `fix` may not be applied now, or None when it may."""
    if policy.mode is Mode.OBSERVE:
        return "mode is observe"
    if approval is None:
        if policy.mode is not Mode.AUTO:
            return "waits for approval"
        if fix.kind is FixKind.CREATE_NAT_GATEWAY or not fix.risk.at_most(policy.max_auto_risk):
            return f"risk {fix.risk} is above max_auto_risk {policy.max_auto_risk}"
    elif not fix.risk.at_most(approval.max_risk):
        return f"risk {fix.risk} is above the approved {approval.max_risk}"
    if policy.allowed_accounts and snap.secret.account not in policy.allowed_accounts:
        return f"account {snap.secret.account} is not in the allow-list"
    if policy.allowed_vpcs and fix.vpc_id not in policy.allowed_vpcs:
        return f"VPC {fix.vpc_id} is not in the allow-list"
    return _opt_out(fix, snap)


def _opt_out(fix: Fix, snap: Snapshot) -> str | None:
    if opted_out(snap.secret.tags):
        return f"the secret is tagged {IGNORE_TAG}=true"
    fn = snap.function
    if fn is not None and fn.arn in fix.touches and opted_out(fn.tags):
        return f"function {fn.name} is tagged {IGNORE_TAG}=true"
    for resource in fix.touches:
        group = snap.security_groups.get(resource)
        if group is not None and opted_out(group.tags):
            return f"security group {resource} is tagged {IGNORE_TAG}=true"
    for vpc_id in {fix.vpc_id, *fix.touches} & set(snap.vpcs):
        if vpc_id and opted_out(snap.vpcs[vpc_id].tags):
            return f"VPC {vpc_id} is tagged {IGNORE_TAG}=true"
    return None

"""Just enough IAM policy evaluation for endpoint policies and Lambda resource policies.

Explicit Deny beats Allow, and no Allow is a deny. Actions and resources match with IAM's
wildcards (`*`, `?`; actions case-insensitively). Conditions on the keys a rotation request
carries are evaluated; any other condition cannot be judged from configuration, so it is
assumed not to stand in the rotation's way (an Allow applies, a Deny does not) and is
reported as not evaluated.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from rotation_doctor.model.snapshot import PolicyDocument


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    principals: frozenset[str]  # every way the caller can be named: ARNs, account ids, service names
    context: Mapping[str, str] = field(default_factory=dict)  # condition keys, lowercase names
    # True when `context` holds every key the request carries: a key it lacks is absent from the request, and AWS
    # decides on it (an IfExists or negated operator holds, any other does not) instead of "not evaluated".
    context_is_complete: bool = False


@dataclass(frozen=True)
class PolicyDecision:
    allowed: bool
    explicit_deny: bool
    statement_ids: tuple[str, ...]  # the statements that decided
    unevaluated_conditions: tuple[str, ...] = ()


@lru_cache(maxsize=1024)
def _pattern(glob: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(f"^{body}$", re.IGNORECASE if ignore_case else 0)


def wildcard_match(glob: str, value: str, *, ignore_case: bool = False) -> bool:
    return bool(_pattern(glob, ignore_case).match(value))


def _as_list(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [str(value)]


def _principal_matches(stmt: Mapping[str, object], principals: frozenset[str]) -> bool:
    if "NotPrincipal" in stmt:
        return not _principal_value_matches(stmt["NotPrincipal"], principals)
    if "Principal" not in stmt:
        return True  # identity-style statement inside a resource policy: applies to the caller
    return _principal_value_matches(stmt["Principal"], principals)


def _principal_value_matches(value: object, principals: frozenset[str]) -> bool:
    if value == "*":
        return True
    names = [n for v in value.values() for n in _as_list(v)] if isinstance(value, Mapping) else _as_list(value)
    for name in names:
        if name == "*" or name in principals:
            return True
        account = re.fullmatch(r"arn:aws[\w-]*:iam::(\d{12}):root", name)
        if account and account.group(1) in principals:
            return True
    return False


def _matches_any(patterns: Iterable[str], value: str, *, ignore_case: bool) -> bool:
    return any(wildcard_match(p, value, ignore_case=ignore_case) for p in patterns)


def _action_matches(stmt: Mapping[str, object], action: str) -> bool:
    if "NotAction" in stmt:
        return not _matches_any(_as_list(stmt["NotAction"]), action, ignore_case=True)
    return _matches_any(_as_list(stmt.get("Action")), action, ignore_case=True)


def _resource_matches(stmt: Mapping[str, object], resource: str) -> bool:
    if "NotResource" in stmt:
        return not _matches_any(_as_list(stmt["NotResource"]), resource, ignore_case=False)
    if "Resource" not in stmt:
        return True  # resource policies may leave it out: the resource is the policy's own
    return _matches_any(_as_list(stmt["Resource"]), resource, ignore_case=False)


_STRING_OPS = {
    "stringequals": (False, False, False),
    "stringnotequals": (False, True, False),
    "stringequalsignorecase": (False, False, True),
    "stringnotequalsignorecase": (False, True, True),
    "stringlike": (True, False, False),
    "stringnotlike": (True, True, False),
    "arnequals": (False, False, False),
    "arnlike": (True, False, False),
    "arnnotequals": (False, True, False),
    "arnnotlike": (True, True, False),
}


def _conditions_hold(
    stmt: Mapping[str, object], context: Mapping[str, str], unevaluated: list[str], *, complete: bool = False
) -> bool | None:
    """True/False when every condition could be judged, None when one could not."""
    conditions = stmt.get("Condition")
    if not isinstance(conditions, Mapping):
        return True
    verdict: bool | None = True
    for operator, clauses in conditions.items():
        op = str(operator).lower()
        if_exists = op.endswith("ifexists")
        base = op.removesuffix("ifexists")
        if base not in _STRING_OPS or not isinstance(clauses, Mapping):
            unevaluated.append(str(operator))
            verdict = None if verdict else verdict
            continue
        wildcard, negate, ignore_case = _STRING_OPS[base]
        for key, wanted in clauses.items():
            actual = context.get(str(key).lower())
            if actual is None:
                if if_exists:
                    continue
                if complete:  # IAM User Guide, "Condition operators": a negated operator holds on an absent key
                    if negate:
                        continue
                    return False
                unevaluated.append(f"{operator}:{key}")
                verdict = None if verdict else verdict
                continue
            values = _as_list(wanted)
            if wildcard:
                hit = _matches_any(values, actual, ignore_case=ignore_case)
            else:
                hit = any((v.lower() == actual.lower()) if ignore_case else v == actual for v in values)
            if hit == negate:
                return False
    return verdict


def evaluate(policy: PolicyDocument | None, request: Request) -> PolicyDecision:
    """Decide `request` under `policy`; None is AWS's default endpoint policy (full access)."""
    if policy is None:
        return PolicyDecision(True, False, ("default",))
    allows: list[str] = []
    denies: list[str] = []
    unevaluated: list[str] = []
    for index, stmt in enumerate(policy.statements):
        if not (_principal_matches(stmt, request.principals) and _action_matches(stmt, request.action)):
            continue
        if not _resource_matches(stmt, request.resource):
            continue
        sid = str(stmt.get("Sid") or f"#{index}")
        holds = _conditions_hold(stmt, request.context, unevaluated, complete=request.context_is_complete)
        effect = str(stmt.get("Effect", "")).lower()
        if effect == "deny" and holds is True:
            denies.append(sid)
        elif effect == "allow" and holds is not False:
            allows.append(sid)
    if denies:
        return PolicyDecision(False, True, tuple(denies), tuple(unevaluated))
    return PolicyDecision(bool(allows), False, tuple(allows), tuple(unevaluated))

"""`--format text`: the hop chain under a finding, compact enough for a phone's terminal: every stop by its id, the
one the finding is about marked, with what it was asked and answered."""

from __future__ import annotations

from collections.abc import Sequence

from rotation_doctor.model.findings import Finding, PathName, Severity
from rotation_doctor.model.paths import HopVerdict, Path, PathCase, PathLeg

_LEGS_OF = {PathName.SM: (PathLeg.SM,), PathName.DB: (PathLeg.DB, PathLeg.PROXY)}


def case_of(finding: Finding, paths: Sequence[Path]) -> PathCase | None:
    """The shown case whose blocked (or doubtful) hop is a resource the finding names; None when no hop is."""
    if finding.severity is Severity.INFO:
        return None
    named = set(finding.resources)
    for path in paths:
        if path.leg not in _LEGS_OF.get(finding.path, ()):
            continue
        for case in path.cases:
            if any(h.verdict is not HopVerdict.PASSES and named & set(h.ids) for h in case.hops):
                return case
    return None


def chain(case: PathCase, named: Sequence[str]) -> str:
    """`fn → sg-1 → ✗ rtb-2 (route for 0.0.0.0/0: no route) → secretsmanager...`"""
    parts = []
    for stop in case.stops():
        verdict = stop.verdict
        if verdict is HopVerdict.PASSES:
            parts.append(stop.component)
            continue
        hop = stop.deciding
        why = f" ({hop.question}: {hop.answer})" if set(named) & set(hop.ids) else ""
        parts.append(f"{verdict.mark} {stop.component}{why}")
    return " → ".join(parts)

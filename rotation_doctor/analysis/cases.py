"""A path is judged once per case (a function subnet and a peer subnet); cases fold into findings.

No case works: each reason is an error. Some case works: the failing ones are warnings
(rotation fails intermittently, or after a failover). The same reason in several cases is one
finding whose evidence lists the cases.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rotation_doctor.analysis import hops
from rotation_doctor.model.evidence import Evidence
from rotation_doctor.model.findings import Code, Finding, Severity


@dataclass(frozen=True)
class Problem:
    code: Code
    summary: str
    resources: tuple[str, ...] = ()
    evidence: Mapping[str, Any] = field(default_factory=dict)  # for people and JSON; from `facts` when left out
    soft: bool = False  # a doubt, not a failure: the case still counts as working, reported as warning
    subject: str | None = None  # what differs between cases with this same reason (a function subnet)
    facts: Evidence | None = None  # the evidence typed, for fix kinds (see model/evidence.py)

    def __post_init__(self) -> None:
        if self.facts is not None and not self.evidence:
            object.__setattr__(self, "evidence", self.facts.to_json())

    @property
    def not_evaluated(self) -> bool:
        return self.code.is_not_evaluated


@dataclass
class Case:
    name: str
    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        hops.case_started(self)  # the hops the checks record next are this case's

    @property
    def works(self) -> bool:
        return not any(not p.soft for p in self.problems)

    @property
    def fails(self) -> bool:
        return any(not p.soft and not p.not_evaluated for p in self.problems)


def fold(cases: Iterable[Case]) -> list[Finding]:
    """Findings for a path from its cases: one per distinct (code, summary, resources), severity by the rule above.

    Problems folded together say the same thing about the same resources; the first one's evidence
    and typed facts stand for all of them (they differ at most in the peer subnet), and the evidence
    lists the cases.
    """
    all_cases = list(cases)
    if not all_cases:
        return []
    any_works = any(c.works for c in all_cases)
    merged: dict[tuple[Code, str, tuple[str, ...]], tuple[Problem, list[str], list[str]]] = {}
    for case in all_cases:
        for problem in case.problems:
            key = (problem.code, problem.summary, problem.resources)
            if key not in merged:
                merged[key] = (problem, [], [])
            _, names, subjects = merged[key]
            if case.name not in names:
                names.append(case.name)
            if problem.subject and problem.subject not in subjects:
                subjects.append(problem.subject)
    findings = []
    for problem, names, subjects in merged.values():
        severity = Severity.WARNING if problem.soft or problem.not_evaluated or any_works else problem.code.severity
        summary = problem.summary.replace("{subjects}", _spoken(subjects))
        if len(all_cases) > 1 and len(names) < len(all_cases):
            summary = f"{summary.rstrip('.')} (in {len(names)} of {len(all_cases)} subnet cases)."
        evidence = dict(problem.evidence)
        if len(all_cases) > 1:
            evidence["cases"] = names
        resources = tuple(dict.fromkeys((*subjects, *problem.resources)))
        findings.append(Finding(problem.code, severity, summary, resources, evidence, problem.facts))
    return findings


def _spoken(items: list[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"

"""A second opinion from VPC Reachability Analyzer on the paths the model cannot judge (`diagnose --deep`), pure.

`questions` says which paths to ask AWS about and where they lead, from the diagnosis and the snapshot: a path
with a `*_PATH_NOT_EVALUATED` finding (a firewall, an appliance, a NAT instance, a transit gateway on the way).
`collect/reachability.py` asks AWS and answers each with an `Answer`; `fold` folds the answers into the findings:

- AWS finds no path: the path's not-evaluated findings become one `*_PATH_BLOCKED_BY_ANALYZER` error that names the
  blocking component and AWS's explanation codes (the verdict becomes broken);
- AWS finds a path: they become info (the same code, so the verdict no longer waits on them), naming the analysis;
- AWS could not say (the analysis failed, timed out, or could not be started): they stay as they were, with what
  happened in their evidence.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from rotation_doctor.analysis import sm_egress
from rotation_doctor.analysis.diagnosis import Diagnosis
from rotation_doctor.analysis.sm_path import secrets_manager_endpoints
from rotation_doctor.model.findings import Code, Finding, PathName, Severity, verdict_of
from rotation_doctor.model.snapshot import Snapshot
from rotation_doctor.model.states import AnalyzerRun

NOT_EVALUATED = {PathName.SM: Code.SM_PATH_NOT_EVALUATED, PathName.DB: Code.DB_PATH_NOT_EVALUATED}
BLOCKED = {PathName.SM: Code.SM_PATH_BLOCKED_BY_ANALYZER, PathName.DB: Code.DB_PATH_BLOCKED_BY_ANALYZER}
HTTPS = 443
COST_NOTE = (
    "diagnose --deep runs VPC Reachability Analyzer: about USD 0.10 for each analysis (one per path the model "
    "cannot judge), billed to the account; its paths and analyses are deleted afterwards."
)


@dataclass(frozen=True)
class Question:
    """One path to ask AWS about: from the function's network interface to a resource (`destination_id`: the
    Secrets Manager endpoint or the VPC's internet gateway) or to an address (`destination_host`: the database)."""

    path: PathName
    port: int
    subnet_ids: tuple[str, ...]  # where to take the function's interface from: the findings' subnets first
    security_group_ids: tuple[str, ...]  # the function's groups: its interface has exactly these
    destination_id: str | None = None
    destination_host: str | None = None  # an IP, or a name the collector resolves
    skipped: str | None = None  # why no analysis can be built (no destination known)

    @property
    def destination(self) -> str | None:
        return self.destination_id or self.destination_host


@dataclass(frozen=True)
class Blocker:
    """A component AWS names in an explanation: `kind` is the explanation's key (SecurityGroup, Acl, ...)."""

    kind: str
    id: str


@dataclass(frozen=True)
class Answer:
    """What became of one question: AWS's answer, or why there is none, and any resource left behind."""

    question: Question
    run: AnalyzerRun
    source: str | None = None  # the function's network interface the path starts from
    destination_ip: str | None = None  # the address the database's name resolved to
    path_id: str | None = None
    analysis_id: str | None = None
    path_found: bool | None = None
    explanation_codes: tuple[str, ...] = ()
    blockers: tuple[Blocker, ...] = ()
    message: str | None = None  # AWS's status message, or why it was not run
    left_behind: tuple[str, ...] = ()  # "nip-...: AccessDenied": a delete that failed (delete it by hand)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.question.path),
            "status": str(self.run),
            "source": self.source,
            "destination": self.question.destination_id or self.destination_ip or self.question.destination_host,
            "port": self.question.port,
            "path_id": self.path_id,
            "analysis_id": self.analysis_id,
            "path_found": self.path_found,
            "explanation_codes": list(self.explanation_codes),
            "blocking": [{"type": b.kind, "id": b.id} for b in self.blockers],
            "message": self.message,
            "left_behind": list(self.left_behind),
        }


def questions(snap: Snapshot, findings: Sequence[Finding]) -> list[Question]:
    """One question per path whose findings include a not-evaluated one that still counts (not info)."""
    fn = snap.function
    if fn is None or not fn.vpc_id:
        return []
    asked = []
    for path, code in NOT_EVALUATED.items():
        open_findings = [f for f in findings if f.code == code and f.severity is not Severity.INFO]
        if not open_findings:
            continue
        named = [r for f in open_findings for r in f.resources if r in fn.subnet_ids]
        subnets = tuple(dict.fromkeys([*named, *fn.subnet_ids]))
        base = Question(path, HTTPS, subnets, fn.security_group_ids)
        if path is PathName.SM:
            asked.append(_secrets_manager_destination(snap, fn.vpc_id, base))
        else:
            asked.append(_database_destination(snap, base))
    return asked


def _secrets_manager_destination(snap: Snapshot, vpc_id: str, base: Question) -> Question:
    endpoints = sorted(e.id for e in secrets_manager_endpoints(snap, vpc_id))
    if endpoints:
        return replace(base, destination_id=endpoints[0])
    gateways = sorted(g.id for g in snap.internet_gateways.values() if vpc_id in g.attached_vpc_ids)
    if gateways:
        return replace(base, destination_id=gateways[0])
    # Centralized egress: the egress VPC's internet gateway, beyond the transit gateway (Reachability Analyzer
    # follows transit gateways, Gateway Load Balancer endpoints and AWS Network Firewall).
    beyond = sm_egress.egress_internet_gateway(snap, snap.function) if snap.function is not None else None
    if beyond is not None:
        return replace(base, destination_id=beyond)
    return replace(base, skipped="no Secrets Manager endpoint or internet gateway in the function's VPC to aim at")


def _database_destination(snap: Snapshot, base: Question) -> Question:
    db = snap.database
    host = (db.host if db else None) or (snap.target_ref.host if snap.target_ref else None)
    if db is None or not host:
        return replace(base, skipped="the database's address is not known")
    return replace(base, port=db.port, destination_host=host)


def is_ip(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def fold(findings: Sequence[Finding], answers: Sequence[Answer]) -> list[Finding]:
    """The findings with each answer folded into its path's not-evaluated findings (see the module's docstring)."""
    by_path = {a.question.path: a for a in answers}
    folded: list[Finding] = []
    placed: set[PathName] = set()
    for finding in findings:
        path = finding.path
        answer = by_path.get(path)
        if answer is None or finding.code != NOT_EVALUATED.get(path) or finding.severity is Severity.INFO:
            folded.append(finding)
            continue
        evidence = {**finding.evidence, "reachability": answer.to_json()}
        if answer.run is not AnalyzerRun.SUCCEEDED or answer.path_found is None:
            why = answer.message or str(answer.run.label)
            folded.append(
                replace(
                    finding,
                    summary=f"{finding.summary} VPC Reachability Analyzer gave no answer: {why}.",
                    evidence=evidence,
                )
            )
            continue
        if path in placed:  # one folded finding per path: the others' resources are in it already
            continue
        placed.add(path)
        same = [f for f in findings if f.code == finding.code and f.severity is not Severity.INFO]
        resources = tuple(dict.fromkeys(r for f in same for r in f.resources))
        evidence["not_evaluated"] = [f.summary for f in same]
        if answer.path_found:
            folded.append(
                Finding(
                    finding.code,
                    Severity.INFO,
                    f"VPC Reachability Analyzer finds a path from {answer.source} to "
                    f"{_destination(answer)} on TCP {answer.question.port} (analysis {answer.analysis_id}).",
                    resources,
                    evidence,
                )
            )
        else:
            blocking = ", ".join(f"{b.kind} {b.id}" for b in answer.blockers) or "a component AWS does not name"
            codes = ", ".join(answer.explanation_codes) or "no explanation code"
            folded.append(
                Finding(
                    BLOCKED[path],
                    Severity.ERROR,
                    f"VPC Reachability Analyzer finds no path from {answer.source} to {_destination(answer)} on "
                    f"TCP {answer.question.port}: blocked at {blocking} ({codes}; analysis {answer.analysis_id}).",
                    tuple(dict.fromkeys([*(b.id for b in answer.blockers), *resources])),
                    evidence,
                )
            )
    return folded


def with_answers(diagnosis: Diagnosis, answers: Sequence[Answer]) -> Diagnosis:
    """The diagnosis with the answers folded in, and its verdict judged again."""
    findings = fold(diagnosis.findings, answers)
    return replace(diagnosis, findings=tuple(findings), verdict=verdict_of(findings))


def _destination(answer: Answer) -> str:
    q = answer.question
    if q.destination_id:
        return q.destination_id
    if answer.destination_ip and answer.destination_ip != q.destination_host:
        return f"{q.destination_host} ({answer.destination_ip})"
    return str(q.destination_host)

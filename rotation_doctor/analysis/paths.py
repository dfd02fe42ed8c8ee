"""The paths a diagnosis walked, as `model.paths.Path`s: the hops the checks recorded while judging (`hops`), each
judged by the problems its own case found, between the function (or an RDS Proxy) and where the path leads.

A hop's verdict is read off the problems, never judged again: a check that produced its own problems (groups,
network ACLs) is judged by those; any other hop (a route table, a NAT gateway, an endpoint) by the problems and
findings that name one of its ids. So the blocking hops are, by construction, the resources the findings name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from rotation_doctor.analysis import db_path, hops, sm_path
from rotation_doctor.analysis.cases import Problem
from rotation_doctor.model.findings import Finding, Severity
from rotation_doctor.model.paths import Hop, HopKind, HopVerdict, Path, PathCase, PathLeg
from rotation_doctor.model.snapshot import Snapshot, TargetKind

# Enough for a person to see every way the path differs between subnets, and bounded for a stored proposal.
MAX_CASES_SHOWN = 4
_CASE_ARROW = " -> "  # how the analysis names a case with two ends: "subnet-a -> subnet-b"
PASSES = HopVerdict.PASSES
_WORST_FIRST = (HopVerdict.BLOCKS, HopVerdict.NOT_EVALUATED, HopVerdict.DOUBT)


@dataclass(frozen=True)
class Judged:
    sm: list[Finding]
    db: list[Finding]
    paths: tuple[Path, ...]


def judge(snap: Snapshot) -> Judged:
    """The Secrets Manager and database paths' findings, as `sm_path` and `db_path` find them, with their hops."""
    with hops.recording() as recorder:
        recorder.begin(PathLeg.SM)
        sm = sm_path.analyze(snap)
        recorder.begin(PathLeg.DB)
        db = db_path.analyze(snap)
    found = []
    for leg, findings in ((PathLeg.SM, sm), (PathLeg.DB, db), (PathLeg.PROXY, db)):
        path = _path(snap, recorder, leg, findings)
        if path is not None:
            found.append(path)
    return Judged(sm, db, tuple(found))


def _path(snap: Snapshot, recorder: hops.Recorder, leg: PathLeg, findings: list[Finding]) -> Path | None:
    preamble = recorder.preamble.get(leg, [])
    recorded = recorder.cases.get(leg, [])
    if not recorded and not preamble and (leg is PathLeg.PROXY or not findings):
        return None  # nothing judged (not in a VPC, a read failed): no path is shown rather than a guessed one
    judged = [_case(snap, leg, c, preamble, findings) for c in recorded or [hops.CaseHops(None)]]
    return Path(leg, _worst_then_distinct(judged), len(judged))


def _case(
    snap: Snapshot, leg: PathLeg, recorded: hops.CaseHops, preamble: list[hops.Pending], findings: list[Finding]
) -> PathCase:
    name = recorded.case.name if recorded.case is not None else ""
    source, _, destination = name.partition(_CASE_ARROW)
    problems = {_key(p): p for p in (recorded.case.problems if recorded.case is not None else ())}
    claimed: set[tuple[object, ...]] = set()
    verdicts: dict[int, HopVerdict] = {}
    every = [*((p, True) for p in preamble), *((p, False) for p in recorded.hops)]
    for index, (pending, _) in enumerate(every):
        if pending.problems is not None:
            # The case's own copy: a problem may have become a doubt since (the other address family works).
            mine = [problems[k] for p in pending.problems if (k := _key(p)) in problems]
            claimed.update(_key(p) for p in mine)
            verdicts[index] = _of_problems(mine)
    unclaimed = [p for k, p in problems.items() if k not in claimed]
    for index, (pending, before_cases) in enumerate(every):
        if index in verdicts:
            continue
        ids = set(pending.hop.ids)
        named = [p for p in unclaimed if ids & set(p.resources)]
        # A hop before the cases (an endpoint) is judged by the path's findings too (its policy, its state).
        verdicts[index] = _worst(_of_problems(named), _of_findings(findings, ids) if before_cases else None)
    judged = sorted(
        ((_rank(pending, source, destination), pending.place, index, _with(pending.hop, verdicts[index])))
        for index, (pending, _) in enumerate(every)
    )
    middle = [hop for _, _, _, hop in judged]
    start = _start(snap, leg, source, findings)
    blocked_before = any(h.verdict is HopVerdict.BLOCKS for h in (start, *middle))
    end = _end(snap, leg, findings, reached=not blocked_before)
    returning = sum(1 for rank, _, _, _ in judged if rank >= _rank_of(hops.Stage.RETURN))
    there = middle[: len(middle) - returning]
    back = middle[len(middle) - returning :]
    return PathCase(name or "every subnet", (start, *there, end, *back))


def _key(problem: Problem) -> tuple[object, ...]:
    return (problem.code, problem.summary, problem.resources)


def _of_problems(problems: Sequence[Problem]) -> HopVerdict:
    verdicts = [
        HopVerdict.NOT_EVALUATED if p.not_evaluated else HopVerdict.DOUBT if p.soft else HopVerdict.BLOCKS
        for p in problems
    ]
    return _worst(*verdicts)


def _of_findings(findings: Sequence[Finding], ids: set[str]) -> HopVerdict:
    verdicts = []
    for f in findings:
        if f.severity is Severity.INFO or not ids & set(f.resources):
            continue
        if f.code.is_not_evaluated:
            verdicts.append(HopVerdict.NOT_EVALUATED)
        else:
            verdicts.append(HopVerdict.BLOCKS if f.severity is Severity.ERROR else HopVerdict.DOUBT)
    return _worst(*verdicts)


def _worst(*verdicts: HopVerdict | None) -> HopVerdict:
    for verdict in _WORST_FIRST:
        if verdict in verdicts:
            return verdict
    return HopVerdict.PASSES


def _with(hop: Hop, verdict: HopVerdict) -> Hop:
    return replace(hop, verdict=verdict) if verdict is not hop.verdict else hop


def _rank_of(stage: hops.Stage, within: int = 0) -> int:
    return int(stage) * 10 + within


def _rank(pending: hops.Pending, source: str, destination: str) -> int:
    """The order packets meet hops: leaving the source (its groups, then its subnet's ACL), on the way, arriving
    (the destination subnet's ACL, then its groups), and the reply's way back."""
    stage = pending.stage
    if pending.hop.kind is HopKind.NETWORK_ACL and pending.subnet is not None:
        stage = (
            hops.Stage.SOURCE
            if pending.subnet == source
            else hops.Stage.DESTINATION
            if pending.subnet == destination
            else hops.Stage.TRANSIT
        )
    within = 0
    if stage is hops.Stage.SOURCE:
        within = 1 if pending.hop.kind is HopKind.NETWORK_ACL else 0
    elif stage is hops.Stage.DESTINATION:
        within = 1 if pending.hop.kind is HopKind.SECURITY_GROUPS else 0
    return _rank_of(stage, within)


def _start(snap: Snapshot, leg: PathLeg, source: str, findings: list[Finding]) -> Hop:
    fn, db = snap.function, snap.database
    if leg is PathLeg.PROXY and db is not None:
        hop = Hop(HopKind.PROXY, db.identifier, "connect to its targets", f"from {source}" if source else "", PASSES)
    else:
        name = fn.name if fn is not None else "?"
        where = f"from {source}" if source else (f"in {fn.vpc_id}" if fn is not None and fn.in_vpc else "not in a VPC")
        hop = Hop(HopKind.FUNCTION, name, "where it sends from", where, PASSES)
    return _with(hop, _of_findings(findings, set(hop.ids)))


def _end(snap: Snapshot, leg: PathLeg, findings: list[Finding], *, reached: bool) -> Hop:
    fn, db = snap.function, snap.database
    answer = "reached" if reached else "not reached"
    if leg is PathLeg.SM:
        name = sm_path.public_name(fn, snap.region) if fn is not None else "Secrets Manager"
        hop = Hop(HopKind.SECRETS_MANAGER, name, "HTTPS (TCP 443)", answer, PASSES)
    elif leg is PathLeg.DB and db is not None:
        kind = HopKind.PROXY if db.kind is TargetKind.RDS_PROXY else HopKind.DATABASE
        hop = Hop(kind, db.identifier, f"TCP {db.port}", answer, PASSES)
    else:
        targets = tuple(t.identifier for t in (db.proxy_targets or ())) if db is not None else ()
        hop = Hop(
            HopKind.DATABASE, targets[0] if targets else "?", "its target's port", answer, PASSES, resources=targets
        )
    return _with(hop, _of_findings(findings, set(hop.ids)))


def _worst_then_distinct(cases: list[PathCase]) -> tuple[PathCase, ...]:
    """The case with the most blocking hops first, then each case whose hops (ids and verdicts) differ from those
    shown, up to `MAX_CASES_SHOWN`."""
    worst = max(cases, key=lambda c: len(c.blocking))
    shown = [worst]
    seen = {_signature(worst)}
    for case in cases:
        signature = _signature(case)
        if signature not in seen and len(shown) < MAX_CASES_SHOWN:
            seen.add(signature)
            shown.append(case)
    return tuple(shown)


def _signature(case: PathCase) -> tuple[tuple[HopKind, str, HopVerdict], ...]:
    return tuple((h.kind, h.component, h.verdict) for h in case.hops)

"""Text for a person on call: the verdict first, one sentence per finding, then what to do."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from rotation_doctor.analysis import Diagnosis
from rotation_doctor.cli import path_text
from rotation_doctor.cli.closed_pipe import reader_may_leave
from rotation_doctor.cli.markdown import MARKDOWN_LIMIT, Section, bounded
from rotation_doctor.model.bounded import printable
from rotation_doctor.model.findings import Code, Finding, Severity, Verdict
from rotation_doctor.model.states import UNDECIDED_STATES, FixStatus, ProposalState

if TYPE_CHECKING:  # `diagnose` and `scan` must not load the planner and executor to print
    from rotation_doctor.apply.executor import Outcome
    from rotation_doctor.approvals.store import Proposal
    from rotation_doctor.examine import UnreadPlace
    from rotation_doctor.model.plan import Plan
    from rotation_doctor.model.records import Leftover
    from rotation_doctor.whatif.report import Effect, Report

_MARK = {Severity.ERROR: "✗", Severity.WARNING: "!", Severity.INFO: "i"}
_COLOR = {
    Verdict.BROKEN: "31",
    Verdict.DEGRADED: "33",
    Verdict.UNKNOWN: "35",
    Verdict.HEALTHY: "32",
    Severity.ERROR: "31",
    Severity.WARNING: "33",
    Severity.INFO: "36",
}
_VERDICT_LINE = {
    Verdict.BROKEN: "rotation will fail",
    Verdict.DEGRADED: "rotation may fail (some subnets, or after a failover)",
    Verdict.UNKNOWN: "part of the path could not be judged",
    Verdict.HEALTHY: "both paths are open; rotation can reach Secrets Manager and the database",
}


def use_color(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


class Style:
    def __init__(self, color: bool) -> None:
        self.color = color

    def paint(self, text: str, key: Any) -> str:
        return f"\033[{_COLOR[key]}m{text}\033[0m" if self.color and key in _COLOR else text

    def bold(self, text: str) -> str:
        return f"\033[1m{text}\033[0m" if self.color else text


def diagnosis_text(d: Diagnosis, style: Style | None = None) -> str:
    style = style or Style(False)
    if Code.ROTATION_NOT_LAMBDA in d.codes():
        # The contract's verdict stays (nothing is broken), but "both paths are open" would mislead: no
        # rotation runs through them. The JSON keeps the verdict; the text says what is true.
        headline = f"{style.bold(d.secret_name)}: {style.paint('NOT ROTATED', 'unknown')} — rotation is off"
    else:
        headline = (
            f"{style.bold(d.secret_name)}: {style.paint(d.verdict.upper(), d.verdict)} — {_VERDICT_LINE[d.verdict]}"
        )
    lines = [headline]
    lines.append(f"  secret    {d.secret_arn}")
    fn = d.context.get("function")
    if fn:
        where = (
            f"{fn['vpc']}, {len(fn['subnets'])} subnet(s), {', '.join(fn['security_groups'])}"
            if fn["vpc"]
            else "not in a VPC"
        )
        lines.append(f"  function  {fn['name']} ({where})")
    db = d.context.get("database")
    if db:
        lines.append(
            f"  database  {db['kind']} {db['id']} port {db['port']} ({db['vpc']}, "
            f"{len(db['subnets'])} subnet(s), {', '.join(db['security_groups'])})"
        )
    if d.findings:
        lines.append("")
    for f in d.findings:
        lines.append(f"{style.paint(_MARK[f.severity], f.severity)} {f.code} [{f.path}] {f.summary}")
        if f.resources:
            lines.append(f"    resources: {', '.join(f.resources)}")
        if (case := path_text.case_of(f, d.paths)) is not None:
            lines.append(f"    path ({case.name}): {path_text.chain(case, f.resources)}")
        if "logs" in f.evidence:
            seen = ", ".join(f"{s['category']} x{s['count']} (last {s['last_seen']})" for s in f.evidence["logs"])
            lines.append(f"    logs: {seen}")
    remedies = list(dict.fromkeys(f"{f.code}: {f.remedy}" for f in d.findings if f.severity is not Severity.INFO))
    if remedies:
        lines.append("")
        lines.append("What to do:")
        lines += [f"  {i}. {r}" for i, r in enumerate(remedies, 1)]
    return "\n".join(lines)


def scan_table(results: Sequence[Diagnosis], style: Style | None = None) -> str:
    style = style or Style(False)
    if not results:
        return "No Lambda-rotated secrets in this region."
    rows = [
        (
            d.secret_name,
            str(d.verdict),
            str((d.context.get("function") or {}).get("name", "-")),
            ", ".join(dict.fromkeys(f.code for f in d.findings if f.severity is not Severity.INFO)) or "-",
        )
        for d in results
    ]
    header = ("SECRET", "VERDICT", "FUNCTION", "FINDINGS")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    out = ["  ".join(h.ljust(w) for h, w in zip(header[:3], widths, strict=True)) + "  " + header[3]]
    for row in rows:
        cells = [c.ljust(w) for c, w in zip(row[:3], widths, strict=True)]
        cells[1] = style.paint(cells[1], Verdict(row[1]))
        out.append("  ".join(cells) + "  " + row[3])
    counts = {v: sum(1 for d in results if d.verdict is v) for v in Verdict}
    out.append("")
    out.append(
        f"{len(results)} secret(s): "
        + ", ".join(f"{counts[v]} {v}" for v in (Verdict.BROKEN, Verdict.DEGRADED, Verdict.UNKNOWN, Verdict.HEALTHY))
    )
    return "\n".join(out)


def stderr_line(message: str) -> None:
    """A line for the person (progress, what was done besides): a closed stderr silences it, the command goes on."""
    with reader_may_leave(sys.stderr):
        print(message, file=sys.stderr)


def stdout_line(text: str = "") -> None:
    """A line of the command's output: a reader that left ends the output, not the command (whose status stands)."""
    with reader_may_leave(sys.stdout):
        print(text)


def places_table(items: Sequence[Diagnosis | UnreadPlace], style: Style | None = None) -> str:
    """A scan across accounts and regions: one row per secret, labelled with its account and region; an account
    that could not be read is a row of its own (no secret), so that it is never mistaken for an empty one."""
    style = style or Style(False)
    if not items:
        return "No Lambda-rotated secrets in these accounts and regions."
    rows = [
        (
            item.account,
            item.region or "-",
            item.secret_name if isinstance(item, Diagnosis) else "(not read)",
            str(item.verdict),
            str((item.context.get("function") or {}).get("name", "-")) if isinstance(item, Diagnosis) else "-",
            ", ".join(dict.fromkeys(f.code for f in _findings(item) if f.severity is not Severity.INFO)) or "-",
        )
        for item in items
    ]
    header = ("ACCOUNT", "REGION", "SECRET", "VERDICT", "FUNCTION", "FINDINGS")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    out = ["  ".join(h.ljust(w) for h, w in zip(header[:5], widths, strict=True)) + "  " + header[5]]
    for row in rows:
        cells = [c.ljust(w) for c, w in zip(row[:5], widths, strict=True)]
        cells[3] = style.paint(cells[3], Verdict(row[3]))
        out.append("  ".join(cells) + "  " + row[5])
    diagnoses = [i for i in items if isinstance(i, Diagnosis)]
    unread = [i for i in items if not isinstance(i, Diagnosis)]
    counts = {v: sum(1 for d in diagnoses if d.verdict is v) for v in Verdict}
    accounts = {i.account for i in items}
    out.append("")
    out.append(
        f"{len(diagnoses)} secret(s) in {len(accounts)} account(s): "
        + ", ".join(f"{counts[v]} {v}" for v in (Verdict.BROKEN, Verdict.DEGRADED, Verdict.UNKNOWN, Verdict.HEALTHY))
    )
    for place in unread:
        where = f"{place.account}/{place.region}" if place.region else place.account
        out.append(
            f"{style.paint(_MARK[place.finding.severity], place.finding.severity)} {where} not read: "
            f"{place.finding.summary}"
        )
    if unread:
        out.append(f"  {unread[0].finding.code}: {unread[0].finding.remedy}")
    return "\n".join(out)


def _findings(item: Diagnosis | UnreadPlace) -> Sequence[Finding]:
    return item.findings if isinstance(item, Diagnosis) else [item.finding]


class ProgressBar:
    """Accounts done out of all, on one line of a terminal rewritten in place (`\\r`); `end` finishes the line.
    On a stream that is no terminal (`-v` into a file), one line each time, between the log lines."""

    WIDTH = 24

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.in_place = stream.isatty()
        self.shown = False

    @classmethod
    def text(cls, done: int, total: int) -> str:
        filled = cls.WIDTH * done // total if total else cls.WIDTH
        return f"rotation-doctor: [{'#' * filled}{'.' * (cls.WIDTH - filled)}] {done}/{total} accounts"

    def show(self, done: int, total: int) -> None:
        with reader_may_leave(self.stream):
            self.stream.write("\r" + self.text(done, total) if self.in_place else self.text(done, total) + "\n")
        self.shown = True

    def end(self) -> None:
        if self.shown and self.in_place:
            with reader_may_leave(self.stream):
                self.stream.write("\n")


def plan_text(plan: Plan, style: Style | None = None) -> str:
    style = style or Style(False)
    if plan.empty and not plan.unfixable:
        return "Nothing to change."
    head = f"Plan for {plan.secret_name}: {len(plan.fixes)} fix(es), hash {plan.hash[:12]}"
    head += ", ends healthy" if plan.ends_healthy else ", does NOT end healthy (see below)"
    lines = [style.bold(head)]
    for i, fix in enumerate(plan.fixes, 1):
        lines.append(f"  {i}. {fix.kind}  risk {fix.risk}  fixes {', '.join(fix.fixes)}")
        lines.append(f"     {fix.summary}")
        lines += [f"     {step.says}" for step in fix.steps]
        if fix.cost:
            lines.append(f"     cost: {fix.cost}")
        lines += [f"     note: {note}" for note in fix.notes]
    lines += [f"  note: {note}" for note in plan.notes]
    if plan.unfixable:
        lines.append("Not fixed by this plan:")
        lines += [f"  - {u.code}: {u.reason}" for u in plan.unfixable]
    return "\n".join(lines)


def outcome_text(outcome: Outcome, style: Style | None = None) -> str:
    style = style or Style(False)
    marks = {
        FixStatus.APPLIED: "✓",
        FixStatus.SKIPPED: "-",
        FixStatus.FAILED: "✗",
        FixStatus.ROLLED_BACK: "↶",
        FixStatus.ROLLBACK_INCOMPLETE: "!",
    }
    lines = [style.bold(f"{outcome.before.secret_name}: {outcome.status.label}")]
    if outcome.reason:
        lines.append(f"  {outcome.reason}")
    for fix in outcome.fixes:
        detail = f": {fix.reason}" if fix.reason else ""
        lines.append(f"  {marks.get(fix.status, '?')} {fix.kind} {fix.status.label}{detail}")
        for step in fix.steps:
            error = f" ({step.error})" if step.error else ""
            lines.append(f"      {step.step} {step.status.label}{error}: {step.says}")
    lines += _leftover_lines(outcome.leftovers, style)
    if outcome.after is not None:
        lines.append("")
        lines.append("After:")
        lines.append(diagnosis_text(outcome.after, style))
    return "\n".join(lines)


def proposals_table(proposals: Sequence[Proposal]) -> str:
    if not proposals:
        return "No proposals."
    rows = [
        (
            p.id,
            p.state,
            p.secret_name,
            ", ".join(str(f.kind) for f in p.plan),
            time.strftime("%Y-%m-%d %H:%M", time.gmtime(p.created_at)),
        )
        for p in proposals
    ]
    header = ("ID", "STATE", "SECRET", "FIXES", "CREATED (UTC)")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows])


def proposal_text(p: Proposal) -> str:
    """The same text the notifications send (e-mail body), then the proposal's state and history."""
    from rotation_doctor.apply.guardrails import Mode
    from rotation_doctor.notify import text
    from rotation_doctor.notify.messages import Kind, Links, build

    kind = {
        ProposalState.PROPOSED: Kind.PROPOSED,
        ProposalState.APPROVED: Kind.PROPOSED,
        ProposalState.APPLIED: Kind.APPLIED_AFTER_APPROVAL,
        ProposalState.ROLLED_BACK: Kind.ROLLED_BACK,
        ProposalState.ROLLBACK_INCOMPLETE: Kind.ROLLBACK_INCOMPLETE,
        ProposalState.FAILED: Kind.FAILED,
        ProposalState.REJECTED: Kind.REJECTED,
        ProposalState.EXPIRED: Kind.EXPIRED,
        ProposalState.SUPERSEDED: Kind.SUPERSEDED,
    }.get(p.state, Kind.PROPOSED)
    links = Links(cli=f"rotation-doctor proposals approve {p.id}") if kind is Kind.PROPOSED else Links()
    message = build(kind, p.diagnosis, p.plan, mode=Mode.PROPOSE, proposal_id=p.id, plan_hash=p.plan_hash, links=links)
    expired = " (expired)" if p.expired and p.state in UNDECIDED_STATES else ""
    lines = [
        f"Proposal {p.id}: {p.state}{expired}",
        "",
        text.body(message),
        "",
        f"Plan hash {p.plan_hash[:12]}; expires {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(p.expires_at))}",
        "History:",
    ]
    lines += [
        f"  {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(int(e['at'])))} {e['state']} by {e['by']}"
        + (f": {e['note']}" if e.get("note") else "")
        for e in p.history
    ]
    lines += _leftover_lines(p.leftovers, Style(False))
    return "\n".join(lines)


def _leftover_lines(leftovers: Sequence[Leftover], style: Style) -> list[str]:
    """What a failed undo left (as outcomes and proposals carry it), and how to remove each."""
    if not leftovers:
        return []
    lines = ["", style.bold("LEFT IN THE ACCOUNT (an undo failed; remove by hand):")]
    for left in leftovers:
        lines.append(f"  {left.resource or 'id unknown'}  {left.what}  ({left.error})")
        remove = left.remove
        if remove is not None:
            params = json.dumps(dict(remove.params), sort_keys=True)
            lines.append(f"      remove with: {remove.service} {remove.operation} {params}")
        else:
            lines.append("      find it by its tag rotation-doctor:secret and remove it")
    return lines


# ----- what-if -------------------------------------------------------------------------------------

_EFFECT_LINE = {
    "breaks": "rotation will fail after this change",
    "degrades": "rotation may fail after this change (some subnets, or after a failover)",
    "unknown": "part of what rotation uses changes in a way rotation-doctor cannot judge",
    "worsens": "new problems on top of the existing ones",
    "heals": "rotation works again after this change",
    "improves": "better, not yet healthy",
    "unchanged": "no change to the verdict",
}


def gate_line(report: Report, fail_on: frozenset[Effect]) -> str:
    """The gate's verdict in words: whether it fails, and on what (`what-if --fail-on`)."""
    from rotation_doctor.whatif.report import Effect

    named = ", ".join(str(e) for e in Effect if e in fail_on) or "nothing (--fail-on none)"
    failed = sum(report.count(e) for e in fail_on)
    verdict = f"FAILS: {failed} secret(s)" if report.fails(fail_on) else "passes"
    return f"The gate {verdict} (it fails on {named})."


def whatif_text(report: Report, style: Style | None = None, fail_on: frozenset[Effect] | None = None) -> str:
    """For a person at a terminal: what breaks first, then what heals, then what could not be judged. Every string
    from the plan or the account is made printable: an address holding escape sequences clears no screen."""
    from rotation_doctor.whatif.changes import Handling
    from rotation_doctor.whatif.report import FAILING

    style = style or Style(False)
    source = report.source
    lines = [
        style.bold(
            f"What-if {source.kind} {printable(source.name)}: {len(source.changes)} change(s), "
            f"{report.checked} secret(s) read"
        ),
        gate_line(report, FAILING if fail_on is None else fail_on),
    ]
    if not report.secrets:
        lines.append("No Lambda-rotated secret uses anything this changes.")
    for s in report.secrets:
        before, after = s.before.verdict, s.after.verdict
        verdicts = f"{style.paint(before.upper(), before)} -> {style.paint(after.upper(), after)}"
        name = style.bold(printable(s.before.secret_name))
        lines.append(f"{name}: {s.effect.upper()} ({verdicts}) — {_EFFECT_LINE[s.effect]}")
        for f in s.new_findings:
            mark = style.paint(_MARK[f.severity], f.severity)
            lines.append(f"  + {mark} {f.code} [{f.path}] {printable(f.summary)}")
        for f in s.resolved_findings:
            lines.append(f"  - {f.code} [{f.path}] {printable(f.summary)}")
        lines += [f"  ? {printable(reason)}" for reason in s.not_evaluated]
        lines.append(f"  changes: {printable(', '.join(s.changes))}")
    unjudged = [c for c in source.changes if c.mapping is Handling.NOT_EVALUATED]
    ignored = [c for c in source.changes if c.mapping is Handling.IGNORED]
    if unjudged:
        lines.append("")
        lines.append("Not evaluated (the secrets they touch are unknown):")
        lines += [
            f"  {printable(c.address)} ({printable(c.resource_type)}, {c.action}): {printable(c.note)}"
            for c in unjudged
        ]
    if ignored:
        lines.append("")
        lines.append(f"Ignored (cannot touch a rotation path): {printable(', '.join(c.address for c in ignored))}")
    return "\n".join(lines)


_MD_SPECIAL = set("\\`*_{}[]()#+-.!|~:")
_NO_LINK = "\u200d"  # ZERO WIDTH JOINER: invisible, and no mention or issue reference forms across it


def md(text: object, limit: int = 300) -> str:
    """Outside text (names, descriptions, plan addresses) made inert in markdown: printable (no escape sequence,
    control or bidirectional override), on one line, HTML escaped, and every character markdown gives a meaning to
    backslash-escaped (a table cell's `|`, a link's brackets, code's backticks, and `:` so that no autolink forms).
    GitHub links `@name` and `#123` in rendered text whatever the backslash, so a zero-width joiner follows each `@`
    and `#`: a secret named `@org/team` pings nobody."""
    flat = " ".join(printable(str(text)).split())
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    flat = flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    escaped = "".join(f"\\{c}" if c in _MD_SPECIAL else c for c in flat)
    return escaped.replace("@", "@" + _NO_LINK).replace("#", "#" + _NO_LINK)


def _md_code(code: str) -> str:
    """A finding code as inline code: backslash escapes do not work inside backticks, so only a code that is all
    capitals, digits and underscores (every `findings.Code`) is put there; anything else is escaped text."""
    return f"`{code}`" if code.replace("_", "").isalnum() and code.isascii() and code.upper() == code else md(code)


def _md_list(texts: Sequence[str], limit: int = 2000) -> str:
    """Many outside texts (a secret's changes) as one inert markdown phrase, at most about `limit` characters."""
    return md(", ".join(texts), limit)


def whatif_markdown(report: Report, fail_on: frozenset[Effect] | None = None, limit: int = MARKDOWN_LIMIT) -> str:
    """For a pull-request comment or $GITHUB_STEP_SUMMARY, at most `limit` characters whatever the plan's size: the
    gate's verdict, then the secrets touched (worst first) in a table, then the details in collapsed sections; what
    does not fit is counted, never cut mid-line."""
    from rotation_doctor.whatif.changes import Handling
    from rotation_doctor.whatif.report import FAILING, Effect

    gate = FAILING if fail_on is None else fail_on
    source = report.source
    icon = "❌" if report.fails(gate) else "✅"
    counts = ", ".join(f"{report.count(e)} {e}" for e in Effect if report.count(e)) or "no secret touched"
    head = [
        f"### {icon} rotation-doctor what-if: {md(source.kind)} {md(source.name)}",
        "",
        f"**{md(gate_line(report, gate))}**",
        "",
        f"{len(source.changes)} change(s), {report.checked} Lambda-rotated secret(s) read: {counts}.",
    ]
    rows = []
    for s in report.secrets:
        new = ", ".join(_md_code(f.code) for f in s.new_findings) or ("not evaluated" if s.not_evaluated else "—")
        old = ", ".join(_md_code(f.code) for f in s.resolved_findings) or "—"
        rows.append(
            f"| {md(s.before.secret_name)} | **{md(s.effect)}** | {md(s.before.verdict)} → {md(s.after.verdict)} "
            f"| {new} | {old} |"
        )
    findings = [
        f"- {md(s.before.secret_name)}: {md(f.code)}: {md(f.summary)}" for s in report.secrets for f in s.new_findings
    ]
    findings += [f"- {md(s.before.secret_name)}: {md(reason)}" for s in report.secrets for reason in s.not_evaluated]
    touching = [f"- {md(s.before.secret_name)}: {_md_list(s.changes)}" for s in report.secrets]
    unjudged = [
        f"- {md(c.address)} ({md(c.resource_type)}, {md(c.action)}): {md(c.note)}"
        for c in source.changes
        if c.mapping is Handling.NOT_EVALUATED
    ]
    ignored = [f"- {md(c.address)} ({md(c.resource_type)})" for c in source.changes if c.mapping is Handling.IGNORED]
    table = ("| secret | effect | before → after | new findings | resolved |", "|---|---|---|---|---|")
    sections = [
        Section("Secrets", rows, "secret(s)", header=table, collapsed=False),
        Section("Findings", findings, "finding(s)"),
        Section("Changes that touch each secret", touching, "secret(s)"),
        Section("Not evaluated: the secrets these touch are unknown", unjudged, "change(s)"),
        Section("Ignored: cannot touch a rotation path", ignored, "change(s)"),
    ]
    return bounded(head, sections, limit)

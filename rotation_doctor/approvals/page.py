"""The approval page's HTML: everything from AWS escaped, no script, one stylesheet inline.

While an approved proposal waits for the worker (approved, applying) the page reloads itself every
few seconds with `<meta http-equiv="refresh">`, which needs no script; once it has ended it shows how
(applied, failed, rolled back, expired because the account changed, rejected) from the proposal's state
and the last note of its history.
"""

from __future__ import annotations

from html import escape

from rotation_doctor.approvals import path_svg
from rotation_doctor.approvals.store import Proposal
from rotation_doctor.model.states import ProposalState

REFRESH_SECONDS = 5
# Approved and waiting for the worker, or being applied by it: the page reloads until it has ended.
WAITING = (ProposalState.APPROVED, ProposalState.APPLYING)
APPLYING_HEADLINE = "Approved, applying"
STALE_HEADLINE = "Not applied: the account changed"

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
}

_STYLE = """body{font:15px/1.45 system-ui,sans-serif;max-width:46rem;margin:1.5rem auto;padding:0 1rem;color:#1b1f24}
h1{font-size:1.3rem}code,pre{font:13px ui-monospace,monospace}pre{white-space:pre-wrap;background:#f4f5f7;padding:.6rem}
.state{display:inline-block;padding:.1rem .5rem;border-radius:.3rem;background:#eef}.error{color:#b00020}
h3{overflow-wrap:anywhere}
button{font-size:1rem;padding:.55rem 1.2rem;margin:.4rem .6rem 0 0;border-radius:.4rem;border:1px solid #888}
.approve{background:#1a7f37;color:#fff;border-color:#1a7f37}.reject{background:#fff}li{margin:.25rem 0}"""


def _page(title: str, body: str, *, refresh: str | None = None) -> str:
    reload = f'<meta http-equiv="refresh" content="{escape(refresh)}">' if refresh else ""
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">{reload}'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>{body}</body></html>"
    )


def _ending(p: Proposal) -> str:
    """Where the proposal stands once a person has decided (or it expired): a headline and the latest note."""
    if p.state is ProposalState.PROPOSED and not p.expired:
        return ""
    if p.state in WAITING:
        headline = APPLYING_HEADLINE
        detail = f"The worker is applying the plan; this page reloads every {REFRESH_SECONDS} seconds until it is done."
    else:
        headline = "Expired" if p.state is ProposalState.PROPOSED else p.state.label.capitalize()
        if p.state is ProposalState.EXPIRED and _came_from(p, ProposalState.APPLYING):
            headline = STALE_HEADLINE  # the worker found the account changed: nothing written, planned afresh
        last = p.history[-1] if p.history else {}
        detail = str(last.get("note") or "") or ("past its expiry" if p.expired else "")
    return f'<div id="status"><h2 id="outcome">{escape(headline)}</h2><p id="detail">{escape(detail)}</p></div>'


def _came_from(p: Proposal, state: ProposalState) -> bool:
    return len(p.history) >= 2 and p.history[-2].get("state") == state.value


def proposal_page(
    p: Proposal, *, approve_token: str | None, reject_token: str | None, action_path: str, notice: str | None = None
) -> str:
    d = p.diagnosis
    findings = "".join(
        f"<li><b>{escape(str(f.code))}</b> ({escape(str(f.severity))}): {escape(f.summary)}</li>" for f in d.findings
    )
    paths = list(d.paths)
    fixes = []
    for i, fix in enumerate(p.plan, 1):
        links, answers = path_svg.pointers(fix, d.findings, paths)
        steps = "\n".join(escape(s.says) + link for s, link in zip(fix.steps, links, strict=True))
        cost = f"<p>Cost: {escape(fix.cost)}</p>" if fix.cost else ""
        notes = "".join(f"<p>Note: {escape(n)}</p>" for n in fix.notes)
        fixes.append(
            f"<h3>{i}. {escape(str(fix.kind))} <small>risk {escape(str(fix.risk))}</small></h3>"
            f"<p>{escape(fix.summary)}</p>{answers}<pre>{steps}</pre>{cost}{notes}"
        )
    open_ = p.state is ProposalState.PROPOSED and not p.expired
    buttons = ""
    if open_ and approve_token:
        buttons += _form(action_path, "approve", approve_token, "Approve and apply", "approve")
    if open_ and reject_token:
        buttons += _form(action_path, "reject", reject_token, "Reject", "reject")
    flash = f'<p class="notice"><b>{escape(notice)}</b></p>' if notice else ""
    history = "".join(
        f"<li>{escape(str(e['state']))} by {escape(str(e['by']))}"
        f"{': ' + escape(str(e['note'])) if e.get('note') else ''}</li>"
        for e in p.history
    )
    body = (
        f"<h1>Fix the rotation of {escape(p.secret_name)}</h1>{flash}{_ending(p)}"
        f'<p><span class="state" id="state">{escape(p.state)}</span> verdict '
        f"<b>{escape(str(d.verdict))}</b> &middot; <code>{escape(p.secret_arn)}</code></p>"
        f"<h2>What is wrong</h2><ul>{findings}</ul>{path_svg.section(paths)}<h2>What will change</h2>{''.join(fixes)}"
        f"<p>Plan hash <code>{escape(p.plan_hash[:16])}</code>: approval applies exactly these calls; if the "
        f"account changed since, the plan is made again and asks again.</p>{buttons}"
        f"<h2>History</h2><ul>{history}</ul>"
    )
    refresh = str(REFRESH_SECONDS) if p.state in WAITING else None
    return _page(f"rotation-doctor: {p.secret_name}", body, refresh=refresh)


def _form(action_path: str, action: str, token: str, label: str, css: str) -> str:
    return (
        f'<form method="post" action="{escape(action_path)}" style="display:inline">'
        f'<input type="hidden" name="action" value="{escape(action)}">'
        f'<input type="hidden" name="token" value="{escape(token)}">'
        f'<button type="submit" class="{css}" id="{css}">{escape(label)}</button></form>'
    )


def outcome_page(p: Proposal, headline: str, detail: str, *, follow: str | None = None) -> str:
    """The answer to a decision. With `follow` (the proposal's page, by GET), the browser goes there after a few
    seconds, and that page reloads until the worker is done: a reload never sends the decision again."""
    more = f'<p><a id="follow" href="{escape(follow)}">See how it ends</a></p>' if follow else ""
    body = (
        f'<h1 id="outcome">{escape(headline)}</h1><p>{escape(detail)}</p>'
        f"<p>Proposal <code>{escape(p.id)}</code> for <b>{escape(p.secret_name)}</b> is now "
        f'<span class="state" id="state">{escape(p.state)}</span>.</p>{more}'
    )
    refresh = f"{REFRESH_SECONDS}; url={follow}" if follow else None
    return _page(f"rotation-doctor: {headline}", body, refresh=refresh)


def refused_page(reason: str) -> str:
    return error_page("Refused", reason)


def error_page(headline: str, reason: str) -> str:
    """A request the page cannot answer with a proposal: refused, not found, not allowed, failed."""
    return _page(
        f"rotation-doctor: {headline.lower()}",
        f'<h1 class="error" id="outcome">{escape(headline)}</h1><p id="reason">{escape(reason)}</p>',
    )

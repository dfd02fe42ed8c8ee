"""The approval page's HTML: everything from AWS escaped, no script, one stylesheet inline."""

from __future__ import annotations

from html import escape
from typing import Any

from rotation_doctor.approvals.store import Proposal
from rotation_doctor.model.states import ProposalState

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
button{font-size:1rem;padding:.55rem 1.2rem;margin:.4rem .6rem 0 0;border-radius:.4rem;border:1px solid #888}
.approve{background:#1a7f37;color:#fff;border-color:#1a7f37}.reject{background:#fff}li{margin:.25rem 0}"""


def _page(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>{body}</body></html>"
    )


def proposal_page(
    p: Proposal, *, approve_token: str | None, reject_token: str | None, action_path: str, notice: str | None = None
) -> str:
    d: dict[str, Any] = p.diagnosis
    findings = "".join(
        f"<li><b>{escape(str(f['code']))}</b> ({escape(str(f['severity']))}): {escape(str(f['summary']))}</li>"
        for f in d.get("findings", [])
    )
    fixes = []
    for i, fix in enumerate(p.plan, 1):
        steps = "\n".join(str(s["says"]) for s in fix["steps"])
        cost = f"<p>Cost: {escape(str(fix['cost']))}</p>" if fix.get("cost") else ""
        notes = "".join(f"<p>Note: {escape(str(n))}</p>" for n in fix.get("notes", []))
        fixes.append(
            f"<h3>{i}. {escape(str(fix['kind']))} <small>risk {escape(str(fix['risk']))}</small></h3>"
            f"<p>{escape(str(fix['summary']))}</p><pre>{escape(steps)}</pre>{cost}{notes}"
        )
    open_ = p.state is ProposalState.PROPOSED and not p.expired
    buttons = ""
    if open_ and approve_token:
        buttons += _form(action_path, "approve", approve_token, "Approve and apply", "approve")
    if open_ and reject_token:
        buttons += _form(action_path, "reject", reject_token, "Reject", "reject")
    if not open_:
        buttons = (
            f"<p>This proposal is <b>{escape(p.state)}</b>{' (expired)' if p.expired else ''}: nothing to decide.</p>"
        )
    flash = f'<p class="notice"><b>{escape(notice)}</b></p>' if notice else ""
    history = "".join(
        f"<li>{escape(str(e['state']))} by {escape(str(e['by']))}"
        f"{': ' + escape(str(e['note'])) if e.get('note') else ''}</li>"
        for e in p.history
    )
    body = (
        f"<h1>Fix the rotation of {escape(p.secret_name)}</h1>{flash}"
        f'<p><span class="state" id="state">{escape(p.state)}</span> verdict '
        f"<b>{escape(str(d.get('verdict')))}</b> &middot; <code>{escape(p.secret_arn)}</code></p>"
        f"<h2>What is wrong</h2><ul>{findings}</ul><h2>What will change</h2>{''.join(fixes)}"
        f"<p>Plan hash <code>{escape(p.plan_hash[:16])}</code>: approval applies exactly these calls; if the "
        f"account changed since, the plan is made again and asks again.</p>{buttons}"
        f"<h2>History</h2><ul>{history}</ul>"
    )
    return _page(f"rotation-doctor: {p.secret_name}", body)


def _form(action_path: str, action: str, token: str, label: str, css: str) -> str:
    return (
        f'<form method="post" action="{escape(action_path)}" style="display:inline">'
        f'<input type="hidden" name="action" value="{escape(action)}">'
        f'<input type="hidden" name="token" value="{escape(token)}">'
        f'<button type="submit" class="{css}" id="{css}">{escape(label)}</button></form>'
    )


def outcome_page(p: Proposal, headline: str, detail: str) -> str:
    body = (
        f'<h1 id="outcome">{escape(headline)}</h1><p>{escape(detail)}</p>'
        f"<p>Proposal <code>{escape(p.id)}</code> for <b>{escape(p.secret_name)}</b> is now "
        f'<span class="state" id="state">{escape(p.state)}</span>.</p>'
    )
    return _page(f"rotation-doctor: {headline}", body)


def refused_page(reason: str) -> str:
    return _page(
        "rotation-doctor: refused", f'<h1 class="error" id="outcome">Refused</h1><p id="reason">{escape(reason)}</p>'
    )

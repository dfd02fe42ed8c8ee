"""Plain text for e-mail (and the CLI): the subject under 100 characters, the body readable as it is."""

from __future__ import annotations

from rotation_doctor.notify.messages import Kind, Message

SUBJECT_LIMIT = 99


def subject(message: Message) -> str:
    text = f"[rotation-doctor] {message.secret_name}: {message.kind} ({message.verdict})"
    return text if len(text) <= SUBJECT_LIMIT else text[: SUBJECT_LIMIT - 1] + "…"


def body(message: Message) -> str:
    lines = [message.headline, ""]
    lines += [
        f"Secret:  {message.secret_arn}",
        f"Verdict: {message.verdict}   Mode: {message.mode}   Risk: {message.risk}",
    ]
    if message.findings:
        lines += ["", "What is wrong:"] + [f"  - {f}" for f in message.findings]
    if message.changes:
        lines += ["", "The proposed changes:" if message.kind is Kind.PROPOSED else "What changes:"]
        for kind, risk, steps in message.changes:
            lines.append(f"  {kind} (risk {risk})")
            lines += [f"      {s}" for s in steps]
        lines += [f"  Cost: {c}" for c in message.costs]
    if message.outcome:
        lines += ["", "What happened:"] + [f"  {o}" for o in message.outcome]
    if message.links.approve or message.links.cli:
        lines += ["", "To approve:"]
        if message.links.approve:
            lines.append(f"  Review and approve: {message.links.approve}")
        if message.links.reject:
            lines.append(f"  Reject:             {message.links.reject}")
        if message.links.cli:
            lines.append(f"  Or from a laptop:   {message.links.cli}")
    return "\n".join(lines)

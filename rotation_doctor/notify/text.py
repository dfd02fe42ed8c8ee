"""Plain text for e-mail (and the CLI): the subject under 100 characters, the body readable as it is."""

from __future__ import annotations

from rotation_doctor.notify.messages import Kind, Leftover, Message, Priority

SUBJECT_LIMIT = 99
URGENT = "ACTION NEEDED: "  # the subject's first words when someone must act (Priority.HIGH)
# What the plan's section is called: changes waiting for a person, approved ones, and a plan that did not end well.
_PLAN_HEADINGS = {
    Kind.PROPOSED: "The proposed changes:",
    Kind.REMINDER: "The proposed changes:",
    Kind.APPROVED: "The approved changes:",
    Kind.FAILED: "The plan:",
    Kind.ROLLED_BACK: "The plan:",
    Kind.ROLLBACK_INCOMPLETE: "The plan:",
    Kind.REJECTED: "The plan:",
    Kind.EXPIRED: "The plan:",
    Kind.SUPERSEDED: "The plan, no longer needed:",
}


def subject(message: Message) -> str:
    urgent = URGENT if message.priority is Priority.HIGH else ""
    text = f"[rotation-doctor] {urgent}{message.secret_name}: {message.kind} ({message.verdict})"
    return text if len(text) <= SUBJECT_LIMIT else text[: SUBJECT_LIMIT - 1] + "…"


def body(message: Message) -> str:
    lines = [message.headline, ""]
    note = message.shortened_note()
    if note:
        lines += [note, ""]
    lines += [
        f"Secret:  {message.secret_arn}",
        f"Verdict: {message.verdict}   Mode: {message.mode}   Risk: {message.risk}",
    ]
    if message.leftovers or message.omitted.leftovers:
        lines += ["", "LEFT IN THE ACCOUNT (the undo failed): remove each by hand"]
        lines += [line for left in message.leftovers for line in leftover_lines(message, left)]
        if message.omitted.leftovers:
            lines.append(f"  ... and {message.omitted.leftovers} more, {message.where_all_is}")
    if message.findings:
        lines += ["", "What is wrong:"] + [f"  - {f}" for f in message.findings]
    if message.changes:
        lines += ["", _PLAN_HEADINGS.get(message.kind, "What changes:")]
        for kind, risk, steps in message.changes:
            lines.append(f"  {kind} (risk {risk})")
            lines += [f"      {s}" for s in steps]
        if message.omitted.changes:
            more = message.omitted.changes
            lines.append(f"  ... {more} more change(s) not shown: all of it is {message.where_all_is}")
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


def leftover_lines(message: Message, left: Leftover) -> list[str]:
    """One leftover: its id and what it is, why the undo failed, and the command that removes it."""
    lines = [f"  {left.resource or '(id unknown)'}  {left.what}", f"      undo failed: {left.error}"]
    if left.remove:
        lines.append(f"      remove with: {left.remove}")
    else:
        tag = f"rotation-doctor:secret={message.secret_name}"
        lines.append(f"      its id was never returned: find it by its tag {tag} and remove it")
    return lines

"""Slack: Block Kit within Slack's limits, sent to an incoming webhook whose URL is kept in Secrets Manager.

No Slack app is needed: the buttons are URL buttons that open the approval page. A failed call is
retried (slack-sdk's retry handlers) and logged; it never breaks the fix it reports on.

A high-priority message (a fix that could not be undone) pings the channel (`<!here>`, ours, never from
AWS) and lists what is left before anything else, so that trimming to Slack's 50 blocks drops the
plan first. Whatever is dropped, the message says so.

The only links in a message are our own buttons (the approval page). Every string from AWS, a secret, a tag, a name or
an event is made inert before it is put in a message (`inert`, or `code` inside a code span), and every mrkdwn text
object is `verbatim` (Slack then does not turn URLs, channel names and mentions into links itself).
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from rotation_doctor.notify.messages import Kind, Message, Priority

if TYPE_CHECKING:
    from rotation_doctor.collect.aws import AwsClients

log = logging.getLogger(__name__)

MAX_BLOCKS = 50
MAX_TEXT = 3000
MAX_HEADER = 150
_EMOJI = {
    Kind.DIAGNOSED: ":red_circle:",
    Kind.PROPOSED: ":warning:",
    Kind.APPLIED_AUTOMATICALLY: ":white_check_mark:",
    Kind.APPLIED_AFTER_APPROVAL: ":white_check_mark:",
    Kind.ROLLED_BACK: ":rewind:",
    Kind.REJECTED: ":no_entry:",
    Kind.EXPIRED: ":hourglass:",
    Kind.HEALTHY_AGAIN: ":large_green_circle:",
    Kind.APPROVED: ":arrow_forward:",
    Kind.FAILED: ":x:",
    Kind.ROLLBACK_INCOMPLETE: ":rotating_light:",
    Kind.REMINDER: ":alarm_clock:",
    Kind.SUPERSEDED: ":large_green_circle:",
}
PING = "<!here>"  # a high-priority message notifies everyone active in the channel


def escape(text: str) -> str:
    """Slack's three control characters in mrkdwn. Names, hosts and ids come from AWS and from whoever wrote
    the secret: unescaped, `<https://evil.example|review and approve>` is a link and `<!channel>` a ping."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_JOINER = "\u2060"  # WORD JOINER: invisible, and no URL, domain, mention or channel name forms across it
# Where Slack's clients find a link or a mention in text, whatever `verbatim` says: a scheme's `://`, a dot between a
# name's labels (`evil.example`, `www.evil.example`), an `@` or `#` before a name.
_LINK_FORMING = re.compile(r"(?<=:)(?=//)|(?<=\.)(?=\w)|(?<=[@#])")
# Formatting characters that no AWS name or DNS host contains, as look-alikes that format nothing: outside text cannot
# open or close a code span (ours included), or make itself bold or struck through.
_FORMATTING = str.maketrans({"`": "\u02cb", "*": "\u2217", "~": "\u223c"})


def unlinked(text: str) -> str:
    """Outside text that can form no link, mention or formatting, for plain_text too (which takes no escapes)."""
    return _LINK_FORMING.sub(_JOINER, text.translate(_FORMATTING))


def inert(text: str) -> str:
    """Outside text for mrkdwn: escaped, and unable to form a link, a mention or formatting. A secret's `host` of
    `https://evil.example`, `<https://evil.example|click here>`, `@channel` or `*bold*` is shown, never followed."""
    return unlinked(escape(text))


def code(text: str) -> str:
    """Outside text for inside a code span or block, where Slack forms no link or mention: escaped, and unable to
    close the span (kept otherwise as it is, so that a command copied from it runs)."""
    return escape(text).translate(_FORMATTING)


def _ours(text: str) -> str:
    """A sentence of ours whose backticks mark code spans (`Message.where_all_is`) around outside text."""
    parts = text.split("`")
    return "".join(f"`{code(part)}`" if i % 2 else inert(part) for i, part in enumerate(parts))


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def blocks(message: Message) -> list[dict[str, Any]]:
    """The message as Block Kit blocks (built with slack-sdk's models, which check Slack's own limits)."""
    from slack_sdk.models.blocks import (
        ActionsBlock,
        Block,
        ButtonElement,
        ContextBlock,
        DividerBlock,
        HeaderBlock,
        MarkdownTextObject,
        SectionBlock,
    )

    def section(text: str) -> SectionBlock:
        return SectionBlock(text=MarkdownTextObject(text=_clip(text, MAX_TEXT), verbatim=True))

    def context(text: str) -> ContextBlock:
        return ContextBlock(elements=[MarkdownTextObject(text=_clip(text, MAX_TEXT), verbatim=True)])

    urgent = message.priority is Priority.HIGH
    title = (
        f"{_EMOJI[message.kind]} {'ACTION NEEDED ' if urgent else ''}{unlinked(message.secret_name)}: {message.kind}"
    )
    head: list[Block] = [
        HeaderBlock(text=_clip(title, MAX_HEADER)),
        section((f"{PING} " if urgent else "") + inert(message.headline)),
        context(
            f"verdict *{inert(message.verdict)}* · mode *{inert(message.mode)}* · risk *{inert(message.risk)}* · "
            f"account {inert(message.account)} · {inert(message.region)}"
        ),
    ]
    left: list[Block] = [section(chunk) for chunk in _leftover_chunks(message)]
    findings: list[Block] = []
    if message.findings:
        findings.append(section("*What is wrong*\n" + "\n".join(f"• {inert(f)}" for f in message.findings)))
    plan: list[Block] = []
    for kind, risk, steps in message.changes:
        exact = code("\n".join(steps))
        heading = f"*{inert(kind)}* (risk {inert(risk)})"
        plan.append(section(f"{heading}\n```{_clip(exact, MAX_TEXT - len(heading) - 10)}```"))
    after: list[Block] = []
    if message.costs:
        after.append(context(inert(" · ".join(message.costs))))
    if message.outcome:
        after.append(section(inert("\n".join(message.outcome))))
    buttons = []
    if message.links.approve:
        buttons.append(
            ButtonElement(text="Review and approve", url=message.links.approve, style="primary", action_id="review")
        )
    if message.links.reject:
        buttons.append(ButtonElement(text="Reject", url=message.links.reject, style="danger", action_id="reject"))
    tail: list[Block] = [DividerBlock(), ActionsBlock(elements=buttons)] if buttons else []

    # Within 50 blocks: the plan's sections go first (from the end), then leftovers; a note says what went.
    room = MAX_BLOCKS - len(head) - len(findings) - len(after) - len(tail)
    if len(left) + len(plan) > room:
        room -= 1  # for the note
        kept_left = left[: max(room, 0)]
        kept_plan = plan[: max(room - len(kept_left), 0)]
        dropped = [
            f"{n} {what}"
            for n, what in (
                (len(plan) - len(kept_plan), "fix(es) of the plan"),
                (len(left) - len(kept_left), "section(s) of leftovers"),
            )
            if n
        ]
        note = context(
            f"Shortened for Slack: {', '.join(dropped)} not shown; all of it is {_ours(message.where_all_is)}."
        )
        left, plan = [*kept_left], [*kept_plan, note]
    return [b.to_dict() for b in [*head, *left, *findings, *plan, *after, *tail]]


def _leftover_chunks(message: Message) -> list[str]:
    """What is left in the account, one entry per leftover with the command that removes it, in sections of at most
    3,000 characters."""
    if not message.leftovers:
        return []
    entries = []
    for left in message.leftovers:
        how = (
            f"```{code(left.remove)}```"
            if left.remove
            else f"its id was never returned: find it by its tag `rotation-doctor:secret={code(message.secret_name)}`"
        )
        resource = code(left.resource or "id unknown")
        entry = f"• `{resource}` {inert(left.what)}\n  undo failed: {inert(left.error)}\n{how}"
        entries.append(_clip(entry, MAX_TEXT - 100))
    chunks = [f"*Left in the account: the undo failed, remove by hand ({len(entries)})*"]
    for entry in entries:
        if len(chunks[-1]) + 1 + len(entry) > MAX_TEXT:
            chunks.append(entry)
        else:
            chunks[-1] += "\n" + entry
    return chunks


def fallback_text(message: Message) -> str:
    """What notifications and screen readers show (with the ping, for a high-priority message)."""
    ping = f"{PING} " if message.priority is Priority.HIGH else ""
    return _clip(ping + inert(message.headline), MAX_TEXT)


class SlackWebhook:
    """Posts to the incoming webhook whose URL is the value of a Secrets Manager secret (read once, cached)."""

    def __init__(self, clients: AwsClients, secret_id: str, *, timeout: int = 10) -> None:
        self.clients = clients
        self.secret_id = secret_id
        self.timeout = timeout
        self._client: Any = None

    def _webhook(self) -> Any:
        if self._client is None:
            from slack_sdk.http_retry.builtin_handlers import (
                ConnectionErrorRetryHandler,
                RateLimitErrorRetryHandler,
                ServerErrorRetryHandler,
            )
            from slack_sdk.webhook import WebhookClient

            url = self.clients.secretsmanager.get_secret_value(SecretId=self.secret_id)["SecretString"].strip()
            self._client = WebhookClient(
                url,
                timeout=self.timeout,
                retry_handlers=[
                    ConnectionErrorRetryHandler(max_retry_count=2),
                    RateLimitErrorRetryHandler(max_retry_count=2),
                    ServerErrorRetryHandler(max_retry_count=2),
                ],
            )
        return self._client

    def send(self, message: Message) -> bool:
        """True when Slack accepted it; False (logged) otherwise. Never raises."""
        try:
            # No previews: Slack would fetch the approval page's links (and show what a page says of itself).
            response = self._webhook().send(
                text=fallback_text(message), blocks=blocks(message), unfurl_links=False, unfurl_media=False
            )
        except Exception as exc:
            log.warning("Slack notification failed: %s", type(exc).__name__)
            return False
        if response.status_code != 200:
            log.warning("Slack notification refused: HTTP %s %s", response.status_code, str(response.body)[:200])
            return False
        return True

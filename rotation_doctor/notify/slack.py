"""Slack: Block Kit within Slack's limits, sent to an incoming webhook whose URL is kept in Secrets Manager.

No Slack app is needed: the buttons are URL buttons that open the approval page. A failed call is
retried (slack-sdk's retry handlers) and logged; it never breaks the fix it reports on.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from rotation_doctor.notify.messages import Kind, Message

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
}


def escape(text: str) -> str:
    """Slack's three control characters in mrkdwn. Names, hosts and ids come from AWS and from whoever wrote
    the secret: unescaped, `<https://evil.example|review and approve>` is a link and `<!channel>` a ping."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def blocks(message: Message) -> list[dict[str, Any]]:
    """The message as Block Kit blocks (built with slack-sdk's models, which check Slack's own limits)."""
    from slack_sdk.models.blocks import (
        ActionsBlock,
        ButtonElement,
        ContextBlock,
        DividerBlock,
        HeaderBlock,
        MarkdownTextObject,
        SectionBlock,
    )

    out: list[Any] = [
        HeaderBlock(text=_clip(f"{_EMOJI[message.kind]} {message.secret_name}: {message.kind}", MAX_HEADER)),
        SectionBlock(text=MarkdownTextObject(text=_clip(escape(message.headline), MAX_TEXT))),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=_clip(
                        escape(
                            f"verdict *{message.verdict}* · mode *{message.mode}* · risk *{message.risk}* · account "
                            f"{message.account} · {message.region}"
                        ),
                        MAX_TEXT,
                    )
                )
            ]
        ),
    ]
    if message.findings:
        out.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=_clip("*What is wrong*\n" + "\n".join(f"• {escape(f)}" for f in message.findings), MAX_TEXT)
                )
            )
        )
    for kind, risk, steps in message.changes:
        code = escape("\n".join(steps))
        out.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=_clip(f"*{kind}* (risk {risk})\n```{_clip(code, MAX_TEXT - len(kind) - 40)}```", MAX_TEXT)
                )
            )
        )
    if message.costs:
        costs = escape(" · ".join(message.costs))
        out.append(ContextBlock(elements=[MarkdownTextObject(text=_clip(costs, MAX_TEXT))]))
    if message.outcome:
        out.append(SectionBlock(text=MarkdownTextObject(text=_clip(escape("\n".join(message.outcome)), MAX_TEXT))))
    buttons = []
    if message.links.approve:
        buttons.append(
            ButtonElement(text="Review and approve", url=message.links.approve, style="primary", action_id="review")
        )
    if message.links.reject:
        buttons.append(ButtonElement(text="Reject", url=message.links.reject, style="danger", action_id="reject"))
    if buttons:
        out += [DividerBlock(), ActionsBlock(elements=buttons)]
    if len(out) > MAX_BLOCKS:  # keep the buttons: drop plan sections from the middle
        out = out[: MAX_BLOCKS - 3] + out[-2:]
    return [b.to_dict() for b in out]


def fallback_text(message: Message) -> str:
    """What notifications and screen readers show."""
    return _clip(escape(message.headline), MAX_TEXT)


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
            response = self._webhook().send(text=fallback_text(message), blocks=blocks(message))
        except Exception as exc:
            log.warning("Slack notification failed: %s", type(exc).__name__)
            return False
        if response.status_code != 200:
            log.warning("Slack notification refused: HTTP %s %s", response.status_code, str(response.body)[:200])
            return False
        return True

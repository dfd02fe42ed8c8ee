"""Sends a message to every channel; what is told once per window (`messages.TOLD_ONCE_PER_WINDOW`: a diagnosis, a
proposal, healthy again) is not sent again within it: the same secret with the same findings and plan (and round of
the proposal) is a repeat. Decisions, outcomes and reminders are never held back as repeats.

A message no channel accepted is not remembered as told, so that it can be told later.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from enum import StrEnum
from typing import Protocol

from rotation_doctor.collect.aws import AwsClients, error_code
from rotation_doctor.notify.messages import TOLD_ONCE_PER_WINDOW, Message

log = logging.getLogger(__name__)
DEFAULT_WINDOW = 24 * 3600


class Channel(Protocol):
    def send(self, message: Message) -> bool: ...


class Delivery(StrEnum):
    SENT = "sent"  # at least one channel accepted it
    REPEAT = "repeat"  # told within the window already: not sent again
    FAILED = "failed"  # no channel accepted it (or there is none)


class RepeatLog:
    """Which messages went out recently (DynamoDB items `notified#FINGERPRINT` that expire with the window)."""

    def __init__(self, clients: AwsClients, table: str, window: int = DEFAULT_WINDOW) -> None:
        self.clients = clients
        self.table = table
        self.window = window

    def first_in_window(self, message: Message) -> bool:
        now = int(time.time())
        try:
            self.clients.dynamodb.put_item(
                TableName=self.table,
                Item={
                    "id": {"S": f"notified#{message.fingerprint}"},
                    "ttl": {"N": str(now + self.window)},
                    "secret": {"S": message.secret_arn},
                    "kind": {"S": str(message.kind)},
                },
                ConditionExpression="attribute_not_exists(id) OR #ttl < :now",
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues={":now": {"N": str(now)}},
            )
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def forget(self, message: Message) -> None:
        """It was not told after all (no channel took it): the next attempt is not a repeat."""
        try:
            self.clients.dynamodb.delete_item(
                TableName=self.table, Key={"id": {"S": f"notified#{message.fingerprint}"}}
            )
        except Exception as exc:
            log.warning("could not forget an undelivered notification: %s", type(exc).__name__)


class Notifier:
    def __init__(self, channels: Sequence[Channel], repeats: RepeatLog | None = None) -> None:
        self.channels = list(channels)
        self.repeats = repeats

    def notify(self, message: Message) -> Delivery:
        """Every channel is tried; a failing channel is logged, never raised."""
        repeats = self.repeats if message.kind in TOLD_ONCE_PER_WINDOW else None
        if repeats is not None and not repeats.first_in_window(message):
            log.info("not repeated: %s for %s", message.kind, message.secret_name)
            return Delivery.REPEAT
        accepted = [self._send(channel, message) for channel in self.channels]
        if any(accepted):
            return Delivery.SENT
        if repeats is not None:
            repeats.forget(message)
        log.warning("%s for %s reached no channel", message.kind, message.secret_name)
        return Delivery.FAILED

    @staticmethod
    def _send(channel: Channel, message: Message) -> bool:
        try:
            return channel.send(message)
        except Exception as exc:  # one channel failing must not keep the message from the others
            log.warning("%s failed: %s", type(channel).__name__, type(exc).__name__)
            return False

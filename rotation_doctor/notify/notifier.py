"""Sends a message to every channel once per window: the same secret with the same findings and plan is a repeat."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Protocol

from rotation_doctor.collect.aws import AwsClients, error_code
from rotation_doctor.notify.messages import Message

log = logging.getLogger(__name__)
DEFAULT_WINDOW = 24 * 3600


class Channel(Protocol):
    def send(self, message: Message) -> bool: ...


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


class Notifier:
    def __init__(self, channels: Sequence[Channel], repeats: RepeatLog | None = None) -> None:
        self.channels = list(channels)
        self.repeats = repeats

    def notify(self, message: Message) -> bool:
        """False when it is a repeat within the window; a failing channel is logged, never raised."""
        if self.repeats is not None and not self.repeats.first_in_window(message):
            log.info("not repeated: %s for %s", message.kind, message.secret_name)
            return False
        for channel in self.channels:
            channel.send(message)
        return True

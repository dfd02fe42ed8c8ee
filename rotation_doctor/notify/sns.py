"""SNS: the e-mail text as the default message, JSON for machines, attributes subscribers can filter on."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from rotation_doctor.notify import text
from rotation_doctor.notify.messages import Message

if TYPE_CHECKING:
    from mypy_boto3_sns.type_defs import PublishInputTypeDef

    from rotation_doctor.collect.aws import AwsClients

log = logging.getLogger(__name__)


def publish_request(topic_arn: str, message: Message) -> PublishInputTypeDef:
    """The exact PublishRequest: per-protocol bodies (text for e-mail and SMS-like, JSON for the rest)."""
    readable = text.body(message)
    machine = json.dumps(message.to_json(), sort_keys=True)
    attributes = {
        "verdict": message.verdict,
        "mode": message.mode,
        "risk": message.risk,
        "account": message.account,
        "secret_name": message.secret_name,
        "kind": str(message.kind),
        "priority": str(message.priority),
    }
    return {
        "TopicArn": topic_arn,
        "Subject": text.subject(message),
        "MessageStructure": "json",
        "Message": json.dumps(
            {
                "default": readable,
                "email": readable,
                "email-json": machine,
                "sqs": machine,
                "lambda": machine,
                "https": machine,
                "http": machine,
                "firehose": machine,
            }
        ),
        "MessageAttributes": {k: {"DataType": "String", "StringValue": v or "-"} for k, v in attributes.items()},
    }


class SnsTopic:
    def __init__(self, clients: AwsClients, topic_arn: str) -> None:
        self.clients = clients
        self.topic_arn = topic_arn

    def send(self, message: Message) -> bool:
        try:
            self.clients.sns.publish(**publish_request(self.topic_arn, message))
        except Exception as exc:
            log.warning("SNS notification failed: %s", type(exc).__name__)
            return False
        return True

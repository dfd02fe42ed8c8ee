"""SNS: the e-mail text for e-mail, JSON for machines, attributes subscribers can filter on; within SNS's size limit.

SNS refuses a publish whose message and attributes together exceed 256 KiB (in UTF-8 bytes). With
`MessageStructure: json` the message holds one body per protocol, so it carries two: `email` (the
text) and `default` (the JSON, for sqs, lambda, http(s), email-json and firehose), plus a one-line
`sms`. A message too long for that is shortened (`messages.fit`: the plan first) and says so, with
where to see the rest (the approval page, `rotation-doctor proposals show`).
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from rotation_doctor.notify import text
from rotation_doctor.notify.messages import Message, fit

if TYPE_CHECKING:
    from mypy_boto3_sns.type_defs import PublishInputTypeDef

    from rotation_doctor.collect.aws import AwsClients

log = logging.getLogger(__name__)

MAX_PUBLISH_BYTES = 256 * 1024  # SNS: the message and its attributes, together, in bytes
MARGIN = 2048  # for what SNS may count that this does not (the subject is counted here anyway)
SMS_LIMIT = 280


def publish_request(topic_arn: str, message: Message) -> PublishInputTypeDef:
    """The exact PublishRequest, within SNS's limit: per-protocol bodies (text for e-mail, JSON for the rest)."""
    fitted = fit(message, lambda m: request_size(_request(topic_arn, m)) <= MAX_PUBLISH_BYTES - MARGIN)
    if fitted is not message:
        log.info("shortened for SNS: %s", fitted.omitted)
    return _request(topic_arn, fitted)


def request_size(request: PublishInputTypeDef) -> int:
    """What SNS counts against its limit: the message and every attribute's name, type and value (in bytes); the
    subject too, to be safe."""
    size = len(request["Message"].encode()) + len(request.get("Subject", "").encode())
    for name, value in request.get("MessageAttributes", {}).items():
        size += len(name.encode()) + len(value["DataType"].encode()) + len(value.get("StringValue", "").encode())
    return size


def _request(topic_arn: str, message: Message) -> PublishInputTypeDef:
    readable = text.body(message)
    machine = json.dumps(message.to_json(), sort_keys=True)
    headline = message.headline if len(message.headline) <= SMS_LIMIT else message.headline[: SMS_LIMIT - 1] + "…"
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
        # A protocol without a key of its own gets `default`.
        "Message": json.dumps({"default": machine, "email": readable, "sms": headline}),
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

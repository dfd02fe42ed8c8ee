"""What the Lambda service hands a function: an SQS batch of records, and a context object."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

ACCOUNT = "123456789012"


@dataclass
class SimulatedContext:
    """The attributes of Lambda's context object that Powertools reads."""

    function_name: str = "rotation-doctor-worker"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:rotation-doctor-worker"
    aws_request_id: str = "0b1c2d3e-4f50-4a61-8b72-93a4b5c6d7e8"
    remaining_ms: int = 300_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def sqs_event(*bodies: str, region: str = "us-east-1") -> dict[str, Any]:
    """An SQS event source batch as Lambda delivers it, one record per body."""
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "AQEB" + uuid.uuid4().hex,
                "body": body,
                "md5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1764390000000",
                    "SenderId": "AIDAEXAMPLE",
                    "ApproximateFirstReceiveTimestamp": "1764390000001",
                },
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "awsRegion": region,
                "eventSourceARN": f"arn:aws:sqs:{region}:{ACCOUNT}:rotation-doctor-events",
            }
            for body in bodies
        ]
    }

"""What the Lambda service hands a function: an SQS batch of records, and a context object."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

ACCOUNT = "123456789012"


class SimulatedContext(LambdaContext):
    """Lambda's context object, with the attributes Powertools reads: Powertools' own type of it, so the handlers take
    it as they take the one Lambda hands them."""

    def __init__(
        self,
        function_name: str = "rotation-doctor-worker",
        memory_limit_in_mb: int = 512,
        aws_request_id: str = "0b1c2d3e-4f50-4a61-8b72-93a4b5c6d7e8",
        remaining_ms: int = 300_000,
    ) -> None:
        self._function_name = function_name
        self._function_version = "$LATEST"
        self._invoked_function_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{function_name}"
        self._memory_limit_in_mb = memory_limit_in_mb
        self._aws_request_id = aws_request_id
        self._log_group_name = f"/aws/lambda/{function_name}"
        self._log_stream_name = "2026/11/29/[$LATEST]0123456789abcdef0123456789abcdef"
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:  # type: ignore[override]  # LambdaContext declares a staticmethod
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

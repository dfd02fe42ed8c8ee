"""The pydantic model of the CloudTrail record under an EventBridge event's `detail`.

`events.parse` imports this module on the first event: pydantic and Powertools' parser models are not
loaded at cold start. The parameters are validated as JSON values, so that what `events` walks is typed.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, JsonValue


class CloudTrailDetail(BaseModel):
    """The CloudTrail record under `detail`: only what rotation-doctor reads, anything else allowed."""

    model_config = ConfigDict(extra="allow")

    eventName: str
    eventSource: str | None = None
    eventID: str | None = None
    errorCode: str | None = None
    errorMessage: str | None = None
    requestParameters: dict[str, JsonValue] | None = None
    responseElements: dict[str, JsonValue] | None = None
    additionalEventData: dict[str, JsonValue] | None = None

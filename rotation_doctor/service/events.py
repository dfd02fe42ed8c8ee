"""What wakes rotation-doctor: EventBridge events, parsed as AWS really writes them.

- `RotationFailed` / `RotationAbandoned` (detail-type `AWS Service Event via CloudTrail`): the
  secret is at `detail.additionalEventData.SecretId`; `requestParameters` is null.
- CloudTrail API calls (`AWS API Call via CloudTrail`) that can break a rotation path. Their
  parameters come in several shapes: older EC2 calls write lists as `{"items": [...]}` and an
  empty list as `{}`; CLI-style calls write flat fields (`groupId`, `cidrIp`) with
  `ipPermissions: {}`; newer EC2 calls wrap everything in `<Action>Request` with PascalCase keys
  and lists as `{"tag": n, "content": ...}` (one object for one element, a list for several); RDS
  writes `dBInstanceIdentifier`; Secrets Manager responses said `aRN` before 2024. Rather than
  one model per shape, the parameters are walked and every resource id and name is collected.
- The daily sweep (`Scheduled Event`).

Beside EventBridge's events, the queue carries one message of our own: an approved proposal handed
over by the approval page (`rotation_doctor.approvals.handoff`, `{"kind": "apply-approved-proposal", ...}`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import JsonValue, ValidationError

    from rotation_doctor.service.event_models import CloudTrailDetail

from rotation_doctor.approvals.handoff import ApplyApproved
from rotation_doctor.model.errors import HandoffInvalid

ROTATION_EVENTS = frozenset({"RotationFailed", "RotationAbandoned"})
_RESOURCE_ID = re.compile(r"^(sg|vpce|rtb|acl|nat|vpc|subnet|eni|pcx|igw|tgw)-[0-9a-f]{8,17}$")
_NAME_KEYS = {
    "functionname": "function",
    "dbinstanceidentifier": "database",
    "dbclusteridentifier": "database",
    "clusteridentifier": "database",
    "dbproxyname": "database",
    "workgroupname": "database",
    "secretid": "secret",
}
# Changes that name only an association: the subnet they move is not in the event.
_UNMAPPABLE = frozenset({"DisassociateRouteTable"})


class MalformedEvent(ValueError):
    """An event that cannot be understood; it goes to the dead-letter queue with this reason."""


@dataclass(frozen=True)
class RotationTrigger:
    event_id: str
    event_name: str
    secret_id: str
    step: str | None  # "createSecret", "setSecret", ... from the error message


@dataclass(frozen=True)
class Change:
    event_id: str
    event_name: str
    source: str
    resource_ids: frozenset[str]  # sg-, vpce-, rtb-, acl-, nat-, vpc-, subnet-, ... ids in the call
    names: frozenset[tuple[str, str]]  # ("function" | "database" | "secret", name or ARN)
    affects_all: bool = False  # nothing in the event says which secrets: look at all of them


@dataclass(frozen=True)
class Sweep:
    event_id: str


Trigger = RotationTrigger | Change | Sweep | ApplyApproved


def parse(raw: Mapping[str, object]) -> Trigger:
    """One EventBridge event, or the approval page's hand-off, as a trigger; MalformedEvent (with the reason) when
    it is neither."""
    if "kind" in raw:  # EventBridge's envelope has no `kind`; our hand-off always has one
        try:
            return ApplyApproved.from_json(raw)
        except HandoffInvalid as exc:
            raise MalformedEvent(str(exc)) from exc
    # Pydantic and Powertools' parser models load on the first event, not at cold start.
    from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
    from pydantic import ValidationError

    from rotation_doctor.service.event_models import CloudTrailDetail

    try:
        envelope = EventBridgeModel.model_validate(raw)
    except ValidationError as exc:
        raise MalformedEvent(f"not an EventBridge event: {_first_error(exc)}") from exc
    if envelope.detail_type == "Scheduled Event":
        return Sweep(envelope.id)
    try:
        detail = CloudTrailDetail.model_validate(envelope.detail)
    except ValidationError as exc:
        raise MalformedEvent(f"{envelope.detail_type} without a CloudTrail record: {_first_error(exc)}") from exc
    if envelope.detail_type == "AWS Service Event via CloudTrail" and detail.eventName in ROTATION_EVENTS:
        secret = (detail.additionalEventData or {}).get("SecretId")
        if not isinstance(secret, str) or not secret:
            raise MalformedEvent(f"{detail.eventName} without detail.additionalEventData.SecretId")
        step = re.search(r"during (\w+) step", detail.errorMessage or "")
        return RotationTrigger(envelope.id, detail.eventName, secret, step.group(1) if step else None)
    if envelope.detail_type == "AWS API Call via CloudTrail":
        return _change(envelope.id, envelope.source, detail)
    raise MalformedEvent(f"unexpected event: {envelope.source} / {envelope.detail_type} / {detail.eventName}")


def _change(event_id: str, source: str, detail: CloudTrailDetail) -> Change:
    ids: set[str] = set()
    names: set[tuple[str, str]] = set()
    for key, value in _leaves(detail.requestParameters or {}):
        if _RESOURCE_ID.match(value):
            ids.add(value)
        kind = _NAME_KEYS.get(key.lower())
        if kind:
            names.add((kind, _short_name(value) if kind == "function" else value))
    for key, value in _leaves(detail.responseElements or {}):
        if key.lower() == "arn" and ":secret:" in value:
            names.add(("secret", value))  # RotateSecret's response: `aRN` before 2024, `ARN` after
        elif _RESOURCE_ID.match(value):
            ids.add(value)
    unmappable = detail.eventName in _UNMAPPABLE or not (ids or names)
    return Change(event_id, detail.eventName, source, frozenset(ids), frozenset(names), affects_all=unmappable)


def failed_call(raw: Mapping[str, object]) -> bool:
    """A CloudTrail call that AWS refused changed nothing (EventBridge patterns cannot say `errorCode` absent
    for every shape, so the handler checks)."""
    detail = raw.get("detail") if isinstance(raw, Mapping) else None
    if not isinstance(detail, Mapping):
        return False
    record: Mapping[str, object] = detail
    return bool(record.get("errorCode"))


def _leaves(value: JsonValue, key: str = "") -> Iterator[tuple[str, str]]:
    """(key, string) pairs anywhere in `value`, through `items`, `tag`/`content` and `<Action>Request` wrappers."""
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, Mapping):
        if set(value) <= {"tag", "content"} and "content" in value:
            yield from _leaves(value["content"], key)
            return
        for k, v in value.items():
            # `items` lists and `<Action>Request` wrappers keep the key of the element they hold.
            yield from _leaves(v, key if k in ("items", "item") or k.endswith("Request") else str(k))
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _leaves(item, key)


def _short_name(value: str) -> str:
    """A Lambda function named by ARN (possibly qualified) or name: the name."""
    if value.startswith("arn:") and ":function:" in value:
        return value.split(":function:", 1)[1].split(":", 1)[0]
    return value


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    return f"{'.'.join(str(p) for p in error.get('loc', ()))}: {error.get('msg')}"

"""What wakes rotation-doctor: EventBridge events, parsed as AWS really writes them.

- `RotationFailed` / `RotationAbandoned` (detail-type `AWS Service Event via CloudTrail`): the
  secret is at `detail.additionalEventData.SecretId`; `requestParameters` is null.
- `RotationSucceeded`, of the same shape: it closes what is open for the secret (a proposal, a Security Hub
  finding) once a diagnosis finds it healthy.
- CloudTrail API calls (`AWS API Call via CloudTrail`) that can break a rotation path. Their
  parameters come in several shapes: older EC2 calls write lists as `{"items": [...]}` and an
  empty list as `{}`; CLI-style calls write flat fields (`groupId`, `cidrIp`) with
  `ipPermissions: {}`; newer EC2 calls wrap everything in `<Action>Request` with PascalCase keys
  and lists as `{"tag": n, "content": ...}` (one object for one element, a list for several); RDS
  writes `dBInstanceIdentifier`; Secrets Manager responses said `aRN` before 2024. Rather than
  one model per shape, the parameters are walked and every resource id and name is collected. The walk is
  bounded (depth and size, without recursion): an event it cannot read whole looks at every secret.
- The daily sweep (`Scheduled Event`).

Beside EventBridge's events, the queue carries one message of our own: an approved proposal handed
over by the approval page (`rotation_doctor.approvals.handoff`, `{"kind": "apply-approved-proposal", ...}`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import JsonValue, ValidationError

    from rotation_doctor.service.event_models import CloudTrailDetail

from rotation_doctor.approvals.handoff import ApplyApproved
from rotation_doctor.model.bounded import clip
from rotation_doctor.model.errors import HandoffInvalid

ROTATION_EVENTS = frozenset({"RotationFailed", "RotationAbandoned"})
ROTATION_SUCCEEDED = "RotationSucceeded"
SETTLE_KIND = "settle-place"  # the worker's own message that wakes a place's settled diagnosis (service/settle.py)
_RESOURCE_ID = re.compile(
    r"^(sg|vpce|rtb|acl|nat|vpc|subnet|eni|pcx|igw|eigw|tgw|tgw-attach|tgw-rtb|pl)-[0-9a-f]{8,17}$"
)
_NAME_KEYS = {
    "functionname": "function",
    "dbinstanceidentifier": "database",
    "dbclusteridentifier": "database",
    "clusteridentifier": "database",
    "dbproxyname": "database",
    "workgroupname": "database",
    "secretid": "secret",
}
# RDS takes a DB instance's or cluster's identifier in any case and stores it in lowercase (RDS API Reference,
# CreateDBInstance and CreateDBCluster: "stored as a lowercase string"; from memory): the one spelling it describes.
_STORED_LOWERCASE = frozenset({"dbinstanceidentifier", "dbclusteridentifier"})
# Changes that name only an association: the subnet they move is not in the event. The two replacements name the new
# table or ACL too, but a diagnosis read the subnet's old one: the new one is in no record of reads, so matching its
# id would miss every secret whose subnet moved (EC2 API Reference, ReplaceNetworkAclAssociation and
# ReplaceRouteTableAssociation: AssociationId and NetworkAclId / RouteTableId in, NewAssociationId out; from memory).
_UNMAPPABLE = frozenset({"DisassociateRouteTable", "ReplaceNetworkAclAssociation", "ReplaceRouteTableAssociation"})
# The walk of a call's parameters. CloudTrail nests them 7 deep in the calls we know; an EventBridge event is at most
# 256 KB. Past these bounds the rest is not read and the change looks at every secret.
MAX_DEPTH = 32
MAX_NODES = 50_000
MAX_STRING = 2048  # resource ids, names and ARNs are shorter; a longer string names nothing we look for


class MalformedEvent(ValueError):
    """An event that cannot be understood; it goes to the dead-letter queue with this reason (short, one line:
    it is logged and sent as a message attribute, whatever the event held)."""

    def __init__(self, reason: str) -> None:
        super().__init__(clip(reason))


@dataclass(frozen=True)
class RotationTrigger:
    event_id: str
    event_name: str
    secret_id: str
    step: str | None  # "createSecret", "setSecret", ... from the error message
    account: str = ""  # the envelope's: the account and region the event happened in ("" when not said)
    region: str = ""


@dataclass(frozen=True)
class RotationSucceeded:
    event_id: str
    secret_id: str  # the ARN, as Secrets Manager writes it
    account: str = ""  # the envelope's: the account and region the rotation ran in ("" when not said)
    region: str = ""


@dataclass(frozen=True)
class Change:
    event_id: str
    event_name: str
    source: str
    resource_ids: frozenset[str]  # sg-, vpce-, rtb-, acl-, nat-, vpc-, subnet-, ... ids in the call
    names: frozenset[tuple[str, str]]  # ("function" | "database" | "secret", name or ARN)
    affects_all: bool = False  # nothing in the event says which secrets: look at all of them
    read_whole: bool = True  # False: the parameters were too deep or too large to read whole (so affects_all)
    account: str = ""  # the envelope's: the account and region the call was made in ("" when not said)
    region: str = ""


@dataclass(frozen=True)
class Sweep:
    event_id: str
    account: str = ""  # the account and region of the schedule that fired ("" when not said)
    region: str = ""


@dataclass(frozen=True)
class SettlePlace:
    """The worker's own message that wakes a place's settled diagnosis (`service/settle.py`), sent delayed by the
    window: `for_change` is the time of the batch that sent it. It carries no authority: only what the proposals table
    holds as pending in the place is diagnosed."""

    id: str
    account: str
    region: str
    for_change: float

    def body(self) -> str:
        fields = {"id": self.id, "account": self.account, "region": self.region, "for_change": self.for_change}
        return json.dumps({"kind": SETTLE_KIND} | fields)

    @classmethod
    def from_json(cls, raw: Mapping[str, object]) -> SettlePlace:
        values = {k: raw.get(k) for k in ("id", "account", "region")}
        for_change = raw.get("for_change")
        if not all(isinstance(v, str) and 0 < len(v) <= 80 for v in values.values()):
            raise HandoffInvalid("a settle message names an id, an account and a region")
        if isinstance(for_change, bool) or not isinstance(for_change, int | float):
            raise HandoffInvalid("a settle message says when its change was")
        return cls(str(values["id"]), str(values["account"]), str(values["region"]), float(for_change))


Trigger = RotationTrigger | RotationSucceeded | Change | Sweep | ApplyApproved | SettlePlace


def parse(raw: Mapping[str, object]) -> Trigger:
    """One EventBridge event, or the approval page's hand-off, as a trigger; MalformedEvent (with the reason) when
    it is neither."""
    try:
        return _parse(raw)
    except RecursionError:
        # Validation is bounded, and so is the walk; this is what is left (a reason's repr of a deep value, ...).
        raise MalformedEvent("the event is nested too deeply to read") from None


def _parse(raw: Mapping[str, object]) -> Trigger:
    if "kind" in raw:  # EventBridge's envelope has no `kind`; our own messages always have one
        try:
            if raw.get("kind") == SETTLE_KIND:
                return SettlePlace.from_json(raw)
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
        return Sweep(envelope.id, envelope.account, envelope.region)
    try:
        detail = CloudTrailDetail.model_validate(envelope.detail)
    except ValidationError as exc:
        raise MalformedEvent(f"{envelope.detail_type} without a CloudTrail record: {_first_error(exc)}") from exc
    if envelope.detail_type == "AWS Service Event via CloudTrail" and detail.eventName == ROTATION_SUCCEEDED:
        succeeded = (detail.additionalEventData or {}).get("SecretId")
        if not isinstance(succeeded, str) or not succeeded:
            raise MalformedEvent(f"{ROTATION_SUCCEEDED} without detail.additionalEventData.SecretId")
        return RotationSucceeded(envelope.id, succeeded, envelope.account, envelope.region)
    if envelope.detail_type == "AWS Service Event via CloudTrail" and detail.eventName in ROTATION_EVENTS:
        secret = (detail.additionalEventData or {}).get("SecretId")
        if not isinstance(secret, str) or not secret:
            raise MalformedEvent(f"{detail.eventName} without detail.additionalEventData.SecretId")
        step = re.search(r"during (\w+) step", detail.errorMessage or "")
        step_name = step.group(1) if step else None
        return RotationTrigger(envelope.id, detail.eventName, secret, step_name, envelope.account, envelope.region)
    if envelope.detail_type == "AWS API Call via CloudTrail":
        return replace(_change(envelope.id, envelope.source, detail), account=envelope.account, region=envelope.region)
    raise MalformedEvent(
        f"unexpected event: {clip(envelope.source, 80)} / {clip(envelope.detail_type, 80)} / "
        f"{clip(detail.eventName, 80)}"
    )


def _change(event_id: str, source: str, detail: CloudTrailDetail) -> Change:
    ids: set[str] = set()
    names: set[tuple[str, str]] = set()
    request, request_whole = _leaves(detail.requestParameters or {})
    response, response_whole = _leaves(detail.responseElements or {})
    for key, value in request:
        if _RESOURCE_ID.match(value):
            ids.add(value)
        kind = _NAME_KEYS.get(key.lower())
        if kind == "function":
            names.add((kind, _short_name(value)))
        elif kind:
            names.add((kind, value.lower() if key.lower() in _STORED_LOWERCASE else value))
    for key, value in response:
        if key.lower() == "arn" and ":secret:" in value:
            names.add(("secret", value))  # RotateSecret's response: `aRN` before 2024, `ARN` after
        elif _RESOURCE_ID.match(value):
            ids.add(value)
    whole = request_whole and response_whole
    unmappable = detail.eventName in _UNMAPPABLE or not (ids or names) or not whole
    return Change(
        event_id,
        detail.eventName,
        source,
        frozenset(ids),
        frozenset(names),
        affects_all=unmappable,
        read_whole=whole,
    )


def failed_call(raw: Mapping[str, object]) -> bool:
    """A CloudTrail call that AWS refused changed nothing (EventBridge patterns cannot say `errorCode` absent
    for every shape, so the handler checks)."""
    detail = raw.get("detail") if isinstance(raw, Mapping) else None
    if not isinstance(detail, Mapping):
        return False
    record: Mapping[str, object] = detail
    return bool(record.get("errorCode"))


def _leaves(
    value: JsonValue, *, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES
) -> tuple[list[tuple[str, str]], bool]:
    """(key, string) pairs anywhere in `value`, through `items`, `tag`/`content` and `<Action>Request` wrappers, in
    document order; and whether `value` was read whole.

    Depth-first with a stack of its own (no recursion, so no RecursionError whatever the nesting): containers
    deeper than `max_depth` are not entered and the walk stops after `max_nodes` values. Strings longer than
    `MAX_STRING` are passed over.
    """
    pairs: list[tuple[str, str]] = []
    whole = True
    stack: list[tuple[JsonValue, str, int]] = [(value, "", 0)]
    seen = 0
    while stack:
        node, key, depth = stack.pop()
        seen += 1
        if seen > max_nodes:
            return pairs, False
        if isinstance(node, str):
            if len(node) <= MAX_STRING:
                pairs.append((key, node))
        elif isinstance(node, Mapping | list | tuple):
            if depth >= max_depth:
                whole = False
            elif isinstance(node, Mapping):
                if set(node) <= {"tag", "content"} and "content" in node:
                    stack.append((node["content"], key, depth + 1))
                    continue
                # `items` lists and `<Action>Request` wrappers keep the key of the element they hold. Pushed in
                # reverse, so that they are taken in document order.
                stack.extend(
                    (v, key if k in ("items", "item") or k.endswith("Request") else str(k), depth + 1)
                    for k, v in reversed(node.items())
                )
            else:
                stack.extend((item, key, depth + 1) for item in reversed(node))
    return pairs, whole


def _short_name(value: str) -> str:
    """A Lambda function named by its ARN (possibly qualified), its partial ARN (`123456789012:function:NAME`) or its
    name: the name (Lambda API Reference, FunctionName's "Name formats"; a name holds no colon)."""
    parts = value.split(":")
    if "function" in parts[:-1] and (value.startswith("arn:") or parts[0].isdigit()):
        return parts[parts.index("function") + 1]
    return value


def _first_error(exc: ValidationError) -> str:
    """Where and why, briefly: a location in a deep value is as deep as the value (pydantic stops at its own
    recursion limit, with a location hundreds of parts long)."""
    error = exc.errors(include_url=False, include_context=False, include_input=False)[0]
    loc = [str(p) for p in error.get("loc", ())]
    where = ".".join(clip(p, 40) for p in loc[:6]) + (f"... ({len(loc)} levels)" if len(loc) > 6 else "")
    return f"{where}: {clip(str(error.get('msg')), 120)}"

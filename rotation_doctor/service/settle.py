"""Settle before diagnosing: a place's change events wait for a quiet window, then its affected secrets are diagnosed
once.

A change event is not read or diagnosed when it arrives. What it names (resource ids, functions, databases, secrets;
or "everything" when it names nothing mappable) is added to its place's pending item in the proposals table,
`settle#ACCOUNT#REGION`, one attribute per thing named, holding when it was last named. The batch then sends its own
queue a `settle-place` message delayed by the window (SQS `DelaySeconds`, at most 900 s; Amazon SQS Developer Guide,
"Amazon SQS delay queues" / "message timers", from memory). When the message arrives, the place is due if nothing has
been added for a window (or the window has been open for `max_wait`, so a place that never goes quiet is still
diagnosed): one worker claims the item (a conditional write on its version, with a lease), reads the place's
inventory once, diagnoses every secret affected by anything pending, and deletes the item only if no change arrived
meanwhile. A change that arrives while the diagnosis runs keeps the item (and its own message is on its way): it
opens a new window; what was drained and not named again is removed, entry by entry, conditional on being unchanged.

Why the place and not the secret is what waits: which secrets a change affects is known only from the place's
inventory (every secret's paths), the very read settling saves. Marking the names keeps the event's path free of AWS
reads; the drain reads the place once for all its pending changes.

A settle message carries no authority: it names a place, and only what the table holds as pending there is done. A
message delivered again finds the item claimed or gone. An item whose message was lost is drained by the place's next
change or sweep (a sweep diagnoses everything, and clears the item if nothing was added meanwhile).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rotation_doctor.collect.accounts import Place
from rotation_doctor.collect.aws import error_code
from rotation_doctor.service.events import SETTLE_KIND as KIND
from rotation_doctor.service.events import Change, SettlePlace

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

    from rotation_doctor.collect.aws import AwsClients

log = logging.getLogger(__name__)

DEFAULT_WINDOW = 60  # seconds; the template's SettleWindowSeconds
LONGEST_DELAY = 900  # SQS's longest DelaySeconds
LEASE_SECONDS = 900  # the worker's timeout: a claim of a worker that died is free again after it
ALL = "all"  # the change named nothing a secret can be matched by: every secret of the place is looked at
_TOUCHED = "t:"  # the prefix of the item's attributes that hold what was named, and when
MAX_NAMED = 100  # a change naming more things than this is marked as "all": one write stays small
MAX_NAME = 600  # a secret's ARN is at most ~600 characters; anything longer names nothing we match
_CONDITION_FAILED = "ConditionalCheckFailedException"


def item_key(place: Place) -> dict[str, AttributeValueTypeDef]:
    return {"id": {"S": f"settle#{place.account}#{place.region}"}}


def named_by(change: Change) -> set[str]:
    """What a change names, as the pending item's entries: `id:sg-...`, `function:NAME`, ...; `all` when it names
    nothing mappable, or too much to keep."""
    if change.affects_all:
        return {ALL}
    named = {f"id:{i}" for i in change.resource_ids} | {f"{kind}:{name}" for kind, name in change.names}
    if len(named) > MAX_NAMED or any(len(n) > MAX_NAME for n in named):
        return {ALL}
    return named


def as_change(event_id: str, place: Place, named: Iterable[str]) -> Change:
    """The pending entries as one change, matched against the inventory with `batch.affects`."""
    ids: set[str] = set()
    names: set[tuple[str, str]] = set()
    for entry in named:
        kind, _, value = entry.partition(":")
        if kind == "id":
            ids.add(value)
        elif kind in ("function", "database", "secret"):
            names.add((kind, value))
    named_all = ALL in named or not (ids or names)
    return Change(event_id, KIND, KIND, frozenset(ids), frozenset(names), named_all, True, place.account, place.region)


@dataclass(frozen=True)
class Pending:
    """A place's pending item as read."""

    place: Place
    version: int
    first_change: float
    last_change: float
    named: dict[str, float]  # what was named, and when last
    claimed_until: float | None = None
    claim: str | None = None

    @classmethod
    def of(cls, place: Place, item: Mapping[str, AttributeValueTypeDef]) -> Pending:
        claimed = item.get("claimed_until", {}).get("N")
        return cls(
            place,
            int(item["version"]["N"]),
            float(item["first_change"]["N"]),
            float(item["last_change"]["N"]),
            {k.removeprefix(_TOUCHED): float(v["N"]) for k, v in item.items() if k.startswith(_TOUCHED)},
            float(claimed) if claimed is not None else None,
            item.get("claim", {}).get("S"),
        )


@dataclass(frozen=True)
class Drained:
    """What a drain settled: the place's pending changes, how long the window was open, and whether a change arrived
    while it ran (then the item stays, and a new window is open)."""

    pending: Pending
    settled_at: float
    reopened: bool

    @property
    def waited(self) -> float:
        return self.settled_at - self.pending.first_change


Send = Callable[[SettlePlace, int], None]  # the message, its delay in seconds


@dataclass
class SettleWindow:
    """The settle window of one hub: marks, wakes and drains places (see the module's docstring)."""

    clients: AwsClients
    table: str
    window: int
    send: Send
    max_wait: int = LONGEST_DELAY
    now: Callable[[], float] = time.time

    def for_batch(self) -> SettleBatch:
        return SettleBatch(self, round(self.now(), 3))

    def wake(self, place: Place, for_change: float, delay: int) -> None:
        """Sends the place's wake-up, delayed. Each message has an id of its own, a message sent again included: the
        worker's idempotency record is keyed by the id, and would answer a second delivery of an id with the first
        one's result, so a wake-up sent again under its old id would never be acted on (the change it waits for would
        wait for the place's next change or sweep)."""
        message = SettlePlace(f"settle#{place}#{uuid.uuid4().hex}", place.account, place.region, for_change)
        self.send(message, min(delay, LONGEST_DELAY))

    def due_at(self, pending: Pending) -> float:
        return min(pending.last_change + self.window, pending.first_change + max(self.max_wait, self.window))

    def read(self, place: Place) -> Pending | None:
        item = self.clients.dynamodb.get_item(TableName=self.table, Key=item_key(place), ConsistentRead=True)
        found = item.get("Item")
        return Pending.of(place, found) if found else None

    def claim(self, pending: Pending) -> str | None:
        """This worker's claim on the item as read (a token), or None: another has it, or it changed since."""
        token = uuid.uuid4().hex
        now = self.now()
        try:
            self.clients.dynamodb.update_item(
                TableName=self.table,
                Key=item_key(pending.place),
                UpdateExpression="SET claimed_until = :lease, claim = :token",
                ConditionExpression="version = :v AND (attribute_not_exists(claimed_until) OR claimed_until < :now)",
                ExpressionAttributeValues={
                    ":lease": {"N": str(now + LEASE_SECONDS)},
                    ":token": {"S": token},
                    ":v": {"N": str(pending.version)},
                    ":now": {"N": str(now)},
                },
            )
        except Exception as exc:
            if error_code(exc) == _CONDITION_FAILED:
                return None
            raise
        return token

    def finish(self, pending: Pending, token: str, claimed_at: float) -> Drained:
        """The item goes if nothing was added since it was claimed; else what was drained and not named again goes,
        the claim is let go, and the new window (opened by what was added) stays."""
        dynamodb = self.clients.dynamodb
        try:
            dynamodb.delete_item(
                TableName=self.table,
                Key=item_key(pending.place),
                ConditionExpression="version = :v AND claim = :token",
                ExpressionAttributeValues={":v": {"N": str(pending.version)}, ":token": {"S": token}},
            )
            return Drained(pending, self.now(), reopened=False)
        except Exception as exc:
            if error_code(exc) != _CONDITION_FAILED:
                raise
        for name, at in pending.named.items():
            self._conditional(
                "REMOVE #n",
                "#n = :at AND claim = :token",
                {"#n": _TOUCHED + name},
                {":at": {"N": str(at)}, ":token": {"S": token}},
                pending.place,
            )
        self._conditional(
            "REMOVE claimed_until, claim SET first_change = :claimed",
            "claim = :token",
            None,
            {":token": {"S": token}, ":claimed": {"N": str(claimed_at)}},
            pending.place,
        )
        return Drained(pending, self.now(), reopened=True)

    def release(self, place: Place, token: str) -> None:
        """Lets go of a claim whose diagnosis failed: the pending changes stay, for the message's next delivery."""
        self._conditional("REMOVE claimed_until, claim", "claim = :token", None, {":token": {"S": token}}, place)

    def clear_swept(self, pending: Pending) -> bool:
        """A sweep diagnosed every secret of the place: its pending item goes, unless something was added or a drain
        claimed it since it was read."""
        return self._conditional(
            None,
            "version = :v AND attribute_not_exists(claim)",
            None,
            {":v": {"N": str(pending.version)}},
            pending.place,
        )

    def _conditional(
        self,
        update: str | None,
        condition: str,
        names: dict[str, str] | None,
        values: dict[str, AttributeValueTypeDef],
        place: Place,
    ) -> bool:
        """One conditional write (an update, or the item's deletion when `update` is None); False when its condition
        did not hold."""
        extra: dict[str, Any] = {"ExpressionAttributeNames": names} if names else {}
        try:
            if update is None:
                self.clients.dynamodb.delete_item(
                    TableName=self.table,
                    Key=item_key(place),
                    ConditionExpression=condition,
                    ExpressionAttributeValues=values,
                    **extra,
                )
            else:
                self.clients.dynamodb.update_item(
                    TableName=self.table,
                    Key=item_key(place),
                    UpdateExpression=update,
                    ConditionExpression=condition,
                    ExpressionAttributeValues=values,
                    **extra,
                )
        except Exception as exc:
            if error_code(exc) == _CONDITION_FAILED:
                return False
            raise
        return True


@dataclass
class Mark:
    """What marking a change did: whether it opened the place's window, and when the place settles if nothing more
    comes."""

    place: Place
    opened: bool
    settles_at: float
    written: bool  # False: everything it names was marked by this batch already (no write)


@dataclass
class SettleBatch:
    """One invocation's marks: everything marked carries the batch's time, each name is written once a batch, and one
    message a place wakes its drain."""

    settle: SettleWindow
    now: float
    _marked: dict[Place, set[str]] = field(default_factory=dict)
    _opened: dict[Place, bool] = field(default_factory=dict)

    def mark(self, place: Place, change: Change) -> Mark:
        named = named_by(change)
        done = self._marked.setdefault(place, set())
        new = named - done
        settles_at = self.now + self.settle.window
        if not new:
            return Mark(place, False, settles_at, written=False)
        opened = self._write(place, new)
        done |= new
        if place not in self._opened:
            self._opened[place] = opened
            self.settle.wake(place, self.now, self.settle.window)
        return Mark(place, opened, settles_at, written=True)

    def _write(self, place: Place, named: set[str]) -> bool:
        """Adds `named` to the place's item at the batch's time; whether this opened its window. An item grown too
        large for DynamoDB (a flood of distinct names) is replaced by one that looks at everything: never lost."""
        settle = self.settle
        entries = sorted(named)
        names = {f"#n{i}": _TOUCHED + n for i, n in enumerate(entries)}
        sets = ", ".join(f"{alias} = :now" for alias in names)
        values = {
            ":now": {"N": str(self.now)},
            ":one": {"N": "1"},
            ":first": {"N": str(_first_version(self.now))},
            ":ttl": {"N": str(int(self.now) + 2 * 86400)},
        }
        try:
            answer = settle.clients.dynamodb.update_item(
                TableName=settle.table,
                Key=item_key(place),
                UpdateExpression=(
                    f"SET {sets}, last_change = :now, first_change = if_not_exists(first_change, :now), #ttl = :ttl, "
                    "version = if_not_exists(version, :first) + :one"
                ),
                ExpressionAttributeNames=names | {"#ttl": "ttl"},
                ExpressionAttributeValues=values,
                ReturnValues="UPDATED_OLD",
            )
        except Exception as exc:
            if error_code(exc) != "ValidationException":
                raise
            log.warning(
                "%s: its pending changes are too many to keep one by one: every secret will be looked at", place
            )
            settle.clients.dynamodb.put_item(
                TableName=settle.table,
                Item=item_key(place)
                | {
                    _TOUCHED + ALL: values[":now"],
                    "first_change": values[":now"],
                    "last_change": values[":now"],
                    # A version no claim was made on: a drain running on the old item keeps this one.
                    "version": {"N": str(_first_version(time.time()))},
                    "ttl": values[":ttl"],
                },
            )
            return True
        return "first_change" not in answer.get("Attributes", {})


def _first_version(now: float) -> int:
    """The version a new pending item counts from: its creation time in microseconds. An item drained and deleted,
    then created again by a new change, must never take a version its predecessor had: a drain or a sweep that read
    the old item would otherwise claim or clear the new one, and the new change would never be diagnosed. Counting
    from 1 again would repeat versions at once; an item would need a million marks a second to reach its successor's.
    """
    return int(now * 1_000_000)


def sqs_sender(clients: AwsClients, queue_url: str) -> Send:
    """Sends a settle message to the worker's own queue, delayed."""

    def send(message: SettlePlace, delay: int) -> None:
        clients.sqs.send_message(
            QueueUrl=queue_url,
            MessageBody=message.body(),
            DelaySeconds=max(0, min(delay, LONGEST_DELAY)),
            MessageAttributes={"kind": {"DataType": "String", "StringValue": KIND}},
        )

    return send

"""The shared hub stays available to every place (account and region) it serves.

- Change events: each place may have its inventory read for change events at most `per_hour` times an hour
  (counted with the hourly-cap machinery of `approvals/store.py`, `DynamoDbBudget`, in the proposals table; a batch's
  change events of one place share one inventory read, so they count once). A place beyond its share is deferred:
  its change events are coalesced into one "sweep this place later" marker (the place in the `deferred-places`
  item's set), which the hub's next sweep reads and sweeps. RotationFailed events, approvals and sweeps are never
  deferred.
- Sweeps: a member's forwarded schedule sweeps its place at most once per the hub's own sweep interval (less a tenth,
  for a schedule's jitter); the last sweep of each place is kept with a conditional write, so two sweeps at once
  cannot both pass. The hub's own schedule is held to it as well.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rotation_doctor.collect.accounts import Place
from rotation_doctor.collect.aws import error_code

if TYPE_CHECKING:
    from rotation_doctor.approvals.store import DynamoDbBudget
    from rotation_doctor.collect.aws import AwsClients

DEFERRED_ITEM = "deferred-places"  # the proposals table's item whose `places` set holds the deferred places
DEFAULT_CHANGE_READS_PER_HOUR = 60
_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
CRON_INTERVAL = 3600  # a cron schedule's interval is not one number: a place is swept at most once an hour then


def sweep_interval(schedule: str) -> int:
    """Seconds between two sweeps of the hub's SweepSchedule: a `rate(...)` expression's own; a `cron(...)` one's
    cannot be told from the expression alone (CRON_INTERVAL)."""
    match = _RATE.match(schedule.strip())
    if match is None:
        return CRON_INTERVAL
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]


@dataclass
class PlaceFairness:
    """Each place's share of the hub: its change reads an hour, and its sweeps (see the module's docstring)."""

    clients: AwsClients
    table: str
    change_reads: DynamoDbBudget | None  # None: change events are never deferred
    sweep_every: int  # seconds; 0: sweeps are never skipped
    now: Callable[[], float] = time.time
    _decided: dict[Place, bool] = field(default_factory=dict)  # this batch's answer for each place's change events

    def for_batch(self) -> PlaceFairness:
        """The same shares, with no decision of an earlier batch remembered."""
        return PlaceFairness(self.clients, self.table, self.change_reads, self.sweep_every, self.now)

    def admit_change(self, place: Place) -> bool:
        """Whether the place's change events of this batch are served now (one counted read a place and batch)."""
        if self.change_reads is None:
            return True
        if place not in self._decided:
            admitted = self.change_reads.take(f"changes@{place.account}/{place.region}", 1)
            if not admitted:
                self._defer(place)
            self._decided[place] = admitted
        return self._decided[place]

    def _defer(self, place: Place) -> None:
        """One marker per place however many events were deferred: the place in the deferred set (a set: adding it
        again changes nothing)."""
        self.clients.dynamodb.update_item(
            TableName=self.table,
            Key={"id": {"S": DEFERRED_ITEM}},
            UpdateExpression="ADD places :p",
            ExpressionAttributeValues={":p": {"SS": [str(place)]}},
        )

    def deferred(self) -> list[Place]:
        """The places whose change events were deferred, to be swept."""
        item = self.clients.dynamodb.get_item(
            TableName=self.table, Key={"id": {"S": DEFERRED_ITEM}}, ConsistentRead=True
        ).get("Item", {})
        found = [Place(*text.split("/", 1)) for text in item.get("places", {}).get("SS", []) if "/" in text]
        return sorted(found)

    def swept(self, place: Place) -> None:
        """The place was swept: its marker goes."""
        self.clients.dynamodb.update_item(
            TableName=self.table,
            Key={"id": {"S": DEFERRED_ITEM}},
            UpdateExpression="DELETE places :p",
            ExpressionAttributeValues={":p": {"SS": [str(place)]}},
        )

    def admit_sweep(self, place: Place) -> bool:
        """Whether a sweep of the place may run now: none ran within the interval (less a tenth). One conditional
        write: of two sweeps at once, one passes."""
        if self.sweep_every <= 0:
            return True
        now = int(self.now())
        earliest = now - self.sweep_every * 9 // 10
        try:
            self.clients.dynamodb.update_item(
                TableName=self.table,
                Key={"id": {"S": f"sweep#{place.account}#{place.region}"}},
                UpdateExpression="SET swept_at = :now, #ttl = :ttl",
                ConditionExpression="attribute_not_exists(swept_at) OR swept_at <= :earliest",
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues={
                    ":now": {"N": str(now)},
                    ":earliest": {"N": str(earliest)},
                    ":ttl": {"N": str(now + 2 * self.sweep_every)},
                },
            )
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

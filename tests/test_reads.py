"""The record of what a diagnosis reads (`model.reads`) is complete: for generated snapshots, no generated edit to a
fact the record does not cover (changed, removed or added) changes the diagnosis. The worker's event filter and
what-if look at a secret only when a change names something in that record, so a fact missing from it would be a
change that breaks a rotation unseen; a record that forgets one kind of fact fails the property."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import fields, is_dataclass, replace
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from rotation_doctor.analysis import diagnose
from rotation_doctor.model.reads import Read, Reads, tracking
from rotation_doctor.model.snapshot import Snapshot
from tests import snapshots
from tests.snapshots import DB_LIST, TARGET, _db_reached_by_list, dual_stack, proxied

BASES = (
    snapshots.healthy,
    snapshots.nat_path,
    snapshots.peered,
    lambda: snapshots.peered(back=snapshots.ROUTE_BACK),
    snapshots.through_tgw,
    lambda: snapshots.through_tgw(referencing=True),
    dual_stack,
    lambda: proxied(TARGET),
    lambda: _db_reached_by_list(prefix_lists={"pl-data": DB_LIST}),
)

Fact = tuple[str, object, object]  # the Snapshot field, the key (a mapping's key, a record's id), the item


def facts(snap: Snapshot) -> Iterator[Fact]:
    """Every item of every collection of the snapshot, found by walking its fields (a new fact is covered too)."""
    for f in fields(snap):
        value = getattr(snap, f.name)
        if isinstance(value, Mapping):
            yield from ((f.name, key, item) for key, item in value.items())
        elif isinstance(value, tuple):
            yield from ((f.name, getattr(item, "id", index), item) for index, item in enumerate(value))


def with_fact(snap: Snapshot, kind: str, key: object, item: object | None, new: bool = False) -> Snapshot:
    """The snapshot with the item under `key` replaced (removed when None, appended when `new`)."""
    value = getattr(snap, kind)
    if isinstance(value, Mapping):
        changed: Any = {k: v for k, v in value.items() if k != key}
        if item is not None:
            changed[key] = item
    else:
        keep = [i for i in value if new or getattr(i, "id", i) != key]
        index = next((n for n, i in enumerate(value) if getattr(i, "id", i) == key), len(keep))
        changed = tuple(keep[:index] + ([item] if item is not None else []) + keep[index:])
    return replace(snap, **{kind: changed})


def with_field(item: object, name: str, value: object) -> object:
    made = copy.copy(item)
    object.__setattr__(made, name, value)
    return made


def fresh_key(key: object, n: int) -> str:
    return f"{str(key).split('-', 1)[0]}-gen{n}"


@st.composite
def edits(draw: st.DrawFn, snap: Snapshot, of: list[Fact]) -> tuple[str, object, object | None, bool]:
    """One edit of one fact of `of`: removed, one field given another item's value of that field (or a flipped
    flag, an emptied tuple), or a copy added under a new key."""
    kind, key, item = draw(st.sampled_from(of))
    action = draw(st.sampled_from(["remove", "change", "add"]))
    if action == "remove":
        return kind, key, None, False
    changed: object = item
    if is_dataclass(item):
        names = [f.name for f in fields(item) if f.name != "id"]
        name = draw(st.sampled_from(names))
        current = getattr(item, name)
        pool = [getattr(other, name) for k, _, other in facts(snap) if k == kind and is_dataclass(other)]
        pool += [not current] if isinstance(current, bool) else [type(current)()] if isinstance(current, tuple) else []
        changed = with_field(item, name, draw(st.sampled_from(pool)))
    else:  # a mapping's tuple (the zones of a VPC): another key's, or none
        changed = draw(st.sampled_from([v for k, _, v in facts(snap) if k == kind] + [()]))
    if action == "add":
        key = fresh_key(key, draw(st.integers(0, 3)))
        changed = with_field(changed, "id", key) if hasattr(changed, "id") else changed
        return kind, key, changed, True
    return kind, key, changed, False


def covered(reads: Reads, kind: str, key: object, before: object | None, after: object | None) -> bool:
    return any(reads.covers(kind, key, i) for i in (before, after))


def check(data: st.DataObject, record: type[Reads] | Any) -> None:
    snap = data.draw(st.sampled_from(BASES))()
    for _ in range(data.draw(st.integers(0, 2))):  # a generated snapshot: the base, edited anywhere
        kind, key, item, new = data.draw(edits(snap, list(facts(snap))))
        snap = with_fact(snap, kind, key, item, new)
    reads = record()
    first = diagnose(snap, reads)
    outside = [f for f in facts(snap) if not reads.covers(*f)]
    if not outside:
        return
    kind, key, item, new = data.draw(edits(snap, outside))
    before = None if new else dict((k, i) for c, k, i in facts(snap) if c == kind).get(key)
    if covered(reads, kind, key, before, item):
        return  # the edit's new value is one the record covers (it joins a query the diagnosis made)
    after = diagnose(with_fact(snap, kind, key, item, new))
    assert after.to_json() == first.to_json(), (kind, key, before, item)


EXAMPLES = settings(
    max_examples=500,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@EXAMPLES
@given(st.data())
def test_no_edit_outside_what_the_diagnosis_read_changes_it(data: st.DataObject) -> None:
    check(data, Reads)


class Forgetting(Reads):
    """A record whose one kind of fact is never recorded: an accessor that forgot to record."""

    forgets = ""

    def record(self, read: Read, found: Any = ()) -> None:
        if read.kind != self.forgets:
            super().record(read, found)


@pytest.mark.parametrize(
    "kind", ["subnets", "security_groups", "route_tables", "network_acls", "vpc_endpoints", "peerings", "prefix_lists"]
)
def test_a_record_that_forgets_one_kind_of_fact_is_caught(kind: str) -> None:
    forgetting = type("Forgetting", (Forgetting,), {"forgets": kind})

    @settings(EXAMPLES, phases=[Phase.generate])
    @given(st.data())
    def property_(data: st.DataObject) -> None:
        check(data, forgetting)

    with pytest.raises(AssertionError):
        property_()


def test_the_view_records_lookups_queries_and_walks_and_answers_as_the_snapshot() -> None:
    snap = snapshots.healthy()
    view, reads = tracking(snap)
    assert view.subnets.get("app-a") == snap.subnets["app-a"] and "nope" not in view.security_groups
    assert [t.id for t in view.route_tables] == [t.id for t in snap.route_tables]
    assert {Read("subnets", "app-a"), Read("security_groups", "nope"), Read("route_tables")} <= reads.reads
    assert {"app-a", "rtb-main", "rtb-private", "igw-1"} <= reads.ids() and "nope" in reads.ids()
    assert "local" not in reads.ids()  # a route's target for the VPC's own range names no resource

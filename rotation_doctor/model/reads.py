"""What a diagnosis read of its snapshot: recorded as it reads, so the record cannot drift from the analysis.

`tracking(snap)` gives the analysis a view of the snapshot whose every collection records the facts looked at:
a key looked up (`subnets.get("subnet-1")`, found or not), the items a `matching` query selects, or the whole
collection when one is walked. The collections are found by walking the `Snapshot`'s fields, so a fact added to the
model is recorded without anyone listing it; a field that holds no collection (the secret, the function, the
database) is one fact, always read.

The worker's event filter and `what-if` ask the record's `ids`: a change that names none of them changes nothing
the diagnosis read, so it cannot change the diagnosis (tests/test_reads.py holds that as a property).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from typing import NamedTuple, SupportsIndex, TypeVar, overload

from rotation_doctor.model.snapshot import Snapshot

_K = TypeVar("_K")
_V = TypeVar("_V")
_T = TypeVar("_T")

Criteria = tuple[tuple[str, object], ...]

# `failures` is keyed by what could not be read ("subnets", "prefix_lists:pl-1"): read like any fact (a failure
# that goes away changes the diagnosis), but its keys name no resource a change could name.
_KEYED_BY_NO_RESOURCE = frozenset({"failures"})
# A route's target for the VPC's own range: AWS's word, no resource.
LOCAL = "local"


class Read(NamedTuple):
    """One fact read: `kind` is the `Snapshot` field; `key` the item looked up (None with `criteria`: the items a
    query selected; None without: the whole collection)."""

    kind: str
    key: object = None
    criteria: Criteria = ()

    @property
    def whole(self) -> bool:
        return self.key is None and not self.criteria


def holds(item: object, criteria: Criteria) -> bool:
    """Whether every named attribute of `item` equals its value, or holds it (an attribute that is a tuple)."""
    for attribute, value in criteria:
        actual: object = getattr(item, attribute)
        if not (actual == value or (isinstance(actual, tuple) and value in actual)):
            return False
    return True


def _is_id_field(name: str, top: bool) -> bool:
    """Whether a field holds what a change names the fact by. An item's own id, identifier or ARN; a route's
    target, as the snapshot keeps a target's state in the route (a deleted NAT gateway leaves a blackhole route:
    the call names the gateway, not the table). Other references (a rule's group, an endpoint's subnets) are not:
    the analysis looks up what it follows, and that lookup is a read of its own. For the one-per-secret records, the
    names a call uses too: the secret's and the function's, and the function the secret names, which may not exist.
    """
    return name in ("id", "identifier", "arn", "target") or (top and name in ("name", "rotation_lambda_arn"))


def _is_query_subject(attribute: str) -> bool:
    """A query's value that is a resource id (`subnet_ids=subnet-1`, `vpc_id=vpc-1`), not a state or a flag."""
    return attribute == "id" or attribute.endswith(("_id", "_ids"))


@functools.cache
def _id_fields(cls: type, top: bool) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls) if _is_id_field(f.name, top) or f.name in _NESTED.get(cls.__name__, ()))


# The nested records whose ids are the fact's too: a table's routes (their targets), a database's proxy targets.
_NESTED = {"RouteTable": ("routes", "ipv6_routes", "prefix_list_routes"), "Database": ("proxy_targets",)}


def _ids_of(value: object, top: bool = False) -> Iterator[str]:
    """The resource ids a fact names (never through mappings: tags and policies are text anyone can write)."""
    if isinstance(value, str):
        if value and value != LOCAL:
            yield value
    elif isinstance(value, tuple):
        for item in value:
            yield from _ids_of(item, top)
    elif is_dataclass(value) and not isinstance(value, type):
        for name in _id_fields(type(value), top):
            yield from _ids_of(getattr(value, name))


@dataclass
class Reads:
    """The record of one diagnosis's reads, and the resource ids they name: each key looked up, each query's
    subject, and the ids of the items read (worked out when asked: recording stays a set insertion)."""

    reads: set[Read] = field(default_factory=set)
    # The keys looked up and absent: facts the snapshot does not hold (never read, or not there). `what-if` reads
    # those a change newly brings in, in a second round.
    missed: set[Read] = field(default_factory=set)
    _found: list[object] = field(default_factory=list)
    _whole_records: list[object] = field(default_factory=list)

    def record(self, read: Read, found: Iterable[object] = ()) -> None:
        if read not in self.reads:
            self.reads.add(read)
            self._found.extend(found)

    def record_one(self, kind: str, value: object) -> None:
        """A field that is one fact (the secret, the function, ...): read whole, named by its ids and names."""
        self.reads.add(Read(kind))
        if is_dataclass(value):
            self._whole_records.append(value)

    def ids(self) -> frozenset[str]:
        ids = {id_ for item in self._found for id_ in _ids_of(item)}
        ids.update(id_ for value in self._whole_records for id_ in _ids_of(value, top=True))
        for read in self.reads:
            if read.kind not in _KEYED_BY_NO_RESOURCE and isinstance(read.key, str):
                ids.add(read.key)
            ids.update(v for a, v in read.criteria if isinstance(v, str) and _is_query_subject(a))
        return frozenset(ids)

    def covers(self, kind: str, key: object, item: object) -> bool:
        """Whether the record holds `item` of `kind` (stored under `key`): a change to an item no read covers, or
        its addition or removal, cannot change what the diagnosis read."""
        for read in self.reads:
            if read.kind != kind:
                continue
            if read.whole or read.key == key or (read.criteria and item is not None and holds(item, read.criteria)):
                return True
        return False


class RecordingMapping(Mapping[_K, _V]):
    """A snapshot's mapping that records each key looked up, and the whole mapping when it is walked."""

    def __init__(self, kind: str, data: Mapping[_K, _V], reads: Reads) -> None:
        self._kind, self._data, self._reads = kind, data, reads

    def __getitem__(self, key: _K) -> _V:
        # `get` and `in` come here too (Mapping's own): a key looked up and missing is read as much as one found.
        try:
            value = self._data[key]
        except KeyError:
            self._reads.record(Read(self._kind, key))
            self._reads.missed.add(Read(self._kind, key))
            raise
        self._reads.record(Read(self._kind, key), (value,))
        return value

    def __iter__(self) -> Iterator[_K]:
        self._reads.record(Read(self._kind), self._data.values())
        return iter(self._data)

    def __len__(self) -> int:
        self._reads.record(Read(self._kind), self._data.values())
        return len(self._data)

    def matching(self, criteria: Criteria) -> list[_V]:
        picked = [v for v in self._data.values() if holds(v, criteria)]
        self._reads.record(Read(self._kind, criteria=criteria), picked)
        return picked


class RecordingTuple(tuple[_T, ...]):
    """A snapshot's tuple that records being walked (every item read), or the items a query selects."""

    _kind: str
    _reads: Reads

    def __new__(cls, kind: str, items: Sequence[_T], reads: Reads) -> RecordingTuple[_T]:
        made = super().__new__(cls, items)
        made._kind, made._reads = kind, reads
        return made

    def _whole(self) -> None:
        self._reads.record(Read(self._kind), tuple.__iter__(self))

    def __iter__(self) -> Iterator[_T]:
        self._whole()
        return tuple.__iter__(self)

    def __len__(self) -> int:
        self._whole()
        return tuple.__len__(self)

    @overload
    def __getitem__(self, index: SupportsIndex, /) -> _T: ...
    @overload
    def __getitem__(self, index: slice, /) -> tuple[_T, ...]: ...
    def __getitem__(self, index: SupportsIndex | slice, /) -> _T | tuple[_T, ...]:
        self._whole()
        return tuple.__getitem__(self, index)

    def __contains__(self, item: object) -> bool:
        self._whole()
        return tuple.__contains__(self, item)

    def matching(self, criteria: Criteria) -> list[_T]:
        picked = [i for i in tuple.__iter__(self) if holds(i, criteria)]
        self._reads.record(Read(self._kind, criteria=criteria), picked)
        return picked


def matching(items: Sequence[_T] | Mapping[str, _T], **criteria: object) -> list[_T]:
    """The items (a sequence's, or a mapping's values) whose named attributes equal, or hold, the values given, in
    order. A snapshot's collection seen through `tracking` records the query, not the whole collection: the
    diagnosis then depends on these items only, and on no other item's changes."""
    asked = tuple(criteria.items())
    if isinstance(items, RecordingTuple | RecordingMapping):
        return items.matching(asked)
    values = items.values() if isinstance(items, Mapping) else items
    return [i for i in values if holds(i, asked)]


def _recording(kind: str, value: object, reads: Reads) -> object:
    if isinstance(value, Mapping):
        return RecordingMapping(kind, value, reads)
    if isinstance(value, tuple):
        return RecordingTuple(kind, value, reads)
    reads.record_one(kind, value)
    return value


def tracking(snap: Snapshot, reads: Reads | None = None) -> tuple[Snapshot, Reads]:
    """The snapshot seen through recording collections, and the record they fill."""
    record = Reads() if reads is None else reads
    view = copy.copy(snap)
    for f in fields(snap):
        # Each collection is swapped for a recording one of the same interface (a Mapping, a tuple): the analysis
        # reads the view as it reads any snapshot. Frozen: the copy is set up before anyone sees it.
        object.__setattr__(view, f.name, _recording(f.name, getattr(snap, f.name), record))
    return view, record

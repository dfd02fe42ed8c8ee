"""Proposals in DynamoDB: a plan waiting for a person, moved from state to state by conditional writes only.

proposed -> approved -> applying -> applied | failed | rolled_back
proposed | approved -> rejected;  proposed -> expired (past expires_at);  applying -> expired (stale)
approved -> proposed (asked again as a new round: not applied before expires_at, workflow.ask_again)
proposed | approved -> superseded (a rotation succeeded and the secret is healthy without the fix)
(the states: `rotation_doctor.model.states.ProposalState`)

The id is derived from the secret and the plan's hash, so the same plan for the same secret is one
proposal however many events raise it; a write that finds the state moved under it fails its
condition, so a proposal is applied at most once even when two approvals race.

A closed proposal (rejected, expired, applied, failed, rolled back) whose plan is raised again is
opened again under the same id as a new generation: `generation` is when it was proposed, in
microseconds, and always greater than the one before. Links are bound to a generation and the
moves they make require it, so nothing decided in an earlier round carries over to the new one.
The history grows with each round; it is never replaced.

Open proposals (proposed, approved, applying) also carry `open_state` (their state) and `open_due` (when
reconciliation should look at them next, epoch seconds): the keys of the sparse index `open`. Every write that
moves a proposal sets or removes them in the same conditional update, so the index holds exactly the open
proposals, and what reconciliation and the sweep read from it does not grow with the decided ones the table keeps.
Proposals written before the index existed are given their keys once, by the sweep (`backfill_open_index`).

A missing proposal is `ProposalNotFound`; a move its state does not allow is `AlreadyDecided`,
`ProposalExpired`, or `ProposalSuperseded` (proposed again since), all `ProposalConflict`
(`rotation_doctor.model.errors`).
"""

from __future__ import annotations

import builtins
import hashlib
import json
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from rotation_doctor.apply.timing import LONGEST_APPLY_SECONDS
from rotation_doctor.collect.aws import AwsClients, error_code
from rotation_doctor.model import records
from rotation_doctor.model.diagnosis import Diagnosis
from rotation_doctor.model.errors import (
    AlreadyDecided,
    ProposalExpired,
    ProposalNotFound,
    ProposalSuperseded,
    RecordInvalid,
)
from rotation_doctor.model.findings import Verdict
from rotation_doctor.model.paths import Path, PathJson
from rotation_doctor.model.plan import Plan
from rotation_doctor.model.records import JournalEntry, Leftover, ProposedFix
from rotation_doctor.model.states import OPEN_STATES, UNDECIDED_STATES, ProposalState

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

DEFAULT_TTL = 7 * 24 * 3600
# The table's one secondary index: a secret's proposals, with their state and round (template.yaml's
# ProposalsTable). Only proposals carry `secret_arn`, so budget, verdict and notification items stay out of it.
BY_SECRET_INDEX = "by-secret"
KEPT_AFTER_EXPIRY = 30 * 24 * 3600  # DynamoDB's TTL removes the item this long after it expires
# The sparse index of open proposals (template.yaml's ProposalsTable): partitioned by state, sorted by when each is
# due a look. Only open proposals carry its keys, so decided ones (the table's history) are not in it.
OPEN_INDEX = "open"
OPEN_STATE = "open_state"
OPEN_DUE = "open_due"
# Written once the proposals from before the index have been given its keys (`backfill_open_index`).
BACKFILL_MARKER = "meta#open-index-backfilled"


@dataclass(frozen=True)
class OpenProposal:
    """An open proposal as an index holds it: enough to move it, conditional on its round, and to know its place."""

    id: str
    state: ProposalState
    generation: int
    secret_arn: str


@dataclass(frozen=True)
class Proposal:
    id: str
    secret_arn: str
    secret_name: str
    plan_hash: str
    state: ProposalState
    created_at: int
    expires_at: int
    plan: tuple[ProposedFix, ...]  # what people were asked to approve (the executor always plans afresh)
    diagnosis: Diagnosis  # what was found when it was proposed
    history: list[dict[str, str | int]]  # state, by, note (strings) and at (epoch seconds) of each move
    max_risk: str
    generation: int = 0  # when this round was proposed, in microseconds (0: written before generations existed)
    # The writes AWS accepted while applying, each with its undo: what reconciliation undoes when the applying
    # process died. Reset when the proposal is claimed.
    journal: tuple[JournalEntry, ...] = ()
    # What a failed undo left in the account, on a rollback_incomplete proposal.
    leftovers: tuple[Leftover, ...] = ()

    @property
    def entered_state_at(self) -> int:
        """When it moved to its present state (its last history event)."""
        return int(self.history[-1]["at"]) if self.history else self.created_at

    announced: int = 0  # the generation whose first notice was delivered (notify/dispatch.py); 0: none yet
    links_until: int = 0  # when the approval links last sent for it expire (epoch seconds)
    reminded_on: int = 0  # the UTC day (epoch seconds // 86400) of its last reminder
    handoffs: int = 0  # how often reconciliation handed this approved round to the worker again (its back-off)
    open_due: int = 0  # while open: when reconciliation looks at it next (0: written before the open index)

    def due_by(self, now: float) -> bool:
        """Due a look by reconciliation at `now` (one written before the open index: once no apply can still run)."""
        return (self.open_due or self.entered_state_at + LONGEST_APPLY_SECONDS) <= now

    @property
    def expired(self) -> bool:
        return time.time() > self.expires_at

    @property
    def kept_until(self) -> int:
        """When DynamoDB's TTL removes the item (and with it everything its links could still do)."""
        return self.expires_at + KEPT_AFTER_EXPIRY

    def to_json(self) -> dict[str, Any]:
        """The proposal as `proposals show --format json` prints it: each part as it is stored (the journal and
        leftovers are stored with their keys sorted)."""
        return vars(self) | {
            "plan": [f.to_json() for f in self.plan],
            "diagnosis": self.diagnosis.to_json(),
            "journal": [_sorted_keys(e.to_json()) for e in self.journal],
            "leftovers": [_sorted_keys(x.to_json()) for x in self.leftovers],
        }


def proposal_id(secret_arn: str, plan_hash: str) -> str:
    return "p-" + hashlib.sha256(f"{secret_arn}\n{plan_hash}".encode()).hexdigest()[:20]


def _now_us() -> int:
    return time.time_ns() // 1000


class ProposalStore:
    def __init__(self, clients: AwsClients, table: str, *, ttl: int = DEFAULT_TTL) -> None:
        self.clients = clients
        self.table = table
        self.ttl = ttl

    @property
    def _ddb(self) -> DynamoDBClient:
        return self.clients.dynamodb

    def create(self, plan: Plan, diagnosis: Diagnosis, *, max_risk: str) -> tuple[Proposal, bool]:
        """The open proposal for this secret and plan: a new one or a closed one opened again (True), or the one
        already open (False)."""
        pid = proposal_id(plan.secret_arn, plan.hash)
        now = int(time.time())
        fields: dict[str, AttributeValueTypeDef] = {
            "secret_arn": {"S": plan.secret_arn},
            "secret_name": {"S": plan.secret_name},
            "plan_hash": {"S": plan.hash},
            "state": {"S": ProposalState.PROPOSED.value},
            "created_at": {"N": str(now)},
            "expires_at": {"N": str(now + self.ttl)},
            "ttl": {"N": str(now + self.ttl + KEPT_AFTER_EXPIRY)},
            "plan": {"S": json.dumps(plan.to_json())},
            "diagnosis": {"S": json.dumps(diagnosis.to_json(), default=str)},
            "max_risk": {"S": max_risk},
            "handoffs": {"N": "0"},
            **_open_keys(ProposalState.PROPOSED, due=now + self.ttl),  # looked at when it expires
        }
        note = f"{len(plan.fixes)} fix(es)"
        item: dict[str, AttributeValueTypeDef] = {
            "id": {"S": pid},
            **fields,
            "generation": {"N": str(_now_us())},
            "history": {"L": [_event(ProposalState.PROPOSED, "rotation-doctor", note, now)]},
        }
        try:
            self._ddb.put_item(TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(id)")
            return _proposal(item), True  # what was just written, without reading it back
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
        # The id exists. An open proposal is never opened twice; a closed one (or one past its expiry) is opened
        # again as a new generation, its history kept. The generation read is the write's condition, so of two
        # events racing to open it again, one does and the other finds it open.
        open_values = {f":o{i}": {"S": s.value} for i, s in enumerate(OPEN_STATES)}
        while True:
            current = self.get(pid)
            if current.state in OPEN_STATES and not current.expired:
                return current, False
            values: dict[str, Any] = {
                **{f":{name}": value for name, value in fields.items()},
                **open_values,
                ":g": {"N": str(max(_now_us(), current.generation + 1))},
                ":h": {"L": [_event(ProposalState.PROPOSED, "rotation-doctor", f"{note}, proposed again", now)]},
                ":now": {"N": str(now)},
            }
            if current.generation:
                same_round = "#generation = :was"
                values[":was"] = {"N": str(current.generation)}
            else:
                same_round = "attribute_not_exists(#generation)"
            try:
                written = self._ddb.update_item(
                    TableName=self.table,
                    Key={"id": {"S": pid}},
                    ConditionExpression=f"{same_round} AND (NOT (#state IN ({', '.join(open_values)})) "
                    "OR #expires_at < :now)",
                    UpdateExpression="SET "
                    + ", ".join(f"#{name} = :{name}" for name in fields)
                    + ", #generation = :g, #history = list_append(#history, :h)",
                    ExpressionAttributeNames={f"#{n}": n for n in [*fields, "generation", "history"]},
                    ExpressionAttributeValues=values,
                    ReturnValues="ALL_NEW",
                )
            except Exception as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
                continue  # opened again or moved by someone else meanwhile: look again
            return _proposal(written["Attributes"]), True

    def get(self, pid: str) -> Proposal:
        raw = self._ddb.get_item(TableName=self.table, Key={"id": {"S": pid}}, ConsistentRead=True).get("Item")
        if raw is None:
            raise ProposalNotFound(pid)
        return _proposal(raw)

    def list(self, states: Iterable[ProposalState] | None = None) -> list[Proposal]:
        """Proposals in `states` (all of them when None), newest first. Open states are read through the open index;
        any other state needs the whole table (the CLI's `proposals list --all`, an operator's command)."""
        wanted = set(states or ())
        if wanted and wanted <= set(OPEN_STATES):
            found = [p for state in OPEN_STATES if state in wanted for p in self._read_open(state) if p.state in wanted]
        else:
            found = [p for p in self._scan() if not wanted or p.state in wanted]
        return sorted(found, key=lambda p: p.created_at, reverse=True)

    def open_in(self, state: ProposalState, *, due_by: float | None = None) -> builtins.list[OpenProposal]:
        """The proposals the open index holds in `state` (an open one), those due a look by `due_by` if given: one
        query (a page per 1 MB), whatever the number of decided proposals. The index is eventually consistent: read
        the proposal itself (`get`) before acting on it."""
        condition = f"#key = :state{' AND #due <= :due' if due_by is not None else ''}"
        values: dict[str, AttributeValueTypeDef] = {":state": {"S": state.value}}
        names = {"#key": OPEN_STATE}
        if due_by is not None:
            values[":due"] = {"N": str(int(due_by))}
            names["#due"] = OPEN_DUE
        found = []
        for page in self._ddb.get_paginator("query").paginate(
            TableName=self.table,
            IndexName=OPEN_INDEX,
            KeyConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        ):
            found += [_open_proposal(item) for item in page.get("Items", [])]
        return found

    def _read_open(self, state: ProposalState, *, due_by: float | None = None) -> Iterator[Proposal]:
        """The proposals the open index lists in `state`, each read as it is now (it may have moved since)."""
        for entry in self.open_in(state, due_by=due_by):
            try:
                yield self.get(entry.id)
            except ProposalNotFound:
                continue  # removed by its TTL since the index listed it

    def _scan(self) -> Iterator[Proposal]:
        for page in self._ddb.get_paginator("scan").paginate(TableName=self.table):
            yield from (_proposal(i) for i in page.get("Items", []) if i["id"]["S"].startswith("p-"))

    def move(
        self,
        pid: str,
        from_states: Iterable[ProposalState],
        to_state: ProposalState,
        *,
        by: str,
        note: str = "",
        require_unexpired: bool = False,
        generation: int | None = None,
        also_set: Mapping[str, AttributeValueTypeDef] | None = None,
        due: int | None = None,
    ) -> Proposal:
        """Move the state only if it is one of `from_states` now (and, if asked, the proposal has not expired and
        is still at this generation); `also_set` writes more attributes in the same conditional update. A move to
        an open state is due a look by reconciliation at `due` (default: once no apply can still be running)."""
        now = int(time.time())
        sources = list(from_states)
        names: dict[str, AttributeValueTypeDef] = {f":f{i}": {"S": s.value} for i, s in enumerate(sources)}
        condition = f"#s IN ({', '.join(names)})"
        values: dict[str, AttributeValueTypeDef] = {
            **names,
            ":to": {"S": to_state.value},
            ":h": {"L": [_event(to_state, by, note, now)]},
        }
        attribute_names = {"#s": "state"}
        extra = list((also_set or {}).items())
        for i, (name, value) in enumerate(extra):
            attribute_names[f"#x{i}"] = name
            values[f":x{i}"] = value
        if require_unexpired:
            condition += " AND expires_at >= :now"
            values[":now"] = {"N": str(now)}
        if generation is not None:
            condition += " AND #g = :g"
            values[":g"] = {"N": str(generation)}
            attribute_names["#g"] = "generation"
        # The open index's keys, in the same update: set while open, removed on the move to a decided state.
        attribute_names |= {"#os": OPEN_STATE, "#od": OPEN_DUE}
        if to_state in OPEN_STATES:
            # Approved or applying: looked at once no apply can still be running. Proposed (asked again): at expiry.
            values[":due"] = {"N": str(due if due is not None else now + LONGEST_APPLY_SECONDS)}
            index_keys = ", #os = :to, #od = :due"
            removed = ""
        else:
            index_keys, removed = "", " REMOVE #os, #od"
        try:
            self._ddb.update_item(
                TableName=self.table,
                Key={"id": {"S": pid}},
                ConditionExpression=f"attribute_exists(id) AND {condition}",
                UpdateExpression="SET #s = :to, history = list_append(history, :h)"
                + "".join(f", #x{i} = :x{i}" for i in range(len(extra)))
                + index_keys
                + removed,
                ExpressionAttributeNames=attribute_names,
                ExpressionAttributeValues=values,
            )
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            current = self.get(pid)
            if generation is not None and current.generation != generation:
                raise ProposalSuperseded(pid) from exc
            if require_unexpired and current.expired and current.state is ProposalState.PROPOSED:
                self.move(pid, (current.state,), ProposalState.EXPIRED, by="rotation-doctor", note="past its expiry")
                raise ProposalExpired(pid) from exc
            if require_unexpired and current.expired and current.state is ProposalState.APPROVED:
                # A person approved it in time: it is asked again (workflow.reask), never expired unapplied.
                raise ProposalExpired(pid) from exc
            raise AlreadyDecided(pid, current.state, sources) from exc
        return self.get(pid)

    def approve(self, pid: str, *, by: str, generation: int | None = None) -> Proposal:
        return self.move(
            pid, (ProposalState.PROPOSED,), ProposalState.APPROVED, by=by, require_unexpired=True, generation=generation
        )

    def reject(self, pid: str, *, by: str, note: str = "", generation: int | None = None) -> Proposal:
        return self.move(pid, UNDECIDED_STATES, ProposalState.REJECTED, by=by, note=note, generation=generation)

    def claim(self, pid: str, *, by: str, generation: int | None = None) -> Proposal:
        """approved -> applying: exactly one caller wins; everyone else gets a ProposalConflict (AlreadyDecided, or
        ProposalSuperseded when `generation` is given and the plan has been proposed again since)."""
        return self.move(
            pid,
            (ProposalState.APPROVED,),
            ProposalState.APPLYING,
            by=by,
            require_unexpired=True,
            generation=generation,
            also_set={"journal": {"L": []}},
        )

    def record_write(self, pid: str, generation: int, entry: JournalEntry) -> None:
        """Append one accepted write to the journal of the proposal being applied (conditional: still applying,
        still this generation). A failure here fails the apply, which then undoes at once."""
        self._ddb.update_item(
            TableName=self.table,
            Key={"id": {"S": pid}},
            ConditionExpression="#s = :applying AND #g = :g",
            UpdateExpression="SET journal = list_append(if_not_exists(journal, :empty), :e)",
            ExpressionAttributeNames={"#s": "state", "#g": "generation"},
            ExpressionAttributeValues={
                ":applying": {"S": ProposalState.APPLYING.value},
                ":g": {"N": str(generation)},
                ":empty": {"L": []},
                ":e": _stored_list([entry]),
            },
        )

    def open_for_secret(self, secret_arn: str) -> builtins.list[OpenProposal]:
        """The secret's open proposals (proposed, approved, applying), by one query of the table's index."""
        values: dict[str, AttributeValueTypeDef] = {":arn": {"S": secret_arn}}
        values |= {f":o{i}": {"S": s.value} for i, s in enumerate(OPEN_STATES)}
        found = []
        for page in self._ddb.get_paginator("query").paginate(
            TableName=self.table,
            IndexName=BY_SECRET_INDEX,
            KeyConditionExpression="secret_arn = :arn",
            FilterExpression=f"#state IN ({', '.join(f':o{i}' for i in range(len(OPEN_STATES)))})",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues=values,
        ):
            for item in page.get("Items", []):
                generation = int(item["generation"]["N"]) if "generation" in item else 0
                found.append(OpenProposal(item["id"]["S"], ProposalState(item["state"]["S"]), generation, secret_arn))
        return found

    def supersede(self, pid: str, *, generation: int, note: str) -> Proposal | None:
        """proposed | approved -> superseded, if still at this round and undecided; None when it was decided, claimed
        or proposed again meanwhile (then it is not this call's to close)."""
        try:
            return self.move(
                pid,
                UNDECIDED_STATES,
                ProposalState.SUPERSEDED,
                by="rotation-doctor",
                note=note,
                generation=generation or None,
            )
        except (AlreadyDecided, ProposalSuperseded, ProposalNotFound):
            return None

    def due(self, now: float) -> builtins.list[Proposal]:
        """Proposals approved or applying and due a look by `now` (no apply that started then can still be running;
        an approval's hand-off due again): two queries of the open index, and a read of each one found."""
        states = (ProposalState.APPROVED, ProposalState.APPLYING)
        return [p for state in states for p in self._read_open(state, due_by=now) if p.state is state and p.due_by(now)]

    def hand_off_again(self, proposal: Proposal, *, due: int) -> bool:
        """Take the next re-send of an approved round's hand-off: one caller wins (conditional on the state, the round
        and the count read); it is due a look again at `due`. False when someone else took it, or it moved."""
        return self._note(
            proposal.id,
            proposal.generation,
            "SET handoffs = :next, #od = :due",
            "#state = :approved AND (attribute_not_exists(handoffs) OR handoffs = :was)",
            {
                ":next": {"N": str(proposal.handoffs + 1)},
                ":was": {"N": str(proposal.handoffs)},
                ":due": {"N": str(due)},
                ":approved": {"S": ProposalState.APPROVED.value},
            },
            names={"#state": "state", "#od": OPEN_DUE},
        )

    def reask(self, proposal: Proposal, *, note: str) -> Proposal:
        """approved -> proposed as a new round (a new generation, a fresh expiry, not yet announced): the approval
        could not be applied in time, and people are asked again. Conditional on the round approved, so a hand-off
        of that round still queued applies nothing; ProposalConflict when it moved meanwhile."""
        now = int(time.time())
        expires = now + self.ttl
        return self.move(
            proposal.id,
            (ProposalState.APPROVED,),
            ProposalState.PROPOSED,
            by="rotation-doctor",
            note=note,
            generation=proposal.generation,
            due=expires,
            also_set={
                "generation": {"N": str(max(_now_us(), proposal.generation + 1))},
                "created_at": {"N": str(now)},
                "expires_at": {"N": str(expires)},
                "ttl": {"N": str(expires + KEPT_AFTER_EXPIRY)},
                "handoffs": {"N": "0"},
            },
        )

    def backfill_open_index(self, now: float | None = None) -> int:
        """Once per table: give the open index's keys to open proposals written before it existed, so that
        reconciliation and the sweep find them. The one whole-table Scan outside the CLI, skipped (one GetItem) once
        its marker is written; each update is conditional on the state read and on the keys still missing, so a
        proposal moved meanwhile is left as its move wrote it. Returns how many it gave keys to."""
        marker = {"id": {"S": BACKFILL_MARKER}}
        if self._ddb.get_item(TableName=self.table, Key=marker, ConsistentRead=True).get("Item") is not None:
            return 0
        now = time.time() if now is None else now
        given = 0
        for page in self._ddb.get_paginator("scan").paginate(TableName=self.table):
            for raw in page.get("Items", []):
                if not raw["id"]["S"].startswith("p-") or OPEN_STATE in raw:
                    continue
                proposal = _proposal(raw)
                if proposal.state in OPEN_STATES and self._give_open_keys(proposal):
                    given += 1
        self._ddb.put_item(TableName=self.table, Item={**marker, "at": {"N": str(int(now))}})
        return given

    def _give_open_keys(self, proposal: Proposal) -> bool:
        due = proposal.expires_at if proposal.state is ProposalState.PROPOSED else proposal.entered_state_at
        if proposal.state is not ProposalState.PROPOSED:
            due += LONGEST_APPLY_SECONDS
        try:
            self._ddb.update_item(
                TableName=self.table,
                Key={"id": {"S": proposal.id}},
                ConditionExpression="#s = :s AND attribute_not_exists(#os)",
                UpdateExpression="SET #os = :s, #od = :due",
                ExpressionAttributeNames={"#s": "state", "#os": OPEN_STATE, "#od": OPEN_DUE},
                ExpressionAttributeValues={":s": {"S": proposal.state.value}, ":due": {"N": str(due)}},
            )
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            return False
        return True

    # ----- what people were told (notify/dispatch.py, notify/pending.py) ---------------------------

    def mark_announced(self, pid: str, generation: int, *, links_until: int = 0) -> bool:
        """Record that this round's first notice was delivered, and when its links expire: conditional on the round
        (a plan proposed again since is a new one to announce) and done once. False when the condition fails."""
        return self._note(
            pid,
            generation,
            "SET announced = :g, links_until = :until",
            "(attribute_not_exists(announced) OR announced <> :g)",
            {":until": {"N": str(links_until)}},
        )

    def claim_reminder(self, pid: str, generation: int, *, day: int, links_until: int) -> bool:
        """Take `day`'s reminder (fresh links, valid until `links_until`) for this round of a proposal still waiting
        for a person: at most one a day, whoever sends it. False when taken, decided or proposed again."""
        return self._note(
            pid,
            generation,
            "SET reminded_on = :day, links_until = :until",
            "#state = :proposed AND (attribute_not_exists(reminded_on) OR reminded_on < :day)",
            {
                ":day": {"N": str(day)},
                ":until": {"N": str(links_until)},
                ":proposed": {"S": ProposalState.PROPOSED.value},
            },
            names={"#state": "state"},
        )

    def _note(
        self,
        pid: str,
        generation: int,
        update: str,
        condition: str,
        values: dict[str, AttributeValueTypeDef],
        names: dict[str, str] | None = None,
    ) -> bool:
        """An update of what was told, conditional on the proposal's round (and `condition`); never moves a state."""
        try:
            self._ddb.update_item(
                TableName=self.table,
                Key={"id": {"S": pid}},
                ConditionExpression=f"attribute_exists(id) AND #g = :g AND {condition}",
                UpdateExpression=update,
                ExpressionAttributeNames={"#g": "generation", **(names or {})},
                ExpressionAttributeValues={":g": {"N": str(generation)}, **values},
            )
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            return False
        return True


def leftovers_attribute(leftovers: Sequence[Leftover]) -> dict[str, AttributeValueTypeDef]:
    """What a failed undo left, as a move's `also_set` stores it on the proposal."""
    return {"leftovers": _stored_list(leftovers)}


def _stored_list(items: Sequence[JournalEntry | Leftover]) -> AttributeValueTypeDef:
    """Journal entries and leftovers as the table has always held them: a list of JSON strings, keys sorted."""
    return {"L": [{"S": json.dumps(item.to_json(), sort_keys=True)} for item in items]}


def _sorted_keys(value: object) -> object:
    if isinstance(value, Mapping):
        return {k: _sorted_keys(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted_keys(v) for v in value]
    return value


def _open_keys(state: ProposalState, *, due: int) -> dict[str, AttributeValueTypeDef]:
    return {OPEN_STATE: {"S": state.value}, OPEN_DUE: {"N": str(due)}}


def _open_proposal(item: Mapping[str, AttributeValueTypeDef]) -> OpenProposal:
    """An item of the open index (its keys, `secret_arn` and `generation`, as the index projects them)."""
    generation = int(item["generation"]["N"]) if "generation" in item else 0
    return OpenProposal(item["id"]["S"], ProposalState(item[OPEN_STATE]["S"]), generation, item["secret_arn"]["S"])


def _event(state: ProposalState, by: str, note: str, at: int) -> AttributeValueTypeDef:
    return {
        "M": {"state": {"S": state.value}, "by": {"S": by or "?"}, "note": {"S": note[:1000]}, "at": {"N": str(at)}}
    }


def _proposal(raw: Mapping[str, AttributeValueTypeDef]) -> Proposal:
    """The one place a stored item becomes a `Proposal` (RecordInvalid, naming the proposal, when it cannot)."""
    try:
        return _read_proposal(raw)
    except RecordInvalid as exc:
        raise RecordInvalid(f"proposal {raw['id']['S']}: {exc}") from exc


def _read_proposal(raw: Mapping[str, AttributeValueTypeDef]) -> Proposal:
    return Proposal(
        id=raw["id"]["S"],
        secret_arn=raw["secret_arn"]["S"],
        secret_name=raw["secret_name"]["S"],
        plan_hash=raw["plan_hash"]["S"],
        state=ProposalState(raw["state"]["S"]),
        generation=int(raw["generation"]["N"]) if "generation" in raw else 0,
        created_at=int(raw["created_at"]["N"]),
        expires_at=int(raw["expires_at"]["N"]),
        plan=tuple(ProposedFix.from_json(f) for f in _json_objects(raw["plan"]["S"])),
        diagnosis=diagnosis_from_json(_json_object(raw["diagnosis"]["S"])),
        max_risk=raw.get("max_risk", {"S": "high"})["S"],
        history=[_history_entry(e) for e in raw["history"]["L"]],
        journal=tuple(JournalEntry.from_json(_json_object(e["S"])) for e in raw.get("journal", {"L": []})["L"]),
        leftovers=tuple(Leftover.from_json(_json_object(e["S"])) for e in raw.get("leftovers", {"L": []})["L"]),
        announced=int(raw["announced"]["N"]) if "announced" in raw else 0,
        links_until=int(raw["links_until"]["N"]) if "links_until" in raw else 0,
        reminded_on=int(raw["reminded_on"]["N"]) if "reminded_on" in raw else 0,
        handoffs=int(raw["handoffs"]["N"]) if "handoffs" in raw else 0,
        open_due=int(raw[OPEN_DUE]["N"]) if OPEN_DUE in raw else 0,
    )


def diagnosis_from_json(raw: records.JsonObject) -> Diagnosis:
    """A diagnosis as a proposal stores it (`Diagnosis.to_json`: the secret's account and region follow from its ARN,
    each finding's path from its code)."""
    secret = records.obj(raw, "secret")
    context = raw.get("context", {})
    if not isinstance(context, Mapping):
        raise RecordInvalid("'context' is not an object")
    return Diagnosis(
        secret_arn=records.text(secret, "arn"),
        secret_name=records.text(secret, "name"),
        verdict=records.member(Verdict, raw, "verdict"),
        findings=tuple(records.finding_from_json(f) for f in records.objects(raw, "findings")),
        context=dict(context),
        # a stored path is what `Path.to_json` wrote (`PathJson`); `from_json` reads it as it did untyped
        paths=tuple(Path.from_json(cast(PathJson, p)) for p in records.objects(raw, "paths")) if "paths" in raw else (),
    )


def _json_object(stored: str) -> records.JsonObject:
    value = json.loads(stored)
    if not isinstance(value, Mapping):
        raise RecordInvalid("a stored JSON value is not an object")
    return value


def _json_objects(stored: str) -> list[records.JsonObject]:
    value = json.loads(stored)
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise RecordInvalid("a stored JSON value is not a list of objects")
    return value


def _history_entry(entry: AttributeValueTypeDef) -> dict[str, str | int]:
    # The stubs leave DynamoDB's nested values (M, L) untyped; each field of an entry is a string or a number.
    fields: Mapping[str, AttributeValueTypeDef] = entry["M"]
    return {k: (v["S"] if "S" in v else int(v["N"])) for k, v in fields.items()}


def create_table(clients: AwsClients, table: str) -> None:
    """The table as the SAM template makes it (for the demo and the tests)."""
    clients.dynamodb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "secret_arn", "AttributeType": "S"},
            {"AttributeName": OPEN_STATE, "AttributeType": "S"},
            {"AttributeName": OPEN_DUE, "AttributeType": "N"},
        ],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": BY_SECRET_INDEX,
                "KeySchema": [{"AttributeName": "secret_arn", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["state", "generation"]},
            },
            {
                "IndexName": OPEN_INDEX,
                "KeySchema": [
                    {"AttributeName": OPEN_STATE, "KeyType": "HASH"},
                    {"AttributeName": OPEN_DUE, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["secret_arn", "generation"]},
            },
        ],
    )


class DynamoDbBudget:
    """The hourly cap on changes per account, counted in the proposals table (items `budget#ACCOUNT#HOUR`)."""

    def __init__(self, clients: AwsClients, table: str, per_hour: int) -> None:
        self.clients = clients
        self.table = table
        self.per_hour = per_hour

    def take(self, account: str, changes: int) -> bool:
        if changes > self.per_hour:
            return False
        hour = int(time.time() // 3600)
        try:
            self.clients.dynamodb.update_item(
                TableName=self.table,
                Key={"id": {"S": f"budget#{account}#{hour}"}},
                UpdateExpression="ADD used :n SET #ttl = :ttl",
                ConditionExpression="attribute_not_exists(used) OR used <= :room",
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues={
                    ":n": {"N": str(changes)},
                    ":room": {"N": str(self.per_hour - changes)},
                    ":ttl": {"N": str((hour + 2) * 3600)},
                },
            )
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

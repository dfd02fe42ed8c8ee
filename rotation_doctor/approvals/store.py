"""Proposals in DynamoDB: a plan waiting for a person, moved from state to state by conditional writes only.

proposed -> approved -> applying -> applied | failed | rolled_back
proposed | approved -> rejected;  proposed | approved -> expired (past expires_at);  applying -> expired (stale)
(the states: `rotation_doctor.model.states.ProposalState`)

The id is derived from the secret and the plan's hash, so the same plan for the same secret is one
proposal however many events raise it; a write that finds the state moved under it fails its
condition, so a proposal is applied at most once even when two approvals race.

A missing proposal is `ProposalNotFound`; a move its state does not allow is `AlreadyDecided` or
`ProposalExpired`, both `ProposalConflict` (`rotation_doctor.model.errors`).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rotation_doctor.analysis import Diagnosis
from rotation_doctor.collect.aws import AwsClients, error_code
from rotation_doctor.model.errors import AlreadyDecided, ProposalExpired, ProposalNotFound
from rotation_doctor.model.plan import Plan
from rotation_doctor.model.states import OPEN_STATES, UNDECIDED_STATES, ProposalState

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

DEFAULT_TTL = 7 * 24 * 3600


@dataclass(frozen=True)
class Proposal:
    id: str
    secret_arn: str
    secret_name: str
    plan_hash: str
    state: ProposalState
    created_at: int
    expires_at: int
    plan: list[dict[str, Any]]
    diagnosis: dict[str, Any]
    history: list[dict[str, str | int]]  # state, by, note (strings) and at (epoch seconds) of each move
    max_risk: str

    @property
    def expired(self) -> bool:
        return time.time() > self.expires_at

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items()}


def proposal_id(secret_arn: str, plan_hash: str) -> str:
    return "p-" + hashlib.sha256(f"{secret_arn}\n{plan_hash}".encode()).hexdigest()[:20]


class ProposalStore:
    def __init__(self, clients: AwsClients, table: str, *, ttl: int = DEFAULT_TTL) -> None:
        self.clients = clients
        self.table = table
        self.ttl = ttl

    @property
    def _ddb(self) -> DynamoDBClient:
        return self.clients.dynamodb

    def create(self, plan: Plan, diagnosis: Diagnosis, *, max_risk: str) -> tuple[Proposal, bool]:
        """The open proposal for this secret and plan: a new one (True), or the one already open (False)."""
        pid = proposal_id(plan.secret_arn, plan.hash)
        now = int(time.time())
        open_names = {f":o{i}": {"S": s.value} for i, s in enumerate(OPEN_STATES)}
        item: dict[str, AttributeValueTypeDef] = {
            "id": {"S": pid},
            "secret_arn": {"S": plan.secret_arn},
            "secret_name": {"S": plan.secret_name},
            "plan_hash": {"S": plan.hash},
            "state": {"S": ProposalState.PROPOSED.value},
            "created_at": {"N": str(now)},
            "expires_at": {"N": str(now + self.ttl)},
            "ttl": {"N": str(now + self.ttl + 30 * 24 * 3600)},
            "plan": {"S": json.dumps(plan.to_json())},
            "diagnosis": {"S": json.dumps(diagnosis.to_json(), default=str)},
            "max_risk": {"S": max_risk},
            "history": {"L": [_event(ProposalState.PROPOSED, "rotation-doctor", f"{len(plan.fixes)} fix(es)", now)]},
        }
        try:
            self._ddb.put_item(
                TableName=self.table,
                Item=item,
                # A closed proposal for the same plan may be opened again; an open one never twice.
                ConditionExpression=f"attribute_not_exists(id) OR NOT (#s IN ({', '.join(open_names)})) "
                "OR expires_at < :now",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues={**open_names, ":now": {"N": str(now)}},
            )
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            return self.get(pid), False
        return _proposal(item), True  # what was just written, without reading it back

    def get(self, pid: str) -> Proposal:
        raw = self._ddb.get_item(TableName=self.table, Key={"id": {"S": pid}}, ConsistentRead=True).get("Item")
        if raw is None:
            raise ProposalNotFound(pid)
        return _proposal(raw)

    def list(self, states: Iterable[ProposalState] | None = None) -> list[Proposal]:
        wanted = set(states or ())
        found = [p for p in self._scan() if not wanted or p.state in wanted]
        return sorted(found, key=lambda p: p.created_at, reverse=True)

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
    ) -> Proposal:
        """Move the state only if it is one of `from_states` now (and, if asked, the proposal has not expired)."""
        now = int(time.time())
        sources = list(from_states)
        names: dict[str, AttributeValueTypeDef] = {f":f{i}": {"S": s.value} for i, s in enumerate(sources)}
        condition = f"#s IN ({', '.join(names)})"
        values: dict[str, AttributeValueTypeDef] = {
            **names,
            ":to": {"S": to_state.value},
            ":h": {"L": [_event(to_state, by, note, now)]},
        }
        if require_unexpired:
            condition += " AND expires_at >= :now"
            values[":now"] = {"N": str(now)}
        try:
            self._ddb.update_item(
                TableName=self.table,
                Key={"id": {"S": pid}},
                ConditionExpression=f"attribute_exists(id) AND {condition}",
                UpdateExpression="SET #s = :to, history = list_append(history, :h)",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues=values,
            )
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            current = self.get(pid)
            if require_unexpired and current.expired and current.state in UNDECIDED_STATES:
                self.move(pid, UNDECIDED_STATES, ProposalState.EXPIRED, by="rotation-doctor", note="past its expiry")
                raise ProposalExpired(pid) from exc
            raise AlreadyDecided(pid, current.state, sources) from exc
        return self.get(pid)

    def approve(self, pid: str, *, by: str) -> Proposal:
        return self.move(pid, (ProposalState.PROPOSED,), ProposalState.APPROVED, by=by, require_unexpired=True)

    def reject(self, pid: str, *, by: str, note: str = "") -> Proposal:
        return self.move(pid, UNDECIDED_STATES, ProposalState.REJECTED, by=by, note=note)

    def claim(self, pid: str, *, by: str) -> Proposal:
        """approved -> applying: exactly one caller wins; everyone else gets AlreadyDecided (a ProposalConflict)."""
        return self.move(pid, (ProposalState.APPROVED,), ProposalState.APPLYING, by=by, require_unexpired=True)


def _event(state: ProposalState, by: str, note: str, at: int) -> AttributeValueTypeDef:
    return {
        "M": {"state": {"S": state.value}, "by": {"S": by or "?"}, "note": {"S": note[:1000]}, "at": {"N": str(at)}}
    }


def _proposal(raw: Mapping[str, AttributeValueTypeDef]) -> Proposal:
    return Proposal(
        id=raw["id"]["S"],
        secret_arn=raw["secret_arn"]["S"],
        secret_name=raw["secret_name"]["S"],
        plan_hash=raw["plan_hash"]["S"],
        state=ProposalState(raw["state"]["S"]),
        created_at=int(raw["created_at"]["N"]),
        expires_at=int(raw["expires_at"]["N"]),
        plan=json.loads(raw["plan"]["S"]),
        diagnosis=json.loads(raw["diagnosis"]["S"]),
        max_risk=raw.get("max_risk", {"S": "high"})["S"],
        history=[_history_entry(e) for e in raw["history"]["L"]],
    )


def _history_entry(entry: AttributeValueTypeDef) -> dict[str, str | int]:
    # The stubs leave DynamoDB's nested values (M, L) untyped; each field of an entry is a string or a number.
    fields: Mapping[str, AttributeValueTypeDef] = entry["M"]
    return {k: (v["S"] if "S" in v else int(v["N"])) for k, v in fields.items()}


def create_table(clients: AwsClients, table: str) -> None:
    """The table as the SAM template makes it (for the demo and the tests)."""
    clients.dynamodb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
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

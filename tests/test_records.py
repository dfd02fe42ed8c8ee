"""Stored proposals load through the store's typed edge, as this version writes them and as earlier ones did.

`tests/fixtures/proposal_records_v1.json` holds proposal items exactly as the store wrote them on 2026-12-07 (the
raw DynamoDB items: proposed, proposed for a database not linked to the secret, rejected, applying with a journal,
applied, rolled back, rollback_incomplete with leftovers), and `proposal_records_v1.rendered.json` what people saw of
each then: `proposals show` as text and JSON, the approval page, and the notice its state sends. Read today, each
must render the same, byte for byte: a record in a user's table is never migrated, so the code must keep reading it.

Regenerate the renderings only for a deliberate change of what people see:
    PYTHONPATH=$PWD .venv/bin/python -m tests.test_records
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import re
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from rotation_doctor.analysis import diagnose
from rotation_doctor.approvals.store import ProposalStore, create_table, diagnosis_from_json
from rotation_doctor.collect.aws import AwsClients
from rotation_doctor.model.errors import RecordInvalid
from rotation_doctor.model.plan import FixKind
from rotation_doctor.model.records import JournalEntry, Leftover, ProposedFix
from rotation_doctor.model.states import ProposalState
from rotation_doctor.notify.messages import Message
from rotation_doctor.planning.planner import make_plan
from tests.snapshots import BREAKAGES, healthy, peered

FIXTURES = Path(__file__).parent / "fixtures"
RECORDS = FIXTURES / "proposal_records_v1.json"
RENDERED = FIXTURES / "proposal_records_v1.rendered.json"
TABLE = "proposals"


def stored_records() -> dict[str, dict[str, Any]]:
    records: dict[str, dict[str, Any]] = json.loads(RECORDS.read_text())
    return records


class Recorded:
    """A channel that keeps what it is given."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def send(self, message: Message) -> bool:
        self.messages.append(message)
        return True


def rendered(clients: AwsClients, raw: dict[str, Any]) -> dict[str, Any]:
    """What people see of one stored record: `proposals show` (text, JSON), the approval page, and the notice its
    state sends (a proposal's announcement, or a decision's outcome told from the proposal alone)."""
    from rotation_doctor.approvals.page import proposal_page
    from rotation_doctor.cli import main as cli
    from rotation_doctor.notify import slack, text
    from rotation_doctor.notify.dispatch import Dispatcher
    from rotation_doctor.notify.notifier import Notifier

    clients.dynamodb.put_item(TableName=TABLE, Item=raw)
    pid = raw["id"]["S"]
    proposal = ProposalStore(clients, TABLE).get(pid)
    shown = {}
    for fmt in ("text", "json"):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert cli.main(["proposals", "show", pid, "--table", TABLE, "--format", fmt]) == 0
        shown[fmt] = out.getvalue()
    channel = Recorded()
    dispatcher = Dispatcher(Notifier([channel]), "propose")
    if proposal.state is ProposalState.PROPOSED:
        dispatcher.announce(proposal, now=proposal.created_at)
    else:
        dispatcher.after_decision(proposal, None)
    told = {}
    for message in channel.messages:  # none for `applying`: a moment inside the worker, told by how it ends
        told = {"message": message.to_json(), "message_text": text.body(message), "slack": slack.blocks(message)}
    page = proposal_page(proposal, approve_token="a", reject_token="r", action_path="/decide")
    return {"show_text": shown["text"], "show_json": shown["json"], "page": page, **told}


@pytest.fixture
def table(builder: Any) -> AwsClients:
    clients: AwsClients = builder.clients
    create_table(clients, TABLE)
    return clients


@pytest.mark.parametrize("name", sorted(stored_records()))
def test_a_record_written_by_an_earlier_version_renders_as_it_did(table: AwsClients, name: str) -> None:
    expected = json.loads(RENDERED.read_text())[name]
    assert rendered(table, stored_records()[name]) == expected


def test_the_stored_journal_and_leftovers_load_as_what_reconciliation_undoes(table: AwsClients) -> None:
    """A journal entry is a write with its undo; a leftover names its resource and the call that removes it."""
    records = stored_records()
    for raw in records.values():
        table.dynamodb.put_item(TableName=TABLE, Item=raw)
    store = ProposalStore(table, TABLE)
    applying = store.get(records["applying"]["id"]["S"])
    assert len(applying.journal) == 3 and all(isinstance(e, JournalEntry) for e in applying.journal)
    assert [e.undo.operation if e.undo is not None else None for e in applying.journal] == [
        "DeleteSecurityGroup",
        "AuthorizeSecurityGroupEgress",
        None,  # the new group's ingress rule goes with the group
    ]
    left = store.get(records["rollback_incomplete"]["id"]["S"])
    (leftover,) = left.leftovers
    assert isinstance(leftover, Leftover) and leftover.remove is not None
    assert leftover.resource is not None and leftover.resource.startswith("vpce-")
    assert leftover.remove.params == {"VpcEndpointIds": [leftover.resource]}
    assert leftover.error == "UnauthorizedOperation"


def test_a_plan_made_now_is_recorded_with_exactly_the_keys_it_is_stored_with() -> None:
    """`ProposedFix` is the stored format of a fix: every fix kind's plan, recorded, gives back `Fix.to_json` (what
    the store writes and the plan's hash is made of), and reads back from that JSON as the same record. A key added to
    `Fix.to_json` fails here until the record keeps it (with a default for the records stored without it)."""
    broken = [b(healthy(network_interfaces=())) for b in BREAKAGES] + [peered()]
    plans = [make_plan(snap, prefer_nat=prefer_nat) for snap in broken for prefer_nat in (False, True)]
    for fix in (fix for plan in plans for fix in plan.fixes):
        recorded = ProposedFix.of(fix)
        assert recorded.to_json() == fix.to_json()
        assert ProposedFix.from_json(json.loads(json.dumps(fix.to_json()))) == recorded
    # Every kind's fix is the one `Fix` class, so the keys do not depend on the kind; the hand-built breakages plan
    # most kinds (a new kind need not add one here: it has its broken account in tests/fix_scenarios.py).
    assert len({fix.kind for plan in plans for fix in plan.fixes}) >= len(FixKind) - 2


def test_a_diagnosis_stored_reads_back_as_the_diagnosis_it_was() -> None:
    diagnosis = diagnose(healthy(vpc_endpoints=(), function_policy=None))
    stored = json.loads(json.dumps(diagnosis.to_json(), default=str))
    assert diagnosis_from_json(stored).to_json() == stored
    assert diagnosis_from_json(stored) == replace(
        diagnosis, findings=tuple(replace(f, facts=None) for f in diagnosis.findings)
    )


@pytest.mark.parametrize(
    ("part", "spoil", "named"),
    [
        ("plan", lambda plan: [plan[0] | {"kind": "REBOOT_THE_DATABASE"}], "'kind' is not a FixKind"),
        ("plan", lambda plan: [plan[0] | {"risk": "none at all"}], "'risk' is not a Risk"),
        ("plan", lambda plan: [{k: v for k, v in plan[0].items() if k != "steps"} | {"steps": {}}], "'steps'"),
        ("plan", lambda plan: [plan[0] | {"steps": [{"id": "s1", "says": "x"}]}], "'service'"),
        ("plan", lambda plan: {"not": "a list"}, "not a list of objects"),
        ("diagnosis", lambda d: d | {"verdict": "fine"}, "'verdict' is not a Verdict"),
        ("diagnosis", lambda d: d | {"findings": [d["findings"][0] | {"code": "SM_IS_DOWN"}]}, "'code' is not a Code"),
        ("diagnosis", lambda d: d | {"secret": "prod/orders/db"}, "'secret' is not an object"),
    ],
)
def test_a_stored_record_this_version_cannot_read_is_named_not_a_key_error(
    table: AwsClients, part: str, spoil: Callable[[Any], Any], named: str
) -> None:
    """A record spoiled by hand, or written by a later version (a fix kind, risk or code this one does not know),
    fails where it is read, with what is wrong: never a KeyError or a page rendered from half a record."""
    raw = copy.deepcopy(stored_records()["proposed"])
    raw[part] = {"S": json.dumps(spoil(json.loads(raw[part]["S"])))}
    table.dynamodb.put_item(TableName=TABLE, Item=raw)
    with pytest.raises(RecordInvalid, match=re.escape(named)) as refused:
        ProposalStore(table, TABLE).get(raw["id"]["S"])
    assert str(refused.value).startswith(f"proposal {raw['id']['S']}: ")


def _capture() -> None:
    """Write the renderings of the stored records as this version shows them."""
    import boto3

    from rotation_doctor.simulated import simulated_aws

    out = {}
    for name, raw in sorted(stored_records().items()):
        with simulated_aws():
            clients = AwsClients(boto3.session.Session(region_name="us-east-1"), region="us-east-1")
            create_table(clients, TABLE)
            out[name] = rendered(clients, raw)
    RENDERED.write_text(json.dumps(out, indent=1, sort_keys=True, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    import tests.conftest  # noqa: F401  (the environment the tests run in)

    _capture()
    sys.exit(0)

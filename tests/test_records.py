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
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from rotation_doctor.approvals.store import ProposalStore, create_table
from rotation_doctor.collect.aws import AwsClients
from rotation_doctor.model.states import ProposalState
from rotation_doctor.notify.messages import Message

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

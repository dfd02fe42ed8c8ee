"""`scan --format jsonl`: the items of `scan --format json`, one compact line each, written and flushed as each
account-region finishes (not at the end), never interleaved; a place that cannot be read is its line, an error that
stops the scan is the last line; the exit status is scan's."""

from __future__ import annotations

import gc
import io
import json
import threading
import time
import weakref
from collections import defaultdict
from typing import Any

import pytest

from rotation_doctor.cli import main as cli
from rotation_doctor.cli.jsonlines import JsonLines
from rotation_doctor.collect.accounts import AccountSessions
from rotation_doctor.simulated import organization, scenarios
from rotation_doctor.simulated.account import AccountBuilder
from tests.cli_process import assert_valid, refuse_assume_role, run

SECRETS_PER_PLACE = 20


def organization_of_three_places(builder: AccountBuilder) -> list[str]:
    """Three accounts (the caller's and two members), each with 20 secrets in us-east-1: one broken, 19 healthy."""
    accounts = organization.organization(builder.clients, 2)
    sessions = AccountSessions(builder.clients)
    for account in accounts:
        b = organization.builder_in(sessions, account, "us-east-1")
        member = organization.healthy_and_broken(b)
        healthy = b.clients.secretsmanager.get_secret_value(SecretId=member.healthy)
        function = b.clients.secretsmanager.describe_secret(SecretId=member.healthy)["RotationLambdaARN"]
        for i in range(SECRETS_PER_PLACE - 2):
            b.rotated_secret(f"app/{i:02d}", json.loads(healthy["SecretString"]), function)
    return accounts


def place_of(item: dict[str, Any]) -> tuple[str, str | None]:
    if item["secret"] is None:
        return item["account"], item["region"]
    return item["secret"]["account"], item["secret"]["region"]


def by_place(items: list[dict[str, Any]]) -> dict[tuple[str, str | None], list[dict[str, Any]]]:
    grouped: dict[tuple[str, str | None], list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        grouped[place_of(item)].append(item)
    return dict(grouped)


class Recorded(io.StringIO):
    """stdout that remembers what had been written at each flush (what a reader of a pipe could see)."""

    def __init__(self) -> None:
        super().__init__()
        self.flushed: list[str] = []

    def flush(self) -> None:
        self.flushed.append(self.getvalue())


def test_jsonl_lines_are_scan_jsons_items_in_the_same_order_within_each_place(
    builder: AccountBuilder, capsys: pytest.CaptureFixture[str]
) -> None:
    accounts = organization_of_three_places(builder)
    argv = ("scan", "--accounts", "all", "--regions", "us-east-1")
    code, out, err = run(capsys, *argv, "--format", "json")
    assert code == 1, err
    listed = json.loads(out)
    code, out, err = run(capsys, *argv, "--format", "jsonl")
    assert code == 1, err
    lines = out.splitlines()
    assert len(lines) == len(listed) == 3 * SECRETS_PER_PLACE
    assert lines == [JsonLines.line(json.loads(line)) for line in lines]  # compact, one object a line
    streamed = [json.loads(line) for line in lines]
    assert by_place(streamed) == by_place(listed)  # the same objects, in the same order within a place
    assert set(by_place(streamed)) == {(account, "us-east-1") for account in accounts}
    assert all(item["schema_version"] == "1" for item in streamed)
    assert_valid("scan", streamed)
    assert scenarios.CANARY_PASSWORD not in out + err

    # One place (no --accounts): the same, in json's order.
    code, one, _ = run(capsys, "scan", "--format", "json")
    assert code == 1
    code, out, _ = run(capsys, "scan", "--format", "jsonl")
    assert code == 1 and [json.loads(line) for line in out.splitlines()] == json.loads(one)


def test_each_places_lines_are_flushed_before_a_slower_place_is_read(
    builder: AccountBuilder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last account's place is held until the two others' lines have been flushed to stdout (or 10 s): lines
    buffered until the end of the scan would never be there while it waits."""
    from rotation_doctor import examine

    accounts = organization_of_three_places(builder)
    slow_account = accounts[-1]
    stdout = Recorded()
    monkeypatch.setattr("sys.stdout", stdout)
    seen_while_waiting: list[set[tuple[str, str | None]]] = []
    scan = examine.scan

    def written_places() -> set[tuple[str, str | None]]:
        text = stdout.flushed[-1] if stdout.flushed else ""
        return {place_of(json.loads(line)) for line in text.splitlines()}

    def slow_scan(clients: Any, **kwargs: Any) -> Any:
        if clients.client("sts").get_caller_identity()["Account"] == slow_account:  # type: ignore[attr-defined]
            deadline = time.monotonic() + 10
            while len(written_places()) < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            seen_while_waiting.append(written_places())
        return scan(clients, **kwargs)

    monkeypatch.setattr(examine, "scan", slow_scan)
    code = cli.main(["scan", "--accounts", "all", "--regions", "us-east-1", "--format", "jsonl", "--concurrency", "3"])
    assert code == 1
    assert seen_while_waiting == [{(account, "us-east-1") for account in accounts[:2]}]
    assert len(written_places()) == 3
    # Each place is one flush: its 20 lines arrive together, and complete.
    assert [text.count("\n") for text in stdout.flushed] == [SECRETS_PER_PLACE, 2 * SECRETS_PER_PLACE, 60]


def test_lines_written_from_many_threads_never_interleave() -> None:
    class Slow(io.StringIO):
        """A stream that takes a write a few characters at a time, letting other threads run in between."""

        def write(self, text: str) -> int:
            for start in range(0, len(text), 7):
                super().write(text[start : start + 7])
                time.sleep(0)
            return len(text)

    stream = Slow()
    lines = JsonLines(stream)
    batches = [[{"thread": t, "n": n, "pad": "x" * 50} for n in range(20)] for t in range(8)]
    threads = [threading.Thread(target=lines.write, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    written = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(written) == 160
    # Each batch is contiguous and in order: one place's lines are never split by another's.
    starts = [i for i, item in enumerate(written) if item["n"] == 0]
    assert sorted(tuple(written[s : s + 20]) == tuple(batches[written[s]["thread"]]) for s in starts) == [True] * 8


@pytest.mark.parametrize("text", ["a\nb", "a\rb", "a\u2028b\u2029c", "\x00\x1b[31m", "é\U0001f600"])
def test_outside_text_never_breaks_a_line(text: str) -> None:
    """A secret's name, a tag or an AWS message quoted in a finding: one line whatever it holds, read back as it
    was."""
    line = JsonLines.line({"secret": {"name": text}, "tags": {text: text}})
    assert line.isascii() and line.isprintable()
    assert len(line.splitlines()) == 1
    assert json.loads(line) == {"secret": {"name": text}, "tags": {text: text}}


def test_an_account_that_refuses_the_role_is_its_own_line_and_the_others_stream(
    builder: AccountBuilder, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = organization.organization(builder.clients, 2)
    sessions = AccountSessions(builder.clients)
    for account in accounts:
        organization.healthy_and_broken(organization.builder_in(sessions, account, "us-east-1"))
    refuse_assume_role(monkeypatch, accounts[1])
    code, out, err = run(capsys, "scan", "--accounts", "all", "--regions", "us-east-1,eu-west-1", "--format", "jsonl")
    assert code == 1, err
    items = [json.loads(line) for line in out.splitlines()]
    refused = [i for i in items if i["secret"] is None]
    assert [(i["account"], i["verdict"], [f["code"] for f in i["findings"]]) for i in refused] == [
        (accounts[1], "unknown", ["ACCOUNT_ROLE_REFUSED"])
    ] * 2
    assert {i["region"] for i in refused} == {"us-east-1", "eu-west-1"}
    assert {place_of(i) for i in items if i["secret"] is not None} == {
        (accounts[0], "us-east-1"),
        (accounts[2], "us-east-1"),
    }
    assert_valid("scan", items)


def test_exit_status_is_scans_and_an_error_that_stops_it_is_the_last_line(
    builder: AccountBuilder, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    organization.organization(builder.clients, 2)  # three accounts, no secrets: all healthy
    code, out, _ = run(capsys, "scan", "--accounts", "all", "--format", "jsonl")
    assert code == 0 and out == ""
    organization.healthy_and_broken(builder)
    code, out, _ = run(capsys, "scan", "--format", "jsonl")
    assert code == 1 and [json.loads(line)["verdict"] for line in out.splitlines()] == ["healthy", "broken"]

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code, out, err = run(capsys, "scan", "--accounts", "all", "--format", "jsonl")
    assert code == 3 and "NoCredentials" in err
    (line,) = out.splitlines()
    assert line == JsonLines.line(json.loads(line))
    assert json.loads(line)["error"]["kind"] == "aws_error"
    assert_valid("error", json.loads(line))


def test_a_places_clients_are_released_once_the_caller_has_its_results(builder: AccountBuilder) -> None:
    """What a scan of hundreds of places keeps is the places being read: each place's clients (megabytes each) are
    let go once its results are handed over, the base clients excepted."""
    from rotation_doctor.examine import each_place

    accounts = organization.organization(builder.clients, 2)
    sessions = AccountSessions(builder.clients)
    made: list[weakref.ref[Any]] = []
    clients_of = sessions.clients

    def recorded(place: Any) -> Any:
        clients = clients_of(place)
        made.append(weakref.ref(clients))
        return clients

    sessions.clients = recorded  # type: ignore[method-assign]
    places = [place for place, _ in each_place(sessions, accounts, ["us-east-1", "us-west-2"])]
    assert len(places) == 6
    gc.collect()
    alive = [ref() for ref in made if ref() is not None]
    assert len(made) > 6 and all(clients is builder.clients for clients in alive)


def test_security_hub_is_kept_place_by_place_with_one_summary(
    builder: AccountBuilder, capsys: pytest.CaptureFixture[str]
) -> None:
    from rotation_doctor.collect.aws import AwsClients

    for region in ("us-east-1", "us-west-2"):
        AwsClients(builder.clients.session, region).client("securityhub").enable_security_hub()  # type: ignore[attr-defined]
    o = scenarios.orders(builder)  # broken twice: no way to Secrets Manager, the database closed
    code, out, err = run(capsys, "scan", "--regions", "us-east-1,us-west-2", "--security-hub", "--format", "jsonl")
    assert code == 1 and [json.loads(line)["secret"]["arn"] for line in out.splitlines()] == [o.secret_arn]
    assert [line for line in err.splitlines() if "Security Hub" in line] == [
        "rotation-doctor: Security Hub: 2 finding(s) imported, 0 archived"
    ]
    imported = builder.clients.client("securityhub").get_findings()["Findings"]  # type: ignore[attr-defined]
    assert {f["Resources"][0]["Id"] for f in imported} == {o.secret_arn} and len(imported) == 2

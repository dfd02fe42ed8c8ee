"""`what-if` on real `terraform show -json` output from other projects' test suites (tests/whatif_corpus/, with
SOURCES.md naming each file's repository, path, commit and Terraform version), against the healthy simulated account
(`scenarios.healthy_with_ledger`). None of these plans names anything of that account, so a gate a team keeps on
must pass every one of them (exit 0); every file that is not a plan (a state, a module manifest, a provider schema,
`terraform validate -json`, a text plan) is bad input (exit 2) with a message that says how to make plan JSON.

Each file is classified by its content, not its name or folder: Terraform writes `planned_values` in the JSON of
every plan, and in nothing else it writes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rotation_doctor.cli import main as cli
from rotation_doctor.model.snapshot import Snapshot
from rotation_doctor.whatif.report import FAILING, assess
from rotation_doctor.whatif.terraform import decode_plan, parse_plan

CORPUS = Path(__file__).parent / "whatif_corpus"
FILES = sorted(CORPUS.rglob("*.json"))


def is_plan(path: Path) -> bool:
    try:
        document = json.loads(path.read_bytes().decode("utf-8-sig"))
    except ValueError:
        return False
    return isinstance(document, dict) and "terraform_version" in document and "planned_values" in document


@pytest.fixture(scope="module")
def healthy_account(clients: Any) -> Iterator[list[Snapshot]]:
    """One healthy account for the whole corpus, read once as `what-if` reads it (`run.what_if` is this read, then
    `assess`): what-if only reads it."""
    from rotation_doctor.collect.collector import Collector
    from rotation_doctor.simulated import scenarios, simulated_aws
    from rotation_doctor.simulated.account import AccountBuilder

    with simulated_aws():
        scenarios.healthy_with_ledger(AccountBuilder(clients), ledger_secret="prod/ledger/db")
        collector = Collector(clients)
        yield collector.snapshots(collector.list_rotated_secrets())


def test_the_corpus_is_real_and_wide() -> None:
    """At least 100 plans from at least two sources, written by several Terraform versions, and non-plans."""
    plans = [p for p in FILES if is_plan(p)]
    versions = {json.loads(p.read_bytes().decode("utf-8-sig"))["terraform_version"].rsplit(".", 1)[0] for p in plans}
    sources = {p.name.split("__")[0] for p in plans}
    assert len(plans) >= 100, len(plans)
    assert len(sources) >= 2 and len(versions) >= 3, (sources, versions)
    assert len(FILES) - len(plans) >= 5
    listed = (CORPUS / "SOURCES.md").read_text()
    assert [p.name for p in FILES if p.name not in listed] == []


PLANS = [p for p in FILES if is_plan(p)]
NOT_PLANS = [p for p in FILES if not is_plan(p)]


@pytest.mark.parametrize("path", PLANS, ids=[p.name[:90] for p in PLANS])
def test_a_plan_for_another_project_passes_the_gate(healthy_account: list[Snapshot], path: Path) -> None:
    report = assess(healthy_account, parse_plan(decode_plan(path.read_bytes(), name=path.name), name=path.name))
    assert [(s.before.secret_name, str(s.effect), s.not_evaluated) for s in report.secrets if s.effect in FAILING] == []
    assert not report.failing


@pytest.mark.parametrize("path", NOT_PLANS, ids=[p.name[:90] for p in NOT_PLANS])
def test_a_file_that_is_not_a_plan_is_bad_input(clients: Any, path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clients.counter.calls.clear()
    assert cli.main(["what-if", "--terraform-plan", str(path), "--format", "json"]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["kind"] == "bad_input" and "terraform show -json tfplan > plan.json" in error["message"]
    assert clients.counter.total == 0


def test_the_command_passes_a_corpus_plan(healthy_account: list[Snapshot], capsys: pytest.CaptureFixture[str]) -> None:
    """The exit status a CI job sees, for the biggest plan of the corpus."""
    biggest = max(PLANS, key=lambda p: p.stat().st_size)
    assert cli.main(["what-if", "--terraform-plan", str(biggest), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["changes"] > 0

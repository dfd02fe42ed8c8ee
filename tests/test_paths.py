"""The paths a diagnosis shows (`paths` in `--format json`): made from the checks the analysis runs, and blocked
exactly where the findings say."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from rotation_doctor.analysis import db_path, hops, paths, sm_path
from rotation_doctor.analysis.diagnosis import diagnose
from rotation_doctor.cli import main as cli
from rotation_doctor.model.paths import HopKind, HopVerdict, Path, PathLeg
from rotation_doctor.simulated import scenarios
from rotation_doctor.simulated.account import AccountBuilder
from tests.cli_process import assert_valid, run_json
from tests.path_checks import (
    assert_blocked_where_the_findings_say,
    assert_mermaid_grammar,
    assert_text_marks_the_blocking_hops,
)

S = scenarios.DEMO_SECRET
LEDGER = "prod/ledger/db"

# Every simulated scenario (those the baseline of what users see runs), with the secret it diagnoses.
SCENARIOS: dict[str, tuple[Callable[[AccountBuilder], object], str]] = {
    "orders-broken": (lambda b: scenarios.orders(b), S),
    "orders-endpoint": (lambda b: scenarios.orders(b, endpoint=True), S),
    "orders-healthy": (lambda b: scenarios.orders(b, endpoint=True, db_admits_function=True), S),
    "orders-unlinked": (lambda b: scenarios.orders(b, linked=False), S),
    "orders-dualstack": (lambda b: scenarios.orders(b, dual_stack=True), S),
    "peered": (lambda b: scenarios.peered_database(b, scenarios.orders(b, endpoint=True)), LEDGER),
    "peered-oneway": (
        lambda b: scenarios.peered_database(b, scenarios.orders(b, endpoint=True), routes="there"),
        LEDGER,
    ),
    "tgw": (lambda b: scenarios.tgw_database(b, scenarios.orders(b, endpoint=True)), LEDGER),
    "tgw-return": (
        lambda b: scenarios.tgw_database(b, scenarios.orders(b, endpoint=True), breaks="return"),
        LEDGER,
    ),
    "proxied": (lambda b: scenarios.proxied_database(b, scenarios.orders(b, endpoint=True)), "prod/orders/via-proxy"),
    "healthy-ledger": (lambda b: scenarios.healthy_with_ledger(b), LEDGER),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_each_scenario_is_blocked_where_its_error_findings_say(
    name: str, builder: AccountBuilder, capsys: pytest.CaptureFixture[str]
) -> None:
    build, secret = SCENARIOS[name]
    build(builder)
    _, payload = run_json(capsys, "diagnose", secret)
    assert_valid("diagnose", payload)
    errors = assert_blocked_where_the_findings_say(payload)
    legs = {p["path"] for p in payload["paths"]}
    assert {"sm", "db"} <= legs and ("proxy" in legs) == (name == "proxied")
    assert any(p["blocked"] for p in payload["paths"]) == bool(errors)


def test_the_broken_scenario_shows_the_route_table_and_the_database_groups(
    builder: AccountBuilder, capsys: pytest.CaptureFixture[str]
) -> None:
    o = scenarios.orders(builder)
    _, payload = run_json(capsys, "diagnose", S)
    by_leg = {p["path"]: p for p in payload["paths"]}
    sm_hops = by_leg["sm"]["cases"][0]["hops"]
    assert [(h["kind"], h["verdict"]) for h in sm_hops] == [
        ("function", "passes"),
        ("route_table", "blocks"),
        ("secrets_manager", "passes"),
    ]
    assert sm_hops[1]["question"] == "route for 0.0.0.0/0" and sm_hops[1]["answer"] == "no route"
    assert sm_hops[2]["answer"] == "not reached"
    db_hops = by_leg["db"]["cases"][0]["hops"]
    blocked = [h for h in db_hops if h["verdict"] == "blocks"]
    assert [(h["kind"], h["ids"], h["question"], h["answer"]) for h in blocked] == [
        ("security_groups", [o.db_sg], "TCP 5432 in from rotation function orders-db-rotation", "no rule allows it")
    ]
    out = next(h for h in db_hops if h["kind"] == "security_groups" and h["verdict"] == "passes")
    assert out["question"] == "TCP 5432 out to database orders-db" and out["decided_by"].endswith("to 0.0.0.0/0")
    acl = next(h for h in db_hops if h["kind"] == "network_acl")
    assert acl["decided_by"] == "rule 100"
    # The packet's order: out of the function, the route, into the database, the database, the reply's route.
    kinds = [h["kind"] for h in db_hops]
    assert kinds.index("route_table") < kinds.index("database") < len(kinds) - 1 and kinds[-1] == "route_table"


def test_a_path_round_trips_through_json(builder: AccountBuilder, capsys: pytest.CaptureFixture[str]) -> None:
    scenarios.tgw_database(builder, scenarios.orders(builder, endpoint=True), breaks="return")
    _, payload = run_json(capsys, "diagnose", LEDGER)
    for data in payload["paths"]:
        assert Path.from_json(data).to_json() == data
    db = Path.from_json(next(p for p in payload["paths"] if p["path"] == "db"))
    (tgw,) = db.blocking
    assert tgw.kind is HopKind.TRANSIT_GATEWAY and tgw.question == "carry traffic back to the function"
    delivered = [h for c in db.cases for h in c.hops if h.kind is HopKind.TRANSIT_GATEWAY and h is not tgw]
    assert delivered and all(h.verdict is HopVerdict.PASSES and h.answer == "delivered" for h in delivered)


def test_recording_changes_no_finding(builder: AccountBuilder) -> None:
    """The hops are a by-product: the findings with recording on are those without it."""
    from rotation_doctor.examine import diagnose_secret

    scenarios.orders(builder, dual_stack=True)
    snap, diagnosis = diagnose_secret(builder.clients, S)
    judged = paths.judge(snap)
    assert judged.sm == sm_path.analyze(snap) and judged.db == db_path.analyze(snap)
    assert diagnosis.paths == judged.paths and diagnose(snap).paths == judged.paths
    assert [p.leg for p in judged.paths] == [PathLeg.SM, PathLeg.DB]


def test_hops_recorded_outside_a_diagnosis_go_nowhere() -> None:
    hops.hop(HopKind.ROUTE_TABLE, "rtb-1", "route for 0.0.0.0/0", "no route")  # no recorder: nothing to raise
    with hops.recording() as recorder:
        hops.hop(HopKind.ROUTE_TABLE, "rtb-1", "route for 0.0.0.0/0", "no route")  # no leg begun: not kept
        recorder.begin(PathLeg.SM)
        hops.hop(HopKind.ROUTE_TABLE, "rtb-2", "route for 0.0.0.0/0", "no route")
    assert [p.hop.component for p in recorder.preamble[PathLeg.SM]] == ["rtb-2"]


# ----- what people see: the text's hop chain, the Mermaid flowchart -----------------------------------------------


@pytest.mark.parametrize("name", ["orders-broken", "tgw-return", "proxied", "orders-dualstack"])
def test_mermaid_and_text_show_the_blocking_hop(
    name: str, builder: AccountBuilder, capsys: pytest.CaptureFixture[str]
) -> None:
    build, secret = SCENARIOS[name]
    build(builder)
    cli.main(["diagnose", secret, "--format", "mermaid"])
    chart = capsys.readouterr().out
    assert_mermaid_grammar(chart)
    _, payload = run_json(capsys, "diagnose", secret)
    for path in payload["paths"]:
        worst = path["cases"][0]
        for hop in worst["hops"]:
            assert hop["id"] in chart
        drawn_blocked = re.findall(rf"class ({path['path']}_\d+) blocks", chart)
        assert bool(drawn_blocked) == worst["blocked"]
    cli.main(["diagnose", secret, "--format", "text"])
    assert_text_marks_the_blocking_hops(capsys.readouterr().out, payload)


def test_mermaid_labels_are_inert() -> None:
    from rotation_doctor.cli.mermaid import flowchart
    from rotation_doctor.model.paths import Hop, PathCase

    hostile = 'db"]; click db_0 call alert(1) <img src=x>#'
    case = PathCase(
        "subnet-a",
        (
            Hop(HopKind.FUNCTION, "fn", "where it sends from", "from subnet-a", HopVerdict.PASSES),
            Hop(HopKind.DATABASE, hostile, "TCP 5432", "not reached", HopVerdict.BLOCKS),
        ),
    )
    chart = flowchart("s", [Path(PathLeg.DB, (case,), 1)])
    assert_mermaid_grammar(chart)
    assert "click" not in chart.replace("click db_0 call alert(1)", "") and '"]; click' not in chart
    assert "<img" not in chart and "#lt;img src=x#gt;#35;" in chart


def test_the_docs_pictures_are_the_simulated_scenarios_output() -> None:
    """docs/paths.md's pictures are generated (scripts/path_pictures.py), never drawn by hand."""
    import importlib.util

    from tests.docs_pages import ROOT

    spec = importlib.util.spec_from_file_location("path_pictures", ROOT / "scripts" / "path_pictures.py")
    assert spec is not None and spec.loader is not None
    pictures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pictures)
    page = (ROOT / "docs" / "paths.md").read_text()
    assert page == pictures.page_with(pictures.render()), "docs/paths.md is out of date: run scripts/path_pictures.py"
    charts = re.findall(r"```mermaid\n(.*?)```", page, re.S)
    assert len(charts) == 3 and "class db_" in charts[0] and "class db_" in charts[1] and "class " not in charts[2]
    for chart in charts:
        assert_mermaid_grammar(chart.rstrip("\n"))

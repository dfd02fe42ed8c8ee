"""The JSON Schema of `--format json` (docs/schema/v1): committed as the models generate it, followed by what the
command really prints, and able to fail.

Real outputs are validated twice: against the published schema, and against a strict copy in which every described
object admits no other key. The published one stays open (the contract: more keys may be added), the strict one
makes this test fail when the CLI prints a key the models do not describe.
"""

from __future__ import annotations

import copy
import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from rotation_doctor.cli import main as cli
from rotation_doctor.cli.schema import SCHEMA_DIR, SCHEMA_VERSION
from rotation_doctor.cli.schema import __main__ as generator
from rotation_doctor.cli.schema.models import COMMANDS, file_name, render
from rotation_doctor.simulated import scenarios
from rotation_doctor.simulated.account import AccountBuilder
from tests.cli_process import ROOT, assert_valid, errors, published, run_json, strict

SECRET = scenarios.DEMO_SECRET
UNRESOLVED = "prod/billing/db"  # its host is no AWS endpoint: DB_TARGET_UNRESOLVED, verdict unknown


# ----- the committed schema is the generated one -------------------------------------------------


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_committed_schema_is_what_the_models_generate(name: str) -> None:
    path = ROOT / SCHEMA_DIR / file_name(name)
    assert path.exists(), f"{path} is missing: run `make schema`"
    assert path.read_text() == render(name), f"{path} is out of date: run `make schema`"
    Draft202012Validator.check_schema(json.loads(path.read_text()))


def test_the_schema_folder_holds_only_generated_files() -> None:
    assert sorted(p.name for p in (ROOT / SCHEMA_DIR).iterdir()) == sorted(file_name(n) for n in COMMANDS)
    assert SCHEMA_DIR.endswith(f"/v{SCHEMA_VERSION}")


def test_the_generator_writes_and_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert generator.main(["--check", str(tmp_path)]) == 1  # nothing there yet
    assert generator.main([str(tmp_path)]) == 0
    assert generator.main(["--check", str(tmp_path)]) == 0
    assert all((tmp_path / file_name(n)).read_text() == render(n) for n in COMMANDS)
    (tmp_path / file_name("plan")).write_text("{}\n")
    assert generator.main(["--check", str(tmp_path)]) == 1
    assert "plan.schema.json" in capsys.readouterr().err


def test_the_enums_of_the_code_are_enums_of_the_schema() -> None:
    from rotation_doctor.model.findings import Code, Verdict
    from rotation_doctor.model.plan import FixKind
    from rotation_doctor.model.states import OutcomeStatus

    defs = published("fix")["$defs"]
    assert defs["FindingCode"]["enum"] == [str(c) for c in Code]
    assert defs["Verdict"]["enum"] == [str(v) for v in Verdict]
    assert defs["FixKind"]["enum"] == [str(k) for k in FixKind]
    assert defs["OutcomeStatus"]["enum"] == [str(s) for s in OutcomeStatus]
    assert published("error")["$defs"]["ErrorKind"]["enum"] == list(cli.EXIT_BY_KIND)


def test_pydantic_is_not_loaded_to_print_json() -> None:
    """The CLI stamps the version from a module without pydantic; the models load only to write the schema."""
    import subprocess
    import sys

    probe = (
        "import sys, rotation_doctor.cli.main as m, rotation_doctor.cli.schema as s; "
        "m._emit_versioned({'x': 1}); print(s.SCHEMA_VERSION, 'pydantic' in sys.modules, file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(done.stdout) == {"schema_version": SCHEMA_VERSION, "x": 1}
    assert done.stderr.split() == [SCHEMA_VERSION, "False"]


# ----- real outputs validate ---------------------------------------------------------------------


def unresolved_secret(b: AccountBuilder, function_arn: str) -> None:
    b.rotated_secret(
        UNRESOLVED, {"host": "db.corp.example.com", "port": 5432, "password": scenarios.CANARY_PASSWORD}, function_arn
    )


def test_diagnose_healthy_broken_and_unknown(builder: AccountBuilder, capsys: pytest.CaptureFixture[str]) -> None:
    o = scenarios.orders(builder, db_admits_function=True, endpoint=True)
    unresolved_secret(builder, o.function_arn)
    builder.clients.secretsmanager.create_secret(Name="static/db", SecretString='{"host": "h", "port": 5432}')
    verdicts = {}
    for secret in (SECRET, UNRESOLVED, "static/db"):
        _, payload = run_json(capsys, "diagnose", secret)
        assert_valid("diagnose", payload)
        verdicts[secret] = payload["verdict"]
    assert verdicts == {SECRET: "healthy", UNRESOLVED: "unknown", "static/db": "healthy"}  # static: rotation off


def test_diagnose_broken_with_the_logs(builder: AccountBuilder, capsys: pytest.CaptureFixture[str]) -> None:
    scenarios.orders(builder)
    scenarios.seed_failed_rotation_logs(builder, "orders-db-rotation")
    code, payload = run_json(capsys, "diagnose", SECRET, "--rotation-failed")
    assert code == 1 and payload["verdict"] == "broken"
    assert payload["context"]["logs"] and any("logs" in f["evidence"] for f in payload["findings"])
    assert payload["schema_version"] == SCHEMA_VERSION
    assert_valid("diagnose", payload)


def test_plan_with_fixes_and_unfixable(builder: AccountBuilder, capsys: pytest.CaptureFixture[str]) -> None:
    o = scenarios.orders(builder)
    unresolved_secret(builder, o.function_arn)
    _, payload = run_json(capsys, "plan", SECRET)
    assert [f["kind"] for f in payload["plan"]] == ["CREATE_SECRETSMANAGER_ENDPOINT", "AUTHORIZE_DB_INGRESS"]
    assert any("undo" in s and "outputs" in s for f in payload["plan"] for s in f["steps"])
    assert_valid("plan", payload)
    _, payload = run_json(capsys, "plan", UNRESOLVED)
    assert payload["plan"] and [u["code"] for u in payload["unfixable"]] == ["DB_TARGET_UNRESOLVED"]
    assert_valid("plan", payload)


def test_fix_applied_then_nothing_to_do_and_stale(builder: AccountBuilder, capsys: pytest.CaptureFixture[str]) -> None:
    scenarios.orders(builder, endpoint=True)
    code, payload = run_json(capsys, "fix", SECRET, "--approve", "--plan-hash", "0" * 12)
    assert code == 1 and payload["status"] == "stale" and "reason" in payload and "after" not in payload
    assert_valid("fix", payload)
    code, payload = run_json(capsys, "fix", SECRET, "--approve")
    assert code == 0 and payload["status"] == "applied" and payload["after"]["verdict"] == "healthy"
    assert payload["fixes_applied"][0]["steps"][0]["status"] == "applied"
    assert_valid("fix", payload)
    code, payload = run_json(capsys, "fix", SECRET, "--approve")
    assert code == 0 and payload["status"] == "nothing to do" and payload["plan"] == []
    assert_valid("fix", payload)


def deny(monkeypatch: pytest.MonkeyPatch, operation: str) -> None:
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError

    call: Callable[..., Any] = BaseClient._make_api_call

    def denying(self: Any, name: str, params: Any) -> Any:
        if name == operation:
            raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "denied"}}, name)
        return call(self, name, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", denying)


@pytest.mark.parametrize("undo_denied", [False, True], ids=["rolled_back", "rollback_incomplete"])
def test_fix_rolled_back(
    builder: AccountBuilder,
    capsys: pytest.CaptureFixture[str],
    endpoint_never_available: None,
    monkeypatch: pytest.MonkeyPatch,
    undo_denied: bool,
) -> None:
    if undo_denied:
        deny(monkeypatch, "DeleteVpcEndpoints")
    scenarios.orders(builder)
    code, payload = run_json(capsys, "fix", SECRET, "--approve", "--max-risk", "medium", "--wait-timeout", "1")
    assert code == 1
    assert payload["status"] == ("rollback_incomplete" if undo_denied else "rolled_back")
    assert bool(payload["leftovers"]) is undo_denied
    assert {f["status"] for f in payload["fixes_applied"]} & {"failed", "rollback_incomplete"}
    assert_valid("fix", payload)


def test_scan(builder: AccountBuilder, capsys: pytest.CaptureFixture[str]) -> None:
    o = scenarios.orders(builder)
    unresolved_secret(builder, o.function_arn)
    _, rows = run_json(capsys, "scan")
    assert sorted(r["verdict"] for r in rows) == ["broken", "broken"]  # no way to Secrets Manager for either
    assert all(r["schema_version"] == SCHEMA_VERSION for r in rows)
    assert_valid("scan", rows)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_errors(builder: AccountBuilder, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    code, payload = run_json(capsys, "diagnose", "nope/nothing")
    assert code == 2 and payload["error"]["kind"] == "bad_input" and payload["error"]["setting"] is None
    assert_valid("error", payload)
    code, payload = run_json(capsys, "scan", "--region", "mars-1")
    assert code == 2 and payload["error"]["setting"] == "--region"
    assert_valid("error", payload)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_free_port()}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    code, payload = run_json(capsys, "plan", "any/secret")
    assert code == 3 and payload["error"]["kind"] == "aws_error"
    assert_valid("error", payload)


# ----- the schema can fail ---------------------------------------------------------------------


_PRINTED: dict[str, dict[str, Any]] = {}


@pytest.fixture
def plan_output(request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """What `plan` prints for the demo's account: made once (on a simulated account), a fresh copy for each test."""
    if "plan" not in _PRINTED:
        scenarios.orders(request.getfixturevalue("builder"))
        _, payload = run_json(capsys, "plan", SECRET)
        assert payload["findings"] and payload["plan"]
        assert_valid("plan", payload)
        _PRINTED["plan"] = payload
    return copy.deepcopy(_PRINTED["plan"])


def _without(payload: dict[str, Any], path: tuple[str | int, ...]) -> dict[str, Any]:
    out = copy.deepcopy(payload)
    node: Any = out
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]
    return out


CONTRACT_KEYS = [
    ("schema_version",),
    ("secret",),
    ("secret", "arn"),
    ("verdict",),
    ("findings",),
    *(("findings", 0, key) for key in ("code", "severity", "path", "summary", "resources")),
    ("plan",),
    *(("plan", 0, key) for key in ("kind", "risk", "summary", "fixes")),
]


@pytest.mark.parametrize("path", CONTRACT_KEYS, ids=lambda p: "/".join(map(str, p)))
def test_an_output_missing_a_contract_key_is_rejected(plan_output: dict[str, Any], path: tuple[str | int, ...]) -> None:
    broken = _without(plan_output, path)
    for name in ("plan", "diagnose"):
        assert errors(published(name), broken), f"{name} accepts an output without {path}"
    assert errors(published("scan"), [plan_output, broken])


@pytest.mark.parametrize(
    ("where", "value"),
    [
        (("verdict",), "sick"),
        (("findings", 0, "code"), "NO_SUCH_CODE"),
        (("findings", 0, "severity"), "fatal"),
        (("plan", 0, "kind"), "REBOOT_EVERYTHING"),
        (("plan", 0, "risk"), "none"),
        (("schema_version",), "2"),
        (("plan_hash",), "abc"),
    ],
)
def test_a_value_outside_the_schema_is_rejected(
    plan_output: dict[str, Any], where: tuple[str | int, ...], value: str
) -> None:
    broken = copy.deepcopy(plan_output)
    node: Any = broken
    for part in where[:-1]:
        node = node[part]
    node[where[-1]] = value
    assert errors(published("plan"), broken)


def test_a_new_key_passes_the_published_schema_and_fails_the_strict_one(plan_output: dict[str, Any]) -> None:
    grown = plan_output | {"surprise": 1}
    assert errors(published("plan"), grown) == []  # the contract: more keys may be added
    assert errors(strict(published("plan")), grown)
    plan_output["findings"][0]["evidence"]["anything"] = [1, 2]  # evidence is free-form, in both
    plan_output["plan"][0]["steps"][0]["params"]["AnyParameter"] = {"x": 1}  # so are a call's parameters
    assert errors(strict(published("plan")), plan_output) == []


def test_the_strict_check_sees_a_key_the_models_leave_out(plan_output: dict[str, Any]) -> None:
    """As if a fix's `cost` had been printed but never described: the strict schema refuses it."""
    schema = published("plan")
    fix = schema["$defs"]["Fix"]
    del fix["properties"]["cost"]
    fix["required"].remove("cost")
    assert errors(schema, plan_output) == []
    assert any("'cost' was unexpected" in e for e in errors(strict(schema), plan_output))

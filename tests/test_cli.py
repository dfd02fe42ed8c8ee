"""The `rotation-doctor` command as a user runs it: exit statuses, text, JSON of the contract, no secrets."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from typing import Any

import boto3
import pytest

from rotation_doctor.cli import main as cli
from rotation_doctor.collect.aws import AwsClients
from rotation_doctor.simulated import scenarios
from rotation_doctor.simulated.account import AccountBuilder
from tests.cli_process import _command, _env
from tests.conftest import _free_port
from tests.fix_scenarios import created_by_rotation_doctor

SECRET = scenarios.DEMO_SECRET
CONTRACT_CODES = {
    "SM_NO_PATH",
    "SM_PUBLIC_SUBNET_NO_NAT",
    "SM_ROUTE_BLACKHOLE",
    "SM_NAT_NO_INTERNET",
    "SM_ENDPOINT_PRIVATE_DNS_DISABLED",
    "SM_VPC_DNS_DISABLED",
    "SM_ENDPOINT_NOT_AVAILABLE",
    "SM_ENDPOINT_SG_DENIES",
    "SM_LAMBDA_EGRESS_DENIES",
    "SM_NACL_DENIES",
    "SM_ENDPOINT_POLICY_DENIES",
    "SM_PATH_NOT_EVALUATED",
    "DB_TARGET_UNRESOLVED",
    "DB_LAMBDA_NOT_IN_VPC",
    "DB_NO_ROUTE",
    "DB_LAMBDA_EGRESS_DENIES",
    "DB_SG_INGRESS_DENIES",
    "DB_NACL_DENIES",
    "DB_PATH_NOT_EVALUATED",
    "INVOKE_PERMISSION_MISSING",
    "ROTATION_LAMBDA_MISSING",
    "ROTATION_NOT_LAMBDA",
    "LOGS_SHOW_NON_NETWORK_ERROR",
}


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def assert_contract_json(payload: dict[str, Any]) -> None:
    assert set(payload) >= {"secret", "verdict", "findings", "plan"}
    assert payload["secret"]["arn"].startswith("arn:aws:secretsmanager:")
    assert payload["verdict"] in {"healthy", "degraded", "broken", "unknown"}
    for finding in payload["findings"]:
        assert set(finding) >= {"code", "severity", "path", "summary", "resources"}
        assert finding["severity"] in {"error", "warning", "info"}
        assert finding["path"] in {"sm", "db", "invoke", "config"}


def test_catalog_holds_every_contract_code() -> None:
    from rotation_doctor.model.findings import Code

    assert {str(code) for code in Code} >= CONTRACT_CODES


def test_diagnose_text_leads_with_the_verdict(builder: AccountBuilder, capsys: pytest.CaptureFixture[str]) -> None:
    scenarios.orders(builder)
    code, out, err = run_main(capsys, "diagnose", SECRET)
    assert code == 1
    assert out.splitlines()[0].startswith(f"{SECRET}: BROKEN")
    assert "✗ SM_NO_PATH [sm]" in out and "✗ DB_SG_INGRESS_DENIES [db]" in out and "What to do:" in out
    assert scenarios.CANARY_PASSWORD not in out + err


def test_diagnose_json_and_exit_zero_when_healthy(builder: AccountBuilder, capsys: pytest.CaptureFixture[str]) -> None:
    scenarios.orders(builder, db_admits_function=True, endpoint=True)
    code, out, _ = run_main(capsys, "diagnose", SECRET, "--format", "json")
    payload = json.loads(out)
    assert code == 0 and payload["verdict"] == "healthy" and payload["findings"] == []
    assert_contract_json(payload)


def test_unknown_secret_is_exit_2_in_one_line(builder: AccountBuilder, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "diagnose", "nope/nothing")
    assert code == 2 and out == "" and len(err.splitlines()) == 1 and "no secret 'nope/nothing'" in err


def test_scan_table_and_json(builder: AccountBuilder, capsys: pytest.CaptureFixture[str]) -> None:
    o = scenarios.orders(builder, db_admits_function=True, endpoint=True)
    builder.rotated_secret(
        "prod/billing/db",
        {"host": "db.corp.example.com", "port": 5432, "password": scenarios.CANARY_PASSWORD},
        o.function_arn,
    )
    builder.clients.secretsmanager.create_secret(Name="static/key", SecretString="x")
    code, out, _ = run_main(capsys, "scan")
    assert code == 1
    assert out.splitlines()[0].split() == ["SECRET", "VERDICT", "FUNCTION", "FINDINGS"]
    assert "prod/billing/db" in out and "DB_TARGET_UNRESOLVED" in out and "static/key" not in out
    assert "2 secret(s): 0 broken, 0 degraded, 1 unknown, 1 healthy" in out
    code, out, _ = run_main(capsys, "scan", "--format", "json")
    rows = json.loads(out)
    assert sorted(r["secret"]["name"] for r in rows) == sorted([SECRET, "prod/billing/db"])
    for row in rows:
        assert_contract_json(row)


def test_verbose_logs_never_hold_the_password(
    builder: AccountBuilder, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    scenarios.orders(builder)
    scenarios.seed_failed_rotation_logs(builder, "orders-db-rotation")
    # Whatever earlier tests left: the CLI itself must keep botocore quiet (this once passed only in suite order).
    for name in ("botocore", "boto3", "urllib3"):
        logging.getLogger(name).setLevel(logging.NOTSET)
    with caplog.at_level("DEBUG"):
        code, out, err = run_main(capsys, "-v", "diagnose", SECRET, "--rotation-failed", "--format", "json")
    assert code == 1
    assert "read secretsmanager:GetSecretValue" in caplog.text
    for text in (out, err, caplog.text):
        assert scenarios.CANARY_PASSWORD not in text


def test_demo_runs_and_never_prints_the_password(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "demo")
    assert code == 0
    assert "SM_NO_PATH" in out and "DB_SG_INGRESS_DENIES" in out
    told = "tells on-call (SNS and Slack): [rotation-doctor] prod/orders/db:"
    assert f"{told} fix approved, applying (broken)" in out  # the page
    assert f"{told} fix applied after approval (healthy)" in out  # the worker
    # Before the next change: the plan that deletes the endpoint the fix made breaks it, read-only.
    assert "prod/orders/db: BREAKS (HEALTHY -> BROKEN)" in out
    assert "Ignored (cannot touch a rotation path): aws_s3_bucket.build_logs" in out
    assert "0 writes; exit status 1" in out
    assert scenarios.CANARY_PASSWORD not in out + err


# ----- the installed command against a moto server ------------------------------------------------


@pytest.mark.moto_server
def test_installed_cli_against_moto_server(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    builder = AccountBuilder(AwsClients(boto3.session.Session(region_name="us-east-1"), region="us-east-1"))
    scenarios.orders(builder, secret_name="server/orders/db")
    monkeypatch.delenv("AWS_ENDPOINT_URL")

    done = subprocess.run(
        [_command(), "diagnose", "server/orders/db", "--format", "json"],
        env=_env(moto_server),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    payload = json.loads(done.stdout)
    assert_contract_json(payload)
    assert payload["verdict"] == "broken"
    assert {f["code"] for f in payload["findings"]} >= {"SM_NO_PATH", "DB_SG_INGRESS_DENIES"}
    assert scenarios.CANARY_PASSWORD not in done.stdout + done.stderr

    scan = subprocess.run(
        [_command(), "scan", "--format", "json"], env=_env(moto_server), capture_output=True, text=True, timeout=120
    )
    assert scan.returncode == 1
    assert "server/orders/db" in [row["secret"]["name"] for row in json.loads(scan.stdout)]

    missing = subprocess.run(
        [_command(), "diagnose", "no/such/secret"], env=_env(moto_server), capture_output=True, text=True, timeout=60
    )
    assert missing.returncode == 2 and "Traceback" not in missing.stderr and len(missing.stderr.splitlines()) == 1


@pytest.mark.moto_server
def test_installed_cli_aws_errors_are_one_line_exit_3() -> None:
    unreachable = f"http://127.0.0.1:{_free_port()}"
    done = subprocess.run(
        [_command(), "diagnose", "any/secret"],
        env=_env(unreachable, AWS_MAX_ATTEMPTS="1"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 3, done.stderr
    assert done.stderr.startswith("rotation-doctor: AWS error:") and len(done.stderr.splitlines()) == 1

    no_region = subprocess.run(
        [_command(), "diagnose", "any/secret"],
        env={k: v for k, v in _env(unreachable).items() if k != "AWS_REGION"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert no_region.returncode == 2 and "region" in no_region.stderr


# ----- plan, fix, proposals -------------------------------------------------------------------


def test_plan_shows_the_exact_changes_and_changes_nothing(
    builder: AccountBuilder, capsys: pytest.CaptureFixture[str]
) -> None:
    o = scenarios.orders(builder, endpoint=True)
    code, out, _ = run_main(capsys, "plan", SECRET)
    assert code == 1
    assert f"+ {o.db_sg} ingress tcp/5432 <- {o.fn_sg} (rotation-doctor: {SECRET})" in out
    assert "AUTHORIZE_DB_INGRESS  risk low  fixes DB_SG_INGRESS_DENIES" in out
    code, out, _ = run_main(capsys, "plan", SECRET, "--format", "json")
    payload = json.loads(out)
    assert_contract_json(payload)
    assert [(p["kind"], p["risk"], p["fixes"]) for p in payload["plan"]] == [
        ("AUTHORIZE_DB_INGRESS", "low", ["DB_SG_INGRESS_DENIES"])
    ]
    assert payload["plan"][0]["summary"] and len(payload["plan_hash"]) == 64
    code, out, _ = run_main(capsys, "diagnose", SECRET)
    assert code == 1  # still broken: plan changed nothing


def test_fix_applies_up_to_the_risk_and_reports_after(
    builder: AccountBuilder, capsys: pytest.CaptureFixture[str]
) -> None:
    scenarios.orders(builder)
    code, out, _ = run_main(capsys, "fix", SECRET, "--approve", "--format", "json")
    payload = json.loads(out)
    assert code == 1 and payload["applied"] == ["AUTHORIZE_DB_INGRESS"]
    assert payload["after"]["verdict"] == "broken" and [f["code"] for f in payload["after"]["findings"]] == [
        "SM_NO_PATH"
    ]
    code, out, _ = run_main(capsys, "fix", SECRET, "--approve", "--max-risk", "medium")
    assert code == 0 and "✓ CREATE_SECRETSMANAGER_ENDPOINT applied" in out and "HEALTHY" in out


def test_fix_without_approve_is_refused(builder: AccountBuilder, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        cli.main(["fix", SECRET])
    assert stop.value.code == 2


def test_proposals_commands(
    builder: AccountBuilder, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from rotation_doctor.apply.executor import Executor
    from rotation_doctor.apply.guardrails import Mode, Policy
    from rotation_doctor.approvals.store import ProposalStore, create_table
    from rotation_doctor.approvals.workflow import handle_secret

    scenarios.orders(builder)
    create_table(builder.clients, "props")
    monkeypatch.setenv("ROTATION_DOCTOR_TABLE", "props")
    handled = handle_secret(
        Executor(builder.clients, Policy(mode=Mode.PROPOSE), poll=0.01), ProposalStore(builder.clients, "props"), SECRET
    )
    assert handled.proposal is not None
    pid = handled.proposal.id
    code, out, _ = run_main(capsys, "proposals", "list", "--table", "props")
    assert code == 0 and pid in out and "proposed" in out
    code, out, _ = run_main(capsys, "proposals", "show", pid, "--table", "props")
    assert code == 0 and "CREATE_SECRETSMANAGER_ENDPOINT" in out and "proposed by rotation-doctor" in out
    code, out, _ = run_main(capsys, "proposals", "approve", pid, "--table", "props", "--by", "alice")
    assert code == 0 and f"Proposal {pid}: applied" in out and "approved by alice" in out
    code, _, err = run_main(capsys, "proposals", "reject", pid, "--table", "props")
    assert code == 2 and "is applied" in err
    code, _, err = run_main(capsys, "proposals", "show", "p-nope", "--table", "props")
    assert code == 2 and "no proposal" in err


def test_a_key_error_inside_an_apply_is_not_no_proposal(
    builder: AccountBuilder, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only ProposalNotFound is "no proposal" (bad input, 2); a KeyError from a bug inside the apply propagates."""
    from rotation_doctor.apply.executor import Executor
    from rotation_doctor.apply.guardrails import Mode, Policy
    from rotation_doctor.approvals.store import ProposalStore, create_table
    from rotation_doctor.approvals.workflow import handle_secret

    scenarios.orders(builder)
    create_table(builder.clients, "props")
    handled = handle_secret(
        Executor(builder.clients, Policy(mode=Mode.PROPOSE), poll=0.01), ProposalStore(builder.clients, "props"), SECRET
    )
    assert handled.proposal is not None

    def broken_run(self: Executor, *args: Any, **kwargs: Any) -> Any:
        raise KeyError("GroupId")  # as a bug reading a response would

    monkeypatch.setattr(Executor, "run", broken_run)
    with pytest.raises(KeyError, match="GroupId"):
        cli.main(["proposals", "approve", handled.proposal.id, "--table", "props", "--by", "alice"])
    out, err = capsys.readouterr()
    assert "no proposal" not in out + err


def test_an_internal_error_is_exit_1_with_a_traceback_not_bad_input() -> None:
    """As the console script runs it: an uncaught error exits 1 with its traceback; 2 stays for bad input."""
    script = """
import sys
from rotation_doctor.approvals import store, workflow
from rotation_doctor.cli import main as cli

class Store:
    def __init__(self, clients, table): pass
    def approve(self, pid, *, by): pass

def apply_proposal(*args, **kwargs):
    raise KeyError("GroupId")

store.ProposalStore = Store
workflow.apply_proposal = apply_proposal
cli._clients = cli._executor = lambda args: None
sys.exit(cli.main(["proposals", "approve", "p-1", "--table", "t"]))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert "KeyError: 'GroupId'" in done.stderr and "no proposal" not in done.stderr


# ----- an apply that cannot finish ---------------------------------------------------------------


def test_an_endpoint_that_never_becomes_available_is_rolled_back(
    builder: AccountBuilder, capsys: pytest.CaptureFixture[str], endpoint_never_available: None
) -> None:
    scenarios.orders(builder)
    code, out, _ = run_main(
        capsys, "fix", SECRET, "--approve", "--max-risk", "high", "--wait-timeout", "5", "--format", "json"
    )
    payload = json.loads(out)
    assert code == 1
    assert payload["outcome"] == payload["status"] == "rolled_back" and payload["leftovers"] == []
    assert created_by_rotation_doctor(builder) == []


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_an_undo_that_is_refused_is_reported_with_what_is_left(
    builder: AccountBuilder,
    capsys: pytest.CaptureFixture[str],
    endpoint_never_available: None,
    monkeypatch: pytest.MonkeyPatch,
    fmt: str,
) -> None:
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError

    call = BaseClient._make_api_call

    def denying(self: Any, operation: str, params: Any) -> Any:
        if operation == "DeleteVpcEndpoints":
            raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "denied"}}, operation)
        return call(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", denying)
    scenarios.orders(builder)
    code, out, _ = run_main(
        capsys, "fix", SECRET, "--approve", "--max-risk", "high", "--wait-timeout", "5", "--format", fmt
    )
    assert code == 1
    (endpoint,) = [r for r in created_by_rotation_doctor(builder) if r.startswith("vpce-")]
    if fmt == "text":
        assert "rollback incomplete" in out and "LEFT IN THE ACCOUNT" in out
        assert f"{endpoint}  + interface endpoint" in out and "remove with: ec2 DeleteVpcEndpoints" in out
        return
    payload = json.loads(out)
    assert payload["outcome"] == "rollback_incomplete"
    (left,) = payload["leftovers"]
    assert left["resource"] == endpoint and left["remove"]["operation"] == "DeleteVpcEndpoints"
    assert left["remove"]["params"] == {"VpcEndpointIds": [endpoint]}

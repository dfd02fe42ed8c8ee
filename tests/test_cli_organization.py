"""The command across accounts and regions, on a simulated organization (moto: Organizations, and STS mapping an
assumed role's credentials to its account): each secret reported with its account, region and verdict; a member
account that refuses the role is a finding for that account, never a crash; settings checked before any call."""

from __future__ import annotations

import io
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import botocore.handlers
import pytest
from botocore.exceptions import ClientError

from rotation_doctor.cli import main as cli
from rotation_doctor.cli.render import ProgressBar
from rotation_doctor.collect.accounts import DEFAULT_MEMBER_ROLE, AccountSessions
from rotation_doctor.simulated import organization, scenarios
from rotation_doctor.simulated.account import AccountBuilder
from tests.cli_process import assert_valid, refuse_assume_role, run

HEALTHY, BROKEN = scenarios.DEMO_SECRET, organization.LEDGER_SECRET


def simulated_organization(builder: AccountBuilder, members: int = 2, region: str = "us-east-1") -> list[str]:
    """The management account (the caller's) and `members` member accounts, each with a healthy and a broken
    secret in `region`; every account's id, the management account first."""
    accounts = organization.organization(builder.clients, members)
    sessions = AccountSessions(builder.clients)
    for account in accounts:
        organization.healthy_and_broken(organization.builder_in(sessions, account, region))
    builder.clients.counter.calls.clear()
    return accounts


def count_calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """The calls the command makes (its sessions are made after this), by service:operation."""
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[f"{model.service_model.service_name}:{model.name}"] += 1

    hook = ("before-call", count)
    monkeypatch.setattr(botocore.handlers, "BUILTIN_HANDLERS", [*botocore.handlers.BUILTIN_HANDLERS, hook])
    return calls


def rows_of(out: str) -> set[tuple[str, str, str, str]]:
    return {(r["secret"]["account"], r["secret"]["region"], r["secret"]["name"], r["verdict"]) for r in json.loads(out)}


def test_scan_across_the_organization_reports_each_secret_with_its_account_region_and_verdict(
    builder: AccountBuilder, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's "done when": three accounts, each with a broken and a healthy secret."""
    accounts = simulated_organization(builder)
    calls = count_calls(monkeypatch)
    assert len(accounts) == 3
    code, out, err = run(capsys, "scan", "--accounts", "all", "--regions", "us-east-1", "--format", "json")
    assert code == 1, err
    assert rows_of(out) == {
        (account, "us-east-1", name, verdict)
        for account in accounts
        for name, verdict in ((HEALTHY, "healthy"), (BROKEN, "broken"))
    }
    items = json.loads(out)
    broken = [i for i in items if i["verdict"] == "broken"]
    assert {i["secret"]["arn"].split(":")[4] for i in broken} == set(accounts)  # the ARN agrees with the label
    assert all({f["code"] for f in i["findings"]} == {"DB_NO_ROUTE"} for i in broken)
    assert_valid("scan", items)
    assert calls["sts:AssumeRole"] == 2  # the two members, once each; the caller's own account is read as itself
    assert calls["organizations:ListAccounts"] == 1
    assert scenarios.CANARY_PASSWORD not in out + err


def test_scan_text_labels_every_row_with_its_account_and_region(
    builder: AccountBuilder, capsys: pytest.CaptureFixture[str]
) -> None:
    accounts = simulated_organization(builder)
    code, out, _ = run(capsys, "scan", "--accounts", ",".join(accounts[1:]))  # two members, the region's default
    lines = out.splitlines()
    assert code == 1 and lines[0].split() == ["ACCOUNT", "REGION", "SECRET", "VERDICT", "FUNCTION", "FINDINGS"]
    rows = [line.split() for line in lines[1:5]]
    assert sorted((r[0], r[1], r[2], r[3]) for r in rows) == sorted(
        (a, "us-east-1", name, verdict)
        for a in accounts[1:]
        for name, verdict in ((HEALTHY, "healthy"), (BROKEN, "broken"))
    )
    assert "4 secret(s) in 2 account(s): 2 broken, 0 degraded, 0 unknown, 2 healthy" in out


def test_role_arn_runs_scan_diagnose_plan_and_fix_in_that_account(
    builder: AccountBuilder, capsys: pytest.CaptureFixture[str]
) -> None:
    accounts = simulated_organization(builder, members=1)
    member = accounts[1]
    role = f"arn:aws:iam::{member}:role/platform-audit"
    code, out, _ = run(capsys, "scan", "--role-arn", role, "--format", "json")
    assert code == 1 and rows_of(out) == {
        (member, "us-east-1", HEALTHY, "healthy"),
        (member, "us-east-1", BROKEN, "broken"),
    }

    code, out, _ = run(capsys, "diagnose", HEALTHY, "--role-arn", role, "--format", "json")
    assert code == 0 and json.loads(out)["secret"]["account"] == member

    # A secret ARN names its account (and region): --role-name assumes that role there.
    code, out, _ = run(capsys, "scan", "--role-arn", role, "--format", "json")
    broken_arn = next(i["secret"]["arn"] for i in json.loads(out) if i["secret"]["name"] == BROKEN)
    code, out, _ = run(capsys, "plan", broken_arn, "--role-name", "platform-audit", "--format", "json")
    payload = json.loads(out)
    assert code == 1 and payload["secret"]["account"] == member and payload["unfixable"] == []
    assert payload["plan"], "a route both ways is the fix"
    assert_valid("plan", payload)

    code, out, _ = run(capsys, "fix", BROKEN, "--approve", "--max-risk", "high", "--role-arn", role, "--format", "json")
    payload = json.loads(out)
    assert payload["status"] == "applied" and payload["after"]["secret"]["account"] == member
    assert code == 0 and payload["after"]["verdict"] == "healthy"
    code, out, _ = run(capsys, "diagnose", BROKEN, "--format", "json")  # the caller's own broken one is untouched
    assert code == 1 and json.loads(out)["secret"]["account"] == accounts[0]
    assert broken_arn.split(":")[4] == member


def test_regions_spans_two_regions_of_the_callers_account(
    builder: AccountBuilder, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = AccountSessions(builder.clients)
    own = sessions.base_account
    for region in ("us-east-1", "eu-west-1"):
        organization.healthy_and_broken(organization.builder_in(sessions, own, region))
    calls = count_calls(monkeypatch)
    code, out, err = run(capsys, "scan", "--regions", "us-east-1,eu-west-1", "--format", "json")
    assert code == 1, err
    assert rows_of(out) == {
        (own, region, name, verdict)
        for region in ("us-east-1", "eu-west-1")
        for name, verdict in ((HEALTHY, "healthy"), (BROKEN, "broken"))
    }
    assert [i["secret"]["region"] for i in json.loads(out)] == ["eu-west-1"] * 2 + ["us-east-1"] * 2  # place order
    assert calls["sts:AssumeRole"] == 0 and calls["secretsmanager:ListSecrets"] == 2


def test_regions_all_are_the_regions_enabled_for_each_account(
    builder: AccountBuilder, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = organization.organization(builder.clients, 1)
    sessions = AccountSessions(builder.clients)
    organization.healthy_and_broken(organization.builder_in(sessions, accounts[1], "ap-southeast-2"))
    enabled = ["ap-southeast-2", "eu-west-1", "us-east-1"]

    def only_enabled(parsed: dict[str, Any], **_: Any) -> None:  # moto lists all 38; an account enables fewer
        parsed["Regions"] = [r for r in parsed["Regions"] if r["RegionName"] in enabled]

    hook = ("after-call.ec2.DescribeRegions", only_enabled)
    monkeypatch.setattr(botocore.handlers, "BUILTIN_HANDLERS", [*botocore.handlers.BUILTIN_HANDLERS, hook])
    calls = count_calls(monkeypatch)
    code, out, err = run(capsys, "scan", "--accounts", "all", "--regions", "all", "--format", "json")
    assert code == 1, err
    assert rows_of(out) == {
        (accounts[1], "ap-southeast-2", HEALTHY, "healthy"),
        (accounts[1], "ap-southeast-2", BROKEN, "broken"),
    }
    assert calls["ec2:DescribeRegions"] == 2  # once per account
    assert calls["secretsmanager:ListSecrets"] == 2 * len(enabled)  # every enabled region of both, once


def test_an_account_that_refuses_the_role_is_a_finding_not_a_crash(
    builder: AccountBuilder, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = simulated_organization(builder)
    refusing = accounts[2]
    asked = refuse_assume_role(monkeypatch, refusing)
    code, out, err = run(
        capsys,
        "scan",
        "--accounts",
        "all",
        "--regions",
        "us-east-1,us-west-2",
        "--role-name",
        "audit",
        "--format",
        "json",
    )
    assert code == 1, err
    items = json.loads(out)
    assert_valid("scan", items)
    unread = [i for i in items if i["secret"] is None]
    assert [(i["account"], i["region"], i["verdict"]) for i in unread] == [
        (refusing, "us-east-1", "unknown"),
        (refusing, "us-west-2", "unknown"),
    ]
    finding = unread[0]["findings"][0]
    role = f"arn:aws:iam::{refusing}:role/audit"
    assert finding["code"] == "ACCOUNT_ROLE_REFUSED" and finding["resources"] == [role]
    assert "AccessDenied" in finding["summary"] and refusing in finding["summary"]
    assert asked.count(role) == 1  # asked once for the account, not once per region
    read = {(r["secret"]["account"], r["secret"]["name"]) for r in items if r["secret"]}
    assert read == {(a, n) for a in accounts[:2] for n in (HEALTHY, BROKEN)}  # the other accounts are all there

    code, out, _ = run(capsys, "scan", "--accounts", refusing, "--regions", "all", "--role-name", "audit")
    assert code == 1
    row = out.splitlines()[1]
    assert row.split()[:2] == [refusing, "-"] and "(not read)  unknown" in row and row.endswith("ACCOUNT_ROLE_REFUSED")
    assert f"{refusing} not read: Could not assume {role}" in out
    code, out, _ = run(
        capsys, "scan", "--accounts", refusing, "--regions", "all", "--role-name", "audit", "--format", "json"
    )
    assert [(i["account"], i["region"]) for i in json.loads(out)] == [(refusing, None)]


def test_a_region_whose_secrets_cannot_be_listed_is_a_finding_and_the_others_are_read(
    builder: AccountBuilder, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = AccountSessions(builder.clients)
    own = sessions.base_account
    organization.healthy_and_broken(organization.builder_in(sessions, own, "us-east-1"))

    def refuse(context: dict[str, Any], **_: Any) -> None:  # an SCP denying eu-west-1, as AWS answers it
        if context.get("client_region") == "eu-west-1":
            error = {"Code": "AccessDeniedException", "Message": "explicit deny in a service control policy"}
            raise ClientError({"Error": error}, "ListSecrets")

    hook = ("before-parameter-build.secretsmanager.ListSecrets", refuse)
    monkeypatch.setattr(botocore.handlers, "BUILTIN_HANDLERS", [*botocore.handlers.BUILTIN_HANDLERS, hook])
    code, out, err = run(capsys, "scan", "--regions", "us-east-1,eu-west-1", "--format", "json")
    assert code == 1, err
    items = json.loads(out)
    assert_valid("scan", items)
    assert [(i["account"], i["region"], i["verdict"]) for i in items if i["secret"] is None] == [
        (own, "eu-west-1", "unknown")
    ]
    finding = items[0]["findings"][0]
    assert finding["code"] == "AWS_READ_FAILED" and finding["resources"] == ["secretsmanager:ListSecrets"]
    assert finding["evidence"]["error_code"] == "AccessDeniedException"
    assert {(i["secret"]["region"], i["verdict"]) for i in items[1:]} == {
        ("us-east-1", "healthy"),
        ("us-east-1", "broken"),
    }


def test_a_refused_role_for_one_secret_is_an_aws_error(
    builder: AccountBuilder, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    refuse_assume_role(monkeypatch, "444455556666")
    code, out, err = run(capsys, "diagnose", "x", "--role-arn", "arn:aws:iam::444455556666:role/r", "--format", "json")
    assert code == 3 and json.loads(out)["error"]["kind"] == "aws_error"
    assert "444455556666: cannot assume arn:aws:iam::444455556666:role/r: AccessDenied" in err


@pytest.mark.parametrize(
    ("args", "setting"),
    [
        (["scan", "--accounts", "123456789012,12345"], "--accounts"),
        (["scan", "--accounts", ""], "--accounts"),
        (["scan", "--regions", "us-east-1,moon-1"], "--regions"),
        (["scan", "--role-arn", "arn:aws:iam::123456789012:user/bob"], "--role-arn"),
        (["scan", "--role-arn", "arn:aws:iam::123456789012:role/r", "--accounts", "all"], "--role-arn"),
        (["scan", "--role-name", "audit"], "--role-name"),
        (["diagnose", "prod/orders/db", "--role-name", "audit"], "--role-name"),
        (
            [
                "diagnose",
                "arn:aws:secretsmanager:us-east-1:111122223333:secret:x",
                "--role-arn",
                "arn:aws:iam::444455556666:role/r",
            ],
            "--role-arn",
        ),
    ],
)
def test_a_bad_setting_is_exit_2_naming_it_before_any_call(
    builder: AccountBuilder, capsys: pytest.CaptureFixture[str], args: list[str], setting: str
) -> None:
    code, out, err = run(capsys, *args, "--format", "json")
    assert (
        code == 2 and json.loads(out)["error"]["setting"] == setting and err.startswith(f"rotation-doctor: {setting}")
    )
    assert_valid("error", json.loads(out))


def test_concurrency_is_checked_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    for bad in ("0", "65", "many"):
        code, _, err = run(capsys, "scan", "--accounts", "all", "--concurrency", bad)
        assert code == 2 and "--concurrency" in err


def test_no_organization_is_an_aws_error_naming_the_permission(
    builder: AccountBuilder, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # moto answers ListAccounts outside an organization with no accounts; AWS refuses it, as here.
    def refuse(**_: Any) -> None:
        error = {
            "Code": "AWSOrganizationsNotInUseException",
            "Message": "Your account is not a member of an organization.",
        }
        raise ClientError({"Error": error}, "ListAccounts")

    hook = ("before-parameter-build.organizations.ListAccounts", refuse)
    monkeypatch.setattr(botocore.handlers, "BUILTIN_HANDLERS", [*botocore.handlers.BUILTIN_HANDLERS, hook])
    code, _, err = run(capsys, "scan", "--accounts", "all")
    assert code == 3 and "organizations:ListAccounts" in err and "AWSOrganizationsNotInUseException" in err


def test_no_credentials_at_all_is_an_aws_error(
    builder: AccountBuilder, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code, out, err = run(capsys, "scan", "--accounts", "all", "--format", "json")
    assert code == 3 and json.loads(out)["error"]["kind"] == "aws_error" and "NoCredentials" in err


def test_places_are_read_concurrently_within_the_bound(
    builder: AccountBuilder, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from rotation_doctor import examine

    accounts = organization.organization(builder.clients, 3)
    running, most = 0, 0
    lock = threading.Lock()
    scan: Callable[..., Any] = examine.scan

    def slow_scan(clients: Any, **kwargs: Any) -> Any:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.2)
        try:
            return scan(clients, **kwargs)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(examine, "scan", slow_scan)
    code, out, _ = run(capsys, "scan", "--accounts", "all", "--regions", "us-east-1,us-west-2", "--concurrency", "3")
    assert code == 0 and out == "No Lambda-rotated secrets in these accounts and regions.\n"
    assert most == 3  # 8 places, never more than 3 at once
    assert len(accounts) == 4


def test_the_progress_bar_counts_accounts_on_stderr(
    builder: AccountBuilder, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ProgressBar.text(1, 3) == "rotation-doctor: [########................] 1/3 accounts"
    assert ProgressBar.text(0, 0) == "rotation-doctor: [########################] 0/0 accounts"

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    bar = ProgressBar(terminal)
    bar.show(0, 2)
    bar.show(2, 2)
    bar.end()
    assert terminal.getvalue() == f"\r{ProgressBar.text(0, 2)}\r{ProgressBar.text(2, 2)}\n"

    organization.organization(builder.clients, 2)  # three accounts, nothing in them
    code, _, err = run(capsys, "scan", "--accounts", "all", "--format", "json")
    assert code == 0 and "accounts" not in err  # stderr is no terminal and no -v: quiet
    code, _, err = run(capsys, "-v", "scan", "--accounts", "all", "--format", "json")
    bars = [line for line in err.splitlines() if line.endswith(" accounts")]
    assert bars == [ProgressBar.text(n, 3) for n in range(4)]


def test_help_says_fix_stays_in_one_account(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "fix", "--help")
    assert "--role-arn" in out and "--accounts" not in out and "--regions" not in out
    _, out, _ = run(capsys, "scan", "--help")
    assert all(o in out for o in ("--accounts", "--regions", "--role-name", "--concurrency", DEFAULT_MEMBER_ROLE))


def test_permissions_accounts_grants_what_the_options_call_and_only_roles_of_that_name(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Judged against AWS's authorization data: AssumeRole on the member role of any account, never another role;
    ListAccounts and DescribeRegions (which take no resource)."""
    from tests.iam_authorization import Authorization, allowed

    assert cli.main(["permissions", "--accounts"]) == 0
    statements = json.loads(capsys.readouterr().out)["Statement"]
    member = f"arn:aws:iam::444455556666:role/{DEFAULT_MEMBER_ROLE}"
    assert allowed(statements, Authorization("sts:AssumeRole", "role", {}, member))[0]
    assert not allowed(statements, Authorization("sts:AssumeRole", "role", {}, "arn:aws:iam::444455556666:role/Admin"))[
        0
    ]
    assert allowed(statements, Authorization("organizations:ListAccounts", "", {}))[0]
    assert allowed(statements, Authorization("ec2:DescribeRegions", "", {}))[0]
    assert cli.main(["permissions", "--accounts", "audit-reader"]) == 0
    named = json.loads(capsys.readouterr().out)["Statement"]
    assert allowed(named, Authorization("sts:AssumeRole", "role", {}, "arn:aws:iam::444455556666:role/audit-reader"))[0]
    assert cli.main(["permissions"]) == 0
    assert "sts:AssumeRole" not in capsys.readouterr().out

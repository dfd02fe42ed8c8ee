"""The command's edges (issue 22, item 4): a secret id or region that cannot work is bad input before any AWS call,
argument errors are JSON under `--format json`, a reader that closes the pipe early sees no traceback, and shell
completion is generated from the parser."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest
from jsonschema import Draft202012Validator

from rotation_doctor.cli import main as cli
from rotation_doctor.collect.accounts import known_regions
from rotation_doctor.collect.aws import AwsClients
from rotation_doctor.simulated import scenarios
from rotation_doctor.simulated.account import AccountBuilder
from tests.cli_process import _command, _env

ROOT = Path(__file__).resolve().parents[1]
ERROR_SCHEMA = json.loads((ROOT / "docs/schema/v1/error.schema.json").read_text())
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/orders/db-AbCdEf"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        code = cli.main(list(args))
    except SystemExit as exc:  # argparse's errors, --help
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def json_error(out: str) -> dict[str, Any]:
    payload = json.loads(out)
    assert list(Draft202012Validator(ERROR_SCHEMA).iter_errors(payload)) == []
    error: dict[str, Any] = payload["error"]
    assert error["kind"] == "bad_input"
    return error


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every AWS call goes to a port nothing listens on, once: a check that let one through would be exit 3."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")


# ----- secret ids and regions -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "says"),
    [
        ("", "is empty: give the secret's name or its ARN (arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME)"),
        ("   ", "is empty"),
        ("prod orders", "is neither a secret name (1-512 ASCII letters, digits and /_+=.@-) nor an ARN"),
        ("prod/orders:db", "is neither a secret name"),
        ("x" * 513, "is neither a secret name"),
        ("arn:aws:rds:us-east-1:123456789012:db:orders", "is an ARN of 'rds', not of a secret"),
        ("arn:aws:lambda:us-east-1:123456789012:function:rotate", "is an ARN of 'lambda', not of a secret"),
        ("arn:aws:secretsmanager:us-east-1:1234:secret:prod/db", "is not a secret's ARN"),
        ("arn:aws:secretsmanager:us-east-1:123456789012:function:prod/db", "is not a secret's ARN"),
        ("arn:aws:secretsmanager:us-east-1:123456789012:secret:", "is not a secret's ARN"),
        ("arn:aws:secretsmanager:us-east-1:123456789012", "is not a secret's ARN"),
        ("arn:nope:secretsmanager:us-east-1:123456789012:secret:prod/db", "is not a secret's ARN"),
        ("arn:aws:secretsmanager::123456789012:secret:prod/db", "is not a secret's ARN"),
        ("arn:aws:secretsmanager:xx-nowhere-1:123456789012:secret:prod/db", "the ARN's region 'xx-nowhere-1' is not"),
    ],
)
@pytest.mark.parametrize("command", ["diagnose", "plan", "fix"])
def test_a_secret_id_that_names_no_secret_is_bad_input_before_any_aws_call(
    capsys: pytest.CaptureFixture[str], no_aws: None, command: str, secret: str, says: str
) -> None:
    extra = ["--approve"] if command == "fix" else []
    code, out, err = run(capsys, command, secret, *extra, "--format", "json")
    error = json_error(out)
    assert code == 2 and error["setting"] == "secret" and says in error["message"]
    assert err.startswith("rotation-doctor: secret: ") and len(err.splitlines()) == 1


@pytest.mark.parametrize(
    "secret",
    [
        "prod/orders/db",
        "a",
        "x" * 512,
        "Name_with+all=the.allowed@chars-/",
        SECRET_ARN,
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/orders/db",  # a partial ARN: AWS accepts it
        "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:db-AbCdEf",
        "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:db-AbCdEf",
    ],
)
def test_a_secret_name_or_arn_goes_on_to_aws(capsys: pytest.CaptureFixture[str], no_aws: None, secret: str) -> None:
    code, out, _ = run(capsys, "diagnose", secret, "--format", "json")
    assert code == 3 and json.loads(out)["error"]["kind"] == "aws_error"  # asked: nothing listens


def test_an_unknown_region_names_the_regions_that_exist(capsys: pytest.CaptureFixture[str], no_aws: None) -> None:
    code, out, err = run(capsys, "diagnose", "prod/orders/db", "--region", "xx-nowhere-1", "--format", "json")
    error = json_error(out)
    assert code == 2 and error["setting"] == "--region"
    assert error["message"].startswith("--region: 'xx-nowhere-1' is not an AWS region; Secrets Manager's regions")
    for region in ("us-east-1", "eu-west-1", "af-south-1", "cn-north-1", "us-gov-west-1"):  # opt-in, partitions
        assert region in error["message"]
    assert len(err.splitlines()) == 1

    code, out, _ = run(capsys, "scan", "--regions", "us-east-1,xx-nowhere-1", "--format", "json")
    error = json_error(out)
    assert code == 2 and error["setting"] == "--regions" and "'xx-nowhere-1' is not an AWS region" in error["message"]


def test_the_known_regions_come_from_botocore_data_in_every_partition() -> None:
    regions = known_regions()
    assert {"us-east-1", "ap-southeast-4", "cn-northwest-1", "us-gov-east-1"} <= set(regions)
    assert len(regions) == len(set(regions)) > 30


# ----- argument errors --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["diagnose", "--format", "json"], "diagnose: the following arguments are required: secret"),
        (["diagnose", "x", "--format=json", "--bogus"], "unrecognized arguments: --bogus"),
        (["scan", "--format", "json", "--concurrency", "0"], "scan: argument --concurrency: between 1 and 64"),
        (["fix", "x", "--format", "json"], "fix: the following arguments are required: --approve"),
        (["proposals", "nope", "--format", "json"], "proposals: argument ACTION: invalid choice: 'nope'"),
        (["plan", "x", "--fo", "json", "--prefer-nat=yes"], "plan: argument --prefer-nat: ignored explicit argument"),
        (["-v", "--format=json"], "the following arguments are required: COMMAND"),
    ],
)
def test_argument_errors_are_the_json_error_under_format_json(
    capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    code, out, err = run(capsys, *argv)
    error = json_error(out)
    assert code == 2 and error["setting"] is None and error["message"].startswith(says)
    assert err == f"rotation-doctor: {error['message']}\n" and "usage:" not in out + err


def test_argument_errors_without_json_keep_argparse_usage(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "diagnose")
    assert code == 2 and out == "" and err.startswith("usage: rotation-doctor diagnose")
    assert err.endswith("error: the following arguments are required: secret\n")
    code, out, err = run(capsys, "diagnose", "x", "--format", "xml")  # no JSON was asked for
    assert code == 2 and out == "" and "invalid choice: 'xml'" in err
    code, out, err = run(capsys, "diagnose", "--format", "json", "--format", "text")  # the last one wins
    assert code == 2 and out == "" and err.startswith("usage:")


@pytest.mark.parametrize(
    ("argv", "wanted"),
    [
        (["scan", "--format", "json"], True),
        (["scan", "--format=json"], True),
        (["scan", "--form", "json"], True),
        (["--fo=json"], True),
        (["scan", "--format", "text"], False),
        (["scan", "--format", "json", "--format", "text"], False),
        (["scan", "--f", "json"], False),  # --f is also --fix, --fail-on: not --format
        (["diagnose", "--", "--format", "json"], False),
        (["scan", "--format"], False),
        (["scan", "--formats", "json"], False),
        (["diagnose", "json"], False),
    ],
)
def test_wants_json_reads_the_words_as_argparse_would(argv: list[str], wanted: bool) -> None:
    assert cli.wants_json(argv) is wanted


# ----- a reader that closes the pipe early ------------------------------------------------------------------------

# region: (secrets, healthy). Each broken secret is about 2.6 KB of JSON, each healthy one 1 KB: 250 KB in all.
MANY = {"us-east-1": (100, False), "us-west-2": (250, True)}


@pytest.fixture(scope="module")
def many_secrets(moto_server: str) -> str:
    """On the moto server: us-east-1 holds broken secrets (the demo's account), us-west-2 healthy ones."""
    import os

    saved = os.environ.get("AWS_ENDPOINT_URL")
    os.environ["AWS_ENDPOINT_URL"] = moto_server
    try:
        for region, (count, healthy) in MANY.items():
            builder = AccountBuilder(AwsClients(boto3.session.Session(region_name=region), region=region))
            orders = scenarios.orders(builder, endpoint=healthy, db_admits_function=healthy)
            for index in range(count - 1):
                value = {**orders.db, "password": scenarios.CANARY_PASSWORD}
                builder.rotated_secret(f"many/{index:03}", value, orders.function_arn)
    finally:
        if saved is None:
            os.environ.pop("AWS_ENDPOINT_URL")
        else:
            os.environ["AWS_ENDPOINT_URL"] = saved
    return moto_server


@pytest.mark.moto_server
@pytest.mark.parametrize(("region", "status"), [("us-east-1", 1), ("us-west-2", 0)])
def test_a_reader_that_closes_the_pipe_early_ends_the_scan_quietly_with_its_own_status(
    many_secrets: str, region: str, status: int
) -> None:
    env = _env(many_secrets) | {"AWS_REGION": region}
    whole = subprocess.run(
        [_command(), "scan", "--format", "json"], env=env, capture_output=True, text=True, timeout=300
    )
    assert whole.returncode == status and len(json.loads(whole.stdout)) == MANY[region][0]
    # More than the pipe (64 KiB), stdout's buffer and the reader's together hold: the scan is still writing when the
    # reader leaves.
    assert len(whole.stdout) > 2 * 65536

    # As `rotation-doctor scan --format json | head -1`: one line read, then the pipe closed.
    cut = subprocess.Popen(
        [_command(), "scan", "--format", "json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert cut.stdout is not None and cut.stderr is not None
    assert cut.stdout.readline() == b"[\n"
    cut.stdout.close()
    err = cut.stderr.read().decode()
    assert cut.wait(timeout=300) == status  # the verdicts it computed, told though their output was cut short
    assert "Traceback" not in err and "BrokenPipeError" not in err and "Exception ignored" not in err
    assert scenarios.CANARY_PASSWORD not in err


# ----- shell completion -------------------------------------------------------------------------------------------


def subcommands() -> list[str]:
    parser = cli._parser()
    return [name for action in parser._actions if action.dest == "command" for name in action.choices or ()]


def bash_completes(script: Path, *words: str) -> list[str]:
    """What bash offers after `words` (the last one being typed), as the script's completion function answers it, in
    the script's directory."""
    line = " ".join(f"'{w}'" for w in words)
    shell = f"source {script}; COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; _shtab_rotation_doctor; "
    done = subprocess.run(
        ["bash", "-c", shell + 'printf "%s\\n" "${COMPREPLY[@]}"'],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=script.parent,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_completion_scripts_are_generated_from_the_parser(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    names = subcommands()
    assert {"diagnose", "scan", "what-if", "proposals", "completion"} <= set(names)

    code, out, _ = run(capsys, "completion", "bash")
    assert code == 0
    script = tmp_path / "rotation-doctor.bash"
    script.write_text(out)
    syntax = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=30)
    assert syntax.returncode == 0 and syntax.stderr == ""
    assert "complete -o bashdefault -F _shtab_rotation_doctor rotation-doctor" in out
    assert bash_completes(script, "rotation-doctor", "") == names
    assert bash_completes(script, "rotation-doctor", "di") == ["diagnose"]
    assert bash_completes(script, "rotation-doctor", "scan", "--fo") == ["--format"]
    assert bash_completes(script, "rotation-doctor", "diagnose", "x", "--format", "") == ["text", "json", "mermaid"]
    assert bash_completes(script, "rotation-doctor", "proposals", "ap") == ["approve"]
    (tmp_path / "plan.json").write_text("{}")  # --terraform-plan FILE and --output FILE complete file names
    assert bash_completes(script, "rotation-doctor", "what-if", "--terraform-plan", "pl") == ["plan.json"]
    assert bash_completes(script, "rotation-doctor", "what-if", "--output", "pl") == ["plan.json"]

    code, out, _ = run(capsys, "completion", "zsh")
    assert code == 0 and out.startswith("#compdef rotation-doctor")
    for name in names:
        assert f"    {name}:'" in out, name  # each subcommand, with its help
    assert "_files" in out


def test_completion_without_shtab_says_how_to_install_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "shtab", None)  # as if not installed: importing it raises ImportError
    code, out, err = run(capsys, "completion", "bash")
    assert code == 2 and out == ""
    assert err == (
        "rotation-doctor: completion scripts are made by shtab, which is not installed: from a clone, "
        "pip install '.[completion]' (or pip install shtab)\n"
    )

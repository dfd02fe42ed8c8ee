"""The command as a user coming from the AWS CLI expects it: --version, help on everything, options
anywhere, the region an ARN names, settings that cannot work named with exit 2, errors as JSON."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rotation_doctor.cli import main as cli
from rotation_doctor.model.plan import FixKind
from rotation_doctor.simulated import scenarios
from rotation_doctor.simulated.account import AccountBuilder

SECRET = scenarios.DEMO_SECRET


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        code = cli.main(list(args))
    except SystemExit as exc:  # argparse's --version and --help
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("rotation-doctor ") and out.split()[1][0].isdigit()


def test_every_argument_has_help() -> None:
    parser = cli._parser()
    missing = []

    def walk(p: object, path: str) -> None:
        for action in p._actions:  # type: ignore[attr-defined]
            if action.help is None and action.dest not in ("help",):
                missing.append(f"{path} {action.dest}")
            choices = getattr(action, "choices", None)
            for name, child in choices.items() if isinstance(choices, dict) else ():
                walk(child, f"{path} {name}")

    walk(parser, "rotation-doctor")
    assert missing == []


def test_global_options_are_accepted_after_the_subcommand(
    builder: AccountBuilder, capsys: pytest.CaptureFixture[str]
) -> None:
    scenarios.orders(builder, endpoint=True, db_admits_function=True)
    before = run(capsys, "-v", "--region", "us-east-1", "diagnose", SECRET, "--format", "json")
    after = run(capsys, "diagnose", SECRET, "--format", "json", "-v", "--region", "us-east-1")
    assert before[0] == after[0] == 0
    assert json.loads(before[1])["verdict"] == json.loads(after[1])["verdict"] == "healthy"
    parse = cli._parser().parse_args
    assert parse(["diagnose", SECRET, "-v"]).verbose is True and parse(["-v", "diagnose", SECRET]).verbose is True
    assert parse(["diagnose", SECRET]).verbose is False
    assert parse(["scan", "--profile", "p"]).profile == "p" == parse(["--profile", "p", "scan"]).profile


def test_a_secret_arn_names_its_own_region(
    builder: AccountBuilder, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    o = scenarios.orders(builder, endpoint=True, db_admits_function=True)
    monkeypatch.setenv("AWS_REGION", "eu-west-1")  # the ARN says us-east-1, where the secret is
    code, out, _ = run(capsys, "diagnose", o.secret_arn, "--format", "json")
    assert code == 0 and json.loads(out)["secret"]["arn"] == o.secret_arn
    code, out, err = run(capsys, "diagnose", o.secret_arn, "--region", "eu-west-1", "--format", "json")
    assert code == 2 and json.loads(out)["error"]["setting"] == "--region" and "us-east-1" in err


@pytest.mark.parametrize(
    ("env", "setting"),
    [
        ({"AWS_REGION": "mars-1"}, "AWS_REGION"),
        ({"AWS_PROFILE": "no-such-profile"}, "AWS_PROFILE"),
        ({"AWS_ENDPOINT_URL": "localhost:4566"}, "AWS_ENDPOINT_URL"),
    ],
)
def test_a_setting_that_cannot_work_is_bad_input_named_in_json(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, env: dict[str, str], setting: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    code, out, err = run(capsys, "diagnose", "x", "--format", "json")
    assert code == 2
    error = json.loads(out)["error"]
    assert error["kind"] == "bad_input" and error["setting"] == setting and setting in err
    assert len(err.splitlines()) == 1


@pytest.fixture
def html_error_endpoint() -> Iterator[str]:
    """A proxy that answers every request with a whole HTML error page, as corporate proxies do."""

    class Page(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = b"<html>\n<head><title>502 Bad Gateway</title></head>\n<body>\n" + b"<p>x</p>\n" * 500 + b"</html>"
            self.send_response(502)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_remote_error_page_is_cut_to_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, html_error_endpoint: str
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", html_error_endpoint)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    code, out, err = run(capsys, "diagnose", "x", "--format", "json")
    assert code == 3 and len(err.splitlines()) == 1 and len(err) < 400
    assert json.loads(out)["error"]["kind"] == "aws_error"


def test_rotation_off_has_its_own_headline(builder: AccountBuilder, capsys: pytest.CaptureFixture[str]) -> None:
    builder.clients.secretsmanager.create_secret(Name="static/db", SecretString='{"host": "h", "port": 5432}')
    _, out, _ = run(capsys, "diagnose", "static/db")
    assert out.splitlines()[0] == "static/db: NOT ROTATED — rotation is off"
    _, out, _ = run(capsys, "diagnose", "static/db", "--format", "json")
    assert json.loads(out)["verdict"] == "healthy"  # the contract's verdict is kept


def test_fix_applies_only_the_plan_that_was_read(builder: AccountBuilder, capsys: pytest.CaptureFixture[str]) -> None:
    scenarios.orders(builder, endpoint=True)
    code, out, _ = run(capsys, "plan", SECRET, "--format", "json")
    payload = json.loads(out)
    read_hash = payload.get("plan_hash")
    code, out, _ = run(capsys, "plan", SECRET)
    shown = out.split("hash ", 1)[1].split(",", 1)[0]  # as a person copies it from the text
    assert len(shown) == 12 and (read_hash is None or read_hash.startswith(shown))
    code, out, _ = run(capsys, "fix", SECRET, "--approve", "--plan-hash", "0" * 12, "--format", "json")
    stale = json.loads(out)
    assert code == 1 and stale["status"] == "stale" and stale["applied"] == [] and stale["plan"]
    code, out, _ = run(capsys, "fix", SECRET, "--approve", "--plan-hash", shown, "--format", "json")
    assert code == 0 and json.loads(out)["applied"] == [str(FixKind.AUTHORIZE_DB_INGRESS)]
    code, out, _ = run(capsys, "fix", SECRET, "--approve", "--plan-hash", "abc", "--format", "json")
    assert code == 2 and json.loads(out)["error"]["setting"] == "--plan-hash"


def test_permissions_prints_the_policy_to_attach(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "permissions")
    reads = json.loads(out)
    assert code == 0 and [s["Sid"] for s in reads["Statement"]] == [
        "Diagnose",
        "ReadSecretValues",
        "ReadFunctionLogs",
        "DecryptSecretsThroughSecretsManagerOnly",
    ]
    code, out, _ = run(capsys, "permissions", "--fix")
    sids = [s["Sid"] for s in json.loads(out)["Statement"]]
    assert "OptOutTagIsFinal" in sids and "SecretsManagerEndpointsOnly" in sids and "RetryRotation" in sids
    assert "FunctionVpcSettings" in sids  # a person's own credentials: every fix kind


def test_the_demo_hint_names_an_install_that_works_from_a_clone() -> None:
    from pathlib import Path

    import rotation_doctor.cli.demo as demo

    assert "pip install '.[demo]'" in Path(demo.__file__).read_text()

"""The Lambda artifact checked as the runtime would load it: the runtime's own Python, the locked wheels for its
platform, each handler imported in a clean environment and probed (`make package` in test_packaging, `sam build` in
test_sam_build, the approval function's light artifact in test_approval_artifact, the lock in test_lock)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "package_lambda.py"
# An index nobody answers on: the build must not need one.
OFFLINE = {**os.environ, "PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_NO_INDEX": "1"}


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, check=True, capture_output=True, text=True, env=env, timeout=600)


def download(version: str) -> Path:
    """The locked wheels for `version` into .wheelhouse (once: pip skips what is there), boto3's among them."""
    wheelhouse = ROOT / ".wheelhouse" / f"py{version.replace('.', '')}"
    run(sys.executable, str(SCRIPT), "download", "--python-version", version, "--wheelhouse", str(wheelhouse))
    return wheelhouse


def build(version: str, out: Path, *options: str) -> Path:
    wheelhouse = download(version)
    run(
        sys.executable,
        str(SCRIPT),
        "build",
        "--python-version",
        version,
        "--wheelhouse",
        str(wheelhouse),
        "--out",
        str(out),
        *options,
        env=OFFLINE,
    )
    return wheelhouse


# What each handler's artifact does in the clean environment once imported, and what it prints. The worker parses an
# event (pydantic, loaded lazily). The approval function answers requests (a proposal that does not exist, with
# DynamoDB stubbed; a page that does not exist), each with the page's security headers, and makes what a decision's
# Slack notice needs (slack_sdk, loaded lazily: the webhook's client, with Secrets Manager stubbed, and the blocks).
HANDLER_PROBES = {
    "handlers.worker": (
        "import rotation_doctor.service.events as e; "
        "print(type(e.parse({'version': '0', 'id': 'x', 'detail-type': 'Scheduled Event', 'source': "
        "'aws.events', 'account': '1', 'time': '2026-11-29T00:00:00Z', 'region': 'us-east-1', "
        "'resources': [], 'detail': {}})).__name__)",
        "Sweep",
    ),
    "handlers.approval": (
        """
from botocore.stub import Stubber
import handlers.approval as approval
from rotation_doctor.approvals import page
from rotation_doctor.collect.aws import AwsClients
from rotation_doctor.notify import messages, slack
arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:"
env = {
    "PROPOSALS_TABLE": "proposals",
    "SIGNING_KEY_SECRET_ARN": arn + "signing-AbCdEf",
    "EVENTS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/events",
    "NOTIFICATION_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:notices",
    "SLACK_WEBHOOK_SECRET_ARN": arn + "slack-AbCdEf",
}
clients = AwsClients()
deps = approval.build_approvals(env, clients)
def get(path, query=None):
    http = {"method": "GET", "path": path}
    event = {"version": "2.0", "rawPath": path, "rawQueryString": "", "queryStringParameters": query,
             "headers": {}, "requestContext": {"stage": "$default", "http": http}, "isBase64Encoded": False}
    answer = approval.run(event, None, deps)
    secured = all(answer["headers"].get(k) == v for k, v in page.SECURITY_HEADERS.items())
    return f"{answer['statusCode']}{'' if secured else ' unsecured'}: {answer['body'].count('There is no such')}"
with Stubber(clients.dynamodb) as table:
    table.add_response("get_item", {})
    missing = get("/proposals/p-1", {"approve": "token"})
with Stubber(clients.secretsmanager) as secrets:
    secrets.add_response("get_secret_value", {"SecretString": "https://hooks.slack.com/services/T0/B0/x"})
    webhook = slack.SlackWebhook(clients, env["SLACK_WEBHOOK_SECRET_ARN"])._webhook()
from rotation_doctor.model.diagnosis import Diagnosis
from rotation_doctor.model.findings import Verdict
rejected = Diagnosis(arn + "prod/db-AbCdEf", "prod/db", Verdict.BROKEN, ())
said = slack.blocks(messages.build(messages.Kind.REJECTED, rejected, [], mode="propose", proposal_id="p-1"))
print(missing, get("/elsewhere"), type(webhook).__name__, bool(said))
""",
        "404: 1 404: 1 WebhookClient True",
    ),
}


def assert_handlers_import(packages: list[tuple[Path, str, str]], wheelhouse: Path, venv: Path) -> None:
    """Each (artifact, module, function) imports in a virtual environment holding only boto3, as Lambda's does, and
    does there what its probe in HANDLER_PROBES asks (the lazy imports of its paths are in the artifact)."""
    run(sys.executable, "-m", "venv", str(venv))
    python = str(venv / "bin" / "python")
    run(python, "-m", "pip", "install", "--quiet", "--no-index", "--find-links", str(wheelhouse), "boto3", env=OFFLINE)
    env = {
        "PATH": os.environ["PATH"],
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "PYTHONNOUSERSITE": "1",
    }
    assert packages
    for package, module, function in packages:
        probe, expected = HANDLER_PROBES[module]
        script = (
            f"import sys; sys.path.insert(0, {str(package)!r}); import {module} as m; assert callable(m.{function})"
        )
        out = run(python, "-I", "-c", f"{script}\n{probe}", env=env)
        assert out.stdout.strip().splitlines()[-1] == expected, (module, out.stdout[-2000:], out.stderr[-2000:])


def runtime_version() -> str:
    runtime = re.search(r"Runtime:\s*python(\d\.\d+)", (ROOT / "template.yaml").read_text())
    assert runtime is not None
    return runtime.group(1)


def assert_built_for_the_runtime(package: Path, version: str, *, closure_of: str | None = None) -> None:
    """Its binaries are CPython `version` on x86_64; it leaves out what the runtime ships and compiles nothing.
    `closure_of`: an artifact holding only that handler module's import closure (the approval function's)."""
    tag = f"cpython-{version.replace('.', '')}-x86_64-linux-gnu"
    binaries = [p.name for p in package.rglob("*.so")]
    assert all(tag in name for name in binaries), binaries
    if closure_of is None:
        assert list((package / "pydantic_core").glob(f"*{tag}.so")), f"pydantic_core is not built for {tag}"
        assert binaries
        assert (package / "handlers" / "worker.py").exists() and (package / "handlers" / "approval.py").exists()
    else:
        assert package.joinpath(*closure_of.split(".")).with_suffix(".py").exists()
    assert not (package / "boto3").exists() and not (package / "botocore").exists()
    assert not (package / "rotation_doctor" / "simulated").exists()
    # Bytecode compiled here would be for this machine's Python: the runtime's never reads it.
    compiled = [p for p in package.rglob("*") if p.name == "__pycache__" or p.suffix in (".pyc", ".pyo")]
    assert compiled == [], compiled[:5]

"""`make package`: the artifact builds offline for the Lambda platform, and its handlers import in a clean
environment that has only what the Lambda runtime has (Python and boto3)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "package_lambda.py"
# An index nobody answers on: the build must not need one.
OFFLINE = {**os.environ, "PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_NO_INDEX": "1"}


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, check=True, capture_output=True, text=True, env=env, timeout=600)


def handlers() -> list[tuple[str, str]]:
    text = (ROOT / "template.yaml").read_text()
    return [tuple(m.rsplit(".", 1)) for m in re.findall(r"Handler:\s*(\S+)", text)]  # type: ignore[misc]


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
said = slack.blocks(messages.build(messages.Kind.REJECTED, {}, [], mode="propose", proposal_id="p-1"))
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


@pytest.mark.packaging
def test_packaged_handlers_import_in_a_clean_environment(tmp_path: Path) -> None:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    package = tmp_path / "package"
    wheelhouse = build(version, package)
    assert not (package / "boto3").exists() and not (package / "botocore").exists()  # the runtime has them
    assert not (package / "rotation_doctor" / "simulated").exists() and not (package / "moto").exists()
    assert_handlers_import(
        [(package, module, function) for module, function in handlers()], wheelhouse, tmp_path / "rt"
    )


@pytest.mark.packaging
def test_the_lambda_artifact_is_built_for_the_runtime(tmp_path: Path) -> None:
    version = runtime_version()
    package = tmp_path / "package"
    build(version, package)
    assert_built_for_the_runtime(package, version)


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


@pytest.mark.browser
def test_the_readme_picture_is_made_by_the_script(tmp_path: Path) -> None:
    """docs/approval-page.png comes from scripts/screenshot_approval_page.py (make screenshot)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("screenshot", ROOT / "scripts" / "screenshot_approval_page.py")
    assert spec is not None and spec.loader is not None
    screenshot = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(screenshot)
    html = screenshot.page_html()
    assert "Approve and apply" in html and "CREATE_SECRETSMANAGER_ENDPOINT" in html
    out = tmp_path / "page.png"
    screenshot.photograph(html, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20_000
    assert (ROOT / "docs" / "approval-page.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def make_with_only(tmp_path: Path, pythons: dict[str, Path], *args: str) -> subprocess.CompletedProcess[str]:
    """`make` with a PATH holding only `pythons` (name → interpreter or script), as on a machine with no other."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, target in pythons.items():
        (bin_dir / name).symlink_to(target)
    return subprocess.run(
        ["/usr/bin/make", "-C", str(ROOT), *args],
        env={"PATH": str(bin_dir)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_make_says_which_python_it_needs_when_only_an_older_one_exists(tmp_path: Path) -> None:
    old = tmp_path / "python3.9"
    old.write_text('#!/bin/sh\n[ "$1" = --version ] && { echo "Python 3.9.2"; exit 0; }\nexit 1\n')
    old.chmod(0o755)
    done = make_with_only(tmp_path, {"python3": old}, "package")
    assert done.returncode != 0
    assert "rotation-doctor needs Python 3.11, 3.12 or 3.13 (found: Python 3.9.2)" in done.stderr
    assert "make package PYTHON=/path/to/python3.13" in done.stderr


def test_make_finds_a_python_3_12_when_it_is_the_only_one(tmp_path: Path) -> None:
    """By its name, as a machine without python3.11 has it (this one's interpreter stands in)."""
    done = make_with_only(tmp_path, {"python3.12": Path(sys.executable)}, "-n", "package")
    assert done.returncode == 0, done.stderr
    assert f"{tmp_path / 'bin' / 'python3.12'} scripts/package_lambda.py build --python-version 3.13" in done.stdout

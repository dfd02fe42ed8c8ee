"""Shared fixtures. Clients are made once per session; each test gets a fresh simulated account."""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import boto3
import moto  # noqa: F401  (registers moto's botocore hook before any session exists)
import pytest

if TYPE_CHECKING:
    from rotation_doctor.simulated.account import AccountBuilder

os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
for _key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
    os.environ.pop(_key, None)

REGION = "us-east-1"


@pytest.fixture(scope="session")
def clients():  # type: ignore[no-untyped-def]
    from rotation_doctor.collect.aws import AwsClients

    return AwsClients(boto3.session.Session(region_name=REGION), region=REGION)


@pytest.fixture
def builder(clients) -> Iterator[object]:  # type: ignore[no-untyped-def]
    from rotation_doctor.simulated import simulated_aws
    from rotation_doctor.simulated.account import AccountBuilder
    from tests.faults import undo_failures

    with simulated_aws():
        clients.counter.calls.clear()
        try:
            yield AccountBuilder(clients)
        finally:
            undo_failures()


@pytest.fixture
def webhook_server() -> Iterator[dict[str, Any]]:
    """A real HTTP server on localhost standing in for Slack's incoming webhook."""
    state: dict[str, Any] = {"posts": [], "fail_first": 0}

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state["posts"].append(
                {"path": self.path, "content_type": self.headers["Content-Type"], "json": json.loads(body)}
            )
            failing = state["fail_first"] > 0
            state["fail_first"] -= 1
            self.send_response(500 if failing else 200)
            self.end_headers()
            self.wfile.write(b"error" if failing else b"ok")

        def log_message(self, *_: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/XXXX"
    yield state
    server.shutdown()


@pytest.fixture
def endpoint_never_available(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto makes endpoints available at once; AWS can leave one pending. Make every new one stay pending."""
    from moto.ec2.models.vpcs import VPCEndPoint

    made = VPCEndPoint.__init__

    def pending(self: Any, *args: Any, **kwargs: Any) -> None:
        made(self, *args, **kwargs)
        self.state = "pending"

    monkeypatch.setattr(VPCEndPoint, "__init__", pending)


def topic_with_inbox(clients: Any) -> tuple[str, str]:
    """The notification topic, and a queue subscribed to it where a test reads what people were told."""
    topic = clients.sns.create_topic(Name="rotation-doctor")["TopicArn"]
    inbox = clients.sqs.create_queue(QueueName="inbox")["QueueUrl"]
    inbox_arn = clients.sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    clients.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
    return topic, inbox


HANDOFF_KEY = "k" * 64  # the approval function's signing key, from which the hand-offs' key is derived


@pytest.fixture
def service(builder: AccountBuilder, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The worker Lambda on the simulated account: `make(mode)` builds it, `deliver(*bodies)` hands it an SQS batch."""
    import handlers.worker as worker_module
    from rotation_doctor.approvals.store import ProposalStore, create_table
    from rotation_doctor.simulated.lambda_runtime import SimulatedContext, sqs_event

    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "RotationDoctor")
    clients = builder.clients
    create_table(clients, "proposals")
    create_table(clients, "idempotency")
    dlq = clients.sqs.create_queue(QueueName="rotation-doctor-dlq")["QueueUrl"]
    # The approval function's key, as the template hands it to both functions: hand-offs are signed with it.
    signing_key = clients.secretsmanager.create_secret(Name="rotation-doctor/signing-key", SecretString=HANDOFF_KEY)

    def make(mode: str = "propose", **extra: str) -> Any:
        env = {
            "PROPOSALS_TABLE": "proposals",
            "IDEMPOTENCY_TABLE": "idempotency",
            "DEAD_LETTER_QUEUE_URL": dlq,
            "ROTATION_DOCTOR_MODE": mode,
            "SIGNING_KEY_SECRET_ARN": signing_key["ARN"],
            **extra,
        }
        worker = worker_module.build_worker(env, clients)
        worker.executor.poll = 0.01
        monkeypatch.setattr(worker_module, "_default_worker", lambda: worker)
        return worker

    def deliver(*bodies: str) -> dict[str, Any]:
        return dict(worker_module.handler(sqs_event(*bodies), SimulatedContext()))

    yield SimpleNamespace(
        make=make,
        deliver=deliver,
        store=ProposalStore(clients, "proposals"),
        dead_letter_queue=dlq,
        key=HANDOFF_KEY.encode(),
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    """A local moto server (what `AWS_ENDPOINT_URL` points the installed command at, tests/cli_process.py)."""
    from moto.core.models import default_user_config
    from moto.server import ThreadedMotoServer

    from rotation_doctor.simulated import moto_fidelity

    moto_fidelity.apply()
    previous = default_user_config.get("lambda")
    default_user_config["lambda"] = {"use_docker": False}
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        if previous is None:
            default_user_config.pop("lambda", None)
        else:
            default_user_config["lambda"] = previous

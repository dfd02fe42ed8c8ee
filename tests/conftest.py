"""Shared fixtures. Clients are made once per session; each test gets a fresh simulated account."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import moto  # noqa: F401  (registers moto's botocore hook before any session exists)
import pytest

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

    with simulated_aws():
        clients.counter.calls.clear()
        yield AccountBuilder(clients)


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

"""Cold start with tracing on: importing a handler loads no X-Ray SDK; the worker's first invocation makes the
tracer, patches botocore before its first AWS call, and that call is traced as a subsegment of the invocation.

Each check runs in a fresh interpreter: patching botocore is process-wide, and Powertools' Tracer keeps its
configuration on the class, so neither may leak into (or from) the other tests.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from tests.worker_events import TRACE_ROOT, lambda_env


def run_python(code: str, env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("module", ["handlers.worker", "handlers.approval"])
def test_importing_a_handler_with_tracing_on_loads_no_xray_sdk(module: str) -> None:
    loaded = run_python(f"import sys, {module}; print('aws_xray_sdk' in sys.modules)", lambda_env())
    assert loaded == "False"


# The first invocation: a rotation failure for a secret the account does not hold, so the worker makes an AWS call
# (Secrets Manager) and reports it; moto answers.
FIRST_INVOCATION = """
import json, sys
from moto import mock_aws
with mock_aws():
    import botocore.client
    import handlers.worker as worker
    from rotation_doctor.simulated.lambda_runtime import SimulatedContext, sqs_event
    from tests.worker_events import rotation_failed
    imported = {"xray": "aws_xray_sdk" in sys.modules, "botocore_patched": hasattr(botocore.client, "_xray_enabled")}
    gone = "arn:aws:secretsmanager:us-east-1:123456789012:secret:gone-AbCdEf"
    response = worker.handler(sqs_event(rotation_failed(gone)), SimulatedContext())
    invoked = {"xray": "aws_xray_sdk" in sys.modules, "botocore_patched": hasattr(botocore.client, "_xray_enabled")}
print(json.dumps({"imported": imported, "invoked": invoked, "response": response}))
"""


def test_first_traced_invocation_patches_botocore_and_traces_its_aws_calls() -> None:
    # The X-Ray daemon's place: a UDP socket of our own that collects what the SDK emits.
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(1.0)
    port = daemon.getsockname()[1]
    try:
        out = json.loads(
            run_python(
                FIRST_INVOCATION, lambda_env(AWS_XRAY_DAEMON_ADDRESS=f"127.0.0.1:{port}", PYTHONWARNINGS="ignore")
            )
        )
        documents = []
        while True:
            try:
                datagram = daemon.recv(65536)
            except TimeoutError:
                break
            header, _, body = datagram.decode().partition("\n")
            assert json.loads(header) == {"format": "json", "version": 1}
            documents.append(json.loads(body))
    finally:
        daemon.close()

    assert out["imported"] == {"xray": False, "botocore_patched": False}
    assert out["invoked"] == {"xray": True, "botocore_patched": True}
    assert out["response"] == {"batchItemFailures": []}
    assert documents and {d["trace_id"] for d in documents} == {TRACE_ROOT}
    [handler] = [d for d in documents if d["name"] == "## handler"]
    assert handler["annotations"] == {"ColdStart": True, "Service": "rotation-doctor"}
    aws_calls = [d for d in documents if d.get("namespace") == "aws"]
    assert aws_calls, [d["name"] for d in documents]
    for call in aws_calls:  # each AWS call is a subsegment within the handler's
        assert call["parent_id"] == handler["id"]
    assert {c["aws"]["operation"] for c in aws_calls} >= {"DescribeSecret"}

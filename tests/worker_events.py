"""Events as the worker receives them (real-shaped, from tests/events/, with the simulated account's ids), the
Lambda environment the handlers run in, and what their logs say."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

from rotation_doctor.simulated import scenarios
from rotation_doctor.simulated.account import AccountBuilder, tcp

EVENTS = Path(__file__).resolve().parent / "events"
# The ids the recorded events name, replaced by the simulated account's (`real_shaped(name, **{FICTIONAL_DB_SG: ...})`).
FICTIONAL_DB_SG = "sg-0db5ec0000000a001"
FICTIONAL_FN_SG = "sg-0f0ec00000000a002"
FICTIONAL_VPC = "vpc-0a1b2c3d4e5f60001"


def load(name: str) -> dict[str, Any]:
    return dict(json.loads((EVENTS / name).read_text()))


def rotation_failed(secret_arn: str, event_id: str | None = None) -> str:
    raw = json.loads((EVENTS / "rotation_failed_eventbridge.json").read_text())
    raw["id"] = event_id or str(uuid.uuid4())
    raw["account"] = raw["detail"]["recipientAccountId"] = "123456789012"
    raw["region"] = raw["detail"]["awsRegion"] = "us-east-1"
    raw["detail"]["additionalEventData"]["SecretId"] = secret_arn
    return json.dumps(raw)


def real_shaped(name: str, **ids: str) -> str:
    text = (EVENTS / name).read_text()
    for fictional, real in ids.items():
        text = text.replace(fictional, real)
    raw = json.loads(text)
    raw["id"] = str(uuid.uuid4())
    return json.dumps(raw)


ROOT = Path(__file__).resolve().parents[1]

TRACE_ROOT = "1-5759e988-bd862e3fe1be46a994272793"

# As in Lambda with `Tracing: Active`: Powertools enables its tracer only where LAMBDA_TASK_ROOT is set.
LAMBDA_ENV = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_LAMBDA_FUNCTION_NAME": "rotation-doctor-worker",
    "LAMBDA_TASK_ROOT": str(ROOT),
    "POWERTOOLS_SERVICE_NAME": "rotation-doctor",
    "POWERTOOLS_METRICS_NAMESPACE": "RotationDoctor",
    "_X_AMZN_TRACE_ID": f"Root={TRACE_ROOT};Parent=53995c3f42cd8ad8;Sampled=1",
    "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    "PYTHONPATH": str(ROOT),
}


def lambda_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "_X_AMZN"))}
    return {**env, **LAMBDA_ENV, **extra}


def metric_values(out: str, name: str) -> list[float]:
    """The values of an EMF metric the worker emitted."""
    found: list[float] = []
    for line in out.splitlines():
        if '"_aws"' in line:
            value = json.loads(line).get(name)
            if value is not None:
                found += value if isinstance(value, list) else [value]
    return found


def revoke_function_rule(b: AccountBuilder, o: scenarios.Orders) -> None:
    """The change a Terraform apply makes in the tests: the database's rule for the function's group, revoked."""
    # moto matches a revoke on the rule's description as well (AWS does not): pass the one it was made with.
    b.ec2.revoke_security_group_ingress(
        GroupId=o.db_sg, IpPermissions=[tcp(5432, group=o.fn_sg, description="rotation")]
    )

"""One risky change that affects N secrets, through the worker handler: AWS calls and time for N = 10, 100, 1,000.

The account of bench/scan_calls.py (five functions, one VPC, a database per ten secrets, a third of them
closed to the functions). The change: one rule revoked from the functions' group, which every secret's
path uses, delivered as the real-shaped CloudTrail event. Mode `propose`: every broken secret gets a
proposal (one DynamoDB write each, counted apart). Run: `make bench`.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _account import make_clients, markdown_table
from scan_calls import build

from rotation_doctor.approvals.store import create_table
from rotation_doctor.simulated import simulated_aws
from rotation_doctor.simulated.account import AccountBuilder
from rotation_doctor.simulated.lambda_runtime import SimulatedContext, sqs_event

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # the worker's JSON lines are not the benchmark's output
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "RotationDoctor")


def main() -> int:
    import handlers.worker as worker_module

    clients = make_clients()
    rows = []
    for n in (10, 100, 1000):
        with simulated_aws():
            b = AccountBuilder(clients)
            build(b, n)
            create_table(clients, "proposals")
            create_table(clients, "idempotency")
            worker = worker_module.build_worker(
                {"PROPOSALS_TABLE": "proposals", "IDEMPOTENCY_TABLE": "idempotency", "ROTATION_DOCTOR_MODE": "propose"},
                clients,
            )
            fn_sg = next(
                g["GroupId"]
                for g in b.ec2.describe_security_groups()["SecurityGroups"]
                if g["GroupName"] == "orders-rotation"
            )
            event = json.loads((ROOT / "tests/events/revoke_sg_ingress_items.json").read_text())
            event["detail"]["requestParameters"]["groupId"] = fn_sg
            worker_module._default_worker = lambda w=worker: w  # type: ignore[assignment]
            clients.counter.calls.clear()
            started = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):  # the metrics Powertools prints (EMF)
                worker_module.handler(sqs_event(json.dumps(event)), SimulatedContext(remaining_ms=900_000))
            elapsed = time.perf_counter() - started
            calls = clients.counter.calls
            dynamodb = sum(v for k, v in calls.items() if k.startswith("dynamodb:"))
            proposals = calls["dynamodb:PutItem"] - 1  # one PutItem is the idempotency record
            rows.append(
                (
                    n,
                    clients.counter.total - dynamodb,
                    calls["secretsmanager:ListSecrets"],
                    calls["secretsmanager:BatchGetSecretValue"],
                    proposals,
                    dynamodb,
                    f"{elapsed:.2f}",
                )
            )
    print(
        markdown_table(
            (
                "secrets affected",
                "AWS calls (reads)",
                "ListSecrets",
                "BatchGetSecretValue",
                "proposals",
                "DynamoDB calls",
                "seconds (moto)",
            ),
            rows,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""One risky change that affects N secrets, through the worker handler: AWS calls and time for N = 10, 100, 1,000;
and for 10 with 100,000 decided proposals already stored (the history the table keeps), which must cost the same
DynamoDB calls as with none: reconciliation reads the sparse index of open proposals, never the whole table.

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
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _account import make_clients
from _output import finish, options, parser, table
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
    options(parser(__doc__))
    import handlers.worker as worker_module

    clients = make_clients()
    rows = []
    for n, decided in ((10, 0), (100, 0), (1000, 0), (10, 100_000)):
        with simulated_aws():
            b = AccountBuilder(clients)
            build(b, n)
            create_table(clients, "proposals")
            create_table(clients, "idempotency")
            store_decided(clients, decided)
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
                    f"{decided:,}",
                    clients.counter.total - dynamodb,
                    calls["secretsmanager:ListSecrets"],
                    calls["secretsmanager:BatchGetSecretValue"],
                    proposals,
                    dynamodb,
                    f"{elapsed:.2f}",
                )
            )
    table(
        (
            "secrets affected",
            "decided proposals stored",
            "AWS calls (reads)",
            "ListSecrets",
            "BatchGetSecretValue",
            "proposals",
            "DynamoDB calls",
            "seconds (moto)",
        ),
        rows,
    )
    finish()
    return 0


def store_decided(clients: Any, count: int) -> None:
    """`count` applied proposals of other secrets, as the worker writes them (no open-index keys once decided)."""
    history = {
        "L": [
            {"M": {"state": {"S": s}, "by": {"S": "bench"}, "note": {"S": ""}, "at": {"N": "1"}}}
            for s in ("proposed", "approved", "applying", "applied")
        ]
    }
    for start in range(0, count, 25):
        items = [
            {
                "id": {"S": f"p-{i:020x}"},
                "secret_arn": {"S": f"arn:aws:secretsmanager:us-east-1:123456789012:secret:old/{i}-AbCdEf"},
                "secret_name": {"S": f"old/{i}"},
                "plan_hash": {"S": f"{i:064x}"},
                "state": {"S": "applied"},
                "created_at": {"N": "1"},
                "expires_at": {"N": "604801"},
                "generation": {"N": "1000000"},
                "plan": {"S": "[]"},
                "diagnosis": {"S": "{}"},
                "max_risk": {"S": "never automatic"},
                "history": history,
            }
            for i in range(start, min(count, start + 25))
        ]
        clients.dynamodb.batch_write_item(RequestItems={"proposals": [{"PutRequest": {"Item": i}} for i in items]})


if __name__ == "__main__":
    sys.exit(main())

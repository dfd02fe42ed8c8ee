"""A burst of 5,000 CloudTrail change events across the organization of bench/organization_scan.py, through the
worker: diagnoses per affected secret, AWS calls, time.

The hub is the management account (the worker's own, as its Lambda ARN names it); the 19 members are reached through
the member role (`ROTATION_DOCTOR_MEMBER_ROLE_NAME`), as deployed. The events are the real-shaped ones of
tests/events/ as a member's bus forwards them (its `account` and `region`), each naming the place's own ids, all of
calls the rules forward (AuthorizeSecurityGroupIngress or ModifyNetworkInterfaceAttribute, say, cannot break a
rotation path and never reach the worker):

- RevokeSecurityGroupIngress of the database group's rule for the functions' group (every secret's path uses the
  functions' group: all 50 secrets of the place are affected);
- ModifySecurityGroupRules of the closed database's group (the ten secrets whose database is closed);
- ModifyDBInstance moving that database into the closed group (the same ten);
- RevokeSecurityGroupIngress of a CIDR rule of the application's group, which no rotation path uses (none).

They come as 200 Terraform applies of 25 calls each (five per account-region, the four kinds in turn), the applies in
a random (seeded) order, each apply's calls one after the other: the queue holds them in that order and Lambda takes
them in SQS batches of 10 (the template's BatchSize). With MaximumBatchingWindowInSeconds 60, a burst fills a batch
of 10 long before the window closes, so every 10 events are one invocation. One container handles every batch here,
one after the other (Lambda would run several at once, each with its own batch and its own cached credentials).
A second, smaller burst puts every event in a random place: the worst order, where a batch spans up to ten places.
Mode `observe`, with the proposals and idempotency tables: DynamoDB calls (idempotency records, the once-a-batch
reconciliation query) are counted apart.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import random
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _account import make_clients
from _output import markdown_table, options, parser
from organization_scan import ACCOUNTS, REGIONS, SECRETS, build_organization

from rotation_doctor.approvals.store import create_table
from rotation_doctor.collect.accounts import DEFAULT_MEMBER_ROLE, AccountSessions, Place
from rotation_doctor.collect.aws import AwsClients
from rotation_doctor.service.settle import DEFAULT_WINDOW
from rotation_doctor.simulated import simulated_aws
from rotation_doctor.simulated.lambda_runtime import SimulatedContext, sqs_event

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "tests" / "events"
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # the worker's JSON lines are not the benchmark's output
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "RotationDoctor")

BURST = 5000
SHUFFLED = 500  # the same burst's kinds, every event in a random place: the worst order (a smaller burst: slow)
APPLY = 25  # calls per Terraform apply
BATCH_SIZE = 10  # template.yaml: the worker's SQS event source
# A batch every this many seconds of the simulated clock: Lambda taking a burst with the worker's reserved concurrency
# (2), a batch that only marks its changes pending taking about 0.1 s. The burst of 5,000 then arrives in 100 s.
BATCH_EVERY = 0.2
# The ids and places the files in tests/events name (fictional): replaced by each place's own.
HUB_SHAPED = ("123456789012", "us-east-1")
MEMBER_SHAPED = ("111111111111", "eu-west-1")
DB_SG, FN_SG = "sg-0db5ec0000000a001", "sg-0f0ec00000000a002"


def place_ids(clients: AwsClients) -> dict[str, str]:
    """The groups the events name, by what they are for."""
    groups = {g["GroupName"]: g["GroupId"] for g in clients.ec2.describe_security_groups()["SecurityGroups"]}
    return {
        "db": groups["orders-db"],
        "fn": groups["orders-rotation"],
        "closed": groups["closed-db"],
        "app": groups["orders-app"],
    }


def event(name: str, place: Place, shaped: tuple[str, str], **replaced: str) -> str:
    """The real-shaped event `name` as `place`'s bus forwards it, with a fresh id."""
    text = (EVENTS / name).read_text()
    for fictional, real in replaced.items():
        text = text.replace(fictional, real)
    text = text.replace(shaped[0], place.account).replace(shaped[1], place.region)
    raw = json.loads(text)
    raw["id"] = str(uuid.uuid4())
    return json.dumps(raw)


def change(kind: int, place: Place, ids: dict[str, str]) -> str:
    if kind == 0:
        return event(
            "members/revoke_sg_ingress_items.json", place, MEMBER_SHAPED, **{DB_SG: ids["db"], FN_SG: ids["fn"]}
        )
    if kind == 1:
        return event("modify_sg_rules_request.json", place, HUB_SHAPED, **{DB_SG: ids["closed"], FN_SG: ids["app"]})
    if kind == 2:  # db-0002 is the closed database (bench/scan_calls.py: every third of them)
        return event("modify_db_instance.json", place, HUB_SHAPED, **{"orders-db": "db-0002", DB_SG: ids["closed"]})
    return event("revoke_sg_ingress_cli_flat.json", place, HUB_SHAPED, **{"sg-0db5ec0000000a001": ids["app"]})


def burst(places: list[Place], ids: dict[Place, dict[str, str]], size: int) -> list[str]:
    """`size` events as Terraform applies of APPLY calls (the four kinds in turn), the applies in a seeded order."""
    applies = [place for place in places for _ in range(size // APPLY // len(places))]
    random.Random(12).shuffle(applies)
    return [change(i % 4, place, ids[place]) for place in applies for i in range(APPLY)]


def scattered(places: list[Place], ids: dict[Place, dict[str, str]], size: int) -> list[str]:
    """`size` events of the same kinds, each in a random (seeded) place: the worst order for a batch's shared reads."""
    rng = random.Random(13)
    return [change(i % 4, place, ids[place]) for i, place in enumerate(rng.choice(places) for _ in range(size))]


def deliver(clients: AwsClients, events: list[str], window: int) -> dict[str, Any]:
    """The events to a fresh worker (a new container) in SQS batches of BATCH_SIZE, in order, one batch every
    BATCH_EVERY seconds of a simulated clock; each settle message the worker sends itself is delivered (as an
    invocation of its own) once its delay has passed on that clock. `window` 0: no settle window (diagnosed at each
    batch, as before the window existed). The figures of the table's row."""
    import handlers.worker as worker_module

    env = {
        "PROPOSALS_TABLE": "proposals",
        "IDEMPOTENCY_TABLE": "idempotency",
        "ROTATION_DOCTOR_MODE": "observe",
        "ROTATION_DOCTOR_MEMBER_ROLE_NAME": DEFAULT_MEMBER_ROLE,
        "ROTATION_DOCTOR_SETTLE_SECONDS": str(window),
        "EVENTS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/111111111111/rotation-doctor-events",
    }
    worker = worker_module.build_worker(env, clients)
    worker_module._default_worker = lambda: worker  # type: ignore[assignment]
    clock = [1_764_390_000.0]
    woken: list[tuple[float, str]] = []  # (when visible, body): the worker's delayed settle messages
    if worker.settle is not None:
        worker.settle.now = lambda: clock[0]
        worker.settle.send = lambda message, delay: woken.append((clock[0] + delay, message.body()))
    reports: list[list[dict[str, Any]]] = []  # per invocation, the reports of its events
    process = worker.process

    def recorded(*, event: dict[str, object]) -> Any:
        report = process(event=event)
        reports[-1].append(report)
        return report

    worker.process = recorded  # type: ignore[method-assign]
    clients.counter.calls.clear()
    failures = 0
    places_per_batch: list[int] = []
    changed_at: dict[tuple[str, str], list[float]] = {}  # (account, region) -> the times of its batches with changes

    def invoke(batch: list[str]) -> None:
        nonlocal failures
        reports.append([])
        with contextlib.redirect_stdout(io.StringIO()):  # the metrics Powertools prints (EMF)
            answer = worker_module.handler(sqs_event(*batch), SimulatedContext(remaining_ms=900_000))
        failures += len(answer["batchItemFailures"])

    def wake_due() -> None:
        while due := sorted(w for w in woken if w[0] <= clock[0]):
            woken[:] = [w for w in woken if w[0] > clock[0]]
            for i in range(0, len(due), BATCH_SIZE):
                invoke([body for _, body in due[i : i + BATCH_SIZE]])

    started, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(events), BATCH_SIZE):
        batch = events[i : i + BATCH_SIZE]
        batch_places = {(json.loads(b)["account"], json.loads(b)["region"]) for b in batch}
        places_per_batch.append(len(batch_places))
        for place in batch_places:
            changed_at.setdefault(place, []).append(clock[0])
        invoke(batch)
        clock[0] += BATCH_EVERY
        wake_due()
    while woken:  # the burst is over: the last windows settle
        clock[0] = min(at for at, _ in woken)
        wake_due()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu

    calls = clients.counter.calls
    dynamodb = sum(v for k, v in calls.items() if k.startswith("dynamodb:"))
    sqs = sum(v for k, v in calls.items() if k.startswith("sqs:"))
    diagnoses = coalesced = most_in_one_batch = 0
    affected: set[str] = set()
    for invocation in reports:
        diagnosed = Counter(
            s["secret_arn"] for report in invocation for s in report["secrets"] if s["action"] != "coalesced"
        )
        coalesced += sum(1 for report in invocation for s in report["secrets"] if s["action"] == "coalesced")
        diagnoses += sum(diagnosed.values())
        affected |= set(diagnosed)
        most_in_one_batch = max(most_in_one_batch, *diagnosed.values(), 0)
    handled = [report for invocation in reports for report in invocation]
    changes = [r for r in handled if r["trigger"] not in ("settle", "sweep")]
    if failures or len(changes) != len(events) or most_in_one_batch > 1:
        raise SystemExit(f"{failures} failed, {len(changes)} of {len(events)} handled, {most_in_one_batch} a batch")
    settled = [r for r in handled if r["trigger"] == "settle" and r["secrets"]]
    # What "once per window" is measured against: the windows the events' own timing makes (a place's changes less
    # than the default window apart are one window), whatever window the worker ran with. Every window of a place
    # here holds whole applies, each naming the functions' group: its windows affect all its affected secrets.
    windows = {place: quiet_windows(times, DEFAULT_WINDOW) for place, times in changed_at.items()}
    affected_by_place = Counter(secret_place(arn) for arn in affected)
    window_secrets = sum(count * windows[place] for place, count in affected_by_place.items())
    reads = clients.counter.total - dynamodb - sqs  # the worker's own settle messages are not sent here
    return {
        "events": len(events),
        "invocations": len(reports),
        "places_per_batch": round(sum(places_per_batch) / len(places_per_batch), 1),
        "secrets_affected": len(affected),
        "diagnoses": diagnoses,
        "diagnoses_per_secret": round(diagnoses / max(len(affected), 1), 2),
        "windows": sum(windows.values()),
        "diagnoses_per_secret_per_window": round(diagnoses / max(window_secrets, 1), 2),
        "windows_settled": len(settled),
        "coalesced": coalesced,
        "aws_calls": reads,
        "reads_per_event": round(reads / len(events), 2),
        "assume_role": calls["sts:AssumeRole"],
        "dynamodb_calls": dynamodb,
        "settle_messages": sum(1 for r in handled if r["trigger"] == "settle"),
        "seconds": round(elapsed, 1),
        "cpu_seconds": round(cpu, 1),
    }


def quiet_windows(times: list[float], gap: float) -> int:
    """How many windows a place's change times make: a new one after each pause of at least `gap` seconds."""
    ordered = sorted(times)
    return 1 + sum(1 for before, after in itertools.pairwise(ordered) if after - before >= gap)


def secret_place(arn: str) -> tuple[str, str]:
    """A secret ARN's (account, region)."""
    parts = arn.split(":")
    return parts[4], parts[3]


COLUMNS = (
    ("events", "events"),
    ("invocations", "invocations"),
    ("places_per_batch", "account-regions per batch (mean)"),
    ("secrets_affected", "secrets affected"),
    ("diagnoses", "diagnoses"),
    ("diagnoses_per_secret", "diagnoses per affected secret"),
    ("windows", "windows (place, 60 s quiet)"),
    ("diagnoses_per_secret_per_window", "diagnoses per affected secret per window"),
    ("windows_settled", "places settled"),
    ("aws_calls", "AWS calls (reads)"),
    ("reads_per_event", "reads per event"),
    ("assume_role", "AssumeRole"),
    ("dynamodb_calls", "DynamoDB calls"),
    ("seconds", "seconds"),
    ("cpu_seconds", "CPU seconds"),
)


def main() -> int:
    arguments = parser(__doc__)
    arguments.add_argument(
        "--window", type=int, default=DEFAULT_WINDOW, help="the settle window in seconds (0: none, as before)"
    )
    arguments.add_argument("--burst", type=int, default=BURST)
    arguments.add_argument("--shuffled", type=int, default=SHUFFLED)
    chosen = options(arguments)
    clients = make_clients()
    with simulated_aws():
        accounts = build_organization(clients)
        create_table(clients, "proposals")
        create_table(clients, "idempotency")
        sessions = AccountSessions(clients)
        places = [Place(a, r) for a in accounts for r in REGIONS]
        ids = {place: place_ids(sessions.clients(place)) for place in places}
        events = burst(places, ids, chosen.burst)
        shuffled = scattered(places, ids, chosen.shuffled)
        rows = {
            "applies in order": deliver(clients, events, chosen.window),
            "shuffled": deliver(clients, shuffled, chosen.window),
        }
    figures = {
        "accounts": ACCOUNTS,
        "regions": len(REGIONS),
        "secrets_per_place": SECRETS,
        "window_seconds": chosen.window,
        "batch_every_seconds": BATCH_EVERY,
        "orders": rows,
    }
    if chosen.json:
        print(json.dumps(figures))
        return 0
    print(
        f"{ACCOUNTS} accounts x {len(REGIONS)} regions x {SECRETS} secrets; applies of {APPLY} calls, "
        f"in SQS batches of {BATCH_SIZE}, one every {BATCH_EVERY} s; settle window {chosen.window} s\n"
    )
    header = ("queue order", *(title for _, title in COLUMNS))
    print(markdown_table(header, [(order, *(f"{row[k]:,}" for k, _ in COLUMNS)) for order, row in rows.items()]))
    print()
    print("every event handled, at most one diagnosis per secret per batch: yes")
    return 0


if __name__ == "__main__":
    sys.exit(main())

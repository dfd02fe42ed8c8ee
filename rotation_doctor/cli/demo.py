"""`rotation-doctor demo`: the whole story on a simulated account (moto, in process, no network)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time
from typing import Any

from rotation_doctor.cli import render

REGION = "us-east-1"
TABLE = "rotation-doctor-proposals"
IDEMPOTENCY_TABLE = "rotation-doctor-idempotency"


def _say(text: str = "") -> None:
    print(text, flush=True)


def _heading(style: render.Style, number: int, text: str) -> None:
    _say()
    _say(style.bold(f"{number}. {text}"))


def run() -> int:
    try:
        import moto  # noqa: F401
    except ImportError:
        print("rotation-doctor: the demo needs moto: pip install 'rotation-doctor[demo]'", file=sys.stderr)
        return 2
    # The simulated account must never pick up real credentials or endpoints from the environment.
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        os.environ.pop(key, None)
    os.environ.update(AWS_ACCESS_KEY_ID="demo", AWS_SECRET_ACCESS_KEY="demo", AWS_DEFAULT_REGION=REGION)

    import boto3

    from rotation_doctor.apply.executor import Executor
    from rotation_doctor.apply.guardrails import Mode, Policy
    from rotation_doctor.approvals.store import ProposalStore, create_table
    from rotation_doctor.approvals.workflow import apply_proposal
    from rotation_doctor.collect.aws import AwsClients
    from rotation_doctor.examine import diagnose_secret
    from rotation_doctor.model.findings import Verdict
    from rotation_doctor.simulated import scenarios, simulated_aws
    from rotation_doctor.simulated.account import AccountBuilder

    style = render.Style(render.use_color(sys.stdout))
    with simulated_aws():
        clients = AwsClients(boto3.session.Session(region_name=REGION), region=REGION)
        builder = AccountBuilder(clients)
        account = scenarios.orders(builder)
        scenarios.seed_failed_rotation_logs(builder, "orders-db-rotation")
        event = scenarios.rotation_failed_event(
            account.secret_arn, account.function_arn, REGION, account.secret_arn.split(":")[4]
        )

        _say(
            style.bold("rotation-doctor demo") + " — a simulated AWS account (moto, in this process); "
            "no AWS account, nothing leaves this machine."
        )
        _heading(style, 1, "What happened")
        _say(f"  Secret {scenarios.DEMO_SECRET} is rotated by Lambda function orders-db-rotation, which runs in")
        _say("  two private subnets of vpc 'orders' next to a Multi-AZ PostgreSQL instance, orders-db.")
        _say(f"  At {event['time']} EventBridge delivered {event['detail']['eventName']} (source {event['source']}):")
        _say(f"    detail.additionalEventData.SecretId = {event['detail']['additionalEventData']['SecretId']}")
        _say(f"    detail.errorMessage = {event['detail']['errorMessage']}")
        _say("  The message names the step, not the cause. The function's log says only: Task timed out.")

        _heading(style, 2, f"Diagnosis: rotation-doctor diagnose {scenarios.DEMO_SECRET}")
        clients.counter.calls.clear()
        started = time.perf_counter()
        secret_id = event["detail"]["additionalEventData"]["SecretId"]
        _, diagnosis = diagnose_secret(clients, secret_id, rotation_failed=True)
        elapsed = time.perf_counter() - started
        _say()
        _say(_indent(render.diagnosis_text(diagnosis, style)))
        _say()
        _say(
            f"  ({clients.counter.total} AWS calls, {elapsed * 1000:.0f} ms; the password in the secret was read "
            "for its host and port only, and dropped)"
        )

        _heading(style, 3, "The service: the same event through the worker Lambda (approval mode: propose)")
        create_table(clients, TABLE)
        create_table(clients, IDEMPOTENCY_TABLE)
        proposal = _deliver_to_worker(clients, event)
        store = ProposalStore(clients, TABLE)
        executor = Executor(clients, Policy(mode=Mode.PROPOSE), poll=0.05)
        _say()
        _say(_indent(render.plan_text(_plan_of(executor, secret_id), style)))
        _say()
        _say(f"  handlers.worker.handler stored it as proposal {proposal.id} (state {proposal.state}); nothing has")
        _say("  changed in the account. `rotation-doctor proposals show " + proposal.id + "` shows it.")
        _show_notifications(proposal)

        _heading(style, 4, f"Approved by on-call: rotation-doctor proposals approve {proposal.id}")
        clients.counter.calls.clear()
        started = time.perf_counter()
        store.approve(proposal.id, by="oncall@example.com")
        applied = apply_proposal(executor, store, proposal.id, by="oncall@example.com")
        elapsed = time.perf_counter() - started
        _say()
        _say(_indent(render.outcome_text(applied.outcome, style)))
        final = applied.proposal
        _say()
        _say(
            f"  Proposal {proposal.id}: {final.state if final else '?'}. "
            f"({clients.counter.total} AWS calls for re-plan, apply and verification, {elapsed * 1000:.0f} ms)"
        )
        healthy = applied.outcome.after is not None and applied.outcome.after.verdict is Verdict.HEALTHY
    return 0 if healthy else 1


def _deliver_to_worker(clients: Any, event: dict[str, Any]) -> Any:
    """The RotationFailed event in an SQS batch, as EventBridge and SQS hand it to the worker in AWS."""
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    import handlers.worker as worker_module
    from rotation_doctor.apply.guardrails import Mode
    from rotation_doctor.approvals.store import ProposalStore
    from rotation_doctor.simulated.lambda_runtime import SimulatedContext, sqs_event

    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "RotationDoctor")
    worker = worker_module.build_worker(
        {"PROPOSALS_TABLE": TABLE, "IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE, "ROTATION_DOCTOR_MODE": Mode.PROPOSE.value},
        clients,
    )
    with contextlib.redirect_stdout(io.StringIO()):  # the worker's JSON logs and metrics: not for the story
        response = worker_module.run(sqs_event(json.dumps(event)), SimulatedContext(), worker)
    assert response == {"batchItemFailures": []}, response
    return ProposalStore(clients, TABLE).list()[0]


def _show_notifications(proposal: Any) -> None:
    """What SNS and Slack would carry, and the signed link on-call would open."""
    from rotation_doctor.apply.guardrails import Mode
    from rotation_doctor.approvals import tokens
    from rotation_doctor.notify import slack, sns, text
    from rotation_doctor.notify.dispatch import ApprovalLinks
    from rotation_doctor.notify.messages import Kind, build

    class DemoKey:
        def get(self) -> bytes:
            return b"demo-signing-key-not-secret-0123456789abcdef"

    links = ApprovalLinks("https://k3x7n2qv.lambda-url.us-east-1.on.aws", DemoKey())  # type: ignore[arg-type]
    message = build(
        Kind.PROPOSED,
        proposal.diagnosis,
        proposal.plan,
        mode=Mode.PROPOSE.value,
        proposal_id=proposal.id,
        plan_hash=proposal.plan_hash,
        links=links.for_proposal(proposal.id, proposal.plan_hash, proposal.generation),
    )
    request = sns.publish_request("arn:aws:sns:us-east-1:123456789012:rotation-doctor", message)
    _say()
    _say(f"  SNS  Subject: {request['Subject']}")
    _say("       Attributes: " + ", ".join(f"{k}={v['StringValue']}" for k, v in request["MessageAttributes"].items()))
    _say(_indent("\n".join("     | " + line for line in text.body(message).splitlines())))
    blocks = slack.blocks(message)
    _say()
    _say(
        f"  Slack (incoming webhook): {len(blocks)} Block Kit blocks; header "
        f"{blocks[0]['text']['text']!r}; buttons "
        + ", ".join(repr(e["text"]["text"]) for b in blocks if b["type"] == "actions" for e in b["elements"])
    )
    _say(f"  The approval link (HMAC-signed, single use, {tokens.DEFAULT_LIFETIME // 3600} h):")
    _say(f"    {message.links.approve}")


def _plan_of(executor: Any, secret_id: str) -> Any:
    return executor.assess(secret_id)[2]


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" if line else "" for line in text.splitlines())

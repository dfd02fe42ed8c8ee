"""`rotation-doctor demo`: the whole story on a simulated account (moto, in process, no network)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import sys
import time
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

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
    """The story; the settings it needs are set for its duration only (a test process goes on after it)."""
    saved = dict(os.environ)
    try:
        return _run()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _run() -> int:
    try:
        import moto  # noqa: F401
    except ImportError:
        print(
            "rotation-doctor: the demo needs moto: from a clone, pip install '.[demo]' (or make demo)", file=sys.stderr
        )
        return 2
    # The simulated account must never pick up real credentials or endpoints from the environment.
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        os.environ.pop(key, None)
    os.environ.update(AWS_ACCESS_KEY_ID="demo", AWS_SECRET_ACCESS_KEY="demo", AWS_DEFAULT_REGION=REGION)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # the handlers' JSON logs: not for the story

    import boto3

    import handlers.approval as approval
    from rotation_doctor.approvals.store import ProposalStore, create_table
    from rotation_doctor.collect.aws import AwsClients
    from rotation_doctor.examine import diagnose_secret
    from rotation_doctor.model.findings import Verdict
    from rotation_doctor.simulated import scenarios, simulated_aws
    from rotation_doctor.simulated.account import AccountBuilder
    from rotation_doctor.simulated.function_url import serve

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
        key_arn = clients.secretsmanager.create_secret(Name="rotation-doctor/approval-key", SecretString=DEMO_KEY)[
            "ARN"
        ]
        worker = _worker(clients, key_arn)
        _deliver(worker, json.dumps(event))
        proposal = ProposalStore(clients, TABLE).list()[0]
        _say()
        _say(_indent(render.plan_text(_plan_of(worker.executor, secret_id), style)))
        _say()
        _say(f"  handlers.worker.handler stored it as proposal {proposal.id} (state {proposal.state}); nothing has")
        _say("  changed in the account. `rotation-doctor proposals show " + proposal.id + "` shows it.")
        links = _show_notifications(clients, key_arn, proposal)

        _heading(style, 4, "Approved on the approval page (the function URL), from the link on-call received")
        queue = clients.sqs.create_queue(QueueName="rotation-doctor-events")["QueueUrl"]
        approvals = approval.build_approvals(
            {"PROPOSALS_TABLE": TABLE, "SIGNING_KEY_SECRET_ARN": key_arn, "EVENTS_QUEUE_URL": queue}, clients
        )
        approval.logger.setLevel("ERROR")  # its JSON log lines (a refused second click is a warning): not for the story
        page_told = _Told()  # stands in for SNS and Slack: what the page tells people
        approvals.dispatcher = page_told.dispatcher
        with serve(lambda e, c: approval.run(e, c, approvals)) as base:
            local = base + urlsplit(links.approve or "").path + "?" + urlsplit(links.approve or "").query
            page = f"{base}/proposals/{proposal.id}"
            status, body = _http(local)
            _say(f"  GET  /proposals/{proposal.id}?approve=…&reject=…  → {status}: the findings, the exact changes,")
            _say("       Approve and Reject buttons; no script (Content-Security-Policy: default-src 'none').")
            token = parse_qs(urlsplit(local).query)["approve"][0]
            status, body = _http(page, {"action": "approve", "token": token})
            _say(f"  POST /proposals/{proposal.id}  action=approve  → {status}: {_headline(body)}")
            _say(f"  and tells on-call (SNS and Slack): {page_told.subjects()}")
            [sent] = clients.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
            _say("  The approval function holds no EC2, Lambda or Route 53 permission and reads nothing of the")
            _say("  network: it spent the link, recorded the approval with a conditional write (proposed → approved)")
            _say("  and handed it to the worker on its queue, signed (the worker drops a hand-off it did not sign):")
            _say(f"    {sent['Body']}")

            _heading(style, 5, "The worker applies it: the service's one writer")
            told = _Told()
            worker.dispatcher = told  # stands in for SNS and Slack: what the worker tells people
            clients.counter.calls.clear()
            started = time.perf_counter()
            _deliver(worker, sent["Body"])
            elapsed = time.perf_counter() - started
            if told.outcome is not None:
                _say()
                _say(_indent(render.outcome_text(told.outcome, style)))
            final = ProposalStore(clients, TABLE).get(proposal.id)
            _say()
            _say(f"  The worker tells on-call (SNS and Slack): {told.subjects()}")
            _say(
                f"  Proposal {proposal.id}: {final.state}. ({clients.counter.total} AWS calls for the claim, re-plan, "
                f"apply and verification, {elapsed * 1000:.0f} ms)"
            )
            clients.counter.calls.clear()
            _deliver(worker, sent["Body"])  # SQS delivers at least once: the same message again
            writes = sum(n for call, n in clients.counter.calls.items() if call.startswith(_WRITES))
            _say(f"  Delivered again, the message changes nothing ({writes} writes): the worker's idempotency record")
            _say(f"  says it was handled, and the proposal is {final.state}, no longer approved.")
            status, body = _http(local)
            _say(f"  The page, reloaded: {status} {_headline(body)}")
            status, body = _http(page, {"action": "approve", "token": token})
            _say(f"  Approve clicked again: {status} {_reason(body)}")
        healthy = told.outcome is not None and told.outcome.after is not None
        healthy = healthy and told.outcome.after.verdict is Verdict.HEALTHY
        _what_if(style, clients)
    return 0 if healthy else 1


def _what_if(style: render.Style, clients: Any) -> None:
    """Before the next change: a teammate's Terraform plan that would remove the endpoint the fix made."""
    from rotation_doctor.whatif.run import what_if
    from rotation_doctor.whatif.terraform import parse_plan

    [endpoint] = [
        e
        for e in clients.ec2.describe_vpc_endpoints()["VpcEndpoints"]
        if e["ServiceName"].endswith(".secretsmanager") and e["State"] != "deleted"
    ]
    _heading(style, 6, "Before the next change: rotation-doctor what-if --terraform-plan plan.json")
    _say("  A teammate's pull request tidies up the network module; `terraform show -json plan.out` says it")
    _say("  deletes an interface endpoint nobody declared and adds a bucket for the build's logs.")
    plan = _demo_plan(endpoint)
    clients.counter.calls.clear()
    report = what_if(clients, parse_plan(json.dumps(plan), name="plan.json"))
    writes = sum(n for call, n in clients.counter.calls.items() if call.startswith(_WRITES))
    _say()
    _say(_indent(render.whatif_text(report, style)))
    _say()
    _say(
        f"  ({clients.counter.total} AWS calls, {writes} writes; exit status {1 if report.failing else 0}: "
        "the CI job fails before anything is applied. `--format markdown` is the pull-request comment.)"
    )


def _demo_plan(endpoint: dict[str, Any]) -> dict[str, Any]:
    """The JSON of `terraform show -json`: the endpoint deleted (as Terraform's state holds it), and a new bucket."""

    def change(address: str, actions: list[str], before: Any, after: Any) -> dict[str, Any]:
        kind, name = address.split(".")
        return {
            "address": address,
            "mode": "managed",
            "type": kind,
            "name": name,
            "provider_name": "registry.terraform.io/hashicorp/aws",
            "change": {"actions": actions, "before": before, "after": after, "after_unknown": {}},
        }

    state = {
        "id": endpoint["VpcEndpointId"],
        "vpc_id": endpoint["VpcId"],
        "service_name": endpoint["ServiceName"],
        "vpc_endpoint_type": "Interface",
        "private_dns_enabled": endpoint.get("PrivateDnsEnabled", False),
        "subnet_ids": endpoint.get("SubnetIds", []),
        "security_group_ids": [g["GroupId"] for g in endpoint.get("Groups", [])],
    }
    return {
        "format_version": "1.2",
        "terraform_version": "1.9.5",
        "resource_changes": [
            change("aws_vpc_endpoint.secretsmanager", ["delete"], state, None),
            change("aws_s3_bucket.build_logs", ["create"], None, {"bucket": "orders-build-logs"}),
        ],
    }


DEMO_KEY = "demo-signing-key-not-secret-0123456789abcdef"
_WRITES = ("ec2:Create", "ec2:Authorize", "ec2:Revoke", "ec2:Modify", "ec2:Delete", "lambda:Add", "lambda:Update")


def _worker(clients: Any, key_arn: str) -> Any:
    """The worker Lambda as the template configures it (propose mode, the approval page's signing key), its JSON logs
    and metrics kept quiet."""
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "RotationDoctor")
    import handlers.worker as worker_module
    from rotation_doctor.apply.guardrails import Mode

    worker = worker_module.build_worker(
        {
            "PROPOSALS_TABLE": TABLE,
            "IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE,
            "ROTATION_DOCTOR_MODE": Mode.PROPOSE.value,
            "SIGNING_KEY_SECRET_ARN": key_arn,
        },
        clients,
    )
    worker.executor.poll = 0.05
    return worker


def _deliver(worker: Any, body: str) -> None:
    """One message in an SQS batch, as SQS hands it to the worker in AWS."""
    import handlers.worker as worker_module
    from rotation_doctor.simulated.lambda_runtime import SimulatedContext, sqs_event

    with contextlib.redirect_stdout(io.StringIO()):  # the worker's JSON logs and metrics: not for the story
        response = worker_module.run(sqs_event(body), SimulatedContext(), worker)
    assert response == {"batchItemFailures": []}, response


class _Told:
    """What the page and the worker tell people, kept for the story instead of sent: the real dispatcher, with one
    channel that records."""

    def __init__(self) -> None:
        from rotation_doctor.apply.guardrails import Mode
        from rotation_doctor.notify.dispatch import Dispatcher
        from rotation_doctor.notify.notifier import Notifier

        self.outcome: Any = None
        self.messages: list[Any] = []
        self.dispatcher = Dispatcher(Notifier([self]), Mode.PROPOSE.value)

    def send(self, message: Any) -> bool:
        self.messages.append(message)
        return True

    def subjects(self) -> str:
        from rotation_doctor.notify import text

        said = "; ".join(text.subject(m) for m in self.messages) or "nothing"
        self.messages.clear()
        return said

    def after_decision(self, proposal: Any, outcome: Any, fresh: Any = None) -> None:
        self.outcome = outcome
        self.dispatcher.after_decision(proposal, outcome, fresh)

    def after_event(self, report: Any) -> None:
        return None


def _http(url: str, form: dict[str, str] | None = None) -> tuple[int, str]:
    """A browser's request to the page served on localhost (never through a proxy)."""
    import urllib.error
    import urllib.request
    from urllib.parse import urlencode

    data = urlencode(form).encode() if form is not None else None
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(urllib.request.Request(url, data=data), timeout=60) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode()


def _headline(html: str) -> str:
    found = re.search(r'id="outcome">([^<]*)<', html)
    detail = re.search(r'id="detail">([^<]*)<', html)
    return unescape((found.group(1) if found else "?") + (f" — {detail.group(1)}" if detail else ""))


def _reason(html: str) -> str:
    found = re.search(r'id="reason">([^<]*)<', html)
    return unescape(found.group(1) if found else "?")


def _show_notifications(clients: Any, key_arn: str, proposal: Any) -> Any:
    """What SNS and Slack would carry, and the signed link on-call would open; returns the links."""
    from rotation_doctor.apply.guardrails import Mode
    from rotation_doctor.approvals import tokens
    from rotation_doctor.notify import slack, sns, text
    from rotation_doctor.notify.dispatch import ApprovalLinks
    from rotation_doctor.notify.messages import Kind, build

    links = ApprovalLinks("https://k3x7n2qv.lambda-url.us-east-1.on.aws", tokens.SigningKey(clients, key_arn))
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
    _say(f"  The approval link (HMAC-signed, single use, {tokens.DEFAULT_LIFETIME // 3600} h, for this round only):")
    _say(f"    {message.links.approve}")
    return message.links


def _plan_of(executor: Any, secret_id: str) -> Any:
    return executor.assess(secret_id)[2]


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" if line else "" for line in text.splitlines())

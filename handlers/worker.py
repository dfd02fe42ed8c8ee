"""The worker: EventBridge events delivered through SQS in batches (rotation failures, risky changes, the sweep),
and the approval page's hand-off of an approved proposal, which the worker applies (the service's one writer).

Thin: parse each record, call `rotation_doctor.service.batch`, report. Powertools does the rest: the
batch processor reports failures per message, idempotency (DynamoDB, keyed on the event id)
keeps a redelivered event from acting twice, Logger carries the event id as correlation id,
Tracer and Metrics record what happened. An event that cannot be understood is sent to the
dead-letter queue at once, with the reason, instead of being retried.

Every log line about a record is short, whatever the record held: reasons, names and ids are clipped, a failure's
traceback is its innermost frames; never a whole event, never a secret value.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property, wraps
from typing import TYPE_CHECKING, NotRequired, ParamSpec, Protocol, TypedDict, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from rotation_doctor.approvals.handoff import ApplyApproved
from rotation_doctor.collect.aws import quiet_sdk_loggers
from rotation_doctor.model.bounded import clip, traceback_tail
from rotation_doctor.model.errors import HandoffUnsigned
from rotation_doctor.model.findings import Code, Verdict
from rotation_doctor.model.states import SecretAction
from rotation_doctor.service import events

if TYPE_CHECKING:
    # Types only: the modules behind them load when the first worker is built, not at cold start.
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from rotation_doctor.apply.executor import Executor
    from rotation_doctor.approvals.handoff import WorkerQueue
    from rotation_doctor.approvals.store import ProposalStore
    from rotation_doctor.approvals.tokens import SigningKey
    from rotation_doctor.collect.accounts import AccountSessions
    from rotation_doctor.collect.aws import AwsClients
    from rotation_doctor.notify.dispatch import Dispatcher
    from rotation_doctor.service.batch import BatchContext
    from rotation_doctor.service.fairness import PlaceFairness
    from rotation_doctor.service.settle import SettleWindow

P = ParamSpec("P")
R = TypeVar("R")


class DeferredTracer:
    """Powertools' Tracer, made on the first invocation rather than at import.

    Making a Tracer imports the X-Ray SDK, and its default `patch_all` imports and patches a dozen libraries: that
    was most of the worker's import (its cold start, held to at most 1.5x a bare `import boto3`). Made just before
    the first handler call runs, it patches `patch_modules` only: botocore, through which every AWS call of the
    worker goes (Slack's webhook post is timed within the handler's subsegment, not one of its own). botocore's
    patch wraps `BaseClient._make_api_call` on the class, so the first invocation's calls are traced as every later
    one's are, whichever client makes them.
    """

    def __init__(self, service: str, patch_modules: tuple[str, ...]) -> None:
        self.service = service
        self.patch_modules = patch_modules

    @cached_property
    def tracer(self) -> Tracer:
        return Tracer(service=self.service, patch_modules=list(self.patch_modules))

    def capture_lambda_handler(self, handler: Callable[P, R]) -> Callable[P, R]:
        """`Tracer.capture_lambda_handler`, applied on the first call (which makes the tracer)."""
        traced: Callable[P, R] | None = None

        @wraps(handler)
        def deferred(*args: P.args, **kwargs: P.kwargs) -> R:
            nonlocal traced
            if traced is None:
                traced = cast("Callable[P, R]", self.tracer.capture_lambda_handler(handler))
            return traced(*args, **kwargs)

        return deferred


logger = Logger(service="rotation-doctor")
quiet_sdk_loggers()  # whatever the function's log level: botocore's DEBUG lines hold response bodies, secret values
tracer = DeferredTracer(service="rotation-doctor", patch_modules=("botocore",))
metrics = Metrics(namespace="RotationDoctor", service="rotation-doctor")

NAME_LIMIT = 120  # an event's name, id or type in a log line
READ_FAILED = Code.AWS_READ_FAILED  # the finding of a read that failed


class SecretJson(TypedDict):
    """One secret of a report, as `SecretReport.to_json` writes it and idempotency stores it."""

    secret_arn: str
    secret_name: str
    verdict: str
    codes: list[str]
    action: str
    proposal_id: str | None
    applied: list[str]


class ReportJson(TypedDict):
    """What one event did, as `EventReport.to_json` writes it: what idempotency stores and gives back for an event
    delivered again (records stored before `note` existed have none)."""

    event_id: str
    trigger: str
    secrets: list[SecretJson]
    note: NotRequired[str]


Event = dict[str, object]


class Process(Protocol):
    """`Worker.process`, or it wrapped in idempotency, which reads the event from the keyword `event`."""

    def __call__(self, *, event: Event) -> ReportJson: ...


@dataclass
class Worker:
    """Everything an invocation needs, built once per container from the environment (or by a test)."""

    clients: AwsClients
    executor: Executor
    store: ProposalStore | None
    dead_letter_queue_url: str | None
    idempotency_table: str | None
    dispatcher: Dispatcher | None = None  # notifications (SNS, Slack); None when none is configured
    batch: BatchContext | None = None  # the current invocation's (`run` opens one per SQS batch)
    # Clients in member accounts (the member role, credentials cached for their lifetime); None: the hub's only.
    sessions: AccountSessions | None = None
    fairness: PlaceFairness | None = None  # each place's share of the hub; None: every event served at once
    # The key the approval function's hand-offs are signed with (derived from); None: no hand-off is applied.
    handoff_key: SigningKey | None = None
    # Its own queue: reconciliation hands an approval not applied yet to it again (a lost or dead-lettered hand-off).
    queue: WorkerQueue | None = None
    # Change events wait for their place to be quiet for a window, then are diagnosed once; None: at once.
    settle: SettleWindow | None = None
    _process: Process | None = field(default=None, repr=False)
    _idempotency_config: IdempotencyConfig | None = field(default=None, repr=False)

    def process(self, *, event: Event) -> ReportJson:
        """Handle one parsed event within the current batch; its result is what idempotency stores (so a
        redelivered event neither acts nor notifies twice)."""
        if self.batch is None:
            raise RuntimeError("Worker.process runs within run(), which opens the batch")
        report = self.batch.process(events.parse(event))
        for refused in report.refused:  # an account not acted on: counted here, once (a redelivery is answered)
            metrics.add_metric(name=str(refused), unit=MetricUnit.Count, value=1)
        if report.unread:  # places a sweep could read nothing of (the others were swept)
            metrics.add_metric(name="PlacesUnread", unit=MetricUnit.Count, value=len(report.unread))
        if report.deferred:  # a place beyond its share of change events: swept at the hub's next sweep
            metrics.add_metric(name="ChangesDeferred", unit=MetricUnit.Count, value=1)
        if report.sweep_skipped:  # a place's sweep within the hub's sweep interval
            metrics.add_metric(name="SweepsSkipped", unit=MetricUnit.Count, value=1)
        if report.pending is not None:  # a change event marked pending in its place's settle window
            metrics.add_metric(name="ChangesPending", unit=MetricUnit.Count, value=1)
        if report.settled is not None:  # a place's pending changes diagnosed, once settled
            metrics.add_metric(name="PlacesSettled", unit=MetricUnit.Count, value=1)
            metrics.add_metric(name="SettleWaitSeconds", unit=MetricUnit.Seconds, value=report.settled.waited)
            if report.settled.reopened:
                metrics.add_metric(name="SettleReopened", unit=MetricUnit.Count, value=1)
        if self.dispatcher is not None:
            for decision in report.decisions:  # an approved proposal applied (the approval page's hand-off)
                self.dispatcher.after_decision(decision.proposal, decision.outcome, decision.fresh)
            for secret in report.secrets:
                self.dispatcher.after_event(secret)
        return cast("ReportJson", report.to_json())

    def idempotent_process(self, context: LambdaContext | None) -> Process:
        if self._process is None:
            if not self.idempotency_table:
                self._process = self.process
            else:
                from aws_lambda_powertools.utilities.idempotency import (
                    DynamoDBPersistenceLayer,
                    IdempotencyConfig,
                    idempotent_function,
                )

                persistence = DynamoDBPersistenceLayer(
                    table_name=self.idempotency_table, boto3_client=self.clients.dynamodb
                )
                config = IdempotencyConfig(
                    event_key_jmespath="id", raise_on_no_idempotency_key=True, expires_after_seconds=7 * 24 * 3600
                )
                self._idempotency_config = config
                # Powertools declares the decorated function as Any; it is `process`, wrapped.
                wrapped: Process = idempotent_function(
                    self.process, data_keyword_argument="event", persistence_store=persistence, config=config
                )
                self._process = wrapped
        if context is not None and self._idempotency_config is not None:
            self._idempotency_config.register_lambda_context(context)
        return self._process


def build_worker(env: Mapping[str, str], clients: AwsClients | None = None) -> Worker:
    from rotation_doctor.apply.executor import Executor
    from rotation_doctor.apply.guardrails import policy_from_env
    from rotation_doctor.approvals.handoff import WorkerQueue
    from rotation_doctor.approvals.store import DynamoDbBudget, ProposalStore
    from rotation_doctor.approvals.tokens import SigningKey
    from rotation_doctor.collect.accounts import AccountSessions
    from rotation_doctor.collect.aws import AwsClients
    from rotation_doctor.notify.dispatch import dispatcher_from_env
    from rotation_doctor.notify.security_hub import findings_from_env

    clients = clients or AwsClients()
    # The hub's own account is never assumed into; any other one only through the member role, when one is named.
    sessions = AccountSessions(clients, role_name=env.get("ROTATION_DOCTOR_MEMBER_ROLE_NAME", "").strip())
    table = env.get("PROPOSALS_TABLE")
    store = ProposalStore(clients, table) if table else None
    budget = (
        DynamoDbBudget(clients, table, int(env["ROTATION_DOCTOR_MAX_CHANGES_PER_HOUR"]))
        if table and env.get("ROTATION_DOCTOR_MAX_CHANGES_PER_HOUR")
        else None
    )
    policy = policy_from_env(env, budget=budget)
    fairness = None
    if table:
        from rotation_doctor.service.fairness import PlaceFairness, sweep_interval

        reads = env.get("ROTATION_DOCTOR_PLACE_CHANGE_READS_PER_HOUR", "").strip()
        schedule = env.get("ROTATION_DOCTOR_SWEEP_SCHEDULE", "").strip()
        fairness = PlaceFairness(
            clients,
            table,
            DynamoDbBudget(clients, table, int(reads)) if reads else None,
            sweep_interval(schedule) if schedule else 0,
        )
    key_arn = env.get("SIGNING_KEY_SECRET_ARN", "").strip()
    key = SigningKey(clients, key_arn) if key_arn else None
    queue_url = env.get("EVENTS_QUEUE_URL", "").strip()
    settle = None
    window = int(env.get("ROTATION_DOCTOR_SETTLE_SECONDS", "").strip() or 0)
    if table and queue_url and window > 0:  # the pending changes live in the proposals table, the wake-ups in the queue
        from rotation_doctor.service.settle import SettleWindow, sqs_sender

        settle = SettleWindow(clients, table, window, sqs_sender(clients, queue_url))
    return Worker(
        clients,
        Executor(clients, policy),
        store,
        env.get("DEAD_LETTER_QUEUE_URL"),
        env.get("IDEMPOTENCY_TABLE"),
        dispatcher_from_env(env, clients, store, findings_from_env(env, clients, sessions.clients)),
        sessions=sessions,
        fairness=fairness,
        handoff_key=key,
        # A hand-off it sends itself is signed as the page signs one: without the key it sends none (it would be
        # refused), and reconciliation asks people again once the approval expires.
        queue=WorkerQueue(clients, queue_url, key) if queue_url and key is not None else None,
        settle=settle,
    )


@cache
def _default_worker() -> Worker:
    return build_worker(os.environ)


def run(event: Event, context: LambdaContext, worker: Worker) -> PartialItemFailureResponse:
    """One SQS batch: a fresh shared context, then each record on its own (failures reported per record)."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    from rotation_doctor.collect.accounts import place_of_arn
    from rotation_doctor.service.batch import BatchContext

    # An apply stops in time to undo before this invocation ends (the executor keeps a margin for it).
    worker.executor.time_left = lambda: context.get_remaining_time_in_millis() / 1000
    here = place_of_arn(context.invoked_function_arn)
    if worker.sessions is not None and here is not None:  # the function's own ARN names the hub's account: no STS
        worker.sessions.know_base_account(here.account)
    worker.batch = BatchContext(worker.executor, worker.store, worker.sessions)
    worker.batch.dispatcher = worker.dispatcher
    worker.batch.fairness = worker.fairness.for_batch() if worker.fairness is not None else None
    worker.batch.queue = worker.queue
    worker.batch.settle = worker.settle.for_batch() if worker.settle is not None else None
    process = worker.idempotent_process(context)

    def record_handler(record: SQSRecord) -> ReportJson | None:
        return _handle_record(record, worker, process)

    # A batch whose every record failed is reported like any other (each record in batchItemFailures, so each is
    # retried) rather than raised: Powertools' exception for it carries every record's whole traceback, and Lambda
    # would log it as one line.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)


def _handle_record(record: SQSRecord, worker: Worker, process: Process) -> ReportJson | None:
    metrics.add_metric(name="EventsReceived", unit=MetricUnit.Count, value=1)
    raw = _event_of(record, worker)
    if raw is None:
        return None  # dead-lettered
    logger.set_correlation_id(_text(raw.get("id")))
    if events.failed_call(raw):
        logger.info("ignored: the call was refused and changed nothing", extra={"event_name": _name(raw)})
        return None
    try:
        trigger = events.parse(raw)  # validate before idempotency records anything
    except events.MalformedEvent as exc:
        _dead_letter(worker, record, str(exc))
        return None
    except Exception as exc:
        # Parsing reads only the message: whatever failed will fail again on every retry.
        _dead_letter(worker, record, f"the event could not be parsed ({type(exc).__name__})")
        return None
    if isinstance(trigger, ApplyApproved) and not _from_the_approval_function(record, raw, worker):
        return None  # dropped: before idempotency records it, so a forgery cannot spend the real hand-off's id
    if isinstance(trigger, events.Change) and not trigger.read_whole:
        logger.warning(
            "the call's parameters are too deep or too large to read whole: every secret is looked at",
            extra={"event_name": _name(raw)},
        )
    try:
        report = process(event=raw)
    except Exception as exc:
        # Reported to SQS for this record alone (it is retried, then dead-lettered); counted here. The traceback is
        # its innermost frames: a RecursionError's whole one is hundreds of kilobytes.
        metrics.add_metric(name="Failures", unit=MetricUnit.Count, value=1)
        logger.error(
            "failed",
            extra={
                "event_name": _name(raw),
                "error": clip(f"{type(exc).__name__}: {exc}"),
                "traceback": traceback_tail(exc),
            },
        )
        raise
    _record_metrics(report)
    handled: dict[str, object] = {
        "event_name": _name(raw),
        "secrets": [
            {
                "secret_name": s["secret_name"],
                "verdict": s["verdict"],
                "action": s["action"],
                "proposal_id": s["proposal_id"],
                "applied": s["applied"],
            }
            for s in report["secrets"]
        ],
    }
    if "note" in report:
        handled["note"] = clip(report["note"])
    logger.info("handled", extra=handled)
    return report


def _event_of(record: SQSRecord, worker: Worker) -> Event | None:
    """The record's body as a JSON object; None once it has been dead-lettered (not JSON, too deep, not an
    object)."""
    try:
        parsed: object = json.loads(record.body)
    except ValueError:
        _dead_letter(worker, record, "the message body is not JSON")
        return None
    except RecursionError:
        _dead_letter(worker, record, "the message body is nested too deeply to read")
        return None
    if not isinstance(parsed, dict):
        _dead_letter(worker, record, "the message body is not a JSON object")
        return None
    return cast("Event", parsed)


def _from_the_approval_function(record: SQSRecord, raw: Event, worker: Worker) -> bool:
    """Whether a hand-off is signed with the hand-off key; if not, it is dropped (not retried: retrying cannot sign
    it), logged without its body, and counted. The proposal it names keeps its state (reconciliation settles an
    approval whose hand-off never came)."""
    from rotation_doctor.approvals.handoff import verified

    if worker.handoff_key is None:
        reason = "no signing key is configured (SIGNING_KEY_SECRET_ARN), so no hand-off can be verified"
    else:
        try:
            verified(raw, worker.handoff_key.get())
            return True
        except HandoffUnsigned as exc:
            reason = str(exc)
    logger.warning(
        "hand-off refused: not signed by the approval function",
        extra={
            "reason": clip(reason),
            "message_id": clip(record.message_id, NAME_LIMIT),
            "sender_id": _text(record.attributes.sender_id),
        },
    )
    metrics.add_metric(name="HandoffsRefused", unit=MetricUnit.Count, value=1)
    return False


def _dead_letter(worker: Worker, record: SQSRecord, reason: str) -> None:
    """Straight to the dead-letter queue: retrying cannot make it understandable. Logs the reason, not the body."""
    reason = clip(reason)
    logger.warning("dead-lettered", extra={"reason": reason, "message_id": clip(record.message_id, NAME_LIMIT)})
    metrics.add_metric(name="DeadLettered", unit=MetricUnit.Count, value=1)
    if not worker.dead_letter_queue_url:
        raise events.MalformedEvent(reason)  # no queue configured: fail the record, SQS's redrive takes it
    worker.clients.sqs.send_message(
        QueueUrl=worker.dead_letter_queue_url,
        MessageBody=record.body,
        MessageAttributes={
            "reason": {"DataType": "String", "StringValue": reason},
            "sourceMessageId": {"DataType": "String", "StringValue": record.message_id},
        },
    )


def _record_metrics(report: ReportJson) -> None:
    secrets = report["secrets"]
    diagnosed = [s for s in secrets if s["action"] != SecretAction.COALESCED]
    metrics.add_metric(name="Diagnoses", unit=MetricUnit.Count, value=len(diagnosed))
    metrics.add_metric(
        name="Proposals", unit=MetricUnit.Count, value=sum(1 for s in secrets if s["action"] == SecretAction.PROPOSED)
    )
    metrics.add_metric(name="FixesApplied", unit=MetricUnit.Count, value=sum(len(s["applied"]) for s in secrets))
    # Secrets left unknown because something of theirs could not be read (a resource policy's deny, ...): each was
    # reported with the reason, and the batch went on.
    unread = [s for s in diagnosed if s["verdict"] == Verdict.UNKNOWN and READ_FAILED in s["codes"]]
    metrics.add_metric(name="SecretsUnknownByReadFailure", unit=MetricUnit.Count, value=len(unread))
    from aws_lambda_powertools.metrics import single_metric

    for code in sorted({c for s in diagnosed for c in s["codes"]}):
        with single_metric(name="Findings", unit=MetricUnit.Count, value=1, namespace="RotationDoctor") as metric:
            metric.add_dimension(name="code", value=code)


def _text(value: object) -> str | None:
    """A string field of the event, clipped for a log line; None when it is not a string."""
    return clip(value, NAME_LIMIT) if isinstance(value, str) else None


def _name(raw: Mapping[str, object]) -> str:
    """The event's name for a log line: the CloudTrail call, else the detail type, else the message kind."""
    detail = raw.get("detail")
    if isinstance(detail, Mapping):
        record: Mapping[str, object] = detail
        return _text(record.get("eventName")) or "?"
    return _text(raw.get("detail-type")) or _text(raw.get("kind")) or "?"


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: Event, context: LambdaContext) -> PartialItemFailureResponse:
    return run(event, context, _default_worker())

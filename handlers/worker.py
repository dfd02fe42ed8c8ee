"""The worker: EventBridge events delivered through SQS in batches (rotation failures, risky changes, the sweep),
and the approval page's hand-off of an approved proposal, which the worker applies (the service's one writer).

Thin: parse each record, call `rotation_doctor.service.batch`, report. Powertools does the rest: the
batch processor reports failures per message, idempotency (DynamoDB, keyed on the event id)
keeps a redelivered event from acting twice, Logger carries the event id as correlation id,
Tracer and Metrics record what happened. An event that cannot be understood is sent to the
dead-letter queue at once, with the reason, instead of being retried.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from rotation_doctor.model.states import SecretAction
from rotation_doctor.service import events

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger(service="rotation-doctor")
tracer = Tracer(service="rotation-doctor")
metrics = Metrics(namespace="RotationDoctor", service="rotation-doctor")


@dataclass
class Worker:
    """Everything an invocation needs, built once per container from the environment (or by a test)."""

    clients: Any
    executor: Any
    store: Any
    dead_letter_queue_url: str | None
    idempotency_table: str | None
    dispatcher: Any = None  # notifications (SNS, Slack); None when none is configured
    batch: Any = None
    _process: Callable[..., dict[str, Any]] | None = field(default=None, repr=False)
    _idempotency_config: Any = field(default=None, repr=False)

    def process(self, *, event: dict[str, Any]) -> dict[str, Any]:
        """Handle one parsed event within the current batch; its result is what idempotency stores (so a
        redelivered event neither acts nor notifies twice)."""
        report = self.batch.process(events.parse(event))
        if self.dispatcher is not None:
            for decision in report.decisions:  # an approved proposal applied (the approval page's hand-off)
                self.dispatcher.after_decision(decision.proposal, decision.outcome, decision.fresh)
            for secret in report.secrets:
                self.dispatcher.after_event(secret)
        return dict(report.to_json())

    def idempotent_process(self, context: LambdaContext | None) -> Callable[..., dict[str, Any]]:
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
                self._process = idempotent_function(
                    self.process, data_keyword_argument="event", persistence_store=persistence, config=config
                )
        if context is not None and self._idempotency_config is not None:
            self._idempotency_config.register_lambda_context(context)
        return self._process


def build_worker(env: Mapping[str, str], clients: Any = None) -> Worker:
    from rotation_doctor.apply.executor import Executor
    from rotation_doctor.apply.guardrails import policy_from_env
    from rotation_doctor.approvals.store import DynamoDbBudget, ProposalStore
    from rotation_doctor.collect.aws import AwsClients
    from rotation_doctor.notify.dispatch import dispatcher_from_env

    clients = clients or AwsClients()
    table = env.get("PROPOSALS_TABLE")
    store = ProposalStore(clients, table) if table else None
    budget = (
        DynamoDbBudget(clients, table, int(env["ROTATION_DOCTOR_MAX_CHANGES_PER_HOUR"]))
        if table and env.get("ROTATION_DOCTOR_MAX_CHANGES_PER_HOUR")
        else None
    )
    policy = policy_from_env(env, budget=budget)
    return Worker(
        clients,
        Executor(clients, policy),
        store,
        env.get("DEAD_LETTER_QUEUE_URL"),
        env.get("IDEMPOTENCY_TABLE"),
        dispatcher_from_env(env, clients, store),
    )


@cache
def _default_worker() -> Worker:
    return build_worker(os.environ)


def run(event: dict[str, Any], context: Any, worker: Worker) -> PartialItemFailureResponse:
    """One SQS batch: a fresh shared context, then each record on its own (failures reported per record)."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    from rotation_doctor.service.batch import BatchContext

    worker.batch = BatchContext(worker.executor, worker.store)
    worker.batch.dispatcher = worker.dispatcher
    process = worker.idempotent_process(context)

    def record_handler(record: SQSRecord) -> dict[str, Any] | None:
        return _handle_record(record, worker, process)

    return process_partial_response(
        event=event, record_handler=record_handler, processor=BatchProcessor(event_type=EventType.SQS), context=context
    )


def _handle_record(record: SQSRecord, worker: Worker, process: Callable[..., dict[str, Any]]) -> dict[str, Any] | None:
    metrics.add_metric(name="EventsReceived", unit=MetricUnit.Count, value=1)
    try:
        raw = json.loads(record.body)
    except ValueError:
        _dead_letter(worker, record, "the message body is not JSON")
        return None
    if not isinstance(raw, dict):
        _dead_letter(worker, record, "the message body is not a JSON object")
        return None
    logger.set_correlation_id(str(raw.get("id")))
    if events.failed_call(raw):
        logger.info("ignored: the call was refused and changed nothing", extra={"event_name": _name(raw)})
        return None
    try:
        events.parse(raw)  # validate before idempotency records anything
    except events.MalformedEvent as exc:
        _dead_letter(worker, record, str(exc))
        return None
    try:
        report = process(event=raw)
    except Exception:
        # Reported to SQS for this record alone (it is retried, then dead-lettered); counted here.
        metrics.add_metric(name="Failures", unit=MetricUnit.Count, value=1)
        logger.exception("failed", extra={"event_name": _name(raw)})
        raise
    _record_metrics(report)
    logger.info(
        "handled",
        extra={
            "event_name": _name(raw),
            "secrets": [
                {k: s[k] for k in ("secret_name", "verdict", "action", "proposal_id", "applied")}
                for s in report["secrets"]
            ],
        },
    )
    return report


def _dead_letter(worker: Worker, record: SQSRecord, reason: str) -> None:
    """Straight to the dead-letter queue: retrying cannot make it understandable. Logs the reason, not the body."""
    logger.warning("dead-lettered", extra={"reason": reason, "message_id": record.message_id})
    metrics.add_metric(name="DeadLettered", unit=MetricUnit.Count, value=1)
    if not worker.dead_letter_queue_url:
        raise events.MalformedEvent(reason)  # no queue configured: fail the record, SQS's redrive takes it
    worker.clients.sqs.send_message(
        QueueUrl=worker.dead_letter_queue_url,
        MessageBody=record.body,
        MessageAttributes={
            "reason": {"DataType": "String", "StringValue": reason[:1000]},
            "sourceMessageId": {"DataType": "String", "StringValue": record.message_id},
        },
    )


def _record_metrics(report: dict[str, Any]) -> None:
    secrets = report["secrets"]
    metrics.add_metric(
        name="Diagnoses", unit=MetricUnit.Count, value=sum(1 for s in secrets if s["action"] != SecretAction.COALESCED)
    )
    metrics.add_metric(
        name="Proposals", unit=MetricUnit.Count, value=sum(1 for s in secrets if s["action"] == SecretAction.PROPOSED)
    )
    metrics.add_metric(name="FixesApplied", unit=MetricUnit.Count, value=sum(len(s["applied"]) for s in secrets))
    from aws_lambda_powertools.metrics import single_metric

    for code in sorted({c for s in secrets if s["action"] != SecretAction.COALESCED for c in s["codes"]}):
        with single_metric(name="Findings", unit=MetricUnit.Count, value=1, namespace="RotationDoctor") as metric:
            metric.add_dimension(name="code", value=code)


def _name(raw: Mapping[str, Any]) -> str:
    detail = raw.get("detail")
    return str(detail.get("eventName")) if isinstance(detail, Mapping) else str(raw.get("detail-type", raw.get("kind")))


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return run(event, context, _default_worker())

"""template.yaml: lint-clean, every EventBridge pattern against real-shaped events, IAM exactly as declared."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import moto  # noqa: F401  (moto.events imports need moto.core first)
import pytest
from cfnlint.decode import decode
from moto.events.models import EventPattern

from remediations import write_actions
from rotation_doctor.apply import timing
from rotation_doctor.collect.permissions import READ_ACTIONS
from tests.test_iam import worker_statements

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "tests" / "events"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    parsed, errors = decode(str(ROOT / "template.yaml"))
    assert not errors and parsed is not None
    return dict(parsed)


def event(name: str) -> dict[str, Any]:
    return dict(json.loads((EVENTS / name).read_text()))


def rules(template: dict[str, Any]) -> dict[str, EventPattern]:
    return {
        name: EventPattern.load(json.dumps(res["Properties"]["EventPattern"]))
        for name, res in template["Resources"].items()
        if res["Type"] == "AWS::Events::Rule" and "EventPattern" in res["Properties"]
    }


def test_cfn_lint_reports_nothing_not_even_informational_findings() -> None:
    import cfnlint.api

    matches = cfnlint.api.lint_file(ROOT / "template.yaml", config=cfnlint.api.ManualArgs(include_checks=["I"]))
    assert [str(m) for m in matches] == []


def test_the_audit_trail_and_its_signing_key_outlive_the_stack(template: dict[str, Any]) -> None:
    for name in ("ProposalsTable", "SigningKey"):
        resource = template["Resources"][name]
        assert resource["DeletionPolicy"] == resource["UpdateReplacePolicy"] == "Retain"


WAKES = {
    "rotation_failed_eventbridge.json": "RotationFailedRule",
    "revoke_sg_ingress_items.json": "NetworkChangeRule",
    "revoke_sg_ingress_cli_flat.json": "NetworkChangeRule",
    "modify_sg_rules_request.json": "NetworkChangeRule",
    "delete_vpc_endpoints_request.json": "NetworkChangeRule",
    "delete_nat_gateway.json": "NetworkChangeRule",
    "delete_route.json": "NetworkChangeRule",
    "replace_network_acl_entry.json": "NetworkChangeRule",
    "modify_vpc_attribute.json": "NetworkChangeRule",
    "update_function_configuration.json": "FunctionChangeRule",
    "modify_db_instance.json": "DatabaseChangeRule",
    "rotate_secret.json": "SecretChangeRule",
    "rotation_succeeded_eventbridge.json": "RotationFailedRule",
}
SLEEPS = [
    "negative_run_instances.json",
    "negative_authorize_sg_ingress.json",
    "negative_s3_put_object.json",
    "negative_update_function_code.json",
    "failed_revoke_sg_ingress.json",
]


@pytest.mark.parametrize("name,rule", sorted(WAKES.items()))
def test_each_real_shaped_event_wakes_exactly_its_rule(template: dict[str, Any], name: str, rule: str) -> None:
    matched = [r for r, pattern in rules(template).items() if pattern.matches_event(event(name))]
    assert matched == [rule]


@pytest.mark.parametrize("name", SLEEPS)
def test_unrelated_or_refused_calls_wake_nothing(template: dict[str, Any], name: str) -> None:
    assert [r for r, p in rules(template).items() if p.matches_event(event(name))] == []


def test_the_shared_rotation_failure_record_is_what_the_rule_sees(template: dict[str, Any]) -> None:
    wrapped = {**event("rotation_failed_eventbridge.json"), "detail": event("rotation_failed_cloudtrail_record.json")}
    assert rules(template)["RotationFailedRule"].matches_event(wrapped)


def test_every_rule_delivers_to_the_queue_and_the_queue_admits_only_them(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    rule_names = [n for n, r in resources.items() if r["Type"] == "AWS::Events::Rule"]
    assert set(rule_names) == {*WAKES.values(), "SweepRule"}
    for name in rule_names:
        assert resources[name]["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": ["EventsQueue", "Arn"]}
    [statement] = resources["EventsQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow" and statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    allowed = statement["Condition"]["ArnEquals"]
    assert sorted(a["Fn::GetAtt"][0] for a in allowed["aws:SourceArn"]) == sorted(rule_names)


def test_the_approval_page_sends_to_the_queue_with_its_own_identity_and_only_it(template: dict[str, Any]) -> None:
    """The page's hand-off needs no queue-policy change: in the same account its role's IAM policy is enough (the
    queue policy above admits no principal of the account, and denies nothing)."""
    resources = template["Resources"]
    senders = {
        name: policy["SQSSendMessagePolicy"]["QueueName"]
        for name, r in resources.items()
        if r["Type"] == "AWS::Serverless::Function"
        for policy in r["Properties"]["Policies"]
        if isinstance(policy, dict) and "SQSSendMessagePolicy" in policy
    }
    assert senders == {
        "ApprovalFunction": {"Fn::GetAtt": ["EventsQueue", "QueueName"]},
        "WorkerFunction": {"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]},  # dead-letters what it cannot read
    }
    variables = resources["ApprovalFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["EVENTS_QUEUE_URL"] == {"Ref": "EventsQueue"}


def test_worker_consumes_in_batches_with_partial_failures(template: dict[str, Any]) -> None:
    worker = template["Resources"]["WorkerFunction"]["Properties"]
    source = worker["Events"]["Queue"]["Properties"]
    assert (
        source["FunctionResponseTypes"] == ["ReportBatchItemFailures"] and source["MaximumBatchingWindowInSeconds"] > 0
    )
    queue = template["Resources"]["EventsQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    # One place (rotation_doctor/apply/timing.py): the worker outlives the longest wait plus the undo margin,
    # and the queue hides a message six times the worker's timeout, as AWS advises for SQS event sources.
    assert worker["Timeout"] == timing.WORKER_TIMEOUT_SECONDS
    assert worker["Timeout"] >= timing.DEFAULT_WAIT_SECONDS + timing.UNDO_MARGIN_SECONDS + 60
    assert queue["VisibilityTimeout"] == timing.QUEUE_VISIBILITY_SECONDS
    assert worker["Timeout"] < timing.LONGEST_APPLY_SECONDS


def _statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    """The worker's managed policy: only the worker attaches it (the approval page is no writer)."""
    resources = template["Resources"]
    attached = [
        name
        for name, r in resources.items()
        if r["Type"] == "AWS::Serverless::Function"
        and {"Ref": "RotationDoctorPermissions"} in r["Properties"].get("Policies", [])
    ]
    assert attached == ["WorkerFunction"]
    return list(resources["RotationDoctorPermissions"]["Properties"]["PolicyDocument"]["Statement"])


def _actions(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


def test_reads_are_exactly_the_declared_reads(template: dict[str, Any]) -> None:
    diagnose = next(s for s in _statements(template) if s["Sid"] == "Diagnose")
    assert _actions(diagnose) == set(READ_ACTIONS)


@pytest.mark.parametrize("retry", ["false", "true"])
def test_writes_are_exactly_what_the_fix_kinds_declare(template: dict[str, Any], retry: str) -> None:
    statements = worker_statements({"RetryRotationAfterFix": retry})
    granted = {
        a
        for s in statements
        if s["Effect"] == "Allow" and s["Sid"] not in ("Diagnose", "DecryptSecretsThroughSecretsManagerOnly")
        for a in _actions(s)
    }
    expected = write_actions() | ({"secretsmanager:RotateSecret"} if retry == "true" else set())
    assert granted == expected


def test_every_handler_the_template_names_imports(template: dict[str, Any]) -> None:
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            module, function = resource["Properties"]["Handler"].rsplit(".", 1)
            assert callable(getattr(importlib.import_module(module), function))


def test_the_approval_page_is_a_function_url_with_a_generated_signing_key(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    approval = resources["ApprovalFunction"]["Properties"]
    assert approval["FunctionUrlConfig"]["AuthType"] == "NONE"  # the signed single-use token is the guard
    assert approval["Environment"]["Variables"]["SIGNING_KEY_SECRET_ARN"] == {"Ref": "SigningKey"}
    assert resources["SigningKey"]["Properties"]["GenerateSecretString"]["PasswordLength"] >= 32
    assert "Timeout" in approval and approval["Timeout"] <= 60  # it no longer waits for anything to be applied
    worker = resources["WorkerFunction"]["Properties"]["Environment"]["Variables"]
    assert worker["APPROVAL_URL"] == {"Fn::GetAtt": ["ApprovalFunctionUrl", "FunctionUrl"]}
    assert worker["SLACK_WEBHOOK_SECRET_ARN"] == {"Ref": "SlackWebhookSecretArn"}


def test_the_deployers_settings_reach_the_worker(template: dict[str, Any]) -> None:
    from rotation_doctor.apply.guardrails import policy_from_env
    from tests.cfn_resolve import Resolver

    def worker_env(parameters: dict[str, str]) -> dict[str, str]:
        variables = template["Resources"]["WorkerFunction"]["Properties"]["Environment"]["Variables"]
        return {k: str(v) for k, v in Resolver(template, parameters).resolve(variables).items()}  # Lambda: strings

    policy = policy_from_env(
        worker_env({"TrustedSecretPrefixes": "prod/orders/,prod/ledger/", "RetryRotationAfterFix": "true"})
    )
    assert policy.trusted_secret_prefixes == ("prod/ledger/", "prod/orders/") and policy.retry_rotation is True
    defaults = policy_from_env(worker_env({}))
    assert defaults.trusted_secret_prefixes == () and defaults.retry_rotation is False


@pytest.mark.parametrize(
    "function,parameter",
    [("WorkerFunction", "WorkerReservedConcurrency"), ("ApprovalFunction", "ApprovalReservedConcurrency")],
)
def test_reserved_concurrency_is_unset_unless_the_deployer_sets_it(
    template: dict[str, Any], function: str, parameter: str
) -> None:
    """A new account's concurrency quota is 10, all of which Lambda keeps unreserved: any reservation fails there
    ("decreases account's UnreservedConcurrentExecution below its minimum value")."""
    import re

    from tests.cfn_resolve import Resolver

    spec = template["Parameters"][parameter]
    assert spec["Default"] == ""
    assert re.fullmatch(spec["AllowedPattern"], "") and re.fullmatch(spec["AllowedPattern"], "25")
    assert not re.fullmatch(spec["AllowedPattern"], "-1") and not re.fullmatch(spec["AllowedPattern"], "two")
    properties = template["Resources"][function]["Properties"]
    assert "ReservedConcurrentExecutions" not in Resolver(template, {}).resolve(properties)
    assert Resolver(template, {parameter: "25"}).resolve(properties)["ReservedConcurrentExecutions"] == "25"

"""template.yaml and org/member.yaml: lint-clean, every EventBridge pattern from one source and against real-shaped
events, IAM exactly as declared, and an organization's pieces only where an organization is."""

from __future__ import annotations

import dataclasses
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
from rotation_doctor.model.plan import FixKind
from rotation_doctor.model.snapshot import Snapshot
from rotation_doctor.service.patterns import PATTERNS, RULES, WOKEN_BY, SweptOnly, matched_event_names
from tests.cfn_resolve import Resolver
from tests.iam_templates import (
    HUB_ACCOUNT,
    HUB_BUS,
    HUB_WORKER,
    MEMBER_PARAMETERS,
    ORGANIZATION,
    load,
    worker_statements,
)

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "tests" / "events"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    parsed, errors = decode(str(ROOT / "template.yaml"))
    assert not errors and parsed is not None
    return dict(parsed)


def event(name: str) -> dict[str, Any]:
    return dict(json.loads((EVENTS / name).read_text()))


ORGANIZATION_HUB = {"OrganizationId": ORGANIZATION}


def rules(template: dict[str, Any]) -> dict[str, EventPattern]:
    return {
        name: EventPattern.load(json.dumps(res["Properties"]["EventPattern"]))
        for name, res in template["Resources"].items()
        if res["Type"] == "AWS::Events::Rule" and "EventPattern" in res["Properties"]
    }


@pytest.mark.parametrize("name", ["template.yaml", "org/member.yaml"])
def test_cfn_lint_reports_nothing_not_even_informational_findings(name: str) -> None:
    import cfnlint.api

    matches = cfnlint.api.lint_file(ROOT / name, config=cfnlint.api.ManualArgs(include_checks=["I"]))
    assert [str(m) for m in matches] == []


def test_the_audit_trail_and_its_signing_key_outlive_the_stack(template: dict[str, Any]) -> None:
    for name in ("ProposalsTable", "SigningKey"):
        resource = template["Resources"][name]
        assert resource["DeletionPolicy"] == resource["UpdateReplacePolicy"] == "Retain"


# Each real-shaped event and the pattern (rotation_doctor/service/patterns.py) that must match it.
WAKES = {
    "rotation_failed_eventbridge.json": "rotation",
    "rotation_succeeded_eventbridge.json": "rotation",
    "revoke_sg_ingress_items.json": "network",
    "revoke_sg_ingress_cli_flat.json": "network",
    "modify_sg_rules_request.json": "network",
    "delete_vpc_endpoints_request.json": "network",
    "create_vpc_endpoint.json": "network",
    "restore_managed_prefix_list_version.json": "network",
    "enable_transit_gateway_route_table_propagation.json": "network",
    "create_transit_gateway_prefix_list_reference.json": "network",
    "modify_transit_gateway_prefix_list_reference.json": "network",
    "delete_transit_gateway_prefix_list_reference.json": "network",
    "delete_nat_gateway.json": "network",
    "delete_route.json": "network",
    "modify_managed_prefix_list.json": "network",
    "delete_transit_gateway_route.json": "network",
    "replace_network_acl_entry.json": "network",
    "modify_vpc_attribute.json": "network",
    "update_function_configuration.json": "function",
    "modify_db_instance.json": "database",
    "rotate_secret.json": "secret",
    "scheduled_sweep.json": "sweep",  # on the hub's bus only: a member's forwarded sweep
}
SLEEPS = [
    "negative_run_instances.json",
    "negative_authorize_sg_ingress.json",
    "negative_s3_put_object.json",
    "negative_update_function_code.json",
    "failed_revoke_sg_ingress.json",
]


@pytest.mark.parametrize("file", sorted(RULES))
@pytest.mark.parametrize("name,pattern", sorted(WAKES.items()))
def test_each_real_shaped_event_wakes_exactly_its_rules(file: str, name: str, pattern: str) -> None:
    """On every bus: the hub's default bus and its own (template.yaml), each member's (org/member.yaml)."""
    matched = [r for r, p in rules(load(file)).items() if p.matches_event(event(name))]
    assert sorted(matched) == sorted(r for r, p in RULES[file].items() if p == pattern)


@pytest.mark.parametrize("file", sorted(RULES))
@pytest.mark.parametrize("name", SLEEPS)
def test_unrelated_or_refused_calls_wake_nothing(file: str, name: str) -> None:
    assert [r for r, p in rules(load(file)).items() if p.matches_event(event(name))] == []


def test_the_shared_rotation_failure_record_is_what_the_rule_sees(template: dict[str, Any]) -> None:
    wrapped = {**event("rotation_failed_eventbridge.json"), "detail": event("rotation_failed_cloudtrail_record.json")}
    assert rules(template)["RotationFailedRule"].matches_event(wrapped)


@pytest.mark.parametrize("file", sorted(RULES))
def test_every_pattern_comes_from_the_one_source(file: str) -> None:
    """The hub's rules, its bus's rules and the members' forwarding rules carry rotation_doctor/service/patterns.py
    exactly; a pattern edited in a template (or a rule the table does not know) fails here: `make templates`."""
    resources = load(file)["Resources"]
    carried = {
        name: r["Properties"]["EventPattern"]
        for name, r in resources.items()
        if r["Type"] == "AWS::Events::Rule" and "EventPattern" in r["Properties"]
    }
    assert set(carried) == set(RULES[file])
    assert {name: carried[name] for name in RULES[file]} == {name: PATTERNS[p] for name, p in RULES[file].items()}


def _patterns_script() -> Any:
    spec = importlib.util.spec_from_file_location("event_patterns", ROOT / "scripts" / "event_patterns.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("file", sorted(RULES))
def test_make_templates_would_change_nothing(file: str) -> None:
    script = _patterns_script()
    text = (ROOT / file).read_text()
    assert script.rewrite(text, RULES[file]) == text
    # ... and it does rewrite a pattern that drifted, leaving the rest of the template as it was.
    drifted = text.replace("            - DeleteVpcPeeringConnection\n", "", 1)
    assert drifted != text and script.rewrite(drifted, RULES[file]) == text


@pytest.mark.parametrize("parameters", [{}, ORGANIZATION_HUB], ids=["one account", "organization"])
def test_every_rule_delivers_to_the_queue_and_the_queue_admits_only_them(
    template: dict[str, Any], parameters: dict[str, str]
) -> None:
    resources = Resolver(template, parameters).resources()
    rule_names = [n for n, r in resources.items() if r["Type"] == "AWS::Events::Rule"]
    on_the_hub_bus = {n for n in RULES["template.yaml"] if n.startswith("Member")}
    expected = set(RULES["template.yaml"]) - (set() if parameters else on_the_hub_bus)
    assert set(rule_names) == {*expected, "SweepRule"}
    for name in rule_names:
        assert resources[name]["Properties"]["Targets"][0]["Arn"] == "EventsQueue.Arn"
        bus = resources[name]["Properties"].get("EventBusName")
        assert bus == ("HubEventBus-physical-id" if name in on_the_hub_bus else None)
    statements = resources["EventsQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    # The one Allow; the Denies that hold everyone else off are judged in tests/test_resource_policies.py.
    [statement] = [s for s in statements if s["Effect"] == "Allow"]
    assert statement["Effect"] == "Allow" and statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    allowed = statement["Condition"]["ArnEquals"]
    assert sorted(allowed["aws:SourceArn"]) == sorted(f"{n}.Arn" for n in rule_names)


def test_the_approval_page_sends_to_the_queue_with_its_own_identity_and_only_it(template: dict[str, Any]) -> None:
    """The page's hand-off is allowed by its role's IAM policy (same account): the queue policy admits no principal
    of the account, and its Deny spares the page's role (tests/test_resource_policies.py)."""
    resources = template["Resources"]
    senders = [
        (name, policy["SQSSendMessagePolicy"]["QueueName"]["Fn::GetAtt"][0])
        for name, r in resources.items()
        if r["Type"] == "AWS::Serverless::Function"
        for policy in r["Properties"]["Policies"]
        if isinstance(policy, dict) and "SQSSendMessagePolicy" in policy
    ]
    assert sorted(senders) == [
        ("ApprovalFunction", "EventsQueue"),
        ("WorkerFunction", "DeadLetterQueue"),  # dead-letters what it cannot read
        ("WorkerFunction", "EventsQueue"),  # hands an approval not applied yet to itself again (reconciliation)
    ]
    for sender in ("ApprovalFunction", "WorkerFunction"):
        variables = resources[sender]["Properties"]["Environment"]["Variables"]
        assert variables["EVENTS_QUEUE_URL"] == {"Ref": "EventsQueue"}


def test_the_proposals_table_is_the_one_the_demo_and_the_tests_make(template: dict[str, Any]) -> None:
    """`store.create_table` (the simulated account's table) makes the template's ProposalsTable: the same key and
    the same indexes, the sparse open index that reconciliation queries included."""
    from types import SimpleNamespace

    from rotation_doctor.approvals.store import OPEN_INDEX, create_table

    made: dict[str, Any] = {}
    create_table(SimpleNamespace(dynamodb=SimpleNamespace(create_table=made.update)), "proposals")  # type: ignore[arg-type]
    table = template["Resources"]["ProposalsTable"]["Properties"]
    by_name = sorted(table["AttributeDefinitions"], key=lambda a: a["AttributeName"])
    assert sorted(made["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == by_name
    assert made["KeySchema"] == table["KeySchema"]
    assert made["GlobalSecondaryIndexes"] == table["GlobalSecondaryIndexes"]
    assert OPEN_INDEX in [i["IndexName"] for i in table["GlobalSecondaryIndexes"]]


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


READ_SIDS = ("Diagnose", "ReadSecretValues", "ReadFunctionLogs", "DecryptSecretsThroughSecretsManagerOnly")


def test_reads_are_exactly_the_declared_reads(template: dict[str, Any]) -> None:
    reads = [s for s in _statements(template) if s["Sid"] in READ_SIDS[:3]]
    assert set().union(*(_actions(s) for s in reads)) == set(READ_ACTIONS)


@pytest.mark.parametrize("retry", ["false", "true"])
@pytest.mark.parametrize("attach", ["Disabled", "Enabled"])
def test_writes_are_exactly_what_the_fix_kinds_declare(template: dict[str, Any], retry: str, attach: str) -> None:
    statements = worker_statements({"RetryRotationAfterFix": retry, "AttachLambdaToVpc": attach})
    granted = {a for s in statements if s["Effect"] == "Allow" and s["Sid"] not in READ_SIDS for a in _actions(s)}
    expected = write_actions() | ({"secretsmanager:RotateSecret"} if retry == "true" else set())
    # ATTACH_LAMBDA_TO_VPC's function update only where the deployer enables the fix kind.
    assert granted == expected - ({"lambda:UpdateFunctionConfiguration"} if attach == "Disabled" else set())


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
    assert defaults.not_permitted == {FixKind.ATTACH_LAMBDA_TO_VPC}
    assert policy_from_env(worker_env({"AttachLambdaToVpc": "Enabled"})).not_permitted == set()


@pytest.mark.parametrize(
    "function,parameter,default",
    [("WorkerFunction", "WorkerReservedConcurrency", "2"), ("ApprovalFunction", "ApprovalReservedConcurrency", "5")],
)
def test_reserved_concurrency_has_a_small_default_that_the_deployer_may_clear(
    template: dict[str, Any], function: str, parameter: str, default: str
) -> None:
    """Both functions run at most a few at once by default (the approval page is a public URL: throttled), within
    any account whose quota is the usual 1000. A new account's quota is 10, all of which Lambda keeps unreserved:
    there the deployer clears the parameter ("decreases account's UnreservedConcurrentExecution below its minimum")."""
    import re

    from tests.cfn_resolve import Resolver

    spec = template["Parameters"][parameter]
    assert spec["Default"] == default
    assert re.fullmatch(spec["AllowedPattern"], "") and re.fullmatch(spec["AllowedPattern"], "25")
    assert not re.fullmatch(spec["AllowedPattern"], "-1") and not re.fullmatch(spec["AllowedPattern"], "two")
    properties = template["Resources"][function]["Properties"]
    assert Resolver(template, {}).resolve(properties)["ReservedConcurrentExecutions"] == default
    assert "ReservedConcurrentExecutions" not in Resolver(template, {parameter: ""}).resolve(properties)
    assert Resolver(template, {parameter: "25"}).resolve(properties)["ReservedConcurrentExecutions"] == "25"


def test_the_queue_feeds_the_worker_no_faster_than_its_reserved_concurrency(template: dict[str, Any]) -> None:
    """A throttled batch goes back to the queue and counts towards the dead-letter limit: the event source's
    MaximumConcurrency (at least 2) follows the reservation."""
    import re

    from tests.cfn_resolve import Resolver

    queue = template["Resources"]["WorkerFunction"]["Properties"]["Events"]["Queue"]["Properties"]
    assert Resolver(template, {}).resolve(queue)["ScalingConfig"] == {"MaximumConcurrency": "2"}
    assert "ScalingConfig" not in Resolver(template, {"WorkerReservedConcurrency": ""}).resolve(queue)
    assert not re.fullmatch(template["Parameters"]["WorkerReservedConcurrency"]["AllowedPattern"], "1")


# ----- an organization: the hub's bus, and org/member.yaml wherever a StackSet puts it ---------------------

ORGANIZATION_ONLY = {
    "HubEventBus",
    "MemberRotationRule",
    "MemberNetworkChangeRule",
    "MemberFunctionChangeRule",
    "MemberDatabaseChangeRule",
    "MemberSecretChangeRule",
    "MemberSweepRule",
    "MemberRolesAccess",
}


def test_one_account_stays_as_simple_as_it_was(template: dict[str, Any]) -> None:
    """OrganizationId empty: no bus, no rule on it, no way into another account, no member role name."""
    conditioned = {n for n, r in template["Resources"].items() if r.get("Condition") == "IsOrganization"}
    assert conditioned == ORGANIZATION_ONLY
    single = Resolver(template, {})
    resources = single.resources()
    assert not ORGANIZATION_ONLY & set(resources)
    assert not [n for n, r in resources.items() if r["Type"] == "AWS::Events::EventBus"]
    assert not [s for s in worker_statements({}) if any(a.startswith("sts:") for a in _actions(s))]
    assert (
        resources["WorkerFunction"]["Properties"]["Environment"]["Variables"]["ROTATION_DOCTOR_MEMBER_ROLE_NAME"] == ""
    )
    assert not single.exists("HubEventBusArn") and not single.exists("WorkerRoleArn")
    organization = Resolver(template, ORGANIZATION_HUB)
    assert set(organization.resources()) >= ORGANIZATION_ONLY
    variables = organization.resources()["WorkerFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["ROTATION_DOCTOR_MEMBER_ROLE_NAME"] == "rotation-doctor-member"


def test_the_hubs_bus_admits_the_organizations_accounts_only(template: dict[str, Any]) -> None:
    bus = Resolver(template, ORGANIZATION_HUB).resources()["HubEventBus"]["Properties"]
    own_arn = f"arn:aws:events:us-east-1:123456789012:event-bus/{bus['Name']}"
    statements = bus["Policy"]["Statement"]
    assert statements and all(s["Effect"] == "Allow" for s in statements)
    for statement in statements:
        assert statement["Action"] == "events:PutEvents" and statement["Resource"] == own_arn
        # Principal "*" is the organization only through aws:PrincipalOrgID (no IfExists: absent means no).
        assert statement["Principal"] == "*"
        assert statement["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": ORGANIZATION}}


def test_the_hub_outputs_what_a_member_stack_takes(template: dict[str, Any]) -> None:
    import re

    outputs = {
        name: output["Value"]
        for name, output in Resolver(template, ORGANIZATION_HUB).resolve(template["Outputs"]).items()
        if name in ("HubEventBusArn", "WorkerRoleArn")
    }
    assert outputs == {"HubEventBusArn": "HubEventBus.Arn", "WorkerRoleArn": "WorkerFunctionRole.Arn"}
    parameters = load("org/member.yaml")["Parameters"]
    for parameter, value in (("HubEventBusArn", HUB_BUS), ("HubWorkerRoleArn", HUB_WORKER)):
        assert re.fullmatch(parameters[parameter]["AllowedPattern"], value)
    assert re.fullmatch(parameters["HubWorkerRoleArn"]["AllowedPattern"], f"arn:aws-cn:iam::{HUB_ACCOUNT}:role/a/b")
    assert not re.fullmatch(parameters["HubWorkerRoleArn"]["AllowedPattern"], f"arn:aws:iam::{HUB_ACCOUNT}:user/a")
    for region in ("us-east-1", "eu-central-2", "us-gov-west-1", "ap-southeast-4"):
        assert re.fullmatch(parameters["RoleRegion"]["AllowedPattern"], region)
    assert not re.fullmatch(parameters["RoleRegion"]["AllowedPattern"], "")  # required: no role otherwise


FORWARDING = {"ForwardRole", "ForwardSweepRule", *RULES["org/member.yaml"]}
MEMBER_ROLE = {"MemberRole", "MemberPermissions"}


@pytest.mark.parametrize(
    "account,region,made",
    [
        ("123456789012", "us-east-1", FORWARDING | MEMBER_ROLE),  # a member account, RoleRegion
        ("123456789012", "eu-west-1", FORWARDING),  # ... another of its regions: the role is global
        # The hub's own account, served as one account is (its region, the worker's own policy): nothing.
        (HUB_ACCOUNT, "eu-west-1", {"NothingToForward"}),
        (HUB_ACCOUNT, "us-east-1", {"NothingToForward"}),
    ],
)
def test_a_member_stack_makes_what_its_place_needs(account: str, region: str, made: set[str]) -> None:
    tpl = load("org/member.yaml")
    where = {"AWS::AccountId": account, "AWS::Region": region}
    assert set(Resolver(tpl, MEMBER_PARAMETERS, where).resources()) == made
    retry = {**MEMBER_PARAMETERS, "RetryRotationAfterFix": "true"}
    extra = {"MemberRetryRotationPermission"} if "MemberRole" in made else set()
    assert set(Resolver(tpl, retry, where).resources()) == made | extra
    findings = {**MEMBER_PARAMETERS, "SecurityHubFindings": "Enabled"}
    extra = {"MemberSecurityHubPermission"} if "MemberRole" in made else set()
    assert set(Resolver(tpl, findings, where).resources()) == made | extra


def test_member_rules_forward_to_the_hubs_bus_with_their_role() -> None:
    resources = Resolver(load("org/member.yaml"), MEMBER_PARAMETERS).resources()
    for name in [*RULES["org/member.yaml"], "ForwardSweepRule"]:
        properties = resources[name]["Properties"]
        assert "EventBusName" not in properties  # the account's default bus, where CloudTrail delivers
        assert properties["Targets"] == [{"Id": "hub-bus", "Arn": HUB_BUS, "RoleArn": "ForwardRole.Arn"}]


def test_the_pattern_writer_reads_back_as_the_data_it_wrote() -> None:
    """Flow lists, block lists, one-key mappings, and words YAML would read as something else (quoted)."""
    import yaml

    script = _patterns_script()
    awkward = {"detail": {"eventName": ["true", "No", "a: b", "[x]", "#c", "ok"], "n": [{"exists": False}]}}
    for pattern in [*PATTERNS.values(), awkward]:
        assert yaml.safe_load("\n".join(script.render(pattern, 0))) == pattern


def test_every_fact_a_diagnosis_can_read_has_an_event_that_wakes_the_worker_or_a_reason() -> None:
    """The facts are the snapshot's fields (`model.reads` records them all, none listed by hand): a fact added to the
    model with no matched event and no swept-only reason fails here, as does an event no pattern matches."""
    readable = {f.name for f in dataclasses.fields(Snapshot)}
    assert set(WOKEN_BY) == readable, (readable - set(WOKEN_BY), set(WOKEN_BY) - readable)
    matched = matched_event_names()
    for fact, woken in WOKEN_BY.items():
        if isinstance(woken, SweptOnly):
            assert woken.why.strip(), fact
        else:
            assert woken and set(woken) <= matched, (fact, set(woken) - matched)
    # And each matched change is one to a fact read: no pattern wakes the worker for nothing.
    announced = {e for woken in WOKEN_BY.values() if not isinstance(woken, SweptOnly) for e in woken}
    assert matched <= announced, matched - announced

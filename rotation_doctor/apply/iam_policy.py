"""The IAM policy rotation-doctor needs, as data: what `rotation-doctor permissions` prints and what
template.yaml's worker policy and member.yaml's member role must be (tests/test_iam.py holds the resolved
templates equal to it, and judges it against AWS's authorization data).

One statement per set of resource types: a condition key that one resource of a call does not carry
makes AWS deny the whole call (the endpoint's service name exists for the vpc-endpoint, not for the
VPC, subnets or groups the same CreateVpcEndpoint also authorizes).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rotation_doctor.apply.guardrails import IGNORE_TAG
from rotation_doctor.collect.permissions import READ_ACTIONS

CREATED_BY = {"aws:RequestTag/rotation-doctor:created-by": "rotation-doctor"}
MADE_BY_US = {"aws:ResourceTag/rotation-doctor:created-by": "rotation-doctor"}
GROUP_RULES = (
    "ec2:AuthorizeSecurityGroupIngress",
    "ec2:AuthorizeSecurityGroupEgress",
    "ec2:RevokeSecurityGroupIngress",
    "ec2:RevokeSecurityGroupEgress",
)
ROUTES_AND_ACLS = (
    "ec2:CreateRoute",
    "ec2:ReplaceRoute",
    "ec2:DeleteRoute",
    "ec2:CreateNetworkAclEntry",
    "ec2:DeleteNetworkAclEntry",
)
DELETES = ("ec2:DeleteSecurityGroup", "ec2:DeleteVpcEndpoints", "ec2:DeleteNatGateway", "ec2:ReleaseAddress")
# Every write on something that exists before the fix (and so may carry the opt-out tag).
OPT_OUT_DENIED = (
    *GROUP_RULES,
    "ec2:CreateSecurityGroup",
    "ec2:DeleteSecurityGroup",
    "ec2:CreateVpcEndpoint",
    "ec2:ModifyVpcEndpoint",
    "ec2:DeleteVpcEndpoints",
    "ec2:ModifyVpcAttribute",
    "ec2:CreateNetworkAclEntry",
    "ec2:DeleteNetworkAclEntry",
    "ec2:CreateRoute",
    "ec2:ReplaceRoute",
    "ec2:DeleteRoute",
    "ec2:CreateNatGateway",
    "ec2:DeleteNatGateway",
    "ec2:ReleaseAddress",
    "lambda:AddPermission",
    "lambda:RemovePermission",
    "lambda:UpdateFunctionConfiguration",
    "secretsmanager:RotateSecret",
)


def read_statements(region: str = "*") -> list[dict[str, Any]]:
    via = f"secretsmanager.{region}.amazonaws.com"
    return [
        {"Sid": "Diagnose", "Effect": "Allow", "Resource": "*", "Action": list(READ_ACTIONS)},
        {
            "Sid": "DecryptSecretsThroughSecretsManagerOnly",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": {("StringLike" if "*" in via else "StringEquals"): {"kms:ViaService": via}},
        },
    ]


def write_statements(
    *, partition: str = "aws", region: str = "*", account: str = "*", allowed_vpcs: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """The writes the fix kinds declare, scoped as AWS can evaluate them (see the module's note)."""
    ec2 = f"arn:{partition}:ec2:{region}:{account}"
    functions = f"arn:{partition}:lambda:{region}:{account}:function:*"
    in_vpcs = {"ArnLike": {"ec2:Vpc": [f"arn:*:ec2:*:*:vpc/{v}" for v in allowed_vpcs]}} if allowed_vpcs else None
    vpc_ids = {"StringEquals": {"ec2:VpcID": list(allowed_vpcs)}} if allowed_vpcs else None
    lambda_vpcs = {"ForAllValues:StringEquals": {"lambda:VpcIds": list(allowed_vpcs)}} if allowed_vpcs else None
    created = [f"{ec2}:security-group/*", f"{ec2}:vpc-endpoint/*", f"{ec2}:natgateway/*", f"{ec2}:elastic-ip/*"]
    service = f"com.amazonaws.{region}.secretsmanager"
    statements: list[dict[str, Any]] = [
        {
            "Sid": "OptOutTagIsFinal",
            "Effect": "Deny",
            "Resource": "*",
            "Action": list(OPT_OUT_DENIED),
            "Condition": {"StringEqualsIgnoreCase": {f"aws:ResourceTag/{IGNORE_TAG}": "true"}},
        },
        _allow("SecurityGroupRules", f"{ec2}:security-group/*", list(GROUP_RULES), in_vpcs),
        _allow(
            "RoutesAndNetworkAclEntries",
            [f"{ec2}:route-table/*", f"{ec2}:network-acl/*"],
            list(ROUTES_AND_ACLS),
            in_vpcs,
        ),
        _allow(
            "InTheVpc",
            f"{ec2}:vpc/*",
            ["ec2:ModifyVpcAttribute", "ec2:CreateSecurityGroup", "ec2:CreateVpcEndpoint"],
            vpc_ids,
        ),
        _allow("CreatedGroupsAreTagged", f"{ec2}:security-group/*", "ec2:CreateSecurityGroup", _eq(CREATED_BY)),
        _allow("EndpointSubnetsAndGroups", [f"{ec2}:subnet/*", f"{ec2}:security-group/*"], "ec2:CreateVpcEndpoint"),
        _allow(
            "SecretsManagerEndpointsOnly",
            f"{ec2}:vpc-endpoint/*",
            "ec2:CreateVpcEndpoint",
            {("StringLike" if "*" in service else "StringEquals"): {"ec2:VpceServiceName": service, **CREATED_BY}},
        ),
        _allow("EndpointPrivateDns", f"{ec2}:vpc-endpoint/*", "ec2:ModifyVpcEndpoint"),
        _allow("EndpointPrivateDnsZone", "*", "route53:AssociateVPCWithHostedZone"),
        _allow(
            "TagOnlyWhatItCreates",
            created,
            "ec2:CreateTags",
            {
                "StringEquals": {
                    "ec2:CreateAction": [
                        "CreateSecurityGroup",
                        "CreateVpcEndpoint",
                        "CreateNatGateway",
                        "AllocateAddress",
                    ]
                }
            },
        ),
        _allow("DeleteOnlyWhatItCreated", created, list(DELETES), _eq(MADE_BY_US)),
        _allow("NatGatewayAddress", f"{ec2}:elastic-ip/*", "ec2:AllocateAddress", _eq(CREATED_BY)),
        _allow("NatGateway", f"{ec2}:natgateway/*", "ec2:CreateNatGateway", _eq(CREATED_BY)),
        _allow("NatGatewaySubnet", f"{ec2}:subnet/*", "ec2:CreateNatGateway", in_vpcs),
        _allow("NatGatewayAddressItAllocated", f"{ec2}:elastic-ip/*", "ec2:CreateNatGateway", _eq(MADE_BY_US)),
        _allow(
            "InvokePermissionForSecretsManagerOnly",
            functions,
            ["lambda:AddPermission", "lambda:RemovePermission"],
            {"StringEquals": {"lambda:Principal": "secretsmanager.amazonaws.com"}},
        ),
        _allow("FunctionVpcSettings", functions, "lambda:UpdateFunctionConfiguration", lambda_vpcs),
    ]
    return statements


def retry_statement(*, partition: str = "aws", region: str = "*", account: str = "*") -> dict[str, Any]:
    secrets = f"arn:{partition}:secretsmanager:{region}:{account}:secret:*"
    return _allow("RetryRotation", secrets, "secretsmanager:RotateSecret")


def deep_statements() -> list[dict[str, Any]]:
    """What `diagnose --deep` needs beyond the reads: VPC Reachability Analyzer's paths and analyses, created tagged
    and deleted only when tagged so (collect/reachability.py), and the analyzer's own queries (`tiros:*`), which it
    makes with the caller's permissions. Never in the template: the service does not run it."""
    insights = ["arn:aws:ec2:*:*:network-insights-path/*", "arn:aws:ec2:*:*:network-insights-analysis/*"]
    return [
        _allow(
            "DeepCreateTaggedInsights",
            "*",
            ["ec2:CreateNetworkInsightsPath", "ec2:StartNetworkInsightsAnalysis"],
            _eq(CREATED_BY),
        ),
        _allow(
            "DeepTagOnCreate",
            insights,
            "ec2:CreateTags",
            {"StringEquals": {"ec2:CreateAction": ["CreateNetworkInsightsPath", "StartNetworkInsightsAnalysis"]}},
        ),
        _allow(
            "DeepDeleteOwnInsights",
            insights,
            ["ec2:DeleteNetworkInsightsAnalysis", "ec2:DeleteNetworkInsightsPath"],
            _eq(MADE_BY_US),
        ),
        _allow(
            "DeepAnalyze",
            "*",
            [
                "ec2:DescribeNetworkInsightsAnalyses",
                "tiros:CreateQuery",
                "tiros:GetQueryAnswer",
                "tiros:GetQueryExplanation",
            ],
        ),
    ]


def assume_member_role_statement(*, organization_id: str, role_name: str, partition: str = "aws") -> dict[str, Any]:
    """An organization's hub worker: the member role (member.yaml) in any account of that organization, and no
    role of that name outside it (aws:ResourceOrgID is a global key, set for a role in an organization's account)."""
    return _allow(
        "AssumeMemberRoles",
        f"arn:{partition}:iam::*:role/{role_name}",
        "sts:AssumeRole",
        {"StringEquals": {"aws:ResourceOrgID": organization_id}},
    )


def member_statements(
    *, account: str, partition: str = "aws", allowed_vpcs: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """member.yaml's role: the worker's reads and writes in every region of one member account (an IAM role is
    global, so the region is "*" where the hub's own policy names its region)."""
    return [
        *read_statements("*"),
        *write_statements(partition=partition, region="*", account=account, allowed_vpcs=allowed_vpcs),
    ]


def organization_statements(*, role_name: str = "*", partition: str = "aws") -> list[dict[str, Any]]:
    """What the CLI's `--role-arn`, `--accounts` and `--regions` need of the person's own credentials: the role
    in each account (only roles of that name), the organization's accounts, the regions enabled."""
    return [
        _allow("AssumeRoleInEachAccount", f"arn:{partition}:iam::*:role/{role_name}", "sts:AssumeRole"),
        _allow("ListAccountsAndRegions", "*", ["organizations:ListAccounts", "ec2:DescribeRegions"]),
    ]


def security_hub_statement(*, partition: str = "aws", region: str = "*", account: str = "*") -> dict[str, Any]:
    """Findings imported under the account's default product, and read back from its hub (notify/security_hub.py)."""
    securityhub = f"arn:{partition}:securityhub:{region}:{account}"
    return _allow(
        "SecurityHubFindings",
        [f"{securityhub}:product/{account}/default", f"{securityhub}:hub/default"],
        ["securityhub:BatchImportFindings", "securityhub:GetFindings"],
    )


def policy(
    *,
    fix: bool,
    retry_rotation: bool = False,
    deep: bool = False,
    security_hub: bool = False,
    organization_role: str | None = None,
) -> dict[str, Any]:
    """The policy a person attaches to run `diagnose`/`scan`/`plan` (and with `fix`, `fix` and approvals; with
    `deep`, `diagnose --deep`; with `security_hub`, `--security-hub`)."""
    statements = read_statements()
    if deep:
        statements += deep_statements()
    if security_hub:
        statements.append(security_hub_statement())
    if organization_role is not None:
        statements += organization_statements(role_name=organization_role)
    if fix:
        statements += write_statements()
        if retry_rotation:
            statements.append(retry_statement())
    return {"Version": "2012-10-17", "Statement": statements}


def _eq(condition: dict[str, str]) -> dict[str, Any]:
    return {"StringEquals": dict(condition)}


def _allow(sid: str, resource: str | list[str], action: str | list[str], condition: Any = None) -> dict[str, Any]:
    statement: dict[str, Any] = {"Sid": sid, "Effect": "Allow", "Resource": resource, "Action": action}
    if condition:
        statement["Condition"] = condition
    return statement

"""The IAM policy rotation-doctor needs, as data: what `rotation-doctor permissions` prints and what
template.yaml's worker policy and org/member.yaml's member role must be (tests/test_iam.py holds the resolved
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


# Reads narrowed by resource: a secret's value (to find its database) and a function's log lines (to tell a timeout
# from a refusal). Every other read is a Describe/List that AWS authorizes on "*" only, or on what it lists.
SECRET_VALUE_READ = "secretsmanager:GetSecretValue"
LOG_READ = "logs:FilterLogEvents"


def read_statements(
    region: str = "*", *, partition: str = "aws", account: str = "*", secret_prefixes: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """The reads. `secret_prefixes` (the deployment's ReadableSecretPrefixes): the secrets whose value may be read,
    by name prefix; none: every secret (the database of a rotated secret is found from its host and port)."""
    via = f"secretsmanager.{region}.amazonaws.com"
    secrets = f"arn:{partition}:secretsmanager:{region}:{account}:secret:"
    return [
        {
            "Sid": "Diagnose",
            "Effect": "Allow",
            "Resource": "*",
            "Action": [a for a in READ_ACTIONS if a not in (SECRET_VALUE_READ, LOG_READ)],
        },
        _read_secret_values(secrets, account, secret_prefixes),
        # Rotation functions are Lambda functions: their logs are under /aws/lambda/, and nothing else is read.
        _allow("ReadFunctionLogs", f"arn:{partition}:logs:{region}:{account}:log-group:/aws/lambda/*", LOG_READ),
        {
            "Sid": "DecryptSecretsThroughSecretsManagerOnly",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": {("StringLike" if "*" in via else "StringEquals"): {"kms:ViaService": via}},
        },
    ]


def _read_secret_values(secrets: str, account: str, prefixes: Sequence[str]) -> dict[str, Any]:
    if not prefixes:
        return _allow("ReadSecretValues", f"{secrets}*", SECRET_VALUE_READ)
    # A template cannot put its own ARN parts between list items (Fn::Join's delimiter takes no function): each prefix
    # is written under any partition, region and account, and aws:ResourceAccount holds it to this one.
    condition = {"StringEquals": {"aws:ResourceAccount": account}} if account != "*" else None
    return _allow(
        "ReadSecretValues", [f"arn:*:secretsmanager:*:*:secret:{p}*" for p in prefixes], SECRET_VALUE_READ, condition
    )


def write_statements(
    *, partition: str = "aws", region: str = "*", account: str = "*", allowed_vpcs: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """The writes the fix kinds declare, scoped as AWS can evaluate them (see the module's note)."""
    ec2 = f"arn:{partition}:ec2:{region}:{account}"
    functions = f"arn:{partition}:lambda:{region}:{account}:function:*"
    in_vpcs = {"ArnLike": {"ec2:Vpc": [f"arn:*:ec2:*:*:vpc/{v}" for v in allowed_vpcs]}} if allowed_vpcs else None
    vpc_ids = {"StringEquals": {"ec2:VpcID": list(allowed_vpcs)}} if allowed_vpcs else None
    # route53:VPCs holds "VPCId=<id>,VPCRegion=<region>" for each VPC of the request (Route 53 Developer Guide,
    # "Normalizing the Route 53 condition key values"; cited from memory). ForAllValues passes on a request without
    # the key, so the Null check requires it: a request that names no VPC is not admitted by accident.
    zone_vpcs = (
        {
            "ForAllValues:StringLike": {"route53:VPCs": [f"VPCId={v},VPCRegion=*" for v in allowed_vpcs]},
            "Null": {"route53:VPCs": "false"},
        }
        if allowed_vpcs
        else None
    )
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
        # ec2:VpceServiceName is not a key of ModifyVpcEndpoint (the Service Authorization Reference lists it for
        # CreateVpcEndpoint and DeleteVpcEndpoints only: testing it here would deny every call), nor is ec2:Vpc. What
        # AWS offers is the region of the endpoint's service: this region's services only (a Secrets Manager
        # endpoint is one), never a cross-region endpoint. tests/test_iam.py names why each other key is unused.
        _allow(
            "EndpointPrivateDns",
            f"{ec2}:vpc-endpoint/*",
            "ec2:ModifyVpcEndpoint",
            {"StringEquals": {"ec2:VpceServiceRegion": region if region != "*" else "${aws:RequestedRegion}"}},
        ),
        _allow("EndpointPrivateDnsZone", "*", "route53:AssociateVPCWithHostedZone", zone_vpcs),
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
    ]
    return statements


def attach_lambda_statement(
    *, partition: str = "aws", region: str = "*", account: str = "*", allowed_vpcs: Sequence[str] = ()
) -> dict[str, Any]:
    """ATTACH_LAMBDA_TO_VPC's one write, granted only where the deployer enables the fix kind (AttachLambdaToVpc).

    Only an update that carries a VPC configuration (lambda:VpcIds present: `Null` false), in an allowed VPC when
    there is an allow-list (`ForAllValues`, which alone would pass a request without the key), and that names no
    layer (lambda:Layer absent). IAM has no key for the handler, runtime or environment: the code never sends them
    (remediations/attach_lambda_to_vpc.py), and the opt-in keeps the action off every deployment that did not ask.
    The undo (detaching: an empty VPC configuration) carries no VPC key either, and so is not granted: a failed
    apply reports the function as left in the VPC, with the call that detaches it."""
    functions = f"arn:{partition}:lambda:{region}:{account}:function:*"
    condition: dict[str, Any] = {"Null": {"lambda:VpcIds": "false", "lambda:Layer": "true"}}
    if allowed_vpcs:
        condition["ForAllValues:StringEquals"] = {"lambda:VpcIds": list(allowed_vpcs)}
    return _allow("FunctionVpcSettings", functions, "lambda:UpdateFunctionConfiguration", condition)


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
    """An organization's hub worker: the member role (org/member.yaml) in any account of that organization, and no
    role of that name outside it (aws:ResourceOrgID is a global key, set for a role in an organization's account)."""
    return _allow(
        "AssumeMemberRoles",
        f"arn:{partition}:iam::*:role/{role_name}",
        "sts:AssumeRole",
        {"StringEquals": {"aws:ResourceOrgID": organization_id}},
    )


def member_statements(
    *, account: str, partition: str = "aws", allowed_vpcs: Sequence[str] = (), secret_prefixes: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """org/member.yaml's role: the worker's reads and writes in every region of one member account (an IAM role is
    global, so the region is "*" where the hub's own policy names its region)."""
    return [
        *read_statements("*", partition=partition, account=account, secret_prefixes=secret_prefixes),
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
        # A person's own credentials: every fix kind, ATTACH_LAMBDA_TO_VPC included (the service grants it only when
        # its deployer enables it).
        statements += [*write_statements(), attach_lambda_statement()]
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

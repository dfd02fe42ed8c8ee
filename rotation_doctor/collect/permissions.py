"""The IAM actions rotation-doctor needs to diagnose: one list, used by docs/permissions.md and the deployment."""

from __future__ import annotations

# Every read the collector can make. A missing one is reported (AWS_READ_FAILED), never taken as "none".
READ_ACTIONS: tuple[str, ...] = (
    "secretsmanager:DescribeSecret",
    "secretsmanager:ListSecrets",
    "secretsmanager:GetSecretValue",  # for host/port only; plus kms:Decrypt on the secret's key
    "secretsmanager:BatchGetSecretValue",
    "lambda:GetFunctionConfiguration",
    "lambda:GetPolicy",
    "lambda:ListTags",  # planning only: the rotation-doctor:ignore opt-out
    "ec2:DescribeVpcs",  # planning only: CIDR blocks and the opt-out tag
    "ec2:DescribeSubnets",
    "ec2:DescribeRouteTables",
    "ec2:DescribeNetworkAcls",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeVpcEndpoints",
    "ec2:DescribeVpcAttribute",
    "ec2:DescribeNatGateways",
    "ec2:DescribeInternetGateways",
    "ec2:DescribeVpcPeeringConnections",
    "ec2:DescribeTransitGateways",  # only where a route between a function and its database leads to one
    "ec2:DescribeTransitGatewayAttachments",
    "ec2:DescribeTransitGatewayVpcAttachments",
    "ec2:SearchTransitGatewayRoutes",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeManagedPrefixLists",  # only the lists security-group rules and routes name
    "ec2:GetManagedPrefixListEntries",
    "route53:ListHostedZonesByVPC",
    "route53:ListResourceRecordSets",
    "rds:DescribeDBInstances",
    "rds:DescribeDBClusters",
    "rds:DescribeDBSubnetGroups",
    "rds:DescribeDBClusterEndpoints",
    "rds:DescribeDBProxies",
    "rds:DescribeDBProxyEndpoints",
    "rds:DescribeDBProxyTargets",  # an RDS Proxy's targets and their health
    "redshift:DescribeClusters",
    "redshift:DescribeClusterSubnetGroups",
    "redshift-serverless:GetWorkgroup",
    "logs:FilterLogEvents",
)

# botocore service names whose IAM prefix differs.
IAM_PREFIX = {"docdb": "rds"}


def iam_action(service_name: str, operation: str) -> str:
    return f"{IAM_PREFIX.get(service_name, service_name)}:{operation}"

"""What wakes the service: the EventBridge patterns, once, for every rule that carries one.

The hub (template.yaml) matches them on its account's default bus and, in an organization, on its own bus;
each member (member.yaml) forwards what they match to that bus. Three copies of one pattern would drift, so
the patterns live here as data: `make templates` (scripts/event_patterns.py) writes them into both
templates, and tests/test_template.py fails when a template's pattern differs from this module.

Every source here is regional (EC2, Lambda, RDS, Redshift, Secrets Manager): CloudTrail delivers their
events to the default bus of the region where the call was made, so a member stack in each region sees
its own. A global service (IAM, Route 53) would only be seen in us-east-1; none is matched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

# EventBridge drops a CloudTrail record whose call AWS refused only if the pattern says so: `errorCode`
# absent (the handler checks again, for shapes a pattern cannot describe).
_SUCCEEDED: Final = {"errorCode": [{"exists": False}]}


def _api_calls(sources: list[str], event_sources: list[str], names: list[Any]) -> dict[str, Any]:
    return {
        "source": sources,
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {"eventSource": event_sources, **_SUCCEEDED, "eventName": names},
    }


PATTERNS: Final[Mapping[str, Mapping[str, Any]]] = {
    # Rotation's own outcome. RotationSucceeded closes the loop: a secret that rotates again is healthy.
    "rotation": {
        "source": ["aws.secretsmanager"],
        "detail-type": ["AWS Service Event via CloudTrail"],
        "detail": {
            "eventSource": ["secretsmanager.amazonaws.com"],
            "eventName": ["RotationFailed", "RotationAbandoned", "RotationSucceeded"],
        },
    },
    # EC2 calls that can break a rotation path (CloudTrail management events).
    "network": _api_calls(
        ["aws.ec2"],
        ["ec2.amazonaws.com"],
        [
            "RevokeSecurityGroupIngress",
            "RevokeSecurityGroupEgress",
            "ModifySecurityGroupRules",
            "DeleteVpcEndpoints",
            "ModifyVpcEndpoint",
            "DeleteNatGateway",
            "CreateRoute",
            "ReplaceRoute",
            "DeleteRoute",
            "AssociateRouteTable",
            "ReplaceRouteTableAssociation",
            "DisassociateRouteTable",
            "CreateNetworkAclEntry",
            "ReplaceNetworkAclEntry",
            "DeleteNetworkAclEntry",
            "ReplaceNetworkAclAssociation",
            "ModifyVpcAttribute",
            "DeleteVpcPeeringConnection",
            "DeleteEgressOnlyInternetGateway",
            "ModifyManagedPrefixList",
            "CreateTransitGatewayRoute",
            "ReplaceTransitGatewayRoute",
            "DeleteTransitGatewayRoute",
            "AssociateTransitGatewayRouteTable",
            "DisassociateTransitGatewayRouteTable",
            "DisableTransitGatewayRouteTablePropagation",
            "ModifyTransitGatewayVpcAttachment",
            "DeleteTransitGatewayVpcAttachment",
        ],
    ),
    # A rotation function's VPC settings, resource policy or existence. CloudTrail names Lambda calls with
    # their API version (UpdateFunctionConfiguration20150331v2): prefixes.
    "function": _api_calls(
        ["aws.lambda"],
        ["lambda.amazonaws.com"],
        [{"prefix": "UpdateFunctionConfiguration"}, {"prefix": "RemovePermission"}, {"prefix": "DeleteFunction"}],
    ),
    # A database's groups, subnets or proxy.
    "database": _api_calls(
        ["aws.rds", "aws.redshift"],
        ["rds.amazonaws.com", "redshift.amazonaws.com"],
        [
            "ModifyDBInstance",
            "ModifyDBCluster",
            "ModifyDBProxy",
            "ModifyDBProxyEndpoint",
            "ModifyDBProxyTargetGroup",
            "DeregisterDBProxyTargets",
            "ModifyDBSubnetGroup",
            "ModifyCluster",
            "ModifyClusterSubnetGroup",
        ],
    ),
    # Rotation set up or changed for a secret.
    "secret": _api_calls(["aws.secretsmanager"], ["secretsmanager.amazonaws.com"], ["RotateSecret"]),
    # A member's daily sweep (member.yaml's schedule, forwarded): the hub's worker sweeps that account and region.
    # Only EventBridge itself writes `aws.events` events: no principal of a member may put one.
    "sweep": {"source": ["aws.events"], "detail-type": ["Scheduled Event"]},
}

# Each rule of each template, by logical id, and the pattern it carries. Every AWS::Events::Rule with an
# EventPattern in a template is here (a test holds the templates to this table, both ways).
RULES: Final[Mapping[str, Mapping[str, str]]] = {
    "template.yaml": {
        "RotationFailedRule": "rotation",
        "NetworkChangeRule": "network",
        "FunctionChangeRule": "function",
        "DatabaseChangeRule": "database",
        "SecretChangeRule": "secret",
        # The hub's bus, where members forward theirs (an organization-wide deployment only).
        "MemberRotationRule": "rotation",
        "MemberNetworkChangeRule": "network",
        "MemberFunctionChangeRule": "function",
        "MemberDatabaseChangeRule": "database",
        "MemberSecretChangeRule": "secret",
        "MemberSweepRule": "sweep",
    },
    "member.yaml": {
        "ForwardRotationRule": "rotation",
        "ForwardNetworkChangeRule": "network",
        "ForwardFunctionChangeRule": "function",
        "ForwardDatabaseChangeRule": "database",
        "ForwardSecretChangeRule": "secret",
    },
}

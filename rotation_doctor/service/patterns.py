"""What wakes the service: the EventBridge patterns, once, for every rule that carries one.

The hub (template.yaml) matches them on its account's default bus and, in an organization, on its own bus;
each member (org/member.yaml) forwards what they match to that bus. Three copies of one pattern would drift, so
the patterns live here as data: `make templates` (scripts/event_patterns.py) writes them into both
templates, and tests/test_template.py fails when a template's pattern differs from this module.

Every source here is regional (EC2, Lambda, RDS, Redshift, Secrets Manager): CloudTrail delivers their
events to the default bus of the region where the call was made, so a member stack in each region sees
its own. A global service (IAM, Route 53) would only be seen in us-east-1; none is matched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, NotRequired, TypedDict


class PrefixMatch(TypedDict):
    prefix: str


class ExistsMatch(TypedDict):
    exists: bool


class Detail(TypedDict, total=False):
    """The part of an event pattern that matches the event's `detail` (a CloudTrail record's fields)."""

    eventSource: list[str]
    eventName: list[str | PrefixMatch]
    errorCode: list[ExistsMatch]


# An EventBridge event pattern, as the templates carry it ("detail-type" is no Python name: the functional form).
EventPattern = TypedDict("EventPattern", {"source": list[str], "detail-type": list[str], "detail": NotRequired[Detail]})

# EventBridge drops a CloudTrail record whose call AWS refused only if the pattern says so: `errorCode`
# absent (the handler checks again, for shapes a pattern cannot describe).
_SUCCEEDED: Final[Detail] = {"errorCode": [{"exists": False}]}


def _api_calls(sources: list[str], event_sources: list[str], names: list[str | PrefixMatch]) -> EventPattern:
    return {
        "source": sources,
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {"eventSource": event_sources, **_SUCCEEDED, "eventName": names},
    }


PATTERNS: Final[Mapping[str, EventPattern]] = {
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
            "CreateVpcEndpoint",
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
            "RestoreManagedPrefixListVersion",
            "CreateTransitGatewayRoute",
            "ReplaceTransitGatewayRoute",
            "DeleteTransitGatewayRoute",
            "AssociateTransitGatewayRouteTable",
            "DisassociateTransitGatewayRouteTable",
            "EnableTransitGatewayRouteTablePropagation",
            "DisableTransitGatewayRouteTablePropagation",
            "CreateTransitGatewayPrefixListReference",
            "ModifyTransitGatewayPrefixListReference",
            "DeleteTransitGatewayPrefixListReference",
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
    # A member's daily sweep (org/member.yaml's schedule, forwarded): the hub's worker sweeps that account and region.
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
    "org/member.yaml": {
        "ForwardRotationRule": "rotation",
        "ForwardNetworkChangeRule": "network",
        "ForwardFunctionChangeRule": "function",
        "ForwardDatabaseChangeRule": "database",
        "ForwardSecretChangeRule": "secret",
    },
}


@dataclass(frozen=True)
class SweptOnly:
    """A fact no matched event announces: its changes are found by the next sweep (or event) that reads it."""

    why: str


_ROTATION_OUTCOMES = ("RotationFailed", "RotationAbandoned", "RotationSucceeded")

# What announces a change to each fact a diagnosis can read (each field of `model.snapshot.Snapshot`, what
# `model.reads` records): the CloudTrail events, matched by PATTERNS, whose ids then name the fact; or why the sweep
# alone finds it. tests/test_template.py holds the keys to the Snapshot's fields and each event to a pattern: a
# fact added to the snapshot fails it until it is given its events, or its reason.
WOKEN_BY: Final[Mapping[str, tuple[str, ...] | SweptOnly]] = {
    "region": SweptOnly("the place the snapshot was read in, not a fact of it: it never changes"),
    "secret": ("RotateSecret", *_ROTATION_OUTCOMES),
    "function": ("UpdateFunctionConfiguration", "DeleteFunction"),
    "function_policy": ("RemovePermission",),
    # The value's host and port: PutSecretValue is every rotation's own write (matching it would wake the worker on
    # each rotation); a value that points at the wrong place fails the rotation, whose outcome wakes it.
    "target_ref": _ROTATION_OUTCOMES,
    "database": (
        "ModifyDBInstance",
        "ModifyDBCluster",
        "ModifyDBProxy",
        "ModifyDBProxyEndpoint",
        "ModifyDBProxyTargetGroup",
        "DeregisterDBProxyTargets",
        "ModifyDBSubnetGroup",
        "ModifyCluster",
        "ModifyClusterSubnetGroup",
    ),
    "vpcs": SweptOnly("a VPC's CIDR blocks change by association, which breaks no path that worked before"),
    "dns_attributes": ("ModifyVpcAttribute",),
    "subnets": SweptOnly("a subnet's range, zone and VPC never change; a subnet in use cannot be deleted"),
    "route_tables": (
        "CreateRoute",
        "ReplaceRoute",
        "DeleteRoute",
        "AssociateRouteTable",
        "ReplaceRouteTableAssociation",
        "DisassociateRouteTable",
        # A route's target deleted leaves the route a blackhole: the call names the target, which the table names.
        "DeleteNatGateway",
        "DeleteEgressOnlyInternetGateway",
        "DeleteVpcPeeringConnection",
        "DeleteVpcEndpoints",
        "DeleteTransitGatewayVpcAttachment",
        # A gateway endpoint writes its routes into the tables the call names.
        "CreateVpcEndpoint",
    ),
    "network_acls": (
        "CreateNetworkAclEntry",
        "ReplaceNetworkAclEntry",
        "DeleteNetworkAclEntry",
        "ReplaceNetworkAclAssociation",
    ),
    "security_groups": ("RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress", "ModifySecurityGroupRules"),
    # A restore writes an earlier version's entries as the list's current ones (the call names the list).
    "prefix_lists": ("ModifyManagedPrefixList", "RestoreManagedPrefixListVersion"),
    # A new interface endpoint with private DNS takes over the service's name in its VPC: one whose groups do not admit
    # the function breaks a path that worked. The call names the VPC: the subject of the diagnosis's query for the
    # endpoints in the function's VPC (docs/reads.md).
    "vpc_endpoints": ("CreateVpcEndpoint", "DeleteVpcEndpoints", "ModifyVpcEndpoint"),
    "nat_gateways": ("DeleteNatGateway",),
    "internet_gateways": SweptOnly(
        "DetachInternetGateway is not matched yet: a VPC losing its gateway is found by the sweep (a NAT path then "
        "reads the gateway again)"
    ),
    "peerings": ("DeleteVpcPeeringConnection",),
    "transit_gateways": SweptOnly(
        "ModifyTransitGateway (its group referencing) is not matched yet: found by the sweep; a gateway's deletion "
        "deletes its attachments first, which are matched"
    ),
    "tgw_attachments": (
        "ModifyTransitGatewayVpcAttachment",
        "DeleteTransitGatewayVpcAttachment",
        "AssociateTransitGatewayRouteTable",
        "DisassociateTransitGatewayRouteTable",
    ),
    "tgw_route_tables": (
        "CreateTransitGatewayRoute",
        "ReplaceTransitGatewayRoute",
        "DeleteTransitGatewayRoute",
        # Propagation adds or removes the attachment's routes (a longer propagated prefix wins over a static one);
        # a prefix-list reference is a route to each of the list's entries. Each call names the route table.
        "EnableTransitGatewayRouteTablePropagation",
        "DisableTransitGatewayRouteTablePropagation",
        "CreateTransitGatewayPrefixListReference",
        "ModifyTransitGatewayPrefixListReference",
        "DeleteTransitGatewayPrefixListReference",
    ),
    "hosted_zones": SweptOnly(
        "Route 53 is global: its CloudTrail events reach us-east-1's bus only, not the secret's region (see above)"
    ),
    "log_signals": SweptOnly("evidence, read when something is wrong: a log line is no change to the account"),
    "network_interfaces": SweptOnly("read for planning only (who else calls Secrets Manager), never by a diagnosis"),
    "failures": SweptOnly("a read that failed is tried again by the next event or sweep: no call announces it"),
    "account_reads": SweptOnly(
        "facts read through another member account's role (a shared VPC's endpoint and zone): a change there is that "
        "account's event, which wakes that account's secrets only; the daily sweep reads them again for these"
    ),
    "rotation_failed_recently": _ROTATION_OUTCOMES,
}


def matched_event_names() -> frozenset[str]:
    """Every eventName some pattern matches exactly (a prefix matcher by its prefix: Lambda's names carry a date)."""
    names: set[str] = set()
    for pattern in PATTERNS.values():
        detail = pattern.get("detail", {})
        for name in detail.get("eventName", ()):
            names.add(name["prefix"] if isinstance(name, Mapping) else name)
    return frozenset(names)

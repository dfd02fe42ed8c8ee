"""Terraform plan JSON (`terraform show -json PLAN`, format 1.2) and CloudFormation DescribeChangeSet responses, in
the shapes the tools write them, made from the ids of a simulated account."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from rotation_doctor.simulated import scenarios
from rotation_doctor.simulated.account import AccountBuilder
from tests import whatif_plans as tf

PROVIDER = "registry.terraform.io/hashicorp/aws"
ARN = "arn:aws:cloudformation:us-east-1:123456789012"


def _unknown_of(after: dict[str, Any] | None, unknown: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {k: True for k in unknown}
    for key, value in (after or {}).items():
        if key in out:
            continue
        if isinstance(value, list):
            out[key] = [{} if isinstance(v, dict) else False for v in value]
        elif isinstance(value, dict):
            out[key] = {}
    return out


def resource_change(
    address: str,
    kind: str,
    actions: list[str],
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    *,
    unknown: tuple[str, ...] = (),
) -> dict[str, Any]:
    """One `resource_changes[]` item: `unknown` names the keys of `after` known only after apply."""
    parts = address.split(".")
    item: dict[str, Any] = {
        "address": address,
        "mode": "managed",
        "type": kind,
        "name": parts[-1],
        "provider_name": PROVIDER,
        "change": {
            "actions": actions,
            "before": before,
            "after": {k: v for k, v in (after or {}).items() if k not in unknown} if after is not None else None,
            "after_unknown": _unknown_of(after, unknown) if after is not None else {},
            "before_sensitive": {} if before is not None else False,
            "after_sensitive": {} if after is not None else False,
        },
    }
    if len(parts) > 2:  # a module's resource: module.NAME.TYPE.NAME
        item["module_address"] = ".".join(parts[:-2])
    if actions in (["delete", "create"], ["create", "delete"]):
        item["action_reason"] = "replace_because_cannot_update"
    return item


def plan(*changes: dict[str, Any]) -> str:
    """The whole document, with the fields around `resource_changes` a real plan has."""
    return json.dumps(
        {
            "format_version": "1.2",
            "terraform_version": "1.9.5",
            "planned_values": {"root_module": {}},
            "resource_changes": list(changes),
            "configuration": {"provider_config": {"aws": {"name": "aws", "full_name": PROVIDER}}, "root_module": {}},
            "timestamp": "2026-11-29T15:00:00Z",
            "applyable": True,
            "complete": True,
            "errored": False,
        }
    )


# ----- Terraform resources' attributes, as the AWS provider (v5) stores them --------------------------


def tf_endpoint(endpoint_id: str, vpc: str, subnets: list[str], groups: list[str], region: str) -> dict[str, Any]:
    return {
        "arn": f"arn:aws:ec2:{region}:123456789012:vpc-endpoint/{endpoint_id}",
        "auto_accept": None,
        "cidr_blocks": [],
        "dns_entry": [
            {"dns_name": f"{endpoint_id}.secretsmanager.{region}.vpce.amazonaws.com", "hosted_zone_id": "Z7HUB"}
        ],
        "dns_options": [{"dns_record_ip_type": "ipv4", "private_dns_only_for_inbound_resolver_endpoint": False}],
        "id": endpoint_id,
        "ip_address_type": "ipv4",
        "network_interface_ids": ["eni-0a1b2c3d4e5f60718"],
        "owner_id": "123456789012",
        "policy": json.dumps({"Statement": [{"Action": "*", "Effect": "Allow", "Principal": "*", "Resource": "*"}]}),
        "prefix_list_id": None,
        "private_dns_enabled": True,
        "requester_managed": False,
        "route_table_ids": [],
        "security_group_ids": groups,
        "service_name": f"com.amazonaws.{region}.secretsmanager",
        "state": "available",
        "subnet_configuration": [],
        "subnet_ids": subnets,
        "tags": {"Name": "secretsmanager"},
        "tags_all": {"Name": "secretsmanager"},
        "timeouts": None,
        "vpc_endpoint_type": "Interface",
        "vpc_id": vpc,
    }


def tf_ingress_rule(rule_id: str, group: str, peer: str, port: int, description: str) -> dict[str, Any]:
    return {
        "arn": f"arn:aws:ec2:us-east-1:123456789012:security-group-rule/{rule_id}",
        "cidr_ipv4": None,
        "cidr_ipv6": None,
        "description": description,
        "from_port": port,
        "id": rule_id,
        "ip_protocol": "tcp",
        "prefix_list_id": None,
        "referenced_security_group_id": peer,
        "security_group_id": group,
        "security_group_rule_id": rule_id,
        "tags": None,
        "tags_all": {},
        "to_port": port,
    }


def tf_nacl_entry(rule_no: int, action: str, protocol: str, cidr: str, low: int, high: int) -> dict[str, Any]:
    return {
        "action": action,
        "cidr_block": cidr,
        "from_port": low,
        "icmp_code": 0,
        "icmp_type": 0,
        "ipv6_cidr_block": "",
        "protocol": protocol,
        "rule_no": rule_no,
        "to_port": high,
    }


def tf_network_acl(
    acl_id: str, vpc: str, subnets: list[str], ingress: list[dict[str, Any]], egress: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "arn": f"arn:aws:ec2:us-east-1:123456789012:network-acl/{acl_id}",
        "egress": egress,
        "id": acl_id,
        "ingress": ingress,
        "owner_id": "123456789012",
        "subnet_ids": subnets,
        "tags": {"Name": "orders-app"},
        "tags_all": {"Name": "orders-app"},
        "vpc_id": vpc,
    }


def tf_security_group_rule(group: str, port: int, cidr: str) -> dict[str, Any]:
    return {
        "cidr_blocks": [cidr],
        "description": "app traffic",
        "from_port": port,
        "id": "sgrule-3453287291",
        "ipv6_cidr_blocks": None,
        "prefix_list_ids": None,
        "protocol": "tcp",
        "security_group_id": group,
        "security_group_rule_id": "sgr-0b5a2b1c9d8e7f601",
        "self": False,
        "source_security_group_id": None,
        "timeouts": None,
        "to_port": port,
        "type": "ingress",
    }


def tf_s3_bucket(name: str) -> dict[str, Any]:
    return {"bucket": name, "force_destroy": False, "tags": {"team": "orders"}, "timeouts": None}


# ----- CloudFormation ---------------------------------------------------------------------------------


def cfn_change(
    logical: str,
    kind: str,
    action: str,
    *,
    physical: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    replacement: str | None = None,
) -> dict[str, Any]:
    """One `Changes[]` item of DescribeChangeSet with IncludePropertyValues."""
    rc: dict[str, Any] = {
        "PolicyAction": "Delete" if action == "Remove" else None,
        "Action": action,
        "LogicalResourceId": logical,
        "ResourceType": kind,
        "Scope": ["Properties"] if action == "Modify" else [],
        "Details": [],
    }
    if physical:
        rc["PhysicalResourceId"] = physical
    if replacement:
        rc["Replacement"] = replacement
    if before is not None:
        rc["BeforeContext"] = json.dumps({"Properties": before})
    if after is not None:
        rc["AfterContext"] = json.dumps({"Properties": after})
    return {
        "Type": "Resource",
        "ResourceChange": {k: v for k, v in rc.items() if v is not None},
    }


def change_set_page(
    stack: str, name: str, changes: list[dict[str, Any]], next_token: str | None = None
) -> dict[str, Any]:
    from datetime import UTC, datetime

    page: dict[str, Any] = {
        "Changes": changes,
        "ChangeSetName": name,
        "ChangeSetId": f"{ARN}:changeSet/{name}/0f2c9e1a-7b3d-4c5e-9f60-1a2b3c4d5e6f",
        "StackId": f"{ARN}:stack/{stack}/5d1e4a20-0b7c-11ef-9a3b-0a1b2c3d4e5f",
        "StackName": stack,
        "Parameters": [],
        "CreationTime": datetime(2026, 11, 29, 15, 0, tzinfo=UTC),
        "ExecutionStatus": "AVAILABLE",
        "Status": "CREATE_COMPLETE",
        "NotificationARNs": [],
        "RollbackConfiguration": {},
        "Capabilities": [],
        "IncludeNestedStacks": False,
    }
    if next_token:
        page["NextToken"] = next_token
    return page


def rules_and_buckets(fn_group: str, count: int) -> str:
    """`count` changes: half of them rules on the function's own group (every secret's path uses it)."""
    items = []
    for i in range(count):
        if i % 2:
            items.append(
                resource_change(
                    f"aws_s3_bucket.b{i}", "aws_s3_bucket", ["create"], None, tf_s3_bucket(f"b{i}"), unknown=("id",)
                )
            )
        else:
            rule = tf_security_group_rule(fn_group, 1024 + i % 60000, "10.20.0.0/16")
            items.append(
                resource_change(
                    f"aws_security_group_rule.r{i}", "aws_security_group_rule", ["create"], None, rule, unknown=("id",)
                )
            )
    return plan(*items)


ORDERS = scenarios.DEMO_SECRET

LEDGER = "prod/ledger/db"

REGION = "us-east-1"


@dataclass
class Account:
    """The healthy account (`scenarios.healthy_with_ledger`): the orders function in two app subnets behind their
    own ACL, a Secrets Manager endpoint, the orders database in the same VPC and the ledger database in a peered
    one; and the id AWS gave the database group's rule that admits the function."""

    o: scenarios.Orders
    db_rule_id: str

    @property
    def endpoint(self) -> str:
        return self.o.extra["endpoint"]

    @property
    def acl(self) -> str:
        return self.o.extra["acl"]


def _db_rule_id(b: AccountBuilder, group: str, peer: str) -> str:
    rules = b.ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])["SecurityGroupRules"]
    return next(r["SecurityGroupRuleId"] for r in rules if (r.get("ReferencedGroupInfo") or {}).get("GroupId") == peer)


def healthy_account(builder: AccountBuilder) -> Account:
    o = scenarios.healthy_with_ledger(builder, ledger_secret=LEDGER)
    return Account(o, _db_rule_id(builder, o.db_sg, o.fn_sg))


def delete_db_ingress(a: Account) -> str:
    before = tf.tf_ingress_rule(a.db_rule_id, a.o.db_sg, a.o.fn_sg, 5432, "rotation")
    address = "module.orders_db.aws_vpc_security_group_ingress_rule.rotation"
    return tf.plan(tf.resource_change(address, "aws_vpc_security_group_ingress_rule", ["delete"], before, None))

"""DocumentDB clusters and Redshift Serverless workgroups go through the same model as RDS: diagnosed end to end on
the simulated account (moto: network, function, secret) with the database API answered by botocore's Stubber in
the APIs' real response shapes (moto does not emulate DocumentDB or Redshift Serverless)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.stub import Stubber

from rotation_doctor.examine import diagnose_secret
from rotation_doctor.model.findings import Verdict
from rotation_doctor.model.snapshot import TargetKind
from rotation_doctor.simulated import scenarios
from rotation_doctor.simulated.account import AccountBuilder, tcp
from tests.stubbed_databases import docdb_cluster_calls

DOCDB_HOST = "catalog.cluster-c9akciq32.us-east-1.docdb.amazonaws.com"
SERVERLESS_HOST = "analytics.123456789012.us-east-1.redshift-serverless.amazonaws.com"


def _database_group(b: AccountBuilder, o: scenarios.Orders, port: int, admits: bool) -> str:
    """The database's group in the orders VPC: it admits the rotation function's group on `port`, or only the app's."""
    return b.security_group(o.net, f"db-{port}", ingress=[tcp(port, group=o.fn_sg if admits else o.app_sg)])


def _secret(b: AccountBuilder, o: scenarios.Orders, name: str, value: dict[str, Any]) -> None:
    b.rotated_secret(name, {**value, "username": "rotator", "password": scenarios.CANARY_PASSWORD}, o.function_arn)


@pytest.mark.parametrize("admits", [True, False])
def test_a_documentdb_cluster(builder: AccountBuilder, admits: bool) -> None:
    o = scenarios.orders(builder, endpoint=True)
    group = _database_group(builder, o, 27017, admits)
    _secret(builder, o, "prod/catalog/docdb", {"engine": "mongo", "host": DOCDB_HOST, "port": 27017})
    cluster = {
        "DBClusterIdentifier": "catalog",
        "DBClusterArn": "arn:aws:rds:us-east-1:123456789012:cluster:catalog",
        "Engine": "docdb",
        "EngineVersion": "5.0.0",
        "Status": "available",
        "Port": 27017,
        "Endpoint": DOCDB_HOST,
        "ReaderEndpoint": DOCDB_HOST.replace("cluster-", "cluster-ro-"),
        "MultiAZ": True,
        "DBSubnetGroup": "catalog-subnets",
        "VpcSecurityGroups": [{"VpcSecurityGroupId": group, "Status": "active"}],
        "DBClusterMembers": [{"DBInstanceIdentifier": "catalog-1", "IsClusterWriter": True}],
    }
    subnet_group = {
        "DBSubnetGroupName": "catalog-subnets",
        "DBSubnetGroupDescription": "catalog",
        "VpcId": o.net.vpc,
        "SubnetGroupStatus": "Complete",
        "Subnets": [
            {"SubnetIdentifier": s, "SubnetAvailabilityZone": {"Name": f"us-east-1{z}"}, "SubnetStatus": "Active"}
            for s, z in zip(o.db_subnets, "ab", strict=True)
        ],
    }
    with Stubber(builder.clients.docdb) as stub:
        for operation, response, params in docdb_cluster_calls(cluster, subnet_group):
            stub.add_response(operation, response, params)
        snap, d = diagnose_secret(builder.clients, "prod/catalog/docdb")
        stub.assert_no_pending_responses()
    assert snap.database is not None and snap.database.kind is TargetKind.DOCDB_CLUSTER
    assert snap.database.subnet_ids == tuple(o.db_subnets) and snap.database.port == 27017
    if admits:
        assert d.verdict is Verdict.HEALTHY, d.findings
    else:
        assert d.verdict is Verdict.BROKEN and d.codes() == ["DB_SG_INGRESS_DENIES"], d.findings
        assert group in d.findings[0].resources and "27017" in d.findings[0].summary


@pytest.mark.parametrize("admits", [True, False])
def test_a_redshift_serverless_workgroup(builder: AccountBuilder, admits: bool) -> None:
    o = scenarios.orders(builder, endpoint=True)
    group = _database_group(builder, o, 5439, admits)
    _secret(builder, o, "prod/analytics/redshift", {"engine": "redshift", "host": SERVERLESS_HOST, "port": 5439})
    workgroup = {
        "workgroupId": "7f3a1c2e-0000-4000-8000-000000000001",
        "workgroupArn": "arn:aws:redshift-serverless:us-east-1:123456789012:workgroup/7f3a1c2e",
        "workgroupName": "analytics",
        "namespaceName": "analytics",
        "baseCapacity": 8,
        "enhancedVpcRouting": False,
        "status": "AVAILABLE",
        "port": 5439,
        "subnetIds": o.db_subnets,
        "securityGroupIds": [group],
        "publiclyAccessible": False,
        "endpoint": {
            "address": SERVERLESS_HOST,
            "port": 5439,
            "vpcEndpoints": [
                {
                    "vpcEndpointId": "vpce-0a1b2c3d4e5f60718",
                    "vpcId": o.net.vpc,
                    "networkInterfaces": [
                        {
                            "networkInterfaceId": "eni-0a1b2c3d4e5f60718",
                            "subnetId": o.db_subnets[0],
                            "privateIpAddress": "10.20.11.25",
                            "availabilityZone": "us-east-1a",
                        }
                    ],
                }
            ],
        },
    }
    with Stubber(builder.clients.redshift_serverless) as stub:
        stub.add_response("get_workgroup", {"workgroup": workgroup}, {"workgroupName": "analytics"})
        snap, d = diagnose_secret(builder.clients, "prod/analytics/redshift")
        stub.assert_no_pending_responses()
    assert snap.database is not None and snap.database.kind is TargetKind.REDSHIFT_SERVERLESS
    assert snap.database.vpc_id == o.net.vpc and snap.database.port == 5439
    if admits:
        assert d.verdict is Verdict.HEALTHY, d.findings
    else:
        assert d.verdict is Verdict.BROKEN and d.codes() == ["DB_SG_INGRESS_DENIES"], d.findings
        assert group in d.findings[0].resources and "5439" in d.findings[0].summary


def test_the_secret_never_leaves_the_value_parser(builder: AccountBuilder) -> None:
    """The canary password is in the secret's value; nothing the diagnosis returns may hold it."""
    o = scenarios.orders(builder, endpoint=True)
    _database_group(builder, o, 5439, True)
    _secret(builder, o, "prod/analytics/redshift", {"engine": "redshift", "host": SERVERLESS_HOST, "port": 5439})
    with Stubber(builder.clients.redshift_serverless) as stub:
        stub.add_client_error("get_workgroup", "ResourceNotFoundException", "no such workgroup", 404)
        snap, d = diagnose_secret(builder.clients, "prod/analytics/redshift")
    assert d.codes() == ["DB_TARGET_UNRESOLVED"]
    assert scenarios.CANARY_PASSWORD not in json.dumps(d.to_json()) + repr(snap)

"""Finding the database behind a secret, for the services moto does not emulate (botocore Stubber with the
APIs' real response shapes) and for those it does (moto)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from rotation_doctor.collect.aws import AwsClients
from rotation_doctor.collect.collector import Collector, _Facts
from rotation_doctor.collect.databases import DatabaseResolver
from rotation_doctor.collect.targets import ref_from_secret_string, ref_from_tag
from rotation_doctor.examine import diagnose_secret
from rotation_doctor.model.findings import Verdict
from rotation_doctor.model.snapshot import TargetKind, TargetRef
from rotation_doctor.simulated import scenarios
from rotation_doctor.simulated.account import AccountBuilder, tcp
from tests.stubbed_databases import docdb_cluster_calls


def resolver_with(stubs: dict[str, list[tuple[str, dict[str, Any], dict[str, Any]]]]):  # type: ignore[no-untyped-def]
    clients = AwsClients(boto3.session.Session(region_name="us-east-1"), region="us-east-1")
    stubbers = []
    for service, calls in stubs.items():
        client = clients.client(service)
        stubber = Stubber(client)
        for operation, response, params in calls:
            stubber.add_response(operation, response, params)
        stubber.activate()
        stubbers.append(stubber)
    collector = Collector(clients)
    facts = _Facts()
    resolver = DatabaseResolver(clients, collector._read_into(facts), collector._parallel, facts.failures)
    return resolver, facts, stubbers


def resolve(ref: TargetRef, stubs: dict[str, list[tuple[str, dict[str, Any], dict[str, Any]]]]):  # type: ignore[no-untyped-def]
    resolver, facts, stubbers = resolver_with(stubs)
    resolver.resolve([ref])
    for stubber in stubbers:
        stubber.assert_no_pending_responses()
    return resolver.found.get(ref), facts


DOCDB_HOST = "catalog.cluster-c9akciq32.us-east-1.docdb.amazonaws.com"


def test_documentdb_cluster_from_its_host() -> None:
    ref = ref_from_secret_string(json.dumps({"engine": "mongo", "host": DOCDB_HOST, "port": 27017}))
    assert ref is not None
    cluster = {
        "DBClusterIdentifier": "catalog",
        "Engine": "docdb",
        "Port": 27017,
        "Endpoint": DOCDB_HOST,
        "ReaderEndpoint": DOCDB_HOST.replace("cluster-", "cluster-ro-"),
        "DBSubnetGroup": "catalog-subnets",
        "VpcSecurityGroups": [{"VpcSecurityGroupId": "sg-docdb", "Status": "active"}],
    }
    group = {
        "DBSubnetGroupName": "catalog-subnets",
        "VpcId": "vpc-data",
        "Subnets": [
            {
                "SubnetIdentifier": "subnet-1",
                "SubnetAvailabilityZone": {"Name": "us-east-1a"},
                "SubnetStatus": "Active",
            },
            {
                "SubnetIdentifier": "subnet-2",
                "SubnetAvailabilityZone": {"Name": "us-east-1b"},
                "SubnetStatus": "Active",
            },
        ],
    }
    db, _ = resolve(ref, {"docdb": docdb_cluster_calls(cluster, group)})
    assert db is not None and db.kind is TargetKind.DOCDB_CLUSTER
    assert (db.vpc_id, db.subnet_ids, db.security_group_ids, db.port) == (
        "vpc-data",
        ("subnet-1", "subnet-2"),
        ("sg-docdb",),
        27017,
    )


def test_documentdb_host_of_another_account_is_not_matched() -> None:
    ref = ref_from_secret_string(json.dumps({"host": DOCDB_HOST.replace("c9akciq32", "zzzzzzzzz")}))
    assert ref is not None
    cluster = {
        "DBClusterIdentifier": "catalog",
        "Port": 27017,
        "Endpoint": DOCDB_HOST,
        "DBSubnetGroup": "g",
        "VpcSecurityGroups": [],
    }
    db, _ = resolve(
        ref, {"docdb": docdb_cluster_calls(cluster, {"DBSubnetGroupName": "g", "VpcId": "v", "Subnets": []})}
    )
    assert db is None


def test_redshift_serverless_workgroup() -> None:
    host = "analytics.123456789012.us-east-1.redshift-serverless.amazonaws.com"
    ref = ref_from_secret_string(json.dumps({"engine": "redshift", "host": host}))
    assert ref is not None
    workgroup = {
        "workgroupName": "analytics",
        "port": 5439,
        "subnetIds": ["subnet-1", "subnet-2", "subnet-3"],
        "securityGroupIds": ["sg-rs"],
        "publiclyAccessible": False,
        "endpoint": {
            "address": host,
            "port": 5439,
            "vpcEndpoints": [{"vpcEndpointId": "vpce-rs", "vpcId": "vpc-data"}],
        },
    }
    db, _ = resolve(
        ref, {"redshift-serverless": [("get_workgroup", {"workgroup": workgroup}, {"workgroupName": "analytics"})]}
    )
    assert db is not None and db.kind is TargetKind.REDSHIFT_SERVERLESS
    assert (db.vpc_id, len(db.subnet_ids), db.port) == ("vpc-data", 3, 5439)


def test_aurora_custom_endpoint_leads_to_its_cluster() -> None:
    host = "reports.cluster-custom-c9akciq32.us-east-1.rds.amazonaws.com"
    ref = ref_from_secret_string(json.dumps({"host": host, "port": 5432}))
    assert ref is not None
    cluster = {
        "DBClusterIdentifier": "orders",
        "Port": 5432,
        "Endpoint": "orders.cluster-c9akciq32.x",
        "CustomEndpoints": [host],
        "DBSubnetGroup": "orders-data",
        "VpcSecurityGroups": [{"VpcSecurityGroupId": "sg-db", "Status": "active"}],
    }
    db, _ = resolve(
        ref,
        {
            "rds": [
                (
                    "describe_db_cluster_endpoints",
                    {
                        "DBClusterEndpoints": [
                            {"DBClusterIdentifier": "orders", "Endpoint": host, "EndpointType": "CUSTOM"}
                        ]
                    },
                    {"DBClusterEndpointIdentifier": "reports"},
                ),
                (
                    "describe_db_clusters",
                    {"DBClusters": [cluster]},
                    {"Filters": [{"Name": "db-cluster-id", "Values": ["orders"]}]},
                ),
                (
                    "describe_db_subnet_groups",
                    {
                        "DBSubnetGroups": [
                            {
                                "DBSubnetGroupName": "orders-data",
                                "VpcId": "vpc-1",
                                "Subnets": [{"SubnetIdentifier": "subnet-a"}],
                            }
                        ]
                    },
                    {"DBSubnetGroupName": "orders-data"},
                ),
            ]
        },
    )
    assert db is not None and db.identifier == "orders" and db.subnet_ids == ("subnet-a",)


def test_rds_proxy_endpoint() -> None:
    host = "ro.endpoint.proxy-c9akciq32.us-east-1.rds.amazonaws.com"
    ref = ref_from_secret_string(json.dumps({"host": host, "engine": "postgres"}))
    assert ref is not None
    endpoint = {
        "DBProxyEndpointName": "ro",
        "DBProxyName": "orders-proxy",
        "Endpoint": host,
        "VpcId": "vpc-1",
        "VpcSubnetIds": ["subnet-a", "subnet-b"],
        "VpcSecurityGroupIds": ["sg-proxy"],
    }
    db, _ = resolve(
        ref, {"rds": [("describe_db_proxy_endpoints", {"DBProxyEndpoints": [endpoint]}, {"DBProxyEndpointName": "ro"})]}
    )
    assert db is not None and db.kind is TargetKind.RDS_PROXY and db.port == 5432
    assert db.security_group_ids == ("sg-proxy",)


def test_single_az_instance_can_only_be_in_its_zone() -> None:
    ref = ref_from_tag("rds:orders")
    assert ref is not None
    instance = {
        "DBInstanceIdentifier": "orders",
        "Engine": "postgres",
        "MultiAZ": False,
        "AvailabilityZone": "us-east-1b",
        "Endpoint": {"Address": "orders.x.us-east-1.rds.amazonaws.com", "Port": 5432},
        "VpcSecurityGroups": [
            {"VpcSecurityGroupId": "sg-db", "Status": "active"},
            {"VpcSecurityGroupId": "sg-old", "Status": "removing"},
        ],
        "DBSubnetGroup": {
            "VpcId": "vpc-1",
            "Subnets": [
                {"SubnetIdentifier": "subnet-a", "SubnetAvailabilityZone": {"Name": "us-east-1a"}},
                {"SubnetIdentifier": "subnet-b", "SubnetAvailabilityZone": {"Name": "us-east-1b"}},
            ],
        },
    }
    db, _ = resolve(
        ref,
        {
            "rds": [
                (
                    "describe_db_instances",
                    {"DBInstances": [instance]},
                    {"Filters": [{"Name": "db-instance-id", "Values": ["orders"]}]},
                )
            ]
        },
    )
    assert db is not None and db.subnet_ids == ("subnet-b",) and db.security_group_ids == ("sg-db",)


def test_denied_database_read_is_recorded_for_the_secret() -> None:
    ref = ref_from_tag("rds:orders")
    assert ref is not None
    resolver, facts, stubbers = resolver_with({"rds": []})
    stubbers[0].add_client_error("describe_db_instances", "AccessDenied", "not authorized")
    resolver.resolve([ref])
    assert ref not in resolver.found
    assert facts.failures["database:rds-instance:orders"].permission == "rds:DescribeDBInstances"


# ----- on moto ----------------------------------------------------------------------------------


def test_redshift_cluster_on_moto(builder: AccountBuilder) -> None:
    # moto leaves the cluster's VpcId empty; the subnet group has it (see docs/moto.md).
    o = scenarios.orders(builder, db_admits_function=True, endpoint=True)
    rs_sg = builder.security_group(o.net, "warehouse", ingress=[tcp(5439, group=o.fn_sg)])
    builder.clients.redshift.create_cluster_subnet_group(
        ClusterSubnetGroupName="warehouse", Description="w", SubnetIds=o.db_subnets
    )
    made = builder.clients.redshift.create_cluster(
        ClusterIdentifier="warehouse",
        NodeType="ra3.xlplus",
        MasterUsername="admin",
        MasterUserPassword="Xx12345678",
        ClusterSubnetGroupName="warehouse",
        VpcSecurityGroupIds=[rs_sg],
    )["Cluster"]
    builder.rotated_secret(
        "prod/warehouse",
        {
            "engine": "redshift",
            "host": made["Endpoint"]["Address"],
            "port": 5439,
            "password": scenarios.CANARY_PASSWORD,
        },
        o.function_arn,
    )
    _, d = diagnose_secret(builder.clients, "prod/warehouse")
    assert d.verdict is Verdict.HEALTHY, d.findings
    assert d.context["database"]["kind"] == "redshift-cluster" and d.context["database"]["vpc"] == o.net.vpc


@pytest.mark.parametrize("admit", [True, False])
def test_rds_proxy_on_moto(builder: AccountBuilder, admit: bool) -> None:
    o = scenarios.orders(builder, db_admits_function=True, endpoint=True)
    scenarios.proxied_database(builder, o, admits_function=admit)
    _, d = diagnose_secret(builder.clients, "prod/orders/via-proxy")
    assert d.context["database"]["kind"] == "rds-proxy"
    assert (d.verdict is Verdict.HEALTHY) is admit
    assert admit or "DB_SG_INGRESS_DENIES" in d.codes()

"""From a secret to the database lookup: value fields, the target tag, host names of every service."""

from __future__ import annotations

import json

import pytest

from rotation_doctor.analysis import logs
from rotation_doctor.collect.targets import (
    Lookup,
    lookup_for,
    lookup_for_host,
    port_for,
    ref_from_secret_string,
    ref_from_tag,
)


def test_secret_value_keeps_only_connection_fields() -> None:
    ref = ref_from_secret_string(
        json.dumps(
            {
                "engine": "postgres",
                "host": "Orders.abc123.us-east-1.rds.amazonaws.com",
                "port": "5432",
                "username": "app",
                "password": "hunter2",
                "dbname": "orders",
                "masterarn": "arn:x",
            }
        )
    )
    assert ref is not None
    assert (ref.host, ref.port, ref.engine) == ("orders.abc123.us-east-1.rds.amazonaws.com", 5432, "postgres")
    assert "hunter2" not in repr(ref)


@pytest.mark.parametrize("value", ["not json", "[1, 2]", json.dumps({"username": "u", "password": "p"}), ""])
def test_secret_value_without_connection_fields(value: str) -> None:
    assert ref_from_secret_string(value) is None


@pytest.mark.parametrize(
    "tag,lookup",
    [
        ("rds:orders-db", Lookup("rds-instance", "orders-db")),
        ("rds-cluster:orders", Lookup("rds-cluster", "orders")),
        ("redshift:warehouse", Lookup("redshift-cluster", "warehouse")),
        ("docdb:catalog", Lookup("docdb-cluster", "catalog")),
        ("host:10.0.5.20:5432", Lookup("eni-ip", "10.0.5.20")),
    ],
)
def test_target_tag(tag: str, lookup: Lookup) -> None:
    ref = ref_from_tag(tag)
    assert ref is not None and lookup_for(ref) == lookup


@pytest.mark.parametrize("tag", ["mysql:x", "rds:", "host:db.example.com", "host:db:port"])
def test_malformed_target_tag(tag: str) -> None:
    assert ref_from_tag(tag) is None


@pytest.mark.parametrize(
    "host,lookup",
    [
        ("orders.c9akciq32.us-east-1.rds.amazonaws.com", Lookup("rds-instance", "orders")),
        ("orders.cluster-c9akciq32.us-east-1.rds.amazonaws.com", Lookup("rds-cluster", "orders")),
        ("orders.cluster-ro-c9akciq32.us-east-1.rds.amazonaws.com", Lookup("rds-cluster", "orders")),
        ("reports.cluster-custom-c9akciq32.us-east-1.rds.amazonaws.com", Lookup("rds-cluster-endpoint", "reports")),
        ("orders-proxy.proxy-c9akciq32.us-east-1.rds.amazonaws.com", Lookup("rds-proxy", "orders-proxy")),
        ("ro.endpoint.proxy-c9akciq32.us-east-1.rds.amazonaws.com", Lookup("rds-proxy-endpoint", "ro")),
        ("catalog.cluster-c9akciq32.us-east-1.docdb.amazonaws.com", Lookup("docdb-cluster", "catalog")),
        ("catalog-1.c9akciq32.us-east-1.docdb.amazonaws.com", Lookup("docdb-instance", "catalog-1")),
        ("warehouse.c9akciq32.us-east-1.redshift.amazonaws.com", Lookup("redshift-cluster", "warehouse")),
        (
            "analytics.123456789012.us-east-1.redshift-serverless.amazonaws.com",
            Lookup("redshift-serverless", "analytics"),
        ),
        ("orders.c9akciq32.cn-north-1.rds.amazonaws.com.cn", Lookup("rds-instance", "orders")),
        ("10.0.5.20", Lookup("eni-ip", "10.0.5.20")),
    ],
)
def test_host_names(host: str, lookup: Lookup) -> None:
    assert lookup_for_host(host) == lookup


def test_unknown_host_is_unresolved() -> None:
    assert lookup_for_host("db.internal.example.com") is None


def test_identifier_fields_are_used_when_the_host_is_not_an_aws_name() -> None:
    ref = ref_from_secret_string(
        json.dumps({"host": "db.internal", "dbClusterIdentifier": "orders", "engine": "docdb"})
    )
    assert ref is not None and lookup_for(ref) == Lookup("docdb-cluster", "orders")


def test_port_preference() -> None:
    ref = ref_from_secret_string(json.dumps({"host": "x", "engine": "mysql"}))
    assert port_for(ref, None) == 3306
    assert port_for(ref, 3307) == 3307
    with_port = ref_from_secret_string(json.dumps({"host": "x", "port": 6000}))
    # AWS's record of the port wins: the secret's port is only used where AWS records none (an address on EC2).
    assert port_for(with_port, 3307) == 3307
    assert port_for(with_port, None) == 6000


@pytest.mark.parametrize(
    "line,category",
    [
        (
            'ConnectTimeoutError: Connect timeout on endpoint URL: "https://secretsmanager.us-east-1.amazonaws.com/"',
            "secretsmanager_connect_timeout",
        ),
        ("2026-11-29T03:12:00Z 6f1c Task timed out after 30.03 seconds", "task_timed_out"),
        (
            "[ERROR] setSecret: Unable to log into database with previous, current, or pending secret of secret arn x",
            "database_login_failed",
        ),
        (
            "An error occurred (AccessDeniedException) when calling the GetSecretValue operation: Access to KMS is not "
            "allowed",
            "kms_access_denied",
        ),
        (
            "User: arn:aws:sts::1:assumed-role/r/f is not authorized to perform: secretsmanager:PutSecretValue",
            "iam_access_denied",
        ),
        ("START RequestId: 1 Version: $LATEST", None),
    ],
)
def test_log_lines_are_categorised(line: str, category: str | None) -> None:
    assert logs.categorize(line) == category


def test_log_signals_keep_counts_not_lines() -> None:
    signals = logs.signals_from(
        [
            (1_700_000_000_000, "Task timed out after 30 seconds password=hunter2"),
            (1_700_000_060_000, "Task timed out after 30 seconds"),
        ]
    )
    assert [(s.category, s.count) for s in signals] == [("task_timed_out", 2)]
    assert "hunter2" not in repr(signals)

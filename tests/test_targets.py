"""From a secret to the database lookup: value fields, the target tag, host names of every service."""

from __future__ import annotations

import json
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rotation_doctor.analysis import logs
from rotation_doctor.collect.targets import (
    Lookup,
    lookup_for,
    lookup_for_host,
    parse_port,
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


@pytest.mark.parametrize(
    "tag",
    [
        "mysql:x",
        "rds:",
        "host:db.example.com",
        "host:db:port",
        "host:db:\u00b2",  # "²".isdigit() is True, int("²") raises
        "host:db:\u0665\u0664\u0663\u0662",  # Arabic-Indic digits: int() takes them, a port is ASCII
        "host:db:0",
        "host:db:65536",
        "host:db:" + "9" * 5000,
        "host:db: 5432",
        "host:d b:5432",
    ],
)
def test_malformed_target_tag_names_no_database_and_says_so(tag: str) -> None:
    # The tag wins over the value, so a malformed one is not passed over: it is reported on its secret.
    ref = ref_from_tag(tag)
    assert ref is not None and ref.source == "tag" and lookup_for(ref) is None
    assert ref.invalid is not None and "rotation-doctor:target tag is not of the form" in ref.invalid
    assert not tag.partition(":")[2] or tag.partition(":")[2] not in ref.invalid


def test_blank_target_tag_is_no_tag() -> None:
    assert ref_from_tag("  ") is None


@pytest.mark.parametrize(
    "port,expected",
    [
        (5432, 5432),
        ("5432", 5432),
        (" 5432 ", 5432),  # as the rotation function's int() reads it
        (5432.0, 5432),
        (1, 1),
        (65535, 65535),
        ("\u00b2", None),
        ("\u0665\u0664\u0663\u0662", None),
        ("\uff15\uff14\uff13\uff12", None),  # fullwidth digits
        ("0", None),
        (0, None),
        (65536, None),
        (10**30, None),
        ("9" * 5000, None),
        (-1, None),
        ("-1", None),
        ("+5432", None),
        ("5_432", None),
        (5432.5, None),
        (float("inf"), None),
        (float("nan"), None),
        (True, None),
        ("", None),
        ([5432], None),
        ({"port": 5432}, None),
    ],
)
def test_ports_are_ascii_digits_from_1_to_65535(port: object, expected: int | None) -> None:
    assert parse_port(port) == expected


CANARY = "Canary-Pa55word-never-printed"


@pytest.mark.parametrize(
    "fields,field",
    [
        ({"host": "db.internal", "port": "\u00b2"}, "port"),
        ({"host": "db.internal", "port": 70000}, "port"),
        ({"host": "db.internal", "port": ""}, "port"),
        ({"host": "db.internal", "port": True}, "port"),
        ({"host": "db.internal", "port": {"nested": CANARY}}, "port"),
        ({"host": 5432}, "host"),
        ({"host": ["db.internal"]}, "host"),
        ({"host": {"password": CANARY}}, "host"),
        ({"host": "db internal"}, "host"),
        ({"host": "d" * 300}, "host"),
        ({"host": "db.internal\n" + CANARY}, "host"),
        ({"dbInstanceIdentifier": {"password": CANARY}}, "dbInstanceIdentifier"),
        ({"dbInstanceIdentifier": 12}, "dbInstanceIdentifier"),
        ({"dbClusterIdentifier": "c" * 300}, "dbClusterIdentifier"),
        ({"host": "db.internal", "dbClusterIdentifier": ["orders"]}, "dbClusterIdentifier"),
    ],
)
def test_a_field_that_cannot_be_used_is_named_never_quoted(fields: dict[str, object], field: str) -> None:
    ref = ref_from_secret_string(json.dumps({**fields, "username": "u", "password": CANARY}))
    assert ref is not None and ref.invalid is not None and lookup_for(ref) is None
    assert f"the {field} field of the secret's value" in ref.invalid
    assert CANARY not in repr(ref) and "internal" not in ref.invalid and len(ref.invalid) < 200


@pytest.mark.parametrize(
    "value",
    [
        '{"host": "db.internal", "port": 1' + "0" * 5000 + "}",  # Python refuses ints of more than 4300 digits
        "{" * 10_000,
        '{"a":' * 10_000 + "1" + "}" * 10_000,  # valid JSON, too deep for Python's parser
        '{"host": "db.internal", "password": "' + CANARY + '"',
    ],
)
def test_a_value_that_looks_like_json_but_cannot_be_read_is_reported(value: str) -> None:
    ref = ref_from_secret_string(value)
    assert ref is not None and ref.invalid is not None and "cannot be read" in ref.invalid
    assert CANARY not in repr(ref)


def test_absent_fields_are_not_errors() -> None:
    ref = ref_from_secret_string(
        json.dumps({"host": "db.internal", "port": None, "engine": None, "dbInstanceIdentifier": "", "password": "p"})
    )
    assert ref is not None and ref.invalid is None
    assert (ref.host, ref.port, ref.instance_id) == ("db.internal", None, None)


@pytest.mark.parametrize("engine", [5, ["mysql"], "m" * 100, "my sql"])
def test_an_engine_that_is_no_engine_name_is_only_passed_over(engine: object) -> None:
    # The engine only picks a default port: without it the database is still found by its host.
    ref = ref_from_secret_string(json.dumps({"host": "db.internal", "engine": engine}))
    assert ref is not None and ref.invalid is None and ref.engine is None


JSON_LEAF = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
JSON_VALUE = st.recursive(
    JSON_LEAF, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
)
FIELDS = ("host", "port", "engine", "dbInstanceIdentifier", "dbClusterIdentifier")


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS), JSON_VALUE | st.text(alphabet=string.printable, max_size=12)))
def test_any_value_is_a_reference_or_none_never_an_error(fields: dict[str, object]) -> None:
    value = json.dumps({**fields, "password": CANARY})
    ref = ref_from_secret_string(value)  # never raises: one secret never stops the others
    assert ref is None or CANARY not in repr(ref)
    if ref is not None and ref.invalid is None:
        assert ref.port is None or 1 <= ref.port <= 65535
        assert ref.host is None or len(ref.host) <= 253


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


def test_an_unforeseen_parse_error_is_a_finding_without_its_message(monkeypatch: pytest.MonkeyPatch) -> None:
    from rotation_doctor.collect import targets

    def broken(value: str) -> None:
        raise TypeError(f"cannot use {value}")  # a message that quotes the value, password and all

    monkeypatch.setattr(targets, "_from_value", broken)
    ref = ref_from_secret_string(json.dumps({"host": "db.internal", "password": CANARY}))
    assert ref is not None and ref.invalid == "the secret's value could not be read (TypeError)"

"""Situations built through the AWS APIs on moto, diagnosed through the collector: the wiring, end to end.

moto is a test double, not the judge of AWS behaviour (see docs/moto.md): where it differs,
the test says so and builds the fact the way AWS would show it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from rotation_doctor.collect.aws import AwsError, BadInput
from rotation_doctor.collect.collector import Collector
from rotation_doctor.examine import diagnose_secret, diagnose_secrets
from rotation_doctor.model.findings import Severity, Verdict
from rotation_doctor.simulated import scenarios
from rotation_doctor.simulated.account import AccountBuilder, tcp
from tests.faults import fail
from tests.fix_scenarios import admitting_only

SECRET = scenarios.DEMO_SECRET


def diagnose(b: AccountBuilder, secret: str = SECRET, **kw: Any):  # type: ignore[no-untyped-def]
    b.clients.counter.calls.clear()
    _, d = diagnose_secret(b.clients, secret, **kw)
    return d, {f.code: f for f in d.findings}


def expect(b: AccountBuilder, code: str, severity: Severity, verdict: Verdict, **kw: Any):  # type: ignore[no-untyped-def]
    d, found = diagnose(b, **kw)
    assert code in found, [f.summary for f in d.findings]
    assert found[code].severity is severity and d.verdict is verdict
    return found[code]


def healthy_orders(b: AccountBuilder) -> scenarios.Orders:
    return scenarios.orders(b, db_admits_function=True, endpoint=True)


def add_nat(b: AccountBuilder, o: scenarios.Orders, in_subnet: str = "public-a") -> str:
    nat = b.nat_gateway(o.net, in_subnet)
    b.route(o.net.tables["private"], "0.0.0.0/0", NatGatewayId=nat)
    return nat


@pytest.fixture(autouse=True)
def _clear_faults(clients):  # type: ignore[no-untyped-def]
    yield
    for service, operation in (
        ("ec2", "DescribeRouteTables"),
        ("secretsmanager", "DescribeSecret"),
        ("secretsmanager", "GetSecretValue"),
        ("logs", "FilterLogEvents"),
    ):
        clients.client(service).meta.events.unregister(
            f"before-call.{service}.{operation}", unique_id=f"refuse-{operation}"
        )


# ----- the demo's story and the healthy baselines -----------------------------------------------


def test_demo_account_is_broken_on_both_paths(builder: AccountBuilder) -> None:
    scenarios.orders(builder)
    d, found = diagnose(builder)
    assert d.verdict is Verdict.BROKEN
    assert found["SM_NO_PATH"].severity is Severity.ERROR
    assert found["DB_SG_INGRESS_DENIES"].severity is Severity.ERROR
    assert builder.clients.counter.total <= 15


def test_endpoint_path_is_healthy(builder: AccountBuilder) -> None:
    healthy_orders(builder)
    d, _ = diagnose(builder)
    assert d.verdict is Verdict.HEALTHY, d.findings
    calls = builder.clients.counter.calls
    assert "ec2:DescribeNatGateways" not in calls and "logs:FilterLogEvents" not in calls
    assert builder.clients.counter.total <= 15


def test_nat_path_is_healthy(builder: AccountBuilder) -> None:
    o = scenarios.orders(builder, db_admits_function=True)
    add_nat(builder, o)
    d, _ = diagnose(builder)
    assert d.verdict is Verdict.HEALTHY, d.findings


def test_cidr_rules_covering_the_subnets_are_healthy(builder: AccountBuilder) -> None:
    o = healthy_orders(builder)
    db_sg = builder.security_group(o.net, "db-by-cidr", ingress=[tcp(5432, cidr="10.20.0.0/22")])
    builder.clients.rds.modify_db_instance(
        DBInstanceIdentifier="orders-db", VpcSecurityGroupIds=[db_sg], ApplyImmediately=True
    )
    d, _ = diagnose(builder)
    assert d.verdict is Verdict.HEALTHY, d.findings


def test_aurora_reader_endpoint_is_healthy(builder: AccountBuilder) -> None:
    o = healthy_orders(builder)
    cluster = builder.aurora_cluster("orders-aurora", "orders-data", [o.db_sg])
    builder.rotated_secret(
        "prod/orders/aurora-ro",
        {"host": cluster["reader"], "port": 5432, "username": "ro", "password": scenarios.CANARY_PASSWORD},
        o.function_arn,
    )
    d, _ = diagnose(builder, "prod/orders/aurora-ro")
    assert d.verdict is Verdict.HEALTHY, d.findings
    assert d.context["database"]["kind"] == "rds-cluster" and len(d.context["database"]["subnets"]) == 2


def test_secrets_manager_endpoint_env_var_with_vpce_host_is_healthy(builder: AccountBuilder) -> None:
    # moto's DnsEntries are not AWS's form, so the variable is written as AWS would name the endpoint.
    b = builder
    net = b.network("10.30.0.0/16", name="env")
    for name, cidr, zone in (
        ("app-a", "10.30.1.0/24", "a"),
        ("data-a", "10.30.11.0/24", "a"),
        ("data-b", "10.30.12.0/24", "b"),
    ):
        b.subnet(net, name, cidr, zone)
    fn_sg = b.security_group(net, "fn")
    vpce_sg = b.security_group(net, "vpce", ingress=[tcp(443, group=fn_sg)])
    endpoint = b.secrets_manager_endpoint(net, ["app-a"], [vpce_sg], private_dns=False)
    db_sg = b.security_group(net, "db", ingress=[tcp(5432, group=fn_sg)])
    b.db_subnet_group(net, "env-data", ["data-a", "data-b"])
    db = b.rds_instance("env-db", "env-data", [db_sg])
    fn = b.rotation_function(
        "env-rotation",
        subnets=[net.subnets["app-a"]],
        groups=[fn_sg],
        env={"SECRETS_MANAGER_ENDPOINT": f"https://{endpoint}-4b2xk3qp.secretsmanager.us-east-1.vpce.amazonaws.com"},
    )
    b.rotated_secret("env/db", {**db, "password": scenarios.CANARY_PASSWORD}, fn)
    d, _ = diagnose(b, "env/db")
    assert d.verdict is Verdict.HEALTHY, d.findings


# ----- SM path ----------------------------------------------------------------------------------


def test_one_subnet_without_nat_is_degraded(builder: AccountBuilder) -> None:
    o = scenarios.orders(builder, db_admits_function=True)
    nat = builder.nat_gateway(o.net, "public-a")
    private_b = builder.route_table(o.net, "private-b", ["app-b"])
    builder.route(o.net.tables["private"], "0.0.0.0/0", NatGatewayId=nat)
    f = expect(builder, "SM_NO_PATH", Severity.WARNING, Verdict.DEGRADED)
    assert o.net.subnets["app-b"] in f.resources and private_b in f.resources


def test_public_subnet_no_nat(builder: AccountBuilder) -> None:
    o = scenarios.orders(builder, db_admits_function=True)
    builder.route(o.net.tables["private"], "0.0.0.0/0", GatewayId=builder.internet_gateway(o.net))
    expect(builder, "SM_PUBLIC_SUBNET_NO_NAT", Severity.ERROR, Verdict.BROKEN)


def test_route_to_deleted_nat_is_a_blackhole(builder: AccountBuilder) -> None:
    # moto keeps the route "active" (AWS says "blackhole"); the NAT itself shows "deleted", which suffices.
    o = scenarios.orders(builder, db_admits_function=True)
    nat = add_nat(builder, o)
    builder.ec2.delete_nat_gateway(NatGatewayId=nat)
    f = expect(builder, "SM_ROUTE_BLACKHOLE", Severity.ERROR, Verdict.BROKEN)
    assert nat in f.resources


def test_nat_without_internet(builder: AccountBuilder) -> None:
    o = scenarios.orders(builder, db_admits_function=True)
    add_nat(builder, o, in_subnet="data-a")
    expect(builder, "SM_NAT_NO_INTERNET", Severity.ERROR, Verdict.BROKEN)


def test_endpoint_private_dns_disabled(builder: AccountBuilder) -> None:
    o = scenarios.orders(builder, db_admits_function=True)
    sg = builder.security_group(o.net, "vpce", ingress=[tcp(443, cidr="10.20.0.0/16")])
    endpoint = builder.secrets_manager_endpoint(o.net, ["app-a", "app-b"], [sg], private_dns=False)
    f = expect(builder, "SM_ENDPOINT_PRIVATE_DNS_DISABLED", Severity.ERROR, Verdict.BROKEN)
    assert endpoint in f.resources


def test_vpc_dns_disabled(builder: AccountBuilder) -> None:
    o = healthy_orders(builder)
    builder.ec2.modify_vpc_attribute(VpcId=o.net.vpc, EnableDnsHostnames={"Value": False})
    _, found = diagnose(builder)
    assert found["SM_VPC_DNS_DISABLED"].severity is Severity.ERROR and "SM_NO_PATH" not in found
    assert builder.clients.counter.calls["ec2:DescribeVpcAttribute"] == 2


def test_endpoint_sg_denies(builder: AccountBuilder) -> None:
    o = healthy_orders(builder)
    builder.ec2.revoke_security_group_ingress(
        GroupId=o.extra["endpoint_sg"], IpPermissions=[tcp(443, cidr="10.20.0.0/16")]
    )
    expect(builder, "SM_ENDPOINT_SG_DENIES", Severity.ERROR, Verdict.BROKEN)


def test_lambda_egress_denies_both_paths(builder: AccountBuilder) -> None:
    o = healthy_orders(builder)
    builder.ec2.revoke_security_group_egress(
        GroupId=o.fn_sg, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )
    _, found = diagnose(builder)
    assert found["SM_LAMBDA_EGRESS_DENIES"].severity is Severity.ERROR
    assert found["DB_LAMBDA_EGRESS_DENIES"].severity is Severity.ERROR


def test_nacls_deny_return_traffic_to_the_function(builder: AccountBuilder) -> None:
    o = scenarios.orders(builder, db_admits_function=True)
    sg = builder.security_group(o.net, "vpce", ingress=[tcp(443, cidr="10.20.0.0/16")])
    builder.secrets_manager_endpoint(o.net, ["data-a", "data-b"], [sg])
    builder.nacl(o.net, ["app-a", "app-b"], admitting_only(22))
    d, found = diagnose(builder)
    assert found["SM_NACL_DENIES"].severity is Severity.ERROR and found["SM_NACL_DENIES"].evidence["leg"] == "return"
    assert found["DB_NACL_DENIES"].severity is Severity.ERROR
    assert d.verdict is Verdict.BROKEN


def test_endpoint_policy_denies(builder: AccountBuilder) -> None:
    o = scenarios.orders(builder, db_admits_function=True)
    sg = builder.security_group(o.net, "vpce", ingress=[tcp(443, cidr="10.20.0.0/16")])
    builder.secrets_manager_endpoint(
        o.net,
        ["app-a", "app-b"],
        [sg],
        policy={
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": "*", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}
            ],
        },
    )
    f = expect(builder, "SM_ENDPOINT_POLICY_DENIES", Severity.ERROR, Verdict.BROKEN)
    assert "secretsmanager:PutSecretValue" in f.evidence["denied"]


def test_egress_through_a_transit_gateway_the_vpc_is_not_attached_to_is_broken(builder: AccountBuilder) -> None:
    # Centralized egress is judged (tests/test_centralized_egress.py): an unattached gateway leads nowhere.
    o = scenarios.orders(builder, db_admits_function=True)
    tgw = builder.ec2.create_transit_gateway()["TransitGateway"]["TransitGatewayId"]
    builder.route(o.net.tables["private"], "0.0.0.0/0", TransitGatewayId=tgw)
    expect(builder, "SM_TGW_NOT_ATTACHED", Severity.ERROR, Verdict.BROKEN)


def test_private_hosted_zone_for_the_name_is_followed(builder: AccountBuilder) -> None:
    o = scenarios.orders(builder, db_admits_function=True)
    zone = builder.clients.route53.create_hosted_zone(
        Name="secretsmanager.us-east-1.amazonaws.com",
        CallerReference="hub",
        HostedZoneConfig={"PrivateZone": True},
        VPC={"VPCRegion": "us-east-1", "VPCId": o.net.vpc},
    )["HostedZone"]
    builder.clients.route53.change_resource_record_sets(
        HostedZoneId=zone["Id"],
        ChangeBatch={
            "Changes": [
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": "secretsmanager.us-east-1.amazonaws.com",
                        "Type": "A",
                        "AliasTarget": {
                            "HostedZoneId": "Z7HUB",
                            "EvaluateTargetHealth": False,
                            "DNSName": "vpce-0hub-1a2b.secretsmanager.us-east-1.vpce.amazonaws.com",
                        },
                    },
                }
            ]
        },
    )
    f = expect(builder, "SM_PATH_NOT_EVALUATED", Severity.WARNING, Verdict.UNKNOWN)
    assert "vpce-0hub-1a2b" in f.summary


# ----- DB path ----------------------------------------------------------------------------------


def test_database_not_identified(builder: AccountBuilder) -> None:
    o = healthy_orders(builder)
    builder.rotated_secret(
        "legacy/db",
        {"host": "db.corp.example.com", "port": 5432, "username": "u", "password": scenarios.CANARY_PASSWORD},
        o.function_arn,
    )
    f = expect(builder, "DB_TARGET_UNRESOLVED", Severity.WARNING, Verdict.UNKNOWN, secret="legacy/db")
    assert "db.corp.example.com" in f.summary


def test_target_tag_wins_over_the_value(builder: AccountBuilder) -> None:
    o = healthy_orders(builder)
    builder.rotated_secret(
        "tagged/db",
        {"host": "db.corp.example.com", "username": "u", "password": scenarios.CANARY_PASSWORD},
        o.function_arn,
        tags={"rotation-doctor:target": "rds:orders-db"},
    )
    d, _ = diagnose(builder, "tagged/db")
    assert d.verdict is Verdict.HEALTHY and "secretsmanager:GetSecretValue" not in builder.clients.counter.calls


def test_database_on_an_ec2_address(builder: AccountBuilder) -> None:
    o = healthy_orders(builder)
    eni = builder.ec2.create_network_interface(
        SubnetId=o.net.subnets["data-a"], PrivateIpAddress="10.20.11.50", Groups=[o.db_sg]
    )["NetworkInterface"]
    builder.rotated_secret(
        "ec2/db",
        {"host": "10.20.11.50", "port": 5432, "engine": "postgres", "password": scenarios.CANARY_PASSWORD},
        o.function_arn,
    )
    d, _ = diagnose(builder, "ec2/db")
    assert d.verdict is Verdict.HEALTHY and d.context["database"]["id"] == eni["NetworkInterfaceId"]


def test_function_outside_vpc_and_private_database(builder: AccountBuilder) -> None:
    o = healthy_orders(builder)
    fn = builder.rotation_function("outside-rotation")
    builder.rotated_secret("outside/db", {**o.db, "password": scenarios.CANARY_PASSWORD}, fn)
    expect(builder, "DB_LAMBDA_NOT_IN_VPC", Severity.ERROR, Verdict.BROKEN, secret="outside/db")


def test_peered_database_with_routes_both_ways_is_healthy(builder: AccountBuilder) -> None:
    scenarios.peered_database(builder, healthy_orders(builder), routes="both")
    d, _ = diagnose(builder, "prod/ledger/db")
    assert d.verdict is Verdict.HEALTHY, d.findings
    assert builder.clients.counter.calls["ec2:DescribeVpcPeeringConnections"] == 1


def test_peered_database_without_the_route_back(builder: AccountBuilder) -> None:
    scenarios.peered_database(builder, healthy_orders(builder), routes="there")
    f = expect(builder, "DB_NO_ROUTE", Severity.ERROR, Verdict.BROKEN, secret="prod/ledger/db")
    assert "10.20.1.0/24" in f.summary or "10.20.2.0/24" in f.summary


def test_routes_to_a_transit_gateway_neither_vpc_is_attached_to(builder: AccountBuilder) -> None:
    # Transit gateways are judged natively (tests/test_transit_gateway.py): routes to one with no attachments break.
    scenarios.peered_database(builder, healthy_orders(builder), routes="tgw")
    expect(builder, "DB_TGW_NOT_ATTACHED", Severity.ERROR, Verdict.BROKEN, secret="prod/ledger/db")


def test_lambda_egress_only_to_https_denies_the_database(builder: AccountBuilder) -> None:
    o = healthy_orders(builder)
    builder.ec2.revoke_security_group_egress(
        GroupId=o.fn_sg, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )
    builder.ec2.authorize_security_group_egress(GroupId=o.fn_sg, IpPermissions=[tcp(443, cidr="0.0.0.0/0")])
    expect(builder, "DB_LAMBDA_EGRESS_DENIES", Severity.ERROR, Verdict.BROKEN)


def test_db_nacl_denies_after_failover_only(builder: AccountBuilder) -> None:
    o = healthy_orders(builder)
    builder.nacl(o.net, ["data-b"], admitting_only(443))
    f = expect(builder, "DB_NACL_DENIES", Severity.WARNING, Verdict.DEGRADED)
    assert o.net.subnets["data-b"] in f.resources


# ----- invoke and configuration -----------------------------------------------------------------


def test_invoke_permission_missing(builder: AccountBuilder) -> None:
    healthy_orders(builder)
    builder.clients.lambda_.remove_permission(FunctionName="orders-db-rotation", StatementId="SecretsManagerAccess")
    expect(builder, "INVOKE_PERMISSION_MISSING", Severity.ERROR, Verdict.BROKEN)


def test_rotation_lambda_missing(builder: AccountBuilder) -> None:
    healthy_orders(builder)
    builder.clients.lambda_.delete_function(FunctionName="orders-db-rotation")
    d, found = diagnose(builder)
    assert list(found) == ["ROTATION_LAMBDA_MISSING"] and d.verdict is Verdict.BROKEN


def test_secret_without_lambda_rotation(builder: AccountBuilder) -> None:
    builder.clients.secretsmanager.create_secret(Name="static/api-key", SecretString="{}")
    d, found = diagnose(builder, "static/api-key")
    assert found["ROTATION_NOT_LAMBDA"].severity is Severity.INFO and d.verdict is Verdict.HEALTHY
    assert builder.clients.counter.total == 1


def test_logs_show_permission_errors_on_a_sound_network(builder: AccountBuilder) -> None:
    healthy_orders(builder)
    logs = builder.clients.logs
    logs.create_log_group(logGroupName="/aws/lambda/orders-db-rotation")
    logs.create_log_stream(logGroupName="/aws/lambda/orders-db-rotation", logStreamName="s")
    import time

    logs.put_log_events(
        logGroupName="/aws/lambda/orders-db-rotation",
        logStreamName="s",
        logEvents=[
            {
                "timestamp": int(time.time() * 1000),
                "message": "[ERROR] AccessDeniedException: User: arn:aws:sts::123456789012"
                ":assumed-role/r/orders-db-rotation is not authorized to perform: secretsmanager:PutSecretValue",
            }
        ],
    )
    f = expect(builder, "LOGS_SHOW_NON_NETWORK_ERROR", Severity.WARNING, Verdict.DEGRADED, rotation_failed=True)
    assert "iam_access_denied" in f.summary


def test_logs_are_not_read_for_a_healthy_secret(builder: AccountBuilder) -> None:
    healthy_orders(builder)
    diagnose(builder)
    assert "logs:FilterLogEvents" not in builder.clients.counter.calls


# ----- failures and bad input -------------------------------------------------------------------


def test_denied_read_is_a_finding_not_an_absence(builder: AccountBuilder) -> None:
    scenarios.orders(builder)
    fail(builder, "ec2", "DescribeRouteTables", "UnauthorizedOperation")
    d, found = diagnose(builder)
    assert found["AWS_READ_FAILED"].evidence["permission"] == "ec2:DescribeRouteTables"
    assert "SM_NO_PATH" not in found  # not "no routes": unknown
    assert "DB_SG_INGRESS_DENIES" not in found and d.verdict is Verdict.UNKNOWN


def test_denied_secret_value_names_kms(builder: AccountBuilder) -> None:
    healthy_orders(builder)

    def refuse(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "Access to KMS is not allowed"}}, "GetSecretValue"
        )

    builder.clients.secretsmanager.meta.events.register(
        "before-call.secretsmanager.GetSecretValue", refuse, unique_id="refuse-GetSecretValue"
    )
    d, found = diagnose(builder)
    assert "kms:Decrypt" in found["AWS_READ_FAILED"].evidence["permission"] and d.verdict is Verdict.UNKNOWN


def test_unknown_secret_is_bad_input(builder: AccountBuilder) -> None:
    with pytest.raises(BadInput, match="no secret"):
        diagnose_secret(builder.clients, "does/not/exist")


def test_throttled_describe_secret_is_an_aws_error(builder: AccountBuilder) -> None:
    healthy_orders(builder)
    fail(builder, "secretsmanager", "DescribeSecret", "ThrottlingException")
    with pytest.raises(AwsError, match="ThrottlingException"):
        diagnose_secret(builder.clients, SECRET)


def test_function_vpc_is_taken_from_its_subnets_when_reported_wrong(builder: AccountBuilder) -> None:
    from rotation_doctor.simulated import moto_fidelity

    scenarios.orders(builder)
    moto_fidelity.revert_for_test()  # moto's own answer: VpcConfig.VpcId == "vpc-123abc"
    try:
        d, found = diagnose(builder)
    finally:
        moto_fidelity.apply()
    assert d.context["function"]["vpc"].startswith("vpc-") and d.context["function"]["vpc"] != "vpc-123abc"
    assert {"SM_NO_PATH", "DB_SG_INGRESS_DENIES"} <= set(found)


# ----- batches ----------------------------------------------------------------------------------


def test_batch_calls_do_not_grow_with_secrets(builder: AccountBuilder) -> None:
    o = scenarios.orders(builder)
    collector = Collector(builder.clients)

    def calls_for(n: int) -> int:
        for i in range(n):
            builder.rotated_secret(f"batch{n}/db-{i}", {**o.db, "password": scenarios.CANARY_PASSWORD}, o.function_arn)
        secrets = [s for s in collector.list_rotated_secrets() if s.name.startswith(f"batch{n}/")]
        builder.clients.counter.calls.clear()
        results = diagnose_secrets(collector, secrets)
        assert len(results) == n and all(d.verdict is Verdict.BROKEN for _, d in results)
        return builder.clients.counter.total

    small, large = calls_for(3), calls_for(20)
    assert small == large, (small, large)  # 20 secrets still fit one BatchGetSecretValue call


UNUSABLE = {
    "bad/port-superscript": ({"port": "\u00b2"}, None, "the port field"),  # "²".isdigit() is True; int("²") raises
    "bad/port-range": ({"port": 70000}, None, "the port field"),
    "bad/host-number": ({"host": 5432}, None, "the host field"),
    "bad/host-huge": ({"host": "h" * 100_000}, None, "the host field"),
    "bad/instance-object": ({"dbInstanceIdentifier": {"id": "orders-db"}}, None, "the dbInstanceIdentifier field"),
    "bad/tag-port": ({}, {"rotation-doctor:target": "host:10.20.11.50:\u00b2"}, "rotation-doctor:target tag"),
}


def test_one_secret_that_cannot_be_parsed_never_stops_a_scan(builder: AccountBuilder) -> None:
    from rotation_doctor.examine import scan

    o = healthy_orders(builder)
    for name, (fields, tags) in ((n, (f, t)) for n, (f, t, _) in UNUSABLE.items()):
        value = {**o.db, **fields, "password": scenarios.CANARY_PASSWORD}
        builder.rotated_secret(name, value, o.function_arn, tags=tags)
    diagnoses = {d.secret_name: d for d in scan(builder.clients)}
    assert diagnoses[SECRET].verdict is Verdict.HEALTHY  # the others are judged as before
    for name, (_, _, field) in UNUSABLE.items():
        d = diagnoses[name]
        [finding] = [f for f in d.findings if f.code == "DB_TARGET_UNRESOLVED"]
        assert d.verdict is Verdict.UNKNOWN and field in finding.summary, finding.summary
        assert len(finding.summary) < 400 and "\u00b2" not in finding.summary and "hhhh" not in finding.summary
        out = json.dumps(d.to_json(), default=str)
        assert scenarios.CANARY_PASSWORD not in out and "hhhh" not in out


def test_one_secret_that_cannot_be_parsed_is_a_finding_when_diagnosed_alone(builder: AccountBuilder) -> None:
    o = healthy_orders(builder)
    value = {**o.db, "port": "\u00b2", "password": scenarios.CANARY_PASSWORD}
    builder.rotated_secret("bad/port", value, o.function_arn)  # one secret: GetSecretValue, not the batch read
    f = expect(builder, "DB_TARGET_UNRESOLVED", Severity.WARNING, Verdict.UNKNOWN, secret="bad/port")
    assert "port field of the secret's value is not a whole number from 1 to 65535" in f.summary
    assert f.evidence["invalid"] and scenarios.CANARY_PASSWORD not in json.dumps(f.evidence)


def test_secret_value_never_leaves_the_collector(builder: AccountBuilder) -> None:
    scenarios.orders(builder)
    snap, d = diagnose_secret(builder.clients, SECRET)
    assert scenarios.CANARY_PASSWORD not in repr(snap)
    assert scenarios.CANARY_PASSWORD not in json.dumps(d.to_json(), default=str)


def test_every_paged_read_is_declared_and_matches_the_ec2_api(clients: Any) -> None:
    """The table of paged reads holds names only: check each against permissions.py and botocore's model of EC2."""
    from rotation_doctor.collect import collector
    from rotation_doctor.collect.permissions import READ_ACTIONS

    declared = [v for v in vars(collector).values() if isinstance(v, collector.PagedRead)]
    assert {id(r) for r in declared} == {id(r) for r in collector.PAGED_READS}  # no row left out of the table
    ec2 = clients.ec2
    for read in collector.PAGED_READS:
        assert read.operation in READ_ACTIONS, read.operation
        assert ec2.can_paginate(read.method), read.method
        model = ec2.meta.service_model.operation_model(read.operation.split(":", 1)[1])
        assert read.filter_parameter in model.input_shape.members, (read.operation, read.filter_parameter)
        items = model.output_shape.members[read.result_key]
        assert read.id_key in items.member.members, (read.operation, read.id_key)


def test_paged_reads_split_values_as_ec2_allows() -> None:
    from rotation_doctor.collect.collector import PEERINGS_AMONG_VPCS, SECURITY_GROUPS_BY_ID

    ids = [f"sg-{i:04d}" for i in range(450)]
    assert [len(b) for b in SECURITY_GROUPS_BY_ID.batches(ids)] == [200, 200, 50]  # 200 values a filter
    assert SECURITY_GROUPS_BY_ID.batches([]) == []  # nothing wanted, no call
    assert PEERINGS_AMONG_VPCS.batches(ids) == [ids]  # both sides must be in the same call


def test_every_read_made_is_a_declared_permission(builder: AccountBuilder) -> None:
    from rotation_doctor.collect.permissions import READ_ACTIONS, iam_action
    from rotation_doctor.examine import scan

    o = scenarios.orders(builder)
    add_nat(builder, o)
    sg = builder.security_group(o.net, "vpce", ingress=[tcp(443, cidr="10.20.0.0/16")])
    builder.secrets_manager_endpoint(o.net, ["app-a"], [sg])
    scenarios.seed_failed_rotation_logs(builder, "orders-db-rotation")
    builder.clients.counter.calls.clear()
    diagnose_secret(builder.clients, SECRET, rotation_failed=True)
    scan(builder.clients)
    made = {iam_action(*name.split(":")) for name in builder.clients.counter.calls}
    assert made - set(READ_ACTIONS) == set()
    assert len(made) >= 14

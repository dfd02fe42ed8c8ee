"""The analyzer on hand-built snapshots: every finding code, its severity, and the verdict. No AWS, no moto."""

from __future__ import annotations

from dataclasses import replace

import pytest

from rotation_doctor.analysis import diagnose
from rotation_doctor.model.findings import Severity, Verdict
from rotation_doctor.model.snapshot import (
    DnsAttributes,
    FactKey,
    Function,
    HostedZoneRecord,
    InternetGateway,
    LogSignal,
    NaclEntry,
    NatGateway,
    PolicyDocument,
    PrivateHostedZone,
    ReadFailure,
    Route,
    RouteTable,
    SecurityGroup,
    TransitGatewayAttachment,
    TransitGatewayRoute,
    VpcEndpoint,
)
from tests.snapshots import (
    ALL_OUT,
    ROUTE_BACK,
    SECRET_ARN,
    SM_SERVICE,
    VPC,
    acl,
    allow_all_entries,
    healthy,
    nat_path,
    peered,
    rule,
    table,
    through_tgw,
    with_group,
    with_table,
)


def codes(snap):  # type: ignore[no-untyped-def]
    d = diagnose(snap)
    return d, {f.code: f for f in d.findings}


def only(snap, code: str, severity: Severity, verdict: Verdict):  # type: ignore[no-untyped-def]
    d, found = codes(snap)
    assert code in found, d.findings
    assert found[code].severity is severity
    assert d.verdict is verdict
    return found[code]


# ----- healthy baselines ------------------------------------------------------------------------


def test_endpoint_path_is_healthy() -> None:
    d = diagnose(healthy())
    assert d.verdict is Verdict.HEALTHY and d.findings == ()


def test_nat_path_is_healthy() -> None:
    d = diagnose(nat_path())
    assert d.verdict is Verdict.HEALTHY, d.findings


def test_function_outside_vpc_reaches_public_endpoint_and_public_database() -> None:
    fn = replace(healthy().function, subnet_ids=(), security_group_ids=(), vpc_id=None)
    db_sg = SecurityGroup("sg-db", VPC, "db", (rule("sg-db", egress=False, port=5432, cidr=ALL_OUT),))
    snap = with_group(healthy(function=fn, database=replace(healthy().database, publicly_accessible=True)), db_sg)
    assert diagnose(snap).verdict is Verdict.HEALTHY


def test_endpoint_without_private_dns_is_fine_when_nat_works() -> None:
    endpoint = replace(healthy().vpc_endpoints[0], private_dns_enabled=False)
    assert diagnose(nat_path(vpc_endpoints=(endpoint,))).verdict is Verdict.HEALTHY


def test_sm_endpoint_env_var_with_vpce_host_uses_that_endpoint() -> None:
    host = "https://vpce-1-abcdefgh.secretsmanager.us-east-1.vpce.amazonaws.com"
    endpoint = replace(healthy().vpc_endpoints[0], private_dns_enabled=False)
    fn = replace(healthy().function, secrets_manager_endpoint=host)
    assert diagnose(healthy(function=fn, vpc_endpoints=(endpoint,))).verdict is Verdict.HEALTHY


def test_zonal_vpce_host_only_needs_its_own_zone() -> None:
    """A zonal endpoint name resolves to the ENI in that zone only; the other zone's subnet does not matter."""
    closed = acl("acl-closed", ("app-b",), ())  # nothing passes in or out of app-b
    others = acl("acl-default", ("app-a", "data-a", "data-b", "public-a"), allow_all_entries(), default=True)
    fn = replace(healthy().function, subnet_ids=("app-a",))
    regional = healthy(function=fn, network_acls=(others, closed))
    only(regional, "SM_NACL_DENIES", Severity.WARNING, Verdict.DEGRADED)
    zonal = "vpce-1-abcdefgh-us-east-1a.secretsmanager.us-east-1.vpce.amazonaws.com"
    zonal_fn = replace(fn, secrets_manager_endpoint=zonal)
    assert diagnose(replace(regional, function=zonal_fn)).verdict is Verdict.HEALTHY


def test_service_owned_private_zone_is_not_taken_for_a_user_zone() -> None:
    owned = PrivateHostedZone("Z9", "amazonaws.com", (), owner_service="servicediscovery.amazonaws.com")
    assert diagnose(nat_path(hosted_zones={VPC: (owned,)})).verdict is Verdict.HEALTHY


# ----- SM path codes ----------------------------------------------------------------------------


def test_sm_no_path_without_endpoint_or_default_route() -> None:
    f = only(healthy(vpc_endpoints=()), "SM_NO_PATH", Severity.ERROR, Verdict.BROKEN)
    assert "rtb-private" in f.resources and "app-a" in f.resources and "app-b" in f.resources


def test_sm_no_path_some_subnets_is_a_warning() -> None:
    snap = nat_path()
    private = table(snap, "rtb-private")
    split = RouteTable("rtb-private-b", VPC, False, ("app-b",), (Route("10.0.0.0/16", "local", "active"),))
    snap = replace(
        snap,
        route_tables=(*(replace(t, subnet_ids=("app-a",)) if t is private else t for t in snap.route_tables), split),
    )
    f = only(snap, "SM_NO_PATH", Severity.WARNING, Verdict.DEGRADED)
    assert "app-b" in f.resources and "app-a" not in f.resources
    assert "1 of 2" in f.summary


def test_sm_public_subnet_no_nat() -> None:
    snap = nat_path()
    private = table(snap, "rtb-private")
    snap = with_table(snap, replace(private, routes=(private.routes[0], Route("0.0.0.0/0", "igw-1", "active"))))
    only(snap, "SM_PUBLIC_SUBNET_NO_NAT", Severity.ERROR, Verdict.BROKEN)


@pytest.mark.parametrize(
    "nat_state,route_state", [("deleted", "active"), ("failed", "active"), ("available", "blackhole")]
)
def test_sm_route_blackhole(nat_state: str, route_state: str) -> None:
    snap = nat_path(nat_gateways={"nat-1": NatGateway("nat-1", VPC, "public-a", nat_state)})
    private = table(snap, "rtb-private")
    snap = with_table(snap, replace(private, routes=(private.routes[0], Route("0.0.0.0/0", "nat-1", route_state))))
    f = only(snap, "SM_ROUTE_BLACKHOLE", Severity.ERROR, Verdict.BROKEN)
    assert "nat-1" in f.resources


def test_sm_route_to_nat_that_no_longer_exists_is_a_blackhole() -> None:
    only(nat_path(nat_gateways={}), "SM_ROUTE_BLACKHOLE", Severity.ERROR, Verdict.BROKEN)


def test_sm_nat_no_internet() -> None:
    snap = nat_path()
    public = table(snap, "rtb-public")
    snap = with_table(snap, replace(public, routes=public.routes[:1]))
    only(snap, "SM_NAT_NO_INTERNET", Severity.ERROR, Verdict.BROKEN)


def test_sm_nat_with_detached_internet_gateway() -> None:
    snap = nat_path(internet_gateways={"igw-1": InternetGateway("igw-1", ())})
    only(snap, "SM_NAT_NO_INTERNET", Severity.ERROR, Verdict.BROKEN)


def test_sm_endpoint_private_dns_disabled_replaces_no_path() -> None:
    endpoint = replace(healthy().vpc_endpoints[0], private_dns_enabled=False)
    d, found = codes(healthy(vpc_endpoints=(endpoint,)))
    assert found["SM_ENDPOINT_PRIVATE_DNS_DISABLED"].severity is Severity.ERROR
    assert "SM_NO_PATH" not in found and d.verdict is Verdict.BROKEN


@pytest.mark.parametrize("support,hostnames", [(False, True), (True, False), (False, False)])
def test_sm_vpc_dns_disabled(support: bool, hostnames: bool) -> None:
    d, found = codes(healthy(dns_attributes={VPC: DnsAttributes(support, hostnames)}))
    f = found["SM_VPC_DNS_DISABLED"]
    assert f.severity is Severity.ERROR and "SM_NO_PATH" not in found and d.verdict is Verdict.BROKEN
    assert ("enableDnsSupport" in f.summary) is (not support)


@pytest.mark.parametrize("state", ["pending", "failed", "deleting"])
def test_sm_endpoint_not_available(state: str) -> None:
    endpoint = replace(healthy().vpc_endpoints[0], state=state)
    only(healthy(vpc_endpoints=(endpoint,)), "SM_ENDPOINT_NOT_AVAILABLE", Severity.ERROR, Verdict.BROKEN)


def test_sm_endpoint_named_by_env_var_is_gone() -> None:
    fn = replace(
        healthy().function, secrets_manager_endpoint="vpce-0dead-abcdefgh.secretsmanager.us-east-1.vpce.amazonaws.com"
    )
    only(healthy(function=fn), "SM_ENDPOINT_NOT_AVAILABLE", Severity.ERROR, Verdict.BROKEN)


def test_sm_endpoint_sg_denies() -> None:
    snap = with_group(healthy(), SecurityGroup("sg-vpce", VPC, "vpce", ()))
    f = only(snap, "SM_ENDPOINT_SG_DENIES", Severity.ERROR, Verdict.BROKEN)
    assert "sg-vpce" in f.resources


def test_sm_endpoint_sg_cidr_covering_half_a_subnet_is_a_warning() -> None:
    vpce = SecurityGroup("sg-vpce", VPC, "vpce", (rule("sg-vpce", egress=False, port=443, cidr="10.0.1.0/24"),))
    only(with_group(healthy(), vpce), "SM_ENDPOINT_SG_DENIES", Severity.WARNING, Verdict.DEGRADED)


def test_sm_lambda_egress_denies_on_endpoint_path() -> None:
    fn_sg = SecurityGroup("sg-fn", VPC, "fn", (rule("sg-fn", egress=True, port=5432, ref="sg-db"),))
    f = only(with_group(healthy(), fn_sg), "SM_LAMBDA_EGRESS_DENIES", Severity.ERROR, Verdict.BROKEN)
    assert "sg-fn" in f.resources


def test_sm_lambda_egress_denies_on_nat_path() -> None:
    fn_sg = SecurityGroup("sg-fn", VPC, "fn", (rule("sg-fn", egress=True, port=5432, ref="sg-db"),))
    only(with_group(nat_path(), fn_sg), "SM_LAMBDA_EGRESS_DENIES", Severity.ERROR, Verdict.BROKEN)


def test_sm_nacl_denies_between_function_and_endpoint_subnets() -> None:
    snap = healthy()
    endpoint = replace(snap.vpc_endpoints[0], subnet_ids=("data-a", "data-b"))
    deny_443 = (NaclEntry(50, False, False, "6", "10.0.0.0/16", 443, 443), *allow_all_entries())
    acls = (
        acl("acl-default", ("app-a", "app-b", "public-a"), allow_all_entries(), default=True),
        acl("acl-data", ("data-a", "data-b"), deny_443),
    )
    f = only(
        replace(snap, vpc_endpoints=(endpoint,), network_acls=acls), "SM_NACL_DENIES", Severity.ERROR, Verdict.BROKEN
    )
    assert f.evidence["direction"] == "inbound" and f.evidence["denying_rules"] == [50]


def test_sm_nacl_denying_return_ports_on_nat_path() -> None:
    snap = nat_path()
    only_443 = (
        NaclEntry(100, False, True, "6", "0.0.0.0/0", 443, 443),
        NaclEntry(100, True, True, "-1", "0.0.0.0/0", None, None),
    )
    acls = (
        acl("acl-default", ("public-a", "data-a", "data-b"), allow_all_entries(), default=True),
        acl("acl-app", ("app-a", "app-b"), only_443),
    )
    f = only(replace(snap, network_acls=acls), "SM_NACL_DENIES", Severity.ERROR, Verdict.BROKEN)
    assert f.evidence["leg"] == "return" and f.evidence["ports"] == [1024, 65535]


def test_sm_nacl_denying_part_of_the_internet_is_only_a_doubt() -> None:
    snap = nat_path()
    entries = (NaclEntry(50, True, False, "6", "52.0.0.0/8", 443, 443), *allow_all_entries())
    acls = (
        acl("acl-default", ("public-a", "data-a", "data-b"), allow_all_entries(), default=True),
        acl("acl-app", ("app-a", "app-b"), entries),
    )
    f = only(replace(snap, network_acls=acls), "SM_NACL_DENIES", Severity.WARNING, Verdict.DEGRADED)
    assert f.evidence["outcome"] == "partial"


def _policy(*statements: dict[str, object]) -> PolicyDocument:
    return PolicyDocument(tuple(statements))


@pytest.mark.parametrize(
    "policy",
    [
        _policy({"Effect": "Allow", "Principal": "*", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}),
        _policy(
            {"Effect": "Allow", "Principal": "*", "Action": "secretsmanager:*", "Resource": "*"},
            {"Effect": "Deny", "Principal": "*", "Action": "secretsmanager:PutSecretValue", "Resource": SECRET_ARN},
        ),
        _policy(
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "secretsmanager:*",
                "Resource": "arn:aws:secretsmanager:us-east-1:123456789012:secret:other-*",
            }
        ),
    ],
)
def test_sm_endpoint_policy_denies(policy: PolicyDocument) -> None:
    endpoint = replace(healthy().vpc_endpoints[0], policy=policy)
    only(healthy(vpc_endpoints=(endpoint,)), "SM_ENDPOINT_POLICY_DENIES", Severity.ERROR, Verdict.BROKEN)


@pytest.mark.parametrize(
    "policy",
    [
        None,
        _policy({"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}),
        _policy(
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                "Action": [
                    "secretsmanager:Get*",
                    "secretsmanager:Describe*",
                    "secretsmanager:Put*",
                    "secretsmanager:UpdateSecretVersionStage",
                ],
                "Resource": "*",
            }
        ),
        _policy(
            {"Effect": "Allow", "Principal": "*", "Action": "secretsmanager:*", "Resource": "*"},
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "*",
                "Resource": "*",
                "Condition": {"StringNotEquals": {"aws:PrincipalAccount": "123456789012"}},
            },
        ),
    ],
)
def test_sm_endpoint_policy_allows(policy: PolicyDocument | None) -> None:
    endpoint = replace(healthy().vpc_endpoints[0], policy=policy)
    assert diagnose(healthy(vpc_endpoints=(endpoint,))).verdict is Verdict.HEALTHY


def test_sm_path_not_evaluated_through_a_firewall_endpoint() -> None:
    # A transit gateway is judged now (tests/test_centralized_egress.py); a firewall endpoint is still beyond the model.
    snap = nat_path()
    private = table(snap, "rtb-private")
    snap = with_table(snap, replace(private, routes=(private.routes[0], Route("0.0.0.0/0", "vpce-fw1", "active"))))
    only(snap, "SM_PATH_NOT_EVALUATED", Severity.WARNING, Verdict.UNKNOWN)


def test_sm_private_hosted_zone_to_hub_endpoint_is_not_evaluated() -> None:
    zone = PrivateHostedZone(
        "Z1",
        "secretsmanager.us-east-1.amazonaws.com",
        (
            HostedZoneRecord(
                "secretsmanager.us-east-1.amazonaws.com",
                "A",
                "vpce-0hub-1234.secretsmanager.us-east-1.vpce.amazonaws.com",
            ),
        ),
    )
    only(
        healthy(vpc_endpoints=(), hosted_zones={VPC: (zone,)}),
        "SM_PATH_NOT_EVALUATED",
        Severity.WARNING,
        Verdict.UNKNOWN,
    )


def test_sm_private_hosted_zone_for_parent_without_record_breaks_resolution() -> None:
    zone = PrivateHostedZone("Z1", "us-east-1.amazonaws.com", ())
    only(nat_path(hosted_zones={VPC: (zone,)}), "SM_NO_PATH", Severity.ERROR, Verdict.BROKEN)


def test_sm_private_hosted_zone_aliasing_a_local_endpoint_is_judged() -> None:
    endpoint = replace(
        healthy().vpc_endpoints[0],
        private_dns_enabled=False,
        dns_names=("vpce-1-abcd.secretsmanager.us-east-1.vpce.amazonaws.com",),
    )
    zone = PrivateHostedZone(
        "Z1",
        "secretsmanager.us-east-1.amazonaws.com",
        (
            HostedZoneRecord(
                "secretsmanager.us-east-1.amazonaws.com", "A", "vpce-1-abcd.secretsmanager.us-east-1.vpce.amazonaws.com"
            ),
        ),
    )
    assert diagnose(healthy(vpc_endpoints=(endpoint,), hosted_zones={VPC: (zone,)})).verdict is Verdict.HEALTHY


# ----- DB path codes ----------------------------------------------------------------------------


def test_db_target_unresolved_is_a_warning_and_unknown() -> None:
    only(healthy(database=None), "DB_TARGET_UNRESOLVED", Severity.WARNING, Verdict.UNKNOWN)


def test_db_lambda_not_in_vpc() -> None:
    fn = replace(healthy().function, subnet_ids=(), security_group_ids=(), vpc_id=None)
    f = only(healthy(function=fn), "DB_LAMBDA_NOT_IN_VPC", Severity.ERROR, Verdict.BROKEN)
    assert "not publicly accessible" in f.summary


def test_db_in_peered_vpc_without_routes() -> None:
    snap = peered()
    f = only(snap, "DB_NO_ROUTE", Severity.ERROR, Verdict.BROKEN)
    assert "rtb-db" in f.resources


def test_db_in_peered_vpc_with_routes_both_ways_is_healthy() -> None:
    assert diagnose(peered(back=ROUTE_BACK)).verdict is Verdict.HEALTHY


def test_db_route_over_inactive_peering() -> None:
    snap = peered(back=ROUTE_BACK)
    snap = replace(snap, peerings={"pcx-1": replace(snap.peerings["pcx-1"], status="deleted")})
    only(snap, "DB_NO_ROUTE", Severity.ERROR, Verdict.BROKEN)


def test_db_lambda_egress_denies() -> None:
    fn_sg = SecurityGroup("sg-fn", VPC, "fn", (rule("sg-fn", egress=True, port=443, cidr=ALL_OUT),))
    f = only(with_group(healthy(), fn_sg), "DB_LAMBDA_EGRESS_DENIES", Severity.ERROR, Verdict.BROKEN)
    assert f.evidence["port"] == 5432


def test_db_sg_ingress_denies() -> None:
    db_sg = SecurityGroup("sg-db", VPC, "db", (rule("sg-db", egress=False, port=5432, ref="sg-app"),))
    only(with_group(healthy(), db_sg), "DB_SG_INGRESS_DENIES", Severity.ERROR, Verdict.BROKEN)


def test_db_sg_ingress_by_cidr_covering_function_subnets_is_healthy() -> None:
    db_sg = SecurityGroup("sg-db", VPC, "db", (rule("sg-db", egress=False, port=5432, cidr="10.0.0.0/20"),))
    assert diagnose(with_group(healthy(), db_sg)).verdict is Verdict.HEALTHY


def test_db_sg_ingress_admitting_one_function_subnet_is_a_warning() -> None:
    db_sg = SecurityGroup("sg-db", VPC, "db", (rule("sg-db", egress=False, port=5432, cidr="10.0.1.0/24"),))
    f = only(with_group(healthy(), db_sg), "DB_SG_INGRESS_DENIES", Severity.WARNING, Verdict.DEGRADED)
    assert f.evidence["from_subnet"] == "app-b"


def test_db_nacl_denies_only_after_failover_is_a_warning() -> None:
    snap = healthy()
    deny = (NaclEntry(50, False, False, "6", "10.0.0.0/16", 5432, 5432), *allow_all_entries())
    acls = (
        acl("acl-default", ("app-a", "app-b", "public-a", "data-a"), allow_all_entries(), default=True),
        acl("acl-data-b", ("data-b",), deny),
    )
    only(replace(snap, network_acls=acls), "DB_NACL_DENIES", Severity.WARNING, Verdict.DEGRADED)


def test_db_nacl_return_traffic_denied_everywhere_is_an_error() -> None:
    snap = healthy()
    no_return = (
        NaclEntry(100, False, True, "-1", "0.0.0.0/0", None, None),
        NaclEntry(100, True, True, "6", "0.0.0.0/0", 443, 443),
    )
    acls = (
        acl("acl-default", ("app-a", "app-b", "public-a"), allow_all_entries(), default=True),
        acl("acl-data", ("data-a", "data-b"), no_return),
    )
    f = only(replace(snap, network_acls=acls), "DB_NACL_DENIES", Severity.ERROR, Verdict.BROKEN)
    assert f.evidence["leg"] == "return"


def test_nacl_does_not_apply_inside_one_subnet() -> None:
    snap = healthy(database=replace(healthy().database, subnet_ids=("app-a",)))
    fn = replace(snap.function, subnet_ids=("app-a",))
    deny_all = acl("acl-app", ("app-a",), ())
    others = acl("acl-default", ("app-b", "data-a", "data-b", "public-a"), allow_all_entries(), default=True)
    endpoint = replace(snap.vpc_endpoints[0], subnet_ids=("app-a",))
    assert (
        diagnose(replace(snap, function=fn, network_acls=(others, deny_all), vpc_endpoints=(endpoint,))).verdict
        is Verdict.HEALTHY
    )


def test_db_path_not_evaluated_beyond_a_transit_gateway_peering() -> None:
    # A transit gateway is judged natively (tests/test_transit_gateway.py); a peering between gateways is not.
    snap = through_tgw()
    peering = TransitGatewayAttachment("tgw-attach-9", "tgw-1", "peering", "tgw-9", "available", None)
    tgw_table = snap.tgw_route_tables["tgw-rtb-1"]
    routes = (*tgw_table.routes[:1], TransitGatewayRoute("10.1.0.0/16", ("tgw-attach-9",), "active"))
    snap = replace(
        snap,
        tgw_attachments={**snap.tgw_attachments, "tgw-attach-9": peering},
        tgw_route_tables={"tgw-rtb-1": replace(tgw_table, routes=routes)},
    )
    only(snap, "DB_PATH_NOT_EVALUATED", Severity.WARNING, Verdict.UNKNOWN)


# ----- invoke, config, logs, read failures ------------------------------------------------------


@pytest.mark.parametrize(
    "policy",
    [
        None,
        PolicyDocument(
            (
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "lambda:InvokeFunction",
                    "Resource": "*",
                },
            )
        ),
        PolicyDocument(
            (
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "secretsmanager.amazonaws.com"},
                    "Action": "lambda:InvokeFunction",
                    "Resource": "*",
                    "Condition": {"StringEquals": {"AWS:SourceAccount": "999999999999"}},
                },
            )
        ),
        PolicyDocument(
            (
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "secretsmanager.amazonaws.com"},
                    "Action": "lambda:InvokeFunction",
                    "Resource": "*",
                    "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:secretsmanager:*:*:secret:other-*"}},
                },
            )
        ),
    ],
)
def test_invoke_permission_missing(policy: PolicyDocument | None) -> None:
    only(healthy(function_policy=policy), "INVOKE_PERMISSION_MISSING", Severity.ERROR, Verdict.BROKEN)


def test_invoke_permission_scoped_by_source_arn_pattern() -> None:
    policy = PolicyDocument(
        (
            {
                "Effect": "Allow",
                "Principal": {"Service": "secretsmanager.amazonaws.com"},
                "Action": "lambda:InvokeFunction",
                "Resource": "*",
                "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:secretsmanager:*:*:secret:prod/*"}},
            },
        )
    )
    assert diagnose(healthy(function_policy=policy)).verdict is Verdict.HEALTHY


def test_rotation_lambda_missing_stops_the_diagnosis() -> None:
    d = diagnose(healthy(function=None))
    assert [f.code for f in d.findings] == ["ROTATION_LAMBDA_MISSING"]
    assert d.findings[0].severity is Severity.ERROR and d.verdict is Verdict.BROKEN


def test_rotation_not_lambda_is_info_and_healthy() -> None:
    secret = replace(healthy().secret, rotation_enabled=False)
    d = diagnose(healthy(secret=secret))
    assert [(f.code, f.severity) for f in d.findings] == [("ROTATION_NOT_LAMBDA", Severity.INFO)]
    assert d.verdict is Verdict.HEALTHY


def test_managed_rotation_is_not_lambda() -> None:
    secret = replace(healthy().secret, rotation_lambda_arn=None, owning_service="rds")
    d = diagnose(healthy(secret=secret))
    assert d.findings[0].code == "ROTATION_NOT_LAMBDA" and "rds" in d.findings[0].summary


def test_logs_show_credential_errors_on_a_sound_network() -> None:
    signals = (LogSignal("database_login_failed", 3, "2026-11-29T03:00:00+00:00"),)
    f = only(healthy(log_signals=signals), "LOGS_SHOW_NON_NETWORK_ERROR", Severity.WARNING, Verdict.DEGRADED)
    assert "database_login_failed" in f.summary


def test_logs_beside_network_errors_are_info_and_evidence() -> None:
    signals = (
        LogSignal("kms_access_denied", 1, "2026-11-29T03:00:00+00:00"),
        LogSignal("secretsmanager_connect_timeout", 2, "2026-11-29T03:00:00+00:00"),
    )
    d, found = codes(healthy(vpc_endpoints=(), log_signals=signals))
    assert found["LOGS_SHOW_NON_NETWORK_ERROR"].severity is Severity.INFO
    assert found["SM_NO_PATH"].evidence["logs"][0]["category"] == "secretsmanager_connect_timeout"
    assert d.verdict is Verdict.BROKEN


def test_failed_login_is_network_evidence_when_the_db_path_is_broken() -> None:
    signals = (LogSignal("database_login_failed", 3, "2026-11-29T03:00:00+00:00"),)
    db_sg = SecurityGroup("sg-db", VPC, "db", ())
    _, found = codes(with_group(healthy(log_signals=signals), db_sg))
    assert "LOGS_SHOW_NON_NETWORK_ERROR" not in found
    assert found["DB_SG_INGRESS_DENIES"].evidence["logs"][0]["category"] == "database_login_failed"


def test_read_failure_is_reported_and_the_path_is_not_judged_as_empty() -> None:
    failure = ReadFailure(
        "ec2:DescribeRouteTables", "UnauthorizedOperation", "You are not authorized", "ec2:DescribeRouteTables"
    )
    d, found = codes(healthy(route_tables=(), failures={FactKey.ROUTE_TABLES: failure}))
    f = found["AWS_READ_FAILED"]
    assert f.severity is Severity.WARNING and "ec2:DescribeRouteTables" in f.summary
    assert "SM_NO_PATH" not in found and d.verdict is Verdict.UNKNOWN


def test_denied_secret_value_read_leaves_db_path_unjudged() -> None:
    failure = ReadFailure(
        "secretsmanager:GetSecretValue",
        "AccessDeniedException",
        "denied by KMS key policy",
        "secretsmanager:GetSecretValue and kms:Decrypt",
    )
    d, found = codes(healthy(database=None, target_ref=None, failures={FactKey.SECRET_VALUE: failure}))
    assert "DB_TARGET_UNRESOLVED" not in found and "kms:Decrypt" in found["AWS_READ_FAILED"].summary
    assert d.verdict is Verdict.UNKNOWN


def test_denied_logs_read_is_info_only() -> None:
    failure = ReadFailure("logs:FilterLogEvents", "AccessDeniedException", "no", "logs:FilterLogEvents")
    d = diagnose(healthy(failures={FactKey.LOGS: failure}, log_signals=()))
    assert [(f.code, f.severity) for f in d.findings] == [("AWS_READ_FAILED", Severity.INFO)]
    assert d.verdict is Verdict.HEALTHY


def test_several_reasons_on_one_path_are_each_reported() -> None:
    fn_sg = SecurityGroup("sg-fn", VPC, "fn", ())
    vpce = SecurityGroup("sg-vpce", VPC, "vpce", ())
    _, found = codes(with_group(with_group(healthy(), fn_sg), vpce))
    assert {"SM_LAMBDA_EGRESS_DENIES", "SM_ENDPOINT_SG_DENIES", "DB_LAMBDA_EGRESS_DENIES"} <= set(found)


def test_function_subnet_facts_missing_for_unknown_vpc() -> None:
    fn = Function("rotate", "arn", None, ("subnet-gone",), ("sg-fn",), VPC, None)
    assert diagnose(healthy(function=fn, database=None)).verdict is Verdict.UNKNOWN


def test_json_keys_follow_the_contract() -> None:
    out = diagnose(healthy(vpc_endpoints=())).to_json()
    assert set(out) >= {"secret", "verdict", "findings", "plan"} and out["secret"]["arn"] == SECRET_ARN
    assert set(out["findings"][0]) >= {"code", "severity", "path", "summary", "resources"}


def test_unknown_code_is_refused() -> None:
    from rotation_doctor.model.findings import Finding

    with pytest.raises(ValueError):
        Finding("SM_SOMETHING_NEW", Severity.ERROR, "x")


def test_endpoint_in_other_service_is_ignored() -> None:
    other = VpcEndpoint(
        "vpce-9", VPC, "com.amazonaws.us-east-1.sts", "Interface", "available", ("app-a",), (), True, None
    )
    only(healthy(vpc_endpoints=(other,)), "SM_NO_PATH", Severity.ERROR, Verdict.BROKEN)
    assert SM_SERVICE not in other.service_name

"""Clients for other accounts and regions (collect/accounts.py): one AssumeRole per account whatever the number of
regions or threads, the caller's own account never assumed into, a refusal named, and the settings checked."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from rotation_doctor.collect.accounts import (
    ACCOUNT_ID,
    DEFAULT_MEMBER_ROLE,
    REGION_NAME,
    AccountSessions,
    Place,
    RoleRefused,
    accounts_from,
    enabled_regions,
    organization_accounts,
    parse_role_arn,
    place_of_arn,
    regions_from,
)
from rotation_doctor.collect.aws import AwsClients, BadSetting
from rotation_doctor.simulated import simulated_aws

OWN = "123456789012"  # moto's account for the test credentials
MEMBER = "210987654321"
OTHER = "333333333333"
REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"]


@pytest.fixture
def base() -> Iterator[AwsClients]:
    """Fresh clients (their own session and counter) on a fresh simulated AWS."""
    with simulated_aws():
        yield AwsClients(boto3.session.Session(region_name="us-east-1"), region="us-east-1")


def refuse_assume_role(session: Any, account: str) -> list[str]:
    """Make STS refuse AssumeRole into `account`, as AWS does when the role's trust does not name the caller
    (a botocore event hook on the session the STS client is made from). Answers the role ARNs asked for."""
    asked: list[str] = []

    def refuse(params: dict[str, Any], **_: Any) -> None:
        asked.append(params["RoleArn"])
        if f":{account}:" in params["RoleArn"]:
            raise ClientError(
                {
                    "Error": {
                        "Code": "AccessDenied",
                        "Message": f"not authorized to perform sts:AssumeRole on {account}",
                    }
                },
                "AssumeRole",
            )

    session.events.register("before-parameter-build.sts.AssumeRole", refuse)
    return asked


def test_one_assume_role_per_account_whatever_the_regions(base: AwsClients) -> None:
    sessions = AccountSessions(base)
    for region in REGIONS:
        clients = sessions.clients(Place(MEMBER, region))
        clients.ec2.describe_vpcs()
        assert clients.region == region
    assert sessions.clients(Place(MEMBER, "us-west-2")) is sessions.clients(Place(MEMBER, "us-west-2"))
    assert base.counter.calls["sts:AssumeRole"] == 1
    assert base.counter.calls["ec2:DescribeVpcs"] == len(REGIONS)  # the member's calls count with the caller's


def test_one_assume_role_per_account_from_many_threads(base: AwsClients) -> None:
    sessions = AccountSessions(base, base_account=OWN)
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def read(account: str, region: str) -> None:
        start.wait()
        try:
            sessions.clients(Place(account, region)).secretsmanager.list_secrets()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=read, args=(a, r)) for a in (MEMBER, OTHER) for r in REGIONS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert base.counter.calls["sts:AssumeRole"] == 2
    assert base.counter.calls["secretsmanager:ListSecrets"] == 8


def test_member_clients_are_in_the_member_account(base: AwsClients) -> None:
    sessions = AccountSessions(base)
    member = sessions.clients(Place(MEMBER, "us-east-1"))
    assert member.client("sts").get_caller_identity()["Account"] == MEMBER  # type: ignore[attr-defined]
    member.secretsmanager.create_secret(Name="member/only", SecretString="{}")
    assert [s["Name"] for s in member.secretsmanager.list_secrets()["SecretList"]] == ["member/only"]
    assert base.secretsmanager.list_secrets()["SecretList"] == []


def test_the_callers_own_account_is_never_assumed_into(base: AwsClients) -> None:
    sessions = AccountSessions(base)
    own = sessions.clients(Place(OWN, "eu-west-1"))
    own.ec2.describe_vpcs()
    assert sessions.base_account == OWN
    assert base.counter.calls["sts:AssumeRole"] == 0
    assert base.counter.calls["sts:GetCallerIdentity"] == 1  # asked once, then known
    assert own.session is base.session and own.region == "eu-west-1"


def test_an_explicit_role_is_assumed_even_in_the_callers_account(base: AwsClients) -> None:
    arn = f"arn:aws:iam::{OWN}:role/auditor"
    asked = refuse_assume_role(base.session, "nobody")
    sessions = AccountSessions(base, role_arns={OWN: arn}, base_account=OWN)
    sessions.clients(Place(OWN, "us-east-1")).ec2.describe_vpcs()
    assert asked == [arn] and base.counter.calls["sts:AssumeRole"] == 1


def test_the_member_role_is_named_by_account_role_name_and_partition(base: AwsClients) -> None:
    asked = refuse_assume_role(base.session, "nobody")
    AccountSessions(base, base_account=OWN).clients(Place(MEMBER, "us-east-1"))
    AccountSessions(base, role_name="audit/reader", base_account=OWN).clients(Place(OTHER, "us-east-1"))
    assert asked == [
        f"arn:aws:iam::{MEMBER}:role/{DEFAULT_MEMBER_ROLE}",
        f"arn:aws:iam::{OTHER}:role/audit/reader",
    ]
    china = AccountSessions(AwsClients(base.session, region="cn-north-1"), base_account=OWN)
    assert china.role_for(MEMBER) == f"arn:aws-cn:iam::{MEMBER}:role/{DEFAULT_MEMBER_ROLE}"


def test_an_account_that_refuses_the_role_is_named(base: AwsClients) -> None:
    refuse_assume_role(base.session, MEMBER)
    sessions = AccountSessions(base, base_account=OWN)
    with pytest.raises(RoleRefused) as refused:
        sessions.clients(Place(MEMBER, "us-east-1"))
    assert refused.value.account == MEMBER
    assert refused.value.role_arn == f"arn:aws:iam::{MEMBER}:role/{DEFAULT_MEMBER_ROLE}"
    assert refused.value.reason.startswith("AccessDenied: not authorized")
    sessions.clients(Place(OTHER, "us-east-1")).ec2.describe_vpcs()  # the others are still read


def test_organization_accounts_are_paged_and_only_active_ones() -> None:
    clients = AwsClients(boto3.session.Session(region_name="us-east-1"), region="us-east-1")
    org = clients.client("organizations")
    arn = "arn:aws:organizations::111111111111:account/o-abc/"
    with Stubber(org) as stub:
        stub.add_response(
            "list_accounts",
            {
                "Accounts": [
                    {"Id": "222222222222", "Arn": arn + "222222222222", "Status": "ACTIVE", "State": "ACTIVE"},
                    {"Id": "333333333333", "Arn": arn + "333333333333", "Status": "SUSPENDED", "State": "SUSPENDED"},
                ],
                "NextToken": "page-2",
            },
            {},
        )
        stub.add_response(
            "list_accounts",
            {"Accounts": [{"Id": "111111111111", "Arn": arn + "111111111111", "Status": "ACTIVE"}]},
            {"NextToken": "page-2"},
        )
        assert organization_accounts(clients) == ["111111111111", "222222222222"]
        stub.assert_no_pending_responses()


def test_enabled_regions_are_those_describe_regions_lists_without_all_regions() -> None:
    clients = AwsClients(boto3.session.Session(region_name="us-east-1"), region="us-east-1")
    with Stubber(clients.ec2) as stub:
        stub.add_response(
            "describe_regions",
            {
                "Regions": [
                    {
                        "RegionName": "us-west-2",
                        "Endpoint": "ec2.us-west-2.amazonaws.com",
                        "OptInStatus": "opt-in-not-required",
                    },
                    {"RegionName": "eu-south-1", "Endpoint": "ec2.eu-south-1.amazonaws.com", "OptInStatus": "opted-in"},
                ]
            },
            {},  # no AllRegions: the regions not enabled would be listed too
        )
        assert enabled_regions(clients) == ["eu-south-1", "us-west-2"]


def test_accounts_and_regions_settings() -> None:
    def never() -> list[str]:
        raise AssertionError("only 'all' lists")

    assert accounts_from(" all ", lambda: ["1"]) == ["1"]
    assert accounts_from(f"{MEMBER}, {OTHER},{MEMBER}", never) == [MEMBER, OTHER]
    for bad in ("", "12345", f"{MEMBER},me", "all,123456789012"):
        with pytest.raises(BadSetting) as error:
            accounts_from(bad, never)
        assert error.value.setting == "--accounts"
    assert regions_from("ALL", lambda: ["r"]) == ["r"]
    assert regions_from("us-east-1,eu-west-1,us-east-1", never) == ["us-east-1", "eu-west-1"]
    with pytest.raises(BadSetting) as error:
        regions_from("us-east-1,mars", never)
    assert error.value.setting == "--regions" and "mars" in str(error.value)


def test_role_arns_and_places_of_arns() -> None:
    arn = f"arn:aws:iam::{MEMBER}:role/path/rotation-doctor-member"
    assert parse_role_arn(arn) == (MEMBER, arn)
    for bad in (f"arn:aws:iam::{MEMBER}:user/bob", "arn:aws:iam::12:role/x", "rotation-doctor-member"):
        with pytest.raises(BadSetting) as error:
            parse_role_arn(bad)
        assert error.value.setting == "--role-arn"
    assert place_of_arn(f"arn:aws:secretsmanager:eu-west-1:{MEMBER}:secret:db-AbCdEf") == Place(MEMBER, "eu-west-1")
    assert place_of_arn("prod/orders/db") is None
    assert place_of_arn("arn:aws:iam::123456789012:role/x") is None  # IAM names no region


@pytest.mark.parametrize(
    "account, region",
    [
        (f"{MEMBER}\n", "eu-west-1"),  # `$` matches before a final newline
        ("\u0661" * 12, "eu-west-1"),  # twelve digits, none of them 0-9
        (MEMBER, "eu-west-1\n"),
        (MEMBER, "eu-west-\u0661"),
        (MEMBER, "EU-WEST-1"),
    ],
)
def test_a_place_is_an_account_and_region_spelled_exactly_one_way(account: str, region: str) -> None:
    """A place keys the hub's shares (change reads, sweeps, the deferred marker): another spelling of the same account
    or region is not a place, or one member would have as many shares as spellings."""
    assert not (ACCOUNT_ID.match(account) and REGION_NAME.match(region))
    assert place_of_arn(f"arn:aws:secretsmanager:{region}:{account}:secret:db-AbCdEf") is None

"""A centralized Secrets Manager endpoint in another member account (a shared-services account), in organization
mode: the private zone the shared account owns and associates with the spoke's VPC, the endpoint it names and that
endpoint's VPC are read through the shared account's member role, then judged as same-account facts are. The spoke
and the shared account are moto accounts reached through `sts:AssumeRole` (`tests/organization.py`); the hub is
moto's default account, whose session makes the calls counted here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from rotation_doctor.analysis import diagnose
from rotation_doctor.collect.accounts import AccountSessions, MemberReads, Place
from rotation_doctor.collect.collector import Collector
from rotation_doctor.examine import scan_places
from rotation_doctor.model.findings import Finding, Verdict
from rotation_doctor.simulated.account import AccountBuilder
from tests.organization import (
    build_member,
    member_builder,
    shared_services_endpoint,
    zones_associated_across_accounts,
)

SPOKE, SHARED = "111111111111", "444444444444"
REGION = "us-east-1"
ROLE = "rotation-doctor-member"


def role(account: str) -> str:
    return f"arn:aws:iam::{account}:role/{ROLE}"


@pytest.fixture
def hub(builder: AccountBuilder, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The hub's sessions (the member role named), every AssumeRole it sends, and the accounts made to refuse it."""
    zones_associated_across_accounts(monkeypatch)
    assumed: list[str] = []
    refusing: set[str] = set()

    def assume_role(params: dict[str, Any], **_: Any) -> None:
        assumed.append(params["RoleArn"])
        if params["RoleArn"].split(":")[4] in refusing:
            message = "User: arn:aws:sts::123456789012:assumed-role/worker/x is not authorized to perform: AssumeRole"
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": message}}, "AssumeRole")

    events = builder.clients.session.events
    events.register("before-parameter-build.sts.AssumeRole", assume_role, unique_id="central-org-assume")
    try:
        yield type(
            "Hub",
            (),
            {
                "clients": builder.clients,
                "sessions": AccountSessions(builder.clients, role_name=ROLE),
                "assumed": assumed,
                "refusing": refusing,
            },
        )
    finally:
        events.unregister("before-parameter-build.sts.AssumeRole", unique_id="central-org-assume")


def spoke_and_shared(admits: bool = True) -> tuple[Any, dict[str, Any]]:
    """The spoke member with no endpoint and no NAT route (only the centralized endpoint leads to Secrets Manager),
    and the shared-services member's endpoint."""
    spoke = build_member(SPOKE, REGION, db_admits_function=True)
    return spoke, shared_services_endpoint(member_builder(SHARED, REGION), spoke, admits=admits)


def scanned(hub: Any, accounts: list[str], secret: str) -> Any:
    """`scan --accounts ...` (organization mode): the spoke secret's diagnosis."""
    items = scan_places(hub.sessions, accounts, [REGION], organization=True)
    return next(d for d in items if getattr(d, "secret_arn", None) == secret)


def diagnosed(hub: Any, secret: str, members: MemberReads | None) -> Any:
    """The spoke secret diagnosed by a collector of the spoke's account (`members`: organization mode)."""
    collector = Collector(hub.sessions.clients(Place(SPOKE, REGION)), members=members)
    return diagnose(collector.snapshots([collector.describe_secret(secret)])[0])


def sm_findings(d: Any) -> list[Finding]:
    return [f for f in d.findings if f.code.path == "sm"]


def test_an_endpoint_in_a_shared_services_member_is_read_through_its_role_and_healthy(hub: Any) -> None:
    spoke, _ = spoke_and_shared()
    d = scanned(hub, [SPOKE, SHARED], spoke.secret_arn)
    assert d.verdict is Verdict.HEALTHY, [f.summary for f in d.findings]
    assert role(SHARED) in hub.assumed


def test_the_shared_endpoints_group_not_admitting_the_spoke_is_found_as_in_one_account(hub: Any) -> None:
    spoke, shared = spoke_and_shared(admits=False)
    d = scanned(hub, [SPOKE, SHARED], spoke.secret_arn)
    assert d.verdict is not Verdict.HEALTHY
    [denied] = [f for f in d.findings if str(f.code) == "SM_ENDPOINT_SG_DENIES"]
    assert shared["endpoint_sg"] in denied.summary, denied.summary


def test_a_shared_account_outside_the_allow_list_is_named_and_never_assumed_into(hub: Any) -> None:
    spoke, shared = spoke_and_shared()
    d = scanned(hub, [SPOKE], spoke.secret_arn)
    assert d.verdict is Verdict.UNKNOWN
    [f] = [f for f in sm_findings(d) if str(f.code) == "SM_PATH_NOT_EVALUATED"]
    assert SHARED in f.summary and shared["zone"] in f.summary
    assert "not one of the accounts this deployment may read" in f.summary, f.summary
    assert f.evidence["not_allowed"] is True and f.evidence["role"] is None
    assert role(SHARED) not in hub.assumed  # no AssumeRole into an account taken from AWS's answer alone


def test_a_refused_role_is_named_with_the_account_the_role_the_call_and_the_error_code(hub: Any) -> None:
    spoke, shared = spoke_and_shared()
    hub.refusing.add(SHARED)
    d = scanned(hub, [SPOKE, SHARED], spoke.secret_arn)
    assert d.verdict is Verdict.UNKNOWN
    [f] = [f for f in sm_findings(d) if str(f.code) == "SM_PATH_NOT_EVALUATED"]
    assert f"reading it through role {role(SHARED)} failed: sts:AssumeRole answered AccessDenied" in f.summary
    assert SHARED in f.summary and shared["zone"] in f.summary
    assert f.evidence | {"role": role(SHARED), "call": "sts:AssumeRole", "error_code": "AccessDenied"} == f.evidence


def test_a_read_the_shared_accounts_role_is_refused_is_named_exactly(hub: Any) -> None:
    """The role is assumed, but the shared account's policy refuses ListResourceRecordSets: that call, that role."""
    spoke, _ = spoke_and_shared()
    clients = hub.sessions.clients(Place(SHARED, REGION))

    def denied(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "ListResourceRecordSets")

    clients.route53.meta.events.register("before-call.route53.ListResourceRecordSets", denied)
    d = diagnosed(hub, spoke.secret_arn, MemberReads(hub.sessions, {SPOKE, SHARED}.__contains__))
    assert d.verdict is Verdict.UNKNOWN
    [f] = [f for f in sm_findings(d) if str(f.code) == "SM_PATH_NOT_EVALUATED"]
    assert f"role {role(SHARED)} failed: route53:ListResourceRecordSets answered AccessDenied" in f.summary


def test_outside_organization_mode_the_shared_zone_is_named_not_read(hub: Any) -> None:
    spoke, _ = spoke_and_shared()
    hub.sessions.clients(Place(SPOKE, REGION))
    hub.assumed.clear()
    d = diagnosed(hub, spoke.secret_arn, None)
    assert d.verdict is Verdict.UNKNOWN
    [f] = [f for f in sm_findings(d) if str(f.code) == "SM_PATH_NOT_EVALUATED"]
    assert f.summary.endswith(f"so where it sends the function is not read from account {SPOKE}."), f.summary
    assert hub.assumed == []


def test_reading_the_shared_account_costs_at_most_four_calls_more_than_one_account(hub: Any) -> None:
    """The issue's bound: the shared VPC's subnets, route tables, network ACLs and the endpoint's group cannot share
    the spoke's calls (another account's); the zone's records and the endpoint by id are read either way. The one
    AssumeRole is counted apart: it is made once per account for the process's life, for every diagnosis."""
    spoke, _ = spoke_and_shared()
    members = MemberReads(hub.sessions, {SPOKE, SHARED}.__contains__)
    for account in (SPOKE, SHARED):  # each role assumed once, as a running process has
        hub.sessions.clients(Place(account, REGION))
    hub.clients.counter.calls.clear()
    d = diagnosed(hub, spoke.secret_arn, members)
    assert d.verdict is Verdict.HEALTHY, [f.summary for f in d.findings]
    calls = hub.clients.counter.total
    single_account_central = 16  # docs/centralized-endpoints.md, bench/diagnose_calls.py: through a peering
    assert calls - single_account_central <= 4, dict(hub.clients.counter.calls)


# ----- the hub's worker ------------------------------------------------------------------------------


@pytest.mark.parametrize("allowed", [True, False])
def test_the_hubs_worker_reads_a_shared_endpoint_only_in_an_account_it_may_act_in(
    hub: Any, service: Any, allowed: bool
) -> None:
    """ROTATION_DOCTOR_ALLOWED_ACCOUNTS holds for a zone's owner as for an event's account: inside it, the shared
    endpoint's group is judged (and found to deny); outside it, no role is asked for and the finding says why."""
    spoke, shared = spoke_and_shared(admits=False)
    accounts = ["123456789012", SPOKE, *([SHARED] if allowed else [])]
    worker = service.make(
        "propose", ROTATION_DOCTOR_MEMBER_ROLE_NAME=ROLE, ROTATION_DOCTOR_ALLOWED_ACCOUNTS=",".join(accounts)
    )
    assert service.deliver(spoke.rotation_failed()) == {"batchItemFailures": []}
    assert (role(SHARED) in hub.assumed) is allowed
    report = worker.batch.handled[spoke.secret_arn]  # observed: nothing in the spoke fixes another account's group
    findings = {str(f.code): f for f in report.diagnosis.findings}
    if allowed:
        assert shared["endpoint_sg"] in findings["SM_ENDPOINT_SG_DENIES"].summary
    else:
        assert "SM_ENDPOINT_SG_DENIES" not in findings
        assert "not one of the accounts this deployment may read" in findings["SM_PATH_NOT_EVALUATED"].summary

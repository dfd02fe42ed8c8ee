"""Centralized Secrets Manager endpoints on the simulated account: a private hosted zone associated with the
function's VPC aliases the Secrets Manager name to an endpoint in a shared-services VPC, reached through a peering
or a transit gateway (`scenarios.central_endpoint`). Each way it breaks, with the verdict and the code a user sees.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from rotation_doctor.analysis.diagnosis import diagnose as diagnose_snapshot
from rotation_doctor.collect.collector import Collector
from rotation_doctor.examine import diagnose_secret
from rotation_doctor.model.findings import Finding, Severity, Verdict
from rotation_doctor.simulated import scenarios
from rotation_doctor.simulated.account import AccountBuilder

SECRET = scenarios.DEMO_SECRET
NAME = "secretsmanager.us-east-1.amazonaws.com"
# Bounds the bench holds too (bench/diagnose_calls.py): no diagnosis makes more calls than this.
MAX_CALLS = 25


def spoke(b: AccountBuilder) -> scenarios.Orders:
    """The orders VPC with no endpoint of its own and no default route: only the centralized endpoint leads out."""
    return scenarios.orders(b, db_admits_function=True)


def diagnose(b: AccountBuilder) -> tuple[Verdict, list[Finding], int]:
    b.clients.counter.calls.clear()
    _, d = diagnose_secret(b.clients, SECRET)
    return d.verdict, list(d.findings), b.clients.counter.total


def sm_codes(findings: list[Finding]) -> set[str]:
    return {str(f.code) for f in findings if f.code.path == "sm"}


def one(findings: list[Finding], code: str) -> Finding:
    found = [f for f in findings if f.code == code]
    assert found, [f"{f.code}: {f.summary}" for f in findings]
    return found[0]


@pytest.fixture
def refusals(builder: AccountBuilder) -> Iterator[list[tuple[str, str]]]:
    """Operations made to fail as AWS refuses them (a botocore hook); unregistered afterwards."""
    made: list[tuple[str, str]] = []
    yield made
    for service, operation in made:
        builder.clients.client(service).meta.events.unregister(
            f"before-call.{service}.{operation}", unique_id=f"refuse-{operation}"
        )


def refuse(b: AccountBuilder, made: list[tuple[str, str]], service: str, operation: str) -> None:
    def raise_denied(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not authorized"}}, operation)

    b.clients.client(service).meta.events.register(
        f"before-call.{service}.{operation}", raise_denied, unique_id=f"refuse-{operation}"
    )
    made.append((service, operation))


# ----- healthy -----------------------------------------------------------------------------------


@pytest.mark.parametrize("via", ["peering", "tgw"])
def test_centralized_endpoint_is_followed_and_healthy(builder: AccountBuilder, via: str) -> None:
    o = spoke(builder)
    scenarios.central_endpoint(builder, o, via=via)
    verdict, findings, calls = diagnose(builder)
    assert verdict is Verdict.HEALTHY, [f.summary for f in findings]
    assert calls <= MAX_CALLS
    # The records of the zone are read for the one name the function calls, from that name on, once.
    assert builder.clients.counter.calls["route53:ListResourceRecordSets"] == 1


def test_centralized_endpoint_reads_stay_bounded(builder: AccountBuilder) -> None:
    """A centralized endpoint behind a peering costs at most 4 calls more than an endpoint in the function's VPC."""
    o = scenarios.orders(builder, db_admits_function=True, endpoint=True)
    verdict, _, local = diagnose(builder)
    assert verdict is Verdict.HEALTHY
    builder.ec2.delete_vpc_endpoints(VpcEndpointIds=[o.extra["endpoint"]])
    scenarios.central_endpoint(builder, o, via="peering")
    verdict, _, central = diagnose(builder)
    assert verdict is Verdict.HEALTHY
    assert central - local <= 4, (local, central)


def test_group_reference_admits_the_function_across_a_same_region_peering(builder: AccountBuilder) -> None:
    o = spoke(builder)
    scenarios.central_endpoint(builder, o, via="peering", admits="group")
    verdict, findings, _ = diagnose(builder)
    assert verdict is Verdict.HEALTHY, [f.summary for f in findings]


# ----- each way it breaks ------------------------------------------------------------------------


@pytest.mark.parametrize("via", ["peering", "tgw"])
def test_zone_not_associated_with_the_spoke_leaves_no_path(builder: AccountBuilder, via: str) -> None:
    o = spoke(builder)
    scenarios.central_endpoint(builder, o, via=via, breaks="zone")
    verdict, findings, _ = diagnose(builder)
    assert verdict is Verdict.BROKEN
    assert sm_codes(findings) == {"SM_NO_PATH"}
    assert one(findings, "SM_NO_PATH").severity is Severity.ERROR


@pytest.mark.parametrize("via", ["peering", "tgw"])
def test_endpoint_group_admitting_nothing_denies(builder: AccountBuilder, via: str) -> None:
    o = spoke(builder)
    found = scenarios.central_endpoint(builder, o, via=via, admits="none")
    verdict, findings, _ = diagnose(builder)
    assert verdict is Verdict.BROKEN
    assert sm_codes(findings) == {"SM_ENDPOINT_SG_DENIES"}
    assert found["endpoint_sg"] in one(findings, "SM_ENDPOINT_SG_DENIES").summary


def test_group_reference_does_not_cross_a_transit_gateway(builder: AccountBuilder) -> None:
    """The endpoint's group names the function's group: AWS matches no such reference across a transit gateway
    without security group referencing, so the function is not admitted."""
    o = spoke(builder)
    scenarios.central_endpoint(builder, o, via="tgw", admits="group")
    verdict, findings, _ = diagnose(builder)
    assert verdict is Verdict.BROKEN
    assert sm_codes(findings) == {"SM_ENDPOINT_SG_DENIES"}


def test_group_reference_does_not_cross_an_inter_region_peering(builder: AccountBuilder) -> None:
    """AWS: a peer VPC's group in another region cannot be referenced. moto peers within one region, so the
    peering's accepter is moved to another region in the snapshot the collector made."""
    o = spoke(builder)
    found = scenarios.central_endpoint(builder, o, via="peering", admits="group")
    collector = Collector(builder.clients)
    snap = collector.snapshots([collector.describe_secret(SECRET)])[0]
    assert diagnose_snapshot(snap).verdict is Verdict.HEALTHY
    peering = snap.peerings[found["peering"]]
    far = replace(peering, requester_region="us-east-1", accepter_region="eu-west-1")
    d = diagnose_snapshot(replace(snap, peerings={**snap.peerings, peering.id: far}))
    assert d.verdict is Verdict.BROKEN
    assert {str(f.code) for f in d.findings} == {"SM_ENDPOINT_SG_DENIES"}


@pytest.mark.parametrize("via", ["peering", "tgw"])
def test_alias_to_a_deleted_endpoint_is_broken(builder: AccountBuilder, via: str) -> None:
    o = spoke(builder)
    found = scenarios.central_endpoint(builder, o, via=via, breaks="deleted")
    verdict, findings, _ = diagnose(builder)
    assert verdict is Verdict.BROKEN
    assert sm_codes(findings) == {"SM_ENDPOINT_NOT_AVAILABLE"}
    summary = one(findings, "SM_ENDPOINT_NOT_AVAILABLE").summary
    assert found["endpoint"] in summary and "deleted" in summary


@pytest.mark.parametrize("via", ["peering", "tgw"])
@pytest.mark.parametrize(("breaks", "from_vpc"), [("there", "spoke"), ("back", "shared")])
def test_route_missing_either_way_is_no_route(builder: AccountBuilder, via: str, breaks: str, from_vpc: str) -> None:
    o = spoke(builder)
    found = scenarios.central_endpoint(builder, o, via=via, breaks=breaks)
    verdict, findings, _ = diagnose(builder)
    assert verdict is Verdict.BROKEN
    assert sm_codes(findings) == {"SM_ENDPOINT_NO_ROUTE"}
    routes = [f for f in findings if f.code == "SM_ENDPOINT_NO_ROUTE"]
    assert all(f.severity is Severity.ERROR for f in routes)
    # Which way is missing: from the spoke to the shared VPC's block, or back to the spoke's.
    to_vpc = found["vpc"] if from_vpc == "spoke" else o.net.vpc
    assert all(f"in {to_vpc}" in f.summary for f in routes), [f.summary for f in routes]


@pytest.mark.parametrize("end", ["apps", "shared"])
def test_transit_gateway_route_missing_either_way(builder: AccountBuilder, end: str) -> None:
    o = spoke(builder)
    found = scenarios.central_endpoint(builder, o, via="tgw")
    far = o.net.cidr if end == "shared" else "10.50.0.0/16"
    builder.ec2.delete_transit_gateway_route(
        TransitGatewayRouteTableId=found["tgw_tables"][end], DestinationCidrBlock=far
    )
    verdict, findings, _ = diagnose(builder)
    assert verdict is Verdict.BROKEN
    assert sm_codes(findings) == {"SM_ENDPOINT_NO_ROUTE"}
    summary = one(findings, "SM_ENDPOINT_NO_ROUTE").summary
    assert found["tgw_tables"][end] in summary
    assert ("back to the function" if end == "shared" else "to the endpoint") in summary


def test_dns_support_off_in_the_spoke_breaks_resolution(builder: AccountBuilder) -> None:
    o = spoke(builder)
    found = scenarios.central_endpoint(builder, o, via="peering", breaks="dns")
    verdict, findings, _ = diagnose(builder)
    assert verdict is Verdict.BROKEN
    assert sm_codes(findings) == {"SM_VPC_DNS_DISABLED"}
    f = one(findings, "SM_VPC_DNS_DISABLED")
    assert "enableDnsSupport" in f.summary and o.net.vpc in f.resources
    assert f.evidence["enableDnsSupport"] is False
    assert found["zone"].split("/")[-1] in f.summary


# ----- what the zone holds -----------------------------------------------------------------------


def _set_record(b: AccountBuilder, zone: str, record: dict[str, Any], action: str = "UPSERT") -> None:
    b.clients.route53.change_resource_record_sets(
        HostedZoneId=zone,
        ChangeBatch={"Changes": [{"Action": action, "ResourceRecordSet": record}]},  # type: ignore[typeddict-item]
    )


def _alias(b: AccountBuilder, zone: str) -> dict[str, Any]:
    sets = b.clients.route53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    return dict(next(r for r in sets if r["Type"] == "A"))


def test_zone_apex_without_an_answering_record_names_no_ns_or_soa(builder: AccountBuilder) -> None:
    """The zone is the name itself: only its NS and SOA records remain, which say nothing of where it leads."""
    o = spoke(builder)
    found = scenarios.central_endpoint(builder, o, via="peering")
    _set_record(builder, found["zone"], _alias(builder, found["zone"]), action="DELETE")
    verdict, findings, _ = diagnose(builder)
    assert verdict is Verdict.BROKEN
    f = one(findings, "SM_NO_PATH")
    assert NAME in f.summary
    text = " ".join(f"{f.summary} {f.evidence}" for f in findings).lower()
    assert "awsdns" not in text and "hostmaster" not in text and "soa" not in text


def test_cname_to_the_endpoint_in_capitals_with_trailing_dot_is_followed(builder: AccountBuilder) -> None:
    o = spoke(builder)
    found = scenarios.central_endpoint(builder, o, via="peering")
    target = _alias(builder, found["zone"])["AliasTarget"]["DNSName"]
    _set_record(builder, found["zone"], _alias(builder, found["zone"]), action="DELETE")
    _set_record(
        builder,
        found["zone"],
        {"Name": NAME + ".", "Type": "CNAME", "TTL": 60, "ResourceRecords": [{"Value": target.upper() + "."}]},
    )
    verdict, findings, _ = diagnose(builder)
    assert verdict is Verdict.HEALTHY, [f.summary for f in findings]
    # And the endpoint it names is really judged: its group closed, the CNAME's path breaks.
    builder.ec2.revoke_security_group_ingress(
        GroupId=found["endpoint_sg"],
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": o.net.cidr}]}],
    )
    assert sm_codes(diagnose(builder)[1]) == {"SM_ENDPOINT_SG_DENIES"}


@pytest.mark.parametrize(
    "suffix",
    [
        ".evil.example",  # the endpoint's name as a prefix of another name
        "\n",  # a name with a final newline is another name
    ],
)
def test_a_name_that_merely_starts_like_the_endpoints_is_not_followed(builder: AccountBuilder, suffix: str) -> None:
    o = spoke(builder)
    found = scenarios.central_endpoint(builder, o, via="peering")
    record = _alias(builder, found["zone"])
    target = record["AliasTarget"]["DNSName"].rstrip(".")
    _set_record(builder, found["zone"], record, action="DELETE")
    _set_record(
        builder,
        found["zone"],
        {"Name": NAME, "Type": "CNAME", "TTL": 60, "ResourceRecords": [{"Value": target + suffix}]},
    )
    verdict, findings, _ = diagnose(builder)
    assert verdict is Verdict.UNKNOWN
    assert sm_codes(findings) == {"SM_PATH_NOT_EVALUATED"}
    assert "not a Secrets Manager interface endpoint" in one(findings, "SM_PATH_NOT_EVALUATED").summary


def test_zonal_name_sends_every_function_subnet_to_that_zone_alone(builder: AccountBuilder) -> None:
    """An alias to the endpoint's zonal name: only its interface in that zone answers. A network ACL that closes
    the other zone's endpoint subnet then does not matter; with the regional name it does (some cases fail)."""
    o = spoke(builder)
    found = scenarios.central_endpoint(builder, o, via="peering")
    shared_b = builder.ec2.describe_subnets(
        Filters=[{"Name": "vpc-id", "Values": [found["vpc"]]}, {"Name": "cidr-block", "Values": ["10.50.2.0/24"]}]
    )["Subnets"][0]["SubnetId"]
    acl = builder.ec2.create_network_acl(VpcId=found["vpc"])["NetworkAcl"]["NetworkAclId"]  # denies everything
    association = builder.ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [shared_b]}])
    assoc_id = next(
        a["NetworkAclAssociationId"]
        for n in association["NetworkAcls"]
        for a in n["Associations"]
        if a["SubnetId"] == shared_b
    )
    builder.ec2.replace_network_acl_association(AssociationId=assoc_id, NetworkAclId=acl)
    verdict, findings, _ = diagnose(builder)
    assert verdict is Verdict.DEGRADED and sm_codes(findings) == {"SM_NACL_DENIES"}
    record = _alias(builder, found["zone"])
    regional = record["AliasTarget"]["DNSName"].rstrip(".")
    endpoint_part, rest = regional.split(".", 1)
    record["AliasTarget"] = {**record["AliasTarget"], "DNSName": f"{endpoint_part}-us-east-1a.{rest}"}
    _set_record(builder, found["zone"], record)
    verdict, findings, _ = diagnose(builder)
    assert verdict is Verdict.HEALTHY, [f.summary for f in findings]


def test_fips_function_follows_the_record_for_the_fips_name(builder: AccountBuilder) -> None:
    """A function with AWS_USE_FIPS_ENDPOINT=true calls secretsmanager-fips.REGION.amazonaws.com: a zone for the
    standard name does not answer it, a zone for the FIPS name does."""
    o = scenarios.orders(builder, db_admits_function=True, function_env={"AWS_USE_FIPS_ENDPOINT": "true"})
    found = scenarios.central_endpoint(builder, o, via="peering")
    verdict, findings, _ = diagnose(builder)
    assert verdict is Verdict.BROKEN and sm_codes(findings) == {"SM_NO_PATH"}
    fips = "secretsmanager-fips.us-east-1.amazonaws.com"
    zone = builder.clients.route53.create_hosted_zone(
        Name=fips,
        CallerReference="fips",
        HostedZoneConfig={"PrivateZone": True},
        VPC={"VPCRegion": "us-east-1", "VPCId": o.net.vpc},
    )["HostedZone"]["Id"]
    _set_record(builder, zone, {**_alias(builder, found["zone"]), "Name": fips})
    builder.clients.counter.calls.clear()
    verdict, findings, _ = diagnose(builder)
    assert verdict is Verdict.HEALTHY, [f.summary for f in findings]


def test_records_that_cannot_be_read_are_reported_not_guessed(
    builder: AccountBuilder, refusals: list[tuple[str, str]]
) -> None:
    o = spoke(builder)
    scenarios.central_endpoint(builder, o, via="peering")
    refuse(builder, refusals, "route53", "ListResourceRecordSets")
    verdict, findings, _ = diagnose(builder)
    assert verdict is Verdict.UNKNOWN
    f = one(findings, "AWS_READ_FAILED")
    assert "route53:ListResourceRecordSets" in f.summary
    assert not sm_codes(findings)


# ----- what is not read: said, never guessed ------------------------------------------------------


def _collected(b: AccountBuilder) -> Any:
    collector = Collector(b.clients)
    return collector.snapshots([collector.describe_secret(SECRET)])[0]


def test_endpoint_not_listed_in_the_account_is_not_evaluated(builder: AccountBuilder) -> None:
    """An endpoint DescribeVpcEndpoints does not list at all: deleted long ago, or another account's; which one
    this account cannot tell, so the finding says so (a listed "deleted" endpoint is broken, above)."""
    o = spoke(builder)
    found = scenarios.central_endpoint(builder, o, via="peering")
    snap = _collected(builder)
    d = diagnose_snapshot(
        replace(snap, vpc_endpoints=tuple(e for e in snap.vpc_endpoints if e.id != found["endpoint"]))
    )
    assert d.verdict is Verdict.UNKNOWN
    f = one(list(d.findings), "SM_PATH_NOT_EVALUATED")
    assert found["endpoint"] in f.summary and "another account" in f.summary
    assert f.severity is Severity.WARNING


def test_zone_of_another_account_is_not_read_and_says_so(builder: AccountBuilder) -> None:
    """A zone another account owns and shares with the VPC: only its owner can list its records, so they are not
    asked for (no call that could only be refused), and the finding names the owner. moto owns every zone by the
    caller's account: the answer is given the other owner as AWS would report it."""
    o = spoke(builder)
    found = scenarios.central_endpoint(builder, o, via="peering")

    def shared_by_another_account(parsed: dict[str, Any], **_: Any) -> None:
        for zone in parsed.get("HostedZoneSummaries", []):
            zone["Owner"] = {"OwningAccount": "210987654321"}

    events = builder.clients.route53.meta.events
    events.register("after-call.route53.ListHostedZonesByVPC", shared_by_another_account, unique_id="other-owner")
    try:
        verdict, findings, _ = diagnose(builder)
    finally:
        events.unregister("after-call.route53.ListHostedZonesByVPC", unique_id="other-owner")
    assert builder.clients.counter.calls["route53:ListResourceRecordSets"] == 0
    assert verdict is Verdict.UNKNOWN
    f = one(findings, "SM_PATH_NOT_EVALUATED")
    assert "210987654321" in f.summary and found["zone"].split("/")[-1] in f.summary
    assert "only that account can list its records" in f.summary


# ----- what a plan does about it ------------------------------------------------------------------


def _plan(b: AccountBuilder) -> Any:
    from rotation_doctor.planning.planner import make_plan

    collector = Collector(b.clients)
    return make_plan(collector.with_planning_facts(collector.snapshots([collector.describe_secret(SECRET)])[0]))


def test_plan_turns_on_dns_in_the_spoke_and_ends_healthy(builder: AccountBuilder) -> None:
    o = spoke(builder)
    scenarios.central_endpoint(builder, o, via="peering", breaks="dns")
    plan = _plan(builder)
    assert [(str(f.kind), f.vpc_id) for f in plan.fixes] == [("ENABLE_VPC_DNS", o.net.vpc)]
    assert plan.ends_healthy


@pytest.mark.parametrize(
    ("via", "admits", "breaks"), [("tgw", "group", None), ("peering", "none", None), ("tgw", "cidr", "back")]
)
def test_plan_never_changes_the_shared_vpc(builder: AccountBuilder, via: str, admits: str, breaks: str | None) -> None:
    """The endpoint's group and the shared VPC's routes are its owners' (and a rule naming the function's group
    matches nothing across a transit gateway): nothing is planned there, and the plan says why."""
    o = spoke(builder)
    scenarios.central_endpoint(builder, o, via=via, admits=admits, breaks=breaks)
    plan = _plan(builder)
    assert not plan.fixes and not plan.ends_healthy
    assert {str(u.code) for u in plan.unfixable} & {"SM_ENDPOINT_SG_DENIES", "SM_ENDPOINT_NO_ROUTE"}


def test_plan_adds_no_reference_to_the_endpoints_group_across_a_transit_gateway(builder: AccountBuilder) -> None:
    """The function's group sends TCP 443 only to the endpoint's group by reference, which matches nothing across a
    transit gateway: the function's egress is denied, and another reference to that group would fix nothing."""
    o = spoke(builder)
    found = scenarios.central_endpoint(builder, o, via="tgw")
    ec2 = builder.ec2
    ec2.revoke_security_group_egress(
        GroupId=o.fn_sg, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )
    for port, group in ((5432, o.db_sg), (443, found["endpoint_sg"])):
        ec2.authorize_security_group_egress(
            GroupId=o.fn_sg,
            IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "UserIdGroupPairs": [{"GroupId": group}]}
            ],
        )
    verdict, findings, _ = diagnose(builder)
    assert verdict is Verdict.BROKEN and sm_codes(findings) == {"SM_LAMBDA_EGRESS_DENIES"}
    plan = _plan(builder)
    assert not plan.fixes
    assert "SM_LAMBDA_EGRESS_DENIES" in {str(u.code) for u in plan.unfixable}


@pytest.mark.parametrize("via", ["peering", "tgw"])
def test_what_the_secret_uses_reaches_into_the_shared_vpc(builder: AccountBuilder, via: str) -> None:
    """A change to the shared VPC's endpoint, its group, its subnets' routes and ACLs, or the zone may break the
    next rotation: all are among what the secret uses (what-if and the service's change events look there)."""
    from rotation_doctor.analysis.usage import resources_used

    o = spoke(builder)
    found = scenarios.central_endpoint(builder, o, via=via)
    snap = _collected(builder)
    used = resources_used(snap)
    shared_subnets = [s for s in snap.subnets.values() if s.vpc_id == found["vpc"]]
    # The shared VPC's own id is not among them: the diagnosis reads its subnets, tables, ACLs and the endpoint, not
    # the VPC (no change event that names only the VPC can change this path; tests/test_reads.py holds the record).
    assert {found["endpoint"], found["endpoint_sg"], found["zone"].split("/")[-1]} <= used
    assert {s.id for s in shared_subnets} <= used
    hop = found["peering"] if via == "peering" else found["tgw"]
    assert hop in used
    if via == "tgw":
        assert set(found["tgw_tables"].values()) <= used and set(found["attachments"].values()) <= used


def test_dns_attributes_not_read_are_unknown_never_on(builder: AccountBuilder) -> None:
    o = spoke(builder)
    scenarios.central_endpoint(builder, o, via="peering")
    snap = _collected(builder)
    unread = {v: a for v, a in snap.dns_attributes.items() if v != o.net.vpc}
    d = diagnose_snapshot(replace(snap, dns_attributes=unread))
    assert d.verdict is Verdict.UNKNOWN
    assert "was not read" in one(list(d.findings), "SM_PATH_NOT_EVALUATED").summary

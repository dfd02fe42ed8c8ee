"""Typed evidence: the analyzer attaches it, folding and log evidence keep it, fix kinds act on it alone.

Each fix kind test runs twice on the finding the analyzer made: with its typed facts but a human
evidence dict that says nothing (the fix kind still plans the same), and with the dict intact but
no facts (the fix kind plans nothing). Pure: hand-built snapshots, no AWS.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace

import pytest

from remediations import PlanContext, Planned, Remediation
from remediations.add_nacl_entries import AddNaclEntries
from remediations.add_peering_routes import AddPeeringRoutes
from remediations.authorize_endpoint_ingress import AuthorizeEndpointIngress
from remediations.authorize_lambda_egress import AuthorizeLambdaEgress
from remediations.create_secretsmanager_endpoint import CreateSecretsManagerEndpoint
from rotation_doctor.analysis import diagnose
from rotation_doctor.analysis.cases import Case, Problem, fold
from rotation_doctor.model.evidence import (
    Direction,
    EgressDenied,
    EndpointUnavailable,
    IngressDenied,
    Leg,
    NaclDenied,
    PeeringUnusable,
    PeerKind,
    RouteElsewhere,
    RouteMissing,
)
from rotation_doctor.model.findings import Code, Finding, Severity
from rotation_doctor.model.plan import FixKind
from rotation_doctor.model.snapshot import (
    LogSignal,
    NaclEntry,
    Route,
    SecurityGroup,
    Snapshot,
)
from tests.snapshots import (
    BREAKAGES,
    SECRET_ARN,
    VPC,
    acl,
    allow_all_entries,
    healthy,
    nat_path,
    peered,
    rule,
    with_group,
)

CLOSED_FN = SecurityGroup("sg-fn", VPC, "fn", (rule("sg-fn", egress=True, port=5432, ref="sg-db"),))


def findings(snap: Snapshot, code: str) -> list[Finding]:
    found = [f for f in diagnose(snap).findings if f.code == code]
    assert found, diagnose(snap).findings
    return found


def plan(kind: Remediation, snap: Snapshot, found: Sequence[Finding]) -> list[Planned]:
    return kind.plan(snap, found, PlanContext(SECRET_ARN, "prod/app"))


def prose_only(found: Sequence[Finding]) -> list[Finding]:
    """The findings with their human evidence intact and no typed facts."""
    return [replace(f, facts=None) for f in found]


def facts_only(found: Sequence[Finding]) -> list[Finding]:
    """The findings with their typed facts and a human evidence dict that tells a fix kind nothing."""
    return [replace(f, evidence={"note": "for people"}) for f in found]


def params(planned: list[Planned]) -> list[dict[str, object]]:
    return [s.call.params for p in planned for s in p.fix.steps]


# ----- CREATE_SECRETSMANAGER_ENDPOINT: the public path fails on the way to the internet --------------


def test_endpoint_kind_recognizes_internet_egress_denied_by_the_peer_kind() -> None:
    snap = with_group(nat_path(network_interfaces=()), CLOSED_FN)
    found = findings(snap, "SM_LAMBDA_EGRESS_DENIES")
    assert found[0].facts == EgressDenied(443, PeerKind.INTERNET, "0.0.0.0/0", ("sg-fn",))
    # Both function subnets fail the same way: one finding, its typed value kept through the fold.
    assert found[0].evidence == {"port": 443, "to": "0.0.0.0/0", "cases": ["app-a", "app-b"]}

    planned = plan(CreateSecretsManagerEndpoint(), snap, facts_only(found))
    assert [p.fix.kind for p in planned] == [FixKind.CREATE_SECRETSMANAGER_ENDPOINT]
    assert plan(CreateSecretsManagerEndpoint(), snap, prose_only(found)) == []
    # Egress to the internet is never opened by a rule.
    assert plan(AuthorizeLambdaEgress(), snap, found) == []


def _internet_acl(snap: Snapshot, deny: str) -> Snapshot:
    entries = (NaclEntry(50, True, False, "6", deny, 443, 443), *allow_all_entries())
    acls = (
        acl("acl-default", ("public-a", "data-a", "data-b"), allow_all_entries(), default=True),
        acl("acl-app", ("app-a", "app-b"), entries),
    )
    return replace(snap, network_acls=acls)


def test_endpoint_kind_recognizes_an_internet_nacl_denial_but_not_a_partial_one() -> None:
    snap = _internet_acl(nat_path(network_interfaces=()), "0.0.0.0/0")
    found = findings(snap, "SM_NACL_DENIES")
    facts = found[0].facts
    assert isinstance(facts, NaclDenied)
    assert (facts.peer, facts.partial, facts.peer_cidrs, facts.denying_rules) == (PeerKind.INTERNET, False, (), (50,))
    assert found[0].evidence["peer"] == "the internet" and found[0].evidence["cases"] == ["app-a"]

    planned = plan(CreateSecretsManagerEndpoint(), snap, facts_only(found))
    assert [p.fix.kind for p in planned] == [FixKind.CREATE_SECRETSMANAGER_ENDPOINT]
    assert plan(CreateSecretsManagerEndpoint(), snap, prose_only(found)) == []
    assert plan(AddNaclEntries(), snap, found) == []  # never an ACL rule open to the internet

    doubt = _internet_acl(nat_path(network_interfaces=()), "52.0.0.0/8")
    partial = findings(doubt, "SM_NACL_DENIES")
    assert isinstance(partial[0].facts, NaclDenied) and partial[0].facts.partial
    assert plan(CreateSecretsManagerEndpoint(), doubt, partial) == []


def test_endpoint_kind_replaces_an_endpoint_being_deleted_by_its_typed_state() -> None:
    # The analyzer reports the state it read; the fix kind acts on the typed value.
    deleting = replace(healthy().vpc_endpoints[0], state="deleting")
    found = findings(healthy(vpc_endpoints=(deleting,)), "SM_ENDPOINT_NOT_AVAILABLE")
    assert found[0].facts == EndpointUnavailable("deleting") and found[0].evidence == {"state": "deleting"}

    snap = healthy(vpc_endpoints=(), network_interfaces=())
    gone = Finding(
        Code.SM_ENDPOINT_NOT_AVAILABLE, Severity.ERROR, "gone", ("vpce-1",), facts=EndpointUnavailable("deleted")
    )
    assert gone.evidence == {"state": "deleted"}
    assert [p.fix.kind for p in plan(CreateSecretsManagerEndpoint(), snap, [gone])] == [
        FixKind.CREATE_SECRETSMANAGER_ENDPOINT
    ]
    assert plan(CreateSecretsManagerEndpoint(), snap, prose_only([gone])) == []
    pending = replace(gone, evidence={}, facts=EndpointUnavailable("pending"))
    assert plan(CreateSecretsManagerEndpoint(), snap, [pending]) == []


# ----- security group rules: the groups and the port come from the typed evidence ------------------


def test_lambda_egress_rule_names_the_typed_peer_group_and_port() -> None:
    fn_sg = SecurityGroup("sg-fn", VPC, "fn", (rule("sg-fn", egress=True, port=443, cidr="0.0.0.0/0"),))
    snap = with_group(healthy(), fn_sg)
    found = findings(snap, "DB_LAMBDA_EGRESS_DENIES")
    facts = found[0].facts
    assert isinstance(facts, EgressDenied)
    assert (facts.peer, facts.port, facts.to_groups) == (PeerKind.DATABASE, 5432, ("sg-db",))

    [rule_params] = params(plan(AuthorizeLambdaEgress(), snap, facts_only(found)))
    assert rule_params["GroupId"] == "sg-fn"
    assert rule_params["IpPermissions"] == [
        {
            "IpProtocol": "tcp",
            "FromPort": 5432,
            "ToPort": 5432,
            "UserIdGroupPairs": [
                {"GroupId": "sg-db", "Description": "rotation-doctor: prod/app (DB_LAMBDA_EGRESS_DENIES)"}
            ],
        }
    ]
    assert plan(AuthorizeLambdaEgress(), snap, prose_only(found)) == []


def test_endpoint_ingress_rule_goes_on_the_typed_endpoint_group() -> None:
    snap = with_group(healthy(), SecurityGroup("sg-vpce", VPC, "vpce", ()))
    found = findings(snap, "SM_ENDPOINT_SG_DENIES")
    facts = found[0].facts
    assert isinstance(facts, IngressDenied)
    assert (facts.peer, facts.port, facts.groups, facts.from_groups) == (
        PeerKind.VPC_ENDPOINT,
        443,
        ("sg-vpce",),
        ("sg-fn",),
    )

    [rule_params] = params(plan(AuthorizeEndpointIngress(), snap, facts_only(found)))
    assert rule_params["GroupId"] == "sg-vpce"
    assert rule_params["IpPermissions"][0]["UserIdGroupPairs"][0]["GroupId"] == "sg-fn"  # type: ignore[index]
    assert plan(AuthorizeEndpointIngress(), snap, prose_only(found)) == []


# ----- ADD_NACL_ENTRIES: rule numbers, ports, direction and peer blocks -------------------------------


def test_nacl_entries_come_from_the_typed_denial() -> None:
    deny = (NaclEntry(50, False, False, "6", "10.0.0.0/16", 5432, 5432), *allow_all_entries())
    acls = (
        acl("acl-default", ("app-a", "app-b", "public-a"), allow_all_entries(), default=True),
        acl("acl-data", ("data-a", "data-b"), deny),
    )
    snap = replace(healthy(), network_acls=acls)
    found = findings(snap, "DB_NACL_DENIES")
    assert [f.facts for f in found] == [
        NaclDenied(
            "acl-data",
            data,
            Direction.INBOUND,
            Leg.REQUEST,
            (5432, 5432),
            PeerKind.FUNCTION,
            f"rotation function rotate in {app}",
            (cidr,),
            False,
            (50,),
        )
        for app, cidr in (("app-a", "10.0.1.0/24"), ("app-b", "10.0.2.0/24"))
        for data in ("data-a", "data-b")
    ]

    entries = params(plan(AddNaclEntries(), snap, facts_only(found)))
    assert [(e["RuleNumber"], e["Egress"], e["CidrBlock"], e["PortRange"]) for e in entries] == [
        (49, False, "10.0.1.0/24", {"From": 5432, "To": 5432}),
        (48, False, "10.0.2.0/24", {"From": 5432, "To": 5432}),
    ]
    assert plan(AddNaclEntries(), snap, prose_only(found)) == []


# ----- ADD_PEERING_ROUTES: only routes that are missing ----------------------------------------------


def test_peering_routes_for_exactly_the_typed_missing_routes() -> None:
    snap = peered()
    found = findings(snap, "DB_NO_ROUTE")
    # From each database subnet (the same table) back to each function subnet.
    assert [f.facts for f in found] == [
        RouteMissing("rtb-db", cidr) for cidr in ("10.0.1.0/24", "10.0.2.0/24") for _ in ("db-a", "db-b")
    ]

    routes = params(plan(AddPeeringRoutes(), snap, facts_only(found)))
    assert routes == [
        {"RouteTableId": "rtb-db", "DestinationCidrBlock": cidr, "VpcPeeringConnectionId": "pcx-1"}
        for cidr in ("10.0.1.0/24", "10.0.2.0/24")
    ]
    assert plan(AddPeeringRoutes(), snap, prose_only(found)) == []


def test_peering_routes_never_replace_a_route_that_goes_elsewhere() -> None:
    snap = peered(back=(Route("10.0.0.0/16", "igw-2", "active"),))
    found = findings(snap, "DB_NO_ROUTE")
    assert {type(f.facts) for f in found} == {RouteElsewhere}
    assert plan(AddPeeringRoutes(), snap, found) == []

    broken = findings(
        peered(back=(Route("10.0.0.0/16", "pcx-1", "active"),), peering="pending-acceptance"), "DB_NO_ROUTE"
    )
    assert {type(f.facts) for f in broken} == {PeeringUnusable}
    assert broken[0].evidence["why"] == "is pending-acceptance"


# ----- the typed value survives folding and log evidence --------------------------------------------


def test_fold_keeps_the_typed_evidence_of_the_problems_it_merges() -> None:
    facts = EgressDenied(443, PeerKind.VPC_ENDPOINT, "10.0.1.0/24", ("sg-fn",), ("sg-vpce",), "app-a")
    problem = Problem(Code.SM_LAMBDA_EGRESS_DENIES, "No TCP 443 out.", ("sg-fn", "sg-vpce"), facts=facts)
    assert problem.evidence == facts.to_json()
    [finding] = fold([Case("app-a -> app-a", [problem]), Case("app-b -> app-a", [problem])])
    assert finding.facts == facts
    assert finding.evidence == {**facts.to_json(), "cases": ["app-a -> app-a", "app-b -> app-a"]}

    [one] = fold([Case("app-a", [problem])])
    assert one.facts == facts and one.evidence == facts.to_json()


def test_log_evidence_keeps_the_typed_evidence() -> None:
    signals = (LogSignal("database_login_failed", 3, "2026-11-29T03:00:00+00:00"),)
    snap = with_group(healthy(log_signals=signals), SecurityGroup("sg-db", VPC, "db", ()))
    [finding] = findings(snap, "DB_SG_INGRESS_DENIES")
    assert isinstance(finding.facts, IngressDenied) and finding.facts.groups == ("sg-db",)
    assert finding.evidence["logs"][0]["category"] == "database_login_failed"


# ----- the JSON stays what it was: the typed value is its source, never part of it -------------------

TYPED = {
    "SM_NACL_DENIES": NaclDenied,
    "DB_NACL_DENIES": NaclDenied,
    "SM_LAMBDA_EGRESS_DENIES": EgressDenied,
    "DB_LAMBDA_EGRESS_DENIES": EgressDenied,
    "SM_ENDPOINT_SG_DENIES": IngressDenied,
    "DB_SG_INGRESS_DENIES": IngressDenied,
}


def _snapshots() -> list[Snapshot]:
    out = [
        with_group(nat_path(), CLOSED_FN),
        _internet_acl(nat_path(), "0.0.0.0/0"),
        _internet_acl(nat_path(), "52.0.0.0/8"),
        peered(),
        peered(back=(Route("10.0.0.0/16", "pcx-1", "blackhole"),)),
    ]
    for base in (healthy, nat_path):
        for combo in itertools.combinations(BREAKAGES, 2):
            snap = base(network_interfaces=())
            for breakage in combo:
                snap = breakage(snap)
            out.append(snap)
    return out


@pytest.mark.parametrize("snap", _snapshots())
def test_the_human_evidence_starts_with_the_typed_facts_json(snap: Snapshot) -> None:
    for f in diagnose(snap).findings:
        if f.code in TYPED:
            assert isinstance(f.facts, TYPED[f.code]), f
        if f.facts is None:
            continue
        typed = f.facts.to_json()
        assert list(f.evidence.items())[: len(typed)] == list(typed.items())
        assert set(f.evidence) - set(typed) <= {"cases", "logs"}
        assert set(f.to_json()) == {"code", "severity", "path", "summary", "resources", "evidence"}

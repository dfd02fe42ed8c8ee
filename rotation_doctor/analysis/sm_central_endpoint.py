"""Centralized interface endpoints: the Secrets Manager name answered by a private hosted zone, followed to the
endpoint its record names, wherever that endpoint lives.

The pattern AWS documents ("Centralized access to VPC private endpoints", Amazon VPC / AWS Whitepaper "Building a
Scalable and Secure Multi-VPC AWS Network Infrastructure"): one interface endpoint in a shared-services VPC with
private DNS off; a Route 53 private hosted zone named for the service (`secretsmanager.REGION.amazonaws.com`)
holding an alias (or CNAME) to the endpoint's regional or zonal DNS name, associated with every spoke VPC; the
spokes reach the shared VPC through a peering or a transit gateway. What decides whether the function gets there:

- the zone answers in the spoke only with the VPC's `enableDnsSupport` and `enableDnsHostnames` on (Route 53
  Developer Guide, "Working with private hosted zones": "To use private hosted zones, you must set the following
  Amazon VPC settings to true");
- the record for the very name the SDK calls (A/AAAA alias or CNAME; the apex's NS and SOA say nothing of where
  the name leads), compared whole after DNS normalisation;
- the endpoint it names exists and is available (an alias to a deleted endpoint answers nothing); one that is not
  listed at all in the function's account, or a zone another account owns (only its owner lists its records), is
  not evaluated, saying what could not be read and why (in organization mode the collector reads another
  account's zone and endpoint through its member role, `Snapshot.account_reads`, and they are judged here as the
  function account's own are);
- the routes both ways between each function subnet and the endpoint's subnets, the groups (a rule naming the
  other VPC's group matches across a same-region peering, never across a transit gateway without security group
  referencing), the network ACLs, and the endpoint policy, judged as for an endpoint in the function's own VPC.

This module follows the zone; `sm_path` judges the endpoint it leads to, with `case_problems` for the crossing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rotation_doctor.analysis import hops
from rotation_doctor.analysis.cases import Problem
from rotation_doctor.analysis.crossings import (
    CrossingCodes,
    references_allowed,
    route_problems,
    tgw_subnet_nacls,
)
from rotation_doctor.analysis.flows import SM_FLOW, Side, security_group_problems
from rotation_doctor.analysis.flows import subnet_pair_nacl_problems as pair_nacls
from rotation_doctor.model.findings import Code, Finding, Severity
from rotation_doctor.model.paths import HopKind
from rotation_doctor.model.snapshot import (
    AccountRead,
    FactKey,
    Function,
    PrivateHostedZone,
    Snapshot,
    VpcEndpoint,
    arn_account,
)
from rotation_doctor.netsem import dns

HTTPS = 443
SM_CROSSING = CrossingCodes(
    Code.SM_ENDPOINT_NO_ROUTE,
    Code.SM_PATH_NOT_EVALUATED,
    Code.SM_ENDPOINT_NO_ROUTE,
    Code.SM_ENDPOINT_NO_ROUTE,
    Code.SM_ENDPOINT_NO_ROUTE,
    toward="to the endpoint",
    back="back to the function",
)


@dataclass(frozen=True)
class Followed:
    """Where the zone's record leads: findings on the way, and the endpoint to judge (None: nothing to judge)."""

    findings: tuple[Finding, ...] = ()
    endpoint: VpcEndpoint | None = None
    availability_zone: str | None = None  # a zonal DNS name: only the endpoint's interface in this zone answers


def follow(snap: Snapshot, fn: Function, zone: PrivateHostedZone, name: str) -> Followed:
    """The record for `name` in `zone` (associated with the function's VPC), followed to an interface endpoint.
    An endpoint in a gone state is returned: `sm_path` judges its state as for any endpoint."""
    vpc = fn.vpc_id or ""
    account = arn_account(fn.arn)
    through = snap.account_reads.get(zone.owner_account or "")
    if zone.owner_account and zone.owner_account != account and (through is None or not through.read):
        _zone_hop(zone, name, vpc, f"records not read (owned by account {zone.owner_account})")
        # Read through the owner's member role in organization mode; otherwise named with exactly why not.
        why = f"; {through.why_unread()}" if through is not None else ""
        evidence: dict[str, object] = {"zone": zone.id, "zone_owner": zone.owner_account, "function_account": account}
        if through is not None:
            evidence |= _unread_evidence(through)
        return Followed(
            (
                Finding(
                    Code.SM_PATH_NOT_EVALUATED,
                    Severity.WARNING,
                    f"Private hosted zone {zone.name} ({zone.id}) answers {name} in {vpc}, but account "
                    f"{zone.owner_account} owns it: only that account can list its records, so where it sends the "
                    f"function is not read from account {account}{why}.",
                    (zone.id, vpc),
                    evidence,
                ),
            )
        )
    records = dns.answering_records([r for r in zone.records if r.name == dns.normalised(name)])
    if not records:
        _zone_hop(zone, name, vpc, "no A, AAAA or CNAME record")
        return Followed(
            (
                Finding(
                    Code.SM_NO_PATH,
                    Severity.ERROR,
                    f"Private hosted zone {zone.name} ({zone.id}) is associated with {vpc} and has no A, AAAA or "
                    f"CNAME record for {name}, so the name does not resolve in the VPC.",
                    (zone.id, vpc),
                    {"zone": zone.id, "zone_name": zone.name, "name": name},
                ),
            )
        )
    dns_off = _dns_off(snap, fn, zone, name)
    if dns_off is None:
        return Followed()  # the VPC's DNS attributes could not be read: AWS_READ_FAILED says so
    targets = dns.record_targets(records)
    named = [(t, e) for t in targets if (e := dns.secrets_manager_endpoint_name(t)) is not None]
    if not named:
        answers = targets or sorted({v for r in records for v in r.values})
        _zone_hop(zone, name, vpc, ", ".join(answers), dns_off)
        return Followed(
            (
                *dns_off,
                Finding(
                    Code.SM_PATH_NOT_EVALUATED,
                    Severity.WARNING,
                    f"Private hosted zone {zone.name} ({zone.id}) answers {name} with {', '.join(answers)}, which is "
                    "not a Secrets Manager interface endpoint's DNS name; what lies there is not modelled.",
                    (zone.id, vpc),
                    {"zone": zone.id, "name": name, "answers": answers},
                ),
            )
        )
    target, endpoint_name = named[0]
    endpoint = next((e for e in snap.vpc_endpoints if e.id == endpoint_name.endpoint_id), None)
    if endpoint is None:
        _zone_hop(zone, name, vpc, target, dns_off)
        hops.hop(HopKind.VPC_ENDPOINT, endpoint_name.endpoint_id, "HTTPS to Secrets Manager", f"not in {account}")
        # AWS lists a deleted endpoint as "deleted" for a while (judged below, as any endpoint's state); one that is
        # not listed at all was deleted long ago, or belongs to another account, which this read cannot tell apart.
        also = f" nor, through its member role, in account {through.account}" if through is not None else ""
        return Followed(
            (
                *dns_off,
                Finding(
                    Code.SM_PATH_NOT_EVALUATED,
                    Severity.WARNING,
                    f"Private hosted zone {zone.name} ({zone.id}) answers {name} in {vpc} with {target}, the DNS "
                    f"name of endpoint {endpoint_name.endpoint_id}, which DescribeVpcEndpoints does not list in "
                    f"account {account}{also} ({snap.region}): it was deleted, or it belongs to another account, "
                    "whose endpoints are not read.",
                    (zone.id, endpoint_name.endpoint_id),
                    {"zone": zone.id, "name": name, "target": target, "endpoint": endpoint_name.endpoint_id},
                ),
            )
        )
    if endpoint.vpc_id != vpc and snap.failure(FactKey.PEERINGS):
        if dns_off:  # the zone's answer decides already; the way on is not drawn (an unread fact is unknown)
            _zone_hop(zone, name, vpc, target, dns_off)
        return Followed(dns_off)  # AWS_READ_FAILED: the peerings between the VPCs could not be read
    _zone_hop(zone, name, vpc, target, dns_off)
    return Followed(dns_off, endpoint, endpoint_name.availability_zone)


def _unread_evidence(through: AccountRead) -> dict[str, object]:
    """What a finding shows of another account that was not read: the role tried, the call and its error code."""
    failure = through.failure
    return {
        "role": through.role_arn,
        "not_allowed": through.not_allowed,
        "call": failure.operation if failure is not None else None,
        "error_code": failure.error_code if failure is not None else None,
    }


def _zone_hop(zone: PrivateHostedZone, name: str, vpc: str, answer: str, dns_off: tuple[Finding, ...] = ()) -> None:
    """The zone asked for the name the function calls, before it sends anything (`SOURCE`): what it answers, or that
    the VPC's DNS switches keep it from answering."""
    if dns_off and dns_off[0].code is Code.SM_VPC_DNS_DISABLED:
        off = [switch for switch, on in dns_off[0].evidence.items() if on is False]
        answer = f"nothing ({' and '.join(off)} off)"
    hops.hop(HopKind.HOSTED_ZONE, zone.id, f"resolve {name} in {vpc}", answer, stage=hops.Stage.SOURCE)


def _dns_off(snap: Snapshot, fn: Function, zone: PrivateHostedZone, name: str) -> tuple[Finding, ...] | None:
    """The finding when the VPC's DNS switches keep the zone from answering (or were not read); None when reading
    them failed (AWS_READ_FAILED says so)."""
    vpc = fn.vpc_id or ""
    if snap.failure(FactKey.DNS_ATTRIBUTES, vpc):
        return None
    attrs = snap.dns_attributes.get(vpc)
    if attrs is None:  # not read (and no failure to report it): unknown, never taken for on or off
        return (
            Finding(
                Code.SM_PATH_NOT_EVALUATED,
                Severity.WARNING,
                f"Private hosted zone {zone.name} ({zone.id}) answers {name} for {vpc}, but whether {vpc} has DNS "
                "support and DNS hostnames on, which the zone needs to answer, was not read.",
                (vpc, zone.id),
                {"zone": zone.id, "vpc": vpc},
            ),
        )
    off = [
        n
        for n, on in (
            ("enableDnsSupport", attrs.enable_dns_support),
            ("enableDnsHostnames", attrs.enable_dns_hostnames),
        )
        if not on
    ]
    if not off:
        return ()
    return (
        Finding(
            Code.SM_VPC_DNS_DISABLED,
            Severity.ERROR,
            f"Private hosted zone {zone.name} ({zone.id}) answers {name} for {vpc}, but {vpc} has "
            f"{' and '.join(off)} off: Route 53 answers a private zone only in a VPC with both on, so the function "
            "cannot resolve Secrets Manager.",
            (vpc, zone.id),
            {"enableDnsSupport": attrs.enable_dns_support, "enableDnsHostnames": attrs.enable_dns_hostnames},
        ),
    )


def endpoints_named(zones: Iterable[PrivateHostedZone], endpoints: Iterable[VpcEndpoint]) -> list[VpcEndpoint]:
    """The endpoints, among `endpoints`, that the records of `zones` name by their own DNS names (regional or
    zonal), once each: what a VPC's private zones may send its functions to."""
    named = {
        e.endpoint_id
        for zone in zones
        for target in dns.record_targets(zone.records)
        if (e := dns.secrets_manager_endpoint_name(target)) is not None
    }
    return [e for e in endpoints if e.id in named]


def case_problems(snap: Snapshot, src: Side, dst: Side) -> list[Problem]:
    """One function subnet to one subnet of an endpoint in another VPC: the routes both ways (a peering or a
    transit gateway, judged as the database path judges them), then the groups and network ACLs on a path that
    exists, the transit gateway attachments' subnets' ACLs included."""
    on_routes = route_problems(snap, src.subnet, dst.subnet, SM_CROSSING)
    if any(p.code is SM_CROSSING.no_route for p in on_routes):
        return on_routes  # no route decides the case; groups and ACLs matter only on a path that exists
    references = references_allowed(snap, src.subnet, dst.subnet)
    return [
        *on_routes,
        *security_group_problems(snap, src, dst, HTTPS, SM_FLOW, references=references),
        *pair_nacls(snap, src, dst, HTTPS, SM_FLOW.nacl),
        *tgw_subnet_nacls(snap, src, dst, HTTPS, SM_FLOW.nacl),
    ]

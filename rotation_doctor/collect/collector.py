"""Reads, in a few rounds of batched calls, every fact the diagnosis of a set of secrets needs.

A batch is one secret (`diagnose`) or every Lambda-rotated secret of the region (`scan`); the
calls grow with pages and with distinct functions, databases and VPCs, not with secrets:

1. secret values (one call per 20 secrets), each function's configuration and policy;
2. the databases the secrets name (one call per kind of database, many ids a call);
3. per set of VPCs: subnets, route tables, network ACLs, Secrets Manager endpoints, private
   hosted zones, peerings (one call each for all VPCs, one per VPC for hosted zones);
4. the security groups of all of them in one call; DNS attributes only where an endpoint has
   private DNS; NAT and internet gateways only where a default route leads to a NAT gateway;
5. only when some rule of those groups, or some route of those route tables, names a managed prefix list:
   the lists, in one call, and the entries of each (`GetManagedPrefixListEntries` reads one list a call).

A read that fails is stored as a `ReadFailure`; it is never taken to mean "none exist".

The paginated EC2 reads are rows of one table (`PagedRead`, `PAGED_READS`) that run through one loop
(`Collector._paged_reads`): what differs between them is data, what they share is written once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, TypeAlias, cast

from rotation_doctor.analysis import logs as log_analysis
from rotation_doctor.analysis.sm_central_endpoint import endpoints_named
from rotation_doctor.collect import convert, targets
from rotation_doctor.collect.accounts import ACCOUNT_ID, MemberReads, RoleRefused
from rotation_doctor.collect.aws import (
    AwsClients,
    AwsError,
    BadInput,
    SecretNotFound,
    SecretUnreadable,
    attempt,
    chunks,
    error_code,
    fatal,
    is_not_found,
    read_failure,
)
from rotation_doctor.collect.databases import DatabaseResolver
from rotation_doctor.model.snapshot import (
    AccountRead,
    Database,
    DnsAttributes,
    FactKey,
    Function,
    HostedZoneRecord,
    InternetGateway,
    NatGateway,
    NetworkAcl,
    NetworkInterface,
    PeeringConnection,
    PlanningFacts,
    PolicyDocument,
    PrefixList,
    PrivateHostedZone,
    ReadFailure,
    RouteTable,
    Secret,
    SecurityGroup,
    Snapshot,
    Subnet,
    TargetRef,
    TransitGateway,
    TransitGatewayAttachment,
    TransitGatewayRouteTable,
    VpcEndpoint,
    arn_account,
)
from rotation_doctor.netsem import dns, routes
from rotation_doctor.netsem import transit_gateways as tgw
from rotation_doctor.netsem.addresses import ipv4

if TYPE_CHECKING:
    from mypy_boto3_ec2.literals import VpcAttributeNameType
    from mypy_boto3_ec2.type_defs import FilterTypeDef
    from mypy_boto3_route53.literals import VPCRegionType

log = logging.getLogger(__name__)

EC2_FILTER_VALUES = 200  # EC2 accepts at most 200 values in one filter
SECRET_BATCH = 20  # BatchGetSecretValue takes at most 20 secrets a call
OVERDUE = timedelta(days=1)
# DescribeVpcAttribute reads one attribute a call: (the attribute, the response key that holds it)
_DNS_ATTRIBUTES: tuple[tuple[VpcAttributeNameType, str], ...] = (
    ("enableDnsSupport", "EnableDnsSupport"),
    ("enableDnsHostnames", "EnableDnsHostnames"),
)


@dataclass
class _Facts:
    """What one batch has read so far; shared by every snapshot the batch makes."""

    values: dict[str, TargetRef | None] = field(default_factory=dict)  # by secret ARN
    functions: dict[str, Function | None] = field(default_factory=dict)  # by rotation Lambda ARN
    policies: dict[str, PolicyDocument | None] = field(default_factory=dict)
    subnets: dict[str, Subnet] = field(default_factory=dict)
    route_tables: dict[str, RouteTable] = field(default_factory=dict)
    network_acls: dict[str, NetworkAcl] = field(default_factory=dict)
    security_groups: dict[str, SecurityGroup] = field(default_factory=dict)
    endpoints: dict[str, VpcEndpoint] = field(default_factory=dict)
    dns_attributes: dict[str, DnsAttributes] = field(default_factory=dict)
    hosted_zones: dict[str, tuple[PrivateHostedZone, ...]] = field(default_factory=dict)
    nat_gateways: dict[str, NatGateway] = field(default_factory=dict)
    internet_gateways: dict[str, InternetGateway] = field(default_factory=dict)
    peerings: dict[str, PeeringConnection] = field(default_factory=dict)
    network_interfaces: dict[str, NetworkInterface] = field(default_factory=dict)  # read for planning only
    prefix_list_items: dict[str, dict[str, Any]] = field(default_factory=dict)  # DescribeManagedPrefixLists items
    prefix_lists: dict[str, PrefixList] = field(default_factory=dict)  # those whose entries were read in full
    transit_gateways: dict[str, TransitGateway] = field(default_factory=dict)
    tgw_attachments: dict[str, TransitGatewayAttachment] = field(default_factory=dict)
    tgw_vpc_attachments: dict[str, dict[str, Any]] = field(default_factory=dict)  # raw: merged into the above
    tgw_route_tables: dict[str, TransitGatewayRouteTable] = field(default_factory=dict)
    failures: dict[str, ReadFailure] = field(default_factory=dict)
    read_vpcs: set[str] = field(default_factory=set)
    account_reads: dict[str, AccountRead] = field(default_factory=dict)  # organization mode, by account


Filters: TypeAlias = "Sequence[FilterTypeDef]"  # EC2's request filters


@dataclass(frozen=True)
class PagedRead:
    """A paginated EC2 Describe* read, declared: what it lists, by which filter, and where each item goes.

    Every one runs through `Collector._paged_reads`: the values are batched into as few calls as the filter
    allows, every page is followed, each item is stored in the batch's facts under its id, and a read that
    fails is stored as a `ReadFailure` under `fact_key`; it is never taken to mean "none exist".
    """

    operation: str  # the IAM action ("ec2:DescribeSubnets"); a ReadFailure names it as the permission to grant
    result_key: str  # the list of items in each page ("Subnets")
    id_key: str  # each item's id, which it is stored under ("SubnetId")
    by: tuple[str, ...]  # the filters that are given the values; with two, each gets all of them (see peerings)
    convert: Callable[[dict[str, Any]], Any]  # a response item to its fact
    into: Callable[[_Facts], dict[str, Any]]  # the batch's facts that hold the items, by id
    fact_key: str  # where a failure is stored: a FactKey (or "network_interfaces", read only for planning)
    filter_parameter: str = "Filters"  # DescribeNatGateways alone calls it "Filter"
    chunk_size: int | None = EC2_FILTER_VALUES  # None: the values must not be split over calls

    @property
    def method(self) -> str:
        """The boto3 method and paginator name: "ec2:DescribeSubnets" -> "describe_subnets"."""
        from botocore import xform_name  # lazy, as boto3 is: start-up time counts in a Lambda

        return str(xform_name(self.operation.split(":", 1)[1]))

    def batches(self, values: Sequence[str]) -> list[list[str]]:
        """The values of each call; no call at all without values, as nothing is wanted."""
        if not values:
            return []
        return list(chunks(values, self.chunk_size or len(values)))


# The paged EC2 reads. Where the same items are wanted by another filter, the row is the same but for `by`.
SUBNETS_IN_VPCS = PagedRead(
    "ec2:DescribeSubnets", "Subnets", "SubnetId", ("vpc-id",), convert.subnet, lambda f: f.subnets, FactKey.SUBNETS
)
# A function's own subnets, when the VpcId it reports is not theirs (see `_repair_function_vpcs`).
SUBNETS_BY_ID = replace(SUBNETS_IN_VPCS, by=("subnet-id",))
ROUTE_TABLES_IN_VPCS = PagedRead(
    "ec2:DescribeRouteTables",
    "RouteTables",
    "RouteTableId",
    ("vpc-id",),
    convert.route_table,
    lambda f: f.route_tables,
    FactKey.ROUTE_TABLES,
)
NETWORK_ACLS_IN_VPCS = PagedRead(
    "ec2:DescribeNetworkAcls",
    "NetworkAcls",
    "NetworkAclId",
    ("vpc-id",),
    convert.network_acl,
    lambda f: f.network_acls,
    FactKey.NETWORK_ACLS,
)
# Read with a second filter, the region's Secrets Manager service name (see `_read_vpcs`).
ENDPOINTS_IN_VPCS = PagedRead(
    "ec2:DescribeVpcEndpoints",
    "VpcEndpoints",
    "VpcEndpointId",
    ("vpc-id",),
    convert.vpc_endpoint,
    lambda f: f.endpoints,
    FactKey.VPC_ENDPOINTS,
)
# Endpoints that a function's SECRETS_MANAGER_ENDPOINT names, in whichever VPC they are.
ENDPOINTS_BY_ID = replace(ENDPOINTS_IN_VPCS, by=("vpc-endpoint-id",))
SECURITY_GROUPS_BY_ID = PagedRead(
    "ec2:DescribeSecurityGroups",
    "SecurityGroups",
    "GroupId",
    ("group-id",),
    convert.security_group,
    lambda f: f.security_groups,
    FactKey.SECURITY_GROUPS,
)
NAT_GATEWAYS_BY_ID = PagedRead(
    "ec2:DescribeNatGateways",
    "NatGateways",
    "NatGatewayId",
    ("nat-gateway-id",),
    convert.nat_gateway,
    lambda f: f.nat_gateways,
    FactKey.NAT_GATEWAYS,
    filter_parameter="Filter",
)
# Centralized egress: the NAT gateways of an egress VPC, before its route tables say which one a route leads to.
NAT_GATEWAYS_IN_VPCS = replace(NAT_GATEWAYS_BY_ID, by=("vpc-id",))
INTERNET_GATEWAYS_OF_VPCS = PagedRead(
    "ec2:DescribeInternetGateways",
    "InternetGateways",
    "InternetGatewayId",
    ("attachment.vpc-id",),
    convert.internet_gateway,
    lambda f: f.internet_gateways,
    FactKey.INTERNET_GATEWAYS,
)
# Peerings with both sides among the VPCs (the two filters must both match). Split over calls, a pair whose
# sides fell in different calls would be missed, so the VPCs stay in one call.
PEERINGS_AMONG_VPCS = PagedRead(
    "ec2:DescribeVpcPeeringConnections",
    "VpcPeeringConnections",
    "VpcPeeringConnectionId",
    ("requester-vpc-info.vpc-id", "accepter-vpc-info.vpc-id"),
    convert.peering,
    lambda f: f.peerings,
    FactKey.PEERINGS,
    chunk_size=None,
)
# Peerings a route names by id (what-if's second round): one filter, so the ids may be split over calls.
PEERINGS_BY_ID = replace(PEERINGS_AMONG_VPCS, by=("vpc-peering-connection-id",), chunk_size=EC2_FILTER_VALUES)
# Planning only: before private DNS is turned on, who else in the VPC calls Secrets Manager today.
NETWORK_INTERFACES_IN_VPC = PagedRead(
    "ec2:DescribeNetworkInterfaces",
    "NetworkInterfaces",
    "NetworkInterfaceId",
    ("vpc-id",),
    convert.network_interface,
    lambda f: f.network_interfaces,
    "network_interfaces",
)

# The managed prefix lists that security-group rules name (the customer's and AWS's); a failure is stored per list.
PREFIX_LISTS_BY_ID = PagedRead(
    "ec2:DescribeManagedPrefixLists",
    "PrefixLists",
    "PrefixListId",
    ("prefix-list-id",),
    dict,
    lambda f: f.prefix_list_items,
    FactKey.PREFIX_LISTS,
)
# Transit gateways that a route between a function's and a database's subnets leads to (see `_read_transit_gateways`).
TRANSIT_GATEWAYS_BY_ID = PagedRead(
    "ec2:DescribeTransitGateways",
    "TransitGateways",
    "TransitGatewayId",
    ("transit-gateway-id",),
    convert.transit_gateway,
    lambda f: f.transit_gateways,
    FactKey.TRANSIT_GATEWAYS,
)
TGW_ATTACHMENTS_OF_GATEWAYS = PagedRead(
    "ec2:DescribeTransitGatewayAttachments",
    "TransitGatewayAttachments",
    "TransitGatewayAttachmentId",
    ("transit-gateway-id",),
    convert.tgw_attachment,
    lambda f: f.tgw_attachments,
    FactKey.TRANSIT_GATEWAYS,
)
# The VPC attachments' subnets and options, kept raw until they are merged into the attachments above.
TGW_VPC_ATTACHMENTS_OF_GATEWAYS = PagedRead(
    "ec2:DescribeTransitGatewayVpcAttachments",
    "TransitGatewayVpcAttachments",
    "TransitGatewayAttachmentId",
    ("transit-gateway-id",),
    dict,
    lambda f: f.tgw_vpc_attachments,
    FactKey.TRANSIT_GATEWAYS,
)

PAGED_READS: tuple[PagedRead, ...] = (
    SUBNETS_IN_VPCS,
    SUBNETS_BY_ID,
    ROUTE_TABLES_IN_VPCS,
    NETWORK_ACLS_IN_VPCS,
    ENDPOINTS_IN_VPCS,
    ENDPOINTS_BY_ID,
    SECURITY_GROUPS_BY_ID,
    NAT_GATEWAYS_BY_ID,
    NAT_GATEWAYS_IN_VPCS,
    INTERNET_GATEWAYS_OF_VPCS,
    PEERINGS_AMONG_VPCS,
    PEERINGS_BY_ID,
    NETWORK_INTERFACES_IN_VPC,
    PREFIX_LISTS_BY_ID,
    TRANSIT_GATEWAYS_BY_ID,
    TGW_ATTACHMENTS_OF_GATEWAYS,
    TGW_VPC_ATTACHMENTS_OF_GATEWAYS,
)


class Collector:
    def __init__(
        self,
        clients: AwsClients,
        *,
        workers: int = 8,
        log_window: timedelta = timedelta(hours=24),
        members: MemberReads | None = None,
    ) -> None:
        """`members`: organization mode, where another account's zone and centralized endpoint are read through its
        member role (see `_read_other_accounts`); None: they are named, never read."""
        self.clients = clients
        self.region = str(clients.region)
        self.workers = workers
        self.log_window = log_window
        self.members = members

    # ----- entry points -------------------------------------------------------------------

    def describe_secret(self, secret_id: str) -> Secret:
        """The secret named by name or ARN; SecretNotFound (a BadInput) if there is none, BadInput if the name
        cannot be one, SecretUnreadable (an AwsError) if AWS refuses or fails to answer for this secret, AwsError
        when nothing can be read."""
        try:
            raw = attempt(lambda: self.clients.secretsmanager.describe_secret(SecretId=secret_id))
        except AwsError:
            raise
        except Exception as exc:
            if is_not_found(exc):
                raise SecretNotFound(f"no secret {secret_id!r} in {self.region}") from exc
            if error_code(exc) in {"ValidationException", "InvalidParameterException"}:
                raise BadInput(f"{secret_id!r} is not a valid secret name or ARN") from exc
            raise SecretUnreadable(secret_id, read_failure("secretsmanager:DescribeSecret", exc)) from exc
        return convert.secret(raw)

    def list_rotated_secrets(self, on_page: Callable[[int], None] | None = None) -> list[Secret]:
        """Every secret of the region whose rotation is done by a Lambda function, page by page."""
        found: list[Secret] = []
        paginator = self.clients.secretsmanager.get_paginator("list_secrets")
        try:
            for page in attempt(lambda: iter(paginator.paginate(PaginationConfig={"PageSize": 100}))):
                found += [s for s in map(convert.secret, page.get("SecretList", [])) if s.rotation_lambda_arn]
                if on_page:
                    on_page(len(found))
        except AwsError:
            raise
        except Exception as exc:
            failure = read_failure("secretsmanager:ListSecrets", exc)
            raise AwsError(f"cannot list secrets: {failure.error_code}: {failure.message}") from exc
        return [s for s in found if s.rotation_enabled]

    def snapshots(self, secrets: Sequence[Secret], *, rotation_failed: Iterable[str] = ()) -> list[Snapshot]:
        """One snapshot per secret, from reads batched across all of them."""
        facts = _Facts()
        rotated = [s for s in secrets if s.rotation_enabled and s.rotation_lambda_arn]
        refs = self._round_secrets_and_functions(rotated, facts)
        databases = self._round_databases(refs, facts)
        self._round_networks(rotated, databases, facts)
        failed = set(rotation_failed)
        now = datetime.now(UTC)
        return [
            self._assemble(s, refs.get(s.arn), databases, facts, s.arn in failed or _overdue(s, now)) for s in secrets
        ]

    def with_logs(self, snaps: Sequence[Snapshot]) -> list[Snapshot]:
        """The snapshots again with what each function's recent logs show (one read per function)."""
        wanted = {s.function.arn: s.function for s in snaps if s.function is not None}
        signals: dict[str, Any] = {}
        failures: dict[str, ReadFailure] = {}

        def read(fn: Function) -> None:
            try:
                signals[fn.arn] = self._read_logs(fn.log_group or f"/aws/lambda/{fn.name}")
            except Exception as exc:
                if fatal(exc):
                    raise AwsError(str(exc)) from exc
                if is_not_found(exc):
                    signals[fn.arn] = ()
                else:
                    failures[fn.arn] = read_failure("logs:FilterLogEvents", exc)

        self._parallel([partial(read, fn) for fn in wanted.values()])
        out = []
        for snap in snaps:
            fn = snap.function
            if fn is None:
                out.append(snap)
            elif fn.arn in failures:
                out.append(replace(snap, log_signals=(), failures={**snap.failures, FactKey.LOGS: failures[fn.arn]}))
            else:
                out.append(replace(snap, log_signals=signals.get(fn.arn, ())))
        return out

    def with_planning_facts(self, snap: Snapshot) -> Snapshot:
        return self.planning_facts(snap).apply_to(snap)

    def planning_facts(self, snap: Snapshot) -> PlanningFacts:
        """What a plan needs beyond the diagnosis (see `PlanningFacts`), for `snap`'s function and VPCs."""
        fn = snap.function
        if fn is None:
            return PlanningFacts()
        vpcs = sorted({v for v in (fn.vpc_id, snap.database.vpc_id if snap.database else None) if v})
        facts = _Facts()
        found: dict[str, Any] = {"vpcs": {}, "tags": None}

        def read_vpcs() -> None:
            raw = self._read(
                facts,
                FactKey.VPCS,
                "ec2:DescribeVpcs",
                lambda: self.clients.ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": vpcs}]),
            )
            for item in (raw or {}).get("Vpcs", []):
                found["vpcs"][item["VpcId"]] = convert.vpc(item)

        def read_tags() -> None:
            raw = self._read(
                facts,
                f"{FactKey.FUNCTION}:tags",
                "lambda:ListTags",
                lambda: self.clients.lambda_.list_tags(Resource=fn.arn),
            )
            if raw is not None:
                found["tags"] = dict(raw.get("Tags") or {})

        tasks: list[Callable[[], None]] = [read_tags]
        if vpcs:
            tasks += [read_vpcs]
            tasks += [partial(self._read_dns_attributes, facts, v) for v in vpcs if v not in snap.dns_attributes]
        if fn.vpc_id:
            tasks += self._paged_reads(NETWORK_INTERFACES_IN_VPC, [fn.vpc_id], facts)
            # A NAT gateway plan needs a public subnet: one routed to an attached internet gateway.
            if not any(fn.vpc_id in g.attached_vpc_ids for g in snap.internet_gateways.values()):
                tasks += self._paged_reads(INTERNET_GATEWAYS_OF_VPCS, [fn.vpc_id], facts)
        self._parallel(tasks)
        enis_read = bool(fn.vpc_id) and NETWORK_INTERFACES_IN_VPC.fact_key not in facts.failures
        return PlanningFacts(
            found["tags"],
            found["vpcs"],
            facts.dns_attributes,
            facts.internet_gateways,
            tuple(facts.network_interfaces.values()) if enis_read else None,  # None: not read, nobody can say
            dict(facts.failures),
        )

    def read_unread(
        self, snapshots: Sequence[Snapshot], wanted: Mapping[str, Iterable[str]]
    ) -> tuple[list[Snapshot], frozenset[tuple[str, str]]]:
        """What-if's second round: the facts of `wanted` (a `Snapshot` field, one of `SECOND_ROUND_KINDS`, and the
        ids the diagnoses after a change looked up and the account read did not hold), read in batched calls (one
        per kind, ids filtered), merged into `snapshots`. A subnet of a VPC whose route tables no snapshot holds (a
        far VPC a change routes to) brings its VPC's route tables and network ACLs (one call each for all of them).

        Returns the snapshots with what was read, and the (kind, id) whose read failed: those are left out, never
        stored as failures (the snapshots are the secrets' before too, which never needed them), so the fact stays
        unread and the secret unknown for the change that newly uses it, never "off"."""
        facts = _Facts()
        # The zones' records are read at the names the VPC's functions call (see `_read_zones`).
        facts.functions = {s.function.arn: s.function for s in snapshots if s.function is not None}

        def ids(kind: str) -> list[str]:
            return sorted(set(wanted.get(kind, ())))

        self._parallel(
            [
                *self._paged_reads(SECURITY_GROUPS_BY_ID, ids(FactKey.SECURITY_GROUPS), facts),
                *self._paged_reads(SUBNETS_BY_ID, ids(FactKey.SUBNETS), facts),
                *self._paged_reads(PEERINGS_BY_ID, ids(FactKey.PEERINGS), facts),
                *self._paged_reads(NAT_GATEWAYS_BY_ID, ids(FactKey.NAT_GATEWAYS), facts),
                *[partial(self._read_dns_attributes, facts, v) for v in ids(FactKey.DNS_ATTRIBUTES)],
                *[partial(self._read_zones, facts, v) for v in ids(FactKey.HOSTED_ZONES)],
            ]
        )
        held_vpcs = {t.vpc_id for s in snapshots for t in s.route_tables}
        far = sorted({s.vpc_id for s in facts.subnets.values()} - held_vpcs)
        self._parallel(
            [*self._paged_reads(ROUTE_TABLES_IN_VPCS, far, facts), *self._paged_reads(NETWORK_ACLS_IN_VPCS, far, facts)]
        )
        if far and (FactKey.ROUTE_TABLES in facts.failures or FactKey.NETWORK_ACLS in facts.failures):
            # A subnet without its VPC's tables would be judged as routed by nothing: it stays unread.
            facts.failures[FactKey.SUBNETS] = (
                facts.failures.get(FactKey.ROUTE_TABLES) or facts.failures[FactKey.NETWORK_ACLS]
            )
            facts.subnets = {k: v for k, v in facts.subnets.items() if v.vpc_id not in far}
            facts.route_tables, facts.network_acls = {}, {}
        # The lists asked for, and those the groups and route tables just read name.
        held_lists = {pl for s in snapshots for pl in s.prefix_lists}
        facts.prefix_list_items = {pl: {} for pl in held_lists}  # held already: not read again
        self._read_prefix_lists(facts, ids(FactKey.PREFIX_LISTS))
        failed = frozenset(
            (kind, key)
            for kind in SECOND_ROUND_KINDS
            for key in ids(kind)
            if kind in facts.failures or f"{kind}:{key}" in facts.failures
        )
        return [_merged(s, facts) for s in snapshots], failed

    # ----- round 1:    # ----- round 1: secret values, functions ----------------------------------------------

    def _round_secrets_and_functions(self, secrets: Sequence[Secret], facts: _Facts) -> dict[str, TargetRef | None]:
        refs: dict[str, TargetRef | None] = {}
        need_value = []
        for secret in secrets:
            tag = secret.tags.get(targets.TARGET_TAG)
            ref = targets.ref_from_tag(tag) if tag else None
            if ref is not None:
                refs[secret.arn] = ref
            else:
                need_value.append(secret.arn)
        tasks: list[Callable[[], None]] = []
        if len(need_value) == 1:
            tasks.append(lambda: self._read_one_value(need_value[0], refs, facts))
        else:
            tasks += [partial(self._read_values, batch, refs, facts) for batch in chunks(need_value, SECRET_BATCH)]
        for arn in sorted({str(s.rotation_lambda_arn) for s in secrets}):
            tasks.append(partial(self._read_function, arn, facts))
            tasks.append(partial(self._read_policy, arn, facts))
        self._parallel(tasks)
        return refs

    def _read_one_value(self, arn: str, refs: dict[str, TargetRef | None], facts: _Facts) -> None:
        raw = self._read(
            facts,
            f"{FactKey.SECRET_VALUE}:{arn}",
            "secretsmanager:GetSecretValue",
            lambda: self.clients.secretsmanager.get_secret_value(SecretId=arn),
        )
        if raw is not None:
            refs[arn] = targets.ref_from_secret_string(raw.get("SecretString"))

    def _read_values(self, arns: list[str], refs: dict[str, TargetRef | None], facts: _Facts) -> None:
        raw = self._read(
            facts,
            FactKey.SECRET_VALUE,
            "secretsmanager:BatchGetSecretValue",
            lambda: self.clients.secretsmanager.batch_get_secret_value(SecretIdList=arns),
        )
        if raw is None:
            for arn in arns:
                facts.failures[f"{FactKey.SECRET_VALUE}:{arn}"] = facts.failures[FactKey.SECRET_VALUE]
            del facts.failures[FactKey.SECRET_VALUE]
            return
        for value in raw.get("SecretValues", []):
            refs[value["ARN"]] = targets.ref_from_secret_string(value.get("SecretString"))
        for error in raw.get("Errors", []):
            secret_id = str(error.get("SecretId"))
            arn = next((a for a in arns if a == secret_id or a.split(":")[-1].startswith(secret_id)), secret_id)
            facts.failures[f"{FactKey.SECRET_VALUE}:{arn}"] = ReadFailure(
                "secretsmanager:GetSecretValue",
                str(error.get("ErrorCode")),
                str(error.get("Message", "")),
                "secretsmanager:GetSecretValue",
            )

    def _read_function(self, arn: str, facts: _Facts) -> None:
        raw = self._read(
            facts,
            f"{FactKey.FUNCTION}:{arn}",
            "lambda:GetFunctionConfiguration",
            lambda: self.clients.lambda_.get_function_configuration(FunctionName=arn),
            not_found=lambda: None,
        )
        if raw is None:
            facts.functions[arn] = None
            return
        facts.functions[arn] = convert.function(raw)

    def _read_policy(self, arn: str, facts: _Facts) -> None:
        raw = self._read(
            facts,
            f"{FactKey.FUNCTION_POLICY}:{arn}",
            "lambda:GetPolicy",
            lambda: self.clients.lambda_.get_policy(FunctionName=arn),
            not_found=lambda: {},
        )
        if raw is not None:
            facts.policies[arn] = convert.policy(raw.get("Policy"))

    # ----- round 2: databases --------------------------------------------------------------

    def _round_databases(self, refs: dict[str, TargetRef | None], facts: _Facts) -> DatabaseResolver:
        resolver = DatabaseResolver(self.clients, self._read_into(facts), self._parallel, facts.failures)
        resolver.resolve([r for r in refs.values() if r is not None])
        return resolver

    # ----- rounds 3 and 4: networks ----------------------------------------------------------

    def _round_networks(self, secrets: Sequence[Secret], databases: DatabaseResolver, facts: _Facts) -> None:
        functions = [f for f in facts.functions.values() if f is not None and f.in_vpc]
        fn_vpcs = {str(f.vpc_id) for f in functions if f.vpc_id}
        db_vpcs = {str(d.vpc_id) for d in databases.found.values() if d.vpc_id}
        db_vpcs |= {str(t.vpc_id) for d in databases.found.values() for t in d.proxy_targets or () if t.vpc_id}
        self._read_vpcs(sorted(fn_vpcs | db_vpcs), fn_vpcs, facts)
        self._repair_function_vpcs(functions, fn_vpcs, facts)
        self._read_other_accounts(functions, facts)
        self._read_dependents(databases, facts)
        self._read_prefix_lists(facts)
        self._read_transit_gateways(functions, databases, facts)
        self._read_egress_vpcs(functions, {s.account for s in secrets}, facts)

    def _read_vpcs(self, vpc_ids: list[str], fn_vpcs: set[str], facts: _Facts) -> None:
        vpc_ids = [v for v in vpc_ids if v not in facts.read_vpcs]
        if not vpc_ids:
            return
        facts.read_vpcs.update(vpc_ids)
        sm_service = dns.secrets_manager_service_name(self.region)
        endpoint_vpcs = sorted(set(vpc_ids) & fn_vpcs)
        if endpoint_vpcs:  # only a function's VPC needs a way to Secrets Manager
            # Its endpoints and private zones first: a zone's record may name an endpoint in another VPC (a
            # centralized endpoint), whose subnets, routes and ACLs are then read in the same calls as the others.
            self._parallel(
                [
                    *self._paged_reads(
                        ENDPOINTS_IN_VPCS, endpoint_vpcs, facts, also=[{"Name": "service-name", "Values": [sm_service]}]
                    ),
                    *[partial(self._read_zones, facts, vpc) for vpc in endpoint_vpcs],
                ]
            )
            central_vpcs = self._read_central_endpoints(facts, endpoint_vpcs)
            vpc_ids = [*vpc_ids, *(v for v in central_vpcs if v not in facts.read_vpcs)]
            facts.read_vpcs.update(vpc_ids)
        self._parallel(
            [
                *self._paged_reads(SUBNETS_IN_VPCS, vpc_ids, facts),
                *self._paged_reads(ROUTE_TABLES_IN_VPCS, vpc_ids, facts),
                *self._paged_reads(NETWORK_ACLS_IN_VPCS, vpc_ids, facts),
            ]
        )

    def _names_called(self, vpc: str, facts: _Facts) -> list[str]:
        """The Secrets Manager names the functions of `vpc` call (standard, FIPS, dual-stack, or their override)."""
        return sorted({dns.name_called(f, self.region) for f in facts.functions.values() if f and f.vpc_id == vpc})

    def _read_zones(self, facts: _Facts, vpc: str) -> None:
        """The private zones associated with `vpc` (ListHostedZonesByVPC), then, in the zone that answers each name
        the VPC's functions call, the records at that name alone (ListResourceRecordSets from StartRecordName)."""
        key = f"{FactKey.HOSTED_ZONES}:{vpc}"
        raw = self._read(
            facts,
            key,
            "route53:ListHostedZonesByVPC",
            lambda: self.clients.route53.list_hosted_zones_by_vpc(VPCId=vpc, VPCRegion=_vpc_region(self.region)),
        )
        if raw is None:
            return
        zones = [
            PrivateHostedZone(
                z["HostedZoneId"],
                dns.normalised(str(z["Name"])),
                owner_service=(z.get("Owner") or {}).get("OwningService"),
                owner_account=(z.get("Owner") or {}).get("OwningAccount"),
            )
            for z in raw.get("HostedZoneSummaries", [])
        ]
        records: dict[str, list[HostedZoneRecord]] = {}
        accounts = {arn_account(f.arn) for f in facts.functions.values() if f and f.vpc_id == vpc}
        for name in self._names_called(vpc, facts):
            # Zones a service owns (an endpoint's own private DNS, Cloud Map) hold no record a user points anywhere.
            zone = dns.zone_answering(name, [z for z in zones if z.owner_service is None])
            if zone is None or (zone.owner_account and zone.owner_account not in accounts):
                continue  # none; or another account's zone, whose records only that account can list
            found = self._records_at(facts, key, zone.id, name)
            if found is None:
                return
            records.setdefault(zone.id, []).extend(found)
        facts.hosted_zones[vpc] = tuple(replace(z, records=tuple(records.get(z.id, ()))) for z in zones)

    def _records_at(self, facts: _Facts, key: str, zone_id: str, name: str) -> list[HostedZoneRecord] | None:
        """The records of `zone_id` at `name` alone (one ListResourceRecordSets from StartRecordName); None when the
        read failed (stored under `key`)."""
        page = self._read(
            facts,
            key,
            "route53:ListResourceRecordSets",
            partial(
                self.clients.route53.list_resource_record_sets,
                HostedZoneId=zone_id,
                StartRecordName=name,
                MaxItems="10",
            ),
        )
        if page is None:
            return None
        return [r for r in map(convert.hosted_zone_record, page.get("ResourceRecordSets", [])) if r.name == name]

    # ----- organization mode: another account's zone and endpoint ------------------------------

    def _read_other_accounts(self, functions: list[Function], facts: _Facts) -> None:
        """Organization mode: a private zone that answers a function's Secrets Manager name and that another account
        owns (associated across accounts) is read through the owner's member role, in this region, with the
        centralized endpoint its record names and that endpoint's VPC: one bounded round per owning account. An
        account the deployment may not read gets no call at all; a refused role or read is recorded exactly
        (`AccountRead`). Without `members` nothing here is read, and the analysis names what was not."""
        if self.members is None:
            return
        wanted: dict[str, list[tuple[str, PrivateHostedZone, str]]] = {}
        for vpc in sorted({str(f.vpc_id) for f in functions if f.vpc_id}):
            own = {arn_account(f.arn) for f in functions if f.vpc_id == vpc}
            zones = [z for z in facts.hosted_zones.get(vpc, ()) if z.owner_service is None]
            for name in self._names_called(vpc, facts):
                zone = dns.zone_answering(name, zones)
                if zone is not None and zone.owner_account and zone.owner_account not in own:
                    wanted.setdefault(zone.owner_account, []).append((vpc, zone, name))
        self._parallel([partial(self._read_account, a, asked, facts) for a, asked in sorted(wanted.items())])

    def _read_account(self, account: str, asked: list[tuple[str, PrivateHostedZone, str]], facts: _Facts) -> None:
        """One other account's part (see `_read_other_accounts`): the zones' records, the endpoints they name, and
        those endpoints' VPCs (subnets, route tables, network ACLs) and groups, read in that account into facts of
        its own; merged into the batch's only when every read succeeded, so that nothing partial passes for whole."""
        members = self.members
        assert members is not None
        if not ACCOUNT_ID.match(account) or not members.allowed(account):
            facts.account_reads[account] = AccountRead(account, not_allowed=True)
            return
        role = members.sessions.role_for(account)
        try:
            theirs = Collector(members.clients(account, self.region), workers=self.workers)
        except RoleRefused as exc:
            refused = ReadFailure("sts:AssumeRole", exc.code or "RoleRefused", exc.reason, f"sts:AssumeRole on {role}")
            facts.account_reads[account] = AccountRead(account, role, failure=refused)
            return
        got = _Facts()
        records: dict[tuple[str, str], list[HostedZoneRecord]] = {}

        def records_of(zone_id: str, name: str) -> None:
            found = theirs._records_at(got, FactKey.HOSTED_ZONES, zone_id, name)
            if found is not None:
                records[(zone_id, name)] = found

        theirs._parallel([partial(records_of, z.id, name) for z, name in sorted({(z, n) for _, z, n in asked})])
        named = {
            e.endpoint_id
            for found in records.values()
            for target in dns.record_targets(found)
            if (e := dns.secrets_manager_endpoint_name(target)) is not None and e.endpoint_id not in facts.endpoints
        }
        if not got.failures:
            theirs._parallel(theirs._paged_reads(ENDPOINTS_BY_ID, sorted(named), got))
        vpcs = sorted({e.vpc_id for e in got.endpoints.values()} - facts.read_vpcs)
        groups = sorted({g for e in got.endpoints.values() for g in e.group_ids} - set(facts.security_groups))
        if not got.failures:
            theirs._parallel(
                [
                    *theirs._paged_reads(SUBNETS_IN_VPCS, vpcs, got),
                    *theirs._paged_reads(ROUTE_TABLES_IN_VPCS, vpcs, got),
                    *theirs._paged_reads(NETWORK_ACLS_IN_VPCS, vpcs, got),
                    *theirs._paged_reads(SECURITY_GROUPS_BY_ID, groups, got),
                ]
            )
        if got.failures:
            first = got.failures[sorted(got.failures)[0]]
            facts.account_reads[account] = AccountRead(account, role, failure=first)
            return
        for vpc, zone, name in asked:
            found = tuple(records[(zone.id, name)])
            facts.hosted_zones[vpc] = tuple(
                replace(z, records=(*z.records, *found)) if z.id == zone.id else z for z in facts.hosted_zones[vpc]
            )
        facts.read_vpcs.update(vpcs)
        facts.endpoints.update(got.endpoints)
        facts.subnets.update(got.subnets)
        facts.route_tables.update(got.route_tables)
        facts.network_acls.update(got.network_acls)
        facts.security_groups.update(got.security_groups)
        read = (
            *sorted({z.id for _, z, _ in asked}),
            *sorted(got.endpoints),
            *vpcs,
            *sorted(got.subnets),
            *sorted(got.route_tables),
            *sorted(got.network_acls),
            *sorted(got.security_groups),
        )
        facts.account_reads[account] = AccountRead(account, role, resources=read)

    def _read_central_endpoints(self, facts: _Facts, vpcs: list[str]) -> list[str]:
        """The interface endpoints the function VPCs' zones name by their own DNS names and that the VPCs' read did
        not return (one DescribeVpcEndpoints for all): their VPCs, other than these, are returned to be read."""
        named = {
            e.endpoint_id
            for vpc in vpcs
            for zone in facts.hosted_zones.get(vpc, ())
            for target in dns.record_targets(zone.records)
            if (e := dns.secrets_manager_endpoint_name(target)) is not None
        }
        self._parallel(self._paged_reads(ENDPOINTS_BY_ID, sorted(named - set(facts.endpoints)), facts))
        return sorted({facts.endpoints[e].vpc_id for e in named if e in facts.endpoints} - set(vpcs))

    def _repair_function_vpcs(self, functions: list[Function], fn_vpcs: set[str], facts: _Facts) -> None:
        """Take each function's VPC from its subnets when the VpcId it reported is not theirs."""
        if facts.failures.get(FactKey.SUBNETS):
            return
        missing = sorted({s for f in functions for s in f.subnet_ids if s not in facts.subnets})
        self._parallel(self._paged_reads(SUBNETS_BY_ID, missing, facts))
        repaired = False
        for arn, fn in list(facts.functions.items()):
            if fn is None or not fn.subnet_ids or fn.subnet_ids[0] not in facts.subnets:
                continue
            actual = facts.subnets[fn.subnet_ids[0]].vpc_id
            if actual != fn.vpc_id:
                facts.functions[arn] = replace(fn, vpc_id=actual)
                fn_vpcs.add(actual)
                repaired = True
        if repaired:
            # The VPC may have been read already (the database's), but not as a function's VPC: its endpoints
            # and hosted zones are read only for function VPCs.
            facts.read_vpcs -= fn_vpcs
            self._read_vpcs(sorted(fn_vpcs), fn_vpcs, facts)

    def _read_dependents(self, databases: DatabaseResolver, facts: _Facts) -> None:
        functions = [f for f in facts.functions.values() if f is not None and f.in_vpc]
        self._read_named_endpoints(functions, facts)
        fn_vpcs = {str(f.vpc_id) for f in functions}
        group_ids = {g for f in functions for g in f.security_group_ids}
        group_ids |= {g for d in databases.found.values() for g in d.security_group_ids}
        group_ids |= {g for d in databases.found.values() for t in d.proxy_targets or () for g in t.security_group_ids}
        group_ids |= {g for e in facts.endpoints.values() for g in e.group_ids}
        group_ids -= set(facts.security_groups)  # another account's endpoint's groups, read through its role
        # DNS support and hostnames decide whether an endpoint's private DNS, or a private zone, answers in the VPC.
        dns_vpcs = {e.vpc_id for e in facts.endpoints.values() if e.private_dns_enabled and e.vpc_id in fn_vpcs}
        dns_vpcs |= {v for v in fn_vpcs if any(z.records for z in facts.hosted_zones.get(v, ()))}
        nat_ids = sorted(self._default_route_nats(functions, facts))
        peer_vpc_pairs = {
            (str(f.vpc_id), str(d.vpc_id))
            for f in functions
            for d in databases.found.values()
            if d.vpc_id and f.vpc_id and d.vpc_id != f.vpc_id
        }
        # A centralized endpoint's VPC: its peerings only when a route between the two leads to one.
        peer_vpc_pairs |= {
            (str(f.vpc_id), e.vpc_id)
            for f in functions
            for e in central_endpoints(f, facts)
            if _route_targets_between([(f, e.vpc_id, e.subnet_ids)], facts, "pcx")
        }
        tasks: list[Callable[[], None]] = []
        tasks += self._paged_reads(SECURITY_GROUPS_BY_ID, sorted(group_ids), facts)
        tasks += [partial(self._read_dns_attributes, facts, vpc) for vpc in sorted(dns_vpcs)]
        if nat_ids:  # a NAT gateway leads out only from a public subnet: one routed to an internet gateway
            tasks += self._paged_reads(NAT_GATEWAYS_BY_ID, nat_ids, facts)
            tasks += self._paged_reads(INTERNET_GATEWAYS_OF_VPCS, sorted({str(f.vpc_id) for f in functions}), facts)
        tasks += self._paged_reads(PEERINGS_AMONG_VPCS, sorted({v for pair in peer_vpc_pairs for v in pair}), facts)
        self._parallel(tasks)

    def _read_prefix_lists(self, facts: _Facts, also: Iterable[str] = ()) -> None:
        """The prefix lists the groups' rules and the route tables' routes name, and every entry of each: no call
        when none is named. Runs before the transit gateways are read: where a route sends a database's block
        decides which transit gateways those are.

        A list that cannot be read has its failure under `prefix_lists:ID`; its rules are then not evaluated, and a
        route choice it could decide is unknown.
        """
        named = sorted(
            {r.prefix_list_id for g in facts.security_groups.values() for r in g.rules if r.prefix_list_id}
            | {r.destination for t in facts.route_tables.values() for r in t.prefix_list_routes}
            | set(also)
        )
        named = [
            pl
            for pl in named
            if pl not in facts.prefix_list_items and f"{FactKey.PREFIX_LISTS}:{pl}" not in facts.failures
        ]
        if not named:
            return
        self._parallel(self._paged_reads(PREFIX_LISTS_BY_ID, named, facts))
        failure = facts.failures.pop(FactKey.PREFIX_LISTS, None)
        for pl in named:
            if failure is not None and pl not in facts.prefix_list_items:
                facts.failures[f"{FactKey.PREFIX_LISTS}:{pl}"] = failure

        def entries(pl: str) -> None:
            items: list[dict[str, Any]] = []

            def run() -> bool:  # True: `_read` answers None only for a failure
                paginator = self.clients.ec2.get_paginator("get_managed_prefix_list_entries")
                for page in paginator.paginate(PrefixListId=pl):
                    items.extend(cast("list[dict[str, Any]]", page.get("Entries", [])))
                return True

            if self._read(facts, f"{FactKey.PREFIX_LISTS}:{pl}", "ec2:GetManagedPrefixListEntries", run) is not None:
                facts.prefix_lists[pl] = convert.prefix_list(facts.prefix_list_items[pl], items)

        self._parallel([partial(entries, pl) for pl in named if pl in facts.prefix_list_items])

    def _read_transit_gateways(self, functions: list[Function], databases: DatabaseResolver, facts: _Facts) -> None:
        """The transit gateways that routes between a function's subnets and its database's lead to, both ways:
        the gateways, their attachments (one call each for all of them), then the routes of each transit gateway
        route table the VPCs' attachments are associated with (one search each). None without such a route."""
        between = _tgw_routes_between(functions, databases.found.values(), facts)
        tgw_ids = sorted(between | _default_route_tgws(functions, facts))
        if not tgw_ids:
            return
        self._parallel(
            [
                # The gateways themselves only say whether group references cross them: the database path's.
                *self._paged_reads(TRANSIT_GATEWAYS_BY_ID, sorted(between), facts),
                *self._paged_reads(TGW_ATTACHMENTS_OF_GATEWAYS, tgw_ids, facts),
                *self._paged_reads(TGW_VPC_ATTACHMENTS_OF_GATEWAYS, tgw_ids, facts),
            ]
        )
        for attachment_id, raw in facts.tgw_vpc_attachments.items():
            if attachment_id in facts.tgw_attachments:
                facts.tgw_attachments[attachment_id] = convert.with_vpc_attachment(
                    facts.tgw_attachments[attachment_id], raw
                )
        vpcs = {str(f.vpc_id) for f in functions} | {str(d.vpc_id) for d in databases.found.values() if d.vpc_id}
        vpcs |= {e.vpc_id for f in functions for e in central_endpoints(f, facts)}
        table_ids = sorted(
            {
                a.route_table_id
                for a in facts.tgw_attachments.values()
                if a.route_table_id and a.resource_type == "vpc" and a.resource_id in vpcs
            }
        )
        self._parallel([partial(self._search_tgw_routes, facts, t) for t in table_ids])
        # Prefix-list references of those tables: one more round, only when a table has one.
        self._read_prefix_lists(
            facts, {r.prefix_list_id for t in facts.tgw_route_tables.values() for r in t.routes if r.prefix_list_id}
        )

    def _read_egress_vpcs(self, functions: list[Function], accounts: set[str], facts: _Facts) -> None:
        """Centralized egress: the VPCs that transit gateways send the functions' default routes into (their subnets,
        route tables, network ACLs and NAT gateways, one call each for all of them) and the transit gateway route
        tables associated with their attachments (the way back), in one round. Nothing without such a route; an
        egress VPC of another account is not asked for (EC2 describes only this account's VPCs: the analysis says
        so)."""
        far = _egress_attachments(functions, facts)
        readable = [a for a in far if a.resource_owner_id is None or a.resource_owner_id in accounts]
        vpcs = sorted({str(a.resource_id) for a in readable if a.resource_id and a.resource_id not in facts.read_vpcs})
        tables = sorted(
            {
                str(a.route_table_id)
                for a in readable
                if a.route_table_id and a.route_table_id not in facts.tgw_route_tables
            }
        )
        tasks: list[Callable[[], None]] = [partial(self._search_tgw_routes, facts, t) for t in tables]
        if vpcs:
            tasks += [
                partial(self._read_vpcs, vpcs, set(), facts),
                *self._paged_reads(NAT_GATEWAYS_IN_VPCS, vpcs, facts),
            ]
        self._parallel(tasks)
        if tasks:  # routes to prefix lists in the tables just read: one more round, only when one names a list
            self._read_prefix_lists(
                facts, {r.prefix_list_id for t in facts.tgw_route_tables.values() for r in t.routes if r.prefix_list_id}
            )

    def _search_tgw_routes(self, facts: _Facts, table_id: str) -> None:
        """Every route of one transit gateway route table, static and propagated, active and blackhole."""
        found: list[Any] = []
        complete = True

        def run() -> bool:
            nonlocal complete
            paginator = self.clients.ec2.get_paginator("search_transit_gateway_routes")
            pages = paginator.paginate(
                TransitGatewayRouteTableId=table_id, Filters=[{"Name": "type", "Values": ["static", "propagated"]}]
            )
            for page in pages:
                found.extend(page.get("Routes", []))
                if page.get("AdditionalRoutesAvailable") and not page.get("NextToken"):
                    complete = False  # AWS says there are more than it returned, and gives no way to them
            return True

        if self._read(facts, FactKey.TRANSIT_GATEWAYS, "ec2:SearchTransitGatewayRoutes", run) is None:
            return
        table_routes = tuple(r for r in map(convert.tgw_route, found) if r is not None)
        owners = (a.transit_gateway_id for a in facts.tgw_attachments.values() if a.route_table_id == table_id)
        tgw_id = next(owners, "")
        facts.tgw_route_tables[table_id] = TransitGatewayRouteTable(table_id, tgw_id, table_routes, complete)

    def _read_dns_attributes(self, facts: _Facts, vpc: str) -> None:
        """DNS support and DNS hostnames, into `facts` (DescribeVpcAttribute reads one attribute a call)."""
        values = []
        for attribute, key in _DNS_ATTRIBUTES:
            raw = self._read(
                facts,
                f"{FactKey.DNS_ATTRIBUTES}:{vpc}",
                "ec2:DescribeVpcAttribute",
                partial(self.clients.ec2.describe_vpc_attribute, VpcId=vpc, Attribute=attribute),
            )
            if raw is None:
                return  # the failure is stored; the second call would need the same permission
            values.append(bool(raw[key]["Value"]))
        facts.dns_attributes[vpc] = DnsAttributes(values[0], values[1])

    def _read_named_endpoints(self, functions: list[Function], facts: _Facts) -> None:
        """Endpoints that a SECRETS_MANAGER_ENDPOINT names but the VPC read did not return."""
        named = {
            o.endpoint_id
            for f in functions
            if f.secrets_manager_endpoint
            for o in [dns.parse_endpoint_override(f.secrets_manager_endpoint, self.region)]
            if o.endpoint_id and o.endpoint_id not in facts.endpoints
        }
        self._parallel(self._paged_reads(ENDPOINTS_BY_ID, sorted(named), facts))

    def _default_route_nats(self, functions: list[Function], facts: _Facts) -> set[str]:
        tables = list(facts.route_tables.values())
        found = set()
        for fn in functions:
            for subnet_id in fn.subnet_ids:
                table = routes.table_for_subnet(subnet_id, str(fn.vpc_id), tables)
                if table is None:
                    continue
                # The prefix lists are read after this round: a NAT gateway a prefix-list route leads to may be the
                # default route's once its entries are known, so it is read too.
                route = routes.choose(table, routes.DEFAULT_ROUTE, {}).route
                candidates = (route,) if route is not None else table.prefix_list_routes
                found |= {r.target for r in candidates if r.target_kind == "nat"}
        return found

    # ----- logs ----------------------------------------------------------------------------

    def _read_logs(self, group: str) -> tuple[Any, ...]:
        start = int((datetime.now(UTC) - self.log_window).timestamp() * 1000)
        response = attempt(
            lambda: self.clients.logs.filter_log_events(
                logGroupName=group, startTime=start, filterPattern=log_analysis.FILTER_PATTERN, limit=200
            )
        )
        events = [(int(e.get("timestamp", 0)), str(e.get("message", ""))) for e in response.get("events", [])]
        return log_analysis.signals_from(events)

    # ----- assembly ------------------------------------------------------------------------

    def _assemble(
        self,
        secret: Secret,
        ref: TargetRef | None,
        databases: DatabaseResolver,
        facts: _Facts,
        rotation_failed: bool,
    ) -> Snapshot:
        lambda_arn = secret.rotation_lambda_arn or ""
        fn = facts.functions.get(lambda_arn)
        database = databases.found.get(ref) if ref is not None else None
        failures: dict[str, ReadFailure] = {}
        scoped = {
            f"{FactKey.SECRET_VALUE}:{secret.arn}": FactKey.SECRET_VALUE,
            f"{FactKey.FUNCTION}:{lambda_arn}": FactKey.FUNCTION,
            f"{FactKey.FUNCTION_POLICY}:{lambda_arn}": FactKey.FUNCTION_POLICY,
        }
        if ref is not None:
            scoped[f"{FactKey.DATABASE}:{databases.key(ref)}"] = FactKey.DATABASE
            scoped[f"{FactKey.PROXY_TARGETS}:{databases.key(ref)}"] = FactKey.PROXY_TARGETS
        # Scoped failures this secret's paths depend on: its function's VPC, the prefix lists its groups and its
        # VPCs' routes name.
        own_scopes = {fn.vpc_id, *_prefix_lists_named(fn, database, facts)} if fn is not None else set()
        for key, failure in facts.failures.items():
            if key in scoped:
                failures[scoped[key]] = failure
            elif ":" not in key or key.split(":", 1)[1] in own_scopes:
                failures[key] = failure
        if not (secret.rotation_enabled and secret.rotation_lambda_arn):
            failures = {}
        return Snapshot(
            region=self.region,
            secret=secret,
            function=fn,
            function_policy=facts.policies.get(lambda_arn),
            target_ref=ref,
            database=database,
            dns_attributes=facts.dns_attributes,
            subnets=facts.subnets,
            route_tables=tuple(facts.route_tables.values()),
            network_acls=tuple(facts.network_acls.values()),
            security_groups=facts.security_groups,
            prefix_lists=facts.prefix_lists,
            vpc_endpoints=tuple(facts.endpoints.values()),
            nat_gateways=facts.nat_gateways,
            internet_gateways=facts.internet_gateways,
            peerings=facts.peerings,
            transit_gateways=facts.transit_gateways,
            tgw_attachments=facts.tgw_attachments,
            tgw_route_tables=facts.tgw_route_tables,
            hosted_zones=facts.hosted_zones,
            account_reads=facts.account_reads,
            failures=failures,
            rotation_failed_recently=rotation_failed,
        )

    # ----- plumbing ------------------------------------------------------------------------

    def _parallel(self, tasks: Sequence[Callable[[], None]]) -> None:
        if len(tasks) <= 1:
            for task in tasks:
                task()
            return
        with ThreadPoolExecutor(max_workers=min(self.workers, len(tasks))) as pool:
            for future in [pool.submit(t) for t in tasks]:
                future.result()  # re-raises AwsError from a worker

    def _read(
        self,
        facts: _Facts,
        key: str,
        operation: str,
        call: Callable[[], Any],
        not_found: Callable[[], Any] | None = None,
    ) -> Any:
        """`call()`, or None with the failure stored under `key` (not-found answers `not_found()` if given)."""
        try:
            result = call()
            log.debug("read %s for %s", operation, key)  # names only: never parameters or results
            return result
        except Exception as exc:
            if fatal(exc):
                raise AwsError(str(exc)) from exc
            if not_found is not None and is_not_found(exc):
                log.debug("read %s for %s: not found", operation, key)
                return not_found()
            facts.failures[key] = read_failure(operation, exc)
            log.warning("read %s for %s failed: %s", operation, key, facts.failures[key].error_code)
            return None

    def _read_into(self, facts: _Facts) -> Callable[..., Any]:
        def read(key: str, operation: str, call: Callable[[], Any], not_found: Callable[[], Any] | None = None) -> Any:
            return self._read(facts, key, operation, call, not_found)

        return read

    def _paged_reads(
        self, read: PagedRead, values: Sequence[str], facts: _Facts, *, also: Filters = ()
    ) -> list[Callable[[], None]]:
        """The calls `read` needs for `values`, as tasks for `_parallel`: one per batch of values, none for none.

        `also` adds filters that every call carries unchanged (they are not split).
        """
        return [partial(self._read_pages, read, batch, also, facts) for batch in read.batches(values)]

    def _read_pages(self, read: PagedRead, values: list[str], also: Filters, facts: _Facts) -> None:
        """One call of `read`, every page of it. Items are stored only when every page was read: a read that
        fails leaves its failure, never part of a list that could pass for the whole."""
        filters: list[FilterTypeDef] = [{"Name": name, "Values": values} for name in read.by]
        filters += also
        items: list[dict[str, Any]] = []

        def run() -> bool:  # True: `_read` answers None only for a failure
            paginator = self.clients.client("ec2").get_paginator(read.method)  # named by the row: the untyped client
            for page in paginator.paginate(**{read.filter_parameter: filters}):
                items.extend(page.get(read.result_key, []))
            return True

        if self._read(facts, read.fact_key, read.operation, run) is None:
            return
        stored = read.into(facts)
        for item in items:
            stored[item[read.id_key]] = read.convert(item)


# The kinds of fact what-if's second round reads (`Collector.read_unread`): those a snapshot keys by resource id.
SECOND_ROUND_KINDS = frozenset(
    {
        FactKey.SECURITY_GROUPS,
        FactKey.SUBNETS,
        FactKey.PEERINGS,
        FactKey.NAT_GATEWAYS,
        FactKey.DNS_ATTRIBUTES,
        FactKey.HOSTED_ZONES,
        FactKey.PREFIX_LISTS,
    }
)


def _merged(snap: Snapshot, facts: _Facts) -> Snapshot:
    """`snap` with what a second round read added (items it already holds stay as they are)."""
    held_tables = {t.id for t in snap.route_tables}
    held_acls = {a.id for a in snap.network_acls}
    return replace(
        snap,
        security_groups={**facts.security_groups, **snap.security_groups},
        subnets={**facts.subnets, **snap.subnets},
        peerings={**facts.peerings, **snap.peerings},
        nat_gateways={**facts.nat_gateways, **snap.nat_gateways},
        dns_attributes={**facts.dns_attributes, **snap.dns_attributes},
        hosted_zones={**facts.hosted_zones, **snap.hosted_zones},
        prefix_lists={**facts.prefix_lists, **snap.prefix_lists},
        route_tables=(*snap.route_tables, *(t for t in facts.route_tables.values() if t.id not in held_tables)),
        network_acls=(*snap.network_acls, *(a for a in facts.network_acls.values() if a.id not in held_acls)),
    )


def _prefix_lists_named(fn: Function | None, database: Database | None, facts: _Facts) -> set[str]:
    """The lists named by the groups one secret's paths use (the function's, the database's, its VPC's endpoints')
    and by the routes of the function's and the database's VPCs."""
    if fn is None:
        return set()
    central = central_endpoints(fn, facts)
    vpcs = {fn.vpc_id, database.vpc_id if database else None, *(e.vpc_id for e in central)}
    routed = {r.destination for t in facts.route_tables.values() if t.vpc_id in vpcs for r in t.prefix_list_routes}
    routed |= {r.prefix_list_id for t in facts.tgw_route_tables.values() for r in t.routes if r.prefix_list_id}
    group_ids = {*fn.security_group_ids, *(database.security_group_ids if database else ())}
    group_ids |= {g for e in facts.endpoints.values() if e.vpc_id == fn.vpc_id for g in e.group_ids}
    group_ids |= {g for e in central for g in e.group_ids}
    return routed | {
        r.prefix_list_id
        for g in group_ids
        if g in facts.security_groups
        for r in facts.security_groups[g].rules
        if r.prefix_list_id
    }


def central_endpoints(fn: Function, facts: _Facts) -> list[VpcEndpoint]:
    """The endpoints outside `fn`'s VPC that the records of its VPC's private zones name (centralized endpoints)."""
    named = endpoints_named(facts.hosted_zones.get(str(fn.vpc_id), ()), facts.endpoints.values())
    return [e for e in named if e.vpc_id != fn.vpc_id]


def _tgw_routes_between(functions: list[Function], databases: Iterable[Database], facts: _Facts) -> set[str]:
    """The transit gateways that a function's subnet routes a far subnet to, or a far subnet routes a function
    subnet to (the way back), for every function and its database or centralized endpoint in different VPCs."""
    ends = [(f, d.vpc_id, d.subnet_ids) for f in functions for d in databases]
    ends += [(f, e.vpc_id, e.subnet_ids) for f in functions for e in central_endpoints(f, facts)]
    return _route_targets_between(ends, facts, "tgw")


def _route_targets_between(
    ends: Sequence[tuple[Function, str | None, tuple[str, ...]]], facts: _Facts, kind: str
) -> set[str]:
    """The targets of `kind` ("tgw", "pcx") that routes lead to between each function's subnets and a far end's
    (its VPC, its subnets), both ways, where the two are in different VPCs."""
    tables = list(facts.route_tables.values())
    found: set[str] = set()
    for fn, far_vpc, far_subnets in ends:
        if not far_vpc or not fn.vpc_id or far_vpc == fn.vpc_id:
            continue
        for fs in (facts.subnets[s] for s in fn.subnet_ids if s in facts.subnets):
            for ds in (facts.subnets[s] for s in far_subnets if s in facts.subnets):
                for src, dst in ((fs, ds), (ds, fs)):
                    table = routes.table_for_subnet(src.id, src.vpc_id, tables)
                    net = ipv4(dst.cidr)
                    choice = routes.choose(table, net, facts.prefix_lists) if table and net is not None else None
                    route = choice.route if choice is not None else None
                    if route is not None and route.target_kind == kind:
                        found.add(route.target)
    return found


def _default_route_tgws(functions: list[Function], facts: _Facts) -> set[str]:
    """The transit gateways a function subnet's default route leads to (centralized egress)."""
    tables = list(facts.route_tables.values())
    found: set[str] = set()
    for fn in functions:
        for subnet_id in fn.subnet_ids:
            table = routes.table_for_subnet(subnet_id, str(fn.vpc_id), tables)
            route = routes.choose(table, routes.DEFAULT_ROUTE, facts.prefix_lists).route if table else None
            if route is not None and route.target_kind == "tgw" and route.state == "active":
                found.add(route.target)
    return found


def _egress_attachments(functions: list[Function], facts: _Facts) -> list[TransitGatewayAttachment]:
    """The VPC attachments the transit gateways send the functions' default routes to (the crossing of
    `sm_egress.spoke_to_far_vpc`, over what is read so far)."""
    crossings = tgw.Facts(
        facts.transit_gateways, facts.tgw_attachments, facts.tgw_route_tables, facts.subnets, facts.prefix_lists
    )
    tables = list(facts.route_tables.values())
    found: dict[str, TransitGatewayAttachment] = {}
    for fn in functions:
        for subnet in (facts.subnets[s] for s in fn.subnet_ids if s in facts.subnets):
            table = routes.table_for_subnet(subnet.id, subnet.vpc_id, tables)
            route = routes.choose(table, routes.DEFAULT_ROUTE, facts.prefix_lists).route if table else None
            if route is None or route.target_kind != "tgw" or route.state != "active":
                continue
            crossing = tgw.cross_toward(crossings, route.target, subnet, routes.DEFAULT_ROUTE, None)
            far = facts.tgw_attachments.get(crossing.far_attachment_id or "")
            # Read also where the crossing is not judged (appliance mode): `diagnose --deep` aims at its gateway.
            if far is not None and far.resource_type == "vpc":
                found[far.id] = far
    return list(found.values())


def _vpc_region(region: str) -> VPCRegionType:
    """The region as Route 53 names a VPC's: the stubs list the regions of their release; a region newer than
    that is passed on as it is, and AWS answers for it."""
    return cast("VPCRegionType", region)


def _overdue(secret: Secret, now: datetime) -> bool:
    """A rotation that should have happened a day ago and has not: it is failing."""
    if not secret.next_rotation_date:
        return False
    try:
        due = datetime.fromisoformat(secret.next_rotation_date)
    except ValueError:
        return False
    if due.tzinfo is None:
        due = due.replace(tzinfo=UTC)
    return due + OVERDUE < now

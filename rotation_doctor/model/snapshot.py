"""The facts one diagnosis reasons over: plain frozen data, built by the collector, read by the analyzer.

Nothing here talks to AWS. A fact that could not be read is a `ReadFailure` in
`Snapshot.failures` under a `FactKey`, never an empty collection: the analyzer must be able
to tell "there are no NAT gateways" from "we were not allowed to look".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum


class FactKey(StrEnum):
    """Names of the facts a read can fail for; a failure is stored under `key` or `key:scope`."""

    SECRET = "secret"
    SECRET_VALUE = "secret_value"
    FUNCTION = "function"
    FUNCTION_POLICY = "function_policy"
    DATABASE = "database"
    VPCS = "vpcs"
    SUBNETS = "subnets"
    ROUTE_TABLES = "route_tables"
    NETWORK_ACLS = "network_acls"
    SECURITY_GROUPS = "security_groups"
    VPC_ENDPOINTS = "vpc_endpoints"
    DNS_ATTRIBUTES = "dns_attributes"
    HOSTED_ZONES = "hosted_zones"
    NAT_GATEWAYS = "nat_gateways"
    INTERNET_GATEWAYS = "internet_gateways"
    PEERINGS = "peerings"
    LOGS = "logs"
    PREFIX_LISTS = "prefix_lists"  # stored per list: "prefix_lists:pl-..."
    TRANSIT_GATEWAYS = "transit_gateways"  # the gateways, their attachments, route tables and routes
    PROXY_TARGETS = "proxy_targets"  # an RDS Proxy's targets and their health


def arn_account(arn: str) -> str:
    """The account an ARN names ("" for a string that is no ARN)."""
    parts = arn.split(":")
    return parts[4] if len(parts) > 4 else ""


def arn_region(arn: str) -> str:
    """The region an ARN names ("" for a global resource, or a string that is no ARN)."""
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 else ""


@dataclass(frozen=True)
class ReadFailure:
    """A read that AWS refused or that failed: what was asked, what came back, what to grant."""

    operation: str  # e.g. "ec2:DescribeRouteTables"
    error_code: str  # e.g. "UnauthorizedOperation"
    message: str
    permission: str  # the IAM action that would let the read succeed


@dataclass(frozen=True)
class Secret:
    arn: str
    name: str
    rotation_enabled: bool
    rotation_lambda_arn: str | None
    owning_service: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    next_rotation_date: str | None = None  # ISO 8601, as AWS reports it
    last_rotated_date: str | None = None

    @property
    def region(self) -> str:
        return arn_region(self.arn)

    @property
    def account(self) -> str:
        return arn_account(self.arn)


@dataclass(frozen=True)
class Function:
    """The rotation function. Only the environment variables that steer the SDK are kept (never other values)."""

    name: str
    arn: str
    role_arn: str | None
    subnet_ids: tuple[str, ...]
    security_group_ids: tuple[str, ...]
    vpc_id: str | None
    secrets_manager_endpoint: str | None  # the SECRETS_MANAGER_ENDPOINT env var, if set
    state: str | None = None
    log_group: str | None = None  # LoggingConfig.LogGroup; None means /aws/lambda/NAME
    tags: Mapping[str, str] = field(default_factory=dict)
    # VpcConfig.Ipv6AllowedForDualStack: the function's ENIs may send IPv6 (in dual-stack subnets).
    ipv6_allowed_for_dual_stack: bool = False
    # AWS_USE_DUALSTACK_ENDPOINT=true: the SDK calls dual-stack endpoint names (e.g. secretsmanager.REGION.api.aws).
    uses_dualstack_endpoint: bool = False
    # AWS_USE_FIPS_ENDPOINT=true: the SDK calls the FIPS names (secretsmanager-fips.REGION...).
    uses_fips_endpoint: bool = False

    @property
    def in_vpc(self) -> bool:
        return bool(self.subnet_ids)


@dataclass(frozen=True)
class PolicyDocument:
    """A JSON policy as AWS returns it (already parsed); None statements means AWS's default."""

    statements: tuple[Mapping[str, object], ...]


@dataclass(frozen=True)
class Vpc:
    id: str
    cidr_blocks: tuple[str, ...]
    tags: Mapping[str, str] = field(default_factory=dict)
    owner_id: str | None = None
    # IPv6 blocks associated, or on their way in or out (associating, disassociating, failing): with one, AWS gives
    # every new group an allow-all IPv6 egress rule too.
    ipv6_cidr_blocks: tuple[str, ...] = ()


@dataclass(frozen=True)
class DnsAttributes:
    enable_dns_support: bool
    enable_dns_hostnames: bool


@dataclass(frozen=True)
class Subnet:
    id: str
    vpc_id: str
    cidr: str
    availability_zone: str
    tags: Mapping[str, str] = field(default_factory=dict)
    ipv6_cidrs: tuple[str, ...] = ()  # associated IPv6 blocks: a dual-stack subnet has one
    ipv6_native: bool = False  # an IPv6-only subnet (`cidr` is then empty)

    @property
    def dual_stack(self) -> bool:
        return bool(self.ipv6_cidrs) and not self.ipv6_native


@dataclass(frozen=True)
class Route:
    # an IPv4 CIDR in `RouteTable.routes`, an IPv6 CIDR in `RouteTable.ipv6_routes`, a managed prefix list's id
    # ("pl-...") in `RouteTable.prefix_list_routes`
    destination: str
    target: str  # "local", "igw-...", "nat-...", "pcx-...", "tgw-...", "eni-...", "vpce-...", ...
    state: str  # "active" | "blackhole"

    @property
    def target_kind(self) -> str:
        if self.target == "local":
            return "local"
        return self.target.split("-", 1)[0]


@dataclass(frozen=True)
class RouteTable:
    id: str
    vpc_id: str
    is_main: bool
    subnet_ids: tuple[str, ...]
    routes: tuple[Route, ...]
    tags: Mapping[str, str] = field(default_factory=dict)
    ipv6_routes: tuple[Route, ...] = ()  # kept apart: IPv4 code never sees an IPv6 destination
    # Routes whose destination is a managed prefix list (DestinationPrefixListId), of either family: their entries
    # are `Snapshot.prefix_lists[id]`; a list missing there was not read.
    prefix_list_routes: tuple[Route, ...] = ()


@dataclass(frozen=True)
class NaclEntry:
    rule_number: int
    egress: bool
    allow: bool
    protocol: str  # "-1" (all) or an IP protocol number as a string ("6" is TCP)
    cidr: str  # the entry's CidrBlock, or its Ipv6CidrBlock (rule numbers are shared by both families)
    port_from: int | None
    port_to: int | None


@dataclass(frozen=True)
class NetworkAcl:
    id: str
    vpc_id: str
    is_default: bool
    subnet_ids: tuple[str, ...]
    entries: tuple[NaclEntry, ...]
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SecurityGroupRule:
    group_id: str
    egress: bool
    protocol: str  # "-1", "tcp", "udp", "icmp" or a number as a string
    port_from: int | None
    port_to: int | None
    cidr: str | None = None  # CidrIp or CidrIpv6
    referenced_group_id: str | None = None
    prefix_list_id: str | None = None  # its CIDR blocks are `Snapshot.prefix_lists[id]`
    description: str | None = None


@dataclass(frozen=True)
class SecurityGroup:
    id: str
    vpc_id: str
    name: str
    rules: tuple[SecurityGroupRule, ...]
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PrefixList:
    """A managed prefix list a security-group rule or a route names (the customer's or AWS's), with every entry."""

    id: str
    name: str
    address_family: str  # "IPv4" | "IPv6"
    cidrs: tuple[str, ...]
    owner_id: str | None = None  # "AWS" for AWS-managed lists


@dataclass(frozen=True)
class VpcEndpoint:
    id: str
    vpc_id: str
    service_name: str
    endpoint_type: str  # "Interface", "Gateway", "GatewayLoadBalancer"
    state: str  # lowercase as AWS returns: "available", "pending", "deleting", "deleted", "failed", ...
    subnet_ids: tuple[str, ...]
    group_ids: tuple[str, ...]
    private_dns_enabled: bool
    policy: PolicyDocument | None
    dns_names: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NatGateway:
    id: str
    vpc_id: str
    subnet_id: str
    state: str  # "pending" | "available" | "deleting" | "deleted" | "failed"
    connectivity: str = "public"  # "public" | "private"


@dataclass(frozen=True)
class InternetGateway:
    id: str
    attached_vpc_ids: tuple[str, ...]  # attachments whose state is "available"


@dataclass(frozen=True)
class PeeringConnection:
    id: str
    requester_vpc_id: str
    accepter_vpc_id: str
    status: str  # "active", "pending-acceptance", "deleted", ...
    requester_region: str | None = None
    accepter_region: str | None = None


@dataclass(frozen=True)
class TransitGateway:
    id: str
    state: str  # "available", "pending", "deleting", ...
    # SecurityGroupReferencingSupport: groups of one attached VPC may name groups of another (the VPC
    # attachments must enable it too).
    security_group_referencing: bool = False


@dataclass(frozen=True)
class TransitGatewayAttachment:
    """An attachment of a transit gateway: a VPC (with its subnets, one per zone) or a peering, VPN, ..."""

    id: str
    transit_gateway_id: str
    resource_type: str  # "vpc", "peering", "vpn", "direct-connect-gateway", "connect", "network-function", ...
    resource_id: str | None  # the VPC id for a VPC attachment
    state: str  # "available", "pending", "deleting", ...
    route_table_id: str | None  # the transit gateway route table it is associated with (None: none)
    subnet_ids: tuple[str, ...] = ()  # a VPC attachment's subnets
    appliance_mode: bool = False
    security_group_referencing: bool = False
    # The account that owns the attached resource (ResourceOwnerId): a VPC of another account (a network account's
    # egress VPC) cannot be described from this one.
    resource_owner_id: str | None = None


@dataclass(frozen=True)
class TransitGatewayRoute:
    destination: str  # an IPv4 CIDR; "" for a prefix-list reference that names no CIDR of its own
    attachment_ids: tuple[str, ...]  # where it leads (several for ECMP); none for a blackhole
    state: str  # "active" | "blackhole" | ...
    route_type: str = "static"  # "static" | "propagated"
    # A prefix-list reference (CreateTransitGatewayPrefixListReference): its destinations are the list's entries.
    prefix_list_id: str | None = None


@dataclass(frozen=True)
class TransitGatewayRouteTable:
    id: str
    transit_gateway_id: str
    routes: tuple[TransitGatewayRoute, ...]
    complete: bool = True  # False: SearchTransitGatewayRoutes had more routes than one answer holds


@dataclass(frozen=True)
class HostedZoneRecord:
    name: str  # without the trailing dot, lowercase
    record_type: str
    alias_target: str | None  # the alias's DNS name, lowercase, without the trailing dot
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class PrivateHostedZone:
    """A Route 53 private zone associated with a function's VPC, with the record for the SM name."""

    id: str
    name: str  # without the trailing dot, lowercase
    records: tuple[HostedZoneRecord, ...] = ()  # only those at the Secrets Manager name
    owner_service: str | None = None  # set when AWS manages the zone (e.g. an endpoint's private DNS)
    # The account that owns the zone (Owner.OwningAccount): only it can list the zone's records, so a zone another
    # account shares with the VPC has no records read (`records` is then empty and means "not read").
    owner_account: str | None = None


@dataclass(frozen=True)
class AccountRead:
    """Organization mode: what became of reading another account's facts (a private zone it owns and shares with a
    function's VPC, the centralized endpoint that zone names) through that account's member role, in the snapshot's
    region. The facts read are merged into the snapshot like the function account's own; `resources` says which.

    Absent from `Snapshot.account_reads`: no role was tried (not organization mode), and nothing was read.
    """

    account: str
    role_arn: str | None = None  # None: no role was assumed (the account is not one the deployment may read)
    not_allowed: bool = False  # the account is outside the organization's allowed accounts: no call was made
    failure: ReadFailure | None = None  # the call that failed (sts:AssumeRole, or a read the role was refused)
    resources: tuple[str, ...] = ()  # the ids read through the role (zones, endpoints, VPCs, subnets, groups, ...)

    @property
    def read(self) -> bool:
        return not self.not_allowed and self.failure is None

    def why_unread(self) -> str:
        """Exactly why this account's facts were not read, for a finding (empty when they were)."""
        if self.not_allowed:
            return (
                f"account {self.account} is not one of the accounts this deployment may read (its allow-list), so "
                "no role was assumed there"
            )
        if self.failure is not None:
            f = self.failure
            return f"reading it through role {self.role_arn} failed: {f.operation} answered {f.error_code}" + (
                f" ({f.message[:200]})" if f.message and f.message != f.error_code else ""
            )
        return ""


class TargetKind(StrEnum):
    RDS_INSTANCE = "rds-instance"
    RDS_CLUSTER = "rds-cluster"
    RDS_PROXY = "rds-proxy"
    DOCDB_CLUSTER = "docdb-cluster"
    DOCDB_INSTANCE = "docdb-instance"
    REDSHIFT_CLUSTER = "redshift-cluster"
    REDSHIFT_SERVERLESS = "redshift-serverless"
    ENI = "eni"


@dataclass(frozen=True)
class TargetRef:
    """What the secret says it is for, before any AWS lookup: from its value fields or its tag."""

    source: str  # "tag" | "secret-value"
    host: str | None = None
    port: int | None = None
    engine: str | None = None
    instance_id: str | None = None
    cluster_id: str | None = None
    kind_hint: str | None = None  # from the tag: "rds", "rds-cluster", "redshift", "docdb", "host"
    # Why the tag or the value's connection fields cannot be used (a port that is no port, a host that is no
    # text, ...): names the field, never its value. Such a reference names no database.
    invalid: str | None = None


@dataclass(frozen=True)
class ProxyTarget:
    """A database behind an RDS Proxy, with its health as the proxy sees it and where it runs."""

    identifier: str  # the DB instance or cluster identifier (RdsResourceId)
    target_type: str  # "RDS_INSTANCE" | "TRACKED_CLUSTER" | "RDS_SERVERLESS_ENDPOINT"
    port: int | None
    state: str | None  # TargetHealth.State: "REGISTERING" | "AVAILABLE" | "UNAVAILABLE" (None: not reported)
    reason: str | None = None  # "CONNECTION_FAILED", "AUTH_FAILURE", "PENDING_PROXY_CAPACITY", ...
    description: str | None = None  # AWS's words; bounded before it is shown
    vpc_id: str | None = None
    subnet_ids: tuple[str, ...] = ()  # from the target's own description; empty when it was not found
    security_group_ids: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)  # the instance's or cluster's own: may link it to a secret


@dataclass(frozen=True)
class Database:
    """The database endpoint the rotation function connects to, as found in AWS."""

    kind: TargetKind
    identifier: str
    port: int
    vpc_id: str | None
    subnet_ids: tuple[str, ...]  # every subnet the endpoint can be in (a multi-AZ group: all of them)
    security_group_ids: tuple[str, ...]
    publicly_accessible: bool = False
    host: str | None = None
    engine: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)  # the database's (or cluster's) own tags
    secret_port: int | None = None  # the port the secret's value or tag names; AWS's `port` wins
    network_type: str | None = None  # RDS "IPV4" | "DUAL" (dual-stack: the endpoint may answer over IPv6)
    # An RDS Proxy only: its targets (None: not read) and the secrets it signs in with (Auth SecretArn).
    proxy_targets: tuple[ProxyTarget, ...] | None = None
    proxy_auth_secrets: tuple[str, ...] = ()


@dataclass(frozen=True)
class NetworkInterface:
    """An ENI in a function's VPC: who else may call Secrets Manager (read only when a plan needs it)."""

    id: str
    subnet_id: str
    group_ids: tuple[str, ...]
    interface_type: str  # "lambda", "interface", "vpc_endpoint", "nat_gateway", ...
    description: str = ""


@dataclass(frozen=True)
class LogSignal:
    """What the rotation function's recent logs show, by category: counts, never the lines."""

    category: str
    count: int
    last_seen: str  # ISO 8601


@dataclass(frozen=True)
class Snapshot:
    """Every fact one secret's diagnosis needs. Maps are shared between secrets of one scan."""

    region: str
    secret: Secret
    function: Function | None = None
    function_policy: PolicyDocument | None = None  # None with no failure: the function has no policy
    target_ref: TargetRef | None = None
    database: Database | None = None
    vpcs: Mapping[str, Vpc] = field(default_factory=dict)
    dns_attributes: Mapping[str, DnsAttributes] = field(default_factory=dict)
    subnets: Mapping[str, Subnet] = field(default_factory=dict)
    route_tables: tuple[RouteTable, ...] = ()
    network_acls: tuple[NetworkAcl, ...] = ()
    security_groups: Mapping[str, SecurityGroup] = field(default_factory=dict)
    # The lists rules and routes name, read in full; a list missing here was not read: its rules are not evaluated,
    # and a route choice it could decide is unknown.
    prefix_lists: Mapping[str, PrefixList] = field(default_factory=dict)
    vpc_endpoints: tuple[VpcEndpoint, ...] = ()
    nat_gateways: Mapping[str, NatGateway] = field(default_factory=dict)
    internet_gateways: Mapping[str, InternetGateway] = field(default_factory=dict)
    peerings: Mapping[str, PeeringConnection] = field(default_factory=dict)
    transit_gateways: Mapping[str, TransitGateway] = field(default_factory=dict)
    tgw_attachments: Mapping[str, TransitGatewayAttachment] = field(default_factory=dict)
    tgw_route_tables: Mapping[str, TransitGatewayRouteTable] = field(default_factory=dict)
    hosted_zones: Mapping[str, tuple[PrivateHostedZone, ...]] = field(default_factory=dict)  # by VPC id
    # Organization mode: other accounts' facts, read (or not) through their member role, by account (`AccountRead`).
    account_reads: Mapping[str, AccountRead] = field(default_factory=dict)
    log_signals: tuple[LogSignal, ...] | None = None  # None: logs were not read
    network_interfaces: tuple[NetworkInterface, ...] | None = None  # None: not read (only planning reads them)
    failures: Mapping[str, ReadFailure] = field(default_factory=dict)
    rotation_failed_recently: bool = False  # set by an event (RotationFailed) or an overdue rotation

    @property
    def database_group_ids(self) -> frozenset[str]:
        """The groups the database wears (an RDS Proxy: its own and its targets'). A rule on one of them, or
        admitting one of them, is the database's side, whoever else wears it too."""
        db = self.database
        if db is None:
            return frozenset()
        return frozenset((*db.security_group_ids, *self.proxy_target_group_ids))

    @property
    def proxy_target_group_ids(self) -> frozenset[str]:
        """The groups an RDS Proxy's targets wear (none for any other database): where its own leg is admitted."""
        targets = self.database.proxy_targets if self.database is not None else None
        return frozenset(g for t in targets or () for g in t.security_group_ids)

    @property
    def function_own_group_ids(self) -> tuple[str, ...]:
        """The function's groups that the database does not also wear, in the function's order: only these are
        the function's own to change."""
        groups = self.function.security_group_ids if self.function is not None else ()
        return tuple(g for g in groups if g not in self.database_group_ids)

    def failure(self, key: FactKey, scope: str | None = None) -> ReadFailure | None:
        """The failure that keeps `key` (for `scope`, or for every scope) from being known."""
        if scope is not None and f"{key}:{scope}" in self.failures:
            return self.failures[f"{key}:{scope}"]
        return self.failures.get(str(key))


@dataclass(frozen=True)
class PlanningFacts:
    """What a plan needs beyond the diagnosis, read once per function and VPCs and applied to every snapshot
    that shares them: the function's tags, the VPCs, their DNS attributes, the internet gateways, and the
    network interfaces of the function's VPC."""

    function_tags: Mapping[str, str] | None = None  # None: not read
    vpcs: Mapping[str, Vpc] = field(default_factory=dict)
    dns_attributes: Mapping[str, DnsAttributes] = field(default_factory=dict)
    internet_gateways: Mapping[str, InternetGateway] = field(default_factory=dict)
    network_interfaces: tuple[NetworkInterface, ...] | None = None
    failures: Mapping[str, ReadFailure] = field(default_factory=dict)

    def apply_to(self, snap: Snapshot) -> Snapshot:
        fn = snap.function
        function = replace(fn, tags=self.function_tags) if fn is not None and self.function_tags is not None else fn
        return replace(
            snap,
            function=function,
            vpcs={**snap.vpcs, **self.vpcs},
            dns_attributes={**snap.dns_attributes, **self.dns_attributes},
            internet_gateways={**snap.internet_gateways, **self.internet_gateways},
            network_interfaces=self.network_interfaces,
            failures={**snap.failures, **self.failures},
        )

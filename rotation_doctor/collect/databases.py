"""Find, in AWS, the databases that secrets name: RDS, Aurora, RDS Proxy, DocumentDB, Redshift, ENIs.

Lookups are grouped by kind so that many databases of one kind cost one call (by filter) or
one call each where the API takes one name. A database can be in any subnet it may fail over
to: all subnets of its group when it is multi-AZ (or a cluster), else the subnets of its zone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, Any

from rotation_doctor.collect.aws import AwsClients, chunks
from rotation_doctor.collect.convert import tags
from rotation_doctor.collect.targets import Lookup, lookup_for, port_for
from rotation_doctor.model.snapshot import Database, FactKey, ProxyTarget, TargetKind, TargetRef

if TYPE_CHECKING:
    from mypy_boto3_docdb import DocDBClient
    from mypy_boto3_rds import RDSClient

Read = Callable[..., Any]
Parallel = Callable[[Sequence[Callable[[], None]]], None]
PROXY_PORTS = {"MYSQL": 3306, "POSTGRESQL": 5432, "SQLSERVER": 1433}
# DescribeDBProxyTargets' Type, as the lookup that finds where the target runs (a serverless endpoint: none).
_PROXY_TARGET_KINDS = {"RDS_INSTANCE": "rds-instance", "TRACKED_CLUSTER": "rds-cluster"}
FILTER_IDS = 100


@dataclass(frozen=True)
class _Found:
    """A database as AWS describes it, before the secret's own port is applied."""

    kind: TargetKind
    identifier: str
    port: int | None
    vpc_id: str | None
    subnet_ids: tuple[str, ...]
    groups: tuple[str, ...]
    public: bool
    hosts: frozenset[str]
    engine: str | None
    subnet_group: str | None = None  # set while the group's subnets are still to be read
    zone: str | None = None  # single-AZ: only the subnets of this zone
    tags: Mapping[str, str] = field(default_factory=dict)  # the owner's: may link the database to a secret
    network_type: str | None = None  # RDS: "IPV4" | "DUAL"
    proxy_name: str | None = None  # an RDS Proxy (or one of its endpoints): whose targets to read
    auth_secrets: tuple[str, ...] = ()  # an RDS Proxy's Auth SecretArns


def _active_groups(items: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    return tuple(g["VpcSecurityGroupId"] for g in items if g.get("Status", "active") in ("active", "adding"))


class DatabaseResolver:
    def __init__(self, clients: AwsClients, read: Read, parallel: Parallel, failures: dict[str, Any]) -> None:
        self.clients = clients
        self.read = read
        self.parallel = parallel
        self.failures = failures  # the batch's failures: a batched read that fails counts for every id
        self.found: dict[TargetRef, Database] = {}
        self._by_lookup: dict[Lookup, _Found] = {}
        self._proxy_targets: dict[
            str, list[Mapping[str, Any]]
        ] = {}  # by proxy name, as DescribeDBProxyTargets has them

    @staticmethod
    def key(ref: TargetRef) -> str:
        lookup = lookup_for(ref)
        return f"{lookup.kind}:{lookup.identifier}" if lookup else "unresolvable"

    def resolve(self, refs: Sequence[TargetRef]) -> None:
        wanted: dict[str, set[str]] = defaultdict(set)
        for ref in refs:
            lookup = lookup_for(ref)
            if lookup is not None:
                wanted[lookup.kind].add(lookup.identifier)
        # Custom cluster endpoints and proxy endpoints name their cluster or proxy: one round first.
        aliases: dict[Lookup, Lookup] = {}
        self.parallel(
            [
                *[
                    lambda n=n: self._cluster_endpoint(n, aliases)
                    for n in sorted(wanted.pop("rds-cluster-endpoint", ()))
                ],
                *[lambda n=n: self._proxy_endpoint(n) for n in sorted(wanted.pop("rds-proxy-endpoint", ()))],
            ]
        )
        for target in aliases.values():
            wanted[target.kind].add(target.identifier)
        readers: dict[str, Callable[[list[str]], None]] = {
            "rds-instance": lambda ids: self._instances(ids, "rds", "rds-instance", TargetKind.RDS_INSTANCE),
            "docdb-instance": lambda ids: self._instances(ids, "docdb", "docdb-instance", TargetKind.DOCDB_INSTANCE),
            "rds-cluster": lambda ids: self._clusters(ids, "rds", "rds-cluster", TargetKind.RDS_CLUSTER),
            "docdb-cluster": lambda ids: self._clusters(ids, "docdb", "docdb-cluster", TargetKind.DOCDB_CLUSTER),
        }
        tasks: list[Callable[[], None]] = []
        for kind, ids in wanted.items():
            if kind in readers:
                tasks += [partial(readers[kind], chunk) for chunk in chunks(sorted(ids), FILTER_IDS)]
            else:
                single = {
                    "rds-proxy": self._proxy,
                    "redshift-cluster": self._redshift,
                    "redshift-serverless": self._serverless,
                }.get(kind)
                if single is not None:
                    tasks += [partial(single, i) for i in sorted(ids)]
        if "eni-ip" in wanted:
            tasks.append(lambda: self._enis(sorted(wanted["eni-ip"])))
        self.parallel(tasks)
        self._read_proxy_targets()
        self._read_subnet_groups()
        for alias, target in aliases.items():
            if target in self._by_lookup:
                self._by_lookup[alias] = self._by_lookup[target]
        for ref in refs:
            self._match(ref)

    def _match(self, ref: TargetRef) -> None:
        lookup = lookup_for(ref)
        found = self._by_lookup.get(lookup) if lookup else None
        if found is None:
            return
        if found.subnet_group is not None:
            # The subnet group could not be read: the database path is not judged, and says why.
            group_failure = self.failures.get(f"{FactKey.DATABASE}:subnet-group:{found.subnet_group.split(':', 1)[1]}")
            if group_failure is not None:
                self.failures[f"{FactKey.DATABASE}:{self.key(ref)}"] = group_failure
            return
        # The identifier came from the host name; the host must be the resource's own (same account, region).
        if ref.host and found.hosts and lookup and lookup.kind != "eni-ip" and ref.host not in found.hosts:
            return
        # The port AWS records for the database is the one opened; the secret's own port never decides it.
        port = port_for(ref, found.port)
        if port is None:
            return
        proxy_targets = self._proxy_targets_of(ref, found)
        self.found[ref] = Database(
            proxy_targets=proxy_targets,
            proxy_auth_secrets=found.auth_secrets,
            kind=found.kind,
            identifier=found.identifier,
            port=port,
            secret_port=ref.port,
            tags=found.tags,
            vpc_id=found.vpc_id,
            subnet_ids=found.subnet_ids,
            security_group_ids=found.groups,
            publicly_accessible=found.public,
            host=ref.host,
            engine=found.engine or ref.engine,
            network_type=found.network_type,
        )

    def _fail_key(self, kind: str, identifier: str) -> str:
        return f"{FactKey.DATABASE}:{kind}:{identifier}"

    # ----- RDS and DocumentDB ----------------------------------------------------------------

    def _instances(self, ids: list[str], service: str, kind: str, target: TargetKind) -> None:
        client = self._rds_api(service)
        raw = self.read(
            self._fail_key(kind, ids[0]),
            "rds:DescribeDBInstances",
            lambda: client.describe_db_instances(Filters=[{"Name": "db-instance-id", "Values": ids}]),
        )
        if raw is None:
            self._copy_failure(kind, ids)
            return
        for item in raw.get("DBInstances", []):
            group = item.get("DBSubnetGroup") or {}
            subnets = group.get("Subnets") or []
            zone = None if item.get("MultiAZ") else item.get("AvailabilityZone")
            in_zone = [
                s["SubnetIdentifier"]
                for s in subnets
                if zone is None or (s.get("SubnetAvailabilityZone") or {}).get("Name") == zone
            ]
            endpoint = item.get("Endpoint") or {}
            self._by_lookup[Lookup(kind, item["DBInstanceIdentifier"])] = _Found(
                target,
                item["DBInstanceIdentifier"],
                endpoint.get("Port") or item.get("DbInstancePort"),
                group.get("VpcId"),
                tuple(in_zone or [s["SubnetIdentifier"] for s in subnets]),
                _active_groups(item.get("VpcSecurityGroups") or []),
                bool(item.get("PubliclyAccessible")),
                frozenset({str(endpoint.get("Address", "")).lower()} - {""}),
                item.get("Engine"),
                tags=tags(item.get("TagList")),
                network_type=item.get("NetworkType"),
            )

    def _clusters(self, ids: list[str], service: str, kind: str, target: TargetKind) -> None:
        client = self._rds_api(service)
        raw = self.read(
            self._fail_key(kind, ids[0]),
            "rds:DescribeDBClusters",
            lambda: client.describe_db_clusters(Filters=[{"Name": "db-cluster-id", "Values": ids}]),
        )
        if raw is None:
            self._copy_failure(kind, ids)
            return
        for item in raw.get("DBClusters", []):
            hosts = {str(item.get(k, "")).lower() for k in ("Endpoint", "ReaderEndpoint")}
            hosts |= {str(h).lower() for h in item.get("CustomEndpoints") or []}
            self._by_lookup[Lookup(kind, item["DBClusterIdentifier"])] = _Found(
                target,
                item["DBClusterIdentifier"],
                item.get("Port"),
                None,
                (),
                _active_groups(item.get("VpcSecurityGroups") or []),
                bool(item.get("PubliclyAccessible")),
                frozenset(hosts - {""}),
                item.get("Engine"),
                subnet_group=f"{service}:{item.get('DBSubnetGroup')}",
                tags=tags(item.get("TagList")),
                network_type=item.get("NetworkType"),
            )

    def _read_subnet_groups(self) -> None:
        """Clusters name their subnet group; one read per distinct group."""
        names = sorted({f.subnet_group for f in self._by_lookup.values() if f.subnet_group})
        groups: dict[str, tuple[str | None, tuple[str, ...]]] = {}

        def read(qualified: str) -> None:
            service, name = qualified.split(":", 1)
            client = self._rds_api(service)
            raw = self.read(
                f"{FactKey.DATABASE}:subnet-group:{name}",
                "rds:DescribeDBSubnetGroups",
                lambda: client.describe_db_subnet_groups(DBSubnetGroupName=name),
            )
            for item in (raw or {}).get("DBSubnetGroups", []):
                groups[qualified] = (
                    item.get("VpcId"),
                    tuple(s["SubnetIdentifier"] for s in item.get("Subnets", [])),
                )

        self.parallel([partial(read, n) for n in names])
        for lookup, found in list(self._by_lookup.items()):
            if found.subnet_group and found.subnet_group in groups:
                vpc, subnets = groups[found.subnet_group]
                self._by_lookup[lookup] = _replace(found, vpc_id=vpc, subnet_ids=subnets)

    def _cluster_endpoint(self, name: str, aliases: dict[Lookup, Lookup]) -> None:
        raw = self.read(
            self._fail_key("rds-cluster-endpoint", name),
            "rds:DescribeDBClusterEndpoints",
            lambda: self.clients.rds.describe_db_cluster_endpoints(DBClusterEndpointIdentifier=name),
        )
        for item in (raw or {}).get("DBClusterEndpoints", []):
            aliases[Lookup("rds-cluster-endpoint", name)] = Lookup("rds-cluster", item["DBClusterIdentifier"])

    def _proxy(self, name: str) -> None:
        raw = self.read(
            self._fail_key("rds-proxy", name),
            "rds:DescribeDBProxies",
            lambda: self.clients.rds.describe_db_proxies(DBProxyName=name),
            lambda: {},
        )
        for item in (raw or {}).get("DBProxies", []):
            self._by_lookup[Lookup("rds-proxy", name)] = _Found(
                TargetKind.RDS_PROXY,
                name,
                PROXY_PORTS.get(str(item.get("EngineFamily"))),
                item.get("VpcId"),
                tuple(item.get("VpcSubnetIds") or ()),
                tuple(item.get("VpcSecurityGroupIds") or ()),
                False,
                frozenset({str(item.get("Endpoint", "")).lower()} - {""}),
                item.get("EngineFamily"),
                proxy_name=item.get("DBProxyName") or name,
                auth_secrets=tuple(str(a["SecretArn"]) for a in item.get("Auth") or [] if a.get("SecretArn")),
            )

    def _proxy_endpoint(self, name: str) -> None:
        raw = self.read(
            self._fail_key("rds-proxy-endpoint", name),
            "rds:DescribeDBProxyEndpoints",
            lambda: self.clients.rds.describe_db_proxy_endpoints(DBProxyEndpointName=name),
            lambda: {},
        )
        for item in (raw or {}).get("DBProxyEndpoints", []):
            self._by_lookup[Lookup("rds-proxy-endpoint", name)] = _Found(
                TargetKind.RDS_PROXY,
                name,
                None,
                item.get("VpcId"),
                tuple(item.get("VpcSubnetIds") or ()),
                tuple(item.get("VpcSecurityGroupIds") or ()),
                False,
                frozenset({str(item.get("Endpoint", "")).lower()} - {""}),
                None,
                proxy_name=item.get("DBProxyName"),
            )

    # ----- an RDS Proxy's targets --------------------------------------------------------------

    def _read_proxy_targets(self) -> None:
        """Each proxy's targets (one paged call per proxy), then the target instances and clusters not found yet
        (batched as any other instance or cluster): where they run is the proxy's own path."""
        names = sorted({f.proxy_name for f in self._by_lookup.values() if f.proxy_name})

        def read(name: str) -> None:
            def run() -> list[Mapping[str, Any]]:
                paginator = self.clients.rds.get_paginator("describe_db_proxy_targets")
                return [t for page in paginator.paginate(DBProxyName=name) for t in page.get("Targets", [])]

            targets = self.read(f"{FactKey.PROXY_TARGETS}:{name}", "rds:DescribeDBProxyTargets", run)
            if targets is not None:
                self._proxy_targets[name] = targets

        self.parallel([partial(read, n) for n in names])
        wanted: dict[str, set[str]] = defaultdict(set)
        for target in (t for targets in self._proxy_targets.values() for t in targets):
            kind = _PROXY_TARGET_KINDS.get(str(target.get("Type")))
            identifier = target.get("RdsResourceId")
            if kind and identifier and Lookup(kind, identifier) not in self._by_lookup:
                wanted[kind].add(identifier)
        tasks: list[Callable[[], None]] = []
        for chunk in chunks(sorted(wanted["rds-instance"]), FILTER_IDS):
            tasks.append(partial(self._instances, chunk, "rds", "rds-instance", TargetKind.RDS_INSTANCE))
        for chunk in chunks(sorted(wanted["rds-cluster"]), FILTER_IDS):
            tasks.append(partial(self._clusters, chunk, "rds", "rds-cluster", TargetKind.RDS_CLUSTER))
        self.parallel(tasks)

    def _proxy_targets_of(self, ref: TargetRef, found: _Found) -> tuple[ProxyTarget, ...] | None:
        """The targets of the proxy `found` is (None: not a proxy, or they could not be read: the failure is kept
        under the secret's database, as `proxy_targets`)."""
        if found.proxy_name is None:
            return None
        raw = self._proxy_targets.get(found.proxy_name)
        failure = self.failures.get(f"{FactKey.PROXY_TARGETS}:{found.proxy_name}")
        out = []
        for target in raw or []:
            kind = _PROXY_TARGET_KINDS.get(str(target.get("Type")))
            identifier = str(target.get("RdsResourceId") or target.get("Endpoint") or "?")
            where = self._by_lookup.get(Lookup(kind, identifier)) if kind else None
            if kind and where is None:
                failure = failure or self.failures.get(self._fail_key(kind, identifier))
            health = target.get("TargetHealth") or {}
            out.append(
                ProxyTarget(
                    identifier=identifier,
                    target_type=str(target.get("Type", "")),
                    port=target.get("Port") or (where.port if where else None),
                    state=health.get("State"),
                    reason=health.get("Reason"),
                    description=health.get("Description"),
                    vpc_id=where.vpc_id if where else None,
                    subnet_ids=where.subnet_ids if where and where.subnet_group is None else (),
                    security_group_ids=where.groups if where else (),
                    tags=where.tags if where else {},
                )
            )
        if failure is not None:
            self.failures[f"{FactKey.PROXY_TARGETS}:{self.key(ref)}"] = failure
            return None
        return tuple(out)

    # ----- Redshift ------------------------------------------------------------------------

    def _redshift(self, identifier: str) -> None:
        raw = self.read(
            self._fail_key("redshift-cluster", identifier),
            "redshift:DescribeClusters",
            lambda: self.clients.redshift.describe_clusters(ClusterIdentifier=identifier),
            lambda: {},
        )
        for item in (raw or {}).get("Clusters", []):
            group_name = item.get("ClusterSubnetGroupName")
            subnets: tuple[str, ...] = ()
            vpc = item.get("VpcId")
            if group_name:
                groups = self.read(
                    f"{FactKey.DATABASE}:subnet-group:{group_name}",
                    "redshift:DescribeClusterSubnetGroups",
                    lambda name=group_name: self.clients.redshift.describe_cluster_subnet_groups(
                        ClusterSubnetGroupName=name
                    ),
                )
                for group in (groups or {}).get("ClusterSubnetGroups", []):
                    vpc = vpc or group.get("VpcId")  # moto leaves the cluster's VpcId empty
                    zone = None if str(item.get("MultiAZ", "")).lower() == "enabled" else item.get("AvailabilityZone")
                    all_subnets = [
                        (s["SubnetIdentifier"], (s.get("SubnetAvailabilityZone") or {}).get("Name"))
                        for s in group.get("Subnets", [])
                    ]
                    subnets = tuple(s for s, z in all_subnets if zone is None or z == zone) or tuple(
                        s for s, _ in all_subnets
                    )
            endpoint = item.get("Endpoint") or {}
            self._by_lookup[Lookup("redshift-cluster", identifier)] = _Found(
                TargetKind.REDSHIFT_CLUSTER,
                identifier,
                endpoint.get("Port"),
                vpc,
                subnets,
                _active_groups(item.get("VpcSecurityGroups") or []),
                bool(item.get("PubliclyAccessible")),
                frozenset({str(endpoint.get("Address", "")).lower()} - {""}),
                "redshift",
                tags=tags(item.get("Tags")),
            )

    def _serverless(self, workgroup: str) -> None:
        raw = self.read(
            self._fail_key("redshift-serverless", workgroup),
            "redshift-serverless:GetWorkgroup",
            lambda: self.clients.redshift_serverless.get_workgroup(workgroupName=workgroup),
            lambda: {},
        )
        item = (raw or {}).get("workgroup")
        if not item:
            return
        endpoint = item.get("endpoint") or {}
        vpc_endpoints = endpoint.get("vpcEndpoints") or []
        self._by_lookup[Lookup("redshift-serverless", workgroup)] = _Found(
            TargetKind.REDSHIFT_SERVERLESS,
            workgroup,
            endpoint.get("port") or item.get("port"),
            vpc_endpoints[0].get("vpcId") if vpc_endpoints else None,
            tuple(item.get("subnetIds") or ()),
            tuple(item.get("securityGroupIds") or ()),
            bool(item.get("publiclyAccessible")),
            frozenset({str(endpoint.get("address", "")).lower()} - {""}),
            "redshift",
        )

    # ----- a database on EC2 (an address) ------------------------------------------------------

    def _enis(self, addresses: list[str]) -> None:
        raw = self.read(
            self._fail_key("eni-ip", addresses[0]),
            "ec2:DescribeNetworkInterfaces",
            lambda: self.clients.ec2.describe_network_interfaces(
                Filters=[{"Name": "addresses.private-ip-address", "Values": addresses}]
            ),
        )
        if raw is None:
            self._copy_failure("eni-ip", addresses)
            return
        for eni in raw.get("NetworkInterfaces", []):
            for address in eni.get("PrivateIpAddresses") or []:
                ip = address.get("PrivateIpAddress")
                if ip in addresses:
                    self._by_lookup[Lookup("eni-ip", ip)] = _Found(
                        TargetKind.ENI,
                        eni["NetworkInterfaceId"],
                        None,
                        eni.get("VpcId"),
                        (eni["SubnetId"],),
                        tuple(g["GroupId"] for g in eni.get("Groups") or []),
                        False,
                        frozenset({ip}),
                        None,
                        tags=tags(eni.get("TagSet")),
                    )

    def _rds_api(self, service: str) -> RDSClient | DocDBClient:
        """RDS or DocumentDB ("rds", "docdb"): the same Describe* operations under two service names."""
        return self.clients.docdb if service == "docdb" else self.clients.rds

    def _copy_failure(self, kind: str, ids: list[str]) -> None:
        """A batched read failed for all its ids: `read` stored it under the first, copy it to the rest."""
        failure = self.failures.get(self._fail_key(kind, ids[0]))
        if failure is not None:
            for identifier in ids[1:]:
                self.failures[self._fail_key(kind, identifier)] = failure


def _replace(found: _Found, **changes: Any) -> _Found:
    return replace(found, subnet_group=None, **changes)

"""What database a secret is for: from its `rotation-doctor:target` tag or its value's fields.

The secret value is parsed here and dropped here: only `host`, `port`, `engine`,
`dbInstanceIdentifier` and `dbClusterIdentifier` leave this module, never the password.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass

from rotation_doctor.model.snapshot import TargetRef

TARGET_TAG = "rotation-doctor:target"
_TAG_KINDS = {"rds", "rds-cluster", "redshift", "docdb", "host"}

DEFAULT_PORTS = {
    "postgres": 5432,
    "postgresql": 5432,
    "aurora-postgresql": 5432,
    "redshift": 5439,
    "mysql": 3306,
    "mariadb": 3306,
    "aurora-mysql": 3306,
    "aurora": 3306,
    "oracle": 1521,
    "sqlserver": 1433,
    "docdb": 27017,
    "mongo": 27017,
    "db2": 50000,
}


def ref_from_tag(value: str) -> TargetRef | None:
    """`rds:ID`, `rds-cluster:ID`, `redshift:ID`, `docdb:ID` or `host:NAME:PORT`; None if malformed."""
    kind, _, rest = value.strip().partition(":")
    kind = kind.lower()
    if kind not in _TAG_KINDS or not rest:
        return None
    if kind == "host":
        host, _, port = rest.rpartition(":")
        if not host or not port.isdigit():
            return None
        return TargetRef("tag", host=host.lower(), port=int(port), kind_hint="host")
    if kind in {"rds-cluster", "docdb"}:
        return TargetRef("tag", cluster_id=rest, kind_hint=kind)
    return TargetRef("tag", instance_id=rest, kind_hint=kind)


def ref_from_secret_string(secret_string: str | None) -> TargetRef | None:
    """The connection fields of a standard rotation secret; nothing else is kept."""
    if not secret_string:
        return None
    try:
        value = json.loads(secret_string)
    except ValueError:
        return None  # not JSON: no connection fields (and the parse error is not re-raised: it holds the value)
    if not isinstance(value, dict):
        return None
    host = value.get("host")
    port = value.get("port")
    ref = TargetRef(
        "secret-value",
        host=str(host).strip().lower() if isinstance(host, str) and host.strip() else None,
        port=int(port) if isinstance(port, int | str) and str(port).isdigit() else None,
        engine=str(value["engine"]).lower() if isinstance(value.get("engine"), str) else None,
        instance_id=str(value["dbInstanceIdentifier"]) if value.get("dbInstanceIdentifier") else None,
        cluster_id=str(value["dbClusterIdentifier"]) if value.get("dbClusterIdentifier") else None,
    )
    if not (ref.host or ref.instance_id or ref.cluster_id):
        return None
    return ref


@dataclass(frozen=True)
class Lookup:
    """One AWS lookup that finds the database: which API and which name."""

    kind: str  # rds-instance, rds-cluster, rds-cluster-endpoint, rds-proxy, rds-proxy-endpoint,
    # docdb-cluster, docdb-instance, redshift-cluster, redshift-serverless, eni-ip
    identifier: str


def lookup_for(ref: TargetRef) -> Lookup | None:
    """The lookup a reference needs; None when nothing names a database rotation-doctor knows."""
    if ref.kind_hint == "rds":
        return Lookup("rds-instance", str(ref.instance_id))
    if ref.kind_hint == "rds-cluster":
        return Lookup("rds-cluster", str(ref.cluster_id))
    if ref.kind_hint == "docdb":
        return Lookup("docdb-cluster", str(ref.cluster_id))
    if ref.kind_hint == "redshift":
        return Lookup("redshift-cluster", str(ref.instance_id))
    if ref.host:
        found = lookup_for_host(ref.host)
        if found:
            return found
    docdb = (ref.engine or "") == "docdb"
    if ref.cluster_id:
        return Lookup("docdb-cluster" if docdb else "rds-cluster", ref.cluster_id)
    if ref.instance_id:
        return Lookup("docdb-instance" if docdb else "rds-instance", ref.instance_id)
    return None


def lookup_for_host(host: str) -> Lookup | None:
    host = host.lower().rstrip(".")
    try:
        ipaddress.IPv4Address(host)
        return Lookup("eni-ip", host)
    except ValueError:
        pass
    labels = host.split(".")
    suffix = labels[-3:] if labels[-1] != "cn" else labels[-4:-1]
    if len(labels) < 5 or suffix[1:] != ["amazonaws", "com"]:
        return None
    service = suffix[0]
    first, second = labels[0], labels[1]
    if service == "rds":
        if second == "endpoint" and labels[2].startswith("proxy-"):
            return Lookup("rds-proxy-endpoint", first)
        if second.startswith("proxy-"):
            return Lookup("rds-proxy", first)
        if second.startswith("cluster-custom-"):
            return Lookup("rds-cluster-endpoint", first)
        if second.startswith(("cluster-ro-", "cluster-")):
            return Lookup("rds-cluster", first)
        return Lookup("rds-instance", first)
    if service == "docdb":
        if second.startswith(("cluster-ro-", "cluster-")):
            return Lookup("docdb-cluster", first)
        return Lookup("docdb-instance", first)
    if service == "redshift":
        return Lookup("redshift-cluster", first)
    if service == "redshift-serverless":
        return Lookup("redshift-serverless", first)
    return None


def port_for(ref: TargetRef | None, resource_port: int | None) -> int | None:
    """The database's port: as AWS records it, else the secret's own (an address on EC2), else the engine's.

    The secret never overrides AWS: it is written by whoever may create a secret, and the port it names
    is what would be opened. A disagreement is reported (DB_PORT_MISMATCH), never acted on.
    """
    if resource_port:
        return resource_port
    if ref is not None and ref.port:
        return ref.port
    return DEFAULT_PORTS.get((ref.engine or "") if ref else "")

"""What database a secret is for: from its `rotation-doctor:target` tag or its value's fields.

The secret value is parsed here and dropped here: only `host`, `port`, `engine`,
`dbInstanceIdentifier` and `dbClusterIdentifier` leave this module, never the password.

A secret is written by people and tools: any field can hold anything. A field that is there but cannot be used
(a port that is no port, a host that is no text, ...) makes a reference that names no database and says why
(`TargetRef.invalid`), which the diagnosis reports as DB_TARGET_UNRESOLVED on that secret alone: one secret never
stops a scan. The reason names the field, never its value.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass

from rotation_doctor.model.snapshot import TargetRef

TARGET_TAG = "rotation-doctor:target"
_TAG_KINDS = {"rds", "rds-cluster", "redshift", "docdb", "host"}
TAG_FORMS = "rds:ID, rds-cluster:ID, redshift:ID, docdb:ID or host:NAME:PORT"

# What a usable field looks like. Ports: ASCII digits only (`str.isdigit` takes "²", which `int` refuses).
_PORT_DIGITS = re.compile(r"[0-9]{1,5}")
# Host names, IP addresses, identifiers and ARNs: printable ASCII without blanks, bounded.
_PRINTABLE = re.compile(r"[!-~]+")
MAX_HOST = 253  # the longest DNS name
MAX_IDENTIFIER = 255  # RDS identifiers have at most 63 characters; an ARN fits too
_MAX_ENGINE = 64

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


class _Unusable(ValueError):
    """A field that is there but cannot be used; the message names the field, never its value."""


def parse_port(value: object) -> int | None:
    """A TCP port, 1-65535, from an integer (5432.0 too) or a string of ASCII digits (blanks around allowed), as
    the rotation function's `int(...)` takes it; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and _PORT_DIGITS.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        return None
    return number if 1 <= number <= 65535 else None


def ref_from_tag(value: str) -> TargetRef | None:
    """`rds:ID`, `rds-cluster:ID`, `redshift:ID`, `docdb:ID` or `host:NAME:PORT`; a malformed tag (it wins over
    the value, so it is not passed over) is a reference that says it is malformed. None for an empty tag."""
    if not value.strip():
        return None
    kind, _, rest = value.strip().partition(":")
    kind = kind.lower()
    malformed = TargetRef(
        "tag", invalid=f"the secret's {TARGET_TAG} tag is not of the form {TAG_FORMS} (a port from 1 to 65535)"
    )
    if kind not in _TAG_KINDS or not rest:
        return malformed
    if kind == "host":
        host, _, port_text = rest.rpartition(":")
        port = parse_port(port_text) if port_text == port_text.strip() else None
        if not host or port is None or len(host) > MAX_HOST or not _PRINTABLE.fullmatch(host):
            return malformed
        return TargetRef("tag", host=host.lower(), port=port, kind_hint="host")
    if kind in {"rds-cluster", "docdb"}:
        return TargetRef("tag", cluster_id=rest, kind_hint=kind)
    return TargetRef("tag", instance_id=rest, kind_hint=kind)


def ref_from_secret_string(secret_string: str | None) -> TargetRef | None:
    """The connection fields of a standard rotation secret; nothing else is kept. None when the value names no
    database; a reference with `invalid` set when a field it has cannot be used."""
    if not secret_string:
        return None
    try:
        return _from_value(secret_string)
    except _Unusable as unusable:
        return TargetRef("secret-value", invalid=str(unusable))
    except Exception as exc:  # one secret never stops the others; the message may hold the value, so not kept
        return TargetRef("secret-value", invalid=f"the secret's value could not be read ({type(exc).__name__})")


def _from_value(secret_string: str) -> TargetRef | None:
    try:
        value = json.loads(secret_string)
    except (ValueError, RecursionError):
        # Not JSON: no connection fields (the parse error is not re-raised: it holds the value). A value that
        # starts like a JSON object but cannot be read is a broken secret: the rotation function cannot read it.
        if secret_string.lstrip().startswith("{"):
            raise _Unusable(
                "the secret's value starts like JSON but cannot be read (malformed, nested too deeply, or holding a "
                "number too long)"
            ) from None
        return None
    if not isinstance(value, dict):
        return None
    ref = TargetRef(
        "secret-value",
        host=_host(value.get("host")),
        port=_port(value.get("port")),
        engine=_engine(value.get("engine")),
        instance_id=_identifier(value, "dbInstanceIdentifier"),
        cluster_id=_identifier(value, "dbClusterIdentifier"),
    )
    if not (ref.host or ref.instance_id or ref.cluster_id):
        return None
    return ref


def _host(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Unusable("the host field of the secret's value is not text")
    host = value.strip()
    if not host:
        return None
    if len(host) > MAX_HOST or not _PRINTABLE.fullmatch(host):
        raise _Unusable(
            f"the host field of the secret's value is not a host name or an IP address (at most {MAX_HOST} "
            "printable characters, no blanks)"
        )
    return host.lower()


def _port(value: object) -> int | None:
    if value is None:
        return None
    port = parse_port(value)
    if port is None:
        raise _Unusable("the port field of the secret's value is not a whole number from 1 to 65535")
    return port


def _engine(value: object) -> str | None:
    """Only a hint (it picks the default port): an engine that is not a short name is passed over."""
    if isinstance(value, str) and len(value) <= _MAX_ENGINE and _PRINTABLE.fullmatch(value):
        return value.lower()
    return None


def _identifier(fields: dict[str, object], name: str) -> str | None:
    value = fields.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_IDENTIFIER or not _PRINTABLE.fullmatch(value):
        raise _Unusable(
            f"the {name} field of the secret's value is not an identifier (at most {MAX_IDENTIFIER} printable "
            "characters, no blanks)"
        )
    return value


@dataclass(frozen=True)
class Lookup:
    """One AWS lookup that finds the database: which API and which name."""

    kind: str  # rds-instance, rds-cluster, rds-cluster-endpoint, rds-proxy, rds-proxy-endpoint,
    # docdb-cluster, docdb-instance, redshift-cluster, redshift-serverless, eni-ip
    identifier: str


def lookup_for(ref: TargetRef) -> Lookup | None:
    """The lookup a reference needs; None when nothing names a database rotation-doctor knows."""
    if ref.invalid:
        return None
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

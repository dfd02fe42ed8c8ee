"""How the Secrets Manager name is spelled and resolved inside a VPC."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from rotation_doctor.model.snapshot import Function, HostedZoneRecord, PrivateHostedZone


def dns_suffix(region: str) -> str:
    return "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"


def secrets_manager_hostname(region: str) -> str:
    return f"secretsmanager.{region}.{dns_suffix(region)}"


def secrets_manager_service_name(region: str) -> str:
    prefix = "cn.com.amazonaws" if region.startswith("cn-") else "com.amazonaws"
    return f"{prefix}.{region}.secretsmanager"


# The public names of the Secrets Manager API the SDK picks by its two switches (AWS_USE_FIPS_ENDPOINT,
# AWS_USE_DUALSTACK_ENDPOINT), and the address families each answers with. The standard name is dual-stack: "The
# secretsmanager.{region}.amazonaws.com dual-stack endpoint for Secrets Manager APIs supports both IPv6 and IPv4"
# (Secrets Manager User Guide, "Control API access with IAM policies", IAM dual-stack policies); the `api.aws` names
# are dual-stack by definition; the FIPS `amazonaws.com` name is listed for IPv4 only (AWS General Reference,
# "AWS Secrets Manager endpoints and quotas"). The China regions' guide documents no IPv6 for their standard name:
# it is kept IPv4-only there, which judges such a function over IPv4 as before.
IPV4, IPV6 = "IPv4", "IPv6"
BOTH = frozenset({IPV4, IPV6})
SECRETS_MANAGER_NAMES: dict[tuple[bool, bool], tuple[str, frozenset[str]]] = {
    # (FIPS, dual-stack): (the name, its address families)
    (False, False): ("secretsmanager.{region}.{suffix}", BOTH),
    (False, True): ("secretsmanager.{region}.{dualstack_suffix}", BOTH),
    (True, False): ("secretsmanager-fips.{region}.{suffix}", frozenset({IPV4})),
    (True, True): ("secretsmanager-fips.{region}.{dualstack_suffix}", BOTH),
}


def dualstack_suffix(region: str) -> str:
    return "api.amazonwebservices.com.cn" if region.startswith("cn-") else "api.aws"


def secrets_manager_public_name(region: str, *, fips: bool, dualstack: bool) -> str:
    """The name the SDK calls when no endpoint URL is set."""
    template, _ = SECRETS_MANAGER_NAMES[(fips, dualstack)]
    return template.format(region=region, suffix=dns_suffix(region), dualstack_suffix=dualstack_suffix(region))


def address_families(host: str, region: str) -> frozenset[str]:
    """The families a public Secrets Manager name answers with (A, and AAAA records); IPv4 for any other name."""
    for (fips, dualstack), (_, families) in SECRETS_MANAGER_NAMES.items():
        if host == secrets_manager_public_name(region, fips=fips, dualstack=dualstack):
            if region.startswith("cn-") and not dualstack:
                return frozenset({IPV4})  # not documented as dual-stack in the China regions
            return families
    return frozenset({IPV4})


# Whole strings (\A, \Z): `^` and `$` would admit a final newline, and a name is compared whole, never trimmed.
_VPCE_HOST = re.compile(
    r"\A(?P<id>vpce-[0-9a-f]+)-[0-9a-z]+(?:-(?P<az>[a-z]{2}(?:-[a-z]+)+-\d[a-z]))?"
    r"\.secretsmanager\.(?P<region>[a-z0-9-]+)\.vpce\.amazonaws\.com(?:\.cn)?\Z"
)


def normalised(name: str) -> str:
    """A DNS name as compared: lowercase, without its one trailing dot (names are compared whole, never trimmed)."""
    name = name.lower()
    return name[:-1] if name.endswith(".") else name


@dataclass(frozen=True)
class EndpointName:
    """What an interface endpoint's own DNS name says: the endpoint, and the zone for a zonal name."""

    endpoint_id: str
    availability_zone: str | None  # set for a zonal name (vpce-...-us-east-1a.secretsmanager...)


def secrets_manager_endpoint_name(host: str) -> EndpointName | None:
    """The Secrets Manager interface endpoint a regional or zonal endpoint-specific DNS name names, if it is one."""
    match = _VPCE_HOST.match(normalised(host))
    return EndpointName(match.group("id"), match.group("az")) if match else None


def name_called(fn: Function, region: str) -> str:
    """The public Secrets Manager name the function's SDK calls: the one SECRETS_MANAGER_ENDPOINT names, else the
    one its FIPS and dual-stack switches pick (`SECRETS_MANAGER_NAMES`)."""
    if fn.secrets_manager_endpoint:
        override = parse_endpoint_override(fn.secrets_manager_endpoint, region)
        if override.kind == "public":
            return override.host
    return secrets_manager_public_name(region, fips=fn.uses_fips_endpoint, dualstack=fn.uses_dualstack_endpoint)


@dataclass(frozen=True)
class EndpointOverride:
    """What a `SECRETS_MANAGER_ENDPOINT` value points the SDK at."""

    kind: str  # "vpce" (an endpoint-specific name), "public" (the regional name), "other"
    host: str
    endpoint_id: str | None = None
    availability_zone: str | None = None  # set for a zonal endpoint-specific name


def parse_endpoint_override(value: str, region: str) -> EndpointOverride:
    host = (urlsplit(value).hostname if "://" in value else value.split("/")[0].split(":")[0]) or ""
    host = normalised(host)
    match = _VPCE_HOST.match(host)
    if match:
        return EndpointOverride("vpce", host, match.group("id"), match.group("az"))
    public = {secrets_manager_public_name(region, fips=f, dualstack=d) for f, d in SECRETS_MANAGER_NAMES}
    if host in public:
        return EndpointOverride("public", host)
    return EndpointOverride("other", host)


def zone_answering(name: str, zones: Sequence[PrivateHostedZone]) -> PrivateHostedZone | None:
    """The most specific private zone whose name is `name` or a parent of it: it answers for `name`."""
    name = normalised(name)
    best: PrivateHostedZone | None = None
    for zone in zones:
        zone_name = normalised(zone.name)
        if (name == zone_name or name.endswith("." + zone_name)) and (best is None or len(zone_name) > len(best.name)):
            best = zone
    return best


# The record types that answer a name with an address: A and AAAA (an alias to an endpoint's DNS name, or addresses)
# and CNAME. A zone's apex also holds NS and SOA records, which say nothing about where the name leads.
ANSWERING_TYPES = frozenset({"A", "AAAA", "CNAME"})


def answering_records(records: Sequence[HostedZoneRecord]) -> list[HostedZoneRecord]:
    return [r for r in records if r.record_type.upper() in ANSWERING_TYPES]


def record_targets(records: Sequence[HostedZoneRecord]) -> list[str]:
    """The names the answering records lead to, in order, once each: an alias's DNS name, a CNAME's value."""
    found: dict[str, None] = {}
    for record in answering_records(records):
        if record.alias_target:
            found[record.alias_target] = None
        elif record.record_type.upper() == "CNAME":
            found.update(dict.fromkeys(record.values))
    return list(found)

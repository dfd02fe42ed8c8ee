"""How the Secrets Manager name is spelled and resolved inside a VPC."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from rotation_doctor.model.snapshot import PrivateHostedZone


def dns_suffix(region: str) -> str:
    return "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"


def secrets_manager_hostname(region: str) -> str:
    return f"secretsmanager.{region}.{dns_suffix(region)}"


def secrets_manager_service_name(region: str) -> str:
    prefix = "cn.com.amazonaws" if region.startswith("cn-") else "com.amazonaws"
    return f"{prefix}.{region}.secretsmanager"


_VPCE_HOST = re.compile(
    r"^(?P<id>vpce-[0-9a-f]+)-[0-9a-z]+(?:-(?P<az>[a-z]{2}(?:-[a-z]+)+-\d[a-z]))?"
    r"\.secretsmanager\.(?P<region>[a-z0-9-]+)\.vpce\.amazonaws\.com(?:\.cn)?$"
)


@dataclass(frozen=True)
class EndpointOverride:
    """What a `SECRETS_MANAGER_ENDPOINT` value points the SDK at."""

    kind: str  # "vpce" (an endpoint-specific name), "public" (the regional name), "other"
    host: str
    endpoint_id: str | None = None
    availability_zone: str | None = None  # set for a zonal endpoint-specific name


def parse_endpoint_override(value: str, region: str) -> EndpointOverride:
    host = (urlsplit(value).hostname if "://" in value else value.split("/")[0].split(":")[0]) or ""
    host = host.lower().rstrip(".")
    match = _VPCE_HOST.match(host)
    if match:
        return EndpointOverride("vpce", host, match.group("id"), match.group("az"))
    if host in {secrets_manager_hostname(region), f"secretsmanager-fips.{region}.{dns_suffix(region)}"}:
        return EndpointOverride("public", host)
    return EndpointOverride("other", host)


def zone_answering(name: str, zones: Sequence[PrivateHostedZone]) -> PrivateHostedZone | None:
    """The most specific private zone whose name is `name` or a parent of it: it answers for `name`."""
    name = name.lower().rstrip(".")
    best: PrivateHostedZone | None = None
    for zone in zones:
        zone_name = zone.name.lower().rstrip(".")
        if (name == zone_name or name.endswith("." + zone_name)) and (best is None or len(zone_name) > len(best.name)):
            best = zone
    return best

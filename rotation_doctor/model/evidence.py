"""Typed evidence: what the analyzer found, in the form fix kinds act on.

A finding's `evidence` dict is for people and JSON (its wording, such as "the internet", is
part of the output users rely on). Fix kinds read the typed value instead (`Finding.facts`),
one small frozen dataclass per kind of evidence. Each one's `to_json` is the evidence dict it
stands for, so the analyzer writes a fact once and the JSON follows from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeAlias


class PeerKind(StrEnum):
    """What is at the other end of a flow, seen from the side that is judged."""

    INTERNET = "internet"  # the public Secrets Manager endpoint, beyond a NAT gateway
    VPC_ENDPOINT = "vpc_endpoint"  # an interface endpoint's network interface
    DATABASE = "database"
    FUNCTION = "function"  # the rotation function (as the endpoint's, the database's or the NAT's peer)


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class Leg(StrEnum):
    REQUEST = "request"  # to the service port
    RETURN = "return"  # the answer, to the ephemeral ports


@dataclass(frozen=True, slots=True)
class NaclDenied:
    """A network ACL denies (all or part of) one leg of a TCP flow between its subnet and a peer."""

    acl: str
    subnet: str
    direction: Direction
    leg: Leg
    ports: tuple[int, int]  # first and last port of the leg
    peer: PeerKind
    peer_label: str  # for people: "the internet", "endpoint vpce-1 in subnet-a"
    peer_cidrs: tuple[str, ...]  # the peer subnet's blocks (what an allow rule names); none for the internet
    partial: bool  # only part of the peer's addresses or ports is denied
    denying_rules: tuple[int, ...]  # rule numbers that deny part of the flow; 32767 is the final `*`

    @property
    def egress(self) -> bool:
        return self.direction is Direction.OUTBOUND

    def to_json(self) -> dict[str, Any]:
        return {
            "acl": self.acl,
            "subnet": self.subnet,
            "direction": str(self.direction),
            "leg": str(self.leg),
            "ports": list(self.ports),
            "peer": self.peer_label,
            "peer_cidrs": list(self.peer_cidrs),
            "outcome": "partial" if self.partial else "deny",
            "denying_rules": list(self.denying_rules),
        }


@dataclass(frozen=True, slots=True)
class EgressDenied:
    """The function's security groups allow no TCP `port` out to the peer."""

    port: int
    peer: PeerKind
    to_cidr: str  # the peer subnet's block; 0.0.0.0/0 (::/0 over IPv6) for the internet
    from_groups: tuple[str, ...] = ()
    to_groups: tuple[str, ...] = ()  # the peer's groups (what an egress rule names); none for the internet
    to_subnet: str | None = None

    def to_json(self) -> dict[str, Any]:
        if self.peer is PeerKind.INTERNET:
            return {"port": self.port, "to": self.to_cidr}
        return {
            "port": self.port,
            "from_groups": list(self.from_groups),
            "to_groups": list(self.to_groups),
            "to_subnet": self.to_subnet,
            "to_cidr": self.to_cidr,
        }


@dataclass(frozen=True, slots=True)
class IngressDenied:
    """The peer's security groups admit no TCP `port` from the function."""

    port: int
    peer: PeerKind  # whose groups deny: the endpoint or the database
    groups: tuple[str, ...]  # the peer's groups (where an ingress rule goes)
    from_groups: tuple[str, ...]
    from_subnet: str
    from_cidr: str

    def to_json(self) -> dict[str, Any]:
        return {
            "port": self.port,
            "groups": list(self.groups),
            "from_groups": list(self.from_groups),
            "from_subnet": self.from_subnet,
            "from_cidr": self.from_cidr,
        }


@dataclass(frozen=True, slots=True)
class RouteMissing:
    """A route table has no route at all to the destination block."""

    route_table: str
    destination: str

    def to_json(self) -> dict[str, Any]:
        return {"route_table": self.route_table, "destination": self.destination}


@dataclass(frozen=True, slots=True)
class RouteInactive:
    """The route to the destination exists but is not active (its target is gone)."""

    route_table: str
    target: str
    state: str  # the route's state as AWS reports it: "blackhole"

    def to_json(self) -> dict[str, Any]:
        return {"route_table": self.route_table, "target": self.target, "state": self.state}


@dataclass(frozen=True, slots=True)
class RouteElsewhere:
    """The route to the destination goes to a target that does not lead there (a gateway, the local route)."""

    route_table: str
    target: str
    destination: str

    def to_json(self) -> dict[str, Any]:
        return {"route_table": self.route_table, "target": self.target, "destination": self.destination}


@dataclass(frozen=True, slots=True)
class PeeringUnusable:
    """The route goes over a peering connection that is missing, not active, or joins other VPCs."""

    route_table: str
    peering: str
    why: str  # for people: "does not exist", "is pending-acceptance", "connects vpc-1 and vpc-3"

    def to_json(self) -> dict[str, Any]:
        return {"route_table": self.route_table, "peering": self.peering, "why": self.why}


@dataclass(frozen=True, slots=True)
class EndpointUnavailable:
    """The Secrets Manager endpoint the function resolves to is in a state other than available."""

    state: str  # the endpoint's state as AWS reports it: "pending", "deleting", "failed", ...

    def to_json(self) -> dict[str, Any]:
        return {"state": self.state}


# What `Finding.facts` holds: one of these, or None for findings no fix kind reads.
Evidence: TypeAlias = (
    NaclDenied
    | EgressDenied
    | IngressDenied
    | RouteMissing
    | RouteInactive
    | RouteElsewhere
    | PeeringUnusable
    | EndpointUnavailable
)

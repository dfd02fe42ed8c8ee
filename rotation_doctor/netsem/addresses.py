"""IPv4 address sets as lists of CIDR blocks: the peer of a rule is a whole subnet, not one address."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from ipaddress import IPv4Network, ip_network

AddressSet = tuple[IPv4Network, ...]

# Not reachable on the internet, so never where a public AWS endpoint answers (RFC 6890).
_NOT_PUBLIC = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "224.0.0.0/4",
    "240.0.0.0/4",
)


def ipv4(cidr: str) -> IPv4Network | None:
    """The IPv4 network of a CIDR string; None for IPv6 or anything that is not a network."""
    try:
        net = ip_network(cidr, strict=False)
    except ValueError:
        return None
    return net if isinstance(net, IPv4Network) else None


def intersection(a: IPv4Network, b: IPv4Network) -> IPv4Network | None:
    """CIDR blocks either nest or are disjoint, so the overlap is the smaller one or nothing."""
    if a.subnet_of(b):
        return a
    if b.subnet_of(a):
        return b
    return None


def subtract(addresses: Iterable[IPv4Network], remove: IPv4Network) -> AddressSet:
    """`addresses` without the block `remove`."""
    out: list[IPv4Network] = []
    for net in addresses:
        overlap = intersection(net, remove)
        if overlap is None:
            out.append(net)
        elif overlap != net:
            out.extend(net.address_exclude(overlap))
    return tuple(out)


def covered_by(addresses: Sequence[IPv4Network], blocks: Iterable[IPv4Network]) -> bool:
    """True when the union of `blocks` holds every address of `addresses`."""
    remaining: AddressSet = tuple(addresses)
    for block in blocks:
        remaining = subtract(remaining, block)
        if not remaining:
            return True
    return not remaining


@cache
def public_internet() -> AddressSet:
    """Every IPv4 address a public AWS endpoint might answer on."""
    remaining: AddressSet = (IPv4Network("0.0.0.0/0"),)
    for block in _NOT_PUBLIC:
        remaining = subtract(remaining, IPv4Network(block))
    return remaining

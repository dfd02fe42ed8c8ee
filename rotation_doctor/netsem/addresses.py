"""Address sets as lists of CIDR blocks: the peer of a rule is a whole subnet, not one address.

IPv4 and IPv6 blocks never overlap: a set may hold both families, and each block is compared only with
blocks of its own family.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from ipaddress import IPv4Network, IPv6Network, ip_network

Network = IPv4Network | IPv6Network
AddressSet = tuple[Network, ...]

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


def ipv6(cidr: str) -> IPv6Network | None:
    """The IPv6 network of a CIDR string; None for IPv4 or anything that is not a network."""
    try:
        net = ip_network(cidr, strict=False)
    except ValueError:
        return None
    return net if isinstance(net, IPv6Network) else None


def network(cidr: str) -> Network | None:
    """The network of a CIDR string of either family; None for anything that is not a network."""
    return ipv4(cidr) or ipv6(cidr)


def nested(inner: Network, outer: Network) -> bool:
    """True when every address of `inner` is in `outer` (never across families)."""
    return (
        inner.version == outer.version
        and int(outer.network_address) <= int(inner.network_address)
        and int(inner.broadcast_address) <= int(outer.broadcast_address)
    )


def intersection(a: Network, b: Network) -> Network | None:
    """CIDR blocks either nest or are disjoint, so the overlap is the smaller one or nothing."""
    if nested(a, b):
        return a
    if nested(b, a):
        return b
    return None


def exclude(net: Network, inner: Network) -> list[Network]:
    """`net` without `inner`, which lies inside it, as CIDR blocks."""
    if isinstance(net, IPv4Network) and isinstance(inner, IPv4Network):
        return list(net.address_exclude(inner))
    if isinstance(net, IPv6Network) and isinstance(inner, IPv6Network):
        return list(net.address_exclude(inner))
    raise ValueError(f"{inner} is not inside {net}")


def subtract(addresses: Iterable[Network], remove: Network) -> AddressSet:
    """`addresses` without the block `remove`."""
    out: list[Network] = []
    for net in addresses:
        overlap = intersection(net, remove)
        if overlap is None:
            out.append(net)
        elif overlap != net:
            out.extend(exclude(net, overlap))
    return tuple(out)


def covered_by(addresses: Sequence[Network], blocks: Iterable[Network]) -> bool:
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


# IPv6 global unicast space (RFC 4291, IANA): where public AWS endpoints answer over IPv6.
_IPV6_GLOBAL_UNICAST = IPv6Network("2000::/3")


def public_internet_v6() -> AddressSet:
    """Every IPv6 address a public AWS endpoint might answer on."""
    return (_IPV6_GLOBAL_UNICAST,)

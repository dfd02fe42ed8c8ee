"""Route tables: a subnet uses its explicit table, else its VPC's main table; longest prefix wins."""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Network

from rotation_doctor.model.snapshot import Route, RouteTable
from rotation_doctor.netsem.addresses import ipv4, ipv6, nested

DEFAULT_ROUTE = IPv4Network("0.0.0.0/0")


def table_for_subnet(subnet_id: str, vpc_id: str, tables: Sequence[RouteTable]) -> RouteTable | None:
    for table in tables:
        if subnet_id in table.subnet_ids:
            return table
    return next((t for t in tables if t.vpc_id == vpc_id and t.is_main), None)


def route_for(table: RouteTable, destination: IPv4Network) -> Route | None:
    """The most specific route that holds every address of `destination`."""
    best: tuple[int, Route] | None = None
    for route in table.routes:
        net = ipv4(route.destination)
        if net is None or not destination.subnet_of(net):
            continue
        if best is None or net.prefixlen > best[0]:
            best = (net.prefixlen, route)
    return best[1] if best else None


def routes_inside(table: RouteTable, destination: IPv4Network) -> tuple[Route, ...]:
    """Routes more specific than `destination` that take part of it elsewhere."""
    out = []
    for route in table.routes:
        net = ipv4(route.destination)
        if net is not None and net != destination and net.subnet_of(destination):
            out.append(route)
    return tuple(out)


# ----- IPv6: the table's IPv6 routes (`RouteTable.ipv6_routes`) are matched on their own ----------------

DEFAULT_ROUTE_V6 = IPv6Network("::/0")


def ipv6_route_for(table: RouteTable, destination: IPv6Network) -> Route | None:
    """The most specific IPv6 route that holds every address of `destination` (IPv4 routes never match)."""
    best: tuple[int, Route] | None = None
    for route in table.ipv6_routes:
        net = ipv6(route.destination)
        if net is None or not nested(destination, net):
            continue
        if best is None or net.prefixlen > best[0]:
            best = (net.prefixlen, route)
    return best[1] if best else None

"""Route tables: a subnet uses its explicit table, else its VPC's main table; AWS's route priority picks the route.

AWS's route priority (Amazon VPC User Guide, "How route priority works"): the longest prefix that matches
wins; IPv4 and IPv6 routes are independent of each other; for the same prefix, a static route (a CIDR
destination) comes before a prefix-list route. A prefix-list route stands for one route per entry of the list.
A list that was not read might hold the deciding entry: the choice is then unknown, never "no route".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network

from rotation_doctor.model.reads import matching
from rotation_doctor.model.snapshot import PrefixList, Route, RouteTable
from rotation_doctor.netsem.addresses import Network, ipv4, nested, network

DEFAULT_ROUTE = IPv4Network("0.0.0.0/0")
DEFAULT_ROUTE_V6 = IPv6Network("::/0")


def table_for_subnet(subnet_id: str, vpc_id: str, tables: Sequence[RouteTable]) -> RouteTable | None:
    # Queries, not walks: a snapshot seen through `model.reads.tracking` records that only the table listing the
    # subnet (or, with none, the VPC's main table) was read.
    listing = matching(tables, subnet_ids=subnet_id)
    if listing:
        return listing[0]
    return next(iter(matching(tables, vpc_id=vpc_id, is_main=True)), None)


@dataclass(frozen=True)
class Choice:
    """The route a table picks for every address of a destination, or the unread lists that keep it unknown."""

    route: Route | None  # None: no route (when `known`), or unknown
    unread_prefix_lists: tuple[str, ...] = ()

    @property
    def known(self) -> bool:
        return not self.unread_prefix_lists


def priority(destination: Network, from_prefix_list: bool) -> tuple[int, bool]:
    """How AWS ranks a matching route ("How route priority works", VPC User Guide): the longest prefix first; for
    the same prefix, a static CIDR route before a prefix-list route. Higher ranks first."""
    return (destination.prefixlen, not from_prefix_list)


def choose(table: RouteTable, destination: Network, prefix_lists: Mapping[str, PrefixList]) -> Choice:
    """The route that holds every address of `destination`, among the routes of its family and the entries of
    the prefix lists that routes name (`prefix_lists`: those read, by id)."""
    own_family = table.ipv6_routes if isinstance(destination, IPv6Network) else table.routes
    candidates = [(route.destination, route, False) for route in own_family]
    unread = sorted({r.destination for r in table.prefix_list_routes if r.destination not in prefix_lists})
    candidates += [
        (cidr, route, True)
        for route in table.prefix_list_routes
        if route.destination in prefix_lists
        for cidr in prefix_lists[route.destination].cidrs
    ]
    best: tuple[tuple[int, bool], Route] | None = None
    for cidr, route, from_prefix_list in candidates:
        net = network(cidr)
        if net is not None and nested(destination, net):
            rank = priority(net, from_prefix_list)
            if best is None or rank > best[0]:
                best = (rank, route)
    # An unread list's entry that holds `destination` is at most as long as it, and loses a tie to a CIDR route:
    # only a CIDR route exactly as long as `destination` is sure to win over it.
    if unread and (best is None or best[0] != priority(destination, from_prefix_list=False)):
        return Choice(None, tuple(unread))
    return Choice(best[1] if best is not None else None)


def routes_inside(table: RouteTable, destination: IPv4Network) -> tuple[Route, ...]:
    """Routes more specific than `destination` that take part of it elsewhere."""
    out = []
    for route in table.routes:
        net = ipv4(route.destination)
        if net is not None and net != destination and net.subnet_of(destination):
            out.append(route)
    return tuple(out)

"""Before private DNS takes the public Secrets Manager name away from a whole VPC: who calls it today?

Every ENI in the VPC whose subnet reaches the public endpoint through a NAT gateway may be calling
Secrets Manager. Once private DNS is on, they all go to the endpoint instead: its group admits the
VPC's CIDR blocks, so what matters is whether their own groups let TCP 443 out to the endpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network

from rotation_doctor.analysis.flows import groups
from rotation_doctor.model.snapshot import NetworkInterface, Snapshot
from rotation_doctor.netsem import routes, security_groups
from rotation_doctor.netsem.addresses import ipv4

_SKIP_TYPES = {"vpc_endpoint", "nat_gateway", "gateway_load_balancer_endpoint", "network_load_balancer"}


@dataclass(frozen=True)
class Callers:
    moving: tuple[NetworkInterface, ...]  # reach SM through NAT today, and will reach the endpoint
    stranded: dict[str, tuple[NetworkInterface, ...]]  # first group id -> ENIs whose groups would block 443
    unread: bool  # the ENIs of the VPC were not read: nobody can say

    def notes(self, vpc_id: str) -> tuple[str, ...]:
        if self.unread:
            return (
                f"Could not list the network interfaces of {vpc_id} (ec2:DescribeNetworkInterfaces): other "
                "callers of Secrets Manager in the VPC were not checked.",
            )
        out = []
        if self.moving or self.stranded:
            count = len(self.moving) + sum(len(v) for v in self.stranded.values())
            kinds = sorted(
                {e.interface_type or "interface" for e in self.moving}
                | {e.interface_type or "interface" for v in self.stranded.values() for e in v}
            )
            out.append(
                f"{count} other network interface(s) in {vpc_id} ({', '.join(kinds)}) reach Secrets Manager "
                "through a NAT gateway today and will use the endpoint once private DNS is on."
            )
        for group, enis in self.stranded.items():
            out.append(
                f"Group {group} ({len(enis)} interface(s), e.g. {enis[0].id}) allows no TCP 443 to the "
                "endpoint: the plan adds that egress rule so they keep working."
            )
        return tuple(out)


def current_callers(snap: Snapshot, vpc_id: str, endpoint_group: str, endpoint_subnets: Sequence[str]) -> Callers:
    if snap.network_interfaces is None:
        return Callers((), {}, True)
    fn = snap.function
    own_groups = set(fn.security_group_ids) if fn else set()
    endpoint_nets: list[IPv4Network] = [
        n for s in endpoint_subnets if s in snap.subnets for n in [ipv4(snap.subnets[s].cidr)] if n
    ]
    moving: list[NetworkInterface] = []
    stranded: dict[str, list[NetworkInterface]] = {}
    for eni in snap.network_interfaces:
        subnet = snap.subnets.get(eni.subnet_id)
        if subnet is None or subnet.vpc_id != vpc_id or eni.interface_type in _SKIP_TYPES:
            continue
        if set(eni.group_ids) == own_groups:
            continue  # the rotation function itself: its path is the plan's own business
        if not _reaches_public_endpoint(snap, eni.subnet_id, vpc_id):
            continue
        peer = security_groups.Peer(frozenset({endpoint_group}), tuple(endpoint_nets))
        allowed = security_groups.allows_tcp(
            groups(snap, eni.group_ids), egress=True, port=443, peer=peer, prefix_lists=snap.prefix_lists
        ).allowed
        if allowed or not eni.group_ids:
            moving.append(eni)
        else:
            stranded.setdefault(eni.group_ids[0], []).append(eni)
    return Callers(tuple(moving), {k: tuple(v) for k, v in stranded.items()}, False)


def _reaches_public_endpoint(snap: Snapshot, subnet_id: str, vpc_id: str) -> bool:
    table = routes.table_for_subnet(subnet_id, vpc_id, snap.route_tables)
    choice = routes.choose(table, routes.DEFAULT_ROUTE, snap.prefix_lists) if table else None
    if choice is not None and not choice.known:
        return True  # it may reach it: weighed as a caller the endpoint's private DNS would move
    route = choice.route if choice is not None else None
    if route is None or route.state != "active" or route.target_kind != "nat":
        return False
    nat = snap.nat_gateways.get(route.target)
    return nat is not None and nat.state == "available"

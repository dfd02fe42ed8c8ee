"""The one vocabulary of changes to a snapshot: what a fix kind's calls do, and what a planned Terraform or
CloudFormation change does, as typed edits applied by one pure `apply(snapshot, edits)`.

Each edit is a frozen dataclass naming the ids it `touches` (what-if diagnoses again the secrets whose paths use
one of them). Where an edit stands for one AWS call, it does what that call does, refusals included: a call AWS
refuses leaves the snapshot as it was, so a simulation never claims the effect of a call that will fail. The
behaviour is modelled from the EC2 and Lambda API references (cited per edit, from the project's knowledge of them;
the search tool was not available to check each page again).

A fact the snapshot does not hold (a group, a list, a table that was not read or is not on any path) is left
alone: an edit never invents the rest of a resource it only changes a part of.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from ipaddress import ip_network

from rotation_doctor.model.snapshot import (
    DnsAttributes,
    NaclEntry,
    NatGateway,
    NetworkAcl,
    PeeringConnection,
    PolicyDocument,
    PrefixList,
    Route,
    RouteTable,
    SecurityGroup,
    SecurityGroupRule,
    Snapshot,
    TransitGatewayAttachment,
    TransitGatewayRoute,
    TransitGatewayRouteTable,
    VpcEndpoint,
)


class Edit:
    """One change to the facts. Subclasses are frozen dataclasses; `apply` is the way to apply them."""

    def touches(self) -> frozenset[str]:
        raise NotImplementedError

    def applied(self, snap: Snapshot) -> Snapshot:
        """The snapshot with this edit made (`apply` gathers `AddRules`; call that, not this)."""
        raise NotImplementedError


def apply(snapshot: Snapshot, edits: Iterable[Edit]) -> Snapshot:
    """The snapshot once every edit is made, in order. Rules added to a group are gathered until the next edit of
    another kind and added at once: each addition copying the group's rules made a plan of thousands of rules
    quadratic (additions to different groups commute, their order in a group is kept)."""
    added: dict[str, list[SecurityGroupRule]] = {}

    def flush(s: Snapshot) -> Snapshot:
        for group_id, rules in added.items():
            s = _add_rules(s, group_id, rules)
        added.clear()
        return s

    for edit in edits:
        if isinstance(edit, AddRules):
            added.setdefault(edit.group_id, []).extend(edit.rules)
            continue
        snapshot = edit.applied(flush(snapshot))
    return flush(snapshot)


# ----- security groups ---------------------------------------------------------------------------


def _rule_identity(rule: SecurityGroupRule) -> SecurityGroupRule:
    """AWS matches rules by everything but their description (to revoke one, and to refuse a duplicate)."""
    return replace(rule, description=None)


def _with_group(snap: Snapshot, group_id: str, change: Callable[[SecurityGroup], SecurityGroup]) -> Snapshot:
    group = snap.security_groups.get(group_id)
    if group is None:  # a group the snapshot does not hold is used by none of its paths
        return snap
    return replace(snap, security_groups={**snap.security_groups, group_id: change(group)})


def _add_rules(snap: Snapshot, group_id: str, rules: Iterable[SecurityGroupRule]) -> Snapshot:
    def add(group: SecurityGroup) -> SecurityGroup:
        seen = {_rule_identity(r) for r in group.rules}
        new = []
        for rule in rules:
            identity = _rule_identity(rule)
            if identity not in seen:
                seen.add(identity)
                new.append(rule)
        return replace(group, rules=(*group.rules, *new))

    return _with_group(snap, group_id, add)


@dataclass(frozen=True)
class AddRules(Edit):
    """AuthorizeSecurityGroupIngress/Egress. A rule the group already has (its description aside) is refused with
    InvalidPermission.Duplicate (EC2 API Reference, AuthorizeSecurityGroupIngress; "Common client error codes"):
    the group keeps its one copy."""

    group_id: str
    rules: tuple[SecurityGroupRule, ...]

    def touches(self) -> frozenset[str]:
        return frozenset({self.group_id})

    def applied(self, snap: Snapshot) -> Snapshot:
        return _add_rules(snap, self.group_id, self.rules)


@dataclass(frozen=True)
class RemoveRules(Edit):
    """RevokeSecurityGroupIngress/Egress: the rules matching these, their descriptions aside."""

    group_id: str
    rules: tuple[SecurityGroupRule, ...]

    def touches(self) -> frozenset[str]:
        return frozenset({self.group_id})

    def applied(self, snap: Snapshot) -> Snapshot:
        gone = {_rule_identity(r) for r in self.rules}

        def without(g: SecurityGroup) -> SecurityGroup:
            return replace(g, rules=tuple(r for r in g.rules if _rule_identity(r) not in gone))

        return _with_group(snap, self.group_id, without)


@dataclass(frozen=True)
class PutSecurityGroup(Edit):
    """A group made (a fix kind's own group with the rules it leaves on it; a plan's new group under its stand-in
    id): a change that points a path at it is then judged against these rules, not left unread."""

    group: SecurityGroup

    def touches(self) -> frozenset[str]:
        return frozenset({self.group.id})

    def applied(self, snap: Snapshot) -> Snapshot:
        return replace(snap, security_groups={**snap.security_groups, self.group.id: self.group})


@dataclass(frozen=True)
class SetRules(Edit):
    """A group's rules of one direction (or both, `egress=None`) replaced: inline rules, or a deleted group
    (AWS refuses to delete a group in use; if it could, nothing it admitted would be admitted)."""

    group_id: str
    rules: tuple[SecurityGroupRule, ...]
    egress: bool | None = None

    def touches(self) -> frozenset[str]:
        return frozenset({self.group_id})

    def applied(self, snap: Snapshot) -> Snapshot:
        def kept(g: SecurityGroup) -> SecurityGroup:
            others = () if self.egress is None else tuple(r for r in g.rules if r.egress is not self.egress)
            return replace(g, rules=(*others, *self.rules))

        return _with_group(snap, self.group_id, kept)


# ----- routes ------------------------------------------------------------------------------------


def _tables(snap: Snapshot, table_id: str, change: Callable[[RouteTable], RouteTable]) -> Snapshot:
    return replace(snap, route_tables=tuple(change(t) if t.id == table_id else t for t in snap.route_tables))


def is_ipv6(cidr: str) -> bool:
    return ":" in cidr


def is_prefix_list(destination: str) -> bool:
    """Whether a route's destination is a managed prefix list (DestinationPrefixListId, "pl-" and hex, as EC2 names
    every list) rather than a CIDR block: a CIDR never begins with a letter."""
    return destination.startswith("pl-")


def _same_destination(a: str, b: str) -> bool:
    """Whether two destinations (of a route, or a prefix list's entries) are one. A prefix list is its id, exactly; a
    CIDR block is compared as AWS stores it, which for IPv6 is the canonical text: lowercase, zeros compressed (RFC
    5952; EC2 describes `2001:DB8::/64` as `2001:db8::/64`; from our knowledge of EC2's answers, not a quoted page)."""
    return _canonical(a) == _canonical(b)


def _canonical(destination: str) -> str:
    if is_prefix_list(destination):
        return destination
    try:
        return str(ip_network(destination))  # strict: a block with host bits set is no block AWS stores
    except ValueError:
        return destination  # not a CIDR block: compared as written


def _family_routes(table: RouteTable, destination: str) -> tuple[Route, ...]:
    if is_prefix_list(destination):
        return table.prefix_list_routes
    return table.ipv6_routes if is_ipv6(destination) else table.routes


def _family(
    table: RouteTable, destination: str, routes: Callable[[tuple[Route, ...]], tuple[Route, ...]]
) -> RouteTable:
    """The table with the routes of `destination`'s kind (IPv4 `routes`, `ipv6_routes`, or `prefix_list_routes`,
    where a route's destination is the list's id) changed."""
    if is_prefix_list(destination):
        return replace(table, prefix_list_routes=routes(table.prefix_list_routes))
    if is_ipv6(destination):
        return replace(table, ipv6_routes=routes(table.ipv6_routes))
    return replace(table, routes=routes(table.routes))


def _route_call(table_id: str, route: Route, *, exists: bool) -> Callable[[RouteTable], RouteTable]:
    """The table after a call that puts `route` in place of its destination's, made only when a route to that
    destination `exists` (ReplaceRoute) or does not (CreateRoute). A prefix list is a destination of its own: a
    table holds at most one route to a list, beside any CIDR routes its entries overlap (which AWS's route priority
    then ranks, `netsem.routes`)."""

    def put(table: RouteTable) -> RouteTable:
        routed = any(
            _same_destination(r.destination, route.destination) for r in _family_routes(table, route.destination)
        )
        if routed is not exists:
            return table  # refused: the table stays as it is
        return _family(
            table,
            route.destination,
            lambda rs: (*(r for r in rs if not _same_destination(r.destination, route.destination)), route),
        )

    return put


def _route_touches(table_id: str, route: Route) -> frozenset[str]:
    """The table, the target, and a prefix-list destination (a change to that list's entries changes the route)."""
    return frozenset({table_id, route.target, *([route.destination] if is_prefix_list(route.destination) else [])})


@dataclass(frozen=True)
class CreateRoute(Edit):
    """CreateRoute, to a CIDR block or a prefix list (DestinationPrefixListId). A table that already routes the
    destination refuses it with RouteAlreadyExists (EC2 API Reference, CreateRoute; ReplaceRoute is the call that
    changes a route): the table keeps its route."""

    table_id: str
    route: Route

    def touches(self) -> frozenset[str]:
        return _route_touches(self.table_id, self.route)

    def applied(self, snap: Snapshot) -> Snapshot:
        return _tables(snap, self.table_id, _route_call(self.table_id, self.route, exists=False))


@dataclass(frozen=True)
class ReplaceRoute(Edit):
    """ReplaceRoute: the destination's route (a CIDR block's or a prefix list's) goes to the new target. A table with
    no route to the destination refuses it (InvalidRoute.NotFound): nothing changes."""

    table_id: str
    route: Route

    def touches(self) -> frozenset[str]:
        return _route_touches(self.table_id, self.route)

    def applied(self, snap: Snapshot) -> Snapshot:
        return _tables(snap, self.table_id, _route_call(self.table_id, self.route, exists=True))


@dataclass(frozen=True)
class RemoveRoute(Edit):
    """DeleteRoute of a CIDR block or a prefix list (none to delete: nothing changes)."""

    table_id: str
    destination: str

    def touches(self) -> frozenset[str]:
        return frozenset({self.table_id})

    def applied(self, snap: Snapshot) -> Snapshot:
        return _tables(
            snap,
            self.table_id,
            lambda t: _family(
                t,
                self.destination,
                lambda rs: tuple(r for r in rs if not _same_destination(r.destination, self.destination)),
            ),
        )


@dataclass(frozen=True)
class SetRoutes(Edit):
    """A table's inline routes (IPv4, IPv6 and prefix-list destinations) replaced. What no template's inline routes
    declare stays: the local routes, and a gateway endpoint's routes to its service's prefix list, which the endpoint
    owns (AWS adds them for each table the endpoint names; Terraform's inline routes leave them out)."""

    table_id: str
    routes: tuple[Route, ...]
    ipv6_routes: tuple[Route, ...] = ()
    prefix_list_routes: tuple[Route, ...] = ()

    def touches(self) -> frozenset[str]:
        declared = (*self.routes, *self.ipv6_routes, *self.prefix_list_routes)
        return frozenset(
            {self.table_id, *(r.target for r in declared), *(r.destination for r in self.prefix_list_routes)}
        )

    def applied(self, snap: Snapshot) -> Snapshot:
        def local(routes: tuple[Route, ...]) -> tuple[Route, ...]:
            return tuple(r for r in routes if r.target == "local")

        declared = {r.destination for r in self.prefix_list_routes}

        def endpoints(routes: tuple[Route, ...]) -> tuple[Route, ...]:
            return tuple(r for r in routes if r.target_kind == "vpce" and r.destination not in declared)

        return _tables(
            snap,
            self.table_id,
            lambda t: replace(
                t,
                routes=(*local(t.routes), *self.routes),
                ipv6_routes=(*local(t.ipv6_routes), *self.ipv6_routes),
                prefix_list_routes=(*endpoints(t.prefix_list_routes), *self.prefix_list_routes),
            ),
        )


@dataclass(frozen=True)
class DeleteEgressOnlyGateway(Edit):
    """An egress-only internet gateway deleted: AWS keeps the routes to it, as blackholes."""

    gateway_id: str

    def touches(self) -> frozenset[str]:
        return frozenset({self.gateway_id})

    def applied(self, snap: Snapshot) -> Snapshot:
        def dead(routes: tuple[Route, ...]) -> tuple[Route, ...]:
            return tuple(replace(r, state="blackhole") if r.target == self.gateway_id else r for r in routes)

        tables = tuple(replace(t, routes=dead(t.routes), ipv6_routes=dead(t.ipv6_routes)) for t in snap.route_tables)
        return replace(snap, route_tables=tables)


@dataclass(frozen=True)
class PutRouteTable(Edit):
    table: RouteTable

    def touches(self) -> frozenset[str]:
        return frozenset({self.table.id, *self.table.subnet_ids})

    def applied(self, snap: Snapshot) -> Snapshot:
        return replace(snap, route_tables=(*(t for t in snap.route_tables if t.id != self.table.id), self.table))


@dataclass(frozen=True)
class DeleteRouteTable(Edit):
    """Its subnets fall back to the VPC's main table."""

    table_id: str

    def touches(self) -> frozenset[str]:
        return frozenset({self.table_id})

    def applied(self, snap: Snapshot) -> Snapshot:
        return replace(snap, route_tables=tuple(t for t in snap.route_tables if t.id != self.table_id))


@dataclass(frozen=True)
class AssociateTable(Edit):
    """A subnet's explicit table set (`table_id` None: the association removed, the main table again)."""

    subnet_id: str
    table_id: str | None

    def touches(self) -> frozenset[str]:
        return frozenset({self.subnet_id} | ({self.table_id} if self.table_id else set()))

    def applied(self, snap: Snapshot) -> Snapshot:
        tables = []
        for t in snap.route_tables:
            subnets = tuple(s for s in t.subnet_ids if s != self.subnet_id)
            if t.id == self.table_id:
                subnets = (*subnets, self.subnet_id)
            tables.append(replace(t, subnet_ids=subnets))
        return replace(snap, route_tables=tuple(tables))


# ----- network ACLs ------------------------------------------------------------------------------


_FINAL_RULES = (32767, 32768)


def _acls(snap: Snapshot, acl_id: str, change: Callable[[NetworkAcl], NetworkAcl]) -> Snapshot:
    return replace(snap, network_acls=tuple(change(a) if a.id == acl_id else a for a in snap.network_acls))


def _entry_call(entry: NaclEntry, *, exists: bool) -> Callable[[NetworkAcl], NetworkAcl]:
    """The ACL after a call that puts `entry` under its rule number and direction, made only when an entry holds
    that number in that direction (`exists`: ReplaceNetworkAclEntry) or none does (CreateNetworkAclEntry)."""
    key = (entry.rule_number, entry.egress)

    def put(acl: NetworkAcl) -> NetworkAcl:
        kept = tuple(x for x in acl.entries if (x.rule_number, x.egress) != key)
        if (len(kept) < len(acl.entries)) is not exists:
            return acl  # refused: the ACL stays as it is
        return replace(acl, entries=(*kept, entry))

    return put


@dataclass(frozen=True)
class CreateNaclEntry(Edit):
    """CreateNetworkAclEntry. A rule number already used in the entry's direction (by an IPv4 or an IPv6 entry:
    they share the numbers) is refused with NetworkAclEntryAlreadyExists (EC2 API Reference, CreateNetworkAclEntry:
    "If there is an existing entry with the same rule number in the same direction, the call fails"; "to replace
    an entry, use ReplaceNetworkAclEntry"). The entry that holds the number stays: a fix kind plans only free
    numbers (`remediations.add_nacl_entries`), and a plan that creates an entry on a taken number fails there."""

    acl_id: str
    entry: NaclEntry

    def touches(self) -> frozenset[str]:
        return frozenset({self.acl_id})

    def applied(self, snap: Snapshot) -> Snapshot:
        return _acls(snap, self.acl_id, _entry_call(self.entry, exists=False))


@dataclass(frozen=True)
class ReplaceNaclEntry(Edit):
    """ReplaceNetworkAclEntry: the entry under the same rule number and direction becomes this one (EC2 API
    Reference, ReplaceNetworkAclEntry). No entry there: AWS refuses it (InvalidNetworkAclEntry.NotFound) and
    nothing changes. CloudFormation's in-place update of an AWS::EC2::NetworkAclEntry makes this call."""

    acl_id: str
    entry: NaclEntry

    def touches(self) -> frozenset[str]:
        return frozenset({self.acl_id})

    def applied(self, snap: Snapshot) -> Snapshot:
        return _acls(snap, self.acl_id, _entry_call(self.entry, exists=True))


@dataclass(frozen=True)
class RemoveNaclEntry(Edit):
    """DeleteNetworkAclEntry (none under that number and direction: nothing changes)."""

    acl_id: str
    rule_number: int
    egress: bool

    def touches(self) -> frozenset[str]:
        return frozenset({self.acl_id})

    def applied(self, snap: Snapshot) -> Snapshot:
        key = (self.rule_number, self.egress)
        return _acls(
            snap,
            self.acl_id,
            lambda a: replace(a, entries=tuple(x for x in a.entries if (x.rule_number, x.egress) != key)),
        )


@dataclass(frozen=True)
class SetNaclEntries(Edit):
    """An ACL's inline entries replaced; the final deny-alls (rules 32767 and IPv6's 32768, never declared) stay."""

    acl_id: str
    entries: tuple[NaclEntry, ...]

    def touches(self) -> frozenset[str]:
        return frozenset({self.acl_id})

    def applied(self, snap: Snapshot) -> Snapshot:
        return _acls(
            snap,
            self.acl_id,
            lambda a: replace(a, entries=(*(x for x in a.entries if x.rule_number in _FINAL_RULES), *self.entries)),
        )


@dataclass(frozen=True)
class AssociateAcl(Edit):
    """A subnet moved to an ACL (`acl_id` None: back to its VPC's default ACL)."""

    subnet_id: str
    acl_id: str | None

    def touches(self) -> frozenset[str]:
        return frozenset({self.subnet_id} | ({self.acl_id} if self.acl_id else set()))

    def applied(self, snap: Snapshot) -> Snapshot:
        subnet = snap.subnets.get(self.subnet_id)
        target = self.acl_id
        if target is None and subnet is not None:
            target = next((a.id for a in snap.network_acls if a.vpc_id == subnet.vpc_id and a.is_default), None)
        acls = []
        for a in snap.network_acls:
            subnets = tuple(s for s in a.subnet_ids if s != self.subnet_id)
            acls.append(replace(a, subnet_ids=(*subnets, self.subnet_id) if a.id == target else subnets))
        return replace(snap, network_acls=tuple(acls))


@dataclass(frozen=True)
class PutAcl(Edit):
    acl: NetworkAcl

    def touches(self) -> frozenset[str]:
        return frozenset({self.acl.id, *self.acl.subnet_ids})

    def applied(self, snap: Snapshot) -> Snapshot:
        s = replace(snap, network_acls=(*(a for a in snap.network_acls if a.id != self.acl.id), self.acl))
        for subnet in self.acl.subnet_ids:
            s = AssociateAcl(subnet, self.acl.id).applied(s)
        return s


@dataclass(frozen=True)
class DeleteAcl(Edit):
    acl_id: str

    def touches(self) -> frozenset[str]:
        return frozenset({self.acl_id})

    def applied(self, snap: Snapshot) -> Snapshot:
        acl = next((a for a in snap.network_acls if a.id == self.acl_id), None)
        for subnet in acl.subnet_ids if acl else ():
            snap = AssociateAcl(subnet, None).applied(snap)
        return replace(snap, network_acls=tuple(a for a in snap.network_acls if a.id != self.acl_id))


# ----- endpoints, gateways, peerings, VPCs ---------------------------------------------------------


@dataclass(frozen=True)
class PutEndpoint(Edit):
    endpoint: VpcEndpoint

    def touches(self) -> frozenset[str]:
        e = self.endpoint
        return frozenset({e.id, e.vpc_id, *e.subnet_ids, *e.group_ids})

    def applied(self, snap: Snapshot) -> Snapshot:
        kept = tuple(e for e in snap.vpc_endpoints if e.id != self.endpoint.id)
        return replace(snap, vpc_endpoints=(*kept, self.endpoint))


@dataclass(frozen=True)
class SetEndpointPrivateDns(Edit):
    """ModifyVpcEndpoint's PrivateDnsEnabled on an endpoint the snapshot holds."""

    endpoint_id: str
    enabled: bool

    def touches(self) -> frozenset[str]:
        return frozenset({self.endpoint_id})

    def applied(self, snap: Snapshot) -> Snapshot:
        return replace(
            snap,
            vpc_endpoints=tuple(
                replace(e, private_dns_enabled=self.enabled) if e.id == self.endpoint_id else e
                for e in snap.vpc_endpoints
            ),
        )


@dataclass(frozen=True)
class DeleteEndpoint(Edit):
    endpoint_id: str

    def touches(self) -> frozenset[str]:
        return frozenset({self.endpoint_id})

    def applied(self, snap: Snapshot) -> Snapshot:
        return replace(snap, vpc_endpoints=tuple(e for e in snap.vpc_endpoints if e.id != self.endpoint_id))


@dataclass(frozen=True)
class PutNatGateway(Edit):
    """A NAT gateway made or changed; deleted, it stays with its state "deleted" (routes to it are blackholes)."""

    nat: NatGateway

    def touches(self) -> frozenset[str]:
        return frozenset({self.nat.id})

    def applied(self, snap: Snapshot) -> Snapshot:
        return replace(snap, nat_gateways={**snap.nat_gateways, self.nat.id: self.nat})


@dataclass(frozen=True)
class PutPeering(Edit):
    peering: PeeringConnection

    def touches(self) -> frozenset[str]:
        p = self.peering
        return frozenset({p.id, p.requester_vpc_id, p.accepter_vpc_id})

    def applied(self, snap: Snapshot) -> Snapshot:
        return replace(snap, peerings={**snap.peerings, self.peering.id: self.peering})


@dataclass(frozen=True)
class SetVpcDns(Edit):
    vpc_id: str
    attributes: DnsAttributes

    def touches(self) -> frozenset[str]:
        return frozenset({self.vpc_id})

    def applied(self, snap: Snapshot) -> Snapshot:
        return replace(snap, dns_attributes={**snap.dns_attributes, self.vpc_id: self.attributes})


# ----- managed prefix lists ----------------------------------------------------------------------


def _lists(snap: Snapshot, list_id: str, change: Callable[[PrefixList], PrefixList]) -> Snapshot:
    found = snap.prefix_lists.get(list_id)
    if found is None:  # a list the snapshot does not hold: no rule on a read path names it (or it was not read)
        return snap
    return replace(snap, prefix_lists={**snap.prefix_lists, list_id: change(found)})


@dataclass(frozen=True)
class SetPrefixListCidrs(Edit):
    """A managed prefix list's entries replaced (deleted: none, as a deleted group admits nothing)."""

    list_id: str
    cidrs: tuple[str, ...]

    def touches(self) -> frozenset[str]:
        return frozenset({self.list_id})

    def applied(self, snap: Snapshot) -> Snapshot:
        return _lists(snap, self.list_id, lambda p: replace(p, cidrs=self.cidrs))


@dataclass(frozen=True)
class PutPrefixListCidr(Edit):
    """One entry of a managed prefix list added (`present`) or removed."""

    list_id: str
    cidr: str
    present: bool

    def touches(self) -> frozenset[str]:
        return frozenset({self.list_id})

    def applied(self, snap: Snapshot) -> Snapshot:
        def put(p: PrefixList) -> PrefixList:
            kept = tuple(c for c in p.cidrs if not _same_destination(c, self.cidr))
            return replace(p, cidrs=(*kept, self.cidr) if self.present else kept)

        return _lists(snap, self.list_id, put)


# ----- transit gateways --------------------------------------------------------------------------


def _tgw_table(
    snap: Snapshot, table_id: str, change: Callable[[TransitGatewayRouteTable], TransitGatewayRouteTable]
) -> Snapshot:
    table = snap.tgw_route_tables.get(table_id)
    if table is None:  # not read: no path was judged through it
        return snap
    return replace(snap, tgw_route_tables={**snap.tgw_route_tables, table_id: change(table)})


def _static_kept(table: TransitGatewayRouteTable, destination: str) -> tuple[TransitGatewayRoute, ...]:
    """The routes but the static route to `destination` (a prefix-list reference is not one, whatever it lists)."""
    return tuple(
        r
        for r in table.routes
        if not (_same_destination(r.destination, destination) and r.route_type == "static" and not r.prefix_list_id)
    )


@dataclass(frozen=True)
class PutTgwRoute(Edit):
    """A static route of a transit gateway route table made or changed (it beats a propagated one)."""

    table_id: str
    route: TransitGatewayRoute

    def touches(self) -> frozenset[str]:
        return frozenset({self.table_id, *self.route.attachment_ids})

    def applied(self, snap: Snapshot) -> Snapshot:
        return _tgw_table(
            snap, self.table_id, lambda t: replace(t, routes=(*_static_kept(t, self.route.destination), self.route))
        )


@dataclass(frozen=True)
class RemoveTgwRoute(Edit):
    """A static route removed (a propagated route to the same block, if any, serves again)."""

    table_id: str
    destination: str

    def touches(self) -> frozenset[str]:
        return frozenset({self.table_id})

    def applied(self, snap: Snapshot) -> Snapshot:
        return _tgw_table(snap, self.table_id, lambda t: replace(t, routes=_static_kept(t, self.destination)))


def _reference_call(
    prefix_list_id: str, reference: TransitGatewayRoute | None, *, exists: bool
) -> Callable[[TransitGatewayRouteTable], TransitGatewayRouteTable]:
    """The table after a call on its reference to a prefix list, made only when the table references the list
    (`exists`: Modify..., Delete...) or does not (Create...); `reference` None: deleted. Modify and Delete name a
    reference by its table and list alone (EC2 API Reference, ModifyTransitGatewayPrefixListReference,
    DeleteTransitGatewayPrefixListReference), so a table holds at most one reference to a list and a second Create
    is refused: the reference that holds the list stays."""

    def put(table: TransitGatewayRouteTable) -> TransitGatewayRouteTable:
        kept = tuple(r for r in table.routes if r.prefix_list_id != prefix_list_id)
        if (len(kept) < len(table.routes)) is not exists:
            return table  # refused: the table stays as it is
        return replace(table, routes=(*kept, *([reference] if reference is not None else [])))

    return put


@dataclass(frozen=True)
class PutTgwPrefixListReference(Edit):
    """CreateTransitGatewayPrefixListReference (`exists` False) or ModifyTransitGatewayPrefixListReference (True):
    each entry of the list routed to the attachment, or dropped (a blackhole), ranked after a static route of the
    same prefix and before a propagated one (`netsem.transit_gateways`)."""

    table_id: str
    prefix_list_id: str
    attachment_ids: tuple[str, ...]  # none: a blackhole
    exists: bool = False

    def touches(self) -> frozenset[str]:
        return frozenset({self.table_id, self.prefix_list_id, *self.attachment_ids})

    def applied(self, snap: Snapshot) -> Snapshot:
        state = "active" if self.attachment_ids else "blackhole"
        reference = TransitGatewayRoute("", self.attachment_ids, state, prefix_list_id=self.prefix_list_id)
        return _tgw_table(snap, self.table_id, _reference_call(self.prefix_list_id, reference, exists=self.exists))


@dataclass(frozen=True)
class RemoveTgwPrefixListReference(Edit):
    """DeleteTransitGatewayPrefixListReference (none: nothing changes)."""

    table_id: str
    prefix_list_id: str

    def touches(self) -> frozenset[str]:
        return frozenset({self.table_id, self.prefix_list_id})

    def applied(self, snap: Snapshot) -> Snapshot:
        return _tgw_table(snap, self.table_id, _reference_call(self.prefix_list_id, None, exists=True))


def _attachment(
    snap: Snapshot, attachment_id: str, change: Callable[[TransitGatewayAttachment], TransitGatewayAttachment]
) -> Snapshot:
    found = snap.tgw_attachments.get(attachment_id)
    if found is None:
        return snap
    return replace(snap, tgw_attachments={**snap.tgw_attachments, attachment_id: change(found)})


@dataclass(frozen=True)
class AssociateTgwTable(Edit):
    """An attachment's transit gateway route table set (None: disassociated, its traffic goes nowhere)."""

    attachment_id: str
    table_id: str | None

    def touches(self) -> frozenset[str]:
        return frozenset({self.attachment_id} | ({self.table_id} if self.table_id else set()))

    def applied(self, snap: Snapshot) -> Snapshot:
        return _attachment(snap, self.attachment_id, lambda a: replace(a, route_table_id=self.table_id))


@dataclass(frozen=True)
class UpdateTgwAttachment(Edit):
    """A VPC attachment's subnets and appliance mode changed, or the attachment deleted (`state`)."""

    attachment_id: str
    subnet_ids: tuple[str, ...] | None = None
    appliance_mode: bool | None = None
    state: str | None = None

    def touches(self) -> frozenset[str]:
        return frozenset({self.attachment_id, *(self.subnet_ids or ())})

    def applied(self, snap: Snapshot) -> Snapshot:
        def update(a: TransitGatewayAttachment) -> TransitGatewayAttachment:
            if self.subnet_ids is not None:
                a = replace(a, subnet_ids=self.subnet_ids)
            if self.appliance_mode is not None:
                a = replace(a, appliance_mode=self.appliance_mode)
            return replace(a, state=self.state) if self.state is not None else a

        return _attachment(snap, self.attachment_id, update)


# ----- the function and the database -------------------------------------------------------------

_KEEP = "(keep)"


def _names(snap: Snapshot, function: str) -> bool:
    """Whether `function` (a name or an ARN) is the snapshot's rotation function."""
    return snap.function is not None and function in (snap.function.name, snap.function.arn)


@dataclass(frozen=True)
class UpdateFunction(Edit):
    """The rotation function's network settings and the one environment variable the diagnosis reads. A field
    left None is unchanged; `subnet_ids=()` takes the function out of its VPC. The VPC is the first subnet's
    (`vpc_id` when the caller knows it: the snapshot may not hold the subnets a fix moves the function to)."""

    name: str
    subnet_ids: tuple[str, ...] | None = None
    group_ids: tuple[str, ...] | None = None
    secrets_manager_endpoint: str | None = _KEEP  # None: the variable removed
    vpc_id: str | None = None

    def touches(self) -> frozenset[str]:
        return frozenset({self.name, *(self.group_ids or ()), *(self.subnet_ids or ())})

    def applied(self, snap: Snapshot) -> Snapshot:
        fn = snap.function
        if fn is None or not _names(snap, self.name):
            return snap
        if self.subnet_ids is not None:
            first = snap.subnets.get(self.subnet_ids[0]) if self.subnet_ids else None
            vpc = (self.vpc_id or (first.vpc_id if first else fn.vpc_id)) if self.subnet_ids else None
            fn = replace(fn, subnet_ids=self.subnet_ids, vpc_id=vpc)
        if self.group_ids is not None:
            fn = replace(fn, security_group_ids=self.group_ids)
        if self.secrets_manager_endpoint != _KEEP:
            fn = replace(fn, secrets_manager_endpoint=self.secrets_manager_endpoint)
        return replace(snap, function=fn)


@dataclass(frozen=True)
class DeleteFunction(Edit):
    """The rotation function deleted: every rotation fails before it starts."""

    name: str

    def touches(self) -> frozenset[str]:
        return frozenset({self.name})

    def applied(self, snap: Snapshot) -> Snapshot:
        if not _names(snap, self.name):
            return snap
        return replace(snap, function=None, function_policy=None)


def _statements(snap: Snapshot) -> tuple[Mapping[str, object], ...]:
    return snap.function_policy.statements if snap.function_policy else ()


@dataclass(frozen=True)
class AddInvokeStatement(Edit):
    """Lambda's AddPermission: a statement of the function's resource policy, under its Sid. A Sid the policy
    already holds is refused with ResourceConflictException (Lambda API Reference, AddPermission): the statement
    that holds it stays. The statement names the function as Lambda writes it: by its ARN unless it says."""

    function: str
    statement: Mapping[str, object]

    def touches(self) -> frozenset[str]:
        return frozenset({self.function})

    def applied(self, snap: Snapshot) -> Snapshot:
        fn = snap.function
        if fn is None or not _names(snap, self.function):
            return snap
        existing = _statements(snap)
        if any(s.get("Sid") == self.statement.get("Sid") for s in existing):
            return snap
        return replace(snap, function_policy=PolicyDocument((*existing, {"Resource": fn.arn, **self.statement})))


@dataclass(frozen=True)
class RemoveInvokeStatement(Edit):
    """Lambda's RemovePermission: the statement with this Sid (none: nothing changes)."""

    function: str
    sid: str

    def touches(self) -> frozenset[str]:
        return frozenset({self.function})

    def applied(self, snap: Snapshot) -> Snapshot:
        if not _names(snap, self.function):
            return snap
        kept = tuple(s for s in _statements(snap) if s.get("Sid") != self.sid)
        return replace(snap, function_policy=PolicyDocument(kept) if kept else None)


@dataclass(frozen=True)
class UpdateDatabase(Edit):
    identifier: str
    group_ids: tuple[str, ...] | None = None
    port: int | None = None

    def touches(self) -> frozenset[str]:
        return frozenset({self.identifier, *(self.group_ids or ())})

    def applied(self, snap: Snapshot) -> Snapshot:
        db = snap.database
        if db is None or db.identifier != self.identifier:
            return snap
        if self.group_ids is not None:
            db = replace(db, security_group_ids=self.group_ids)
        if self.port is not None:
            db = replace(db, port=self.port)
        return replace(snap, database=db)

"""The typed change model of `what-if`: what a planned change does to the facts of a snapshot, and applying it.

A Terraform plan and a CloudFormation change set are both read into `Change`s (one per planned resource change),
each holding `Edit`s. An edit is a pure function from a snapshot to the snapshot afterwards, as a fix kind's
`apply_to` is, and names the ids it `touches`: a secret whose paths use one of them (`analysis.usage`) is
diagnosed again. `NotEvaluated` is the edit for what cannot be mapped (a value known only after apply, a type
that may touch a path but is not modelled): it changes nothing and makes the secrets it touches `unknown`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

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

EVERYTHING = "*"  # a `touches` entry: every secret (an unmapped change that names no id)


class BadPlan(ValueError):
    """The file is not the JSON of `terraform show -json PLAN`."""


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    REPLACE = "replace"


class Handling(StrEnum):
    """How a change was understood."""

    MAPPED = "mapped"  # its effect on the snapshot is applied
    NO_EFFECT = "no_effect"  # a supported type whose change touches no rotation path (a new group nobody uses)
    NOT_EVALUATED = "not_evaluated"  # it may touch a path but cannot be judged: the secrets it touches are unknown
    IGNORED = "ignored"  # a type that cannot touch a rotation path (an S3 bucket)


_NEW = "(new "


def new_id(address: str) -> str:
    """The stand-in id of a resource the change creates (AWS gives it its id only when it is applied)."""
    return f"{_NEW}{address})"


def is_new_id(value: str) -> bool:
    """Whether `value` is the stand-in id of a resource the changes create (never an id AWS gave)."""
    return value.startswith(_NEW) and value.endswith(")")


class Edit:
    """One change to the facts. Subclasses are frozen dataclasses."""

    def touches(self) -> frozenset[str]:
        raise NotImplementedError

    def apply(self, snap: Snapshot) -> Snapshot:
        raise NotImplementedError


# ----- security groups ---------------------------------------------------------------------------


def _same_rule(a: SecurityGroupRule, b: SecurityGroupRule) -> bool:
    """AWS matches a rule to revoke by everything but its description."""
    return replace(a, description=None) == replace(b, description=None)


def _with_group(snap: Snapshot, group_id: str, change: Callable[[SecurityGroup], SecurityGroup]) -> Snapshot:
    group = snap.security_groups.get(group_id)
    if group is None:  # a group the snapshot does not hold is used by none of its paths
        return snap
    return replace(snap, security_groups={**snap.security_groups, group_id: change(group)})


@dataclass(frozen=True)
class AddRules(Edit):
    group_id: str
    rules: tuple[SecurityGroupRule, ...]

    def touches(self) -> frozenset[str]:
        return frozenset({self.group_id})

    def apply(self, snap: Snapshot) -> Snapshot:
        return _with_group(snap, self.group_id, lambda g: replace(g, rules=(*g.rules, *self.rules)))


@dataclass(frozen=True)
class RemoveRules(Edit):
    group_id: str
    rules: tuple[SecurityGroupRule, ...]

    def touches(self) -> frozenset[str]:
        return frozenset({self.group_id})

    def apply(self, snap: Snapshot) -> Snapshot:
        def without(g: SecurityGroup) -> SecurityGroup:
            return replace(g, rules=tuple(r for r in g.rules if not any(_same_rule(r, x) for x in self.rules)))

        return _with_group(snap, self.group_id, without)


@dataclass(frozen=True)
class PutSecurityGroup(Edit):
    """A group the plan creates (or the new group of a replacement), under its stand-in id: a change that points a
    path at it is then judged against its declared rules, not left unread."""

    group: SecurityGroup

    def touches(self) -> frozenset[str]:
        return frozenset({self.group.id})

    def apply(self, snap: Snapshot) -> Snapshot:
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

    def apply(self, snap: Snapshot) -> Snapshot:
        def kept(g: SecurityGroup) -> SecurityGroup:
            others = () if self.egress is None else tuple(r for r in g.rules if r.egress is not self.egress)
            return replace(g, rules=(*others, *self.rules))

        return _with_group(snap, self.group_id, kept)


# ----- routes ------------------------------------------------------------------------------------


def _tables(snap: Snapshot, table_id: str, change: Callable[[RouteTable], RouteTable]) -> Snapshot:
    return replace(snap, route_tables=tuple(change(t) if t.id == table_id else t for t in snap.route_tables))


def is_ipv6(cidr: str) -> bool:
    return ":" in cidr


def _family(
    table: RouteTable, destination: str, routes: Callable[[tuple[Route, ...]], tuple[Route, ...]]
) -> RouteTable:
    """The table with the routes of `destination`'s family (IPv4 `routes` or `ipv6_routes`) changed."""
    if is_ipv6(destination):
        return replace(table, ipv6_routes=routes(table.ipv6_routes))
    return replace(table, routes=routes(table.routes))


@dataclass(frozen=True)
class PutRoute(Edit):
    table_id: str
    route: Route

    def touches(self) -> frozenset[str]:
        return frozenset({self.table_id, self.route.target})

    def apply(self, snap: Snapshot) -> Snapshot:
        def put(routes: tuple[Route, ...]) -> tuple[Route, ...]:
            return (*(r for r in routes if r.destination != self.route.destination), self.route)

        return _tables(snap, self.table_id, lambda t: _family(t, self.route.destination, put))


@dataclass(frozen=True)
class RemoveRoute(Edit):
    table_id: str
    destination: str

    def touches(self) -> frozenset[str]:
        return frozenset({self.table_id})

    def apply(self, snap: Snapshot) -> Snapshot:
        return _tables(
            snap,
            self.table_id,
            lambda t: _family(
                t, self.destination, lambda rs: tuple(r for r in rs if r.destination != self.destination)
            ),
        )


@dataclass(frozen=True)
class SetRoutes(Edit):
    """A table's inline routes of both families replaced; its local routes (which no template declares) stay."""

    table_id: str
    routes: tuple[Route, ...]
    ipv6_routes: tuple[Route, ...] = ()

    def touches(self) -> frozenset[str]:
        return frozenset({self.table_id, *(r.target for r in (*self.routes, *self.ipv6_routes))})

    def apply(self, snap: Snapshot) -> Snapshot:
        def local(routes: tuple[Route, ...]) -> tuple[Route, ...]:
            return tuple(r for r in routes if r.target == "local")

        return _tables(
            snap,
            self.table_id,
            lambda t: replace(
                t, routes=(*local(t.routes), *self.routes), ipv6_routes=(*local(t.ipv6_routes), *self.ipv6_routes)
            ),
        )


@dataclass(frozen=True)
class DeleteEgressOnlyGateway(Edit):
    """An egress-only internet gateway deleted: AWS keeps the routes to it, as blackholes."""

    gateway_id: str

    def touches(self) -> frozenset[str]:
        return frozenset({self.gateway_id})

    def apply(self, snap: Snapshot) -> Snapshot:
        def dead(routes: tuple[Route, ...]) -> tuple[Route, ...]:
            return tuple(replace(r, state="blackhole") if r.target == self.gateway_id else r for r in routes)

        tables = tuple(replace(t, routes=dead(t.routes), ipv6_routes=dead(t.ipv6_routes)) for t in snap.route_tables)
        return replace(snap, route_tables=tables)


@dataclass(frozen=True)
class PutRouteTable(Edit):
    table: RouteTable

    def touches(self) -> frozenset[str]:
        return frozenset({self.table.id, *self.table.subnet_ids})

    def apply(self, snap: Snapshot) -> Snapshot:
        return replace(snap, route_tables=(*(t for t in snap.route_tables if t.id != self.table.id), self.table))


@dataclass(frozen=True)
class DeleteRouteTable(Edit):
    """Its subnets fall back to the VPC's main table."""

    table_id: str

    def touches(self) -> frozenset[str]:
        return frozenset({self.table_id})

    def apply(self, snap: Snapshot) -> Snapshot:
        return replace(snap, route_tables=tuple(t for t in snap.route_tables if t.id != self.table_id))


@dataclass(frozen=True)
class AssociateTable(Edit):
    """A subnet's explicit table set (`table_id` None: the association removed, the main table again)."""

    subnet_id: str
    table_id: str | None

    def touches(self) -> frozenset[str]:
        return frozenset({self.subnet_id} | ({self.table_id} if self.table_id else set()))

    def apply(self, snap: Snapshot) -> Snapshot:
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


@dataclass(frozen=True)
class PutNaclEntry(Edit):
    acl_id: str
    entry: NaclEntry

    def touches(self) -> frozenset[str]:
        return frozenset({self.acl_id})

    def apply(self, snap: Snapshot) -> Snapshot:
        e = self.entry

        def put(a: NetworkAcl) -> NetworkAcl:
            kept = tuple(x for x in a.entries if (x.rule_number, x.egress) != (e.rule_number, e.egress))
            return replace(a, entries=(*kept, e))

        return _acls(snap, self.acl_id, put)


@dataclass(frozen=True)
class RemoveNaclEntry(Edit):
    acl_id: str
    rule_number: int
    egress: bool

    def touches(self) -> frozenset[str]:
        return frozenset({self.acl_id})

    def apply(self, snap: Snapshot) -> Snapshot:
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

    def apply(self, snap: Snapshot) -> Snapshot:
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

    def apply(self, snap: Snapshot) -> Snapshot:
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

    def apply(self, snap: Snapshot) -> Snapshot:
        s = replace(snap, network_acls=(*(a for a in snap.network_acls if a.id != self.acl.id), self.acl))
        for subnet in self.acl.subnet_ids:
            s = AssociateAcl(subnet, self.acl.id).apply(s)
        return s


@dataclass(frozen=True)
class DeleteAcl(Edit):
    acl_id: str

    def touches(self) -> frozenset[str]:
        return frozenset({self.acl_id})

    def apply(self, snap: Snapshot) -> Snapshot:
        acl = next((a for a in snap.network_acls if a.id == self.acl_id), None)
        for subnet in acl.subnet_ids if acl else ():
            snap = AssociateAcl(subnet, None).apply(snap)
        return replace(snap, network_acls=tuple(a for a in snap.network_acls if a.id != self.acl_id))


# ----- endpoints, gateways, peerings, VPCs ---------------------------------------------------------


@dataclass(frozen=True)
class PutEndpoint(Edit):
    endpoint: VpcEndpoint

    def touches(self) -> frozenset[str]:
        e = self.endpoint
        return frozenset({e.id, e.vpc_id, *e.subnet_ids, *e.group_ids})

    def apply(self, snap: Snapshot) -> Snapshot:
        kept = tuple(e for e in snap.vpc_endpoints if e.id != self.endpoint.id)
        return replace(snap, vpc_endpoints=(*kept, self.endpoint))


@dataclass(frozen=True)
class DeleteEndpoint(Edit):
    endpoint_id: str

    def touches(self) -> frozenset[str]:
        return frozenset({self.endpoint_id})

    def apply(self, snap: Snapshot) -> Snapshot:
        return replace(snap, vpc_endpoints=tuple(e for e in snap.vpc_endpoints if e.id != self.endpoint_id))


@dataclass(frozen=True)
class PutNatGateway(Edit):
    """A NAT gateway made or changed; deleted, it stays with its state "deleted" (routes to it are blackholes)."""

    nat: NatGateway

    def touches(self) -> frozenset[str]:
        return frozenset({self.nat.id})

    def apply(self, snap: Snapshot) -> Snapshot:
        return replace(snap, nat_gateways={**snap.nat_gateways, self.nat.id: self.nat})


@dataclass(frozen=True)
class PutPeering(Edit):
    peering: PeeringConnection

    def touches(self) -> frozenset[str]:
        p = self.peering
        return frozenset({p.id, p.requester_vpc_id, p.accepter_vpc_id})

    def apply(self, snap: Snapshot) -> Snapshot:
        return replace(snap, peerings={**snap.peerings, self.peering.id: self.peering})


@dataclass(frozen=True)
class SetVpcDns(Edit):
    vpc_id: str
    attributes: DnsAttributes

    def touches(self) -> frozenset[str]:
        return frozenset({self.vpc_id})

    def apply(self, snap: Snapshot) -> Snapshot:
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

    def apply(self, snap: Snapshot) -> Snapshot:
        return _lists(snap, self.list_id, lambda p: replace(p, cidrs=self.cidrs))


@dataclass(frozen=True)
class PutPrefixListCidr(Edit):
    """One entry of a managed prefix list added (`present`) or removed."""

    list_id: str
    cidr: str
    present: bool

    def touches(self) -> frozenset[str]:
        return frozenset({self.list_id})

    def apply(self, snap: Snapshot) -> Snapshot:
        def put(p: PrefixList) -> PrefixList:
            kept = tuple(c for c in p.cidrs if c != self.cidr)
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
    return tuple(r for r in table.routes if not (r.destination == destination and r.route_type == "static"))


@dataclass(frozen=True)
class PutTgwRoute(Edit):
    """A static route of a transit gateway route table made or changed (it beats a propagated one)."""

    table_id: str
    route: TransitGatewayRoute

    def touches(self) -> frozenset[str]:
        return frozenset({self.table_id, *self.route.attachment_ids})

    def apply(self, snap: Snapshot) -> Snapshot:
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

    def apply(self, snap: Snapshot) -> Snapshot:
        return _tgw_table(snap, self.table_id, lambda t: replace(t, routes=_static_kept(t, self.destination)))


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

    def apply(self, snap: Snapshot) -> Snapshot:
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

    def apply(self, snap: Snapshot) -> Snapshot:
        def update(a: TransitGatewayAttachment) -> TransitGatewayAttachment:
            if self.subnet_ids is not None:
                a = replace(a, subnet_ids=self.subnet_ids)
            if self.appliance_mode is not None:
                a = replace(a, appliance_mode=self.appliance_mode)
            return replace(a, state=self.state) if self.state is not None else a

        return _attachment(snap, self.attachment_id, update)


# ----- the function and the database -------------------------------------------------------------

_KEEP = "(keep)"


@dataclass(frozen=True)
class UpdateFunction(Edit):
    """The rotation function's network settings and the one environment variable the diagnosis reads. A field
    left None is unchanged; `subnet_ids=()` takes the function out of its VPC."""

    name: str
    subnet_ids: tuple[str, ...] | None = None
    group_ids: tuple[str, ...] | None = None
    secrets_manager_endpoint: str | None = _KEEP  # None: the variable removed

    def touches(self) -> frozenset[str]:
        return frozenset({self.name, *(self.group_ids or ()), *(self.subnet_ids or ())})

    def apply(self, snap: Snapshot) -> Snapshot:
        fn = snap.function
        if fn is None or self.name not in (fn.name, fn.arn):
            return snap
        if self.subnet_ids is not None:
            first = snap.subnets.get(self.subnet_ids[0]) if self.subnet_ids else None
            vpc = (first.vpc_id if first else fn.vpc_id) if self.subnet_ids else None
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

    def apply(self, snap: Snapshot) -> Snapshot:
        fn = snap.function
        if fn is None or self.name not in (fn.name, fn.arn):
            return snap
        return replace(snap, function=None, function_policy=None)


@dataclass(frozen=True)
class PutInvokeStatement(Edit):
    """A statement of the function's resource policy added (`statement` set) or removed (None), by its Sid."""

    function: str
    sid: str
    statement: Mapping[str, object] | None

    def touches(self) -> frozenset[str]:
        return frozenset({self.function})

    def apply(self, snap: Snapshot) -> Snapshot:
        fn = snap.function
        if fn is None or self.function not in (fn.name, fn.arn):
            return snap
        existing = snap.function_policy.statements if snap.function_policy else ()
        kept = tuple(s for s in existing if s.get("Sid") != self.sid)
        # The statement names the function as Lambda writes it: by the ARN the plan may only know by name.
        added = () if self.statement is None else ({"Resource": fn.arn, **self.statement},)
        statements = (*kept, *added)
        return replace(snap, function_policy=PolicyDocument(statements) if statements else None)


@dataclass(frozen=True)
class UpdateDatabase(Edit):
    identifier: str
    group_ids: tuple[str, ...] | None = None
    port: int | None = None

    def touches(self) -> frozenset[str]:
        return frozenset({self.identifier, *(self.group_ids or ())})

    def apply(self, snap: Snapshot) -> Snapshot:
        db = snap.database
        if db is None or db.identifier != self.identifier:
            return snap
        if self.group_ids is not None:
            db = replace(db, security_group_ids=self.group_ids)
        if self.port is not None:
            db = replace(db, port=self.port)
        return replace(snap, database=db)


# ----- what cannot be mapped ---------------------------------------------------------------------


@dataclass(frozen=True)
class NotEvaluated(Edit):
    """Changes nothing; the secrets whose paths use what it touches are `unknown` after it (`while_used`: only
    those whose paths still use it once every change is applied, as a replaced group's old id)."""

    ids: frozenset[str]
    reason: str
    while_used: bool = False

    def touches(self) -> frozenset[str]:
        return self.ids or frozenset({EVERYTHING})

    def apply(self, snap: Snapshot) -> Snapshot:
        return snap


@dataclass(frozen=True)
class Change:
    """One planned resource change and what it does to the snapshot."""

    address: str  # Terraform's address, or the change set's logical id
    resource_type: str
    action: Action
    edits: tuple[Edit, ...] = ()
    mapping: Handling = Handling.MAPPED
    note: str = ""
    physical_id: str | None = None

    def touches(self) -> frozenset[str]:
        return frozenset().union(*(e.touches() for e in self.edits))

    def not_evaluated(self) -> tuple[NotEvaluated, ...]:
        return tuple(e for e in self.edits if isinstance(e, NotEvaluated))

    def to_json(self) -> dict[str, object]:
        return {
            "address": self.address,
            "type": self.resource_type,
            "action": str(self.action),
            "mapping": str(self.mapping),
            "id": self.physical_id,
            "note": self.note,
        }


def apply_changes(snap: Snapshot, changes: Iterable[Change]) -> Snapshot:
    """The snapshot as it will be once every change is applied, in the plan's order. Rules added to a group are
    gathered until the next edit of another kind and added at once: each addition copying the group's rules made
    a plan of thousands of rules quadratic (additions to different groups commute, their order in a group is kept)."""
    added: dict[str, list[SecurityGroupRule]] = {}

    def flush(s: Snapshot) -> Snapshot:
        for group_id, rules in added.items():
            s = AddRules(group_id, tuple(rules)).apply(s)
        added.clear()
        return s

    for change in changes:
        for edit in change.edits:
            if isinstance(edit, AddRules):
                added.setdefault(edit.group_id, []).extend(edit.rules)
                continue
            snap = edit.apply(flush(snap))
    return flush(snap)


@dataclass(frozen=True)
class Source:
    """Where the changes came from, for the report."""

    kind: str  # "terraform-plan" | "change-set"
    name: str
    changes: tuple[Change, ...] = field(default_factory=tuple)


# ----- builders both readers share -----------------------------------------------------------------

_SG_PROTOCOLS = {"6": "tcp", "17": "udp", "1": "icmp", "all": "-1", "-1": "-1"}
_NACL_PROTOCOLS = {"tcp": "6", "udp": "17", "icmp": "1", "all": "-1", "-1": "-1"}


def sg_protocol(value: object) -> str:
    """A security group rule's protocol as the snapshot spells it ("tcp", "-1", ...)."""
    text = str(value).lower()
    return _SG_PROTOCOLS.get(text, text)


def nacl_protocol(value: object) -> str:
    """A network ACL entry's protocol as the snapshot spells it (a number as text, "-1" for all)."""
    text = str(value).lower()
    return _NACL_PROTOCOLS.get(text, text)


def port(value: object) -> int | None:
    if value is None or value == "":
        return None
    return int(str(value))


def sg_rules(
    group_id: str,
    *,
    egress: bool,
    protocol: object,
    from_port: object,
    to_port: object,
    cidrs: Iterable[str] = (),
    groups: Iterable[str] = (),
    prefix_lists: Iterable[str] = (),
    description: str | None = None,
) -> tuple[SecurityGroupRule, ...]:
    """The snapshot's rules for one declared permission (one rule per peer, as `collect.convert` reads them).
    `cidrs` holds both families (a rule's `cidr` is its CidrIp or its CidrIpv6, as the account is read)."""
    proto = sg_protocol(protocol)
    low, high = (None, None) if proto == "-1" else (port(from_port), port(to_port))
    made = [SecurityGroupRule(group_id, egress, proto, low, high, cidr=c, description=description) for c in cidrs]
    made += [
        SecurityGroupRule(group_id, egress, proto, low, high, referenced_group_id=g, description=description)
        for g in groups
    ]
    made += [
        SecurityGroupRule(group_id, egress, proto, low, high, prefix_list_id=p, description=description)
        for p in prefix_lists
    ]
    return tuple(made)


def nacl_entry(
    *, rule_number: object, egress: bool, allow: bool, protocol: object, cidr: str, from_port: object, to_port: object
) -> NaclEntry:
    proto = nacl_protocol(protocol)
    low, high = (None, None) if proto == "-1" else (port(from_port), port(to_port))
    return NaclEntry(int(str(rule_number)), egress, allow, proto, cidr, low, high)


# A new ACL denies what no entry allows: the entries AWS gives it and no template declares.
FINAL_DENY = (
    NaclEntry(32767, False, False, "-1", "0.0.0.0/0", None, None),
    NaclEntry(32767, True, False, "-1", "0.0.0.0/0", None, None),
)

ALLOW_ALL_EGRESS = "0.0.0.0/0"


def invoke_statement(
    sid: str, action: object, principal: object, source_account: object, source_arn: object
) -> dict[str, object]:
    """The statement Lambda's AddPermission writes (its Resource is the function's ARN, filled in on apply)."""
    text = str(principal)
    statement: dict[str, object] = {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": text} if text.endswith(".amazonaws.com") else {"AWS": text},
        "Action": str(action),
    }
    condition: dict[str, dict[str, str]] = {}
    if source_account:
        condition["StringEquals"] = {"AWS:SourceAccount": str(source_account)}
    if source_arn:
        condition["ArnLike"] = {"AWS:SourceArn": str(source_arn)}
    if condition:
        statement["Condition"] = condition
    return statement


def unsupported(
    address: str, kind: str, action: Action, ids: set[str], physical_id: str | None, *, relevant: bool
) -> Change:
    """A type no handler reads: not evaluated when it may touch a path (`relevant`, the reader's exact list of
    types), ignored otherwise."""
    if not relevant:
        return Change(address, kind, action, (), Handling.IGNORED, "cannot touch a rotation path", physical_id)
    reason = f"{kind} is not modelled"
    touched = frozenset(ids) or frozenset({EVERYTHING})
    return Change(address, kind, action, (NotEvaluated(touched, reason),), Handling.NOT_EVALUATED, reason, physical_id)

"""The AWS network semantics helpers, each against its documented behaviour (and brute force where it helps)."""

from __future__ import annotations

import ipaddress
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from rotation_doctor.model.snapshot import (
    NaclEntry,
    NetworkAcl,
    PrefixList,
    PrivateHostedZone,
    Route,
    RouteTable,
    SecurityGroup,
)
from rotation_doctor.netsem import dns, network_acls, routes, security_groups
from rotation_doctor.netsem.addresses import covered_by, ipv4, public_internet, subtract
from rotation_doctor.netsem.network_acls import Outcome
from tests.snapshots import rule

N = ipaddress.IPv4Network


# ----- addresses --------------------------------------------------------------------------------


def test_union_of_halves_covers_a_subnet_but_one_half_does_not() -> None:
    subnet = [N("10.0.1.0/24")]
    assert covered_by(subnet, [N("10.0.1.0/25"), N("10.0.1.128/25")])
    assert not covered_by(subnet, [N("10.0.1.0/25")])


def test_public_internet_excludes_private_ranges() -> None:
    space = public_internet()
    assert not any(net.overlaps(N("10.0.0.0/8")) for net in space)
    assert any(ipaddress.IPv4Address("52.94.0.10") in net for net in space)
    assert covered_by(space, [N("0.0.0.0/0")])


def test_subtract_leaves_the_rest() -> None:
    rest = subtract([N("10.0.0.0/23")], N("10.0.0.0/24"))
    assert rest == (N("10.0.1.0/24"),)


def test_ipv6_is_outside_the_ipv4_model() -> None:
    assert ipv4("::/0") is None
    assert ipv4("10.0.0.0/8") == N("10.0.0.0/8")


# ----- security groups --------------------------------------------------------------------------


def _group(*rules):  # type: ignore[no-untyped-def]
    return SecurityGroup("sg-x", "vpc-1", "x", tuple(rules))


PEER = security_groups.Peer(frozenset({"sg-peer"}), (N("10.0.1.0/24"),))


def test_group_reference_admits_peer_whatever_its_address() -> None:
    decision = security_groups.allows_tcp(
        [_group(rule("sg-x", egress=False, port=5432, ref="sg-peer"))], egress=False, port=5432, peer=PEER
    )
    assert decision.allowed and decision.rules[0].referenced_group_id == "sg-peer"


def test_cidr_admits_peer_only_when_it_covers_the_whole_subnet() -> None:
    partial = _group(rule("sg-x", egress=False, port=5432, cidr="10.0.1.0/25"))
    whole = _group(rule("sg-x", egress=False, port=5432, cidr="10.0.0.0/16"))
    assert not security_groups.allows_tcp([partial], egress=False, port=5432, peer=PEER).allowed
    assert security_groups.allows_tcp([whole], egress=False, port=5432, peer=PEER).allowed


def test_rules_of_all_groups_are_unioned() -> None:
    a = _group(rule("sg-x", egress=False, port=5432, cidr="10.0.1.0/25"))
    b = SecurityGroup("sg-y", "vpc-1", "y", (rule("sg-y", egress=False, port=5432, cidr="10.0.1.128/25"),))
    assert security_groups.allows_tcp([a, b], egress=False, port=5432, peer=PEER).allowed


def test_port_protocol_and_direction_must_match() -> None:
    group = _group(
        rule("sg-x", egress=False, port=3306, ref="sg-peer"),
        rule("sg-x", egress=True, port=5432, ref="sg-peer"),
        rule("sg-x", egress=False, port=5432, ref="sg-peer", protocol="udp"),
    )
    assert not security_groups.allows_tcp([group], egress=False, port=5432, peer=PEER).allowed


def test_all_traffic_rule_admits_any_port() -> None:
    group = _group(rule("sg-x", egress=True, cidr="0.0.0.0/0", protocol="-1"))
    assert security_groups.allows_tcp([group], egress=True, port=443, peer=PEER).allowed


# ----- network ACLs -----------------------------------------------------------------------------


def _acl(*entries: NaclEntry) -> NetworkAcl:
    return NetworkAcl("acl-1", "vpc-1", False, ("subnet-1",), entries)


def _entry(
    number: int,
    allow: bool,
    cidr: str,
    lo: int | None = None,
    hi: int | None = None,
    egress: bool = False,
    protocol: str = "6",
) -> NaclEntry:
    return NaclEntry(number, egress, allow, protocol, cidr, lo, hi)


def test_nacl_first_match_by_rule_number_wins() -> None:
    acl = _acl(_entry(200, True, "10.0.0.0/16", 5432, 5432), _entry(100, False, "10.0.1.0/24", 5432, 5432))
    decision = network_acls.evaluate(acl, egress=False, addresses=[N("10.0.1.0/24")], ports=(5432, 5432))
    assert decision.outcome is Outcome.DENY and decision.denying_rules == (100,)


def test_nacl_implicit_deny_when_nothing_matches() -> None:
    acl = _acl(_entry(100, True, "10.0.0.0/16", 443, 443))
    decision = network_acls.evaluate(acl, egress=False, addresses=[N("10.0.1.0/24")], ports=(1024, 65535))
    assert decision.outcome is Outcome.DENY and decision.denying_rules == (32767,)


def test_nacl_return_ports_must_be_allowed_in_full() -> None:
    acl = _acl(_entry(100, True, "0.0.0.0/0", 32768, 65535))
    decision = network_acls.evaluate(acl, egress=False, addresses=[N("10.0.1.0/24")], ports=(1024, 65535))
    assert decision.outcome is Outcome.PARTIAL


def test_nacl_partial_when_a_deny_covers_part_of_the_peer() -> None:
    acl = _acl(_entry(90, False, "10.0.1.0/25", 5432, 5432), _entry(100, True, "0.0.0.0/0", 5432, 5432))
    assert (
        network_acls.evaluate(acl, egress=False, addresses=[N("10.0.1.0/24")], ports=(5432, 5432)).outcome
        is Outcome.PARTIAL
    )


def test_nacl_all_protocols_entry_matches_tcp() -> None:
    acl = _acl(_entry(100, True, "0.0.0.0/0", protocol="-1"))
    assert network_acls.evaluate(acl, egress=False, addresses=[N("10.0.1.0/24")], ports=(1024, 65535)).allowed


def test_nacl_udp_entry_does_not_match_tcp() -> None:
    acl = _acl(_entry(100, True, "0.0.0.0/0", 0, 65535, protocol="17"))
    assert not network_acls.evaluate(acl, egress=False, addresses=[N("10.0.1.0/24")], ports=(443, 443)).allowed


_cidrs = st.sampled_from(
    ["0.0.0.0/0", "10.0.0.0/16", "10.0.1.0/24", "10.0.1.0/25", "10.0.1.128/26", "10.0.2.0/24", "10.0.1.7/32"]
)
_entries = st.lists(
    st.builds(
        _entry,
        st.integers(1, 300),
        st.booleans(),
        _cidrs,
        st.sampled_from([0, 443, 1024, 5432, 32768]),
        st.sampled_from([443, 1023, 5432, 40000, 65535]),
        protocol=st.sampled_from(["6", "-1", "17"]),
    ),
    max_size=6,
    unique_by=lambda e: e.rule_number,
)


def _packet_allowed(rules: list[NaclEntry], address: ipaddress.IPv4Address, port: int) -> bool:
    """One packet, decided as AWS documents it: lowest-numbered matching rule, else deny."""
    for e in rules:
        lo, hi = (0, 65535) if e.protocol == "-1" else (e.port_from, e.port_to)
        if e.protocol in ("-1", "6") and address in N(e.cidr) and lo <= port <= hi:  # type: ignore[operator]
            return e.allow
    return False


@settings(max_examples=120, deadline=None)
@given(_entries, st.sampled_from([(5432, 5432), (443, 443), (1024, 65535)]))
def test_nacl_matches_packet_by_packet_evaluation(entries: list[NaclEntry], ports: tuple[int, int]) -> None:
    """Exhaustive over the peer's 256 addresses and every port where some rule's range starts or ends."""
    entries = [e for e in entries if e.port_from <= e.port_to]  # type: ignore[operator]
    acl = _acl(*entries)
    peer = N("10.0.1.0/24")
    decision = network_acls.evaluate(acl, egress=False, addresses=[peer], ports=ports)
    edges = {ports[0], ports[1]} | {
        p for e in entries for p in (e.port_from, e.port_to, (e.port_from or 0) - 1, (e.port_to or 0) + 1)
    }
    probe_ports = sorted(p for p in edges if p is not None and ports[0] <= p <= ports[1])
    rules = sorted(entries, key=lambda e: e.rule_number)
    seen = {_packet_allowed(rules, address, port) for address in peer for port in probe_ports}
    expected = {Outcome.ALLOW: {True}, Outcome.DENY: {False}, Outcome.PARTIAL: {True, False}}[decision.outcome]
    assert seen == expected


def test_acl_for_subnet_falls_back_to_the_default_acl() -> None:
    default = NetworkAcl("acl-d", "vpc-1", True, (), ())
    custom = NetworkAcl("acl-c", "vpc-1", False, ("subnet-1",), ())
    assert network_acls.acl_for_subnet("subnet-1", "vpc-1", [default, custom]) is custom
    assert network_acls.acl_for_subnet("subnet-2", "vpc-1", [default, custom]) is default


# ----- routes -----------------------------------------------------------------------------------


def test_explicit_table_else_main_table() -> None:
    main = RouteTable("rtb-main", "vpc-1", True, (), ())
    explicit = RouteTable("rtb-x", "vpc-1", False, ("subnet-1",), ())
    other_main = RouteTable("rtb-other", "vpc-2", True, (), ())
    tables = [other_main, main, explicit]
    assert routes.table_for_subnet("subnet-1", "vpc-1", tables) is explicit
    assert routes.table_for_subnet("subnet-2", "vpc-1", tables) is main


def test_longest_prefix_wins() -> None:
    table = RouteTable(
        "rtb",
        "vpc-1",
        True,
        (),
        (
            Route("10.0.0.0/16", "local", "active"),
            Route("10.1.0.0/16", "pcx-1", "active"),
            Route("10.1.5.0/24", "tgw-1", "active"),
            Route("0.0.0.0/0", "nat-1", "active"),
        ),
    )
    assert routes.choose(table, N("10.1.5.0/24"), {}).route.target == "tgw-1"  # type: ignore[union-attr]
    assert routes.choose(table, N("10.1.6.0/24"), {}).route.target == "pcx-1"  # type: ignore[union-attr]
    assert routes.choose(table, N("0.0.0.0/0"), {}).route.target == "nat-1"  # type: ignore[union-attr]
    assert routes.routes_inside(table, N("10.1.0.0/16"))[0].target == "tgw-1"


# ----- DNS names --------------------------------------------------------------------------------


def test_endpoint_specific_names_are_recognised() -> None:
    regional = dns.parse_endpoint_override(
        "https://vpce-0a1b2c3d4e5f60718-abcdefgh.secretsmanager.us-east-1.vpce.amazonaws.com", "us-east-1"
    )
    zonal = dns.parse_endpoint_override(
        "vpce-0a1b2c3d4e5f60718-abcdefgh-us-east-1a.secretsmanager.us-east-1.vpce.amazonaws.com", "us-east-1"
    )
    assert (regional.kind, regional.endpoint_id, regional.availability_zone) == ("vpce", "vpce-0a1b2c3d4e5f60718", None)
    assert (zonal.endpoint_id, zonal.availability_zone) == ("vpce-0a1b2c3d4e5f60718", "us-east-1a")
    assert dns.parse_endpoint_override("https://secretsmanager.us-east-1.amazonaws.com", "us-east-1").kind == "public"
    assert dns.parse_endpoint_override("https://secrets.internal.example.com", "us-east-1").kind == "other"


def test_most_specific_private_zone_answers() -> None:
    zones = [
        PrivateHostedZone("Z1", "amazonaws.com"),
        PrivateHostedZone("Z2", "secretsmanager.us-east-1.amazonaws.com"),
        PrivateHostedZone("Z3", "example.com"),
    ]
    assert dns.zone_answering("secretsmanager.us-east-1.amazonaws.com", zones).id == "Z2"  # type: ignore[union-attr]
    assert dns.zone_answering("sts.us-east-1.amazonaws.com", zones).id == "Z1"  # type: ignore[union-attr]
    assert dns.zone_answering("secretsmanager.us-east-1.amazonaws.com", zones[2:]) is None


def test_china_regions_use_their_own_names() -> None:
    assert dns.secrets_manager_hostname("cn-north-1") == "secretsmanager.cn-north-1.amazonaws.com.cn"
    assert dns.secrets_manager_service_name("cn-north-1") == "cn.com.amazonaws.cn-north-1.secretsmanager"


# ----- policies: a request whose context is complete ------------------------------------------------------------


def test_an_absent_key_is_not_evaluated_unless_the_context_is_complete_then_aws_decides() -> None:
    """A Deny "unless the caller is this role" on a caller with no aws:PrincipalArn (a service): from configuration
    alone it cannot be judged; with the whole request known, the negated operator holds (IAM User Guide, "Condition
    operators"), an IfExists one too, and a positive one does not."""
    from rotation_doctor.model.snapshot import PolicyDocument
    from rotation_doctor.netsem.iam_policy import Request, evaluate

    def deny(operator: str) -> PolicyDocument:
        return PolicyDocument(
            (
                {"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage"},
                {
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "sqs:SendMessage",
                    "Condition": {operator: {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/r"}},
                },
            )
        )

    service = frozenset({"events.amazonaws.com"})
    unknown = Request("sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:q", service)
    known = Request("sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:q", service, context_is_complete=True)
    assert evaluate(deny("ArnNotEquals"), unknown).allowed
    assert evaluate(deny("ArnNotEquals"), unknown).unevaluated_conditions
    assert not evaluate(deny("ArnNotEquals"), known).allowed
    assert not evaluate(deny("ArnNotEqualsIfExists"), known).allowed
    assert evaluate(deny("ArnEquals"), known).allowed


# ----- routes to managed prefix lists, against brute force ---------------------------------------

_route_cidrs = ["0.0.0.0/0", "10.0.0.0/8", "10.0.0.0/16", "10.0.1.0/24", "10.0.1.0/25", "10.0.1.128/25", "10.0.1.7/32"]
_wanted = st.sampled_from([*_route_cidrs, "10.0.1.0/26", "10.0.2.0/24", "10.1.0.0/16"])


@st.composite
def _tables(draw: st.DrawFn) -> tuple[RouteTable, dict[str, PrefixList], list[str]]:
    """A table of CIDR routes (no destination twice, as AWS allows) and up to three prefix-list routes whose lists
    share no entry; some lists were not read."""
    cidrs = draw(st.lists(st.sampled_from(_route_cidrs), unique=True, max_size=5))
    entries = draw(st.lists(st.sampled_from(_route_cidrs), unique=True, max_size=6))
    cuts = sorted(draw(st.lists(st.integers(0, len(entries)), min_size=2, max_size=2)))
    groups = [entries[: cuts[0]], entries[cuts[0] : cuts[1]], entries[cuts[1] :]]
    count = draw(st.integers(0, 3))
    read = draw(st.lists(st.booleans(), min_size=3, max_size=3))
    lists = {f"pl-{i}": PrefixList(f"pl-{i}", f"l{i}", "IPv4", tuple(groups[i])) for i in range(count)}
    table = RouteTable(
        "rtb",
        "vpc-1",
        True,
        (),
        tuple(Route(c, f"tgw-{i}", "active") for i, c in enumerate(cidrs)),
        prefix_list_routes=tuple(Route(pl, f"pcx-{i}", "active") for i, pl in enumerate(lists)),
    )
    unread = [pl for i, pl in enumerate(lists) if not read[i]]
    return table, {pl: v for pl, v in lists.items() if pl not in unread}, unread


def _possible_routes(
    table: RouteTable, lists: dict[str, PrefixList], unread: list[str], wanted: N
) -> set[Route | None]:
    """Brute force: every (network, route, kind) a route or a list entry stands for, the best by (prefix length,
    CIDR before prefix list); an unread list is tried empty and holding `wanted` itself (its strongest entry), and
    routes tied at the top could each be AWS's pick."""
    found: set[Route | None] = set()
    for filling in itertools.product([(), (str(wanted),)], repeat=len(unread)):
        entries = {**{pl: v.cidrs for pl, v in lists.items()}, **dict(zip(unread, filling, strict=True))}
        candidates = [(N(r.destination), r, 1) for r in table.routes]
        candidates += [(N(c), r, 0) for r in table.prefix_list_routes for c in entries[r.destination]]
        matching = [(net.prefixlen, kind, r) for net, r, kind in candidates if wanted.subnet_of(net)]
        if not matching:
            found.add(None)
            continue
        top = max((length, kind) for length, kind, _ in matching)
        found |= {r for length, kind, r in matching if (length, kind) == top}
    return found


@settings(max_examples=400, deadline=None)
@given(_tables(), _wanted)
def test_route_choice_with_prefix_lists_matches_brute_force(
    drawn: tuple[RouteTable, dict[str, PrefixList], list[str]], wanted: str
) -> None:
    table, lists, unread = drawn
    choice = routes.choose(table, N(wanted), lists)
    possible = _possible_routes(table, lists, unread, N(wanted))
    if len(possible) == 1:
        assert choice.known and choice.route == next(iter(possible))
    else:
        assert not choice.known and choice.route is None
        assert set(choice.unread_prefix_lists) <= set(unread)

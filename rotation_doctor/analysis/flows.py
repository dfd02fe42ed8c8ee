"""One TCP flow from the function to a peer: security groups at both ends, network ACLs both ways."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from rotation_doctor.analysis import hops
from rotation_doctor.analysis.cases import Problem
from rotation_doctor.model.evidence import Direction, EgressDenied, IngressDenied, Leg, NaclDenied, PeerKind
from rotation_doctor.model.findings import Code
from rotation_doctor.model.snapshot import Function, SecurityGroup, Snapshot, Subnet
from rotation_doctor.netsem import network_acls, routes, security_groups
from rotation_doctor.netsem.addresses import Network, ipv4, ipv6, public_internet


@dataclass(frozen=True)
class FlowCodes:
    egress: Code
    ingress: Code
    nacl: Code
    not_evaluated: Code  # the path's code for a rule that could not be judged


SM_PORT = 443  # HTTPS, where Secrets Manager answers
SM_FLOW = FlowCodes(
    Code.SM_LAMBDA_EGRESS_DENIES, Code.SM_ENDPOINT_SG_DENIES, Code.SM_NACL_DENIES, Code.SM_PATH_NOT_EVALUATED
)
DB_FLOW = FlowCodes(
    Code.DB_LAMBDA_EGRESS_DENIES, Code.DB_SG_INGRESS_DENIES, Code.DB_NACL_DENIES, Code.DB_PATH_NOT_EVALUATED
)


@dataclass(frozen=True)
class Side:
    """One end of a flow: the subnet its ENI is in and the groups on the ENI."""

    subnet: Subnet
    group_ids: tuple[str, ...]
    label: str  # "the rotation function", "endpoint vpce-...", "database prod-db"
    kind: PeerKind  # what this end is, for the typed evidence
    ipv6: bool = False  # the flow goes over IPv6: the subnet's IPv6 blocks are the addresses this end may have


def groups(snap: Snapshot, ids: Sequence[str]) -> list[SecurityGroup]:
    return [snap.security_groups[g] for g in ids if g in snap.security_groups]


def _net(subnet: Subnet) -> tuple[Network, ...]:
    net = ipv4(subnet.cidr)
    return (net,) if net else ()


def _addresses(side: Side) -> tuple[Network, ...]:
    """Every address the side's ENI may have in the flow's family."""
    if side.ipv6:
        return tuple(n for c in side.subnet.ipv6_cidrs if (n := ipv6(c)) is not None)
    return _net(side.subnet)


def _block(side: Side) -> str:
    """The side's subnet block in the flow's family (what an allow rule would name)."""
    return (side.subnet.ipv6_cidrs[0] if side.subnet.ipv6_cidrs else "") if side.ipv6 else side.subnet.cidr


def security_group_problems(
    snap: Snapshot, src: Side, dst: Side, port: int, codes: FlowCodes, *, references: bool = True
) -> list[Problem]:
    """`references`: whether a rule naming the other end's group matches it (not across a transit gateway
    without security group referencing)."""
    problems = []
    out = security_groups.allows_tcp(
        groups(snap, src.group_ids),
        egress=True,
        port=port,
        peer=security_groups.Peer(frozenset(dst.group_ids if references else ()), _addresses(dst)),
        prefix_lists=snap.prefix_lists,
    )
    if out.undecided:
        problems.append(unread_prefix_list_problem(codes.not_evaluated, out, src.group_ids, f"to {dst.label}", port))
    elif not out.allowed:
        problems.append(
            Problem(
                codes.egress,
                f"The security groups of {src.label} ({', '.join(src.group_ids) or 'none'}) allow no "
                f"TCP {port} out to {dst.label}.",
                (*src.group_ids, *dst.group_ids),
                facts=EgressDenied(port, dst.kind, _block(dst), src.group_ids, dst.group_ids, dst.subnet.id),
            )
        )
    hops.groups(src.group_ids, f"TCP {port} out to {dst.label}", out, stage=hops.Stage.SOURCE, problems=problems)
    sent = len(problems)
    into = security_groups.allows_tcp(
        groups(snap, dst.group_ids),
        egress=False,
        port=port,
        peer=security_groups.Peer(frozenset(src.group_ids if references else ()), _addresses(src)),
        prefix_lists=snap.prefix_lists,
    )
    if into.undecided:
        problems.append(unread_prefix_list_problem(codes.not_evaluated, into, dst.group_ids, f"from {src.label}", port))
    elif not into.allowed:
        problems.append(
            Problem(
                codes.ingress,
                f"The security groups of {dst.label} ({', '.join(dst.group_ids) or 'none'}) admit no "
                f"TCP {port} from {src.label}.",
                (*dst.group_ids, *src.group_ids),
                facts=IngressDenied(port, dst.kind, dst.group_ids, src.group_ids, src.subnet.id, _block(src)),
            )
        )
    hops.groups(
        dst.group_ids, f"TCP {port} in from {src.label}", into, stage=hops.Stage.DESTINATION, problems=problems[sent:]
    )
    return problems


def unread_prefix_list_problem(
    code: Code, decision: security_groups.SgDecision, group_ids: Sequence[str], peer: str, port: int
) -> Problem:
    """Only a rule on a prefix list that could not be read might admit the flow: not judged, never "denied"."""
    lists = decision.unread_prefix_lists
    return Problem(
        code,
        f"The security groups {', '.join(group_ids)} admit TCP {port} {peer} only if prefix list "
        f"{', '.join(lists)} does, and it could not be read.",
        (*group_ids, *lists),
        {"prefix_lists": list(lists), "groups": list(group_ids), "port": port},
    )


def unread_route_problem(
    code: Code, table_id: str, destination: str, choice: routes.Choice, subject: str | None = None
) -> Problem:
    """Only a route to a prefix list that could not be read might decide where `destination` goes: not judged,
    never "no route"."""
    lists = choice.unread_prefix_lists
    return Problem(
        code,
        f"Where route table {table_id} sends {destination} depends on the entries of prefix list "
        f"{', '.join(lists)}, which could not be read.",
        (table_id, *lists),
        {"route_table": table_id, "destination": destination, "prefix_lists": list(lists)},
        subject=subject,
    )


def nacl_problems(
    snap: Snapshot,
    subnet: Subnet,
    *,
    peer: Sequence[Network],
    peer_kind: PeerKind,
    peer_label: str,
    port: int,
    initiator: bool,
    code: Code,
    soft_when_partial: bool = False,
) -> list[Problem]:
    """The ACL of `subnet` for a connection to (initiator) or from `peer` on TCP `port`.

    The initiator sends to `port` and receives on the ephemeral ports; the responder receives on
    `port` and answers to the ephemeral ports. An ACL applies only when the peer is in another subnet.
    """
    acl = network_acls.acl_for_subnet(subnet.id, subnet.vpc_id, snap.network_acls)
    if acl is None:
        return []
    eph = network_acls.EPHEMERAL_PORTS
    legs = (
        [(True, (port, port), Leg.REQUEST), (False, eph, Leg.RETURN)]
        if initiator
        else [(False, (port, port), Leg.REQUEST), (True, eph, Leg.RETURN)]
    )
    problems = []
    for egress, ports, leg in legs:
        decision = network_acls.evaluate(acl, egress=egress, addresses=peer, ports=ports)
        direction = Direction.OUTBOUND if egress else Direction.INBOUND
        span = f"TCP {ports[0]}" if ports[0] == ports[1] else f"TCP {ports[0]}-{ports[1]}"
        question = f"{leg} {direction} {span} {'to' if egress else 'from'} {peer_label}"
        if decision.allowed:
            hops.network_acl(acl.id, subnet.id, question, decision, problems=())
            continue
        partial = decision.outcome is network_acls.Outcome.PARTIAL
        how = "denies part of" if partial else "denies"
        problems.append(
            Problem(
                code,
                f"Network ACL {acl.id} of {subnet.id} {how} the {leg} traffic {direction} "
                f"({span}) {'to' if egress else 'from'} {peer_label}.",
                (acl.id, subnet.id),
                soft=partial and soft_when_partial,
                facts=NaclDenied(
                    acl.id,
                    subnet.id,
                    direction,
                    leg,
                    ports,
                    peer_kind,
                    peer_label,
                    # The peer's blocks when it is a subnet (what an allow rule would name); none for the internet.
                    () if peer_kind is PeerKind.INTERNET else tuple(str(n) for n in peer),
                    partial,
                    decision.denying_rules,
                ),
            )
        )
        hops.network_acl(acl.id, subnet.id, question, decision, problems=problems[-1:])
    return problems


def subnet_pair_nacl_problems(snap: Snapshot, src: Side, dst: Side, port: int, code: Code) -> list[Problem]:
    if src.subnet.id == dst.subnet.id:
        return []  # ACLs guard subnet boundaries only
    return [
        *nacl_problems(
            snap,
            src.subnet,
            peer=_addresses(dst),
            peer_kind=dst.kind,
            peer_label=f"{dst.label} in {dst.subnet.id}",
            port=port,
            initiator=True,
            code=code,
        ),
        *nacl_problems(
            snap,
            dst.subnet,
            peer=_addresses(src),
            peer_kind=src.kind,
            peer_label=f"{src.label} in {src.subnet.id}",
            port=port,
            initiator=False,
            code=code,
        ),
    ]


def internet_problems(snap: Snapshot, fn: Function, fs: Subnet, nat_subnet: Subnet | None) -> list[Problem]:
    """The function's way to the internet through a NAT gateway, wherever that is (its own VPC, or an egress VPC
    behind a transit gateway): its groups' egress on 443, its subnet's ACL to the internet, and the NAT subnet's ACL
    (the function's request in and the reply back to it, the request out and the reply in)."""
    problems: list[Problem] = []
    internet = public_internet()
    egress = security_groups.allows_tcp(
        groups(snap, fn.security_group_ids),
        egress=True,
        port=SM_PORT,
        peer=security_groups.Peer(frozenset(), internet),
        prefix_lists=snap.prefix_lists,
    )
    hops.groups(fn.security_group_ids, f"TCP {SM_PORT} out to the internet", egress, stage=hops.Stage.SOURCE)
    if egress.undecided:
        problems.append(
            unread_prefix_list_problem(SM_FLOW.not_evaluated, egress, fn.security_group_ids, "to the internet", SM_PORT)
        )
    elif not egress.allowed:
        problems.append(
            Problem(
                Code.SM_LAMBDA_EGRESS_DENIES,
                f"The security groups of rotation function {fn.name} ({', '.join(fn.security_group_ids)}) allow no "
                "TCP 443 out to the internet, where the public Secrets Manager endpoint is.",
                fn.security_group_ids,
                facts=EgressDenied(SM_PORT, PeerKind.INTERNET, "0.0.0.0/0", fn.security_group_ids),
            )
        )
    # Partial denials of the internet are doubts (Secrets Manager's addresses may be outside them), not failures.
    acl = partial(nacl_problems, snap, port=SM_PORT, code=Code.SM_NACL_DENIES, soft_when_partial=True)
    to_internet = partial(acl, peer=internet, peer_kind=PeerKind.INTERNET, peer_label="the internet", initiator=True)
    problems += to_internet(fs)
    if nat_subnet is not None and nat_subnet.id != fs.id:
        fs_net = ipv4(fs.cidr)
        if fs_net:
            # The NAT's subnet sees the function's request arrive and leave for the internet, and the reply back.
            problems += acl(
                nat_subnet,
                peer=(fs_net,),
                peer_kind=PeerKind.FUNCTION,
                peer_label=f"the function in {fs.id}",
                initiator=False,
            )
            problems += to_internet(nat_subnet)
    return problems

"""A transit gateway crossing (`netsem.transit_gateways.cross_toward`) as the problem a person reads, for any path.

Every path that crosses a transit gateway (the database's, a centralized endpoint's through `crossings`, and the
Secrets Manager path through centralized egress) tells it the same way; only their codes and the words for where
the traffic goes differ (`TgwCodes`, `Leg`).
"""

from __future__ import annotations

from dataclasses import dataclass

from rotation_doctor.analysis.cases import Problem
from rotation_doctor.model.findings import Code
from rotation_doctor.model.snapshot import Snapshot, Subnet
from rotation_doctor.netsem import transit_gateways as tgw


@dataclass(frozen=True)
class TgwCodes:
    not_attached: Code
    route_missing: Code
    blackhole: Code
    not_evaluated: Code


SM_TGW = TgwCodes(
    Code.SM_TGW_NOT_ATTACHED, Code.SM_TGW_ROUTE_MISSING, Code.SM_TGW_BLACKHOLE, Code.SM_PATH_NOT_EVALUATED
)


@dataclass(frozen=True)
class Leg:
    """One crossing's words: where the traffic goes (`destination`, may hold `{subjects}`), what for (`toward`, in
    parentheses after it), and the evidence's `direction`; `subject` is what differs between the cases."""

    destination: str
    toward: str
    direction: str
    subject: str


def facts(snap: Snapshot) -> tgw.Facts:
    return tgw.Facts(
        snap.transit_gateways, snap.tgw_attachments, snap.tgw_route_tables, snap.subnets, snap.prefix_lists
    )


def unread_problem(tgw_id: str, src: Subnet, leg: Leg, codes: TgwCodes) -> Problem:
    """The transit gateway's facts could not be read (AWS_READ_FAILED names the permission): not judged."""
    return Problem(
        codes.not_evaluated,
        f"{src.vpc_id} sends traffic for {leg.destination} ({leg.toward}) to transit gateway {tgw_id}, which could "
        "not be read.",
        (tgw_id,),
        {"target": tgw_id, "direction": leg.direction},
        subject=leg.subject,
    )


def crossing_problem(crossing: tgw.Crossing, src: Subnet, leg: Leg, codes: TgwCodes) -> Problem | None:
    """What stops one crossing, named by the gateway's parts (one cause in many subnet cases is one finding);
    None when the gateway delivers."""
    tgw_id = crossing.transit_gateway_id
    attachment, table_id = crossing.attachment_id, crossing.route_table_id
    where, toward = leg.destination, leg.toward
    evidence: dict[str, object] = {
        "transit_gateway": tgw_id,
        "direction": leg.direction,
        "from_vpc": src.vpc_id,
        "attachment": attachment,
        "tgw_route_table": table_id,
    }
    resources = tuple(r for r in (tgw_id, attachment, table_id) if r)
    outcome = tgw.Outcome
    code = codes.not_evaluated
    summary = f"{src.vpc_id} sends traffic for {where} ({toward}) to transit gateway {tgw_id}; "
    if crossing.outcome is outcome.DELIVERED:
        return None
    if crossing.outcome is outcome.NOT_ATTACHED:
        code = codes.not_attached
        summary = (
            f"{src.vpc_id} routes traffic for {where} ({toward}) to transit gateway {tgw_id}, but has no available "
            "attachment to it."
        )
        resources = (tgw_id, src.vpc_id)
    elif crossing.outcome is outcome.NO_ZONE:
        code = codes.not_attached
        summary = (
            f"Attachment {attachment} of {src.vpc_id} to transit gateway {tgw_id} has no subnet in "
            f"{src.availability_zone}: what that zone sends to {where} ({toward}) never reaches the gateway."
        )
        evidence["zone"] = src.availability_zone
    elif crossing.outcome is outcome.FAR_NOT_ATTACHED:
        code = codes.not_attached
        summary = (
            f"Transit gateway {tgw_id} routes traffic for {where} ({toward}) to attachment "
            f"{crossing.far_attachment_id}, but {crossing.why}."
        )
        resources = (*resources, str(crossing.far_attachment_id))
        evidence["far_attachment"] = crossing.far_attachment_id
    elif crossing.outcome is outcome.NOT_ASSOCIATED:
        code = codes.route_missing
        summary = (
            f"Attachment {attachment} of {src.vpc_id} to transit gateway {tgw_id} is associated with no transit "
            f"gateway route table: nothing it sends ({toward}, to {where}) is routed."
        )
    elif crossing.outcome is outcome.NO_ROUTE:
        code = codes.route_missing
        summary = (
            f"Transit gateway route table {table_id} (of {src.vpc_id}'s attachment {attachment}) has no route "
            f"to {where} ({toward})."
        )
    elif crossing.outcome is outcome.BLACKHOLE:
        code = codes.blackhole
        route = crossing.route.destination if crossing.route else "?"
        summary = (
            f"Transit gateway route table {table_id} drops traffic for {where} ({toward}): its route {route} "
            "is a blackhole."
        )
        evidence["route"] = route
    else:
        summary += f"{crossing.why}."
        evidence["why"] = crossing.why
    return Problem(code, summary, resources, evidence, subject=leg.subject)

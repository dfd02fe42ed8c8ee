"""ADD_PEERING_ROUTES: routes for exactly the missing subnet CIDRs, both ways, over an existing active peering."""

from __future__ import annotations

from collections.abc import Sequence

from remediations.base import PlanContext, Planned, Remediation
from rotation_doctor.model.edits import CreateRoute
from rotation_doctor.model.evidence import RouteMissing
from rotation_doctor.model.findings import Code, Finding
from rotation_doctor.model.plan import Call, Fix, FixKind, Risk
from rotation_doctor.model.snapshot import Route, Snapshot


class AddPeeringRoutes(Remediation):
    kind = FixKind.ADD_PEERING_ROUTES
    risk = Risk.HIGH  # routes change where every instance of the subnets sends that traffic
    change = "routes both ways over an existing active peering"
    iam_actions = ("ec2:CreateRoute", "ec2:DeleteRoute")
    handles = frozenset({Code.DB_NO_ROUTE})

    def plan(self, snap: Snapshot, findings: Sequence[Finding], ctx: PlanContext) -> list[Planned]:
        fn, db = snap.function, snap.database
        if fn is None or db is None or fn.vpc_id is None or db.vpc_id is None or fn.vpc_id == db.vpc_id:
            return []
        peering = next(
            (
                p
                for p in snap.peerings.values()
                if p.status == "active" and {p.requester_vpc_id, p.accepter_vpc_id} == {fn.vpc_id, db.vpc_id}
            ),
            None,
        )
        if peering is None:
            return []
        wanted: list[tuple[str, str]] = []  # (route table, destination) with no route at all today
        for finding in findings:
            missing = finding.facts
            if not isinstance(missing, RouteMissing):
                continue  # a route exists and goes elsewhere: never replaced behind the owner's back
            pair = (missing.route_table, missing.destination)
            if pair not in wanted:
                wanted.append(pair)
        if not wanted:
            return []
        steps = [
            self.step(
                ctx,
                Call(
                    "ec2",
                    "CreateRoute",
                    {"RouteTableId": table, "DestinationCidrBlock": cidr, "VpcPeeringConnectionId": peering.id},
                ),
                f"+ {table} route {cidr} -> {peering.id}",
                undo=Call("ec2", "DeleteRoute", {"RouteTableId": table, "DestinationCidrBlock": cidr}),
            )
            for table, cidr in wanted
        ]
        fix = Fix(
            self.kind,
            self.risk,
            f"Route the function's and the database's subnets to each other over {peering.id}.",
            (Code.DB_NO_ROUTE,),
            tuple(steps),
            vpc_id=fn.vpc_id,
        )
        return [Planned(fix, tuple(CreateRoute(table, Route(cidr, peering.id, "active")) for table, cidr in wanted))]

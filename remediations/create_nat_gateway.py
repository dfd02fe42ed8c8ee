"""CREATE_NAT_GATEWAY: a NAT gateway in a public subnet and the default route to it. Never automatic.

AWS's guidance prefers the interface endpoint (a NAT gateway's address can be reached from the
internet and it sends everything out); this kind is planned only when a person asks for it.
"""

from __future__ import annotations

from collections.abc import Sequence

from remediations.base import PlanContext, Planned, Remediation
from rotation_doctor.model.edits import CreateRoute, Edit, PutNatGateway, ReplaceRoute
from rotation_doctor.model.findings import Code, Finding
from rotation_doctor.model.plan import Call, Fix, FixKind, Risk, Step
from rotation_doctor.model.snapshot import NatGateway, Route, Snapshot
from rotation_doctor.netsem import routes

HOURLY = 0.045  # USD, us-east-1 list price per NAT gateway hour (plus $0.045 per GB)


class CreateNatGateway(Remediation):
    kind = FixKind.CREATE_NAT_GATEWAY
    risk = Risk.NEVER_AUTOMATIC
    change = (
        "NAT gateway and default route; AWS guidance prefers the endpoint, since a NAT gateway's address can "
        "be attacked from the internet"
    )
    iam_actions = (
        "ec2:AllocateAddress",
        "ec2:ReleaseAddress",
        "ec2:CreateNatGateway",
        "ec2:DeleteNatGateway",
        "ec2:CreateRoute",
        "ec2:ReplaceRoute",
        "ec2:DeleteRoute",
        "ec2:CreateTags",
    )
    handles = frozenset({Code.SM_NO_PATH, Code.SM_ROUTE_BLACKHOLE})

    def plan(self, snap: Snapshot, findings: Sequence[Finding], ctx: PlanContext) -> list[Planned]:
        fn = snap.function
        if fn is None or fn.vpc_id is None:
            return []
        public = self._public_subnet(snap, fn.vpc_id)
        if public is None:
            return []
        tables: dict[str, str | None] = {}  # table id -> the route it replaces (None: there is none)
        for subnet_id in fn.subnet_ids:
            table = routes.table_for_subnet(subnet_id, fn.vpc_id, snap.route_tables)
            if table is None or table.id in tables:
                continue
            current = next((r for r in table.routes if r.destination == "0.0.0.0/0"), None)
            if current is not None and current.state == "active" and current.target_kind != "nat":
                return []  # the default route goes somewhere on purpose; not taken over
            tables[table.id] = current.target if current else None
        eip_step = ctx.step_id()
        allocation = ctx.placeholder("eipalloc", eip_step, "AllocationId")
        nat_step = ctx.step_id()
        nat = ctx.placeholder("nat", nat_step, "NatGatewayId")
        steps: list[Step] = [
            Step(
                eip_step,
                Call(
                    "ec2",
                    "AllocateAddress",
                    {
                        "Domain": "vpc",
                        "TagSpecifications": [{"ResourceType": "elastic-ip", "Tags": ctx.tags("nat-gateway")}],
                    },
                ),
                f"+ Elastic IP {allocation}",
                undo=Call("ec2", "ReleaseAddress", {"AllocationId": ctx.real(allocation)}),
                outputs={"AllocationId": "AllocationId"},
            ),
            Step(
                nat_step,
                Call(
                    "ec2",
                    "CreateNatGateway",
                    {
                        "SubnetId": public,
                        "AllocationId": ctx.real(allocation),
                        "ConnectivityType": "public",
                        "TagSpecifications": [{"ResourceType": "natgateway", "Tags": ctx.tags("nat-gateway")}],
                    },
                ),
                f"+ NAT gateway {nat} in {public}",
                undo=Call("ec2", "DeleteNatGateway", {"NatGatewayId": ctx.real(nat)}),
                outputs={"NatGatewayId": "NatGateway.NatGatewayId"},
                wait="nat_gateway_available",
            ),
        ]
        default = "0.0.0.0/0"
        for table_id, previous in tables.items():
            if previous is None:
                steps.append(
                    self.step(
                        ctx,
                        Call(
                            "ec2",
                            "CreateRoute",
                            {"RouteTableId": table_id, "DestinationCidrBlock": default, "NatGatewayId": ctx.real(nat)},
                        ),
                        f"+ {table_id} route 0.0.0.0/0 -> {nat}",
                        undo=Call("ec2", "DeleteRoute", {"RouteTableId": table_id, "DestinationCidrBlock": default}),
                    )
                )
            else:
                steps.append(
                    self.step(
                        ctx,
                        Call(
                            "ec2",
                            "ReplaceRoute",
                            {"RouteTableId": table_id, "DestinationCidrBlock": default, "NatGatewayId": ctx.real(nat)},
                        ),
                        f"~ {table_id} route 0.0.0.0/0: {previous} (not working) -> {nat}",
                        undo=Call(
                            "ec2",
                            "ReplaceRoute",
                            {"RouteTableId": table_id, "DestinationCidrBlock": default, "NatGatewayId": previous},
                        ),
                    )
                )
        fix = Fix(
            self.kind,
            self.risk,
            f"Create a NAT gateway in {public} and route the function's subnets to it.",
            tuple(sorted({f.code for f in findings})),
            tuple(steps),
            vpc_id=fn.vpc_id,
            cost=f"about ${HOURLY} an hour (${HOURLY * 730:.2f} a month), plus $0.045 per GB (us-east-1 list price)",
            notes=(
                "AWS recommends the Secrets Manager interface endpoint instead: traffic stays in the VPC "
                "and nothing is exposed to the internet.",
            ),
        )
        to_nat = Route(default, nat, "active")
        edits: list[Edit] = [PutNatGateway(NatGateway(nat, fn.vpc_id, public, "available"))]
        edits += [(CreateRoute if previous is None else ReplaceRoute)(t, to_nat) for t, previous in tables.items()]
        return [Planned(fix, tuple(edits))]

    @staticmethod
    def _public_subnet(snap: Snapshot, vpc_id: str) -> str | None:
        """A subnet whose default route goes to an internet gateway attached to the VPC."""
        for subnet in sorted(snap.subnets.values(), key=lambda s: s.id):
            if subnet.vpc_id != vpc_id:
                continue
            table = routes.table_for_subnet(subnet.id, vpc_id, snap.route_tables)
            route = (
                routes.choose(table, routes.DEFAULT_ROUTE, snap.prefix_lists).route if table else None
            )  # None: unknown too
            igw = snap.internet_gateways.get(route.target) if route and route.target_kind == "igw" else None
            if route is not None and route.state == "active" and igw is not None and vpc_id in igw.attached_vpc_ids:
                return subnet.id
        return None

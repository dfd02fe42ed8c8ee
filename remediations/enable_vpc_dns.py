"""ENABLE_VPC_DNS: turn on enableDnsSupport and enableDnsHostnames, which private DNS for endpoints needs."""

from __future__ import annotations

from collections.abc import Sequence

from remediations.base import PlanContext, Planned, Remediation
from rotation_doctor.model.edits import SetVpcDns
from rotation_doctor.model.findings import Code, Finding
from rotation_doctor.model.plan import Call, Fix, FixKind, Risk, Step
from rotation_doctor.model.snapshot import DnsAttributes, Snapshot


class EnableVpcDns(Remediation):
    kind = FixKind.ENABLE_VPC_DNS
    risk = Risk.HIGH  # name resolution changes for every instance in the VPC
    change = "turn on `enableDnsSupport` / `enableDnsHostnames`"
    iam_actions = ("ec2:ModifyVpcAttribute",)
    handles = frozenset({Code.SM_VPC_DNS_DISABLED})

    def plan(self, snap: Snapshot, findings: Sequence[Finding], ctx: PlanContext) -> list[Planned]:
        fn = snap.function
        if fn is None or fn.vpc_id is None:
            return []
        planned = self.for_vpc(snap, fn.vpc_id, ctx, tuple(f.code for f in findings))
        return [planned] if planned else []

    def for_vpc(self, snap: Snapshot, vpc_id: str, ctx: PlanContext, codes: tuple[Code, ...]) -> Planned | None:
        """Steps for the attributes that are off, in the order AWS needs (support before hostnames)."""
        attrs = snap.dns_attributes.get(vpc_id)
        if attrs is None:
            return None  # not read: never taken to mean "off" (the planning read fetches them)
        steps: list[Step] = []
        for name, on in (
            ("EnableDnsSupport", attrs.enable_dns_support),
            ("EnableDnsHostnames", attrs.enable_dns_hostnames),
        ):
            if not on:
                steps.append(
                    self.step(
                        ctx,
                        Call("ec2", "ModifyVpcAttribute", {"VpcId": vpc_id, name: {"Value": True}}),
                        f"~ {vpc_id} {name[0].lower()}{name[1:]}: false -> true",
                        undo=Call("ec2", "ModifyVpcAttribute", {"VpcId": vpc_id, name: {"Value": False}}),
                    )
                )
        if not steps:
            return None
        fix = Fix(
            self.kind,
            self.risk,
            f"Turn on DNS support and DNS hostnames for {vpc_id}.",
            codes,
            tuple(steps),
            vpc_id=vpc_id,
            notes=(
                "Every instance in the VPC then resolves through the Amazon DNS server, and private "
                "hosted zones associated with the VPC start to answer.",
            ),
        )
        return Planned(fix, (SetVpcDns(vpc_id, DnsAttributes(True, True)),))

"""ADD_NACL_ENTRIES: allow rules for exactly the request port or the return ports, for exactly the peer subnet,
numbered below the rule that denies now (network ACLs are first-match)."""

from __future__ import annotations

from collections.abc import Sequence

from remediations.base import PlanContext, Planned, Remediation
from rotation_doctor.model.edits import CreateNaclEntry
from rotation_doctor.model.evidence import NaclDenied, PeerKind
from rotation_doctor.model.findings import Code, Finding
from rotation_doctor.model.plan import Call, Fix, FixKind, Risk
from rotation_doctor.model.snapshot import NaclEntry, Snapshot

MAX_RULE = 32766


def free_rule_number(used: set[int], below: int) -> int | None:
    """The highest free number under `below`: the new allow wins over the deny, and over nothing else."""
    for number in range(min(below, MAX_RULE + 1) - 1, 0, -1):
        if number not in used:
            return number
    return None


class AddNaclEntries(Remediation):
    kind = FixKind.ADD_NACL_ENTRIES
    risk = Risk.HIGH  # an ACL guards every instance of the subnet
    change = (
        "allow rules for the request and return ports (behind an RDS Proxy, also between the proxy's and its "
        "target's subnets)"
    )
    iam_actions = ("ec2:CreateNetworkAclEntry", "ec2:DeleteNetworkAclEntry")
    handles = frozenset({Code.SM_NACL_DENIES, Code.DB_NACL_DENIES, Code.DB_PROXY_TARGET_UNREACHABLE})

    def plan(self, snap: Snapshot, findings: Sequence[Finding], ctx: PlanContext) -> list[Planned]:
        planned = []
        taken: dict[tuple[str, bool], set[int]] = {}
        # Subnets sharing an ACL each report the same denial: one allow rule serves them all.
        allowed: set[tuple[str, bool, str, int, int]] = set()
        for finding in findings:
            denied = finding.facts
            if not isinstance(denied, NaclDenied):
                continue
            if denied.peer is PeerKind.INTERNET or not denied.peer_cidrs:
                # Rules open to the internet are never added (an endpoint is planned instead); a partial
                # denial of the internet is only a doubt anyway.
                continue
            acl = next((a for a in snap.network_acls if a.id == denied.acl), None)
            if acl is None:
                continue
            egress = denied.egress
            used = taken.setdefault((acl.id, egress), {e.rule_number for e in acl.entries if e.egress == egress})
            below = min(denied.denying_rules or (32767,))
            lo, hi = denied.ports
            steps, entries = [], []
            for cidr in denied.peer_cidrs:
                if (acl.id, egress, cidr, lo, hi) in allowed:
                    continue
                number = free_rule_number(used, below)
                if number is None:
                    break
                used.add(number)
                allowed.add((acl.id, egress, cidr, lo, hi))
                entries.append(NaclEntry(number, egress, True, "6", cidr, lo, hi))
                steps.append(
                    self.step(
                        ctx,
                        Call(
                            "ec2",
                            "CreateNetworkAclEntry",
                            {
                                "NetworkAclId": acl.id,
                                "RuleNumber": number,
                                "Protocol": "6",
                                "RuleAction": "allow",
                                "Egress": egress,
                                "CidrBlock": cidr,
                                "PortRange": {"From": lo, "To": hi},
                            },
                        ),
                        f"+ {acl.id} {'outbound' if egress else 'inbound'} rule {number}: allow tcp/"
                        f"{lo if lo == hi else f'{lo}-{hi}'} {'to' if egress else 'from'} {cidr} ({denied.leg})",
                        undo=Call(
                            "ec2",
                            "DeleteNetworkAclEntry",
                            {"NetworkAclId": acl.id, "RuleNumber": number, "Egress": egress},
                        ),
                    )
                )
            if not steps:
                continue
            fix = Fix(
                self.kind,
                self.risk,
                f"Let network ACL {acl.id} pass the {denied.leg} traffic {denied.direction} for "
                f"{', '.join(denied.peer_cidrs)}.",
                (finding.code,),
                tuple(steps),
                vpc_id=acl.vpc_id,
            )
            planned.append(Planned(fix, tuple(CreateNaclEntry(acl.id, e) for e in entries)))
        return planned

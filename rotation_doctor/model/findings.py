"""Finding codes (stable, see docs/contract.md section 2), findings, and the verdict."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from rotation_doctor.model.evidence import Evidence


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class PathName(StrEnum):
    SM = "sm"
    DB = "db"
    INVOKE = "invoke"
    CONFIG = "config"


class Verdict(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    BROKEN = "broken"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class CodeInfo:
    path: PathName
    severity: Severity  # the severity when every case fails; a path code failing only some is a warning
    remedy: str  # what a person on call does about it, in one sentence
    not_evaluated: bool = False  # this part was not judged: the verdict is unknown, never degraded


class Code(StrEnum):
    """A finding code: stable, documented in docs/contract.md section 2 (tests/test_registry.py holds the
    table equal to this enum). Each value is its name, so the JSON prints the code as it always has; what a
    code means to the code (path, severity, remedy, not evaluated) is in `CODE_INFO`."""

    SM_NO_PATH = "SM_NO_PATH"
    SM_PUBLIC_SUBNET_NO_NAT = "SM_PUBLIC_SUBNET_NO_NAT"
    SM_ROUTE_BLACKHOLE = "SM_ROUTE_BLACKHOLE"
    SM_NAT_NO_INTERNET = "SM_NAT_NO_INTERNET"
    SM_IPV6_NO_ROUTE = "SM_IPV6_NO_ROUTE"
    SM_ENDPOINT_PRIVATE_DNS_DISABLED = "SM_ENDPOINT_PRIVATE_DNS_DISABLED"
    SM_VPC_DNS_DISABLED = "SM_VPC_DNS_DISABLED"
    SM_ENDPOINT_NOT_AVAILABLE = "SM_ENDPOINT_NOT_AVAILABLE"
    SM_ENDPOINT_SG_DENIES = "SM_ENDPOINT_SG_DENIES"
    SM_LAMBDA_EGRESS_DENIES = "SM_LAMBDA_EGRESS_DENIES"
    SM_NACL_DENIES = "SM_NACL_DENIES"
    SM_ENDPOINT_POLICY_DENIES = "SM_ENDPOINT_POLICY_DENIES"
    SM_PATH_NOT_EVALUATED = "SM_PATH_NOT_EVALUATED"
    SM_PATH_BLOCKED_BY_ANALYZER = "SM_PATH_BLOCKED_BY_ANALYZER"
    SM_ENDPOINT_NO_ROUTE = "SM_ENDPOINT_NO_ROUTE"
    SM_TGW_NOT_ATTACHED = "SM_TGW_NOT_ATTACHED"
    SM_TGW_ROUTE_MISSING = "SM_TGW_ROUTE_MISSING"
    SM_TGW_BLACKHOLE = "SM_TGW_BLACKHOLE"
    SM_EGRESS_NO_NAT = "SM_EGRESS_NO_NAT"
    SM_EGRESS_NO_RETURN_ROUTE = "SM_EGRESS_NO_RETURN_ROUTE"
    DB_TARGET_UNRESOLVED = "DB_TARGET_UNRESOLVED"
    DB_PORT_MISMATCH = "DB_PORT_MISMATCH"
    DB_LAMBDA_NOT_IN_VPC = "DB_LAMBDA_NOT_IN_VPC"
    DB_NO_ROUTE = "DB_NO_ROUTE"
    DB_LAMBDA_EGRESS_DENIES = "DB_LAMBDA_EGRESS_DENIES"
    DB_SG_INGRESS_DENIES = "DB_SG_INGRESS_DENIES"
    DB_NACL_DENIES = "DB_NACL_DENIES"
    DB_PATH_NOT_EVALUATED = "DB_PATH_NOT_EVALUATED"
    DB_PATH_BLOCKED_BY_ANALYZER = "DB_PATH_BLOCKED_BY_ANALYZER"
    DB_TGW_NOT_ATTACHED = "DB_TGW_NOT_ATTACHED"
    DB_TGW_ROUTE_MISSING = "DB_TGW_ROUTE_MISSING"
    DB_TGW_BLACKHOLE = "DB_TGW_BLACKHOLE"
    DB_PROXY_TARGET_UNREACHABLE = "DB_PROXY_TARGET_UNREACHABLE"
    DB_PROXY_TARGET_UNHEALTHY = "DB_PROXY_TARGET_UNHEALTHY"
    INVOKE_PERMISSION_MISSING = "INVOKE_PERMISSION_MISSING"
    ROTATION_LAMBDA_MISSING = "ROTATION_LAMBDA_MISSING"
    ROTATION_NOT_LAMBDA = "ROTATION_NOT_LAMBDA"
    LOGS_SHOW_NON_NETWORK_ERROR = "LOGS_SHOW_NON_NETWORK_ERROR"
    AWS_READ_FAILED = "AWS_READ_FAILED"
    ACCOUNT_ROLE_REFUSED = "ACCOUNT_ROLE_REFUSED"

    @property
    def path(self) -> PathName:
        return CODE_INFO[self].path

    @property
    def severity(self) -> Severity:
        return CODE_INFO[self].severity

    @property
    def remedy(self) -> str:
        return CODE_INFO[self].remedy

    @property
    def is_not_evaluated(self) -> bool:
        """This part was not judged: the verdict is unknown, never degraded."""
        return CODE_INFO[self].not_evaluated


# What each code means to the code; tests/test_registry.py holds it to every member and to the contract.
CODE_INFO: Mapping[Code, CodeInfo] = {
    Code.SM_NO_PATH: CodeInfo(
        PathName.SM,
        Severity.ERROR,
        "Create a Secrets Manager interface endpoint in the function's VPC (preferred) or route "
        "0.0.0.0/0 to a NAT gateway.",
    ),
    Code.SM_PUBLIC_SUBNET_NO_NAT: CodeInfo(
        PathName.SM,
        Severity.ERROR,
        "Lambda ENIs get no public IP: put the function in private subnets with a Secrets Manager "
        "endpoint or a NAT gateway route.",
    ),
    Code.SM_ROUTE_BLACKHOLE: CodeInfo(
        PathName.SM,
        Severity.ERROR,
        "Point the default route at a working NAT gateway, or create a Secrets Manager endpoint.",
    ),
    Code.SM_NAT_NO_INTERNET: CodeInfo(
        PathName.SM,
        Severity.ERROR,
        "Give the NAT gateway's subnet a 0.0.0.0/0 route to an attached internet gateway, or create "
        "a Secrets Manager endpoint.",
    ),
    Code.SM_IPV6_NO_ROUTE: CodeInfo(
        PathName.SM,
        Severity.ERROR,
        "Route ::/0 to an egress-only internet gateway in the function subnets' route table, or create a "
        "Secrets Manager endpoint, or turn off Ipv6AllowedForDualStack so the function calls over IPv4.",
    ),
    Code.SM_ENDPOINT_PRIVATE_DNS_DISABLED: CodeInfo(
        PathName.SM,
        Severity.ERROR,
        "Turn on private DNS for the Secrets Manager endpoint, or set SECRETS_MANAGER_ENDPOINT on the "
        "function to the endpoint's DNS name.",
    ),
    Code.SM_VPC_DNS_DISABLED: CodeInfo(
        PathName.SM,
        Severity.ERROR,
        "Turn on enableDnsSupport and enableDnsHostnames for the VPC so the endpoint's private DNS works.",
    ),
    Code.SM_ENDPOINT_NOT_AVAILABLE: CodeInfo(
        PathName.SM,
        Severity.ERROR,
        "Recreate or repair the Secrets Manager endpoint, or point SECRETS_MANAGER_ENDPOINT at one that is available.",
    ),
    Code.SM_ENDPOINT_SG_DENIES: CodeInfo(
        PathName.SM,
        Severity.ERROR,
        "Add an ingress rule for TCP 443 from the function's security group to the endpoint's group.",
    ),
    Code.SM_LAMBDA_EGRESS_DENIES: CodeInfo(
        PathName.SM,
        Severity.ERROR,
        "Add an egress rule for TCP 443 from the function's security group to the endpoint's group.",
    ),
    Code.SM_NACL_DENIES: CodeInfo(
        PathName.SM,
        Severity.ERROR,
        "Add network ACL rules allowing TCP 443 and the return ports 1024-65535 between the subnets.",
    ),
    Code.SM_ENDPOINT_POLICY_DENIES: CodeInfo(
        PathName.SM,
        Severity.ERROR,
        "Allow the rotation calls for this secret in the endpoint policy.",
    ),
    Code.SM_PATH_NOT_EVALUATED: CodeInfo(
        PathName.SM,
        Severity.WARNING,
        "Check the transit gateway, peering, firewall or appliance on the way by hand.",
        not_evaluated=True,
    ),
    Code.SM_ENDPOINT_NO_ROUTE: CodeInfo(
        PathName.SM,
        Severity.ERROR,
        "Add the missing route (or peering, or transit gateway attachment, association or route) between the "
        "function's VPC and the endpoint's VPC, both ways.",
    ),
    Code.SM_PATH_BLOCKED_BY_ANALYZER: CodeInfo(
        PathName.SM,
        Severity.ERROR,
        "Open the component VPC Reachability Analyzer names as blocking (diagnose --deep) for TCP 443 from the "
        "function to Secrets Manager.",
    ),
    Code.SM_TGW_NOT_ATTACHED: CodeInfo(
        PathName.SM,
        Severity.ERROR,
        "Create a Secrets Manager endpoint in the function's VPC, or attach the VPC (and the egress VPC) to the "
        "transit gateway with a subnet in every Availability Zone the function runs in.",
    ),
    Code.SM_TGW_ROUTE_MISSING: CodeInfo(
        PathName.SM,
        Severity.ERROR,
        "Create a Secrets Manager endpoint in the function's VPC, or route 0.0.0.0/0 to the egress VPC's attachment "
        "in the spoke's transit gateway route table and the spoke's block back to it in the egress VPC's.",
    ),
    Code.SM_TGW_BLACKHOLE: CodeInfo(
        PathName.SM,
        Severity.ERROR,
        "Create a Secrets Manager endpoint in the function's VPC, or replace the blackhole route in the transit "
        "gateway route table named.",
    ),
    Code.SM_EGRESS_NO_NAT: CodeInfo(
        PathName.SM,
        Severity.ERROR,
        "Create a Secrets Manager endpoint in the function's VPC, or route 0.0.0.0/0 from the egress VPC's transit "
        "gateway attachment subnets to a NAT gateway.",
    ),
    Code.SM_EGRESS_NO_RETURN_ROUTE: CodeInfo(
        PathName.SM,
        Severity.ERROR,
        "Create a Secrets Manager endpoint in the function's VPC, or route the spoke's block to the transit gateway "
        "in the route table of the egress VPC's NAT gateway subnet.",
    ),
    Code.DB_TARGET_UNRESOLVED: CodeInfo(
        PathName.DB,
        Severity.WARNING,
        "Tag the secret rotation-doctor:target (rds:ID, rds-cluster:ID, redshift:ID, docdb:ID or "
        "host:NAME:PORT) so the database path can be judged.",
        not_evaluated=True,
    ),
    Code.DB_PORT_MISMATCH: CodeInfo(
        PathName.DB,
        Severity.ERROR,
        "Set the secret's port field to the port the database listens on (rotation-doctor never edits a secret).",
    ),
    Code.DB_LAMBDA_NOT_IN_VPC: CodeInfo(
        PathName.DB,
        Severity.ERROR,
        "Attach the rotation function to the database's VPC and subnets.",
    ),
    Code.DB_NO_ROUTE: CodeInfo(
        PathName.DB,
        Severity.ERROR,
        "Add routes both ways over an active VPC peering connection between the two VPCs.",
    ),
    Code.DB_LAMBDA_EGRESS_DENIES: CodeInfo(
        PathName.DB,
        Severity.ERROR,
        "Add an egress rule for the database port from the function's group to the database's group.",
    ),
    Code.DB_SG_INGRESS_DENIES: CodeInfo(
        PathName.DB,
        Severity.ERROR,
        "Add an ingress rule for the database port from the function's group to the database's group.",
    ),
    Code.DB_NACL_DENIES: CodeInfo(
        PathName.DB,
        Severity.ERROR,
        "Add network ACL rules allowing the database port and the return ports 1024-65535.",
    ),
    Code.DB_PATH_NOT_EVALUATED: CodeInfo(
        PathName.DB,
        Severity.WARNING,
        "Check the transit gateway or appliance between the function and the database by hand.",
        not_evaluated=True,
    ),
    Code.DB_PATH_BLOCKED_BY_ANALYZER: CodeInfo(
        PathName.DB,
        Severity.ERROR,
        "Open the component VPC Reachability Analyzer names as blocking (diagnose --deep) for the database port "
        "from the function.",
    ),
    Code.DB_TGW_NOT_ATTACHED: CodeInfo(
        PathName.DB,
        Severity.ERROR,
        "Attach the VPC to the transit gateway with a subnet in every Availability Zone the function or the "
        "database runs in, or make the attachment the route leads to available.",
    ),
    Code.DB_TGW_ROUTE_MISSING: CodeInfo(
        PathName.DB,
        Severity.ERROR,
        "Associate the attachment with a transit gateway route table that routes the other VPC's block to its "
        "attachment (a static route, or a propagation from that attachment).",
    ),
    Code.DB_TGW_BLACKHOLE: CodeInfo(
        PathName.DB,
        Severity.ERROR,
        "Replace the blackhole route in the transit gateway route table with one to the other VPC's attachment.",
    ),
    Code.DB_PROXY_TARGET_UNREACHABLE: CodeInfo(
        PathName.DB,
        Severity.ERROR,
        "Let the RDS Proxy's security groups reach its target on the target's port: an egress rule on the proxy's "
        "group and an ingress rule on the target's group naming the proxy's group (and network ACLs both ways).",
    ),
    Code.DB_PROXY_TARGET_UNHEALTHY: CodeInfo(
        PathName.DB,
        Severity.ERROR,
        "Look at the proxy's target health (DescribeDBProxyTargets): register a target, fix the credentials in "
        "the proxy's Auth secret, or wait for the proxy's capacity.",
    ),
    Code.INVOKE_PERMISSION_MISSING: CodeInfo(
        PathName.INVOKE,
        Severity.ERROR,
        "Add a resource-policy statement letting secretsmanager.amazonaws.com invoke the function, "
        "scoped by source account.",
    ),
    Code.ROTATION_LAMBDA_MISSING: CodeInfo(
        PathName.CONFIG,
        Severity.ERROR,
        "Redeploy the rotation function, or point the secret's rotation at one that exists.",
    ),
    Code.ROTATION_NOT_LAMBDA: CodeInfo(
        PathName.CONFIG,
        Severity.INFO,
        "Nothing to do: this secret is not rotated by a Lambda function.",
    ),
    Code.LOGS_SHOW_NON_NETWORK_ERROR: CodeInfo(
        PathName.CONFIG,
        Severity.WARNING,
        "Look at the function's credentials, IAM role and KMS key policy: the network is not the cause.",
    ),
    # Added by this project (documented in docs/diagnosis.md, "Finding codes"): a read AWS refused or that
    # failed, so the paths that needed it were not judged. Never reported as "none exist".
    Code.AWS_READ_FAILED: CodeInfo(
        PathName.CONFIG,
        Severity.WARNING,
        "Grant the missing read permission to whoever runs rotation-doctor, then diagnose again.",
        not_evaluated=True,
    ),
    # Added by this project: a scan across accounts could not assume its role in one account, so none of
    # that account's secrets were read. A finding for the account (verdict unknown), never a crash of the scan.
    Code.ACCOUNT_ROLE_REFUSED: CodeInfo(
        PathName.CONFIG,
        Severity.WARNING,
        "Deploy the member role in the account (org/member.yaml) with a trust that names you, or check the SCPs "
        "that deny sts:AssumeRole, then scan again.",
        not_evaluated=True,
    ),
}


def code_named(text: str) -> Code | None:
    """The code `text` spells, from outside data (a Security Hub finding's GeneratorId), or None for one this
    version does not know (a code is never renamed, but a later version may have added it)."""
    try:
        return Code(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class Finding:
    code: Code
    severity: Severity
    summary: str
    resources: tuple[str, ...] = ()
    evidence: Mapping[str, Any] = field(default_factory=dict)  # for people and JSON; from `facts` when left out
    facts: Evidence | None = None  # the same evidence typed, for fix kinds (never in the JSON)

    def __post_init__(self) -> None:
        if not isinstance(self.code, Code):  # mypy sees the type; this keeps a spelling from outside out
            raise ValueError(f"unknown finding code {self.code}")
        if self.facts is not None and not self.evidence:
            object.__setattr__(self, "evidence", self.facts.to_json())

    @property
    def path(self) -> PathName:
        return self.code.path

    @property
    def remedy(self) -> str:
        return self.code.remedy

    def to_json(self) -> dict[str, Any]:
        return {
            "code": str(self.code),
            "severity": str(self.severity),
            "path": str(self.path),
            "summary": self.summary,
            "resources": list(self.resources),
            "evidence": dict(self.evidence),
        }


def verdict_of(findings: Iterable[Finding]) -> Verdict:
    """broken on any error; degraded on a warning that is not "not evaluated"; unknown; healthy."""
    found = list(findings)
    if any(f.severity is Severity.ERROR for f in found):
        return Verdict.BROKEN
    if any(f.severity is Severity.WARNING and not f.code.is_not_evaluated for f in found):
        return Verdict.DEGRADED
    if any(f.code.is_not_evaluated and f.severity is not Severity.INFO for f in found):
        return Verdict.UNKNOWN
    return Verdict.HEALTHY

"""A plan is data: the exact AWS calls each fix makes, how each is undone, and a hash people approve.

A step's parameters may name what an earlier step returned: the string `${s1.GroupId}` is
replaced, when the step runs, by the `GroupId` output of step `s1`. Plans are shown to people
and hashed into approvals exactly as they will run.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from rotation_doctor.model.findings import Code


class Risk(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    NEVER_AUTOMATIC = "never automatic"

    @property
    def rank(self) -> int:
        return list(Risk).index(self)

    def at_most(self, limit: Risk) -> bool:
        return self.rank <= limit.rank


class FixKind(StrEnum):
    """Fix kinds of the contract (section 3). Stable identifiers: add, never rename or reuse."""

    AUTHORIZE_DB_INGRESS = "AUTHORIZE_DB_INGRESS"
    AUTHORIZE_LAMBDA_EGRESS = "AUTHORIZE_LAMBDA_EGRESS"
    AUTHORIZE_ENDPOINT_INGRESS = "AUTHORIZE_ENDPOINT_INGRESS"
    ADD_INVOKE_PERMISSION = "ADD_INVOKE_PERMISSION"
    ENABLE_ENDPOINT_PRIVATE_DNS = "ENABLE_ENDPOINT_PRIVATE_DNS"
    CREATE_SECRETSMANAGER_ENDPOINT = "CREATE_SECRETSMANAGER_ENDPOINT"
    ENABLE_VPC_DNS = "ENABLE_VPC_DNS"
    ADD_NACL_ENTRIES = "ADD_NACL_ENTRIES"
    ADD_PEERING_ROUTES = "ADD_PEERING_ROUTES"
    ATTACH_LAMBDA_TO_VPC = "ATTACH_LAMBDA_TO_VPC"
    CREATE_NAT_GATEWAY = "CREATE_NAT_GATEWAY"


@dataclass(frozen=True)
class Call:
    service: str  # the boto3 client: "ec2", "lambda"
    operation: str  # the API operation: "AuthorizeSecurityGroupIngress"
    params: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"service": self.service, "operation": self.operation, "params": _plain(self.params)}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Call:
        return cls(str(raw["service"]), str(raw["operation"]), raw["params"])


class ResourceKind(StrEnum):
    """What a step writes to: guardrails check each one (opt-out tag, allow-listed VPC)."""

    VPC = "vpc"
    SUBNET = "subnet"
    SECURITY_GROUP = "security-group"
    ROUTE_TABLE = "route-table"
    NETWORK_ACL = "network-acl"
    VPC_ENDPOINT = "vpc-endpoint"
    NAT_GATEWAY = "natgateway"
    ELASTIC_IP = "elastic-ip"
    FUNCTION = "function"


@dataclass(frozen=True)
class Written:
    kind: ResourceKind
    id: str  # an AWS id, or a step reference (`${s1.GroupId}`) to what an earlier step of the plan creates

    @property
    def created_by_plan(self) -> bool:
        return bool(_REF.search(self.id))


# Which request parameters name a resource the call writes to. A referenced peer (UserIdGroupPairs) is
# only named, not changed, so it is not here.
_WRITTEN_BY_PARAMETER: Mapping[str, ResourceKind] = {
    "VpcId": ResourceKind.VPC,
    "GroupId": ResourceKind.SECURITY_GROUP,
    "SecurityGroupIds": ResourceKind.SECURITY_GROUP,
    "SubnetId": ResourceKind.SUBNET,
    "SubnetIds": ResourceKind.SUBNET,
    "RouteTableId": ResourceKind.ROUTE_TABLE,
    "NetworkAclId": ResourceKind.NETWORK_ACL,
    "VpcEndpointId": ResourceKind.VPC_ENDPOINT,
    "VpcEndpointIds": ResourceKind.VPC_ENDPOINT,
    "NatGatewayId": ResourceKind.NAT_GATEWAY,
    "AllocationId": ResourceKind.ELASTIC_IP,
    "FunctionName": ResourceKind.FUNCTION,
}


def written_by(call: Call) -> tuple[Written, ...]:
    """The resources `call` changes, from its parameters (a Lambda VpcConfig's subnets and groups too)."""
    found: list[Written] = []

    def visit(params: Mapping[str, Any]) -> None:
        for name, value in params.items():
            kind = _WRITTEN_BY_PARAMETER.get(name)
            if kind is not None:
                values = value if isinstance(value, list | tuple) else [value]
                found.extend(Written(kind, str(v)) for v in values)
            elif name == "VpcConfig" and isinstance(value, Mapping):
                visit(value)

    visit(call.params)
    return tuple(dict.fromkeys(found))


# AWS's answer to a revoke of a security group rule that is not there (a default VPC answers success instead, the
# rule listed in UnknownIpPermissions: the executor takes both for "already done").
RULE_NOT_FOUND = "InvalidPermission.NotFound"


@dataclass(frozen=True)
class Step:
    id: str
    call: Call
    says: str  # one line of the account diff: "+ sg-db ingress tcp/5432 <- sg-fn (rotation-doctor: app/db)"
    undo: Call | None = None
    outputs: Mapping[str, str] = field(default_factory=dict)  # name -> dotted path in the response
    already_done: tuple[str, ...] = ()  # error codes that mean the change is in place already
    wait: str | None = None  # a botocore waiter to run after the call (e.g. "nat_gateway_available")

    @property
    def writes(self) -> tuple[Written, ...]:
        """Every resource the call (and its undo) changes: guardrails check all of them, not only the fix's VPC."""
        return tuple(dict.fromkeys((*written_by(self.call), *(written_by(self.undo) if self.undo else ()))))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, **self.call.to_json(), "says": self.says}
        if self.undo is not None:
            out["undo"] = self.undo.to_json()
        if self.outputs:
            out["outputs"] = dict(self.outputs)
        if self.wait:
            out["wait"] = self.wait
        return out


class LinkStatus(StrEnum):
    PROVEN = "proven"  # the database names the secret (its tag), or the deployer trusts the secret's name
    UNPROVEN = "unproven"  # only the secret's own value or tag links the database to it
    NOT_REQUIRED = "not_required"  # the fix changes only the function's own resources or the SM path


@dataclass(frozen=True)
class Link:
    """Whether the resources a fix changes are proven to belong to the secret, and by what."""

    status: LinkStatus
    proof: str  # what proves it, or what is not linked (for people)
    by_person_only: bool = False  # never applied without a person's approval (unproven, or a target found by IP)

    def to_json(self) -> dict[str, Any]:
        return {"status": str(self.status), "proof": self.proof, "by_person_only": self.by_person_only}


NOT_REQUIRED = Link(
    LinkStatus.NOT_REQUIRED, "changes only the rotation function's own resources or its way to Secrets Manager"
)


@dataclass(frozen=True)
class Fix:
    kind: FixKind
    risk: Risk
    summary: str
    fixes: tuple[Code, ...]  # the finding codes it addresses
    steps: tuple[Step, ...]
    vpc_id: str | None = None
    cost: str | None = None
    notes: tuple[str, ...] = ()
    link: Link = NOT_REQUIRED

    @property
    def writes(self) -> tuple[Written, ...]:
        return tuple(dict.fromkeys(w for s in self.steps for w in s.writes))

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind),
            "risk": str(self.risk),
            "link": self.link.to_json(),
            "summary": self.summary,
            "fixes": [str(code) for code in self.fixes],
            "writes": [{"kind": str(w.kind), "id": w.id} for w in self.writes],
            "vpc": self.vpc_id,
            "cost": self.cost,
            "notes": list(self.notes),
            "steps": [s.to_json() for s in self.steps],
        }


@dataclass(frozen=True)
class Unfixable:
    code: Code
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"code": str(self.code), "reason": self.reason}


@dataclass(frozen=True)
class Plan:
    secret_arn: str
    secret_name: str
    fixes: tuple[Fix, ...]
    unfixable: tuple[Unfixable, ...] = ()
    ends_healthy: bool = True  # the analyzer, run on the account as the plan would leave it, says healthy
    notes: tuple[str, ...] = ()  # about the plan as a whole (not part of what is approved)

    @property
    def hash(self) -> str:
        """What an approval binds: every call with its parameters, in order."""
        canonical = json.dumps([f.to_json() for f in self.fixes], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(f"{self.secret_arn}\n{canonical}".encode()).hexdigest()

    @property
    def empty(self) -> bool:
        return not self.fixes

    def to_json(self) -> list[dict[str, Any]]:
        return [f.to_json() for f in self.fixes]


_REF = re.compile(r"\$\{(s\d+)\.([A-Za-z0-9_.]+)\}")


def ref(step_id: str, output: str) -> str:
    return f"${{{step_id}.{output}}}"


def resolve(params: Any, outputs: Mapping[str, Mapping[str, Any]]) -> Any:
    """`params` with every `${step.output}` replaced by what that step returned."""
    if isinstance(params, str):
        whole = _REF.fullmatch(params)
        if whole:
            return outputs[whole.group(1)][whole.group(2)]
        return _REF.sub(lambda m: str(outputs[m.group(1)][m.group(2)]), params)
    if isinstance(params, Mapping):
        return {k: resolve(v, outputs) for k, v in params.items()}
    if isinstance(params, list | tuple):
        return [resolve(v, outputs) for v in params]
    return params


def references(params: Any) -> set[str]:
    """The ids of the steps whose outputs `params` uses."""
    if isinstance(params, str):
        return {m.group(1) for m in _REF.finditer(params)}
    if isinstance(params, Mapping):
        return {r for v in params.values() for r in references(v)}
    if isinstance(params, list | tuple):
        return {r for v in params for r in references(v)}
    return set()


def dig(response: Mapping[str, Any], path: str) -> Any:
    value: Any = response
    for part in path.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value

"""The path a diagnosis walked, hop by hop: what each component on the way was asked, what it answered, and which
rule or route decided it. Made by `analysis/paths.py` from the checks the analysis runs (never a second evaluator);
shown by `--format json` (`paths`), `--format text`, `--format mermaid` and the approval page."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NotRequired, TypedDict


class PathLeg(StrEnum):
    """Which path: the function to Secrets Manager, to its database, and an RDS Proxy's own leg to its targets."""

    SM = "sm"
    DB = "db"
    PROXY = "proxy"

    @property
    def heading(self) -> str:
        return _LEG_TITLES[self]


_LEG_TITLES = {
    PathLeg.SM: "to Secrets Manager",
    PathLeg.DB: "to the database",
    PathLeg.PROXY: "RDS Proxy to its targets",
}


class HopKind(StrEnum):
    FUNCTION = "function"
    SECURITY_GROUPS = "security_groups"
    NETWORK_ACL = "network_acl"
    ROUTE_TABLE = "route_table"
    NAT_GATEWAY = "nat_gateway"
    INTERNET_GATEWAY = "internet_gateway"
    VPC_ENDPOINT = "vpc_endpoint"
    PEERING = "peering"
    TRANSIT_GATEWAY = "transit_gateway"
    HOSTED_ZONE = "hosted_zone"
    PROXY = "proxy"
    DATABASE = "database"
    SECRETS_MANAGER = "secrets_manager"

    @property
    def label(self) -> str:
        """What people call it, short enough for a box on a phone."""
        return _KIND_LABELS[self]


_KIND_LABELS = {
    HopKind.FUNCTION: "function",
    HopKind.SECURITY_GROUPS: "security groups",
    HopKind.NETWORK_ACL: "network ACL",
    HopKind.ROUTE_TABLE: "route table",
    HopKind.NAT_GATEWAY: "NAT gateway",
    HopKind.INTERNET_GATEWAY: "internet gateway",
    HopKind.VPC_ENDPOINT: "VPC endpoint",
    HopKind.PEERING: "peering",
    HopKind.TRANSIT_GATEWAY: "transit gateway",
    HopKind.HOSTED_ZONE: "hosted zone",
    HopKind.PROXY: "RDS Proxy",
    HopKind.DATABASE: "database",
    HopKind.SECRETS_MANAGER: "Secrets Manager",
}


class HopVerdict(StrEnum):
    PASSES = "passes"
    BLOCKS = "blocks"
    DOUBT = "doubt"  # denies part of the traffic (a partial ACL denial): the case may still work
    NOT_EVALUATED = "not_evaluated"

    @property
    def mark(self) -> str:
        """One character for text: what a glance at the chain must catch."""
        return {HopVerdict.PASSES: "✓", HopVerdict.BLOCKS: "✗", HopVerdict.DOUBT: "!", HopVerdict.NOT_EVALUATED: "?"}[
            self
        ]


class HopJson(TypedDict):
    """A hop as `Hop.to_json` writes it, and as a stored diagnosis holds it."""

    kind: str
    id: str
    ids: NotRequired[list[str]]  # `from_json` reads a record without it as the component alone
    question: str
    answer: str
    verdict: str
    decided_by: str | None


class PathCaseJson(TypedDict):
    case: str
    blocked: bool
    hops: list[HopJson]


class PathJson(TypedDict):
    """A path as `Path.to_json` writes it, and as a stored diagnosis holds it."""

    path: str
    blocked: bool
    cases_judged: NotRequired[int]  # `from_json` reads a record without it as every case shown
    cases: list[PathCaseJson]


@dataclass(frozen=True)
class Hop:
    kind: HopKind
    component: str  # the id to look up in the console ("sg-0abc", "rtb-0def", a function's name)
    question: str  # what it was asked: "TCP 443 out to the internet", "route for 0.0.0.0/0"
    answer: str  # what it answered, in words: "allowed", "no rule allows it", "nat-0abc"
    verdict: HopVerdict
    decided_by: str | None = None  # the rule or route that decided it: "rule 100", "0.0.0.0/0 → nat-0abc"
    resources: tuple[str, ...] = ()  # every id the hop stands for (all the groups on an ENI); `component` first

    def __post_init__(self) -> None:
        # A hop that stands for its component alone holds no `resources`, however it was made (`to_json` writes `ids`
        # either way): a stored path reads back equal to the one diagnosed.
        if self.resources == (self.component,):
            object.__setattr__(self, "resources", ())

    @property
    def ids(self) -> tuple[str, ...]:
        return self.resources or (self.component,)

    def to_json(self) -> HopJson:
        return {
            "kind": str(self.kind),
            "id": self.component,
            "ids": list(self.ids),
            "question": self.question,
            "answer": self.answer,
            "verdict": str(self.verdict),
            "decided_by": self.decided_by,
        }


@dataclass(frozen=True)
class Stop:
    """Consecutive hops of one component (a network ACL asked about the request and the reply) drawn as one."""

    kind: HopKind
    component: str
    hops: tuple[Hop, ...]

    @property
    def verdict(self) -> HopVerdict:
        return next((v for v in _WORST_FIRST if any(h.verdict is v for h in self.hops)), HopVerdict.PASSES)

    @property
    def deciding(self) -> Hop:
        """The hop that says most about this stop: the worst one."""
        return next(h for h in self.hops if h.verdict is self.verdict)


_WORST_FIRST = (HopVerdict.BLOCKS, HopVerdict.NOT_EVALUATED, HopVerdict.DOUBT)


@dataclass(frozen=True)
class PathCase:
    """The hops from one function subnet (and one peer subnet, where the path has several)."""

    name: str  # "subnet-a", or "subnet-a -> subnet-b"
    hops: tuple[Hop, ...]

    @property
    def blocking(self) -> tuple[Hop, ...]:
        return tuple(h for h in self.hops if h.verdict is HopVerdict.BLOCKS)

    @property
    def blocked(self) -> bool:
        return bool(self.blocking)

    def stops(self) -> tuple[Stop, ...]:
        stops: list[Stop] = []
        for hop in self.hops:
            last = stops[-1] if stops else None
            if last is not None and (last.kind, last.component) == (hop.kind, hop.component):
                stops[-1] = Stop(last.kind, last.component, (*last.hops, hop))
            else:
                stops.append(Stop(hop.kind, hop.component, (hop,)))
        return tuple(stops)

    def to_json(self) -> PathCaseJson:
        return {"case": self.name, "blocked": self.blocked, "hops": [h.to_json() for h in self.hops]}


@dataclass(frozen=True)
class Path:
    """One path: its worst case first, then each case whose hops differ from those shown."""

    leg: PathLeg
    cases: tuple[PathCase, ...]
    cases_judged: int  # how many cases the analysis judged (those not shown repeat one that is)

    @property
    def blocked(self) -> bool:
        return bool(self.cases) and self.cases[0].blocked

    @property
    def blocking(self) -> tuple[Hop, ...]:
        seen: dict[tuple[HopKind, str, str], Hop] = {}
        for case in self.cases:
            for hop in case.blocking:
                seen.setdefault((hop.kind, hop.component, hop.question), hop)
        return tuple(seen.values())

    def to_json(self) -> PathJson:
        return {
            "path": str(self.leg),
            "blocked": self.blocked,
            "cases_judged": self.cases_judged,
            "cases": [c.to_json() for c in self.cases],
        }

    @classmethod
    def from_json(cls, data: PathJson) -> Path:
        """Back from what `to_json` wrote (the approval page reads a stored proposal's diagnosis)."""
        return cls(
            PathLeg(data["path"]),
            tuple(
                PathCase(
                    str(c["case"]),
                    tuple(
                        Hop(
                            HopKind(h["kind"]),
                            str(h["id"]),
                            str(h["question"]),
                            str(h["answer"]),
                            HopVerdict(h["verdict"]),
                            h.get("decided_by"),
                            tuple(str(i) for i in h.get("ids", ())),
                        )
                        for h in c["hops"]
                    ),
                )
                for c in data["cases"]
            ),
            int(data.get("cases_judged", len(data["cases"]))),
        )

"""One secret's diagnosis as data: its findings, verdict, context, the paths judged and the facts read. Here, not in
`analysis/`, because a stored proposal holds one and the approval function loads it without the analysis (its artifact
holds no network code); `analysis.diagnose` makes it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rotation_doctor.model.findings import Finding, Verdict
from rotation_doctor.model.paths import Path
from rotation_doctor.model.reads import Reads
from rotation_doctor.model.snapshot import arn_account, arn_region


@dataclass(frozen=True)
class Diagnosis:
    secret_arn: str
    secret_name: str
    verdict: Verdict
    findings: tuple[Finding, ...]
    context: dict[str, Any] = field(default_factory=dict)  # what was looked at, for people and JSON
    paths: tuple[Path, ...] = ()  # the hops each path's checks judged (model/paths.py)
    # The facts the analysis read (never shown): what a change must name to be able to change this diagnosis.
    reads: Reads = field(default_factory=Reads, compare=False, repr=False)

    def secret_json(self) -> dict[str, Any]:
        """The secret as every JSON output names it (diagnose, scan, plan, fix, what-if)."""
        return {"arn": self.secret_arn, "name": self.secret_name, "account": self.account, "region": self.region}

    def to_json(self) -> dict[str, Any]:
        return {
            "secret": self.secret_json(),
            "verdict": str(self.verdict),
            "findings": [f.to_json() for f in self.findings],
            "plan": [],
            "context": self.context,
            "paths": [p.to_json() for p in self.paths],
        }

    def codes(self) -> list[str]:
        """The codes as plain strings: what proposals, messages and logs store."""
        return [str(f.code) for f in self.findings]

    @property
    def account(self) -> str:
        """The secret's account, as its ARN names it (a scan across accounts labels every item with it)."""
        return arn_account(self.secret_arn)

    @property
    def region(self) -> str:
        return arn_region(self.secret_arn)

"""What every fix kind declares, and the context a plan is built in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from rotation_doctor.model.edits import Edit, apply
from rotation_doctor.model.findings import Code, Finding
from rotation_doctor.model.plan import Call, Fix, FixKind, Risk, Step, ref
from rotation_doctor.model.snapshot import Snapshot

TOOL = "rotation-doctor"


@dataclass
class PlanContext:
    """One plan in the making: numbers steps across fixes and stands in for what the plan creates."""

    secret_arn: str
    secret_name: str
    next_step: int = 1
    next_placeholder: int = 1
    placeholders: dict[str, str] = field(default_factory=dict)  # placeholder id -> "${sN.Output}"

    def step_id(self) -> str:
        sid = f"s{self.next_step}"
        self.next_step += 1
        return sid

    def placeholder(self, prefix: str, step_id: str, output: str) -> str:
        """An id for a resource the plan will create, usable in simulation and in later steps' parameters."""
        pid = f"{prefix}-new{self.next_placeholder}"
        self.next_placeholder += 1
        self.placeholders[pid] = ref(step_id, output)
        return pid

    def real(self, resource_id: str) -> str:
        """The id to put in a call: a placeholder becomes the reference to the step that creates it."""
        return self.placeholders.get(resource_id, resource_id)

    def description(self, why: str) -> str:
        # Security group rule descriptions allow letters, digits, spaces and ._-:/()#,@[]+=&;{}!$*
        text = f"{TOOL}: {self.secret_name} ({why})"
        return "".join(c for c in text if c.isalnum() or c in " ._-:/()#,@[]+=&;{}!$*")[:255]

    def tags(self, why: str) -> list[dict[str, str]]:
        return [
            {"Key": "Name", "Value": f"{TOOL}-{why.lower()}"[:255]},
            {"Key": f"{TOOL}:created-by", "Value": TOOL},
            {"Key": f"{TOOL}:secret", "Value": self.secret_arn},
            {"Key": f"{TOOL}:reason", "Value": why},
        ]


@dataclass(frozen=True)
class Planned:
    """A fix, and its effect on the account as edits (`model.edits`, the vocabulary what-if speaks too): what its
    calls do, for the planner's re-diagnosis."""

    fix: Fix
    edits: tuple[Edit, ...]

    def apply_to(self, snap: Snapshot) -> Snapshot:
        """The snapshot once the fix is applied."""
        return apply(snap, self.edits)


class Remediation:
    """One fix kind. Subclasses set the class attributes and implement `plan`."""

    kind: ClassVar[FixKind]
    risk: ClassVar[Risk]
    change: ClassVar[str]  # what it changes, one line of Markdown: its row of the generated fix-kind tables
    iam_actions: ClassVar[tuple[str, ...]]  # the write actions its calls need (held to template.yaml)
    handles: ClassVar[frozenset[Code]]  # finding codes it can address

    def plan(self, snap: Snapshot, findings: Sequence[Finding], ctx: PlanContext) -> list[Planned]:
        """Fixes for `findings` (all of codes it handles), or [] when it has none to offer."""
        raise NotImplementedError

    def step(self, ctx: PlanContext, call: Call, says: str, **kw: object) -> Step:
        return Step(ctx.step_id(), call, says, **kw)  # type: ignore[arg-type]

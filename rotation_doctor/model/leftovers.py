"""What a failed apply could not undo, as the executor reports it and a proposal stores it.

Here, not in `apply/executor.py`, because the approval function tells about it too (a decision on a proposal left
`rollback_incomplete` lists what is left): that function must not import the executor, which plans, and so holds
every fix kind and the network semantics (its artifact holds only what the page needs).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rotation_doctor.model.plan import Call


@dataclass(frozen=True)
class Leftover:
    """Something a failed apply could not undo: what it is, its id, and the call that would remove it."""

    step: str
    what: str  # the step's line of the plan, e.g. "+ interface endpoint vpce-... in subnet-..."
    resource: str | None  # its id, when AWS returned one
    remove: Call | None  # the undo call as it would run now (None: the id to put in it is unknown)
    error: str  # why the undo failed

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "what": self.what,
            "resource": self.resource,
            "remove": self.remove.to_json() if self.remove is not None else None,
            "error": self.error,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Leftover:
        """As a proposal stores it (reconciliation's leftovers are told from the proposal)."""
        remove = raw.get("remove")
        call = Call.from_json(remove) if remove else None
        return cls(str(raw["step"]), str(raw["what"]), raw.get("resource"), call, str(raw.get("error", "")))

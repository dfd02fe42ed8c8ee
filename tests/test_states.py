"""Each state has one name (rotation_doctor/model/states.py), and the names are the documentation's (docs/fixing.md)."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace
from typing import Any

from rotation_doctor.apply.executor import FixResult, Outcome, StepResult
from rotation_doctor.cli import render
from rotation_doctor.model.states import (
    OPEN_STATES,
    UNDECIDED_STATES,
    FixStatus,
    OutcomeStatus,
    ProposalState,
    StepStatus,
)
from tests.docs_pages import page, section

# "Approval modes and guardrails", once README's.
GUARDRAILS = section(page("fixing.md"), "## Approval modes and guardrails")


def test_proposal_states_are_the_documented_ones() -> None:
    """docs/fixing.md: "A proposal's state moves only by DynamoDB conditional writes: `proposed → ... rolled_back`, or
    `rejected`, or `expired` (past ...": the stored values, exactly."""
    start = GUARDRAILS.index("A proposal's state moves only by DynamoDB conditional writes:")
    diagram = GUARDRAILS[start : GUARDRAILS.index(" (past", start)].split(":", 1)[1]
    documented = set(re.findall(r"[a-z_]+", diagram)) - {"or"}
    assert {s.value for s in ProposalState} == documented
    assert set(UNDECIDED_STATES) < set(OPEN_STATES)


def test_rolled_back_has_one_spelling_and_reads_as_words() -> None:
    assert ProposalState.ROLLED_BACK == FixStatus.ROLLED_BACK == OutcomeStatus.ROLLED_BACK == "rolled_back"
    assert OutcomeStatus.ROLLED_BACK.label.split(" ") == ["rolled", "back"]  # words for people, from the enum
    assert StepStatus.ALREADY_DONE.label == "already done" and OutcomeStatus.NOTHING_TO_DO == "nothing to do"


def test_a_rolled_back_outcome_in_json_and_in_text() -> None:
    before: Any = SimpleNamespace(secret_name="prod/db", to_json=lambda: {"secret": {"name": "prod/db"}})
    plan: Any = SimpleNamespace(fixes=[], hash="0" * 64)
    outcome = Outcome(
        OutcomeStatus.ROLLED_BACK,
        before,
        plan,
        [
            FixResult("A", FixStatus.ROLLED_BACK, None, [StepResult("s1", "+ a", StepStatus.UNDONE)]),
            FixResult("B", FixStatus.FAILED, "boom", [StepResult("s2", "+ b", StepStatus.FAILED, "Err")]),
        ],
        reason="s2 failed",
    )
    payload = json.loads(json.dumps(outcome.to_json()))
    assert payload["status"] == "rolled_back"
    assert [(f["status"], [s["status"] for s in f["steps"]]) for f in payload["fixes_applied"]] == [
        ("rolled_back", ["undone"]),
        ("failed", ["failed"]),
    ]
    text = render.outcome_text(outcome)
    assert text.splitlines()[0] == "prod/db: rolled back"
    assert "  ↶ A rolled back" in text and "      s1 undone: + a" in text and "  ✗ B failed: boom" in text

"""The states rotation-doctor stores, prints and compares: one StrEnum each, so every state has one name.

The values are the contract: they are what DynamoDB holds, what JSON carries and what the text
shows (docs/fixing.md, "Approval modes and guardrails"). Compare and store the members, never a literal.
A state of several words is spelled as it always was ("already done", "nothing to do"); the one
state that had two spellings is `rolled_back`, as proposals store it, everywhere; `label` gives the
words a person reads (rolled back).

The other enums of the same kind live with what they describe and are reused, not repeated here:
`Verdict` and `Severity` (model/findings.py), `Risk` (model/plan.py), the approval `Mode`
(apply/guardrails.py).
"""

from __future__ import annotations

from enum import StrEnum


class _State(StrEnum):
    @property
    def label(self) -> str:
        """The state for a person to read: underscores become spaces (rolled_back reads as rolled back)."""
        return self.value.replace("_", " ")


class ProposalState(_State):
    """A proposal in DynamoDB (approvals/store.py), moved by conditional writes only:

    proposed -> approved -> applying -> applied | failed | rolled_back
    proposed | approved -> rejected;  proposed -> expired (past its expiry)
    approved -> proposed (asked again as a new round: the approval could not be applied before the expiry)
    applying -> expired (the account changed since the plan was approved: a new plan is proposed)
    proposed | approved -> superseded (the rotation succeeded and the secret is healthy: the fix is not needed)
    """

    PROPOSED = "proposed"
    APPROVED = "approved"
    APPLYING = "applying"
    APPLIED = "applied"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    ROLLBACK_INCOMPLETE = "rollback_incomplete"  # something could not be undone: the leftovers are listed
    REJECTED = "rejected"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"  # healthy again without it (a rotation succeeded): nothing to apply


# Open: at most one proposal in these states per secret and plan.
OPEN_STATES: tuple[ProposalState, ...] = (ProposalState.PROPOSED, ProposalState.APPROVED, ProposalState.APPLYING)
# Waiting for a person: may still be rejected, and expires when past its expiry.
UNDECIDED_STATES: tuple[ProposalState, ...] = (ProposalState.PROPOSED, ProposalState.APPROVED)


class StepStatus(_State):
    """One call of a fix (apply/executor.py)."""

    APPLIED = "applied"
    ALREADY_DONE = "already done"  # the call failed with an error code that means it is in place
    FAILED = "failed"
    UNDONE = "undone"
    UNDO_FAILED = "undo failed"


class FixStatus(_State):
    """One fix of a plan (apply/executor.py)."""

    APPLIED = "applied"
    SKIPPED = "skipped"  # a guardrail, the hourly cap, or a fix it depends on was skipped
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    ROLLBACK_INCOMPLETE = "rollback_incomplete"  # part of it could not be undone


class OutcomeStatus(_State):
    """What one run of the executor did with a plan (apply/executor.py)."""

    NOTHING_TO_DO = "nothing to do"
    APPLIED = "applied"  # at least one fix applied
    NOT_APPLIED = "not applied"  # every fix was skipped
    ROLLED_BACK = "rolled_back"  # a step failed and everything was undone, or no fix worked
    ROLLBACK_INCOMPLETE = "rollback_incomplete"  # a failure, and an undo that failed too: leftovers listed
    STALE = "stale"  # the account changed since the plan was approved
    OBSERVED = "observed"  # the mode is observe


class SecretAction(_State):
    """What the service did for one secret of an event (service/batch.py); the worker counts these."""

    HEALTHY = "healthy"
    OBSERVED = "observed"
    PROPOSED = "proposed"
    PROPOSAL_EXISTS = "proposal exists"
    APPLIED = "applied"
    NOT_APPLIED = "not applied"
    COALESCED = "coalesced"  # a second event for a secret this batch already handled


class AnalyzerRun(_State):
    """What became of one VPC Reachability Analyzer analysis of `diagnose --deep` (collect/reachability.py)."""

    SUCCEEDED = "succeeded"  # AWS answered: a path was found, or not
    FAILED = "failed"  # AWS could not analyze the path (its status message says why)
    TIMED_OUT = "timed_out"  # no answer within --deep-timeout; the path and analysis were still deleted
    NOT_RUN = "not_run"  # no path could be built (no function interface, no destination) or a call was refused

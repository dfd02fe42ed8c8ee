"""The errors callers act on, in one place: a caller catches a type, never a message's words or a bare KeyError.

RotationDoctorError
  ProposalError
    ProposalNotFound      no proposal with that id                           CLI: bad input; page: 404
    ProposalConflict      its state does not allow this now                  CLI: bad input; page: 409
      AlreadyDecided        someone moved it on first (decided, claimed, applied)
      ProposalExpired       past its expiry (proposed: moved to `expired`; approved: asked again)
      ProposalSuperseded    proposed again since (a new generation): an earlier round's decision is void
  TokenRefused          an approval link that does not allow this            page: 403 ...
    TokenInvalid          malformed, forged, or for another proposal, plan, generation or action
    TokenExpired          past the link's expiry
    TokenSpent            already used once                                  ... except this one: 409
  HandoffInvalid        a queue message that claims to be one of ours but is not   worker: dead-lettered
  HandoffUnsigned       a hand-off the approval function did not sign             worker: dropped, counted
  RecordInvalid         a stored proposal this version cannot read (model/records.py)

Messages are for people (the page shows a TokenRefused's text as it is), so they say no more than that.
"""

from __future__ import annotations

from collections.abc import Iterable


class RotationDoctorError(Exception):
    """Something rotation-doctor refuses or cannot find, as opposed to a bug or an AWS failure."""


# ----- proposals --------------------------------------------------------------------------------


class ProposalError(RotationDoctorError):
    def __init__(self, proposal_id: str, message: str) -> None:
        super().__init__(message)
        self.proposal_id = proposal_id


class ProposalNotFound(ProposalError):
    """There is no proposal with this id (in this table)."""

    def __init__(self, proposal_id: str) -> None:
        super().__init__(proposal_id, f"no proposal {proposal_id}")


class ProposalConflict(ProposalError):
    """The proposal is not in a state that allows this (someone else moved it, or it expired)."""


class AlreadyDecided(ProposalConflict):
    """The proposal has moved on from the states this needed: decided, claimed or finished by someone else."""

    def __init__(self, proposal_id: str, state: str, wanted: Iterable[str]) -> None:
        self.state = state
        self.wanted = tuple(wanted)
        super().__init__(proposal_id, f"proposal {proposal_id} is {state}, not {' or '.join(self.wanted)}")


class ProposalExpired(ProposalConflict):
    """The proposal is past its expiry; nobody can approve or apply it any more (an approved one is asked again:
    approvals/workflow.ask_again)."""

    def __init__(self, proposal_id: str) -> None:
        super().__init__(proposal_id, f"proposal {proposal_id} has expired")


class ProposalSuperseded(ProposalConflict):
    """The plan was proposed again since (a new generation): what was decided for the earlier round does not
    carry over."""

    def __init__(self, proposal_id: str) -> None:
        super().__init__(proposal_id, f"proposal {proposal_id} has been proposed again since: use its latest link")


# ----- approval links ---------------------------------------------------------------------------


class TokenRefused(RotationDoctorError):
    """Why a link's token does not allow what it was presented for (shown to the person, so it says no more)."""


class TokenInvalid(TokenRefused):
    """Malformed or not in its canonical spelling, not signed with our key, or for another proposal, plan version,
    generation (round of the proposal) or action."""


class TokenExpired(TokenRefused):
    """Signed and meant for this, but past its expiry."""


class TokenSpent(TokenRefused):
    """Valid, but already used once: a link works once."""


# ----- the hand-off to the worker ----------------------------------------------------------------


class HandoffInvalid(RotationDoctorError):
    """A message on the worker's queue that says it is an approved proposal to apply, but is not one this version
    sends (wrong version, missing or malformed fields). It cannot become valid by retrying."""


class HandoffUnsigned(RotationDoctorError):
    """A hand-off not signed with the approval function's hand-off key: unsigned, forged, or sent before hand-offs
    were signed. Dropped, not retried: retrying cannot sign it, and the proposal it names keeps its state."""


# ----- stored records ---------------------------------------------------------------------------


class RecordInvalid(RotationDoctorError, ValueError):
    """A stored proposal's plan or diagnosis is not what any version wrote: a key missing, a value of the wrong
    type, or a fix kind, finding code or risk this version does not know (written by a later one)."""

"""What the daily sweep tells about proposals still waiting for a person.

- A proposal whose first notice is not recorded as delivered (SNS and Slack were down, or the worker
  stopped between proposing and telling) is announced, with fresh links, once it is old enough that
  the worker that made it is done telling it (`GRACE`).
- A proposal announced before whose last links expire within `REMIND_WITHIN` (or have expired: links
  live 24 hours, proposals 7 days) gets a reminder with fresh links, at most one a day.

Only proposals waiting for a decision (`proposed`, unexpired) are told: an approved one needs no
links, and a decided one was told when it was decided. Nothing here raises: telling people never
breaks the sweep.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rotation_doctor.model.states import ProposalState

if TYPE_CHECKING:
    from rotation_doctor.approvals.store import ProposalStore
    from rotation_doctor.notify.dispatch import Dispatcher

log = logging.getLogger(__name__)

GRACE = 3600  # a proposal younger than this may still be being told by the worker that made it
REMIND_WITHIN = 12 * 3600  # links that expire sooner than this (or have) are renewed by a reminder


@dataclass
class Told:
    announced: list[str] = field(default_factory=list)  # proposal ids announced late
    reminded: list[str] = field(default_factory=list)  # proposal ids reminded with fresh links


def announce_pending(
    store: ProposalStore | None,
    dispatcher: Dispatcher | None,
    now: float | None = None,
    *,
    grace: int = GRACE,
    remind_within: int = REMIND_WITHIN,
) -> Told:
    """Announce the open proposals never announced, and remind those whose links are about to expire."""
    told = Told()
    if store is None or dispatcher is None:
        return told
    now = time.time() if now is None else now
    try:
        waiting = store.list([ProposalState.PROPOSED])
    except Exception as exc:
        log.warning("could not list the proposals waiting for approval: %s", type(exc).__name__)
        return told
    for proposal in waiting:
        if proposal.expires_at < now:
            continue
        try:
            if proposal.announced != proposal.generation:
                if proposal.created_at <= now - grace and dispatcher.announce(proposal, now):
                    told.announced.append(proposal.id)
            elif proposal.links_until <= now + remind_within and dispatcher.remind(proposal, now):
                told.reminded.append(proposal.id)
        except Exception as exc:
            log.warning("could not tell about %s: %s", proposal.id, type(exc).__name__)
    if told.announced or told.reminded:
        log.info("announced %d proposal(s) late, reminded %d", len(told.announced), len(told.reminded))
    return told

"""Text from outside made fit for a log line: short and on one line, whatever it held.

Events, queue messages and exception messages can be any size (an event nested 10,000 deep, a 100 KB field); a log
line about them must not be. Callers still choose what to log: never a secret value, never a whole event.
"""

from __future__ import annotations

import traceback

REASON_LIMIT = 300  # a dead-letter reason, a log field
TRACEBACK_FRAMES = 8  # the innermost frames of each exception in a chain
TRACEBACK_LIMIT = 4000


def clip(text: str, limit: int = REASON_LIMIT) -> str:
    """`text` on one line, at most `limit` characters (an ellipsis marks the cut)."""
    head = text[: limit + 1]  # never more than that is looked at, however long `text` is
    flat = " ".join(head.split()) if any(c in head for c in "\r\n\t\x0b\x0c") else head
    whole = len(text) == len(head)
    return flat if whole and len(flat) <= limit else flat[: max(limit - 1, 0)] + "…"


def traceback_tail(exc: BaseException, frames: int = TRACEBACK_FRAMES, limit: int = TRACEBACK_LIMIT) -> str:
    """The innermost frames of `exc` (and of what caused it), at most `limit` characters, keeping the end.

    A RecursionError's traceback holds about a thousand frames (hundreds of kilobytes in one log line); the frames
    that say where it failed are the last ones.
    """
    text = "".join(traceback.format_exception(exc, limit=-frames))
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]

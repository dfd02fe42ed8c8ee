"""Text from outside made fit for a log line: short and on one line, whatever it held.

Events, queue messages and exception messages can be any size (an event nested 10,000 deep, a 100 KB field); a log
line about them must not be. Callers still choose what to log: never a secret value, never a whole event.
"""

from __future__ import annotations

import re
import traceback

REASON_LIMIT = 300  # a dead-letter reason, a log field
TRACEBACK_FRAMES = 8  # the innermost frames of each exception in a chain
TRACEBACK_LIMIT = 4000


# A terminal acts on these, whole: CSI (`ESC [` parameters, intermediates, a final byte: colours, clearing the screen,
# moving the cursor) and OSC (`ESC ]` ... BEL or ST: hyperlinks that show one text and open another, window titles),
# then any other two-character escape. ECMA-48 defines their shapes.
_ESCAPE_SEQUENCE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-_]")
_LINE_BREAKS = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x85\u2028\u2029"  # what str.splitlines or a terminal takes as a break
_AS_SPACES = str.maketrans(dict.fromkeys(_LINE_BREAKS, " "))
# C0 and DEL, C1 (U+0080-U+009F: 8-bit escapes, NEL), and the bidirectional marks, embeddings, overrides and isolates
# that make text display in another order than it reads (an address shown reversed), U+061C, U+200E-F, U+202A-E,
# U+2066-9.
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def printable(text: str) -> str:
    """`text` as it reads, with nothing a terminal, a log viewer or a CI runner would act on: escape sequences
    removed whole, line breaks and tabs made spaces (so that no line starts where the text chose), every other control
    and bidirectional formatting character removed."""
    if text.isprintable() and text.isascii():
        return text  # the common case, untouched and fast
    return _INVISIBLE.sub("", _ESCAPE_SEQUENCE.sub("", text).translate(_AS_SPACES))


def clip(text: str, limit: int = REASON_LIMIT) -> str:
    """`text` on one line, printable, at most `limit` characters (an ellipsis marks the cut)."""
    raw = text[: limit + 1]  # never more than that is looked at, however long `text` is
    head = printable(raw)
    flat = " ".join(head.split()) if any(c in raw for c in _LINE_BREAKS) else head
    whole = len(text) == len(raw)
    return flat if whole and len(flat) <= limit else flat[: max(limit - 1, 0)] + "…"


def traceback_tail(exc: BaseException, frames: int = TRACEBACK_FRAMES, limit: int = TRACEBACK_LIMIT) -> str:
    """The innermost frames of `exc` (and of what caused it), at most `limit` characters, keeping the end.

    A RecursionError's traceback holds about a thousand frames (hundreds of kilobytes in one log line); the frames
    that say where it failed are the last ones.
    """
    text = "".join(traceback.format_exception(exc, limit=-frames))
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]

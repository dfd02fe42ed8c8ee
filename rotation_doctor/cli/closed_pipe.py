"""A reader that goes away before the output ends (`scan --format json | head -1`): the command ends quietly.

Python ignores SIGPIPE, so writing to a pipe whose reader has closed raises BrokenPipeError, at a write or at a flush
(a pipe is block-buffered: often only at the interpreter's last flush, where it would print "Exception ignored" and
change the exit status to 120). The recipe is Python's own (the `signal` module's documentation, "Note on SIGPIPE"):
point the stream's descriptor at /dev/null, so that what is still buffered, and every later flush, go nowhere.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from typing import TextIO


def silence(stream: TextIO) -> None:
    """From now on, what is written to `stream` goes to /dev/null (a stream with no descriptor, as under a test's
    capture, is left as it is: it cannot have a closed pipe under it)."""
    try:
        descriptor = stream.fileno()
    except (io.UnsupportedOperation, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, descriptor)
    finally:
        os.close(devnull)


@contextlib.contextmanager
def reader_may_leave(stream: TextIO) -> Iterator[None]:
    """Write to `stream` inside; flushed at the end, where a closed pipe shows. A closed pipe ends the writing, not
    the command: what follows the block runs (a command returns the status it computed before it wrote)."""
    try:
        yield
        stream.flush()
    except BrokenPipeError:
        silence(stream)

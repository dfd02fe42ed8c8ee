"""`--format jsonl`: JSON objects one a line (JSON Lines), each batch flushed as it is written.

A line is `json.dumps` of one object, compact, ASCII only: JSON escapes every control character and, with
`ensure_ascii`, every non-ASCII one (U+2028 and U+2029 too), so text from outside (a secret's name, a tag, an AWS
error message) can never end a line early or start another. Writes hold one lock, so lines from several threads
never interleave.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from typing import Any, TextIO

from rotation_doctor.cli.closed_pipe import reader_may_leave


class JsonLines:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._lock = threading.Lock()

    @staticmethod
    def line(obj: Any) -> str:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=True, default=str)

    def write(self, objects: Iterable[Any]) -> None:
        """Each object on its own line, then one flush: a reader sees them as soon as they are written."""
        text = "".join(f"{self.line(obj)}\n" for obj in objects)
        # A reader that left (`| head -1`) ends the output, never the scan: its status is still the command's.
        with self._lock, reader_may_leave(self.stream):
            self.stream.write(text)

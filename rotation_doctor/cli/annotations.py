"""`what-if --annotations github`: GitHub Actions workflow commands (`::error title=...::message`) that put each
secret the plan breaks, with the plan addresses that touch it, on the run's summary and the pull request's checks.

The runner reads these commands from the lines a step writes to stdout. Everything in them from the plan or the
account is hostile: made printable first (no line break can start a second command, no escape sequence reaches the
log), then escaped as GitHub's toolkit escapes (actions/toolkit, packages/core/src/command.ts: `escapeData` and
`escapeProperty`). GitHub shows at most 10 errors and 10 warnings of a step; more are counted in one notice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rotation_doctor.model.bounded import clip

if TYPE_CHECKING:
    from rotation_doctor.whatif.report import Effect, Report

PER_KIND = 10  # GitHub displays 10 error and 10 warning annotations per step
MESSAGE_LIMIT = 1000


def escape_data(text: str) -> str:
    """A command's message: `%`, CR and LF percent-encoded (the runner decodes them back)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A property's value: as a message, and `:` and `,` too (they end the value and the property list)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(kind: str, message: str, **properties: str) -> str:
    """One workflow command line; the message and properties are outside text, clipped to one printable line."""
    props = ",".join(f"{key}={escape_property(clip(value, 200))}" for key, value in properties.items())
    return f"::{kind}{' ' + props if props else ''}::{escape_data(clip(message, MESSAGE_LIMIT))}"


def github(report: Report, fail_on: frozenset[Effect]) -> list[str]:
    """An `error` for each secret whose effect fails the gate, a `warning` for each whose effect the default gate
    would fail on but this one does not (a team that fails on `breaks` only still sees what degrades)."""
    from rotation_doctor.whatif.report import FAILING

    lines: list[str] = []
    left_out = 0
    for kind, effects in (("error", fail_on), ("warning", FAILING - fail_on)):
        hit = [s for s in report.secrets if s.effect in effects]
        for s in hit[:PER_KIND]:
            codes = ", ".join(f.code for f in s.new_findings) or "; ".join(s.not_evaluated) or "no new finding"
            title = f"rotation-doctor what-if: {s.before.secret_name} {s.effect}"
            message = (
                f"{s.before.secret_name} {s.effect} ({s.before.verdict} -> {s.after.verdict}): {codes}. "
                f"Plan addresses touching its rotation paths: {_addresses(s.changes)}"
            )
            lines.append(command(kind, message, title=title))
        left_out += max(len(hit) - PER_KIND, 0)
    if left_out:
        lines.append(command("notice", f"{left_out} more secret(s) not annotated; the what-if report lists them all."))
    return lines


def _addresses(addresses: Sequence[str]) -> str:
    return ", ".join(addresses) or "none named"

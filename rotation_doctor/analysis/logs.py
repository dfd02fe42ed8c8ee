"""What the rotation function's recent logs say, folded into categories (never the lines themselves)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from rotation_doctor.model.findings import Code, Finding, PathName, Severity
from rotation_doctor.model.snapshot import LogSignal, Snapshot

# Each category: a pattern over one log message, and the path whose failure it suggests
# (None: not a network problem).
CATEGORIES: dict[str, tuple[re.Pattern[str], PathName | None]] = {
    "secretsmanager_connect_timeout": (
        re.compile(
            r"(Connect timeout on endpoint URL|ConnectTimeoutError|EndpointConnectionError|"
            r"Could not connect to the endpoint URL).{0,40}secretsmanager",
            re.I,
        ),
        PathName.SM,
    ),
    "task_timed_out": (re.compile(r"Task timed out after", re.I), PathName.SM),
    "database_login_failed": (re.compile(r"Unable to log into database", re.I), PathName.DB),
    "database_connect_timeout": (
        re.compile(
            r"(timeout expired|timed out|could not connect to server|Can't connect to)"
            r"(?!.*secretsmanager)",
            re.I,
        ),
        PathName.DB,
    ),
    "kms_access_denied": (
        re.compile(
            r"(KMS|kms:Decrypt|kms:GenerateDataKey).{0,80}(AccessDenied|not authorized)"
            r"|(AccessDenied|not authorized).{0,120}kms",
            re.I,
        ),
        None,
    ),
    "iam_access_denied": (re.compile(r"AccessDeniedException|is not authorized to perform", re.I), None),
}

# Sent to CloudWatch Logs as the filter, so only candidate lines come back.
FILTER_PATTERN = (
    '?"Task timed out" ?"timeout" ?"Timeout" ?"timed out" ?"Unable to log into database" '
    '?"AccessDenied" ?"not authorized" ?"EndpointConnectionError" ?"Could not connect"'
)


def categorize(message: str) -> str | None:
    """The first category whose pattern matches; permission errors are checked before timeouts."""
    for name in (
        "kms_access_denied",
        "iam_access_denied",
        "secretsmanager_connect_timeout",
        "task_timed_out",
        "database_login_failed",
        "database_connect_timeout",
    ):
        if CATEGORIES[name][0].search(message):
            return name
    return None


def signals_from(events: Iterable[tuple[int, str]]) -> tuple[LogSignal, ...]:
    """Count (timestamp ms, message) events by category; the messages are dropped here."""
    from datetime import UTC, datetime

    counts: dict[str, tuple[int, int]] = {}
    for timestamp, message in events:
        category = categorize(message)
        if category is None:
            continue
        count, last = counts.get(category, (0, 0))
        counts[category] = (count + 1, max(last, timestamp))
    return tuple(
        LogSignal(name, count, datetime.fromtimestamp(last / 1000, UTC).isoformat(timespec="seconds"))
        for name, (count, last) in sorted(counts.items())
    )


def path_signals(snap: Snapshot, path: PathName) -> list[LogSignal]:
    return [s for s in snap.log_signals or () if CATEGORIES[s.category][1] is path]


def analyze(snap: Snapshot, network_findings: list[Finding]) -> list[Finding]:
    """LOGS_SHOW_NON_NETWORK_ERROR when the logs show credential or permission errors.

    A warning when the network paths are sound (the cause is elsewhere); info beside network
    errors (it may be a second problem). A failed login to the database counts as a credential
    error only when the database path itself is sound.
    """
    signals = snap.log_signals or ()
    network_broken = {f.path for f in network_findings if f.severity is Severity.ERROR}
    non_network = [s for s in signals if CATEGORIES[s.category][1] is None]
    if PathName.DB not in network_broken and snap.database is not None:
        non_network += [s for s in signals if s.category == "database_login_failed"]
    if not non_network:
        return []
    severity = Severity.INFO if network_broken else Severity.WARNING
    names = ", ".join(f"{s.category} x{s.count}" for s in non_network)
    fn = snap.function.name if snap.function else "the rotation function"
    return [
        Finding(
            Code.LOGS_SHOW_NON_NETWORK_ERROR,
            severity,
            f"The recent logs of {fn} show {names}: a credential or permission problem, not the network.",
            (fn,),
            {"signals": [vars(s) for s in non_network]},
        )
    ]

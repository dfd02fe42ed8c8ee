"""What the CLI and the handlers call: collect, diagnose, and read logs only where they help."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from rotation_doctor.analysis import Diagnosis, diagnose, wants_logs
from rotation_doctor.collect.aws import AwsClients
from rotation_doctor.collect.collector import Collector
from rotation_doctor.model.snapshot import Secret, Snapshot


def diagnose_secrets(
    collector: Collector, secrets: Sequence[Secret], *, rotation_failed: Iterable[str] = ()
) -> list[tuple[Snapshot, Diagnosis]]:
    """Diagnose a batch; the logs of a function are read only for secrets that look unwell."""
    snaps = collector.snapshots(secrets, rotation_failed=rotation_failed)
    results = [(snap, diagnose(snap)) for snap in snaps]
    unwell = [i for i, (snap, first) in enumerate(results) if wants_logs(snap, first)]
    if unwell:
        with_logs = collector.with_logs([results[i][0] for i in unwell])
        for i, snap in zip(unwell, with_logs, strict=True):
            results[i] = (snap, diagnose(snap))
    return results


def diagnose_secret(
    clients: AwsClients, secret_id: str, *, rotation_failed: bool = False
) -> tuple[Snapshot, Diagnosis]:
    collector = Collector(clients)
    secret = collector.describe_secret(secret_id)
    failed = [secret.arn] if rotation_failed else []
    return diagnose_secrets(collector, [secret], rotation_failed=failed)[0]


def scan(clients: AwsClients, on_progress: Callable[[str], None] | None = None) -> list[Diagnosis]:
    """Every Lambda-rotated secret of the region, diagnosed from reads shared across all of them."""
    collector = Collector(clients)

    def listed(count: int) -> None:
        if on_progress:
            on_progress(f"listed {count} Lambda-rotated secrets so far")

    secrets = collector.list_rotated_secrets(on_page=listed)
    if on_progress:
        on_progress(f"diagnosing {len(secrets)} secrets")
    return [d for _, d in diagnose_secrets(collector, secrets)]

"""What the CLI and the handlers call: collect, diagnose, and read logs only where they help; a scan across
accounts and regions, read concurrently."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from rotation_doctor.analysis import Diagnosis, diagnose, wants_logs
from rotation_doctor.collect.accounts import AccountSessions, MemberReads, Place, RoleRefused, enabled_regions
from rotation_doctor.collect.aws import AwsClients, AwsError, fatal, read_failure
from rotation_doctor.collect.collector import Collector
from rotation_doctor.model.findings import Code, Finding, Verdict, verdict_of
from rotation_doctor.model.snapshot import FactKey, ReadFailure, Secret, Snapshot


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


def unread_secret(secret: Secret | str, failure: ReadFailure, region: str) -> tuple[Snapshot, Diagnosis]:
    """A secret that could not be read (DescribeSecret refused, by its owner's resource policy or otherwise): its
    snapshot holds that failure and nothing else, and its diagnosis is `unknown` with AWS_READ_FAILED. `secret` is
    what a listing said of it, or only the id an event named."""
    known = secret if isinstance(secret, Secret) else Secret(secret, _name_of(secret), True, None)
    snap = Snapshot(region=region, secret=known, failures={FactKey.SECRET: failure})
    return snap, diagnose(snap)


def _name_of(secret_id: str) -> str:
    """A secret's name as far as its id says it: an ARN's resource part (with the suffix AWS added), else the id."""
    return secret_id.split(":secret:", 1)[1] if secret_id.startswith("arn:") and ":secret:" in secret_id else secret_id


def diagnose_secret(
    clients: AwsClients, secret_id: str, *, rotation_failed: bool = False
) -> tuple[Snapshot, Diagnosis]:
    collector = Collector(clients)
    secret = collector.describe_secret(secret_id)
    failed = [secret.arn] if rotation_failed else []
    return diagnose_secrets(collector, [secret], rotation_failed=failed)[0]


def scan(
    clients: AwsClients, on_progress: Callable[[str], None] | None = None, *, members: MemberReads | None = None
) -> list[Diagnosis]:
    """Every Lambda-rotated secret of the region, diagnosed from reads shared across all of them (`members`:
    organization mode, see `Collector`)."""
    collector = Collector(clients, members=members)

    def listed(count: int) -> None:
        if on_progress:
            on_progress(f"listed {count} Lambda-rotated secrets so far")

    secrets = collector.list_rotated_secrets(on_page=listed)
    if on_progress:
        on_progress(f"diagnosing {len(secrets)} secrets")
    return [d for _, d in diagnose_secrets(collector, secrets)]


@dataclass(frozen=True)
class UnreadPlace:
    """An account (and region) a scan across accounts could not read at all: its role was refused
    (ACCOUNT_ROLE_REFUSED), or what it holds could not be listed (AWS_READ_FAILED).

    It stands in the scan's results where the account's secrets would be, with one finding and the
    verdict `unknown`: nothing there was judged, and the scan went on with the other accounts.
    """

    account: str
    region: str | None  # None: the account's regions were to be listed (--regions all), and could not be
    finding: Finding

    @property
    def verdict(self) -> Verdict:
        return verdict_of([self.finding])

    def to_json(self) -> dict[str, Any]:
        return {
            "secret": None,
            "account": self.account,
            "region": self.region,
            "verdict": str(self.verdict),
            "findings": [self.finding.to_json()],
            "plan": [],
        }


def role_refused(refused: RoleRefused) -> Finding:
    return Finding(
        Code.ACCOUNT_ROLE_REFUSED,
        Code.ACCOUNT_ROLE_REFUSED.severity,
        f"Could not assume {refused.role_arn} in account {refused.account} ({refused.reason}), so none of its "
        "secrets were read.",
        (refused.role_arn,),
        {"account": refused.account, "role_arn": refused.role_arn, "reason": refused.reason[:300]},
    )


def unlisted(where: str, failure: ReadFailure) -> Finding:
    """A place whose secrets (or regions) could not be listed: AWS_READ_FAILED, with the evidence a diagnosis's
    failed read carries."""
    return Finding(
        Code.AWS_READ_FAILED,
        Code.AWS_READ_FAILED.severity,
        f"Could not list what {where} holds ({failure.operation}: {failure.error_code}), so none of its secrets "
        f"were judged; grant {failure.permission}.",
        (failure.permission,),
        {
            "operation": failure.operation,
            "error_code": failure.error_code,
            "permission": failure.permission,
            "message": failure.message[:300],
        },
    )


class _RegionsUnlisted(Exception):
    def __init__(self, failure: ReadFailure) -> None:
        super().__init__(failure.error_code)
        self.failure = failure


def scan_places(
    sessions: AccountSessions,
    accounts: Sequence[str],
    regions: Sequence[str] | None,
    *,
    concurrency: int = 8,
    on_account_done: Callable[[int, int], None] | None = None,
    organization: bool = False,
) -> list[Diagnosis | UnreadPlace]:
    """`scan` in every region of every account (see `each_place`), all of it: in account, region order; a place's
    secrets in the order `scan` gives."""
    found = dict(
        each_place(
            sessions,
            accounts,
            regions,
            concurrency=concurrency,
            on_account_done=on_account_done,
            organization=organization,
        )
    )
    return [item for place in sorted(found) for item in found[place]]


def each_place(
    sessions: AccountSessions,
    accounts: Sequence[str],
    regions: Sequence[str] | None,
    *,
    concurrency: int = 8,
    on_account_done: Callable[[int, int], None] | None = None,
    organization: bool = False,
) -> Iterator[tuple[Place, list[Diagnosis | UnreadPlace]]]:
    """`scan` in every region of every account, at most `concurrency` places read at once; each place's results
    yielded as soon as it is read (in the order places finish), and then held by nothing here: a caller that writes
    and drops them (`scan --format jsonl`) keeps memory to the places being read.

    `regions` None: the regions enabled for each account (asked in the base session's region). Each
    account's role is assumed once, before its regions are read; an account that refuses it is one
    `UnreadPlace` per region (ACCOUNT_ROLE_REFUSED). A place whose secrets cannot be listed (a region not
    enabled, an SCP) is one `UnreadPlace` (AWS_READ_FAILED); errors after which nothing can be read
    (credentials, connection) stop the scan. `on_account_done(done, total)` is called, and each place yielded, in the
    caller's thread (the threads only read): what the caller writes never interleaves. A place's secrets are in the
    order `scan` gives. Closing the generator early cancels the places not yet started.

    `organization` (the CLI's `--accounts`): a zone or centralized endpoint another account owns is read through
    that account's role when the account is one of `accounts`, and only then (`MemberReads`).
    """
    from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

    home = str(sessions.base.region)
    members = MemberReads(sessions, frozenset(accounts).__contains__) if organization else None
    places_left: dict[str, int] = {}
    done = 0

    def opened(account: str) -> list[str]:
        clients = sessions.clients(Place(account, home))  # assumes the role: RoleRefused here, once
        if regions is not None:
            return list(regions)
        try:
            return enabled_regions(clients)
        except Exception as exc:
            if fatal(exc):
                raise
            raise _RegionsUnlisted(read_failure("ec2:DescribeRegions", exc)) from exc

    def scanned(place: Place) -> list[Diagnosis | UnreadPlace]:
        try:
            return list(scan(sessions.clients(place), members=members))
        except AwsError as exc:  # ListSecrets refused or failed: this place only, unless nothing can be read
            cause = exc.__cause__
            if cause is None or fatal(cause):
                raise
            failure = read_failure("secretsmanager:ListSecrets", cause)
            return [UnreadPlace(place.account, place.region, unlisted(f"{place.account}/{place.region}", failure))]

    def account_done() -> None:
        nonlocal done
        done += 1
        if on_account_done:
            on_account_done(done, len(accounts))

    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="rotation-doctor") as pool:
        running: dict[Future[Any], tuple[str, Place | None]] = {
            pool.submit(opened, account): (account, None) for account in accounts
        }
        try:
            while running:
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                while finished:  # popped, so that a place's results are held by no finished future once yielded
                    future = finished.pop()
                    account, place = running.pop(future)
                    if place is not None:
                        items: list[Diagnosis | UnreadPlace] = future.result()
                        places_left[account] -= 1
                        if not places_left[account]:
                            account_done()
                        del future
                        yield place, items
                        del items
                        sessions.forget(place)  # the caller is done with it (its Security Hub sync too)
                        continue
                    try:
                        names: list[str] = future.result()
                    except (RoleRefused, _RegionsUnlisted) as unread:
                        finding = (
                            role_refused(unread)
                            if isinstance(unread, RoleRefused)
                            else unlisted(f"account {account}", unread.failure)
                        )
                        sessions.forget(Place(account, home))  # made to list its regions, if the role was taken
                        account_done()
                        for region in regions if regions is not None else [None]:
                            yield Place(account, region or ""), [UnreadPlace(account, region, finding)]
                        continue
                    places_left[account] = len(names)
                    if home not in names:  # its clients served only to list the regions
                        sessions.forget(Place(account, home))
                    if not names:
                        account_done()
                    for region in names:
                        where = Place(account, region)
                        running[pool.submit(scanned, where)] = (account, where)
        except BaseException:
            for future in running:
                future.cancel()
            raise

"""Clients for other accounts and regions: the role assumed in each member account, and where to look.

An organization-wide deployment (and the CLI's `--role-arn`, `--accounts`, `--regions`) reads and
changes member accounts through a role there. The credentials come from STS `AssumeRole` through
botocore's own fetcher and refresh themselves before they expire; they are made once per account
and shared by every region of it, and the clients once per (account, region). The caller's own
account needs no role: it is read with the caller's credentials, as a single-account deployment is.

An account that refuses the role is not an error of the whole run: `RoleRefused` names it, and the
caller turns it into a finding for that account.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rotation_doctor.collect.aws import (
    SESSION_LOCK,
    AwsClients,
    AwsError,
    BadSetting,
    describe_fatal,
    error_code,
    fatal,
)

if TYPE_CHECKING:
    from botocore.credentials import RefreshableCredentials

DEFAULT_MEMBER_ROLE = "rotation-doctor-member"  # org/member.yaml's MemberRoleName default
SESSION_NAME = "rotation-doctor"
ROLE_ARN = re.compile(r"\Aarn:(aws[a-z-]*):iam::([0-9]{12}):role/(?:[\w+=,.@/-]+/)?([\w+=,.@-]{1,64})\Z", re.ASCII)
# Whole strings of ASCII only: `$` would admit a final newline and `\d` any Unicode digit, so that one account or
# region could be spelled several ways (each a place of its own, with its own share of the hub).
ACCOUNT_ID = re.compile(r"\A[0-9]{12}\Z")
REGION_NAME = re.compile(r"\A[a-z]{2}(-[a-z]+)+-[0-9]+\Z")  # us-east-1, us-gov-west-1, ap-southeast-5, ...
PARTITION = re.compile(r"\Aaws(-[a-z]+)*\Z")  # aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b, ...
# Secrets Manager's rule for a secret's name (CreateSecret, `Name`): 1-512 ASCII letters, digits and /_+=.@- .
SECRET_NAME = re.compile(r"\A[A-Za-z0-9/_+=.@-]{1,512}\Z")
SECRET_ARN_FORM = "arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME"


@dataclass(frozen=True, order=True)
class Place:
    """One account and one region: what a member event names and where a secret lives."""

    account: str
    region: str

    def __str__(self) -> str:
        return f"{self.account}/{self.region}"


class RoleRefused(Exception):
    """The member role could not be assumed in `account` (no role, a trust that does not name us, an SCP)."""

    def __init__(self, account: str, role_arn: str, reason: str, code: str = "") -> None:
        super().__init__(f"{account}: cannot assume {role_arn}: {reason}")
        self.account = account
        self.role_arn = role_arn
        self.reason = reason
        self.code = code  # STS's error code ("AccessDenied"), empty when STS gave none


@dataclass(frozen=True)
class MemberReads:
    """Organization mode: the collector may read another account's facts (a private zone a shared-services account
    owns, the centralized endpoint it names) through that account's member role, in the collector's region, but only
    in an account `allowed` admits. The account ids come from AWS's answers (a zone's owner), never from an event;
    even so no role is assumed into an account the deployment may not read."""

    sessions: AccountSessions
    allowed: Callable[[str], bool]

    def clients(self, account: str, region: str) -> AwsClients:
        """The account's clients in `region`; RoleRefused when its role cannot be assumed. Ask `allowed` first."""
        return self.sessions.clients(Place(account, region))


def role_arn(account: str, role_name: str, partition: str = "aws") -> str:
    return f"arn:{partition}:iam::{account}:role/{role_name}"


def parse_role_arn(text: str) -> tuple[str, str]:
    """(account, ARN) of a role ARN the user gave; BadSetting otherwise."""
    match = ROLE_ARN.match(text)
    if not match:
        raise BadSetting("--role-arn", f"{text[:120]!r} is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)")
    return match.group(2), text


def check_role_name(text: str) -> str:
    """A role's name (with its path, if any) the user gave for every account; BadSetting otherwise."""
    if not ROLE_ARN.match(role_arn("000000000000", text)):
        raise BadSetting("--role-name", f"{text[:120]!r} is not an IAM role name (NAME or path/NAME)")
    return text


def check_secret_id(text: str) -> str:
    """A secret's name or ARN the user gave, checked before any AWS call; BadSetting("secret") otherwise. An ARN is
    held to its whole form, its region to the regions that exist: a secret id that cannot name a secret is bad input,
    never a question put to AWS (whose answer, AccessDenied on a foreign ARN, would read as an AWS error)."""
    shown = repr(text[:120])
    if not text.strip():
        raise BadSetting("secret", f"{shown} is empty: give the secret's name or its ARN ({SECRET_ARN_FORM})")
    if not text.startswith("arn:"):
        if not SECRET_NAME.match(text):
            raise BadSetting(
                "secret",
                f"{shown} is neither a secret name (1-512 ASCII letters, digits and /_+=.@-) nor an ARN "
                f"({SECRET_ARN_FORM})",
            )
        return text
    parts = text.split(":", 6)
    if len(parts) > 2 and parts[2] != "secretsmanager":
        raise BadSetting("secret", f"{shown} is an ARN of {parts[2][:40]!r}, not of a secret ({SECRET_ARN_FORM})")
    place = place_of_arn(text)
    if (
        len(parts) != 7
        or place is None
        or not PARTITION.match(parts[1])
        or parts[5] != "secret"
        or not SECRET_NAME.match(parts[6])
    ):
        raise BadSetting("secret", f"{shown} is not a secret's ARN ({SECRET_ARN_FORM}, ACCOUNT 12 digits)")
    check_region(place.region, "secret", what="the ARN's region ")
    return text


@functools.cache
def known_regions() -> tuple[str, ...]:
    """Every region Secrets Manager is in, in every partition, as the installed botocore's bundled endpoint data lists
    them (opt-in regions included; no AWS call)."""
    from botocore.session import Session

    session = Session()
    return tuple(
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("secretsmanager", partition_name=partition)
    )


def check_region(name: str, setting: str, *, what: str = "") -> str:
    """A region name the user gave (or a setting, or a secret's ARN, holds), known to exist; BadSetting otherwise,
    naming the regions that do. A region newer than the installed botocore is refused too: its endpoint data is what
    the SDK would reach it with, so upgrading botocore is the fix, and the message says so."""
    if REGION_NAME.match(name) and name in known_regions():
        return name
    raise BadSetting(
        setting,
        f"{what}{name[:60]!r} is not an AWS region; Secrets Manager's regions (opt-in ones included; a newer one "
        f"needs a newer botocore): {', '.join(known_regions())}",
    )


def place_of_arn(arn: str) -> Place | None:
    """The account and region an ARN names (a secret's, a function's); None for anything else."""
    parts = arn.split(":")
    if len(parts) >= 6 and parts[0] == "arn" and ACCOUNT_ID.match(parts[4]) and REGION_NAME.match(parts[3]):
        return Place(parts[4], parts[3])
    return None


class AccountSessions:
    """`AwsClients` for any (account, region), from one base session (the hub's, or the person's).

    `role_for(account)` names the role to assume there; by default the member role of that name in the
    account. The base account is never assumed into.
    """

    def __init__(
        self,
        base: AwsClients,
        *,
        role_name: str = DEFAULT_MEMBER_ROLE,
        role_arns: dict[str, str] | None = None,
        base_account: str | None = None,
        session_name: str = SESSION_NAME,
    ) -> None:
        self.base = base
        self.role_name = role_name
        self.role_arns = dict(role_arns or {})
        self.session_name = session_name
        self._base_account = base_account
        self._credentials: dict[str, RefreshableCredentials] = {}
        self._clients: dict[Place, AwsClients] = {}
        self._lock = threading.Lock()
        # One lock per account: threads reading several regions of an account at once assume its role once.
        self._account_locks: dict[str, threading.Lock] = {}

    @property
    def base_account(self) -> str:
        """The account of the base credentials (asked of STS once, when not given)."""
        with self._account_lock(""):
            if self._base_account is None:
                self._base_account = str(self.base.client("sts").get_caller_identity()["Account"])  # type: ignore[attr-defined]
        return self._base_account

    def know_base_account(self, account: str) -> None:
        """The base account, when the caller already knows it (a Lambda's own ARN names it): no STS call then."""
        if self._base_account is None and ACCOUNT_ID.match(account):
            self._base_account = account

    def assumes_into(self, account: str) -> bool:
        """Whether a role is known for `account` (the base account needs none; an empty role name names none)."""
        return bool(self.role_name) or account in self.role_arns

    def _account_lock(self, account: str) -> threading.Lock:
        with self._lock:
            return self._account_locks.setdefault(account, threading.Lock())

    def role_for(self, account: str) -> str:
        return self.role_arns.get(account) or role_arn(account, self.role_name, self._partition())

    def clients(self, place: Place) -> AwsClients:
        """Clients of `place`, made once. RoleRefused when the account's role cannot be assumed."""
        with self._lock:
            made = self._clients.get(place)
        if made is not None:
            return made
        if place.account == self.base_account and place.account not in self.role_arns:
            # The base clients themselves in their own region (one client per service and place, whoever asks).
            same = place.region == self.base.region
            made = self.base if same else AwsClients(self.base.session, region=place.region, counter=self.base.counter)
        else:
            made = AwsClients(self._session_for(place.account), region=place.region, counter=self.base.counter)
        with self._lock:
            return self._clients.setdefault(place, made)

    def forget(self, place: Place) -> None:
        """Drop the clients of a place that is done with (a client holds megabytes: a scan of hundreds of places
        keeps only those being read). Asked again, they are made again; the account's credentials are kept."""
        with self._lock:
            self._clients.pop(place, None)

    def _session_for(self, account: str) -> Any:
        import boto3
        import botocore.session

        credentials = self._assumed(account)
        with SESSION_LOCK:
            core = botocore.session.Session()
            core._credentials = credentials  # type: ignore[attr-defined]  # botocore has no public setter for refreshable ones
            # The service models are read once, not once per account: loading them is most of a client's making.
            core.register_component("data_loader", self.base.session._session.get_component("data_loader"))
            return boto3.session.Session(botocore_session=core)

    def _assumed(self, account: str) -> RefreshableCredentials:
        with self._account_lock(account):
            cached = self._credentials.get(account)
            return cached if cached is not None else self._assume(account)

    def _assume(self, account: str) -> RefreshableCredentials:
        from botocore.credentials import AssumeRoleCredentialFetcher, RefreshableCredentials

        arn = self.role_for(account)
        with SESSION_LOCK:
            source = self.base.session.get_credentials()
        if source is None:
            raise AwsError("no AWS credentials to assume member roles with")

        def sts_client(service: str, **kwargs: Any) -> Any:
            with SESSION_LOCK:
                made = self.base.session.client(service, region_name=self.base.region, **kwargs)  # type: ignore[call-overload]
            made.meta.events.register("before-call.*.*", self.base.counter)
            return made

        fetcher = AssumeRoleCredentialFetcher(
            sts_client, source, arn, extra_args={"RoleSessionName": self.session_name}
        )
        try:
            first = fetcher.fetch_credentials()
        except Exception as exc:
            if fatal(exc) or _transient(exc):  # asking again later can succeed: not the account's refusal
                raise AwsError(describe_fatal(exc)) from exc
            code = error_code(exc)
            raise RoleRefused(account, arn, describe_fatal(exc) if code else str(exc), code) from exc
        credentials = RefreshableCredentials.create_from_metadata(
            metadata=first, refresh_using=fetcher.fetch_credentials, method="assume-role"
        )
        self._credentials[account] = credentials  # under the account's lock
        return credentials

    def _partition(self) -> str:
        return partition_of(self.base.region or "")


def partition_of(region: str) -> str:
    """The partition a region is in (the first part of its ARNs)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def _transient(exc: BaseException) -> bool:
    """STS throttled us or failed on its side (after botocore's own retries)."""
    response = getattr(exc, "response", None)
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) if isinstance(response, dict) else 0
    return error_code(exc) in {"Throttling", "ThrottlingException", "RequestLimitExceeded"} or int(status or 0) >= 500


def organization_accounts(clients: AwsClients) -> list[str]:
    """The organization's active accounts (Organizations `ListAccounts`, paged), sorted."""
    paginator = clients.client("organizations").get_paginator("list_accounts")
    accounts: list[str] = []
    for page in paginator.paginate():
        for account in page.get("Accounts", []):
            # `State` replaced `Status` in 2025; either says whether the account can be read.
            state = account.get("State") or account.get("Status")
            if state in (None, "ACTIVE"):
                accounts.append(str(account["Id"]))
    return sorted(accounts)


def enabled_regions(clients: AwsClients) -> list[str]:
    """The regions enabled for the account (`DescribeRegions` without AllRegions lists only those)."""
    answer = clients.ec2.describe_regions()
    return sorted(r["RegionName"] for r in answer.get("Regions", []) if r.get("RegionName"))


def accounts_from(text: str, listed: Callable[[], list[str]]) -> list[str]:
    """`--accounts all|ID,ID`: the organization's accounts, or the ids given (checked)."""
    if text.strip().lower() == "all":
        return listed()
    ids = [a.strip() for a in text.split(",") if a.strip()]
    bad = [a for a in ids if not ACCOUNT_ID.match(a)]
    if bad or not ids:
        raise BadSetting("--accounts", f"{', '.join(bad)[:120] or 'nothing'} is not 'all' or 12-digit account ids")
    return list(dict.fromkeys(ids))


def regions_from(text: str, enabled: Callable[[], list[str]]) -> list[str]:
    """`--regions all|R,R`: the account's enabled regions, or the names given (checked)."""
    if text.strip().lower() == "all":
        return enabled()
    names = [r.strip() for r in text.split(",") if r.strip()]
    bad = [r for r in names if not REGION_NAME.match(r)]
    if bad or not names:
        raise BadSetting("--regions", f"{', '.join(bad)[:120] or 'nothing'} is not 'all' or AWS region names")
    return list(dict.fromkeys(check_region(name, "--regions") for name in names))


def places(accounts: Iterable[str], regions: Iterable[str]) -> list[Place]:
    regions = list(regions)
    return [Place(a, r) for a in accounts for r in regions]

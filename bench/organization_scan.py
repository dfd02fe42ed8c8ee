"""`scan` across an organization: 20 accounts x 2 regions x 50 secrets, through the CLI's own code path.

`rotation-doctor scan --accounts all --regions us-east-1,eu-west-1 --format json --concurrency N`, run in process
against moto (which maps an assumed role's credentials to the role's account). Each of the 40 account-regions is the
account of bench/scan_calls.py at 50 secrets (five functions, five databases, one of which is closed to the
functions: its ten secrets are broken).
The organization is built once; the command runs on it at concurrency 1, 4 and 8 (after one warm-up run). moto in
process is CPU-bound under the GIL, so concurrency cannot shorten these times (against AWS it overlaps round trips):
what the table shows is that the calls are the same at every setting and do not grow with secrets beyond pages.

Calls are counted by a botocore `before-call` hook every session gets (the command makes its own sessions), and
attributed to the account-region of the client that made them (its region, and its credentials' account).
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _account import make_clients, median
from _output import finish, options, parser, say, table
from scan_calls import build

from rotation_doctor.collect.accounts import AccountSessions
from rotation_doctor.collect.aws import AwsClients
from rotation_doctor.simulated import organization, simulated_aws

ACCOUNTS = 20  # the management account and 19 members
REGIONS = ("us-east-1", "eu-west-1")
SECRETS = 50  # per account-region
CONCURRENCY = (1, 4, 8)
RUN_LEVEL = ("sts:", "organizations:")  # the run's own calls (listing accounts, assuming roles), not a place's


class PlaceCounter:
    """Every AWS call any session makes, by operation and by (account, region) of the client that made it."""

    def __init__(self, base_account: str) -> None:
        import boto3

        base_key = boto3.session.Session().get_credentials().access_key  # the management account's, as the CLI's
        self.accounts = {base_key: base_account}  # access key -> account
        self.by_operation: Counter[str] = Counter()
        self.by_place: Counter[tuple[str, str]] = Counter()

    def before_call(self, model: Any, params: Any, context: Any, request_signer: Any, **_: Any) -> None:
        name = f"{model.service_model.service_name}:{model.name}"
        self.by_operation[name] += 1
        if not name.startswith(RUN_LEVEL):
            key = request_signer._credentials.access_key  # botocore keeps no public handle on a client's credentials
            region = context.get("client_region")
            if region == "aws-global":  # Route 53's endpoint is global; ListHostedZonesByVPC names the VPC's region
                region = params.get("query_string", {}).get("vpcregion", region)
            self.by_place[(self.accounts.get(key, "?"), region)] += 1

    def after_assume_role(self, parsed: Any, **_: Any) -> None:
        """An assumed role's access key belongs to the role's account (as moto and AWS have it)."""
        if "Credentials" in parsed:
            self.accounts[parsed["Credentials"]["AccessKeyId"]] = parsed["AssumedRoleUser"]["Arn"].split(":")[4]

    def clear(self) -> None:
        self.by_operation.clear()
        self.by_place.clear()


@contextlib.contextmanager
def counting(counter: PlaceCounter) -> Any:
    """The counter's hooks on every botocore session made from now on (as tests/test_cli_organization.py does)."""
    import botocore.handlers

    hooks = [("before-call", counter.before_call), ("after-call.sts.AssumeRole", counter.after_assume_role)]
    saved = botocore.handlers.BUILTIN_HANDLERS
    botocore.handlers.BUILTIN_HANDLERS = [*saved, *hooks]
    try:
        yield counter
    finally:
        botocore.handlers.BUILTIN_HANDLERS = saved


def build_organization(
    clients: AwsClients, secrets: int = SECRETS, *, accounts: int = ACCOUNTS, regions: Sequence[str] = REGIONS
) -> list[str]:
    """The organization, every account-region with `secrets` secrets; every account's id, the management first."""
    ids = organization.organization(clients, accounts - 1)
    sessions = AccountSessions(clients)  # moto assumes any role name: the member role need not be made
    for account in ids:
        for region in regions:
            build(organization.builder_in(sessions, account, region), secrets)
    return ids


def cli_scan(concurrency: int) -> tuple[int, list[dict[str, Any]], float, float]:
    """The command as a person runs it: exit code, its JSON items, wall and CPU seconds."""
    from rotation_doctor.cli.main import main as cli

    argv = ["scan", "--accounts", "all", "--regions", ",".join(REGIONS), "--format", "json"]
    out = io.StringIO()
    started, cpu = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(out):
        code = cli([*argv, "--concurrency", str(concurrency)])
    return code, json.loads(out.getvalue()), time.perf_counter() - started, time.process_time() - cpu


def main() -> int:
    options(parser(__doc__))
    clients = make_clients()
    with simulated_aws():
        started = time.perf_counter()
        accounts = build_organization(clients)
        built = time.perf_counter() - started
        counter = PlaceCounter(accounts[0])
        with counting(counter):
            cli_scan(8)  # warm-up: the modules the command imports, once
            rows = []
            totals = set()
            ok = True
            for concurrency in CONCURRENCY:
                counter.clear()
                code, items, elapsed, cpu = cli_scan(concurrency)
                calls, per_place = counter.by_operation, counter.by_place
                verdicts = Counter(i["verdict"] for i in items)
                places = {(i["secret"]["account"], i["secret"]["region"]) for i in items}
                ok &= code == 1 and len(items) == ACCOUNTS * len(REGIONS) * SECRETS
                ok &= places == set(per_place) and len(places) == ACCOUNTS * len(REGIONS)
                totals.add(sum(calls.values()))
                rows.append(
                    (
                        concurrency,
                        len(items),
                        f"{verdicts['healthy']}/{verdicts['broken']}",
                        sum(calls.values()),
                        f"{min(per_place.values())}/{median(list(per_place.values())):.0f}/{max(per_place.values())}",
                        calls["secretsmanager:ListSecrets"],
                        calls["sts:AssumeRole"],
                        calls["organizations:ListAccounts"],
                        f"{elapsed:.1f}",
                        f"{cpu:.1f}",
                    )
                )
    say(
        f"{ACCOUNTS} accounts x {len(REGIONS)} regions x {SECRETS} secrets "
        f"({ACCOUNTS * len(REGIONS) * SECRETS} secrets), built in {built:.0f} s\n"
    )
    table(
        (
            "concurrency",
            "secrets",
            "healthy/broken",
            "AWS calls",
            "calls per account-region (min/median/max)",
            "ListSecrets",
            "AssumeRole",
            "ListAccounts",
            "seconds (moto)",
            "CPU seconds",
        ),
        rows,
    )
    ok &= len(totals) == 1
    say()
    say(
        "every secret reported with its account and region, the same calls at every concurrency:", "yes" if ok else "NO"
    )
    finish(ok=ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

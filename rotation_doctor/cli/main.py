"""The `rotation-doctor` command (contract section 5). Exit: 0 healthy, 1 not, 2 bad input, 3 AWS error."""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NoReturn, cast
from urllib.parse import urlsplit

if TYPE_CHECKING:  # what-if is loaded only by its command
    from rotation_doctor.whatif.report import Effect

EXIT_HEALTHY, EXIT_UNWELL, EXIT_BAD_INPUT, EXIT_AWS_ERROR = 0, 1, 2, 3
TRUST_HELP = (
    "a secret-name prefix whose secrets are trusted to name their own database (repeatable; also "
    "$ROTATION_DOCTOR_TRUSTED_SECRET_PREFIXES); other database-side fixes need the database tagged "
    "rotation-doctor:secrets"
)


FORMAT_HELP = "text for people (default), json for machines: the contract's object (docs/contract.md)"
MERMAID_HELP = "; mermaid: a Mermaid flowchart of each path, hop by hop, the blocking hop marked (docs/paths.md)"
JSONL_HELP = (
    "; jsonl: each item of json's list as one line, written as each account-region finishes (memory stays flat "
    "however many there are)"
)
SECRET_HELP = "the secret's name or ARN (an ARN names its own region, which is then used)"
SECURITY_HUB_HELP = (
    "also keep Security Hub's findings as the diagnosis says: import each finding, archive those gone (in the "
    "secret's account and region; Security Hub must be enabled there)"
)


DEFAULT_CONCURRENCY = 8


def _place_options(p: argparse.ArgumentParser, command: str) -> None:
    """Where a command reads: another account through a role, and for `scan` the organization's accounts and
    regions. `fix` stays in one account (only --role-arn): it writes, and a person approves one plan at a time."""
    p.add_argument(
        "--role-arn",
        metavar="ARN",
        help="assume this IAM role and run in its account (your credentials need sts:AssumeRole on it)",
    )
    if command == "fix":
        return
    if command == "scan":
        p.add_argument(
            "--accounts",
            metavar="all|ID,ID",
            help="scan these accounts (all: every active account of the organization, through Organizations "
            "ListAccounts), assuming --role-name in each; your own account is read with your credentials",
        )
        p.add_argument(
            "--regions",
            metavar="all|R,R",
            help="scan these regions (all: those enabled for each account); default: --region's",
        )
        p.add_argument(
            "--concurrency",
            type=_concurrency,
            default=DEFAULT_CONCURRENCY,
            metavar="N",
            help=f"read at most N account-regions at once (default {DEFAULT_CONCURRENCY})",
        )
    from rotation_doctor.collect.accounts import DEFAULT_MEMBER_ROLE

    p.add_argument(
        "--role-name",
        metavar="NAME",
        help=f"the role to assume in each account of --accounts (default {DEFAULT_MEMBER_ROLE}, the member role)"
        if command == "scan"
        else f"assume this role in the account the secret's ARN names (the member role is {DEFAULT_MEMBER_ROLE})",
    )


def _common(on_subcommand: bool) -> Parser:
    """Options accepted before or after the subcommand. On a subcommand they default to nothing, so that
    `-v diagnose x` and `diagnose x -v` mean the same."""
    unset: dict[str, Any] = {"default": argparse.SUPPRESS} if on_subcommand else {}
    common = Parser(add_help=False)  # a parent only: its actions are copied, never parsed with
    common.add_argument("-v", "--verbose", action="store_true", help="log what is read (never secret values)", **unset)
    common.add_argument(
        "--region", help="the AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's)", **unset
    )
    common.add_argument("--profile", help="the AWS profile (default: AWS_PROFILE)", **unset)
    return common


def wants_json(argv: Sequence[str]) -> bool:
    """Whether the command line asks for `--format json`, read from the words themselves: for an argument error,
    which is found before any value is parsed. The last `--format` wins, as it does for argparse, in any spelling
    argparse accepts (`--format json`, `--format=json`, an unambiguous prefix from `--fo`); nothing after `--` is an
    option."""
    wanted = False
    words = list(argv)
    for index, word in enumerate(words):
        if word == "--":
            break
        option, has_value, value = word.partition("=")
        if len(option) < len("--fo") or not "--format".startswith(option):
            continue
        if not has_value:
            value = words[index + 1] if index + 1 < len(words) else ""
        wanted = value == "json"
    return wanted


class Parser(argparse.ArgumentParser):
    """argparse, with its errors told as every other error is: under `--format json`, the contract's error object on
    stdout and one line on stderr, exit 2 (bad input); otherwise argparse's usage and message, exit 2."""

    def __init__(self, *args: Any, argv: Sequence[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.argv = argv

    def error(self, message: str) -> NoReturn:
        argv = sys.argv[1:] if self.argv is None else self.argv
        if not wants_json(argv):
            super().error(message)
        command = self.prog.partition(" ")[2]  # "diagnose" of "rotation-doctor diagnose"; nothing for the top
        self.exit(
            _error(argparse.Namespace(format="json"), "bad_input", f"{command}: {message}" if command else message)
        )


def _parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    parser = Parser(
        argv=argv,
        prog="rotation-doctor",
        description="Find (and fix) why a Lambda-rotated Secrets Manager secret cannot rotate. AWS settings come "
        "the standard way: AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, the credential chain.",
        epilog="Exit status: 0 healthy, 1 degraded, broken or unknown (or a fix not healthy after), 2 bad input "
        "or setting, 3 AWS error.",
        parents=[_common(False)],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    # Subcommands' parsers are told the same command line: an error in one is told as the top's are.
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", help="what to do", parser_class=_subparser(argv)
    )
    common = _common(True)

    def command(
        name: str, text: str, *, formats: bool = True, jsonl: bool = False, mermaid: bool = False
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=text, description=text, parents=[common])
        if formats:
            choices, help_text = (
                (("text", "json", "jsonl"), FORMAT_HELP + JSONL_HELP) if jsonl else (("text", "json"), FORMAT_HELP)
            )
            if mermaid:
                choices, help_text = (*choices, "mermaid"), help_text + MERMAID_HELP
            p.add_argument("--format", choices=choices, default="text", help=help_text)
        return p

    d = command("diagnose", "diagnose one secret (name or ARN)", mermaid=True)
    d.add_argument("secret", help=SECRET_HELP)
    _place_options(d, "diagnose")
    d.add_argument(
        "--rotation-failed",
        action="store_true",
        help="treat the secret as having just failed to rotate (always read the function's logs)",
    )
    d.add_argument(
        "--deep",
        action="store_true",
        help="for a path rotation-doctor cannot judge, ask VPC Reachability Analyzer (about USD 0.10 an analysis; "
        "needs `permissions --deep`)",
    )
    d.add_argument(
        "--deep-timeout",
        type=_seconds,
        default=300,
        metavar="SECONDS",
        help="how long to wait for each analysis before deleting it unanswered (default 300)",
    )
    d.add_argument("--security-hub", action="store_true", help=SECURITY_HUB_HELP)
    s = command(
        "scan", "diagnose every Lambda-rotated secret of the region (or of several accounts and regions)", jsonl=True
    )
    s.add_argument("--security-hub", action="store_true", help=SECURITY_HUB_HELP)
    _place_options(s, "scan")
    p = command("plan", "diagnosis plus the fix plan; changes nothing")
    p.add_argument("secret", help=SECRET_HELP)
    _place_options(p, "plan")
    p.add_argument("--prefer-nat", action="store_true", help="plan a NAT gateway instead of an endpoint")
    p.add_argument("--trust-prefix", action="append", metavar="PREFIX", help=TRUST_HELP)
    f = command("fix", "apply the plan's fixes up to a risk, then diagnose again (one account: --role-arn)")
    f.add_argument("secret", help=SECRET_HELP)
    _place_options(f, "fix")
    f.add_argument("--approve", action="store_true", required=True, help="required: you approve the plan shown")
    f.add_argument(
        "--max-risk",
        choices=("low", "medium", "high"),
        default="low",
        help="apply fixes up to this risk (default low); a NAT gateway is never applied by fix",
    )
    f.add_argument(
        "--plan-hash",
        metavar="HASH",
        help="apply only if the fresh plan is the one you read (its hash, or its first 12+ characters as "
        "`plan` prints them); otherwise print the new plan and exit 1",
    )
    f.add_argument("--retry-rotation", action="store_true", help="ask Secrets Manager to rotate again if healthy")
    f.add_argument("--trust-prefix", action="append", metavar="PREFIX", help=TRUST_HELP)
    f.add_argument(
        "--wait-timeout",
        type=_seconds,
        default=600,
        metavar="SECONDS",
        help="how long to wait for an endpoint, NAT gateway or function update before undoing everything (default 600)",
    )
    perms = command("permissions", "the IAM policy a person needs to diagnose (or, with --fix, to fix)", formats=False)
    perms.add_argument("--fix", action="store_true", help="include the writes `fix` and `proposals approve` make")
    perms.add_argument(
        "--deep", action="store_true", help="include what `diagnose --deep` needs (VPC Reachability Analyzer)"
    )
    perms.add_argument("--security-hub", action="store_true", help="include what `--security-hub` needs")
    perms.add_argument(
        "--accounts",
        nargs="?",
        const="rotation-doctor-member",
        metavar="ROLE_NAME",
        help="include what --role-arn, --accounts and --regions need: sts:AssumeRole on roles of this name "
        "(default rotation-doctor-member), organizations:ListAccounts, ec2:DescribeRegions",
    )
    props = sub.add_parser("proposals", help="proposals stored by the service (DynamoDB)", parents=[common])
    props_sub = props.add_subparsers(
        dest="action", required=True, metavar="ACTION", help="what to do with them", parser_class=_subparser(argv)
    )
    for name, text in (
        ("list", "open proposals (all with --all)"),
        ("show", "one proposal, with its history and anything a failed undo left"),
        ("approve", "approve and apply one proposal"),
        ("reject", "reject one proposal"),
    ):
        a = props_sub.add_parser(name, help=text, description=text, parents=[common])
        a.add_argument("--format", choices=("text", "json"), default="text", help=FORMAT_HELP)
        a.add_argument(
            "--table",
            default=os.environ.get("ROTATION_DOCTOR_TABLE"),
            help="the proposals table (default: $ROTATION_DOCTOR_TABLE)",
        )
        if name == "list":
            a.add_argument("--all", action="store_true", help="every proposal, not only the open ones")
        else:
            a.add_argument("id", help="the proposal's id (p-...), as `proposals list` shows it")
        if name in ("approve", "reject"):
            a.add_argument("--by", default=os.environ.get("USER", "cli"), help="who approves (for the history)")
        if name == "approve":
            a.add_argument(
                "--retry-rotation", action="store_true", help="ask Secrets Manager to rotate again if healthy"
            )
    w = command(
        "what-if",
        "what a Terraform plan or CloudFormation change set would do to rotation; changes nothing",
        formats=False,
    )
    w.add_argument(
        "--format",
        choices=("text", "json", "markdown"),
        default="text",
        help=f"{FORMAT_HELP}; markdown for a pull-request comment or $GITHUB_STEP_SUMMARY",
    )
    planned = w.add_mutually_exclusive_group(required=True)
    planned.add_argument("--terraform-plan", metavar="FILE", help="the JSON of `terraform show -json PLAN` (-: stdin)")
    planned.add_argument("--change-set", metavar="NAME", help="a CloudFormation change set (name or ARN)")
    w.add_argument("--stack", metavar="STACK", help="the change set's stack (needed when --change-set is a name)")
    w.add_argument(
        "--fail-on",
        metavar="EFFECTS",
        default=",".join(GATE_CHOICES),
        help=f"comma-separated effects that fail the gate (exit 1): of {', '.join(GATE_CHOICES)}; or none "
        "(default: all four)",
    )
    w.add_argument(
        "--annotations",
        choices=("github",),
        help="also write GitHub Actions workflow commands (::error/::warning) to stdout, after the report",
    )
    w.add_argument(
        "--output", metavar="FILE", help="write the report to FILE instead of stdout (stdout keeps the annotations)"
    )
    command("demo", "the whole story on a built-in simulated account (no AWS account needed)", formats=False)
    from rotation_doctor.cli.completion import SHELLS

    completion = command(
        "completion", "print the shell's completion script (docs: Use, Shell completion; needs shtab)", formats=False
    )
    completion.add_argument("shell", choices=SHELLS, help="the shell the script is for")
    return parser


def _subparser(argv: Sequence[str] | None) -> type[Parser]:
    """What makes a subcommand's parser: a `Parser` that knows the command line (argparse only calls it)."""
    return cast(type[Parser], functools.partial(Parser, argv=argv))


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rotation-doctor")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def _clients(args: argparse.Namespace) -> Any:
    """Clients of the account the command runs in: the caller's own, or another through --role-arn or (for a
    secret ARN of another account) --role-name."""
    base = _base_clients(args)
    role_arn, role_name = getattr(args, "role_arn", None), getattr(args, "role_name", None)
    if role_arn is None and role_name is None:
        return base
    from rotation_doctor.collect.accounts import (
        AccountSessions,
        Place,
        RoleRefused,
        check_role_name,
        parse_role_arn,
        place_of_arn,
    )
    from rotation_doctor.collect.aws import AwsError, BadSetting

    secret = place_of_arn(getattr(args, "secret", None) or "")
    if role_arn is not None and role_name is not None:
        raise BadSetting("--role-name", "give --role-arn or --role-name, not both")
    if role_arn is not None:
        account, arn = parse_role_arn(role_arn)
        if secret is not None and secret.account != account:
            raise BadSetting("--role-arn", f"the role is in account {account}; the secret's ARN names {secret.account}")
        sessions = AccountSessions(base, role_arns={account: arn})
    else:
        if secret is None:
            raise BadSetting("--role-name", "needs the secret's ARN (it names the account to assume the role in)")
        account = secret.account
        sessions = AccountSessions(base, role_name=check_role_name(str(role_name)))
    try:
        return sessions.clients(Place(account, base.region))
    except RoleRefused as exc:  # one account asked for: nothing can be read there
        raise AwsError(str(exc)) from exc


def _base_clients(args: argparse.Namespace) -> Any:
    """Clients for the settings given, checked first: a setting that cannot work is bad input (exit 2)."""
    import boto3
    from botocore.exceptions import ProfileNotFound

    from rotation_doctor.collect.accounts import check_region, check_secret_id
    from rotation_doctor.collect.aws import AwsClients, BadSetting

    secret = getattr(args, "secret", None)
    if secret is not None:
        check_secret_id(secret)
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if endpoint is not None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise BadSetting("AWS_ENDPOINT_URL", f"{endpoint[:100]!r} is not an http(s) URL")
    profile_setting = "--profile" if args.profile else "AWS_PROFILE"
    try:
        session = boto3.session.Session(profile_name=args.profile) if args.profile else boto3.session.Session()
        configured = session.region_name
    except ProfileNotFound as exc:
        raise BadSetting(profile_setting, f"no profile {exc.kwargs.get('profile')!r} in the AWS config") from exc
    region, setting = _region(args, configured)
    if region is not None:
        check_region(region, setting)
    return AwsClients(session, region=region)


def _region(args: argparse.Namespace, configured: str | None) -> tuple[str | None, str]:
    """The region to read, and the setting it came from. A secret's ARN names its own region."""
    from rotation_doctor.collect.accounts import place_of_arn

    place = place_of_arn(getattr(args, "secret", None) or "")
    named = place.region if place is not None else None
    if named:
        if args.region and args.region != named:
            from rotation_doctor.collect.aws import BadSetting

            raise BadSetting("--region", f"{args.region} differs from the secret ARN's region {named}")
        return named, "the secret's ARN"
    if args.region:
        return args.region, "--region"
    if os.environ.get("AWS_REGION"):
        return os.environ["AWS_REGION"], "AWS_REGION"
    return configured, "AWS_DEFAULT_REGION or the profile's region"


def _emit_json(payload: Any) -> None:
    from rotation_doctor.cli.closed_pipe import reader_may_leave

    with reader_may_leave(sys.stdout):  # a reader that left ends the output, not the command (whose status stands)
        json.dump(payload, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")


def _versioned(obj: dict[str, Any]) -> dict[str, Any]:
    """An object docs/schema describes, with the version of the schema it follows first."""
    from rotation_doctor.cli.schema import SCHEMA_VERSION

    return {"schema_version": SCHEMA_VERSION, **obj}


def _emit_versioned(payload: dict[str, Any] | list[dict[str, Any]]) -> None:
    """The objects docs/schema describes (diagnose, plan, fix, each item of scan, the error), versioned."""
    _emit_json([_versioned(o) for o in payload] if isinstance(payload, list) else _versioned(payload))


def cmd_diagnose(args: argparse.Namespace) -> int:
    from rotation_doctor.cli import render
    from rotation_doctor.examine import diagnose_secret
    from rotation_doctor.model.findings import Verdict

    clients = _clients(args)
    snap, diagnosis = diagnose_secret(clients, args.secret, rotation_failed=args.rotation_failed)
    answers = _second_opinion(clients, args.deep_timeout, snap, diagnosis) if args.deep else None
    if answers is not None:
        from rotation_doctor.analysis.reachability import with_answers

        diagnosis = with_answers(diagnosis, answers)
    _to_security_hub(args, [diagnosis], clients)
    if args.format == "json":
        deep = {"reachability": [a.to_json() for a in answers]} if answers is not None else {}
        _emit_versioned(diagnosis.to_json() | deep)
    elif args.format == "mermaid":
        from rotation_doctor.cli import mermaid

        render.stdout_line(mermaid.flowchart(diagnosis.secret_name, diagnosis.paths))
    else:
        render.stdout_line(render.diagnosis_text(diagnosis, render.Style(render.use_color(sys.stdout))))
    return EXIT_HEALTHY if diagnosis.verdict is Verdict.HEALTHY else EXIT_UNWELL


def _second_opinion(clients: Any, timeout: float, snap: Any, diagnosis: Any) -> list[Any]:
    """`diagnose --deep`: VPC Reachability Analyzer on the paths the model cannot judge (none: nothing is run)."""
    from rotation_doctor.analysis.reachability import COST_NOTE, questions
    from rotation_doctor.cli import render
    from rotation_doctor.collect.reachability import ReachabilityAnalyzer

    asked = questions(snap, diagnosis.findings)
    if not asked:
        render.stderr_line("rotation-doctor: --deep: every path is judged without VPC Reachability Analyzer")
        return []
    render.stderr_line(f"rotation-doctor: {COST_NOTE}")
    answers = ReachabilityAnalyzer(clients, timeout=timeout).answer(asked)
    for answer in answers:
        for left in answer.left_behind:
            render.stderr_line(f"rotation-doctor: could not delete {left}; delete it by hand (it costs nothing)")
    return answers


def cmd_scan(args: argparse.Namespace) -> int:
    from rotation_doctor.cli import render
    from rotation_doctor.cli.jsonlines import JsonLines
    from rotation_doctor.examine import scan
    from rotation_doctor.model.findings import Verdict

    if any(getattr(args, o) is not None for o in ("role_arn", "accounts", "regions", "role_name")):
        return _scan_places(args)
    started = time.monotonic()
    progress_on = sys.stderr.isatty() or args.verbose

    def progress(message: str) -> None:
        if progress_on or time.monotonic() - started > 2:
            render.stderr_line(f"rotation-doctor: {message}")

    clients = _clients(args)
    results = scan(clients, on_progress=progress)
    _to_security_hub(args, results, clients)
    if args.format == "jsonl":
        JsonLines(sys.stdout).write(_versioned(d.to_json()) for d in results)
    elif args.format == "json":
        _emit_versioned([d.to_json() for d in results])
    else:
        render.stdout_line(render.scan_table(results, render.Style(render.use_color(sys.stdout))))
    return EXIT_HEALTHY if all(d.verdict is Verdict.HEALTHY for d in results) else EXIT_UNWELL


def _to_security_hub(args: argparse.Namespace, diagnoses: Sequence[Any], clients: Any, clients_for: Any = None) -> None:
    """With --security-hub: the diagnoses as Security Hub findings; what it did (and refused) on stderr. A finding
    Security Hub refuses is told, and does not change the exit status, which is the secrets' verdict. Each finding is
    imported in its secret's account (the only one AWS takes it from): `clients`' own, or `clients_for(place)`'s."""
    sync = _security_hub_sync(args, clients, clients_for)
    if sync is not None:
        from rotation_doctor.cli import render

        render.stderr_line(f"rotation-doctor: {sync(diagnoses).summary()}")


def _security_hub_sync(args: argparse.Namespace, clients: Any, clients_for: Any = None) -> Any:
    """With --security-hub, what syncs diagnoses (of any places; the sync goes place by place) and answers its
    report; else None."""
    if not getattr(args, "security_hub", False):
        return None
    from rotation_doctor.notify.security_hub import Diagnosed, SecurityHubFindings

    hub = SecurityHubFindings(clients, clients_for)
    return lambda diagnoses: hub.sync([Diagnosed(d) for d in diagnoses])


def _scan_places(args: argparse.Namespace) -> int:
    """`scan` across accounts and regions: the places are read concurrently, the progress bar counts accounts."""
    from rotation_doctor.cli import render
    from rotation_doctor.collect.accounts import (
        DEFAULT_MEMBER_ROLE,
        AccountSessions,
        accounts_from,
        check_role_name,
        organization_accounts,
        parse_role_arn,
        regions_from,
    )
    from rotation_doctor.collect.aws import AwsError, BadSetting, describe_fatal, fatal
    from rotation_doctor.examine import UnreadPlace, each_place, scan_places
    from rotation_doctor.model.findings import Verdict

    # Every setting is checked before the first call: bad input is exit 2, whatever AWS would say.
    if args.role_arn is not None and (args.accounts is not None or args.role_name is not None):
        raise BadSetting("--role-arn", "names one account: give it, or --accounts with --role-name, not both")
    if args.role_name is not None and args.accounts is None:
        raise BadSetting("--role-name", "is the role to assume in each account of --accounts: give --accounts too")
    role_arns = dict([parse_role_arn(args.role_arn)]) if args.role_arn is not None else {}
    if args.accounts is not None:
        accounts_from(args.accounts, list)  # the ids are checked here; "all" is listed below
    if args.role_name is not None:
        check_role_name(args.role_name)
    every_region = args.regions is not None and args.regions.strip().lower() == "all"
    regions = regions_from(args.regions, list) if args.regions is not None and not every_region else None
    base = _base_clients(args)
    if regions is None and not every_region:
        regions = [base.region]
    sessions = AccountSessions(base, role_name=args.role_name or DEFAULT_MEMBER_ROLE, role_arns=role_arns)

    def listed() -> list[str]:
        try:
            return organization_accounts(base)
        except Exception as exc:
            if fatal(exc):
                raise
            raise AwsError(
                f"cannot list the organization's accounts (organizations:ListAccounts, from the management or a "
                f"delegated administrator account): {describe_fatal(exc)}"
            ) from exc

    accounts = list(role_arns) or (
        accounts_from(args.accounts, listed) if args.accounts is not None else [sessions.base_account]
    )
    bar = render.ProgressBar(sys.stderr) if sys.stderr.isatty() or args.verbose else None
    if bar:
        bar.show(0, len(accounts))
    if args.format == "jsonl":
        places = each_place(
            sessions,
            accounts,
            regions,
            concurrency=args.concurrency,
            on_account_done=bar.show if bar else None,
            organization=args.accounts is not None,
        )
        return _stream_places(args, places, bar, base, sessions.clients)
    try:
        items = scan_places(
            sessions,
            accounts,
            regions,
            concurrency=args.concurrency,
            on_account_done=bar.show if bar else None,
            organization=args.accounts is not None,
        )
    finally:
        if bar:
            bar.end()
    _to_security_hub(args, [i for i in items if not isinstance(i, UnreadPlace)], base, sessions.clients)
    if args.format == "json":
        _emit_versioned([item.to_json() for item in items])
    else:
        render.stdout_line(render.places_table(items, render.Style(render.use_color(sys.stdout))))
    return EXIT_HEALTHY if all(item.verdict is Verdict.HEALTHY for item in items) else EXIT_UNWELL


def _stream_places(args: argparse.Namespace, places: Any, bar: Any, clients: Any, clients_for: Any) -> int:
    """`scan --format jsonl` across places: each place's items written (one line each, flushed) as the place is
    read, synced to Security Hub if asked, then dropped; nothing is kept for the end but the exit status and the
    Security Hub report. Lines are written in this thread only (`each_place` yields here), so they never
    interleave."""
    from contextlib import closing

    from rotation_doctor.cli import render
    from rotation_doctor.cli.jsonlines import JsonLines
    from rotation_doctor.examine import UnreadPlace
    from rotation_doctor.model.findings import Verdict
    from rotation_doctor.notify.security_hub import HubReport

    lines, sync, synced = JsonLines(sys.stdout), _security_hub_sync(args, clients, clients_for), HubReport()
    healthy = True
    try:
        with closing(places):
            for _, items in places:
                healthy = healthy and all(item.verdict is Verdict.HEALTHY for item in items)
                lines.write(_versioned(item.to_json()) for item in items)
                if sync is not None:
                    synced.add(sync([i for i in items if not isinstance(i, UnreadPlace)]))
    finally:
        if bar:
            bar.end()
    if sync is not None:
        render.stderr_line(f"rotation-doctor: {synced.summary()}")
    return EXIT_HEALTHY if healthy else EXIT_UNWELL


def _concurrency(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError("between 1 and 64")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError("between 0 and 3600 seconds")
    return value


def _executor(args: argparse.Namespace) -> Any:
    from rotation_doctor.apply.executor import Executor
    from rotation_doctor.apply.guardrails import Mode, policy_from_env

    policy = policy_from_env(os.environ, mode=Mode.PROPOSE)
    trusted = (*policy.trusted_secret_prefixes, *(getattr(args, "trust_prefix", None) or ()))
    wait = getattr(args, "wait_timeout", None)
    timing = {"wait_timeout": wait} if wait is not None else {}
    return Executor(_clients(args), replace(policy, trusted_secret_prefixes=tuple(dict.fromkeys(trusted))), **timing)


def cmd_plan(args: argparse.Namespace) -> int:
    from rotation_doctor.cli import render
    from rotation_doctor.model.findings import Verdict

    _, diagnosis, plan = _executor(args).assess(args.secret, prefer_nat=args.prefer_nat)
    if args.format == "json":
        _emit_versioned(
            diagnosis.to_json()
            | {"plan": plan.to_json(), "plan_hash": plan.hash, "unfixable": [u.to_json() for u in plan.unfixable]}
        )
    else:
        style = render.Style(render.use_color(sys.stdout))
        render.stdout_line(render.diagnosis_text(diagnosis, style))
        render.stdout_line()
        render.stdout_line(render.plan_text(plan, style))
    return EXIT_HEALTHY if diagnosis.verdict is Verdict.HEALTHY else EXIT_UNWELL


def cmd_fix(args: argparse.Namespace) -> int:
    from rotation_doctor.apply.guardrails import Approval
    from rotation_doctor.cli import render
    from rotation_doctor.collect.aws import BadSetting
    from rotation_doctor.model.findings import Verdict
    from rotation_doctor.model.plan import Risk
    from rotation_doctor.model.states import OutcomeStatus

    try:
        approval = Approval(os.environ.get("USER", "cli"), plan_hash=args.plan_hash, max_risk=Risk(args.max_risk))
    except ValueError as exc:
        raise BadSetting("--plan-hash", str(exc)) from exc
    outcome = _executor(args).run(args.secret, approval=approval, retry_rotation=args.retry_rotation or None)
    if args.format == "json":
        _emit_versioned(outcome.to_json())
    else:
        style = render.Style(render.use_color(sys.stdout))
        render.stdout_line(render.plan_text(outcome.plan, style))
        render.stdout_line()
        render.stdout_line(render.outcome_text(outcome, style))
    final = outcome.after or outcome.before
    if outcome.status is OutcomeStatus.ROLLBACK_INCOMPLETE:
        return EXIT_UNWELL  # something is left in the account: never 0, whatever the diagnosis says
    return EXIT_HEALTHY if final.verdict is Verdict.HEALTHY else EXIT_UNWELL


def cmd_proposals(args: argparse.Namespace) -> int:
    from rotation_doctor.approvals.store import ProposalStore
    from rotation_doctor.approvals.workflow import apply_proposal
    from rotation_doctor.cli import render
    from rotation_doctor.collect.aws import BadInput
    from rotation_doctor.model.errors import ProposalConflict, ProposalNotFound
    from rotation_doctor.model.states import OPEN_STATES, ProposalState

    if not args.table:
        raise BadInput("no proposals table: pass --table or set ROTATION_DOCTOR_TABLE")
    clients = _clients(args)
    store = ProposalStore(clients, args.table)
    try:
        if args.action == "list":
            found = store.list(None if args.all else OPEN_STATES)
            if args.format == "json":
                _emit_json([p.to_json() for p in found])
            else:
                render.stdout_line(render.proposals_table(found))
            return EXIT_HEALTHY
        if args.action in ("show", "reject"):
            proposal = store.get(args.id) if args.action == "show" else store.reject(args.id, by=args.by)
            if args.format == "json":
                _emit_json(proposal.to_json())
            else:
                render.stdout_line(render.proposal_text(proposal))
            return EXIT_HEALTHY
        store.approve(args.id, by=args.by)
        retry = args.retry_rotation or None  # not asked: the deployment's setting
        handled = apply_proposal(_executor(args), store, args.id, by=args.by, retry_rotation=retry)
    except ProposalNotFound as exc:  # only this: a KeyError from inside an apply is a bug, not bad input
        raise BadInput(f"no proposal {args.id!r} in {args.table}") from exc
    except ProposalConflict as exc:
        raise BadInput(str(exc)) from exc
    if args.format == "json":
        _emit_json(handled.outcome.to_json() | {"proposal": handled.proposal.to_json() if handled.proposal else None})
    else:
        render.stdout_line(render.outcome_text(handled.outcome, render.Style(render.use_color(sys.stdout))))
        if handled.proposal is not None:
            render.stdout_line()
            render.stdout_line(render.proposal_text(handled.proposal))
    applied = handled.proposal is not None and handled.proposal.state is ProposalState.APPLIED
    return EXIT_HEALTHY if applied else EXIT_UNWELL


def cmd_permissions(args: argparse.Namespace) -> int:
    """The IAM policy JSON to attach, from the same declarations the template is held to."""
    from rotation_doctor.apply.iam_policy import policy

    _emit_json(
        policy(
            fix=args.fix,
            retry_rotation=args.fix,
            deep=args.deep,
            security_hub=args.security_hub,
            organization_role=args.accounts,
        )
    )
    return EXIT_HEALTHY


# The effects `what-if --fail-on` may name: those the default gate fails on (report.FAILING), in the order a report
# ranks them. Failing on `heals` or `unchanged` would be no gate.
GATE_CHOICES = ("breaks", "degrades", "worsens", "unknown")


def _fail_on(text: str) -> frozenset[Effect]:
    """`--fail-on`'s value: effects named exactly (lower case, comma-separated), or `none` for a gate that reports
    and never fails."""
    from rotation_doctor.collect.aws import BadInput
    from rotation_doctor.whatif.report import Effect

    names = [name.strip() for name in text.split(",")]
    if names == ["none"]:
        return frozenset()
    wrong = [name for name in names if name not in GATE_CHOICES]
    if wrong:
        raise BadInput(f"--fail-on: {wrong[0]!r} is not one of {', '.join(GATE_CHOICES)} (or none)")
    return frozenset(Effect(name) for name in names)


def cmd_what_if(args: argparse.Namespace) -> int:
    """Read-only: the plan is read first (bad input before any AWS call), then the account, as `scan` reads it."""
    from pathlib import Path

    from rotation_doctor.cli import annotations, render
    from rotation_doctor.collect.aws import BadInput
    from rotation_doctor.whatif.changes import BadPlan
    from rotation_doctor.whatif.run import read_change_set, what_if
    from rotation_doctor.whatif.terraform import decode_plan, parse_plan

    if args.stack and args.terraform_plan is not None:
        raise BadInput("--stack goes with --change-set, not with --terraform-plan")
    fail_on = _fail_on(args.fail_on)
    if args.annotations and args.format == "json" and args.output is None:
        raise BadInput("--annotations with --format json needs --output FILE: stdout must stay one JSON document")
    try:
        if args.terraform_plan is not None:
            path = args.terraform_plan
            name = "stdin" if path == "-" else os.path.basename(path)
            try:
                data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
            except OSError as exc:
                raise BadInput(f"cannot read {path}: {exc.__class__.__name__}: {exc}") from exc
            source = parse_plan(decode_plan(data, name=name), name=name)
            clients = _clients(args)
        else:
            clients = _clients(args)
            source = read_change_set(clients, args.change_set, args.stack)
    except BadPlan as exc:
        raise BadInput(str(exc)) from exc
    report = what_if(clients, source)
    if args.format == "json":
        body = json.dumps(_versioned(report.to_json()), indent=2, default=str)
    elif args.format == "markdown":
        body = render.whatif_markdown(report, fail_on)
    else:
        color = args.output is None and render.use_color(sys.stdout)
        body = render.whatif_text(report, render.Style(color), fail_on)
    if args.output is None:
        render.stdout_line(body)
    else:
        try:
            Path(args.output).write_text(body + "\n", encoding="utf-8")
        except OSError as exc:
            raise BadInput(f"--output: cannot write {args.output}: {exc.__class__.__name__}: {exc}") from exc
    commands = annotations.github(report, fail_on) if args.annotations == "github" else []
    if commands:
        render.stdout_line("\n".join(commands))
    return EXIT_UNWELL if report.fails(fail_on) else EXIT_HEALTHY


def cmd_demo(args: argparse.Namespace) -> int:
    from rotation_doctor.cli.demo import run

    return run()


def cmd_completion(args: argparse.Namespace) -> int:
    from rotation_doctor.cli import render
    from rotation_doctor.cli.completion import script

    render.stdout_line(script(_parser(), args.shell))
    return EXIT_HEALTHY


def main(argv: Sequence[str] | None = None) -> int:
    """The command. Its output is written once its status is known, each write tolerating a reader that left
    (`closed_pipe`): the status is then the command's own. A closed pipe met anywhere else (the demo, which tells
    its story as it goes, or argparse's --help) ends the command quietly with 1: its status is not known."""
    from rotation_doctor.cli.closed_pipe import reader_may_leave, silence

    try:
        return _run(argv)
    except SystemExit:  # argparse's --help, --version and usage: flushed here, where a closed pipe can be told
        with reader_may_leave(sys.stdout):
            pass
        raise
    except BrokenPipeError:
        silence(sys.stdout)
        silence(sys.stderr)
        return EXIT_UNWELL


def _run(argv: Sequence[str] | None) -> int:
    args = _parser(argv).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="rotation-doctor: %(levelname)s %(name)s: %(message)s",
    )
    from rotation_doctor.collect.aws import AwsError, BadInput, BadSetting, describe_fatal, fatal, quiet_sdk_loggers

    quiet_sdk_loggers()  # always, and above all with --verbose

    commands = {
        "diagnose": cmd_diagnose,
        "scan": cmd_scan,
        "plan": cmd_plan,
        "fix": cmd_fix,
        "permissions": cmd_permissions,
        "proposals": cmd_proposals,
        "what-if": cmd_what_if,
        "demo": cmd_demo,
        "completion": cmd_completion,
    }
    try:
        return commands[args.command](args)
    except BadInput as exc:
        return _error(
            args, "bad_input", str(exc), getattr(exc, "setting", None) if isinstance(exc, BadSetting) else None
        )
    except AwsError as exc:
        return _error(args, "aws_error", str(exc))
    except KeyboardInterrupt:
        return _error(args, "interrupted", "interrupted")
    except Exception as exc:
        from botocore.exceptions import BotoCoreError, ClientError

        if isinstance(exc, ClientError | BotoCoreError) or fatal(exc):
            return _error(args, "aws_error", describe_fatal(exc))
        raise


EXIT_BY_KIND = {"bad_input": EXIT_BAD_INPUT, "aws_error": EXIT_AWS_ERROR, "interrupted": 130}


def _error(args: argparse.Namespace, kind: str, message: str, setting: str | None = None) -> int:
    """One line on stderr; with --format json, also the contract's error object on stdout. A message may quote outside
    text (a plan's address that cannot be read): made printable, it stays one line a terminal or a CI runner does not
    act on."""
    from rotation_doctor.cli import render
    from rotation_doctor.model.bounded import printable

    prefix = "AWS error: " if kind == "aws_error" else ""
    message = printable(message)
    render.stderr_line(f"rotation-doctor: {prefix}{message}")
    error = {"error": {"kind": kind, "message": message, "setting": setting}}
    if getattr(args, "format", "text") == "json":
        _emit_versioned(error)
    elif getattr(args, "format", "text") == "jsonl":  # the last line, after the places already written
        from rotation_doctor.cli.jsonlines import JsonLines

        JsonLines(sys.stdout).write([_versioned(error)])
    return EXIT_BY_KIND[kind]


if __name__ == "__main__":
    sys.exit(main())

"""The `rotation-doctor` command (contract section 5). Exit: 0 healthy, 1 not, 2 bad input, 3 AWS error."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from typing import Any

EXIT_HEALTHY, EXIT_UNWELL, EXIT_BAD_INPUT, EXIT_AWS_ERROR = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rotation-doctor",
        description="Find (and fix) why a Lambda-rotated Secrets Manager secret cannot rotate. AWS settings come "
        "the standard way: AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, the credential chain.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what is read (never secret values)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_format(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--format", choices=("text", "json"), default="text")
        p.add_argument("--region", help="overrides AWS_REGION")
        p.add_argument("--profile", help="overrides AWS_PROFILE")
        return p

    d = with_format(sub.add_parser("diagnose", help="diagnose one secret (name or ARN)"))
    d.add_argument("secret")
    d.add_argument(
        "--rotation-failed",
        action="store_true",
        help="treat the secret as having just failed to rotate (always read the function's logs)",
    )
    with_format(sub.add_parser("scan", help="diagnose every Lambda-rotated secret of the region"))
    sub.add_parser("demo", help="the whole story on a built-in simulated account (no AWS account needed)")
    return parser


def _clients(args: argparse.Namespace) -> Any:
    import boto3

    from rotation_doctor.collect.aws import AwsClients

    session = boto3.session.Session(profile_name=args.profile) if args.profile else boto3.session.Session()
    return AwsClients(session, region=args.region)


def _emit_json(payload: Any) -> None:
    json.dump(payload, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def cmd_diagnose(args: argparse.Namespace) -> int:
    from rotation_doctor import render
    from rotation_doctor.doctor import diagnose_secret
    from rotation_doctor.findings import Verdict

    _, diagnosis = diagnose_secret(_clients(args), args.secret, rotation_failed=args.rotation_failed)
    if args.format == "json":
        _emit_json(diagnosis.to_json())
    else:
        print(render.diagnosis_text(diagnosis, render.Style(render.use_color(sys.stdout))))
    return EXIT_HEALTHY if diagnosis.verdict is Verdict.HEALTHY else EXIT_UNWELL


def cmd_scan(args: argparse.Namespace) -> int:
    from rotation_doctor import render
    from rotation_doctor.doctor import scan
    from rotation_doctor.findings import Verdict

    started = time.monotonic()
    progress_on = sys.stderr.isatty() or args.verbose

    def progress(message: str) -> None:
        if progress_on or time.monotonic() - started > 2:
            render.stderr_line(f"rotation-doctor: {message}")

    results = scan(_clients(args), on_progress=progress)
    if args.format == "json":
        _emit_json([d.to_json() for d in results])
    else:
        print(render.scan_table(results, render.Style(render.use_color(sys.stdout))))
    return EXIT_HEALTHY if all(d.verdict is Verdict.HEALTHY for d in results) else EXIT_UNWELL


def cmd_demo(args: argparse.Namespace) -> int:
    from rotation_doctor.demo import run

    return run()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="rotation-doctor: %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        logging.getLogger("botocore").setLevel(logging.WARNING)
    from rotation_doctor.collect.aws import AwsError, BadInput, describe_fatal, fatal

    commands = {"diagnose": cmd_diagnose, "scan": cmd_scan, "demo": cmd_demo}
    try:
        return commands[args.command](args)
    except BadInput as exc:
        print(f"rotation-doctor: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except AwsError as exc:
        print(f"rotation-doctor: AWS error: {exc}", file=sys.stderr)
        return EXIT_AWS_ERROR
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from botocore.exceptions import BotoCoreError, ClientError

        if isinstance(exc, ClientError | BotoCoreError) or fatal(exc):
            print(f"rotation-doctor: AWS error: {describe_fatal(exc)}", file=sys.stderr)
            return EXIT_AWS_ERROR
        raise


if __name__ == "__main__":
    sys.exit(main())

"""The pre-commit hook (`.pre-commit-hooks.yaml`, id rotation-doctor-what-if): `what-if` on each Terraform plan JSON
pre-commit passes, one after the other (each reads the account once), and the worst exit status of them all."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rotation_doctor.cli import main as cli

INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rotation_doctor.cli.plans_hook", description="rotation-doctor what-if on each plan JSON given"
    )
    parser.add_argument("--fail-on", default=",".join(cli.GATE_CHOICES), help="as what-if's --fail-on")
    parser.add_argument("plans", nargs="*", metavar="PLAN_JSON", help="files of `terraform show -json PLAN`")
    args = parser.parse_args(argv)
    worst = cli.EXIT_HEALTHY
    for plan in args.plans:
        status = cli.main(["what-if", "--terraform-plan", plan, "--fail-on", args.fail_on])
        if status == INTERRUPTED:
            return status
        worst = max(worst, status)  # 3 (AWS error) over 2 (bad input) over 1 (the gate fails) over 0
    return worst


if __name__ == "__main__":
    sys.exit(main())

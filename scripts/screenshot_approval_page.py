"""Render the approval page of the demo's proposal and photograph it with headless Chromium.

`make screenshot` writes docs/approval-page.png, the picture on README's first screen, from the same
code the approval function serves, so the picture stays current: the demo's broken account, down to where each path
stops (the route table on the way to Secrets Manager, the database's security group on the way to the database).
Needs Debian's chromium (scripts/ensure_chromium.sh installs it) and the demo extra (moto).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def page_html() -> str:
    """The demo account's proposal, as the approval page shows it to the person on call."""
    from rotation_doctor.apply.executor import Executor
    from rotation_doctor.apply.guardrails import Mode, Policy
    from rotation_doctor.approvals import page
    from rotation_doctor.approvals.store import ProposalStore, create_table
    from rotation_doctor.approvals.workflow import handle_secret
    from rotation_doctor.collect.aws import AwsClients
    from rotation_doctor.simulated import scenarios, simulated_aws
    from rotation_doctor.simulated.account import AccountBuilder

    with simulated_aws():
        import boto3

        clients = AwsClients(boto3.session.Session(region_name="us-east-1"), region="us-east-1")
        builder = AccountBuilder(clients)
        scenarios.orders(builder)
        create_table(clients, "proposals")
        store = ProposalStore(clients, "proposals")
        proposal = handle_secret(Executor(clients, Policy(mode=Mode.PROPOSE)), store, scenarios.DEMO_SECRET).proposal
        assert proposal is not None
        return page.proposal_page(
            proposal, approve_token="token", reject_token="token", action_path=f"/proposals/{proposal.id}"
        )


# Tall enough for the heading, the findings and both paths' pictures of the demo's proposal; the plan follows below.
def photograph(html: str, out: Path, *, width: int = 1000, height: int = 1240) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "page.html"
        source.write_text(html)
        subprocess.run(
            [
                "/usr/bin/chromium",
                *CHROMIUM_FLAGS,
                f"--user-data-dir={tmp}/profile",
                f"--window-size={width},{height}",
                f"--screenshot={out}",
                source.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "approval-page.png")
    args = parser.parse_args()
    photograph(page_html(), args.out.resolve())
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""what-if run on a Terraform plan or a CloudFormation change set (DescribeChangeSet through botocore's Stubber)
against an account, and what it says of each secret."""

from __future__ import annotations

from typing import Any

from botocore.stub import Stubber

from rotation_doctor.collect.aws import AwsClients
from rotation_doctor.whatif.report import Report
from rotation_doctor.whatif.run import read_change_set, what_if
from rotation_doctor.whatif.terraform import parse_plan
from tests import whatif_plans as tf


def run(clients: AwsClients, text: str) -> Report:
    return what_if(clients, parse_plan(text, name="plan.json"))


def effects(report: Report) -> dict[str, tuple[str, list[str]]]:
    return {s.before.secret_name: (str(s.effect), sorted({f.code for f in s.new_findings})) for s in report.secrets}


def run_change_set(clients: AwsClients, pages: list[list[dict[str, Any]]]) -> Report:
    """DescribeChangeSet answered page by page (NextToken), the rest of the account by moto."""
    stubber = Stubber(clients.client("cloudformation"))
    for i, changes in enumerate(pages):
        token = f"page-{i + 1}" if i + 1 < len(pages) else None
        expected: dict[str, Any] = {
            "ChangeSetName": "net-change",
            "StackName": "orders-network",
            "IncludePropertyValues": True,
        }
        if i:
            expected["NextToken"] = f"page-{i}"
        stubber.add_response(
            "describe_change_set", tf.change_set_page("orders-network", "net-change", changes, token), expected
        )
    with stubber:
        source = read_change_set(clients, "net-change", "orders-network")
        stubber.assert_no_pending_responses()
    return what_if(clients, source)

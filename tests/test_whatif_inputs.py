"""Every input a Terraform user produces, and nothing else: plan JSON in UTF-8, UTF-8 with a BOM and UTF-16 (what
Windows PowerShell's `>` writes) is read; a state, a module manifest, a provider schema, `terraform validate -json`
output are bad input (exit 2) saying how to make plan JSON, before any AWS call; a plan with no changes passes; a
change set without property values is not evaluated for the resources it names. And the time grows with the plan
about linearly, while the calls do not grow at all."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from rotation_doctor.cli import main as cli
from rotation_doctor.collect.aws import AwsClients
from rotation_doctor.simulated.account import AccountBuilder
from rotation_doctor.whatif.changes import Handling
from rotation_doctor.whatif.changeset import parse_change_set
from tests import whatif_plans as tf

HOW = "terraform show -json tfplan > plan.json"
BUCKET = tf.resource_change(
    "aws_s3_bucket.reports", "aws_s3_bucket", ["create"], None, tf.tf_s3_bucket("reports"), unknown=("id",)
)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be"], ids=lambda e: e)
def test_a_plan_is_read_in_each_encoding_terraform_users_write(
    builder: AccountBuilder, tmp_path: Path, capsys: pytest.CaptureFixture[str], encoding: str
) -> None:
    """ "utf-16" writes a BOM, as PowerShell's `>` and `Out-File` do; -le/-be without one, as some editors save."""
    path = tmp_path / "plan.json"
    path.write_bytes(tf.plan(BUCKET).encode(encoding))
    assert cli.main(["what-if", "--terraform-plan", str(path), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["changes"][0]["address"] == "aws_s3_bucket.reports"


def test_a_plan_with_no_changes_passes(builder: AccountBuilder, tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "plan.json"
    document = json.loads(tf.plan())
    del document["resource_changes"]  # Terraform leaves it out when nothing changes
    path.write_text(json.dumps(document))
    assert cli.main(["what-if", "--terraform-plan", str(path), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["changes"] == 0


STATE = {
    "format_version": "1.0",
    "terraform_version": "1.9.5",
    "values": {"root_module": {"resources": [{"address": "aws_s3_bucket.reports", "type": "aws_s3_bucket"}]}},
}


@pytest.mark.parametrize(
    ("document", "says"),
    [
        (STATE, "a state"),
        ({"format_version": "1.0"}, "JSON of another kind"),  # `terraform show -json` with no state at all
        ({"version": 4, "terraform_version": "1.9.5", "serial": 3, "lineage": "x", "resources": []}, "a state"),
        ({"Modules": [{"Key": "", "Source": "", "Dir": "."}]}, "a module manifest"),
        ({"format_version": "1.0", "provider_schemas": {}}, "terraform providers schema -json"),
        ({"format_version": "1.0", "valid": True, "error_count": 0, "diagnostics": []}, "terraform validate -json"),
        ([{"address": "aws_s3_bucket.reports"}], "a JSON list"),
    ],
    ids=["state", "empty-show", "tfstate", "module-manifest", "providers-schema", "validate", "list"],
)
def test_json_that_is_no_plan_is_bad_input_saying_how_to_make_one(
    clients: AwsClients, tmp_path: Path, capsys: pytest.CaptureFixture[str], document: Any, says: str
) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(document))
    clients.counter.calls.clear()
    assert cli.main(["what-if", "--terraform-plan", str(path), "--format", "json"]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["kind"] == "bad_input" and says in error["message"] and HOW in error["message"]
    assert clients.counter.total == 0


def test_bytes_that_are_no_text_are_bad_input(clients: AwsClients, tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "plan.json"
    path.write_bytes(b'{"format_version": "\xff\xfe\xfa"}')
    assert cli.main(["what-if", "--terraform-plan", str(path), "--format", "json"]) == 2
    assert "neither UTF-8 nor UTF-16" in json.loads(capsys.readouterr().out)["error"]["message"]


def test_a_change_set_without_property_values_is_not_evaluated_for_what_it_names() -> None:
    """DescribeChangeSet without IncludePropertyValues: the route's table is not said, so the change is not evaluated
    for the route it names, never a change to a table named "None"."""
    changes = [
        tf.cfn_change("DefaultRoute", "AWS::EC2::Route", "Remove", physical="rtb-0a1b2c3d4e5f60718|0.0.0.0/0"),
        tf.cfn_change("AppGroup", "AWS::EC2::SecurityGroup", "Modify", physical="sg-0a1b2c3d4e5f60718"),
    ]
    source = parse_change_set([tf.change_set_page("net", "cs", changes)], name="net/cs")
    assert [(c.mapping, c.touches()) for c in source.changes] == [
        (Handling.NOT_EVALUATED, frozenset({"rtb-0a1b2c3d4e5f60718|0.0.0.0/0"})),
        (Handling.NOT_EVALUATED, frozenset({"sg-0a1b2c3d4e5f60718"})),
    ]
    assert all("IncludePropertyValues" in c.note and "None" not in c.touches() for c in source.changes)


# ----- fast on big plans -------------------------------------------------------------------------------------------


TIMED_IN_ITS_OWN_PROCESS = """
import json, time
from moto import mock_aws
from rotation_doctor.collect.aws import AwsClients
from rotation_doctor.simulated import scenarios
from rotation_doctor.simulated.account import AccountBuilder
from rotation_doctor.whatif.run import what_if
from rotation_doctor.whatif.terraform import parse_plan
from tests.whatif_plans import rules_and_buckets
with mock_aws():
    clients = AwsClients(region="us-east-1")
    o = scenarios.healthy_with_ledger(AccountBuilder(clients), ledger_secret="prod/ledger/db")
    def timed(count):
        text = rules_and_buckets(o.fn_sg, count)
        clients.counter.calls.clear()
        started = time.perf_counter()
        report = what_if(clients, parse_plan(text, name="plan.json"))
        elapsed = time.perf_counter() - started
        assert not report.failing and len(report.source.changes) == count
        return elapsed, dict(clients.counter.calls)
    one = timed(1)
    some = min(timed(2_000) for _ in range(2))  # warm, the smaller of two: the smallest baseline
    many = timed(20_000)
    print(json.dumps({"one": one, "some": some, "many": many}))
"""


def test_twenty_thousand_changes_grow_the_time_linearly_and_the_calls_not_at_all() -> None:
    """Reading the plan and judging it grows linearly with its changes (membership tests over lists made 27,000
    changes take a minute: this plan took over four minutes before). Ten times the changes may take at most twenty
    times as long (linear is ten, quadratic a hundred): a bound load cannot make flake. Timed in a process of its own,
    as a CI job runs the command: inside the whole suite the same 20,000 changes took 5 s instead of 1, from what
    earlier tests left behind in the process. Against a time for one change the bound cannot be held here, since
    moto's account read is about a tenth of a second (20,000 changes, 10.9 MB of plan, take about 1 s on an idle 2-core
    machine; against AWS a one-change plan alone reads for seconds). The account is read with as many calls whatever
    the plan's size."""
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent), "PYTHONWARNINGS": "ignore"}
    env |= {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    env.pop("AWS_ENDPOINT_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", TIMED_IN_ITS_OWN_PROCESS], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    timed = json.loads(done.stdout.strip().splitlines()[-1])
    one, some, many = timed["one"], timed["some"], timed["many"]
    assert one[1] == some[1] == many[1]
    assert many[0] <= 20 * some[0], (some[0], many[0])

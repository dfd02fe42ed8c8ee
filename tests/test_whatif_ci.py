"""`what-if` as a CI gate: the markdown fits one pull-request comment whatever the plan's size (the gate's verdict and
the secrets first, the rest collapsed and counted), `--fail-on` chooses what fails the gate, `--annotations github`
writes workflow commands nothing from the plan can add to, and nothing from the plan reaches a terminal, a comment or
the runner as a control character, an escape sequence or a bidirectional override."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from rotation_doctor.cli import annotations, render
from rotation_doctor.cli import main as cli
from rotation_doctor.cli.markdown import COMMENT_LIMIT
from rotation_doctor.simulated.account import AccountBuilder
from rotation_doctor.whatif.report import FAILING, Effect, Report, assess
from rotation_doctor.whatif.terraform import parse_plan
from tests import snapshots
from tests import whatif_plans as tf
from tests.whatif_plans import ORDERS, REGION, Account, delete_db_ingress, healthy_account

# A terminal hyperlink that shows "click" and opens another address, a screen clear, a carriage return (a line that
# overwrites its start), a right-to-left override (an address shown reversed), and a newline starting a second
# workflow command.
HOSTILE_KEY = "\x1b]8;;https://evil\x07click\x1b]8;;\x07\x1b[2J\r\u202e::error title=forged::all good\n::warning::x"
FORBIDDEN = ("\x1b", "\x07", "\r", "\u202e", "\x9b")


def _secret(name: str, n: int) -> Any:
    base = snapshots.healthy()
    return replace(base, secret=replace(base.secret, name=name, arn=f"{snapshots.SECRET_ARN}{n}"))


def _delete_endpoint(address: str = "aws_vpc_endpoint.secretsmanager") -> dict[str, Any]:
    before = tf.tf_endpoint("vpce-1", snapshots.VPC, ["app-a", "app-b"], ["sg-vpce"], REGION)
    return tf.resource_change(address, "aws_vpc_endpoint", ["delete"], before, None)


def _new_attachment(address: str) -> dict[str, Any]:
    """A type on the path that is not modelled: the secrets it touches are unknown."""
    attach = {"subnet_ids": ["app-a"], "transit_gateway_id": "tgw-1", "vpc_id": snapshots.VPC}
    return tf.resource_change(
        address, "aws_ec2_transit_gateway_vpc_attachment", ["create"], None, attach, unknown=("id",)
    )


def _bucket(i: int) -> dict[str, Any]:
    return tf.resource_change(
        f'aws_s3_bucket.logs["{i}"]', "aws_s3_bucket", ["create"], None, tf.tf_s3_bucket(f"logs-{i}"), unknown=("id",)
    )


@pytest.fixture
def account(builder: AccountBuilder) -> Account:
    return healthy_account(builder)


# ----- markdown fits a comment ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def huge() -> Report:
    """A plan of 3,003 changes (the endpoint deleted, two attachments not evaluated, 3,000 buckets) against 220
    secrets with names as long as Secrets Manager allows in practice: every part of the report overflows a comment."""
    names = [f"prod/{'orders-' * 35}{i:03d}" for i in range(220)]
    items = [_delete_endpoint(), _new_attachment('aws_ec2_transit_gateway_vpc_attachment.hub["a"]')]
    items += [_new_attachment('aws_ec2_transit_gateway_vpc_attachment.hub["b"]')]
    items += [_bucket(i) for i in range(3000)]
    return assess([_secret(name, i) for i, name in enumerate(names)], parse_plan(tf.plan(*items), name="plan.json"))


def test_a_huge_plan_fits_one_comment_verdict_and_secrets_first_the_rest_collapsed_and_counted(huge: Report) -> None:
    text = render.whatif_markdown(huge)
    assert len(text) <= COMMENT_LIMIT - 500  # room left for the comment's hidden marker
    lines = text.splitlines()
    # The verdict first, then the table of secrets, worst first, then the collapsed sections.
    assert lines[0].startswith("### ❌ rotation-doctor what-if: terraform\\-plan plan\\.json")
    assert lines[2] == "**The gate FAILS\\: 220 secret\\(s\\) \\(it fails on breaks, degrades, unknown, worsens\\)\\.**"
    assert lines[4] == "3003 change(s), 220 Lambda-rotated secret(s) read: 220 breaks."
    table = lines.index("| secret | effect | before → after | new findings | resolved |")
    first_details = next(i for i, line in enumerate(lines) if line.startswith("<details>"))
    assert table < first_details
    rows = [line for line in lines if line.startswith("| prod/")]
    assert rows and all(line.endswith(" |") for line in rows)  # never a row cut in the middle
    assert rows == [line for line in lines[table + 2 : table + 2 + len(rows)]]
    shown = [row.split(" | ")[0][2:] for row in rows]
    assert shown == [render.md(s.before.secret_name) for s in huge.secrets[: len(rows)]]
    # What did not fit is counted, section by section: the shown and the counted make the whole.
    left_out = {int(n): noun for n, noun in re.findall(r"^_… (\d+) more (.+?) not shown", text, re.M)}
    assert 0 < len(rows) < 220 and left_out[220 - len(rows)] == "secret(s)"
    summaries = re.findall(r"^<details><summary>(.+) \((\d+)\)</summary>$", text, re.M)
    assert [title for title, _ in summaries] == [
        "Findings",
        "Changes that touch each secret",
        "Not evaluated: the secrets these touch are unknown",
        "Ignored: cannot touch a rotation path",
    ]
    assert dict(summaries)["Ignored: cannot touch a rotation path"] == "3000"
    assert text.count("<details>") == text.count("</details>") == 4
    assert all(noun == "change(s)" for n, noun in left_out.items() if n in (2, 3000))
    findings = sum(len(s.new_findings) + len(s.not_evaluated) for s in huge.secrets)
    shown_findings = len(re.findall(r"^- ", text.split("<summary>Findings")[1].split("</details>")[0], re.M))
    assert findings - shown_findings in left_out


def test_a_small_report_shows_everything_and_counts_nothing() -> None:
    report = assess([snapshots.healthy()], parse_plan(tf.plan(_delete_endpoint(), _bucket(1)), name="plan.json"))
    text = render.whatif_markdown(report)
    assert "not shown" not in text
    assert "| prod/app | **breaks** | healthy → broken | `SM_NO_PATH` | — |" in text
    assert "<details><summary>Ignored: cannot touch a rotation path (1)</summary>" in text
    assert '- aws\\_s3\\_bucket\\.logs\\["1"\\] (aws\\_s3\\_bucket)' in text


def test_the_bound_holds_for_any_limit(huge: Report) -> None:
    for limit in (2_000, 10_000, 65_000):
        assert len(render.whatif_markdown(huge, limit=limit)) <= limit


# ----- --fail-on ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fail_on", "status"),
    [
        (None, 1),
        ("breaks", 1),
        ("degrades,worsens,unknown", 0),
        ("none", 0),
        ("breaks, unknown", 1),
    ],
)
def test_fail_on_chooses_the_effects_that_fail_the_gate(
    account: Account, tmp_path: Path, capsys: pytest.CaptureFixture[str], fail_on: str | None, status: int
) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(delete_db_ingress(account))
    gate = [] if fail_on is None else ["--fail-on", fail_on]
    assert cli.main(["what-if", "--terraform-plan", str(plan), *gate]) == status
    out = capsys.readouterr().out
    assert f"{ORDERS}: BREAKS (HEALTHY -> BROKEN)" in out
    assert ("The gate FAILS: 1 secret(s)" in out) is (status == 1)


def test_fail_on_unknown_alone_fails_a_plan_that_cannot_be_judged(
    account: Account, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    attach = {
        "subnet_ids": account.o.fn_subnets,
        "transit_gateway_id": "tgw-0123456789abcdef0",
        "vpc_id": account.o.net.vpc,
    }
    plan = tmp_path / "plan.json"
    plan.write_text(
        tf.plan(
            tf.resource_change(
                "aws_ec2_transit_gateway_vpc_attachment.hub",
                "aws_ec2_transit_gateway_vpc_attachment",
                ["create"],
                None,
                attach,
                unknown=("id",),
            )
        )
    )
    assert cli.main(["what-if", "--terraform-plan", str(plan), "--fail-on", "breaks"]) == 0
    assert cli.main(["what-if", "--terraform-plan", str(plan), "--fail-on", "unknown", "--format", "markdown"]) == 1
    out = capsys.readouterr().out
    assert "The gate passes (it fails on breaks)." in out
    assert "### ❌" in out and "**unknown**" in out


@pytest.mark.parametrize("fail_on", ["heals", "breaks,bogus", "", "BREAKS", "none,breaks"])
def test_a_fail_on_outside_the_choices_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fail_on: str
) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(tf.plan(_bucket(1)))
    assert cli.main(["what-if", "--terraform-plan", str(plan), "--fail-on", fail_on, "--format", "json"]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["kind"] == "bad_input" and error["message"].startswith("--fail-on: ")
    assert "breaks, degrades, worsens, unknown (or none)" in error["message"]


# ----- annotations ----------------------------------------------------------------------------------------------


def _runner_reads(line: str) -> tuple[str, dict[str, str], str]:
    """A workflow command as the runner parses it (actions/runner ActionCommand.TryParseV2): `::`, the command and
    its properties up to the next `::`, then the message; values unescaped."""

    def unescape(text: str) -> str:
        return (
            text.replace("%0D", "\r").replace("%0A", "\n").replace("%3A", ":").replace("%2C", ",").replace("%25", "%")
        )

    assert line.startswith("::"), line
    head, message = line[2:].split("::", 1)
    kind, _, props = head.partition(" ")
    properties = dict(p.split("=", 1) for p in props.split(",") if p)
    return kind, {k: unescape(v) for k, v in properties.items()}, unescape(message)


def _hostile_plan(a: Account) -> str:
    """The breaking deletion, its for_each key hostile; and a change not evaluated whose key is hostile too."""
    text = json.loads(delete_db_ingress(a))
    change = text["resource_changes"][0]
    change["address"] += f'["{HOSTILE_KEY}"]'
    change["index"] = HOSTILE_KEY
    return json.dumps(text)


def test_annotations_name_the_plan_address_and_nothing_from_the_plan_adds_a_command(
    account: Account, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan, report = tmp_path / "plan.json", tmp_path / "report.md"
    plan.write_text(_hostile_plan(account))
    argv = ["what-if", "--terraform-plan", str(plan), "--format", "markdown", "--output", str(report)]
    assert cli.main([*argv, "--annotations", "github", "--fail-on", "breaks"]) == 1
    out = capsys.readouterr().out
    assert "**breaks**" in report.read_text()  # the report in its file, the commands alone on stdout
    lines = out.splitlines()
    assert len(lines) == 1, out  # one secret breaks: one command, none forged
    kind, properties, message = _runner_reads(lines[0])
    assert kind == "error"
    assert properties == {"title": f"rotation-doctor what-if: {ORDERS} breaks"}
    assert message.startswith(f"{ORDERS} breaks (healthy -> broken): DB_SG_INGRESS_DENIES. Plan addresses touching")
    assert "module.orders_db.aws_vpc_security_group_ingress_rule.rotation[" in message
    assert "click" in message and "::error title=forged::all good ::warning::x" in message  # text, not a command
    for bad in FORBIDDEN:
        assert bad not in out and bad not in message


def test_annotations_warn_of_what_the_default_gate_would_fail_on() -> None:
    report = assess([snapshots.healthy()], parse_plan(tf.plan(_delete_endpoint()), name="plan.json"))
    assert [_runner_reads(line)[0] for line in annotations.github(report, frozenset({Effect.UNKNOWN}))] == ["warning"]
    assert [_runner_reads(line)[0] for line in annotations.github(report, FAILING)] == ["error"]


def test_annotations_are_bounded_and_count_what_they_leave_out(huge: Report) -> None:
    lines = annotations.github(huge, FAILING)
    assert [_runner_reads(line)[0] for line in lines] == ["error"] * 10 + ["notice"]
    assert _runner_reads(lines[-1])[2] == "210 more secret(s) not annotated; the what-if report lists them all."


def test_annotations_with_json_on_stdout_need_an_output_file(
    account: Account, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan, report = tmp_path / "plan.json", tmp_path / "report.json"
    plan.write_text(delete_db_ingress(account))
    argv = ["what-if", "--terraform-plan", str(plan), "--format", "json", "--annotations", "github"]
    assert cli.main(argv) == 2
    assert "needs --output FILE" in json.loads(capsys.readouterr().out)["error"]["message"]
    assert cli.main([*argv, "--output", str(report)]) == 1
    assert _runner_reads(capsys.readouterr().out.strip())[0] == "error"
    assert json.loads(report.read_text())["summary"]["breaks"] == 1
    assert cli.main([*argv, "--output", str(tmp_path / "no-such-dir" / "report.json")]) == 2
    assert "--output: cannot write" in capsys.readouterr().err


# ----- escaping: nothing from the plan acts on a terminal, a comment or the runner -------------------------------


def test_control_characters_and_overrides_from_the_plan_reach_no_output() -> None:
    """Addresses and for_each keys (and the notes and reasons that quote them) from the plan: in text, markdown and
    annotations, escape sequences are removed whole, controls and bidirectional overrides removed."""
    items = [
        _delete_endpoint(f'aws_vpc_endpoint.sm["{HOSTILE_KEY}"]'),
        _new_attachment(f'aws_ec2_transit_gateway_vpc_attachment.hub["{HOSTILE_KEY}\x9b31m"]'),
    ]
    report = assess([_secret(f"prod/app{HOSTILE_KEY}", 0)], parse_plan(tf.plan(*items), name=f"plan{HOSTILE_KEY}"))
    assert report.secrets and report.secrets[0].not_evaluated
    outputs = {
        "text": render.whatif_text(report),
        "markdown": render.whatif_markdown(report),
        "annotations": "\n".join(annotations.github(report, FAILING)),
    }
    for name, output in outputs.items():
        for bad in FORBIDDEN:
            assert bad not in output, (name, bad)
        assert "https://evil" not in output, name  # the hyperlink's target went with its sequence
        assert "[2J" not in output, name
    assert 'aws_vpc_endpoint.sm["click ::error title=forged::all good ::warning::x"]' in outputs["text"]
    assert len(outputs["annotations"].splitlines()) == 1
    # Each line of text is one the renderer wrote: no line starts where the plan put a newline.
    assert not any(line.startswith("::") for line in outputs["text"].splitlines())


def test_property_values_and_messages_are_escaped_as_githubs_toolkit_escapes() -> None:
    """A title holding `::` and `,` stays one property; `%` is never read as an escape; the runner reads back what
    was meant."""
    line = annotations.command("warning", "100% of a::b", title="a::b, file=evil.tf")
    assert line == "::warning title=a%3A%3Ab%2C file=evil.tf::100%25 of a::b"
    assert _runner_reads(line) == ("warning", {"title": "a::b, file=evil.tf"}, "100% of a::b")


def test_the_pre_commit_hook_runs_what_if_on_each_plan_and_returns_the_worst(
    account: Account, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rotation_doctor.cli import plans_hook

    breaking, harmless = tmp_path / "break.tfplan.json", tmp_path / "bucket.tfplan.json"
    breaking.write_text(delete_db_ingress(account))
    harmless.write_text(tf.plan(_bucket(1)))
    assert plans_hook.main([str(harmless)]) == 0
    assert plans_hook.main([str(harmless), str(breaking)]) == 1
    assert plans_hook.main(["--fail-on", "degrades", str(breaking), str(harmless)]) == 0
    assert plans_hook.main([str(breaking), str(tmp_path / "missing.tfplan.json")]) == 2
    out = capsys.readouterr().out
    assert "What-if terraform-plan break.tfplan.json" in out and "What-if terraform-plan bucket.tfplan.json" in out


def test_a_plan_that_cannot_be_read_is_reported_on_one_inert_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(
        json.dumps(
            {"format_version": "1.2", "terraform_version": "1.9.5", "resource_changes": [{"address": HOSTILE_KEY}]}
        )
    )
    assert cli.main(["what-if", "--terraform-plan", str(plan)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "rotation-doctor: plan.json: click ::error title=forged::all good ::warning::x cannot be read"
    )
    assert err.count("\n") == 1 and not any(bad in err for bad in FORBIDDEN)

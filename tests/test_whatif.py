"""`rotation-doctor what-if`: realistic Terraform plans and CloudFormation change sets against a healthy simulated
account. Each breaking plan names the secret it breaks and the code; an unrelated plan names none; the command
reads the account as `scan` does (as many calls for 200 changes as for one) and never writes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from rotation_doctor.cli import main as cli
from rotation_doctor.cli import render
from rotation_doctor.collect.aws import AwsClients
from rotation_doctor.simulated import scenarios
from rotation_doctor.simulated.account import AccountBuilder
from rotation_doctor.whatif.changes import Handling
from rotation_doctor.whatif.report import Effect
from rotation_doctor.whatif.run import read_change_set
from rotation_doctor.whatif.terraform import parse_plan
from tests import whatif_plans as tf
from tests.cli_process import assert_valid
from tests.whatif_plans import LEDGER, ORDERS, REGION, Account, delete_db_ingress, healthy_account
from tests.whatif_runs import effects, run, run_change_set

ALL_TCP = ("6", 0, 65535)


@pytest.fixture
def account(builder: AccountBuilder) -> Account:
    return healthy_account(builder)


# ----- the plans -----------------------------------------------------------------------------------


def delete_endpoint(a: Account) -> str:
    before = tf.tf_endpoint(a.endpoint, a.o.net.vpc, a.o.fn_subnets, [a.o.extra["endpoint_sg"]], REGION)
    return tf.plan(tf.resource_change("aws_vpc_endpoint.secretsmanager", "aws_vpc_endpoint", ["delete"], before, None))


def tighten_nacl(a: Account) -> str:
    """The app subnets' ACL lets in HTTPS from the VPC only: the answers from the databases (to ephemeral ports)
    no longer come back."""
    everything_in = [tf.tf_nacl_entry(100, "allow", "-1", "0.0.0.0/0", 0, 0)]
    everything_out = [tf.tf_nacl_entry(100, "allow", "-1", "0.0.0.0/0", 0, 0)]
    https_in = [tf.tf_nacl_entry(100, "allow", "6", a.o.net.cidr, 443, 443)]
    subnets = a.o.fn_subnets
    before = tf.tf_network_acl(a.acl, a.o.net.vpc, subnets, everything_in, everything_out)
    after = tf.tf_network_acl(a.acl, a.o.net.vpc, subnets, https_in, everything_out)
    return tf.plan(tf.resource_change("aws_network_acl.app", "aws_network_acl", ["update"], before, after))


def unrelated(a: Account) -> str:
    rule = tf.tf_security_group_rule(a.o.app_sg, 8080, "10.20.0.0/16")
    return tf.plan(
        tf.resource_change(
            "aws_s3_bucket.reports",
            "aws_s3_bucket",
            ["create"],
            None,
            tf.tf_s3_bucket("orders-reports"),
            unknown=("id", "arn"),
        ),
        tf.resource_change(
            "aws_security_group_rule.app_8080",
            "aws_security_group_rule",
            ["create"],
            None,
            rule,
            unknown=("id", "security_group_rule_id"),
        ),
    )


def test_the_account_is_healthy(account: Account) -> None:
    from rotation_doctor.examine import scan

    assert {d.secret_name: str(d.verdict) for d in scan(account.o.builder.clients)} == {
        ORDERS: "healthy",
        LEDGER: "healthy",
    }


def test_deleting_the_endpoint_breaks_every_secret_of_the_function(account: Account) -> None:
    report = run(account.o.builder.clients, delete_endpoint(account))
    assert effects(report) == {ORDERS: ("breaks", ["SM_NO_PATH"]), LEDGER: ("breaks", ["SM_NO_PATH"])}
    assert report.failing


def test_deleting_the_ingress_rule_breaks_only_the_database_that_needed_it(account: Account) -> None:
    report = run(account.o.builder.clients, delete_db_ingress(account))
    assert effects(report) == {ORDERS: ("breaks", ["DB_SG_INGRESS_DENIES"])}


def test_tightening_the_acl_breaks_both_paths(account: Account) -> None:
    """The answers of the databases and of the endpoint (whose interfaces are in the same subnets) are denied."""
    report = run(account.o.builder.clients, tighten_nacl(account))
    both = ("breaks", ["DB_NACL_DENIES", "SM_NACL_DENIES"])
    assert effects(report) == {ORDERS: both, LEDGER: both}


def test_an_unrelated_plan_names_no_secret(account: Account) -> None:
    report = run(account.o.builder.clients, unrelated(account))
    assert report.secrets == () and not report.failing
    assert {c.address: c.mapping for c in report.source.changes} == {
        "aws_s3_bucket.reports": Handling.IGNORED,
        "aws_security_group_rule.app_8080": Handling.MAPPED,
    }


# ----- the same through a CloudFormation change set (DescribeChangeSet answered by botocore's Stubber) ------


def cfn_delete_endpoint(a: Account) -> list[dict[str, Any]]:
    props = {
        "VpcEndpointType": "Interface",
        "VpcId": a.o.net.vpc,
        "ServiceName": f"com.amazonaws.{REGION}.secretsmanager",
        "SubnetIds": a.o.fn_subnets,
        "SecurityGroupIds": [a.o.extra["endpoint_sg"]],
        "PrivateDnsEnabled": True,
    }
    return [
        tf.cfn_change("SecretsManagerEndpoint", "AWS::EC2::VPCEndpoint", "Remove", physical=a.endpoint, before=props)
    ]


def cfn_delete_db_ingress(a: Account) -> list[dict[str, Any]]:
    props = {
        "GroupId": a.o.db_sg,
        "IpProtocol": "tcp",
        "FromPort": 5432,
        "ToPort": 5432,
        "SourceSecurityGroupId": a.o.fn_sg,
        "Description": "rotation",
    }
    return [
        tf.cfn_change("DbFromRotation", "AWS::EC2::SecurityGroupIngress", "Remove", physical=a.db_rule_id, before=props)
    ]


def cfn_tighten_nacl(a: Account) -> list[dict[str, Any]]:
    before = {
        "NetworkAclId": a.acl,
        "RuleNumber": 100,
        "Protocol": -1,
        "RuleAction": "allow",
        "Egress": False,
        "CidrBlock": "0.0.0.0/0",
    }
    after = {**before, "Protocol": 6, "CidrBlock": a.o.net.cidr, "PortRange": {"From": 443, "To": 443}}
    return [
        tf.cfn_change(
            "AppInbound",
            "AWS::EC2::NetworkAclEntry",
            "Modify",
            physical="orders-AppIn-1Q2W3E4R5T6Y",
            before=before,
            after=after,
            replacement="False",
        )
    ]


def cfn_unrelated(a: Account) -> list[dict[str, Any]]:
    rule = {"GroupId": a.o.app_sg, "IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "CidrIp": "10.20.0.0/16"}
    return [
        tf.cfn_change("ReportsBucket", "AWS::S3::Bucket", "Add", after={"BucketName": "orders-reports"}),
        tf.cfn_change("App8080", "AWS::EC2::SecurityGroupIngress", "Add", after=rule),
    ]


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (cfn_delete_endpoint, {ORDERS: ("breaks", ["SM_NO_PATH"]), LEDGER: ("breaks", ["SM_NO_PATH"])}),
        (cfn_delete_db_ingress, {ORDERS: ("breaks", ["DB_SG_INGRESS_DENIES"])}),
        (
            cfn_tighten_nacl,
            {
                ORDERS: ("breaks", ["DB_NACL_DENIES", "SM_NACL_DENIES"]),
                LEDGER: ("breaks", ["DB_NACL_DENIES", "SM_NACL_DENIES"]),
            },
        ),
        (cfn_unrelated, {}),
    ],
    ids=["endpoint", "db-ingress", "nacl", "unrelated"],
)
def test_a_change_set_names_the_secrets_it_breaks(account: Account, make: Any, expected: dict[str, Any]) -> None:
    changes = make(account)
    pages = [changes[:1], changes[1:]] if len(changes) > 1 else [changes]  # the unrelated one spans two pages
    report = run_change_set(account.o.builder.clients, pages)
    assert effects(report) == expected
    assert report.failing is bool(expected)
    assert len(report.source.changes) == len(changes)


# ----- read as scan reads, and only read ------------------------------------------------------------


def test_the_calls_do_not_grow_with_the_plan_and_none_writes(account: Account) -> None:
    clients = account.o.builder.clients
    counts = []
    for text in (delete_endpoint(account), tf.rules_and_buckets(account.o.fn_sg, 200)):
        clients.counter.calls.clear()
        run(clients, text)
        counts.append(dict(clients.counter.calls))
    assert counts[0] == counts[1]
    assert sum(counts[0].values()) <= 20, counts[0]
    writes = [op for op in counts[0] if not op.split(":", 1)[1].startswith(("Describe", "Get", "List", "BatchGet"))]
    assert writes == []


def test_no_write_call_reaches_aws(account: Account) -> None:
    """A botocore hook that refuses any operation but a read, on every client what-if makes."""
    clients = account.o.builder.clients
    refused: list[str] = []

    def only_reads(model: Any, **_: Any) -> None:
        if not model.name.startswith(("Describe", "Get", "List", "BatchGet")):
            refused.append(model.name)
            raise AssertionError(f"what-if called {model.name}")

    for service in ("ec2", "lambda", "rds", "secretsmanager", "route53", "logs", "cloudformation"):
        clients.client(service).meta.events.register("before-call.*.*", only_reads)
    try:
        report = run(clients, delete_endpoint(account))
        run_change_set(clients, [cfn_delete_db_ingress(account)])
    finally:
        for service in ("ec2", "lambda", "rds", "secretsmanager", "route53", "logs", "cloudformation"):
            clients.client(service).meta.events.unregister("before-call.*.*", only_reads)
    assert refused == [] and report.failing


# ----- what cannot be judged is unknown, never healthy ----------------------------------------------


def test_a_value_known_only_after_apply_makes_the_secrets_unknown(account: Account) -> None:
    """The function moves to a group the plan creates: its id is unknown, so both its secrets are unknown."""
    fn = {
        "function_name": "orders-db-rotation",
        "vpc_config": [
            {"subnet_ids": account.o.fn_subnets, "security_group_ids": [account.o.fn_sg], "vpc_id": account.o.net.vpc}
        ],
        "environment": [],
        "runtime": "python3.12",
    }
    moved = {**fn, "vpc_config": [{"subnet_ids": account.o.fn_subnets, "vpc_id": account.o.net.vpc}]}
    change = tf.resource_change(
        "aws_lambda_function.rotation", "aws_lambda_function", ["update"], fn, moved, unknown=()
    )
    change["change"]["after_unknown"]["vpc_config"] = [{"security_group_ids": True}]
    report = run(account.o.builder.clients, tf.plan(change))
    assert effects(report) == {ORDERS: ("unknown", []), LEDGER: ("unknown", [])}
    assert all(s.after.verdict == "unknown" and s.not_evaluated for s in report.secrets)
    assert report.failing
    assert_valid("what-if", {"schema_version": "1", **report.to_json()})


def test_an_unsupported_type_on_a_path_is_not_evaluated_and_one_off_it_is_ignored(account: Account) -> None:
    attach = {
        "subnet_ids": account.o.fn_subnets,
        "transit_gateway_id": "tgw-0123456789abcdef0",
        "vpc_id": account.o.net.vpc,
    }
    report = run(
        account.o.builder.clients,
        tf.plan(
            tf.resource_change(
                "aws_ec2_transit_gateway_vpc_attachment.hub",
                "aws_ec2_transit_gateway_vpc_attachment",
                ["create"],
                None,
                attach,
                unknown=("id",),
            ),
            tf.resource_change(
                "aws_s3_bucket.logs", "aws_s3_bucket", ["create"], None, tf.tf_s3_bucket("logs"), unknown=("id",)
            ),
        ),
    )
    assert {c.address: c.mapping for c in report.source.changes} == {
        "aws_ec2_transit_gateway_vpc_attachment.hub": Handling.NOT_EVALUATED,
        "aws_s3_bucket.logs": Handling.IGNORED,
    }
    assert effects(report) == {ORDERS: ("unknown", []), LEDGER: ("unknown", [])}


# ----- the command ---------------------------------------------------------------------------------


def test_the_command_json_markdown_and_exit_statuses(
    account: Account, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    breaking, harmless = tmp_path / "break.json", tmp_path / "harmless.json"
    breaking.write_text(delete_db_ingress(account))
    harmless.write_text(unrelated(account))
    assert cli.main(["what-if", "--terraform-plan", str(breaking), "--format", "json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["schema_version"] == "1" and out["summary"]["breaks"] == 1
    assert_valid("what-if", out)
    assert [(s["secret"]["name"], s["before"], s["after"]) for s in out["secrets"]] == [(ORDERS, "healthy", "broken")]
    assert [f["code"] for f in out["secrets"][0]["new_findings"]] == ["DB_SG_INGRESS_DENIES"]
    assert scenarios.CANARY_PASSWORD not in json.dumps(out)
    assert cli.main(["what-if", "--terraform-plan", str(breaking), "--format", "markdown"]) == 1
    md = capsys.readouterr().out
    assert scenarios.CANARY_PASSWORD not in md
    assert "| prod/orders/db | **breaks** | healthy → broken |" in md
    assert "| `DB_SG_INGRESS_DENIES` |" in md  # inline code as it is: backslash escapes do not work there
    assert cli.main(["what-if", "--terraform-plan", str(harmless)]) == 0
    assert "No Lambda-rotated secret uses anything this changes." in capsys.readouterr().out
    assert cli.main(["what-if", "--terraform-plan", str(harmless), "--stack", "orders-network"]) == 2
    assert "--stack goes with --change-set" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "cannot read"),
        ("not json", "is not JSON"),
        ('{"resources": []}', "is not the JSON of `terraform show -json PLAN`"),
        (
            '{"format_version": "1.2", "terraform_version": "1.9.5", "resource_changes": [{"address": "x"}]}',
            "cannot be read",
        ),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
    ids=["missing", "not-json", "not-a-plan", "malformed-change", "nested-too-deep"],
)
def test_a_bad_plan_is_bad_input_before_any_aws_call(
    clients: AwsClients, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, says: str
) -> None:
    path = tmp_path / "plan.json"
    if content is not None:
        path.write_text(content)
    clients.counter.calls.clear()
    assert cli.main(["what-if", "--terraform-plan", str(path), "--format", "json"]) == 2
    out = json.loads(capsys.readouterr().out)
    assert out["error"]["kind"] == "bad_input" and says in out["error"]["message"]
    assert clients.counter.total == 0


def test_a_missing_change_set_is_bad_input(account: Account) -> None:

    from rotation_doctor.collect.aws import BadInput

    clients = account.o.builder.clients
    stubber = Stubber(clients.client("cloudformation"))
    stubber.add_client_error("describe_change_set", "ChangeSetNotFound", "ChangeSet [nope] does not exist", 404)
    with stubber, pytest.raises(BadInput, match="no change set 'nope'"):
        read_change_set(clients, "nope", "orders-network")


# ----- markdown is inert -----------------------------------------------------------------------------


HOSTILE = "prod|db`rm -rf`<script>alert(1)</script>[x](http://evil)"


def test_hostile_names_render_inert_in_markdown() -> None:
    """Secrets Manager allows only /_+=.@- in names, but addresses, descriptions and summaries come from plans and
    tags: everything outside is escaped as if it could hold anything."""
    from dataclasses import replace

    from rotation_doctor.model.edits import RemoveRules
    from rotation_doctor.whatif.changes import Action, Change, Source
    from rotation_doctor.whatif.report import assess
    from tests import snapshots

    snap = snapshots.healthy()
    snap = replace(snap, secret=replace(snap.secret, name=HOSTILE))
    db_rule = snap.security_groups["sg-db"].rules
    change = Change(
        f"aws_security_group_rule.{HOSTILE}", "aws_security_group_rule", Action.DELETE, (RemoveRules("sg-db", db_rule),)
    )
    report = assess([snap], Source("terraform-plan", HOSTILE, (change,)))
    assert [s.effect for s in report.secrets] == [Effect.BREAKS]
    text = render.whatif_markdown(report)
    row = next(line for line in text.splitlines() if "breaks" in line and line.startswith("|"))
    assert row.count("|") - row.count("\\|") == 6  # the table's own five cells, no more
    name_cell = row[2 : row.index(" | **breaks**")]
    assert name_cell == render.md(HOSTILE)
    # Every character markdown or HTML would act on is escaped: in the cell, the heading and the details.
    unescaped = re.compile(r"(?<!\\)[`|\[\]()<>*_]")
    outside_table = [line for line in text.splitlines() if line.startswith(("###", "- "))]
    assert len(outside_table) == 3  # the heading, the finding, the changes that touch the secret
    for piece in (name_cell, *outside_table):
        assert unescaped.search(piece) is None, piece
    for raw in ("<script>", "</script>", "](", "[x]"):
        assert raw not in text
    assert "&lt;script&gt;" in text and "\\[x\\]\\(http\\:" in text
    assert render._md_code("DB_NO_ROUTE") == "`DB_NO_ROUTE`"
    assert render._md_code(HOSTILE) == render.md(HOSTILE)  # inline code cannot escape: never for outside text


def test_a_created_endpoint_heals_and_a_new_unused_group_changes_nothing() -> None:
    from dataclasses import replace

    from rotation_doctor.whatif.terraform import parse_plan as parse
    from tests import snapshots

    broken = replace(snapshots.healthy(), vpc_endpoints=())
    endpoint = tf.tf_endpoint("vpce-ignored", snapshots.VPC, ["app-a", "app-b"], ["sg-vpce"], REGION)
    group = {"name": "spare", "vpc_id": snapshots.VPC, "ingress": [], "egress": [], "description": "spare"}
    source = parse(
        tf.plan(
            tf.resource_change(
                "aws_vpc_endpoint.sm",
                "aws_vpc_endpoint",
                ["create"],
                None,
                endpoint,
                unknown=("id", "arn", "dns_entry"),
            ),
            tf.resource_change(
                "aws_security_group.spare", "aws_security_group", ["create"], None, group, unknown=("id", "arn")
            ),
        ),
        name="plan.json",
    )
    from rotation_doctor.whatif.report import assess

    report = assess([broken], source)
    assert [(s.effect, s.before.verdict, s.after.verdict) for s in report.secrets] == [
        (Effect.HEALS, "broken", "healthy")
    ]
    assert [f.code for f in report.secrets[0].resolved_findings] == ["SM_NO_PATH"]
    assert {c.address: c.mapping for c in source.changes}["aws_security_group.spare"] is Handling.NO_EFFECT
    assert not report.failing


# ----- each mapped type, on hand-built snapshots (pure, milliseconds) ----------------------------------


def _pure(snap: Any, *items: dict[str, Any]) -> tuple[str, list[str]]:
    from rotation_doctor.whatif.report import assess

    report = assess([snap], parse_plan(tf.plan(*items), name="plan.json"))
    assert len(report.secrets) == 1, [c.to_json() for c in report.source.changes]
    s = report.secrets[0]
    return str(s.effect), sorted({f.code for f in s.new_findings})


def _fn(**vpc: Any) -> dict[str, Any]:
    return {
        "function_name": "rotate",
        "arn": "arn:aws:lambda:us-east-1:123456789012:function:rotate",
        "vpc_config": [{"subnet_ids": ["app-a", "app-b"], "security_group_ids": ["sg-fn"], "vpc_id": "vpc-1", **vpc}],
        "environment": [{"variables": {"LOG_LEVEL": "info"}}],
    }


def _cases() -> list[tuple[str, Any, list[dict[str, Any]], tuple[str, list[str]]]]:
    from tests import snapshots as s

    rc = tf.resource_change
    no_egress = {"id": "sg-fn", "name": "fn", "vpc_id": "vpc-1", "ingress": [], "egress": []}
    all_egress = {
        **no_egress,
        "egress": [
            {
                "cidr_blocks": ["0.0.0.0/0"],
                "from_port": 0,
                "to_port": 0,
                "protocol": "-1",
                "self": False,
                "security_groups": [],
                "prefix_list_ids": [],
                "ipv6_cidr_blocks": [],
                "description": "",
            }
        ],
    }
    nat_route = {
        "route_table_id": "rtb-private",
        "destination_cidr_block": "0.0.0.0/0",
        "nat_gateway_id": "nat-1",
        "id": "r-rtb-private1080289494",
    }
    peer_routes = {
        "id": "rtb-private",
        "vpc_id": "vpc-1",
        "route": [{"cidr_block": "10.1.0.0/16", "vpc_peering_connection_id": "pcx-1"}],
    }
    permission = {
        "function_name": "rotate",
        "statement_id": "SecretsManagerAccess",
        "action": "lambda:InvokeFunction",
        "principal": "secretsmanager.amazonaws.com",
        "source_account": "123456789012",
        "source_arn": None,
        "qualifier": "",
    }
    db = {"identifier": "db", "port": 5432, "vpc_security_group_ids": ["sg-db"], "engine": "postgres"}
    vpc = {"id": "vpc-1", "cidr_block": "10.0.0.0/16", "enable_dns_support": True, "enable_dns_hostnames": True}
    nacl_rule = {
        "network_acl_id": "acl-default",
        "rule_number": 10,
        "egress": False,
        "protocol": "6",
        "rule_action": "deny",
        "cidr_block": "10.0.11.0/24",
        "from_port": 0,
        "to_port": 65535,
    }
    assoc = {"id": "rtbassoc-0a1b", "subnet_id": "app-a", "route_table_id": "rtb-private", "gateway_id": ""}
    pcx = {"id": "pcx-1", "vpc_id": "vpc-1", "peer_vpc_id": "vpc-2", "accept_status": "active", "auto_accept": True}
    back = s.peered(back=s.ROUTE_BACK)
    return [
        (
            "group-egress-removed",
            s.healthy(),
            [rc("aws_security_group.fn", "aws_security_group", ["update"], all_egress, no_egress)],
            ("breaks", ["DB_LAMBDA_EGRESS_DENIES", "SM_LAMBDA_EGRESS_DENIES"]),
        ),
        (
            "nat-route-deleted",
            s.nat_path(),
            [rc("aws_route.nat", "aws_route", ["delete"], nat_route, None)],
            ("breaks", ["SM_NO_PATH"]),
        ),
        (
            "nat-deleted",
            s.nat_path(),
            [
                rc(
                    "aws_nat_gateway.a",
                    "aws_nat_gateway",
                    ["delete"],
                    {"id": "nat-1", "subnet_id": "public-a", "connectivity_type": "public"},
                    None,
                )
            ],
            ("breaks", ["SM_ROUTE_BLACKHOLE"]),
        ),
        (
            "peering-route-removed",
            back,
            [rc("aws_route_table.private", "aws_route_table", ["update"], peer_routes, {**peer_routes, "route": []})],
            ("breaks", ["DB_NO_ROUTE"]),
        ),
        (
            "peering-deleted",
            back,
            [rc("aws_vpc_peering_connection.data", "aws_vpc_peering_connection", ["delete"], pcx, None)],
            ("breaks", ["DB_NO_ROUTE"]),
        ),
        (
            "permission-deleted",
            s.healthy(),
            [rc("aws_lambda_permission.sm", "aws_lambda_permission", ["delete"], permission, None)],
            ("breaks", ["INVOKE_PERMISSION_MISSING"]),
        ),
        (
            "permission-restored",
            replace_policy(s.healthy()),
            [rc("aws_lambda_permission.sm", "aws_lambda_permission", ["create"], None, permission, unknown=("id",))],
            ("heals", []),
        ),
        (
            "db-port-changed",
            s.healthy(),
            [rc("aws_db_instance.db", "aws_db_instance", ["update"], db, {**db, "port": 5433})],
            ("breaks", ["DB_SG_INGRESS_DENIES"]),
        ),
        (
            "vpc-dns-off",
            s.healthy(),
            [rc("aws_vpc.main", "aws_vpc", ["update"], vpc, {**vpc, "enable_dns_support": False})],
            ("breaks", ["SM_VPC_DNS_DISABLED"]),
        ),
        (  # denies one of the database's two subnets: a failover away from broken
            "nacl-rule-added",
            s.healthy(),
            [
                rc(
                    "aws_network_acl_rule.deny_data",
                    "aws_network_acl_rule",
                    ["create"],
                    None,
                    nacl_rule,
                    unknown=("id",),
                )
            ],
            ("degrades", ["DB_NACL_DENIES"]),
        ),
        (
            "subnet-to-public-table",
            s.healthy(),
            [
                rc(
                    "aws_route_table_association.a",
                    "aws_route_table_association",
                    ["update"],
                    assoc,
                    {**assoc, "route_table_id": "rtb-public"},
                )
            ],
            ("unchanged", []),
        ),
        (
            "function-leaves-vpc",
            s.healthy(),
            [rc("aws_lambda_function.rotate", "aws_lambda_function", ["update"], _fn(), {**_fn(), "vpc_config": []})],
            ("breaks", ["DB_LAMBDA_NOT_IN_VPC"]),
        ),
    ]


def replace_policy(snap: Any) -> Any:
    from dataclasses import replace

    return replace(snap, function_policy=None)


@pytest.mark.parametrize(("snap", "items", "expected"), [c[1:] for c in _cases()], ids=[c[0] for c in _cases()])
def test_each_type_maps_to_what_it_does(
    snap: Any, items: list[dict[str, Any]], expected: tuple[str, list[str]]
) -> None:
    assert _pure(snap, *items) == expected


def _cfn_cases() -> list[tuple[str, list[dict[str, Any]], tuple[str, list[str]]]]:
    ch = tf.cfn_change
    vpc_config = {"SubnetIds": ["app-a", "app-b"], "SecurityGroupIds": ["sg-fn"]}
    fn = {"FunctionName": "rotate", "Runtime": "python3.12", "VpcConfig": vpc_config}
    db = {"DBInstanceIdentifier": "db", "Port": "5432", "VPCSecurityGroups": ["sg-db"], "Engine": "postgres"}
    vpc = {"CidrBlock": "10.0.0.0/16", "EnableDnsSupport": True, "EnableDnsHostnames": True}
    unknown_groups = {**fn, "VpcConfig": {**vpc_config, "SecurityGroupIds": ["{{changeSet:KNOWN_AFTER_APPLY}}"]}}
    return [
        (
            "function-group-known-after-apply",
            [
                ch(
                    "Rotate",
                    "AWS::Lambda::Function",
                    "Modify",
                    physical="rotate",
                    before=fn,
                    after=unknown_groups,
                    replacement="False",
                )
            ],
            ("unknown", []),
        ),
        (
            "db-port",
            [
                ch(
                    "Db",
                    "AWS::RDS::DBInstance",
                    "Modify",
                    physical="db",
                    before=db,
                    after={**db, "Port": "5433"},
                    replacement="False",
                )
            ],
            ("breaks", ["DB_SG_INGRESS_DENIES"]),
        ),
        (
            "vpc-hostnames-dropped",
            [
                ch(
                    "Vpc",
                    "AWS::EC2::VPC",
                    "Modify",
                    physical="vpc-1",
                    before=vpc,
                    after={"CidrBlock": "10.0.0.0/16"},
                    replacement="False",
                )
            ],
            ("breaks", ["SM_VPC_DNS_DISABLED"]),
        ),
        ("dynamic", [ch("Db", "AWS::RDS::DBInstance", "Dynamic", physical="db", before=db, after=db)], ("unknown", [])),
        (
            "function-deleted",
            [ch("Rotate", "AWS::Lambda::Function", "Remove", physical="rotate", before=fn)],
            ("breaks", ["ROTATION_LAMBDA_MISSING"]),
        ),
    ]


@pytest.mark.parametrize(("changes", "expected"), [c[1:] for c in _cfn_cases()], ids=[c[0] for c in _cfn_cases()])
def test_each_change_set_type_maps_to_what_it_does(
    changes: list[dict[str, Any]], expected: tuple[str, list[str]]
) -> None:
    from rotation_doctor.whatif.changeset import parse_change_set
    from rotation_doctor.whatif.report import assess
    from tests import snapshots

    source = parse_change_set([tf.change_set_page("app", "cs", changes)], name="app/cs")
    report = assess([snapshots.healthy()], source)
    assert [(str(s.effect), sorted({f.code for f in s.new_findings})) for s in report.secrets] == [expected]


def test_an_endpoint_added_where_dns_was_not_read_is_unknown() -> None:
    """The account read reads DNS attributes only where a private-DNS endpoint is: a new one elsewhere cannot be
    judged healthy (nor broken) on DNS nobody read."""
    from dataclasses import replace

    from rotation_doctor.whatif.report import assess
    from tests import snapshots

    unread = replace(snapshots.healthy(), vpc_endpoints=(), dns_attributes={})
    endpoint = tf.tf_endpoint("vpce-ignored", snapshots.VPC, ["app-a", "app-b"], ["sg-vpce"], REGION)
    item = tf.resource_change("aws_vpc_endpoint.sm", "aws_vpc_endpoint", ["create"], None, endpoint, unknown=("id",))
    report = assess([unread], parse_plan(tf.plan(item), name="plan.json"))
    [s] = report.secrets
    assert (s.effect, s.after.verdict) == (Effect.UNKNOWN, "unknown")
    assert s.not_evaluated == ("the DNS attributes of vpc-1: not read with the account (the change newly uses it)",)


# ----- IPv6: the dual-stack function (tests/test_ipv6.py) reaches Secrets Manager over ::/0 → eigw-1 ----------


def _dual_stack() -> Any:
    from tests.snapshots import dual_stack

    return dual_stack()


V6_ROUTE = {
    "id": "r-rtb-private1080289494",
    "route_table_id": "rtb-private",
    "destination_cidr_block": "",
    "destination_ipv6_cidr_block": "::/0",
    "destination_prefix_list_id": "",
    "egress_only_gateway_id": "eigw-1",
    "gateway_id": "",
    "nat_gateway_id": "",
}
FN_GROUP = {
    "id": "sg-fn",
    "vpc_id": "vpc-1",
    "name": "fn",
    "description": "fn",
    "ingress": [],
    "egress": [
        {
            "protocol": "-1",
            "from_port": 0,
            "to_port": 0,
            "cidr_blocks": cidrs,
            "ipv6_cidr_blocks": v6,
            "security_groups": [],
            "prefix_list_ids": [],
            "self": False,
            "description": "",
        }
        for cidrs, v6 in ((["0.0.0.0/0"], []), ([], ["::/0"]))
    ],
    "tags": {},
}
V6_EGRESS_RULE = {
    "id": "sgrule-1",
    "security_group_id": "sg-fn",
    "type": "egress",
    "protocol": "-1",
    "from_port": 0,
    "to_port": 0,
    "cidr_blocks": [],
    "ipv6_cidr_blocks": ["::/0"],
    "prefix_list_ids": [],
    "self": False,
    "source_security_group_id": None,
}
V6_EGRESS_VPC_RULE = {
    "id": "sgr-0a1b2c3d4e5f60718",
    "security_group_id": "sg-fn",
    "ip_protocol": "-1",
    "cidr_ipv4": None,
    "cidr_ipv6": "::/0",
    "prefix_list_id": None,
    "referenced_security_group_id": None,
}
PRIVATE_TABLE = {
    "id": "rtb-private",
    "vpc_id": "vpc-1",
    "route": [
        {"cidr_block": "0.0.0.0/0", "ipv6_cidr_block": "", "nat_gateway_id": "nat-1", "egress_only_gateway_id": ""},
        {"cidr_block": "", "ipv6_cidr_block": "::/0", "nat_gateway_id": "", "egress_only_gateway_id": "eigw-1"},
    ],
    "tags": {},
}
V6_NACL_RULE = {
    "id": "nacl-entry-1",
    "network_acl_id": "acl-default",
    "rule_number": 101,
    "egress": True,
    "protocol": "-1",
    "rule_action": "allow",
    "cidr_block": "",
    "ipv6_cidr_block": "::/0",
    "from_port": 0,
    "to_port": 0,
}


def _ipv6_cases() -> list[tuple[str, list[dict[str, Any]], tuple[str, list[str]]]]:
    rc = tf.resource_change
    v6_only_table = {**PRIVATE_TABLE, "route": PRIVATE_TABLE["route"][:1]}
    return [
        (
            "v6-default-route-deleted",
            [rc("aws_route.v6", "aws_route", ["delete"], V6_ROUTE, None)],
            ("breaks", ["SM_IPV6_NO_ROUTE"]),
        ),
        (
            "v6-default-route-to-a-nat",  # NAT64 needs DNS64, which the model does not judge: unknown, never healthy
            [
                rc(
                    "aws_route.v6",
                    "aws_route",
                    ["update"],
                    V6_ROUTE,
                    {**V6_ROUTE, "egress_only_gateway_id": "", "nat_gateway_id": "nat-1"},
                )
            ],
            ("unknown", ["SM_PATH_NOT_EVALUATED"]),
        ),
        (
            "group-tags-only",
            [
                rc(
                    "aws_security_group.fn",
                    "aws_security_group",
                    ["update"],
                    FN_GROUP,
                    {**FN_GROUP, "tags": {"team": "x"}},
                )
            ],
            ("unchanged", []),
        ),
        (
            "group-v6-egress-dropped",
            [
                rc(
                    "aws_security_group.fn",
                    "aws_security_group",
                    ["update"],
                    FN_GROUP,
                    {**FN_GROUP, "egress": FN_GROUP["egress"][:1]},
                )
            ],
            ("breaks", ["SM_LAMBDA_EGRESS_DENIES"]),
        ),
        (
            "v6-egress-rule-deleted",
            [rc("aws_security_group_rule.v6", "aws_security_group_rule", ["delete"], V6_EGRESS_RULE, None)],
            ("breaks", ["SM_LAMBDA_EGRESS_DENIES"]),
        ),
        (
            "v6-vpc-egress-rule-deleted",
            [
                rc(
                    "aws_vpc_security_group_egress_rule.v6",
                    "aws_vpc_security_group_egress_rule",
                    ["delete"],
                    V6_EGRESS_VPC_RULE,
                    None,
                )
            ],
            ("breaks", ["SM_LAMBDA_EGRESS_DENIES"]),
        ),
        (
            "table-tags-only",
            [
                rc(
                    "aws_route_table.private",
                    "aws_route_table",
                    ["update"],
                    PRIVATE_TABLE,
                    {**PRIVATE_TABLE, "tags": {"a": "b"}},
                )
            ],
            ("unchanged", []),
        ),
        (
            "table-v6-route-dropped",
            [rc("aws_route_table.private", "aws_route_table", ["update"], PRIVATE_TABLE, v6_only_table)],
            ("breaks", ["SM_IPV6_NO_ROUTE"]),
        ),
        (
            "v6-acl-entry-denies",
            [
                rc(
                    "aws_network_acl_rule.v6",
                    "aws_network_acl_rule",
                    ["update"],
                    V6_NACL_RULE,
                    {**V6_NACL_RULE, "rule_action": "deny"},
                )
            ],
            ("breaks", ["SM_NACL_DENIES"]),
        ),
        (
            "v6-acl-entry-kept",  # renumbered, still allowing: the IPv6 entry is read, not dropped
            [
                rc(
                    "aws_network_acl_rule.v6",
                    "aws_network_acl_rule",
                    ["delete", "create"],
                    V6_NACL_RULE,
                    {**V6_NACL_RULE, "rule_number": 102},
                )
            ],
            ("unchanged", []),
        ),
    ]


@pytest.mark.parametrize(("items", "expected"), [c[1:] for c in _ipv6_cases()], ids=[c[0] for c in _ipv6_cases()])
def test_ipv6_changes_map_to_what_they_do(items: list[dict[str, Any]], expected: tuple[str, list[str]]) -> None:
    assert _pure(_dual_stack(), *items) == expected


def test_a_route_to_a_prefix_list_the_account_read_did_not_hold_is_unknown_naming_the_list() -> None:
    """The route is mapped (a prefix-list route of its own), but only the list's entries, never read, can say which
    addresses it takes: the secret is unknown, naming the list, never healthy and never "no route"."""
    route = {**V6_ROUTE, "destination_ipv6_cidr_block": "", "destination_prefix_list_id": "pl-0a1b2c3d4e5f60718"}
    items = [
        tf.resource_change("aws_route.pl", "aws_route", ["create"], None, {**route, "route_table_id": "rtb-private"})
    ]
    source = parse_plan(tf.plan(*items), name="plan.json")
    assert [c.mapping for c in source.changes] == [Handling.MAPPED]
    assert _pure(_dual_stack(), *items) == ("unknown", ["DB_PATH_NOT_EVALUATED"])
    from rotation_doctor.whatif.report import assess

    [secret] = assess([_dual_stack()], source).secrets
    assert {tuple(f.evidence["prefix_lists"]) for f in secret.new_findings} == {("pl-0a1b2c3d4e5f60718",)}


def _cfn_ipv6_cases() -> list[tuple[str, list[dict[str, Any]], tuple[str, list[str]]]]:
    ch = tf.cfn_change
    route = {"RouteTableId": "rtb-private", "DestinationIpv6CidrBlock": "::/0", "EgressOnlyInternetGatewayId": "eigw-1"}
    egress = {"GroupId": "sg-fn", "IpProtocol": "-1", "CidrIpv6": "::/0"}
    entry = {
        "NetworkAclId": "acl-default",
        "RuleNumber": 101,
        "Protocol": -1,
        "RuleAction": "allow",
        "Egress": True,
        "Ipv6CidrBlock": "::/0",
    }
    return [
        (
            "v6-route-removed",
            [ch("V6Route", "AWS::EC2::Route", "Remove", physical="rtb-private|::/0", before=route)],
            ("breaks", ["SM_IPV6_NO_ROUTE"]),
        ),
        (
            "v6-egress-removed",
            [ch("V6Egress", "AWS::EC2::SecurityGroupEgress", "Remove", physical="sgr-1", before=egress)],
            ("breaks", ["SM_LAMBDA_EGRESS_DENIES"]),
        ),
        (
            "v6-acl-entry-denies",
            [
                ch(
                    "V6Entry",
                    "AWS::EC2::NetworkAclEntry",
                    "Modify",
                    physical="acl-default|101",
                    before=entry,
                    after={**entry, "RuleAction": "deny"},
                    replacement="False",
                )
            ],
            ("breaks", ["SM_NACL_DENIES"]),
        ),
        (
            "v6-egress-retagged",  # the rule is removed and put back as it was: nothing changes
            [
                ch(
                    "V6Egress",
                    "AWS::EC2::SecurityGroupEgress",
                    "Modify",
                    physical="sgr-1",
                    before=egress,
                    after={**egress, "Description": "v6"},
                    replacement="False",
                )
            ],
            ("unchanged", []),
        ),
        (
            "v6-acl-entry-kept",
            [
                ch(
                    "V6Entry",
                    "AWS::EC2::NetworkAclEntry",
                    "Modify",
                    physical="acl-default|101",
                    before=entry,
                    after={**entry, "RuleNumber": 102},
                    replacement="True",
                )
            ],
            ("unchanged", []),
        ),
    ]


@pytest.mark.parametrize(
    ("changes", "expected"), [c[1:] for c in _cfn_ipv6_cases()], ids=[c[0] for c in _cfn_ipv6_cases()]
)
def test_ipv6_change_set_changes_map_to_what_they_do(
    changes: list[dict[str, Any]], expected: tuple[str, list[str]]
) -> None:
    from rotation_doctor.whatif.changeset import parse_change_set
    from rotation_doctor.whatif.report import assess

    source = parse_change_set([tf.change_set_page("app", "cs", changes)], name="app/cs")
    report = assess([_dual_stack()], source)
    assert [(str(s.effect), sorted({f.code for f in s.new_findings})) for s in report.secrets] == [expected]


@pytest.mark.parametrize("kind", ["terraform", "change-set"])
def test_deleting_the_egress_only_gateway_blackholes_its_routes(kind: str) -> None:
    """AWS keeps routes to a deleted gateway as blackholes: the dual-stack function loses its only path."""
    from rotation_doctor.analysis.diagnosis import diagnose
    from rotation_doctor.whatif.changes import apply_changes
    from rotation_doctor.whatif.changeset import parse_change_set
    from rotation_doctor.whatif.report import assess

    if kind == "terraform":
        gateway = {"id": "eigw-1", "vpc_id": "vpc-1", "tags": {}}
        item = tf.resource_change(
            "aws_egress_only_internet_gateway.v6", "aws_egress_only_internet_gateway", ["delete"], gateway, None
        )
        source = parse_plan(tf.plan(item), name="plan.json")
    else:
        change = tf.cfn_change(
            "V6Gw", "AWS::EC2::EgressOnlyInternetGateway", "Remove", physical="eigw-1", before={"VpcId": "vpc-1"}
        )
        source = parse_change_set([tf.change_set_page("app", "cs", [change])], name="app/cs")
    [change] = source.changes
    assert change.mapping is Handling.MAPPED and "eigw-1" in change.touches()
    after = apply_changes(_dual_stack(), source.changes)
    table = next(t for t in after.route_tables if t.id == "rtb-private")
    assert [(r.destination, r.state) for r in table.ipv6_routes if r.target == "eigw-1"] == [("::/0", "blackhole")]
    d = diagnose(after)
    assert str(d.verdict) == "broken" and {f.code for f in d.findings} & {"SM_IPV6_NO_ROUTE", "SM_ROUTE_BLACKHOLE"}
    [secret] = assess([_dual_stack()], source).secrets
    assert secret.effect is Effect.BREAKS and secret.changes == (change.address,)


def test_a_change_set_context_nested_too_deeply_is_a_bad_plan() -> None:
    from rotation_doctor.whatif.changes import BadPlan
    from rotation_doctor.whatif.changeset import parse_change_set

    change = tf.cfn_change("Deep", "AWS::EC2::SecurityGroup", "Add")
    change["ResourceChange"]["AfterContext"] = '{"Properties": ' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(BadPlan, match="Deep cannot be read"):
        parse_change_set([tf.change_set_page("app", "cs", [change])], name="app/cs")


@pytest.mark.parametrize(
    ("text", "linked"),
    [
        ("@org/team", re.compile(r"@[A-Za-z0-9]")),
        ("aws_route.x #123", re.compile(r"#\d")),
        ("a@b.c", re.compile(r"@[A-Za-z0-9]")),
    ],
)
def test_mentions_and_issue_references_do_not_link_in_markdown(text: str, linked: re.Pattern[str]) -> None:
    """GitHub turns `@name` into a mention and `#123` into a link in rendered text, backslash or not."""
    rendered = render.md(text)
    assert linked.search(rendered) is None, rendered
    assert rendered.replace("\u200d", "").replace("\\", "") == text  # reads the same: the joiner is invisible


# ----- managed prefix lists and transit gateways: mapped onto the snapshot's own facts -----------------------
# (which secrets a change reaches is analysis.usage's part; here: what the change does to the facts)


def _db_by_list() -> Any:
    from tests.snapshots import DB_LIST, _db_reached_by_list

    return _db_reached_by_list(prefix_lists={"pl-data": DB_LIST})


def _through_tgw() -> Any:
    from tests.snapshots import through_tgw

    return through_tgw()


PL = {"id": "pl-data", "name": "data", "address_family": "IPv4", "max_entries": 5}
PL_ENTRIES = [{"cidr": "10.0.11.0/24", "description": ""}, {"cidr": "10.0.12.0/24", "description": ""}]
TGW_ASSOCIATION = {
    "id": "tgw-rtb-1_tgw-attach-1",
    "transit_gateway_attachment_id": "tgw-attach-1",
    "transit_gateway_route_table_id": "tgw-rtb-1",
}
TGW_ATTACHMENT = {
    "id": "tgw-attach-2",
    "transit_gateway_id": "tgw-1",
    "vpc_id": "vpc-2",
    "subnet_ids": ["db-a", "db-b"],
    "appliance_mode_support": "disable",
    "transit_gateway_default_route_table_association": True,
    "transit_gateway_default_route_table_propagation": True,
}


def _facts_cases() -> list[tuple[str, Any, str, list[dict[str, Any]], tuple[str, str]]]:
    rc, ch = tf.resource_change, tf.cfn_change
    blackhole = {
        "destination_cidr_block": "10.1.0.0/16",
        "transit_gateway_route_table_id": "tgw-rtb-1",
        "transit_gateway_attachment_id": "",
        "blackhole": True,
    }
    return [
        (
            "pl-entries-narrowed",
            _db_by_list,
            "tf",
            [
                rc(
                    "aws_ec2_managed_prefix_list.data",
                    "aws_ec2_managed_prefix_list",
                    ["update"],
                    {**PL, "entry": PL_ENTRIES},
                    {**PL, "entry": PL_ENTRIES[:1]},
                )
            ],
            ("degraded", "DB_LAMBDA_EGRESS_DENIES"),
        ),
        (
            "pl-entry-deleted",
            _db_by_list,
            "tf",
            [
                rc(
                    "aws_ec2_managed_prefix_list_entry.b",
                    "aws_ec2_managed_prefix_list_entry",
                    ["delete"],
                    {"id": "pl-data,10.0.12.0/24", "prefix_list_id": "pl-data", "cidr": "10.0.12.0/24"},
                    None,
                )
            ],
            ("degraded", "DB_LAMBDA_EGRESS_DENIES"),
        ),
        (
            "pl-entries-narrowed",
            _db_by_list,
            "cfn",
            [
                ch(
                    "Data",
                    "AWS::EC2::PrefixList",
                    "Modify",
                    physical="pl-data",
                    before={"PrefixListName": "data", "Entries": [{"Cidr": "10.0.11.0/24"}, {"Cidr": "10.0.12.0/24"}]},
                    after={"PrefixListName": "data", "Entries": [{"Cidr": "10.0.11.0/24"}]},
                    replacement="False",
                )
            ],
            ("degraded", "DB_LAMBDA_EGRESS_DENIES"),
        ),
        (
            "tgw-static-blackhole",  # a static route beats the propagated one to the database's VPC
            _through_tgw,
            "tf",
            [rc("aws_ec2_transit_gateway_route.db", "aws_ec2_transit_gateway_route", ["create"], None, blackhole)],
            ("broken", "DB_TGW_BLACKHOLE"),
        ),
        (
            "tgw-static-blackhole",
            _through_tgw,
            "cfn",
            [
                ch(
                    "Db",
                    "AWS::EC2::TransitGatewayRoute",
                    "Add",
                    after={
                        "DestinationCidrBlock": "10.1.0.0/16",
                        "TransitGatewayRouteTableId": "tgw-rtb-1",
                        "Blackhole": True,
                    },
                )
            ],
            ("broken", "DB_TGW_BLACKHOLE"),
        ),
        (
            "tgw-association-removed",
            _through_tgw,
            "tf",
            [
                rc(
                    "aws_ec2_transit_gateway_route_table_association.app",
                    "aws_ec2_transit_gateway_route_table_association",
                    ["delete"],
                    TGW_ASSOCIATION,
                    None,
                )
            ],
            ("broken", "DB_TGW_ROUTE_MISSING"),
        ),
        (
            "tgw-association-removed",
            _through_tgw,
            "cfn",
            [
                ch(
                    "AppAssociation",
                    "AWS::EC2::TransitGatewayRouteTableAssociation",
                    "Remove",
                    physical="tgw-rtb-1_tgw-attach-1",
                    before={"TransitGatewayAttachmentId": "tgw-attach-1", "TransitGatewayRouteTableId": "tgw-rtb-1"},
                )
            ],
            ("broken", "DB_TGW_ROUTE_MISSING"),
        ),
        (
            "tgw-attachment-deleted",
            _through_tgw,
            "tf",
            [
                rc(
                    "aws_ec2_transit_gateway_vpc_attachment.db",
                    "aws_ec2_transit_gateway_vpc_attachment",
                    ["delete"],
                    TGW_ATTACHMENT,
                    None,
                )
            ],
            ("broken", "DB_TGW_NOT_ATTACHED"),
        ),
        (
            "tgw-attachment-loses-a-zone",
            _through_tgw,
            "cfn",
            [
                ch(
                    "DbAttachment",
                    "AWS::EC2::TransitGatewayVpcAttachment",
                    "Modify",
                    physical="tgw-attach-2",
                    before={"TransitGatewayId": "tgw-1", "VpcId": "vpc-2", "SubnetIds": ["db-a", "db-b"]},
                    after={"TransitGatewayId": "tgw-1", "VpcId": "vpc-2", "SubnetIds": ["db-a"]},
                    replacement="False",
                )
            ],
            ("degraded", "DB_TGW_NOT_ATTACHED"),
        ),
    ]


@pytest.mark.parametrize(
    ("snap", "kind", "items", "expected"),
    [c[1:] for c in _facts_cases()],
    ids=[f"{c[2]}-{c[0]}" for c in _facts_cases()],
)
def test_prefix_list_and_transit_gateway_changes_act_on_the_facts(
    snap: Any, kind: str, items: list[dict[str, Any]], expected: tuple[str, str]
) -> None:
    from rotation_doctor.analysis.diagnosis import diagnose
    from rotation_doctor.whatif.changes import apply_changes
    from rotation_doctor.whatif.changeset import parse_change_set
    from rotation_doctor.whatif.report import assess

    before = snap()
    assert str(diagnose(before).verdict) == "healthy"
    if kind == "tf":
        source = parse_plan(tf.plan(*items), name="plan.json")
    else:
        source = parse_change_set([tf.change_set_page("app", "cs", items)], name="app/cs")
    assert [c.mapping for c in source.changes] == [Handling.MAPPED]
    d = diagnose(apply_changes(before, source.changes))
    assert (str(d.verdict), expected[1] in {f.code for f in d.findings}) == (expected[0], True), [
        f.code for f in d.findings
    ]
    # and the secret is named, though its paths' ids (resources_used) need not list the table, attachment or list
    report = assess([before], source)
    assert [str(s.effect) for s in report.secrets] == [{"broken": "breaks", "degraded": "degrades"}[expected[0]]]


@pytest.mark.parametrize(
    ("kind", "values"),
    [
        (
            "aws_db_proxy_target",
            {"db_proxy_name": "orders", "target_group_name": "default", "db_instance_identifier": "db"},
        ),
        ("aws_db_proxy", {"name": "orders", "vpc_security_group_ids": ["sg-proxy"], "vpc_subnet_ids": ["data-a"]}),
        ("aws_ec2_transit_gateway_vpc_attachment", {**TGW_ATTACHMENT, "id": None}),  # may propagate routes
    ],
)
def test_proxy_and_new_attachment_changes_are_not_evaluated_never_no_effect(kind: str, values: dict[str, Any]) -> None:
    source = parse_plan(tf.plan(tf.resource_change(f"{kind}.x", kind, ["create"], None, values)), name="plan.json")
    [change] = source.changes
    assert change.mapping is Handling.NOT_EVALUATED and change.touches()


def test_a_removal_that_does_not_say_what_it_removes_is_not_evaluated_never_no_effect() -> None:
    """A hand-edited or hostile plan whose delete leaves out the route's table: not a silent "no effect" on a table
    named "None", but a change that cannot be judged (every secret unknown, exit 1)."""
    from rotation_doctor.whatif.report import assess
    from tests import snapshots

    before = {"destination_cidr_block": "0.0.0.0/0", "nat_gateway_id": "nat-1"}  # no route_table_id
    item = tf.resource_change("aws_route.default", "aws_route", ["delete"], before, None)
    report = assess([snapshots.nat_path()], parse_plan(tf.plan(item), name="plan.json"))
    [change] = report.source.changes
    assert change.mapping is Handling.NOT_EVALUATED
    assert "does not say what its route_table_id was" in change.note
    assert report.failing

"""Security Hub findings: created, updated and archived through moto; the limits and refusals with the Stubber;
the worker's permission held to what the code calls."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from rotation_doctor.analysis import Diagnosis
from rotation_doctor.apply.iam_policy import security_hub_statement
from rotation_doctor.collect.aws import AwsClients
from rotation_doctor.model.findings import Code, Finding, Severity, Verdict
from rotation_doctor.notify import security_hub as hub
from rotation_doctor.notify.security_hub import Diagnosed, SecurityHubFindings
from tests.iam_authorization import Authorization, allowed, sample_arn
from tests.iam_templates import worker_statements

ACCOUNT = "123456789012"
REGION = "us-east-1"
ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:prod/orders/db-AbCdEf"
PRODUCT = f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"


def diagnosis(*codes: str, arn: str = ARN, name: str = "prod/orders/db") -> Diagnosis:
    findings = tuple(Finding(Code(code), Severity.ERROR, f"{code} found for <{name}>", (arn,)) for code in codes)
    return Diagnosis(arn, name, Verdict.BROKEN if codes else Verdict.HEALTHY, findings)


def active(clients: AwsClients) -> dict[str, dict[str, Any]]:
    return {f["Id"]: f for f in clients.client("securityhub").get_findings()["Findings"]}  # type: ignore[attr-defined]


def test_findings_are_created_updated_and_archived(builder: Any) -> None:
    clients = builder.clients
    clients.client("securityhub").enable_security_hub()  # type: ignore[attr-defined]
    ticks = iter([1_800_000_000.0, 1_800_000_600.0, 1_800_001_200.0])
    sync = SecurityHubFindings(clients, clock=lambda: next(ticks))

    created = sync.sync([Diagnosed(diagnosis("SM_NO_PATH", "DB_SG_INGRESS_DENIES"), "p-0123")])
    assert (created.imported, created.archived, created.ok) == (2, 0, True)
    first = active(clients)
    sm = first[f"rotation-doctor/{ARN}/SM_NO_PATH"]
    assert sm["ProductArn"] == PRODUCT and sm["AwsAccountId"] == ACCOUNT and sm["SchemaVersion"] == "2018-10-08"
    assert sm["GeneratorId"] == "rotation-doctor/SM_NO_PATH" and sm["RecordState"] == "ACTIVE"
    assert sm["Resources"] == [
        {
            "Type": "AwsSecretsManagerSecret",
            "Id": ARN,
            "Partition": "aws",
            "Region": REGION,
            "Details": {"AwsSecretsManagerSecret": {"Name": "prod/orders/db"}},
        }
    ]
    assert sm["Severity"]["Label"] == "HIGH"
    assert sm["Remediation"]["Recommendation"]["Text"].startswith("Create a Secrets Manager interface endpoint")
    assert sm["ProductFields"]["rotation-doctor/ProposalId"] == "p-0123"
    assert sm["CreatedAt"] == sm["UpdatedAt"] == "2027-01-15T08:00:00.000Z"

    # The diagnosis changes: one code is gone, the other is still there (updated, its CreatedAt kept).
    updated = sync.sync([Diagnosed(diagnosis("SM_NO_PATH"))])
    assert (updated.imported, updated.archived) == (1, 1)
    second = active(clients)
    sm = second[f"rotation-doctor/{ARN}/SM_NO_PATH"]
    assert sm["CreatedAt"] == "2027-01-15T08:00:00.000Z" and sm["UpdatedAt"] == "2027-01-15T08:10:00.000Z"
    db = second[f"rotation-doctor/{ARN}/DB_SG_INGRESS_DENIES"]
    assert db["RecordState"] == "ARCHIVED" and db["Compliance"]["Status"] == "PASSED"
    assert db["ProductFields"]["rotation-doctor/Resolved"] == "DB_SG_INGRESS_DENIES is no longer found"
    assert "Workflow" not in db  # the customers' own: a provider cannot change it after creation

    # Healthy again: every open finding is archived, none imported.
    healthy = sync.sync([Diagnosed(diagnosis())])
    assert (healthy.imported, healthy.archived) == (0, 1)
    assert {f["RecordState"] for f in active(clients).values()} == {"ARCHIVED"}


def test_a_failed_read_leaves_the_secret_as_it_was(builder: Any) -> None:
    clients = builder.clients
    securityhub = clients.client("securityhub")
    securityhub.enable_security_hub()  # type: ignore[attr-defined]
    SecurityHubFindings(clients).sync([Diagnosed(diagnosis("SM_NO_PATH"))])

    def refuse(**_: Any) -> None:
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetFindings")

    securityhub.meta.events.register("before-call.securityhub.GetFindings", refuse)
    try:
        report = SecurityHubFindings(clients).sync([Diagnosed(diagnosis())])
        _, read = SecurityHubFindings(clients).open_findings([ARN])
    finally:
        securityhub.meta.events.unregister("before-call.securityhub.GetFindings", refuse)
    assert (report.imported, report.archived) == (0, 0)
    [failure] = report.read_failures
    assert (failure.operation, failure.error_code) == ("securityhub:GetFindings", "AccessDeniedException")
    assert read.read_failures and "read(s) failed" in report.summary()
    assert {f["RecordState"] for f in active(clients).values()} == {"ACTIVE"}  # not archived on a guess


def test_a_code_on_a_path_not_judged_stays_open(builder: Any) -> None:
    clients = builder.clients
    clients.client("securityhub").enable_security_hub()  # type: ignore[attr-defined]
    sync = SecurityHubFindings(clients)
    sync.sync([Diagnosed(diagnosis("DB_SG_INGRESS_DENIES"))])
    unjudged = Diagnosis(
        ARN,
        "prod/orders/db",
        Verdict.UNKNOWN,
        (Finding(Code.AWS_READ_FAILED, Severity.WARNING, "ec2:DescribeSecurityGroups failed"),),
    )
    report = sync.sync([Diagnosed(unjudged)])
    assert report.archived == 0
    assert active(clients)[f"rotation-doctor/{ARN}/DB_SG_INGRESS_DENIES"]["RecordState"] == "ACTIVE"


# ----- limits and refusals (botocore's Stubber, with the API's response shapes) ------------------------------------


def stubbed() -> tuple[SecurityHubFindings, Stubber]:
    session = boto3.session.Session(region_name=REGION)
    clients = AwsClients(session, region=REGION)
    stubber = Stubber(clients.client("securityhub"))
    return SecurityHubFindings(clients, clock=lambda: 1_800_000_000.0), stubber


def test_more_than_a_hundred_findings_are_imported_in_calls_of_at_most_a_hundred() -> None:
    sync, stubber = stubbed()
    arns = [f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:app-{i:03d}-AbCdEf" for i in range(70)]
    # 70 secrets: four reads of at most 20 secrets each (Security Hub's limit on a filter's values), none open.
    for start in range(0, 70, 20):
        part = arns[start : start + 20]
        stubber.add_response(
            "get_findings",
            {"Findings": []},
            {
                "Filters": {
                    "ProductArn": [{"Value": PRODUCT, "Comparison": "EQUALS"}],
                    "GeneratorId": [{"Value": "rotation-doctor/", "Comparison": "PREFIX"}],
                    "ResourceId": [{"Value": a, "Comparison": "EQUALS"} for a in part],
                    "RecordState": [{"Value": "ACTIVE", "Comparison": "EQUALS"}],
                },
                "MaxResults": 100,
            },
        )
    sizes: list[int] = []
    for count in (100, 40):
        stubber.add_response(
            "batch_import_findings",
            {
                "FailedCount": 1 if count == 40 else 0,
                "SuccessCount": count - (1 if count == 40 else 0),
                "FailedFindings": (
                    [{"Id": "rotation-doctor/x/SM_NO_PATH", "ErrorCode": "InvalidInput", "ErrorMessage": "bad"}]
                    if count == 40
                    else []
                ),
            },
        )
    stubber.client.meta.events.register(  # type: ignore[attr-defined]
        "provide-client-params.securityhub.BatchImportFindings",
        lambda params, **_: sizes.append(len(params["Findings"])),
    )
    with stubber:
        report = sync.sync([Diagnosed(diagnosis("SM_NO_PATH", "DB_SG_INGRESS_DENIES", arn=a)) for a in arns])
        stubber.assert_no_pending_responses()
    assert sizes == [100, 40]
    assert (report.imported, report.archived) == (139, 0)
    assert [(r.id, r.error_code, r.message) for r in report.refused] == [
        ("rotation-doctor/x/SM_NO_PATH", "InvalidInput", "bad")
    ]
    assert not report.ok and "1 refused (first: rotation-doctor/x/SM_NO_PATH: InvalidInput: bad)" in report.summary()


def test_a_call_is_kept_within_240_kb() -> None:
    big = hub.build_finding(diagnosis("SM_NO_PATH"), Code.SM_NO_PATH, [], now="2027-01-15T08:00:00.000Z")
    big["Description"] = "x" * 1024
    big["ProductFields"] = {f"rotation-doctor/F{i}": "y" * 2048 for i in range(45)}
    one = len(json.dumps(big).encode())
    batches = list(hub.import_batches([big] * 5))
    assert one * 5 > hub.MAX_IMPORT_BYTES and len(batches) > 1
    assert all(len(json.dumps({"Findings": b}).encode()) <= hub.MAX_IMPORT_BYTES for b in batches)
    assert sum(len(b) for b in batches) == 5


def test_a_failed_import_call_is_reported_finding_by_finding() -> None:
    sync, stubber = stubbed()
    stubber.add_response("get_findings", {"Findings": []})
    stubber.add_client_error("batch_import_findings", "InvalidAccessException", "Security Hub is not enabled")
    with stubber:
        report = sync.sync([Diagnosed(diagnosis("SM_NO_PATH", "DB_SG_INGRESS_DENIES"))])
    assert report.imported == 0
    assert [(r.id.rsplit("/", 1)[1], r.error_code) for r in report.refused] == [
        ("DB_SG_INGRESS_DENIES", "InvalidAccessException"),
        ("SM_NO_PATH", "InvalidAccessException"),
    ]


def test_the_finding_is_within_asff_limits_whatever_the_secret_says() -> None:
    name = "n" * 600 + "<script>"
    arn = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-AbCdEf"
    found = hub.build_finding(diagnosis("SM_NO_PATH", arn=arn, name=name), Code.SM_NO_PATH, [], now="t")
    assert len(found["Id"]) <= hub.MAX_ID and found["Id"].endswith("/SM_NO_PATH")
    assert found["Id"] == hub.finding_id(arn, "SM_NO_PATH")  # stable: the same secret and code, the same finding
    assert len(found["Title"]) <= hub.MAX_TITLE and len(found["Description"]) <= hub.MAX_DESCRIPTION
    assert len(found["Remediation"]["Recommendation"]["Text"]) <= hub.MAX_RECOMMENDATION
    assert all(len(k) <= 128 and len(v) <= hub.MAX_FIELD_VALUE for k, v in found["ProductFields"].items())


def test_a_member_accounts_secret_is_imported_in_its_own_account_and_region() -> None:
    member = "arn:aws:secretsmanager:eu-west-1:210987654321:secret:db-AbCdEf"
    found = hub.build_finding(diagnosis("SM_NO_PATH", arn=member), Code.SM_NO_PATH, [], now="t")
    # The default product takes a finding only from the account it names: the member's, in the secret's region.
    assert found["AwsAccountId"] == "210987654321"
    assert found["ProductArn"] == "arn:aws:securityhub:eu-west-1:210987654321:product/210987654321/default"


# ----- the permission ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class On(Authorization):
    """An authorization on the exact resource the code names (the account's own default product and hub)."""

    resource: str = ""

    @property
    def arn(self) -> str:
        return self.resource


@pytest.mark.parametrize(
    "action,resource_type,resource",
    [
        ("securityhub:BatchImportFindings", "product", PRODUCT),
        ("securityhub:GetFindings", "hub", f"arn:aws:securityhub:{REGION}:{ACCOUNT}:hub/default"),
    ],
)
def test_the_worker_may_import_and_read_findings_only_when_the_deployer_turns_them_on(
    action: str, resource_type: str, resource: str
) -> None:
    needed = On(action, resource_type, {}, resource)
    assert sample_arn("securityhub", resource_type).split(":")[5].split("/")[0] == resource.split(":")[5].split("/")[0]
    assert not allowed(worker_statements({}), needed)[0]
    assert allowed(worker_statements({"SecurityHubFindings": "Enabled"}), needed)[0]


def test_the_templates_statement_is_the_declared_one() -> None:
    granted = [s for s in worker_statements({"SecurityHubFindings": "Enabled"}) if s["Sid"] == "SecurityHubFindings"]
    declared = security_hub_statement(partition="aws", region=REGION, account=ACCOUNT)
    assert [(sorted(s["Action"]), sorted(s["Resource"])) for s in granted] == [
        (sorted(declared["Action"]), sorted(declared["Resource"]))
    ]


# ----- the CLI ---------------------------------------------------------------------------------------------------


def test_scan_with_security_hub_imports_and_says_so_on_stderr(builder: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from rotation_doctor.cli import main as cli
    from rotation_doctor.simulated import scenarios

    builder.clients.client("securityhub").enable_security_hub()  # type: ignore[attr-defined]
    o = scenarios.orders(builder)  # broken twice: no way to Secrets Manager, the database closed
    code = cli.main(["scan", "--security-hub", "--format", "json", "--region", REGION])
    out, err = capsys.readouterr()
    assert code == 1 and [d["secret"]["arn"] for d in json.loads(out)] == [o.secret_arn]
    assert "Security Hub: 2 finding(s) imported, 0 archived" in err
    assert {f["Resources"][0]["Id"] for f in active(builder.clients).values()} == {o.secret_arn}

    code = cli.main(["diagnose", o.secret_arn, "--format", "json"])  # without the flag: Security Hub untouched
    assert "Security Hub" not in capsys.readouterr().err


def test_permissions_with_security_hub_lists_what_it_needs(capsys: pytest.CaptureFixture[str]) -> None:
    from rotation_doctor.cli import main as cli

    assert cli.main(["permissions", "--security-hub"]) == 0
    statements = json.loads(capsys.readouterr().out)["Statement"]
    [granted] = [s for s in statements if s["Sid"] == "SecurityHubFindings"]
    assert sorted(granted["Action"]) == ["securityhub:BatchImportFindings", "securityhub:GetFindings"]
    assert cli.main(["permissions"]) == 0
    assert "securityhub" not in capsys.readouterr().out


def test_a_secret_of_another_region_is_imported_in_its_region(builder: Any) -> None:
    clients = builder.clients
    west = AwsClients(clients.session, "us-west-2")
    west.client("securityhub").enable_security_hub()  # type: ignore[attr-defined]
    arn = f"arn:aws:secretsmanager:us-west-2:{ACCOUNT}:secret:prod/west/db-AbCdEf"
    report = SecurityHubFindings(clients).sync([Diagnosed(diagnosis("SM_NO_PATH", arn=arn))])
    assert report.imported == 1 and report.ok
    [finding] = active(west).values()
    assert finding["ProductArn"] == f"arn:aws:securityhub:us-west-2:{ACCOUNT}:product/{ACCOUNT}/default"
    assert active(clients) == {}  # nothing in the region the clients were made for


@pytest.mark.parametrize("setting,on", [("Enabled", True), ("Disabled", False)])
def test_the_deployers_setting_reaches_the_worker(setting: str, on: bool) -> None:
    from handlers.worker import build_worker
    from tests.cfn_resolve import Resolver
    from tests.iam_templates import template

    tpl = template()
    variables = tpl["Resources"]["WorkerFunction"]["Properties"]["Environment"]["Variables"]
    env = {k: str(v) for k, v in Resolver(tpl, {"SecurityHubFindings": setting}).resolve(variables).items()}
    clients = AwsClients(boto3.session.Session(region_name=REGION), region=REGION)
    dispatcher = build_worker(env, clients).dispatcher
    assert dispatcher is not None and (dispatcher.security_hub is not None) is on
    assert tpl["Parameters"]["SecurityHubFindings"]["Default"] == "Disabled"

"""`diagnose --deep`: VPC Reachability Analyzer's second opinion on the paths the model cannot judge.

The folding is pure (hand-built snapshots); the AWS side runs on botocore's Stubber with the API's response shapes
(moto does not emulate Reachability Analyzer). The shapes follow the EC2 API reference and the AWS CLI's example of
`describe-network-insights-analyses` (an `ENI_SG_RULES_MISMATCH` explanation names the interface and its
`SecurityGroups`).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from rotation_doctor.analysis import diagnose
from rotation_doctor.analysis.reachability import Answer, Blocker, Question, questions, with_answers
from rotation_doctor.cli import main as cli
from rotation_doctor.collect.aws import AwsClients
from rotation_doctor.collect.reachability import ReachabilityAnalyzer
from rotation_doctor.model.findings import PathName, Severity, Verdict
from rotation_doctor.model.snapshot import Route, Snapshot
from rotation_doctor.model.states import AnalyzerRun
from rotation_doctor.simulated import scenarios
from rotation_doctor.simulated.account import AccountBuilder
from tests.cli_process import assert_valid
from tests.snapshots import healthy, nat_path, table, through_tgw, with_table

ACCOUNT = "123456789012"
ENI = "eni-0a25edef15a6cc08c"
PATH = "nip-0b26f224f1d131fa8"
ANALYSIS = "nia-02207aa13eb480c7a"
TAGGED = {"Key": "rotation-doctor:created-by", "Value": "rotation-doctor"}


def sm_through_a_firewall() -> Snapshot:
    """The default route to a firewall endpoint (Gateway Load Balancer or AWS Network Firewall): the firewall's own
    path is what the model cannot judge (a transit gateway is judged natively, tests/test_centralized_egress.py)."""
    snap = nat_path()
    private = table(snap, "rtb-private")
    return with_table(snap, replace(private, routes=(private.routes[0], Route("0.0.0.0/0", "vpce-fw1", "active"))))


def db_through_transit_gateway() -> Snapshot:
    """The database behind a transit gateway whose attachment has appliance mode on: the appliance's own path is
    what the model cannot judge (a plain transit gateway is judged natively)."""
    snap = through_tgw()
    attachment = snap.tgw_attachments["tgw-attach-1"]
    return replace(
        snap, tgw_attachments={**snap.tgw_attachments, attachment.id: replace(attachment, appliance_mode=True)}
    )


# ----- which paths are asked about, and where they lead (pure) ---------------------------------------------


def test_a_judged_diagnosis_asks_nothing() -> None:
    snap = healthy()
    assert questions(snap, diagnose(snap).findings) == []


def test_the_sm_path_through_a_firewall_is_asked_towards_the_internet_gateway() -> None:
    snap = sm_through_a_firewall()
    [question] = questions(snap, diagnose(snap).findings)
    assert (question.path, question.destination_id, question.port) == (PathName.SM, "igw-1", 443)
    assert question.subnet_ids == ("app-a", "app-b") and question.security_group_ids == ("sg-fn",)


def test_the_db_path_through_a_transit_gateway_is_asked_towards_the_database_address() -> None:
    snap = db_through_transit_gateway()
    [question] = questions(snap, diagnose(snap).findings)
    assert question.path is PathName.DB and question.destination_id is None
    assert (question.destination_host, question.port) == ("db.abc.us-east-1.rds.amazonaws.com", 5432)


# ----- folding AWS's answer into the findings (pure) ----------------------------------------------------


def answered(snap: Snapshot, **answer: Any) -> Any:
    first = diagnose(snap)
    [question] = questions(snap, first.findings)
    return first, with_answers(first, [Answer(question, source=ENI, path_id=PATH, analysis_id=ANALYSIS, **answer)])


def test_a_path_aws_finds_blocked_is_broken_and_names_the_blocking_group() -> None:
    first, deep = answered(
        sm_through_a_firewall(),
        run=AnalyzerRun.SUCCEEDED,
        path_found=False,
        explanation_codes=("ENI_SG_RULES_MISMATCH",),
        blockers=(Blocker("SecurityGroup", "sg-0fw"),),
    )
    assert first.verdict is Verdict.UNKNOWN
    assert deep.verdict is Verdict.BROKEN
    [blocked] = [f for f in deep.findings if f.code == "SM_PATH_BLOCKED_BY_ANALYZER"]
    assert blocked.severity is Severity.ERROR and blocked.resources[0] == "sg-0fw"
    assert "SecurityGroup sg-0fw" in blocked.summary and "ENI_SG_RULES_MISMATCH" in blocked.summary
    reach = blocked.evidence["reachability"]
    assert reach["path_found"] is False and reach["analysis_id"] == ANALYSIS
    assert reach["blocking"] == [{"type": "SecurityGroup", "id": "sg-0fw"}]
    assert "SM_PATH_NOT_EVALUATED" not in deep.codes()


def test_a_path_aws_finds_open_is_info_with_the_analysis_and_the_verdict_healthy() -> None:
    _, deep = answered(sm_through_a_firewall(), run=AnalyzerRun.SUCCEEDED, path_found=True)
    [info] = [f for f in deep.findings if f.code == "SM_PATH_NOT_EVALUATED"]
    assert info.severity is Severity.INFO and ANALYSIS in info.summary
    assert deep.verdict is Verdict.HEALTHY


@pytest.mark.parametrize("run", [AnalyzerRun.FAILED, AnalyzerRun.TIMED_OUT, AnalyzerRun.NOT_RUN])
def test_no_answer_leaves_the_path_not_evaluated_and_says_why(run: AnalyzerRun) -> None:
    first, deep = answered(db_through_transit_gateway(), run=run, message="the network configuration is not supported")
    assert deep.verdict is first.verdict is Verdict.UNKNOWN
    kept = [f for f in deep.findings if f.code == "DB_PATH_NOT_EVALUATED"]
    assert len(kept) == len([f for f in first.findings if f.code == "DB_PATH_NOT_EVALUATED"]) > 1
    for finding in kept:  # each one keeps its case, and says what AWS said
        assert finding.severity is Severity.WARNING and "not supported" in finding.summary
        assert finding.evidence["reachability"]["status"] == str(run)


# ----- the AWS side, on botocore's Stubber ------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def stubbed() -> tuple[AwsClients, Stubber]:
    clients = AwsClients(boto3.session.Session(region_name="us-east-1"), region="us-east-1")
    stubber = Stubber(clients.client("ec2"))
    stubber.activate()
    return clients, stubber


def lambda_interfaces(stubber: Stubber, subnets: list[str]) -> None:
    stubber.add_response(
        "describe_network_interfaces",
        {
            "NetworkInterfaces": [
                {  # another function's interface in the same subnet, with other groups: not this function's way out
                    "NetworkInterfaceId": "eni-00000000000000001",
                    "SubnetId": "app-a",
                    "VpcId": "vpc-1",
                    "InterfaceType": "lambda",
                    "Description": "AWS Lambda VPC ENI-billing-rotation",
                    "Groups": [{"GroupId": "sg-other", "GroupName": "other"}],
                    "Status": "in-use",
                },
                {
                    "NetworkInterfaceId": ENI,
                    "SubnetId": "app-a",
                    "VpcId": "vpc-1",
                    "InterfaceType": "lambda",
                    "Description": "AWS Lambda VPC ENI-rotate",
                    "RequesterId": "123456789012",
                    "Groups": [{"GroupId": "sg-fn", "GroupName": "fn"}],
                    "PrivateIpAddress": "10.0.1.25",
                    "Status": "in-use",
                },
            ]
        },
        {
            "Filters": [
                {"Name": "interface-type", "Values": ["lambda"]},
                {"Name": "subnet-id", "Values": subnets},
            ]
        },
    )


def path_created(stubber: Stubber, start_error: str | None = None, **target: Any) -> None:
    created = datetime(2026, 11, 29, 15, 0, tzinfo=UTC)
    stubber.add_response(
        "create_network_insights_path",
        {
            "NetworkInsightsPath": {
                "NetworkInsightsPathId": PATH,
                "NetworkInsightsPathArn": f"arn:aws:ec2:us-east-1:{ACCOUNT}:network-insights-path/{PATH}",
                "CreatedDate": created,
                "Source": ENI,
                "SourceArn": f"arn:aws:ec2:us-east-1:{ACCOUNT}:network-interface/{ENI}",
                "Protocol": "tcp",
                "Tags": [TAGGED],
            }
        },
        {
            "Source": ENI,
            "Protocol": "tcp",
            "ClientToken": ANY,
            "TagSpecifications": [{"ResourceType": "network-insights-path", "Tags": [TAGGED]}],
            **target,
        },
    )
    if start_error:
        stubber.add_client_error("start_network_insights_analysis", start_error, "not allowed")
        return
    stubber.add_response(
        "start_network_insights_analysis",
        {"NetworkInsightsAnalysis": analysis("running")},
        {
            "NetworkInsightsPathId": PATH,
            "ClientToken": ANY,
            "TagSpecifications": [{"ResourceType": "network-insights-analysis", "Tags": [TAGGED]}],
        },
    )


def analysis(status: str, **fields: Any) -> dict[str, Any]:
    return {
        "NetworkInsightsAnalysisId": ANALYSIS,
        "NetworkInsightsAnalysisArn": f"arn:aws:ec2:us-east-1:{ACCOUNT}:network-insights-analysis/{ANALYSIS}",
        "NetworkInsightsPathId": PATH,
        "StartDate": datetime(2026, 11, 29, 15, 0, 1, tzinfo=UTC),
        "Status": status,
        "Tags": [TAGGED],
        **fields,
    }


def described(stubber: Stubber, found: dict[str, Any]) -> None:
    stubber.add_response(
        "describe_network_insights_analyses",
        {"NetworkInsightsAnalyses": [found]},
        {"NetworkInsightsAnalysisIds": [ANALYSIS]},
    )


def deleted(stubber: Stubber, *, analysis_error: str | None = None, path_error: str | None = None) -> None:
    if analysis_error:
        stubber.add_client_error("delete_network_insights_analysis", analysis_error, "refused")
    else:
        stubber.add_response(
            "delete_network_insights_analysis",
            {"NetworkInsightsAnalysisId": ANALYSIS},
            {"NetworkInsightsAnalysisId": ANALYSIS},
        )
    if path_error:
        stubber.add_client_error("delete_network_insights_path", path_error, "refused")
    else:
        stubber.add_response(
            "delete_network_insights_path", {"NetworkInsightsPathId": PATH}, {"NetworkInsightsPathId": PATH}
        )


SG_BLOCKS = {
    "NetworkPathFound": False,
    "Explanations": [
        {
            "Direction": "egress",
            "ExplanationCode": "ENI_SG_RULES_MISMATCH",
            "NetworkInterface": {"Id": ENI, "Arn": f"arn:aws:ec2:us-east-1:{ACCOUNT}:network-interface/{ENI}"},
            "SecurityGroups": [
                {"Id": "sg-fn", "Arn": f"arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/sg-fn"},
            ],
            "Subnet": {"Id": "app-a", "Arn": f"arn:aws:ec2:us-east-1:{ACCOUNT}:subnet/app-a"},
            "Vpc": {"Id": "vpc-1", "Arn": f"arn:aws:ec2:us-east-1:{ACCOUNT}:vpc/vpc-1"},
        }
    ],
}


def run_deep(snap: Snapshot, stub: Any, *, timeout: float = 300.0) -> tuple[Any, list[Answer], FakeClock]:
    clients, stubber = stubbed()
    first = diagnose(snap)
    asked = questions(snap, first.findings)
    stub(stubber)
    clock = FakeClock()
    analyzer = ReachabilityAnalyzer(
        clients, timeout=timeout, poll=5.0, sleep=clock.sleep, clock=clock, resolve=lambda host: "10.1.11.20"
    )
    answers = analyzer.answer(asked)
    stubber.assert_no_pending_responses()
    return with_answers(first, answers), answers, clock


def test_a_path_found_after_polling_is_healthy_and_everything_is_deleted() -> None:
    def stub(stubber: Stubber) -> None:
        lambda_interfaces(stubber, ["app-a", "app-b"])
        path_created(stubber, Destination="igw-1", DestinationPort=443)
        described(stubber, analysis("running"))
        described(stubber, analysis("succeeded", NetworkPathFound=True, ForwardPathComponents=[]))
        deleted(stubber)

    deep, [answer], clock = run_deep(sm_through_a_firewall(), stub)
    assert answer.run is AnalyzerRun.SUCCEEDED and answer.path_found is True and answer.source == ENI
    assert answer.left_behind == () and clock.slept == [5.0]
    assert deep.verdict is Verdict.HEALTHY
    assert json.loads(json.dumps(answer.to_json()))["destination"] == "igw-1"


def test_a_database_blocked_by_a_security_group_is_broken_with_aws_codes() -> None:
    def stub(stubber: Stubber) -> None:
        lambda_interfaces(stubber, ["app-a", "app-b"])
        path_created(
            stubber,
            FilterAtSource={
                "DestinationAddress": "10.1.11.20",
                "DestinationPortRange": {"FromPort": 5432, "ToPort": 5432},
            },
        )
        described(stubber, analysis("succeeded", **SG_BLOCKS))
        deleted(stubber)

    deep, [answer], _ = run_deep(db_through_transit_gateway(), stub)
    assert answer.explanation_codes == ("ENI_SG_RULES_MISMATCH",)
    assert answer.blockers == (Blocker("SecurityGroup", "sg-fn"), Blocker("NetworkInterface", ENI))
    assert deep.verdict is Verdict.BROKEN
    # the path's not-evaluated findings (one for each way) become one
    [blocked] = [f for f in deep.findings if f.code == "DB_PATH_BLOCKED_BY_ANALYZER"]
    assert not [f for f in deep.findings if f.code == "DB_PATH_NOT_EVALUATED"]
    assert len(blocked.evidence["not_evaluated"]) > 1
    assert "db.abc.us-east-1.rds.amazonaws.com (10.1.11.20)" in blocked.summary
    assert blocked.evidence["reachability"]["destination"] == "10.1.11.20"


def test_a_failed_analysis_keeps_the_path_unjudged_and_still_deletes_it() -> None:
    def stub(stubber: Stubber) -> None:
        lambda_interfaces(stubber, ["app-a", "app-b"])
        path_created(stubber, Destination="igw-1", DestinationPort=443)
        described(stubber, analysis("failed", StatusMessage="The network configuration is not supported"))
        deleted(stubber)

    deep, [answer], _ = run_deep(sm_through_a_firewall(), stub)
    assert answer.run is AnalyzerRun.FAILED and answer.message == "The network configuration is not supported"
    assert deep.verdict is Verdict.UNKNOWN and answer.left_behind == ()


def test_a_timeout_deletes_the_analysis_and_the_path() -> None:
    def stub(stubber: Stubber) -> None:
        lambda_interfaces(stubber, ["app-a", "app-b"])
        path_created(stubber, Destination="igw-1", DestinationPort=443)
        for _ in range(3):
            described(stubber, analysis("running"))
        deleted(stubber)

    deep, [answer], clock = run_deep(sm_through_a_firewall(), stub, timeout=12.0)
    assert answer.run is AnalyzerRun.TIMED_OUT and answer.left_behind == ()
    assert clock.now <= 12.0
    assert deep.verdict is Verdict.UNKNOWN


def test_a_failed_delete_is_reported_with_the_id() -> None:
    def stub(stubber: Stubber) -> None:
        lambda_interfaces(stubber, ["app-a", "app-b"])
        path_created(stubber, Destination="igw-1", DestinationPort=443)
        described(stubber, analysis("succeeded", NetworkPathFound=True))
        deleted(stubber, path_error="UnauthorizedOperation")

    deep, [answer], _ = run_deep(sm_through_a_firewall(), stub)
    assert answer.left_behind == (f"{PATH}: UnauthorizedOperation",)
    [info] = [f for f in deep.findings if f.code == "SM_PATH_NOT_EVALUATED"]
    assert info.evidence["reachability"]["left_behind"] == [f"{PATH}: UnauthorizedOperation"]


def test_a_refused_start_still_deletes_the_path() -> None:
    def stub(stubber: Stubber) -> None:
        lambda_interfaces(stubber, ["app-a", "app-b"])
        path_created(stubber, start_error="UnauthorizedOperation", Destination="igw-1", DestinationPort=443)
        stubber.add_response(
            "delete_network_insights_path", {"NetworkInsightsPathId": PATH}, {"NetworkInsightsPathId": PATH}
        )

    deep, [answer], _ = run_deep(sm_through_a_firewall(), stub)
    assert answer.run is AnalyzerRun.NOT_RUN and answer.message == "UnauthorizedOperation"
    assert answer.path_id == PATH and answer.analysis_id is None and answer.left_behind == ()
    assert deep.verdict is Verdict.UNKNOWN


def test_no_interface_of_the_functions_groups_runs_nothing() -> None:
    def stub(stubber: Stubber) -> None:
        stubber.add_response("describe_network_interfaces", {"NetworkInterfaces": []}, None)

    _, [answer], _ = run_deep(sm_through_a_firewall(), stub)
    assert answer.run is AnalyzerRun.NOT_RUN and answer.path_id is None
    assert "no Lambda network interface" in str(answer.message)


def test_a_question_without_a_destination_calls_nothing() -> None:
    question = Question(PathName.SM, 443, ("app-a",), ("sg-fn",), skipped="nothing to aim at")
    clients, stubber = stubbed()
    [answer] = ReachabilityAnalyzer(clients).answer([question])
    stubber.assert_no_pending_responses()
    assert answer.run is AnalyzerRun.NOT_RUN and answer.message == "nothing to aim at"


# ----- the command: cost first, JSON that validates, nothing run unless asked ------------------------


def egress_through_a_firewall(builder: AccountBuilder) -> None:
    """Centralized egress through a transit gateway whose egress VPC sends traffic to a Gateway Load Balancer
    endpoint (a firewall) before its NAT gateway: the firewall is what the model cannot judge."""
    scenarios.centralized_egress(builder, scenarios.orders(builder, db_admits_function=True), breaks="gwlb")


def test_deep_states_the_cost_before_asking_and_folds_the_answer(
    builder: AccountBuilder, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    egress_through_a_firewall(builder)
    asked: list[Question] = []

    def blocked(self: ReachabilityAnalyzer, questions: list[Question]) -> list[Answer]:
        assert "USD 0.10" in capsys.readouterr().err  # said before anything is run
        asked.extend(questions)
        return [
            Answer(
                q,
                AnalyzerRun.SUCCEEDED,
                source=ENI,
                path_id=PATH,
                analysis_id=ANALYSIS,
                path_found=False,
                explanation_codes=("ENI_SG_RULES_MISMATCH",),
                blockers=(Blocker("SecurityGroup", "sg-0fw"),),
                left_behind=(f"{PATH}: UnauthorizedOperation",),
            )
            for q in questions
        ]

    monkeypatch.setattr(ReachabilityAnalyzer, "answer", blocked)
    code = cli.main(["diagnose", scenarios.DEMO_SECRET, "--deep", "--format", "json"])
    out, err = capsys.readouterr()
    payload = json.loads(out)
    assert code == 1 and payload["verdict"] == "broken"
    assert [q.path for q in asked] == [PathName.SM]
    assert "SM_PATH_BLOCKED_BY_ANALYZER" in [f["code"] for f in payload["findings"]]
    [analysis] = payload["reachability"]
    assert analysis["blocking"] == [{"type": "SecurityGroup", "id": "sg-0fw"}]
    assert_valid("diagnose", payload)
    assert f"could not delete {PATH}: UnauthorizedOperation" in err  # never silent
    assert scenarios.CANARY_PASSWORD not in out + err


def test_deep_on_a_judged_secret_runs_nothing(
    builder: AccountBuilder, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    scenarios.orders(builder, db_admits_function=True, endpoint=True)
    monkeypatch.setattr(ReachabilityAnalyzer, "answer", lambda *_: pytest.fail("nothing to ask"))
    code = cli.main(["diagnose", scenarios.DEMO_SECRET, "--deep", "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0 and json.loads(out)["reachability"] == [] and "USD" not in err
    assert "every path is judged" in err


def test_without_deep_nothing_is_asked(
    builder: AccountBuilder, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    egress_through_a_firewall(builder)
    monkeypatch.setattr(ReachabilityAnalyzer, "answer", lambda *_: pytest.fail("--deep was not given"))
    code = cli.main(["diagnose", scenarios.DEMO_SECRET, "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 1 and "reachability" not in json.loads(out) and err == ""
    assert "SM_PATH_NOT_EVALUATED" in [f["code"] for f in json.loads(out)["findings"]]


def test_permissions_deep_adds_the_analyzer_and_deletes_only_what_it_tagged(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from policy_sentry.querying.actions import get_action_data

    assert cli.main(["permissions"]) == 0
    plain = json.loads(capsys.readouterr().out)["Statement"]
    assert cli.main(["permissions", "--deep"]) == 0
    deep = json.loads(capsys.readouterr().out)["Statement"]
    added = [s for s in deep if s not in plain]
    actions = {a for s in added for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert actions >= {
        "ec2:CreateNetworkInsightsPath",
        "ec2:StartNetworkInsightsAnalysis",
        "ec2:DescribeNetworkInsightsAnalyses",
        "ec2:DeleteNetworkInsightsAnalysis",
        "ec2:DeleteNetworkInsightsPath",
        "tiros:CreateQuery",
    }
    for action in actions:  # each is an action AWS knows (the Service Authorization Reference)
        service, name = action.split(":")
        assert get_action_data(service, name), action
    [deletes] = [s for s in added if "ec2:DeleteNetworkInsightsPath" in s["Action"]]
    assert deletes["Condition"] == {"StringEquals": {"aws:ResourceTag/rotation-doctor:created-by": "rotation-doctor"}}


def test_an_interrupt_while_waiting_still_deletes_the_analysis_and_the_path() -> None:
    clients, stubber = stubbed()
    snap = sm_through_a_firewall()
    lambda_interfaces(stubber, ["app-a", "app-b"])
    path_created(stubber, Destination="igw-1", DestinationPort=443)
    described(stubber, analysis("running"))
    deleted(stubber)

    def interrupted(_: float) -> None:
        raise KeyboardInterrupt

    analyzer = ReachabilityAnalyzer(clients, sleep=interrupted)
    with pytest.raises(KeyboardInterrupt):
        analyzer.answer(questions(snap, diagnose(snap).findings))
    stubber.assert_no_pending_responses()  # both deletes were made

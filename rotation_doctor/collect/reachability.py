"""`diagnose --deep`: ask VPC Reachability Analyzer about the paths the model cannot judge.

For each `analysis.reachability.Question`: find the function's network interface, create a network insights path
from it to the destination (the Secrets Manager endpoint or internet gateway, or the database's address), start an
analysis, wait for it, read AWS's answer, and delete the analysis and the path, always (`finally`: also after a
failure, a timeout or an interrupt). A delete that fails is reported with the resource's id, never silently.

This module writes, yet lives outside the executor, and that is deliberate: the executor is for changes to the
account's network, with plans, undo and approval. A network insights path and its analysis change nothing about
the network; they are how AWS models one read (a question and its answer) as resources. They exist only for the
length of the question, are tagged `rotation-doctor:created-by` (the IAM policy of `permissions --deep` lets the
tool delete only what it tagged) and are deleted before the command returns. It runs only when a person asks for
it (`diagnose --deep`, which states the cost first), never in the service.
"""

from __future__ import annotations

import logging
import socket
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from rotation_doctor.analysis.reachability import Answer, Blocker, Question, is_ip
from rotation_doctor.collect.aws import AwsClients, error_code, fatal
from rotation_doctor.model.bounded import clip
from rotation_doctor.model.states import AnalyzerRun

log = logging.getLogger(__name__)
CREATED_BY = {"Key": "rotation-doctor:created-by", "Value": "rotation-doctor"}
# The components an explanation may name as what blocks, most telling first (`SecurityGroups` is a list: an
# interface's groups, none of which admits the traffic).
BLOCKER_KEYS = (
    "SecurityGroups",
    "SecurityGroup",
    "Acl",
    "RouteTable",
    "SubnetRouteTable",
    "NatGateway",
    "InternetGateway",
    "VpcEndpoint",
    "TransitGateway",
    "TransitGatewayRouteTable",
    "TransitGatewayAttachment",
    "VpcPeeringConnection",
    "NetworkInterface",
    "Component",
)
MAX_BLOCKERS = 5


@dataclass
class ReachabilityAnalyzer:
    """Runs the questions one after the other; `sleep` and `clock` are injected so tests need not wait."""

    clients: AwsClients
    timeout: float = 300.0  # per analysis; AWS usually answers within a minute or two
    poll: float = 5.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    resolve: Callable[[str], str] = lambda host: _resolve_ipv4(host)

    def answer(self, questions: Sequence[Question]) -> list[Answer]:
        asked = [q for q in questions if q.skipped is None]
        interfaces = self._function_interfaces(asked[0]) if asked else {}
        answers = []
        for question in questions:
            if question.skipped is not None:
                answers.append(Answer(question, AnalyzerRun.NOT_RUN, message=question.skipped))
                continue
            if isinstance(interfaces, str):  # the read failed
                answers.append(Answer(question, AnalyzerRun.NOT_RUN, message=interfaces))
                continue
            source = _pick_interface(interfaces, question)
            if source is None:
                answers.append(
                    Answer(
                        question,
                        AnalyzerRun.NOT_RUN,
                        message="no Lambda network interface with the function's subnets and security groups",
                    )
                )
                continue
            answers.append(self._analyze(question, source))
        return answers

    # ----- reads -------------------------------------------------------------------------------

    def _function_interfaces(self, question: Question) -> dict[str, tuple[str, frozenset[str]]] | str:
        """The Lambda (Hyperplane) interfaces of the function's subnets: id -> (subnet, groups). Lambda shares one
        among the functions with the same subnet and groups, so its description may name another function: the
        subnet and the exact set of groups are what make it this function's way out."""
        found: dict[str, tuple[str, frozenset[str]]] = {}
        try:
            pages = self.clients.ec2.get_paginator("describe_network_interfaces").paginate(
                Filters=[
                    {"Name": "interface-type", "Values": ["lambda"]},
                    {"Name": "subnet-id", "Values": list(question.subnet_ids)},
                ]
            )
            for page in pages:
                for eni in page.get("NetworkInterfaces", []):
                    groups = frozenset(g["GroupId"] for g in eni.get("Groups", []) if "GroupId" in g)
                    found[eni["NetworkInterfaceId"]] = (eni.get("SubnetId", ""), groups)
        except Exception as exc:
            if fatal(exc):
                raise
            return f"ec2:DescribeNetworkInterfaces failed ({error_code(exc)})"
        return found

    # ----- one analysis --------------------------------------------------------------------------

    def _analyze(self, question: Question, source: str) -> Answer:
        answer = Answer(question, AnalyzerRun.NOT_RUN, source=source)
        destination_ip = None
        if question.destination_id is None:
            host = str(question.destination_host)
            try:
                destination_ip = host if is_ip(host) else self.resolve(host)
            except OSError:
                return replace(answer, message=f"the database's name {clip(host, 120)} did not resolve here")
            answer = replace(answer, destination_ip=destination_ip)
        ec2 = self.clients.ec2
        path_id = analysis_id = None
        answered = False
        try:
            target: dict[str, Any] = (
                {"Destination": question.destination_id, "DestinationPort": question.port}
                if question.destination_id
                else {
                    "FilterAtSource": {
                        "DestinationAddress": destination_ip,
                        "DestinationPortRange": {"FromPort": question.port, "ToPort": question.port},
                    }
                }
            )
            path_id = ec2.create_network_insights_path(
                Source=source,
                Protocol="tcp",
                ClientToken=str(uuid.uuid4()),
                TagSpecifications=_tagged("network-insights-path"),
                **target,
            )["NetworkInsightsPath"]["NetworkInsightsPathId"]
            analysis_id = ec2.start_network_insights_analysis(
                NetworkInsightsPathId=path_id,
                ClientToken=str(uuid.uuid4()),
                TagSpecifications=_tagged("network-insights-analysis"),
            )["NetworkInsightsAnalysis"]["NetworkInsightsAnalysisId"]
            answer = replace(answer, path_id=path_id, analysis_id=analysis_id)
            analysis = self._wait(analysis_id)
            answer = (
                _answered(answer, analysis)
                if analysis is not None
                else replace(answer, run=AnalyzerRun.TIMED_OUT, message=f"no answer within {self.timeout:.0f} s")
            )
            answered = True
        except Exception as exc:
            if fatal(exc):
                raise
            answer = replace(answer, path_id=path_id, analysis_id=analysis_id, message=f"{error_code(exc)}")
            answered = True
        finally:
            left = self._delete(analysis_id, path_id)
            answer = replace(answer, left_behind=left)
            if left and not answered:  # interrupted, or a fatal error: no answer will carry what is left
                log.warning("could not delete %s; delete it by hand", ", ".join(left))
        return answer

    def _wait(self, analysis_id: str) -> Mapping[str, Any] | None:
        """The analysis once AWS is done with it; None when `timeout` passes first."""
        deadline = self.clock() + self.timeout
        while True:
            [analysis] = self.clients.ec2.describe_network_insights_analyses(NetworkInsightsAnalysisIds=[analysis_id])[
                "NetworkInsightsAnalyses"
            ]
            if analysis.get("Status") != "running":
                return analysis
            if self.clock() + self.poll > deadline:
                return None
            self.sleep(self.poll)

    def _delete(self, analysis_id: str | None, path_id: str | None) -> tuple[str, ...]:
        """Delete the analysis, then the path (AWS refuses to delete a path that still has analyses)."""
        left = []
        ec2 = self.clients.ec2
        if analysis_id is not None:
            try:
                ec2.delete_network_insights_analysis(NetworkInsightsAnalysisId=analysis_id)
            except Exception as exc:
                left.append(f"{analysis_id}: {error_code(exc)}")
        if path_id is not None:
            try:
                ec2.delete_network_insights_path(NetworkInsightsPathId=path_id)
            except Exception as exc:
                left.append(f"{path_id}: {error_code(exc)}")
        return tuple(left)


def _resolve_ipv4(host: str) -> str:
    """The database's address as this machine resolves its name (an RDS name resolves to its private address)."""
    return str(socket.getaddrinfo(host, None, socket.AF_INET)[0][4][0])


def _tagged(resource_type: str) -> Any:
    return [{"ResourceType": resource_type, "Tags": [dict(CREATED_BY)]}]


def _pick_interface(interfaces: Mapping[str, tuple[str, frozenset[str]]], question: Question) -> str | None:
    groups = frozenset(question.security_group_ids)
    for subnet in question.subnet_ids:  # the findings' subnets first
        matching = sorted(eni for eni, (s, g) in interfaces.items() if s == subnet and g == groups)
        if matching:
            return matching[0]
    return None


def _answered(answer: Answer, analysis: Mapping[str, Any]) -> Answer:
    status = analysis.get("Status")
    if status != "succeeded":
        message = clip(str(analysis.get("StatusMessage") or status or "no status"), 300)
        return replace(answer, run=AnalyzerRun.FAILED, message=message)
    explanations = analysis.get("Explanations") or []
    codes = tuple(dict.fromkeys(str(e["ExplanationCode"]) for e in explanations if e.get("ExplanationCode")))
    blockers: dict[str, Blocker] = {}
    for explanation in explanations:
        for key in BLOCKER_KEYS:
            named = explanation.get(key)
            for component in named if isinstance(named, list) else [named]:
                if isinstance(component, Mapping) and component.get("Id") and component["Id"] not in blockers:
                    kind = "SecurityGroup" if key == "SecurityGroups" else key
                    blockers[component["Id"]] = Blocker(kind, clip(str(component["Id"]), 120))
    return replace(
        answer,
        run=AnalyzerRun.SUCCEEDED,
        path_found=bool(analysis.get("NetworkPathFound")),
        explanation_codes=tuple(clip(c, 80) for c in codes),
        blockers=tuple(blockers.values())[:MAX_BLOCKERS],
    )

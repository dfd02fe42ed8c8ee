"""The only code that changes an AWS account.

It re-reads the world and plans afresh; refuses a plan that no longer matches the one approved
(the account changed: re-plan and ask again); applies the allowed fixes step by step, feeding
each step what earlier ones returned; on a failure undoes every applied step in reverse; then
diagnoses again and undoes the fixes whose findings are still there.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore import xform_name

from rotation_doctor.analysis import Diagnosis
from rotation_doctor.apply.guardrails import Approval, Mode, Policy, blocked
from rotation_doctor.collect.aws import AwsClients, describe_fatal, error_code
from rotation_doctor.collect.collector import Collector
from rotation_doctor.examine import diagnose_secrets
from rotation_doctor.model.findings import Verdict
from rotation_doctor.model.plan import Call, Fix, Plan, Step, dig, references, resolve
from rotation_doctor.model.snapshot import Snapshot
from rotation_doctor.model.states import FixStatus, OutcomeStatus, StepStatus
from rotation_doctor.planning.planner import make_plan

log = logging.getLogger(__name__)


@dataclass
class StepResult:
    step: str
    says: str
    status: StepStatus
    error: str | None = None


@dataclass
class FixResult:
    kind: str
    status: FixStatus
    reason: str | None = None
    steps: list[StepResult] = field(default_factory=list)


@dataclass
class Outcome:
    status: OutcomeStatus
    before: Diagnosis
    plan: Plan
    fixes: list[FixResult] = field(default_factory=list)
    after: Diagnosis | None = None
    rotation_retried: bool = False
    reason: str | None = None

    @property
    def applied(self) -> list[str]:
        return [f.kind for f in self.fixes if f.status is FixStatus.APPLIED]

    def to_json(self) -> dict[str, Any]:
        out = self.before.to_json()
        out["plan"] = _plan_json(self.plan)
        out["plan_hash"] = self.plan.hash
        out["status"] = self.status.value
        out["applied"] = self.applied
        out["fixes_applied"] = [
            vars(f) | {"status": f.status.value, "steps": [vars(s) | {"status": s.status.value} for s in f.steps]}
            for f in self.fixes
        ]
        if self.after is not None:
            out["after"] = self.after.to_json()
        if self.reason:
            out["reason"] = self.reason
        out["rotation_retried"] = self.rotation_retried
        return out


def _plan_json(plan: Plan) -> list[dict[str, Any]]:
    return [f.to_json() for f in plan.fixes]


class StepFailed(Exception):
    def __init__(self, step: Step, error: str) -> None:
        super().__init__(f"{step.id} ({step.call.operation}): {error}")
        self.step = step
        self.error = error


class Executor:
    def __init__(self, clients: AwsClients, policy: Policy, *, wait_timeout: float = 600, poll: float = 5) -> None:
        self.clients = clients
        self.policy = policy
        self.collector = Collector(clients)
        self.wait_timeout = wait_timeout
        self.poll = poll

    # ----- what people and handlers call -------------------------------------------------------

    def assess(
        self, secret_id: str, *, rotation_failed: bool = False, prefer_nat: bool = False
    ) -> tuple[Snapshot, Diagnosis, Plan]:
        """A fresh diagnosis and plan; changes nothing."""
        secret = self.collector.describe_secret(secret_id)
        snap, diagnosis = diagnose_secrets(
            self.collector, [secret], rotation_failed=[secret.arn] if rotation_failed else []
        )[0]
        if diagnosis.verdict is not Verdict.HEALTHY:
            snap = self.collector.with_planning_facts(snap)
        return snap, diagnosis, make_plan(snap, diagnosis, prefer_nat=prefer_nat)

    def run(
        self,
        secret_id: str,
        *,
        approval: Approval | None = None,
        rotation_failed: bool = False,
        retry_rotation: bool = False,
        prefer_nat: bool = False,
    ) -> Outcome:
        snap, before, plan = self.assess(secret_id, rotation_failed=rotation_failed, prefer_nat=prefer_nat)
        if plan.empty:
            return Outcome(OutcomeStatus.NOTHING_TO_DO, before, plan)
        if approval is not None and approval.plan_hash is not None and approval.plan_hash != plan.hash:
            return Outcome(
                OutcomeStatus.STALE,
                before,
                plan,
                reason="the account changed since the plan was approved: re-planned, approve the new plan",
            )
        results: list[FixResult] = []
        allowed: list[Fix] = []
        skipped_outputs: set[str] = set()
        for fix in plan.fixes:
            why = blocked(fix, snap, self.policy, approval) or _needs_skipped(fix, skipped_outputs)
            if why is None:
                allowed.append(fix)
            else:
                results.append(FixResult(str(fix.kind), FixStatus.SKIPPED, why))
                skipped_outputs |= {s.id for s in fix.steps}
        if not allowed:
            status = OutcomeStatus.OBSERVED if self.policy.mode is Mode.OBSERVE else OutcomeStatus.NOT_APPLIED
            return Outcome(status, before, plan, results)
        if self.policy.budget is not None and not self.policy.budget.take(snap.secret.account, len(allowed)):
            results += [
                FixResult(str(f.kind), FixStatus.SKIPPED, "the hourly cap on changes for the account is reached")
                for f in allowed
            ]
            return Outcome(OutcomeStatus.NOT_APPLIED, before, plan, results)
        return self._apply(snap.secret.arn, before, plan, allowed, results, retry_rotation)

    # ----- applying ----------------------------------------------------------------------------

    def _apply(
        self,
        secret_arn: str,
        before: Diagnosis,
        plan: Plan,
        fixes: list[Fix],
        results: list[FixResult],
        retry_rotation: bool,
    ) -> Outcome:
        outputs: dict[str, Mapping[str, Any]] = {}
        applied: list[tuple[FixResult, Step]] = []  # in the order they were made
        by_fix: list[tuple[Fix, FixResult]] = []
        try:
            for fix in fixes:
                result = FixResult(str(fix.kind), FixStatus.APPLIED)
                results.append(result)
                by_fix.append((fix, result))
                for step in fix.steps:
                    status = self._run_step(step, outputs)
                    result.steps.append(StepResult(step.id, step.says, status))
                    if status is StepStatus.APPLIED:
                        applied.append((result, step))
        except StepFailed as failure:
            result = by_fix[-1][1]
            result.status = FixStatus.FAILED
            result.steps.append(StepResult(failure.step.id, failure.step.says, StepStatus.FAILED, failure.error))
            self._undo(applied, outputs)
            for _, r in by_fix:
                r.status = FixStatus.ROLLED_BACK if r is not result else FixStatus.FAILED
            return Outcome(OutcomeStatus.ROLLED_BACK, before, plan, results, reason=str(failure))
        after = self._diagnose(secret_arn)
        if after.verdict is not Verdict.HEALTHY:
            # A fix whose every finding is still there did not work: undo what it made, keep the rest.
            still = {f.code for f in after.findings}
            broken = {id(r) for fix, r in by_fix if set(fix.fixes) <= still}  # by identity: results compare by value
            undo = [(r, step) for r, step in applied if id(r) in broken]
            if undo:
                self._undo(undo, outputs)
                for fix, r in by_fix:
                    if id(r) in broken:
                        r.status = FixStatus.ROLLED_BACK
                        r.reason = f"{', '.join(sorted(set(fix.fixes)))} still found after it"
                after = self._diagnose(secret_arn)
        retried = False
        if retry_rotation and after.verdict is Verdict.HEALTHY:
            self.clients.secretsmanager.rotate_secret(SecretId=secret_arn)
            retried = True
        applied_any = any(r.status is FixStatus.APPLIED for r in results)
        final = OutcomeStatus.APPLIED if applied_any else OutcomeStatus.ROLLED_BACK
        return Outcome(final, before, plan, results, after, retried)

    def _run_step(self, step: Step, outputs: dict[str, Mapping[str, Any]]) -> StepStatus:
        params = resolve(step.call.params, outputs)
        try:
            response = self._call(Call(step.call.service, step.call.operation, params))
        except Exception as exc:
            code = error_code(exc)
            if code in step.already_done:
                log.info("%s %s: already in place (%s)", step.id, step.call.operation, code)
                outputs[step.id] = {}
                return StepStatus.ALREADY_DONE
            raise StepFailed(step, describe_fatal(exc)) from exc
        outputs[step.id] = {name: dig(response, path) for name, path in step.outputs.items()}
        if step.wait:
            self._wait(step.wait, outputs[step.id], params)
        log.info("%s %s: applied", step.id, step.call.operation)
        return StepStatus.APPLIED

    def _undo(self, applied: list[tuple[FixResult, Step]], outputs: Mapping[str, Mapping[str, Any]]) -> None:
        for result, step in reversed(applied):
            if step.undo is None:
                continue
            entry = next(s for s in result.steps if s.step == step.id)
            try:
                self._call(Call(step.undo.service, step.undo.operation, resolve(step.undo.params, outputs)))
                entry.status = StepStatus.UNDONE
            except Exception as exc:  # keep undoing the rest; report what could not be undone
                entry.status, entry.error = StepStatus.UNDO_FAILED, error_code(exc)
                log.error("undo of %s (%s) failed: %s", step.id, step.undo.operation, error_code(exc))

    def _call(self, call: Call) -> Any:
        client = self.clients.client(call.service)
        return getattr(client, xform_name(call.operation))(**call.params)

    def _wait(self, name: str, produced: Mapping[str, Any], params: Mapping[str, Any]) -> None:
        if name == "vpc_endpoint_available":
            self._poll(
                lambda: (
                    self.clients.ec2.describe_vpc_endpoints(VpcEndpointIds=[produced["VpcEndpointId"]])["VpcEndpoints"][
                        0
                    ]["State"].lower()
                    == "available"
                )
            )
            return
        if name == "nat_gateway_available":
            waiter_params: dict[str, Any] = {"NatGatewayIds": [produced["NatGatewayId"]]}
            client = self.clients.client("ec2")  # the waiter is named by the step: the untyped client
        else:
            waiter_params = {"FunctionName": params["FunctionName"]}
            client = self.clients.client("lambda")
        client.get_waiter(name).wait(
            **waiter_params,
            WaiterConfig={"Delay": self.poll, "MaxAttempts": max(1, int(self.wait_timeout // max(self.poll, 1)))},
        )

    def _poll(self, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self.wait_timeout
        while not ready():
            if time.monotonic() > deadline:
                raise TimeoutError("timed out waiting for the endpoint to become available")
            time.sleep(self.poll)

    def _diagnose(self, secret_arn: str) -> Diagnosis:
        secret = self.collector.describe_secret(secret_arn)
        return diagnose_secrets(self.collector, [secret])[0][1]


def _needs_skipped(fix: Fix, skipped_steps: set[str]) -> str | None:
    """A fix that uses what a skipped fix would have created cannot run without it."""
    if any(references(step.call.params) & skipped_steps for step in fix.steps):
        return "depends on a fix that is not applied"
    return None

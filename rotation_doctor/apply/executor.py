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
from botocore.exceptions import ClientError

from rotation_doctor.analysis import Diagnosis
from rotation_doctor.apply.guardrails import Approval, Mode, Policy, blocked
from rotation_doctor.apply.timing import DEFAULT_WAIT_SECONDS, UNDO_MARGIN_SECONDS
from rotation_doctor.collect.accounts import MemberReads
from rotation_doctor.collect.aws import AwsClients, describe_fatal, error_code
from rotation_doctor.collect.collector import Collector
from rotation_doctor.examine import diagnose_secrets
from rotation_doctor.model.findings import Verdict
from rotation_doctor.model.plan import RULE_NOT_FOUND, Call, Fix, Plan, Step, dig, references, resolve, written_by
from rotation_doctor.model.records import JournalEntry, Leftover
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
    leftovers: list[Leftover] = field(default_factory=list)  # what a failed undo left in the account

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
        out["outcome"] = self.status.value
        out["leftovers"] = [left.to_json() for left in self.leftovers]
        return out


def _plan_json(plan: Plan) -> list[dict[str, Any]]:
    return [f.to_json() for f in plan.fixes]


class ApplyDeadline(Exception):
    """The time budget ran out: stop applying and undo while there is time left."""


class UndoImpossible(Exception):
    pass


Journal = Callable[[JournalEntry], None]
# An undo that finds its target gone has nothing left to do.
GONE = ("NotFound", "NotFoundException", "InvalidPermission.NotFound", "ResourceNotFoundException")


def _outputs(step: Step, response: Any) -> dict[str, Any]:
    """What later steps need from the response, leaving out what is missing (the caller then undoes)."""
    found: dict[str, Any] = {}
    for name, path in step.outputs.items():
        try:
            value = dig(response, path)
        except (KeyError, IndexError, TypeError, ValueError):
            continue
        if value is not None:
            found[name] = value
    return found


def _resolved_undo(step: Step, outputs: Mapping[str, Mapping[str, Any]]) -> Call | None:
    """The undo as it would run now, or None: there is none, or it needs an id that was never returned."""
    if step.undo is None:
        return None
    try:
        return Call(step.undo.service, step.undo.operation, resolve(step.undo.params, outputs))
    except (KeyError, TypeError):
        return None


def _not_moot(leftovers: list[Leftover], applied: list[tuple[FixResult, Step]]) -> list[Leftover]:
    """A change to something the plan created is not left behind once that thing was deleted by its undo
    (a new group's default egress rule, say, whose group is gone): only real leftovers are reported."""
    undone = {step.id for r, step in applied for s in r.steps if s.step == step.id and s.status is StepStatus.UNDONE}
    steps = {step.id: (r, step) for r, step in applied}
    real = []
    for left in leftovers:
        result, step = steps[left.step]
        made_by = {ref for w in step.writes for ref in references(w.id)}
        if made_by and all(w.created_by_plan for w in step.writes) and made_by <= undone:
            entry = next(s for s in result.steps if s.step == step.id)
            entry.status = StepStatus.UNDONE
            entry.error = f"its undo failed ({left.error}), but what it changed was deleted"
            continue
        real.append(left)
    return real


def _resource_of(step: Step, outputs: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The id a leftover is known by: what the step created, else the existing resource it changed."""
    if step.outputs:  # it created something: known by the id AWS returned, or unknown
        produced = [str(v) for v in outputs.get(step.id, {}).values()]
        return produced[0] if produced else None
    try:  # it changed a resource: the one its call named, with the ids earlier steps returned filled in
        changed = written_by(Call(step.call.service, step.call.operation, resolve(step.call.params, outputs)))
    except (KeyError, TypeError):
        return None
    return changed[0].id if changed else None


def refusal_in_answer(output_members: Mapping[str, Any], response: Mapping[str, Any]) -> tuple[str, str] | None:
    """What an answer of HTTP 200 says was not done: (error code, message), or None when it was done.

    Some EC2 calls answer per item or with a flag rather than with an error (their output shapes in botocore's service
    model say which; every write a fix kind makes was checked against them):
    - `Unsuccessful` (DeleteVpcEndpoints): each item it lists, with its `Error`, was not deleted;
    - `UnknownIpPermissions` (RevokeSecurityGroupIngress/Egress): "[Default VPC] If the values you specify do not
      match the existing rule's values, no error is returned, and the output describes the security group rules that
      were not revoked" (EC2 API reference, from memory). Outside a default VPC the same fact is the error
      InvalidPermission.NotFound, so it is raised as that one code: a step that takes a missing rule for done
      (`new_group_steps`' revoke of AWS's default egress) takes it for done, and is never journaled or undone;
      any other step (an undo's revoke) has failed;
    - `Return` (AuthorizeSecurityGroupIngress/Egress, ModifyVpcEndpoint, CreateRoute, DeleteSecurityGroup):
      false when the call did not succeed.
    Read from the shape, so that an operation without such a member is never judged by a key its answer lacks."""
    unsuccessful = response.get("Unsuccessful") if "Unsuccessful" in output_members else None
    if unsuccessful:
        error = unsuccessful[0].get("Error") or {}
        ids = ", ".join(str(item.get("ResourceId")) for item in unsuccessful)
        return str(error.get("Code") or "Unsuccessful"), f"not done for {ids}: {error.get('Message', '')}".strip()
    unknown = response.get("UnknownIpPermissions") if "UnknownIpPermissions" in output_members else None
    if unknown:
        return RULE_NOT_FOUND, f"UnknownIpPermissions: {len(unknown)} rule(s) not matched, so not revoked"
    if "Return" in output_members and response.get("Return") is False:
        return "ReturnFalse", "AWS answered Return: false"
    return None


class StepFailed(Exception):
    def __init__(self, step: Step, error: str) -> None:
        super().__init__(f"{step.id} ({step.call.operation}): {error}")
        self.step = step
        self.error = error


class Executor:
    def __init__(
        self,
        clients: AwsClients,
        policy: Policy,
        *,
        wait_timeout: float = DEFAULT_WAIT_SECONDS,
        poll: float = 5,
        time_left: Callable[[], float] | None = None,
        members: MemberReads | None = None,
    ) -> None:
        """`time_left`: seconds the process has left (a Lambda's remaining time); applying stops in time to undo.
        `members`: organization mode, where the collector reads other accounts' zones and endpoints (`Collector`)."""
        self.clients = clients
        self.policy = policy
        self.collector = Collector(clients, members=members)
        self.wait_timeout = wait_timeout
        self.poll = poll
        self.time_left = time_left

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
        plan = make_plan(snap, diagnosis, prefer_nat=prefer_nat, trusted_prefixes=self.policy.trusted_secret_prefixes)
        return snap, diagnosis, plan

    def run(
        self,
        secret_id: str,
        *,
        approval: Approval | None = None,
        rotation_failed: bool = False,
        retry_rotation: bool | None = None,
        prefer_nat: bool = False,
        journal: Journal | None = None,
    ) -> Outcome:
        """`journal` is told of each write AWS accepted, before the next step runs (see JournalEntry).
        `retry_rotation` (default: the deployment's setting) starts the rotation again once healthy."""
        snap, before, plan = self.assess(secret_id, rotation_failed=rotation_failed, prefer_nat=prefer_nat)
        if plan.empty:
            return Outcome(OutcomeStatus.NOTHING_TO_DO, before, plan)
        if approval is not None and not approval.binds(plan.hash):
            return Outcome(
                OutcomeStatus.STALE,
                before,
                plan,
                reason="the account changed since the plan was approved: re-planned, approve the new plan",
            )
        results: list[FixResult] = []
        allowed: list[Fix] = []
        skipped_outputs: set[str] = set()
        composed_on: Fix | None = None  # a fix the deployment does not permit: every later one was planned on it
        for fix in plan.fixes:
            why = blocked(fix, snap, self.policy, approval) or _needs_skipped(fix, skipped_outputs)
            if why is None and composed_on is not None:
                why = f"planned on {composed_on.kind}, which is not permitted in this deployment"
            if fix.kind in self.policy.not_permitted and composed_on is None:
                composed_on = fix
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
        retry = self.policy.retry_rotation if retry_rotation is None else retry_rotation
        return self._apply(snap.secret.arn, before, plan, allowed, results, retry, journal)

    # ----- applying ----------------------------------------------------------------------------

    def _apply(
        self,
        secret_arn: str,
        before: Diagnosis,
        plan: Plan,
        fixes: list[Fix],
        results: list[FixResult],
        retry_rotation: bool,
        journal: Journal | None = None,
    ) -> Outcome:
        """Apply, verify, and on any failure after the first write undo what was written, in reverse.

        Any failure: a call refused, a wait that never ends, an output missing from a response, the time
        budget spent, the verifying diagnosis failing. What cannot be undone is reported as a leftover.
        """
        deadline = self._deadline()
        outputs: dict[str, Mapping[str, Any]] = {}
        applied: list[tuple[FixResult, Step]] = []  # every step whose call AWS accepted, in order
        by_fix: list[tuple[Fix, FixResult]] = []
        try:
            for fix in fixes:
                result = FixResult(str(fix.kind), FixStatus.APPLIED)
                results.append(result)
                by_fix.append((fix, result))
                for step in fix.steps:
                    self._run_step(step, result, applied, outputs, deadline, journal)
        except Exception as exc:  # whatever failed, the account must end as it was, or say what is left
            failure = str(exc) if isinstance(exc, StepFailed | ApplyDeadline) else describe_fatal(exc)
            log.error("apply failed, undoing %d step(s): %s", len(applied), failure)
            failed_result = by_fix[-1][1]
            for _, r in by_fix:
                r.status = FixStatus.FAILED if r is failed_result else FixStatus.ROLLED_BACK
            return self._ended(before, plan, results, self._undo(applied, outputs), reason=failure)
        try:
            after = self._diagnose(secret_arn)
        except Exception as exc:
            # Unverified changes are not kept: without a diagnosis nobody knows whether they helped.
            for _, r in by_fix:
                r.status = FixStatus.ROLLED_BACK
            reason = f"the diagnosis after applying failed ({describe_fatal(exc)}): every change was undone"
            return self._ended(before, plan, results, self._undo(applied, outputs), reason=reason)
        leftovers: list[Leftover] = []
        if after.verdict is not Verdict.HEALTHY:
            # A fix whose every finding is still there did not work: undo what it made, keep the rest.
            still = {f.code for f in after.findings}
            broken = {id(r) for fix, r in by_fix if set(fix.fixes) <= still}  # by identity: results compare by value
            undo = [(r, step) for r, step in applied if id(r) in broken]
            if undo:
                leftovers = self._undo(undo, outputs)
                for fix, r in by_fix:
                    if id(r) in broken:
                        r.status = FixStatus.ROLLED_BACK
                        r.reason = f"{', '.join(sorted(set(fix.fixes)))} still found after it"
                after = self._diagnose_or(secret_arn, after)
        retried, note = False, None
        if retry_rotation and after.verdict is Verdict.HEALTHY:
            try:
                self.clients.secretsmanager.rotate_secret(SecretId=secret_arn)
                retried = True
            except Exception as exc:  # the fix stands; only the retry did not start
                note = f"the fix is applied, but starting the rotation again failed: {describe_fatal(exc)}"
        if leftovers:
            return self._ended(before, plan, results, leftovers, after=after, retried=retried, reason=note)
        applied_any = any(r.status is FixStatus.APPLIED for r in results)
        final = OutcomeStatus.APPLIED if applied_any else OutcomeStatus.ROLLED_BACK
        return Outcome(final, before, plan, results, after, retried, reason=note)

    def _diagnose_or(self, secret_arn: str, earlier: Diagnosis) -> Diagnosis:
        """A fresh diagnosis after an undo; if it cannot be read, the earlier one (the undo already happened)."""
        try:
            return self._diagnose(secret_arn)
        except Exception as exc:
            log.warning("the diagnosis after undoing failed: %s", describe_fatal(exc))
            return earlier

    @staticmethod
    def _ended(
        before: Diagnosis,
        plan: Plan,
        results: list[FixResult],
        leftovers: list[Leftover],
        *,
        reason: str | None = None,
        after: Diagnosis | None = None,
        retried: bool = False,
    ) -> Outcome:
        """After an undo: rolled back, or, when something could not be undone, rollback_incomplete."""
        if not leftovers:
            return Outcome(OutcomeStatus.ROLLED_BACK, before, plan, results, after, retried, reason=reason)
        left = {id(r) for r in results for s in r.steps if s.status is StepStatus.UNDO_FAILED}
        for r in results:
            if id(r) in left:
                r.status = FixStatus.ROLLBACK_INCOMPLETE
        return Outcome(
            OutcomeStatus.ROLLBACK_INCOMPLETE, before, plan, results, after, retried, reason=reason, leftovers=leftovers
        )

    def _deadline(self) -> float:
        """When applying must stop, leaving time to undo: the configured wait, or the Lambda's time less a margin."""
        budget = self.wait_timeout
        if self.time_left is not None:
            budget = min(budget, self.time_left() - UNDO_MARGIN_SECONDS)
        return time.monotonic() + max(budget, 0)

    def _run_step(
        self,
        step: Step,
        result: FixResult,
        applied: list[tuple[FixResult, Step]],
        outputs: dict[str, Mapping[str, Any]],
        deadline: float,
        journal: Journal | None = None,
    ) -> None:
        if time.monotonic() >= deadline:
            raise ApplyDeadline(f"the time budget ran out before {step.id} ({step.call.operation})")
        params = resolve(step.call.params, outputs)
        try:
            response = self._call(Call(step.call.service, step.call.operation, params))
        except Exception as exc:
            code = error_code(exc)
            if code in step.already_done:
                _already_done(step, code, result, outputs)
                return
            result.steps.append(StepResult(step.id, step.says, StepStatus.FAILED, describe_fatal(exc)))
            raise StepFailed(step, describe_fatal(exc)) from exc
        # AWS accepted it: from here on it is undone on any failure, even one in reading what it returned.
        entry = StepResult(step.id, step.says, StepStatus.APPLIED)
        result.steps.append(entry)
        applied.append((result, step))
        outputs[step.id] = _outputs(step, response)
        if journal is not None:  # a failure to record it is a failure like any other: undone at once
            journal(JournalEntry(step.id, step.says, _resource_of(step, outputs), _resolved_undo(step, outputs)))
        missing = ", ".join(name for name in step.outputs if name not in outputs[step.id])
        if missing:
            entry.status, entry.error = StepStatus.FAILED, f"the response lacks {missing}"
            raise StepFailed(step, f"the response lacks {missing}")
        if step.wait:
            try:
                self._wait(step.wait, outputs[step.id], params, deadline)
            except Exception as exc:
                entry.status, entry.error = StepStatus.FAILED, describe_fatal(exc)
                raise StepFailed(step, f"waiting for {step.wait}: {describe_fatal(exc)}") from exc
        log.info("%s %s: applied", step.id, step.call.operation)

    def _undo(self, applied: list[tuple[FixResult, Step]], outputs: Mapping[str, Mapping[str, Any]]) -> list[Leftover]:
        """Undo in reverse; keep going past a failure, and return what could not be undone."""
        leftovers: list[Leftover] = []
        for result, step in reversed(applied):
            if step.undo is None:
                continue
            entry = next(s for s in result.steps if s.step == step.id)
            undo = _resolved_undo(step, outputs)
            try:
                if undo is None:
                    raise UndoImpossible("the id of what it created was never returned")
                self._call(undo)
                entry.status = StepStatus.UNDONE
            except Exception as exc:
                error = str(exc) if isinstance(exc, UndoImpossible) else error_code(exc)
                entry.status, entry.error = StepStatus.UNDO_FAILED, error
                log.error("undo of %s (%s) failed: %s", step.id, step.undo.operation, error)
                leftovers.append(Leftover(step.id, step.says, _resource_of(step, outputs), undo, error))
        return _not_moot(leftovers, applied)

    def undo_journal(self, entries: list[JournalEntry]) -> list[Leftover]:
        """Undo recorded writes in reverse (after a process died mid-apply); return what could not be undone."""
        leftovers = []
        for entry in reversed(entries):
            if entry.undo is None:
                if entry.resource is None:  # it made something whose id was never returned
                    leftovers.append(Leftover(entry.step, entry.what, None, None, "its id was never returned"))
                continue
            try:
                self._call(entry.undo)
            except Exception as exc:
                code = error_code(exc)
                if not code.endswith(GONE):
                    leftovers.append(Leftover(entry.step, entry.what, entry.resource, entry.undo, code))
        return leftovers

    def _call(self, call: Call) -> Any:
        """Every write, applying and undoing alike. An answer that says (part of) it was not done is an error like
        any other (a ClientError with the item's code), so that a failed undo is never taken for a done one."""
        client = self.clients.client(call.service)
        response = getattr(client, xform_name(call.operation))(**call.params)
        output = client.meta.service_model.operation_model(call.operation).output_shape
        refusal = refusal_in_answer(getattr(output, "members", {}), response)
        if refusal is not None:
            code, message = refusal
            raise ClientError({"Error": {"Code": code, "Message": message}}, call.operation)
        return response

    def _wait(self, name: str, produced: Mapping[str, Any], params: Mapping[str, Any], deadline: float) -> None:
        if name == "vpc_endpoint_available":
            self._poll(
                lambda: (
                    self.clients.ec2.describe_vpc_endpoints(VpcEndpointIds=[produced["VpcEndpointId"]])["VpcEndpoints"][
                        0
                    ]["State"].lower()
                    == "available"
                ),
                deadline,
            )
            return
        if name == "nat_gateway_available":
            waiter_params: dict[str, Any] = {"NatGatewayIds": [produced["NatGatewayId"]]}
            client = self.clients.client("ec2")  # the waiter is named by the step: the untyped client
        else:
            waiter_params = {"FunctionName": params["FunctionName"]}
            client = self.clients.client("lambda")
        left = max(deadline - time.monotonic(), 0)
        client.get_waiter(name).wait(
            **waiter_params,
            WaiterConfig={"Delay": self.poll, "MaxAttempts": max(1, int(left // max(self.poll, 1)))},
        )

    def _poll(self, ready: Callable[[], bool], deadline: float) -> None:
        while not ready():
            if time.monotonic() >= deadline:
                raise ApplyDeadline("timed out waiting for the endpoint to become available")
            time.sleep(min(self.poll, max(deadline - time.monotonic(), 0)))

    def _diagnose(self, secret_arn: str) -> Diagnosis:
        secret = self.collector.describe_secret(secret_arn)
        return diagnose_secrets(self.collector, [secret])[0][1]


def _already_done(step: Step, why: str, result: FixResult, outputs: dict[str, Mapping[str, Any]]) -> None:
    """The change was in place: recorded as such, never journaled and never undone (its undo would add what was
    never there)."""
    log.info("%s %s: already in place (%s)", step.id, step.call.operation, why)
    outputs[step.id] = {}
    result.steps.append(StepResult(step.id, step.says, StepStatus.ALREADY_DONE))


def _needs_skipped(fix: Fix, skipped_steps: set[str]) -> str | None:
    """A fix that uses what a skipped fix would have created cannot run without it."""
    if any(references(step.call.params) & skipped_steps for step in fix.steps):
        return "depends on a fix that is not applied"
    return None

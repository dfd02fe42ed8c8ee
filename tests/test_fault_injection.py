"""Fault injection: whatever fails, wherever, the account ends as planned, as before, or reported exactly.

For every fix kind, hypothesis picks a step of its plan and a way to fail:
- at the call (AWS refuses it),
- at the wait (the endpoint never becomes available, the NAT gateway fails, the function update fails),
- at reading the outputs (the response lacks the id later steps need),
- at the undo (a later step fails, then undoing this one is refused too).
Faults are injected as AWS would answer, through botocore's event hooks on the real clients.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import Phase, given, note, settings
from hypothesis import strategies as st

from rotation_doctor.apply.executor import Executor
from rotation_doctor.apply.guardrails import Approval, Policy
from rotation_doctor.collect.aws import AwsClients
from rotation_doctor.model.findings import Verdict
from rotation_doctor.model.plan import Call, FixKind, Plan, Risk, Step, references
from rotation_doctor.model.states import OutcomeStatus
from rotation_doctor.simulated import simulated_aws
from rotation_doctor.simulated.account import AccountBuilder
from tests.fix_scenarios import BY_KIND, account_state

ANYTHING = Approval("test", max_risk=Risk.NEVER_AUTOMATIC)


@cache
def session_clients() -> AwsClients:
    """Made once (clients are slow to make); each example gets a fresh simulated account."""
    return AwsClients(boto3.session.Session(region_name="us-east-1"), region="us-east-1")


FAULTS = ("call", "wait", "outputs", "undo")
# What a wait reads, and the answer that makes it fail.
WAIT_READS: dict[str, tuple[str, str, Callable[[dict[str, Any]], None]]] = {
    "vpc_endpoint_available": (
        "ec2",
        "DescribeVpcEndpoints",
        lambda parsed: [e.update(State="pending") for e in parsed.get("VpcEndpoints", [])],
    ),
    "nat_gateway_available": (
        "ec2",
        "DescribeNatGateways",
        lambda parsed: [n.update(State="failed") for n in parsed.get("NatGateways", [])],
    ),
    "function_updated_v2": (
        "lambda",
        "GetFunction",
        lambda parsed: parsed.get("Configuration", {}).update(LastUpdateStatus="Failed"),
    ),
}


@dataclass(frozen=True)
class Fault:
    step: int  # index among the plan's steps, in the order they run
    how: str  # one of FAULTS


def refused(operation: str) -> ClientError:
    return ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "injected"}}, operation)


class Injector:
    """Hooks on the clients' event systems; armed for one fault on one step of one run."""

    def __init__(self, clients: AwsClients, steps: list[Step], fault: Fault) -> None:
        self.clients, self.steps, self.fault = clients, steps, fault
        self.target = steps[fault.step]
        # The target's call is the n-th call of its operation: count the earlier steps with the same one.
        self.nth = sum(1 for s in steps[: fault.step] if _same(s.call, self.target.call)) + 1
        self.seen = 0
        self.fired = False
        self.failing_undo: Call | None = None

    def _events(self, service: str) -> Any:
        return self.clients.client(service).meta.events

    @contextmanager
    def armed(self) -> Iterator[None]:
        call = self.target.call
        hooks: list[tuple[str, str, Callable[..., Any]]] = [
            (call.service, f"before-call.{call.service}.{call.operation}", self._before),
            (call.service, f"after-call.{call.service}.{call.operation}", self._after),
        ]
        if self.fault.how == "wait" and self.target.wait in WAIT_READS:
            service, operation, _ = WAIT_READS[self.target.wait]
            hooks.append((service, f"after-call.{service}.{operation}", self._wait_read))
        if self.fault.how == "undo" and self.target.undo is not None:
            undo = self.target.undo
            hooks.append((undo.service, f"before-call.{undo.service}.{undo.operation}", self._undo))
        for service, event, hook in hooks:
            # One id per hook: an undo may be the same operation as the call (UpdateFunctionConfiguration,
            # ModifyVpcAttribute), and botocore drops a second registration under an id it already has.
            self._events(service).register_first(event, hook, unique_id=f"fault-{id(self)}-{event}-{hook.__name__}")
        try:
            yield
        finally:
            for service, event, hook in hooks:
                self._events(service).unregister(event, unique_id=f"fault-{id(self)}-{event}-{hook.__name__}")

    def _before(self, **_: Any) -> None:
        if self.fired and self.fault.how != "undo":
            return
        self.seen += 1
        if self.seen == self.nth and self.fault.how == "call":
            self.fired = True
            raise refused(self.target.call.operation)

    def _after(self, parsed: dict[str, Any], **_: Any) -> None:
        if self.seen == self.nth and not self.fired and self.fault.how == "outputs" and self.target.outputs:
            self.fired = True
            for path in self.target.outputs.values():
                parsed.pop(path.split(".")[0], None)
        if self.seen == self.nth and self.fault.how in ("wait", "undo"):
            self.fired = self.fault.how == "wait" or self.fired

    def _wait_read(self, parsed: dict[str, Any], **_: Any) -> None:
        if self.fired and self.fault.how == "wait" and self.target.wait is not None:
            WAIT_READS[self.target.wait][2](parsed)

    def _undo(self, params: dict[str, Any], **_: Any) -> None:
        if self.fault.how == "undo" and self.undoing:
            raise refused(self.target.undo.operation if self.target.undo else "undo")

    undoing = False


def _same(a: Call, b: Call) -> bool:
    return (a.service, a.operation) == (b.service, b.operation)


def _plan_steps(plan: Plan) -> list[Step]:
    return [step for fix in plan.fixes for step in fix.steps]


def _applicable(steps: list[Step], fault: Fault) -> bool:
    target = steps[fault.step]
    if fault.how == "wait":
        return target.wait in WAIT_READS
    if fault.how == "outputs":
        return bool(target.outputs)
    if fault.how == "undo":
        return target.undo is not None and fault.step < len(steps) - 1
    return True


@pytest.mark.parametrize("kind", sorted(BY_KIND, key=str))
# Each example builds an account and applies a plan (about a second): no shrinking, the fault is printed.
@settings(max_examples=6, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(data=st.data())
def test_any_failure_ends_as_planned_as_before_or_reported_exactly(kind: FixKind, data: st.DataObject) -> None:
    def chosen(steps: list[Step]) -> Fault:
        return data.draw(
            st.builds(Fault, st.integers(0, len(steps) - 1), st.sampled_from(FAULTS)).filter(
                lambda f: _applicable(steps, f)
            ),
            label="fault",
        )

    ends_right(kind, chosen, say=note)


def test_an_undo_that_is_the_same_operation_as_its_call_can_be_refused() -> None:
    """Found by the suite: such an undo's fault was never injected. Pinned here, whatever hypothesis draws."""

    def that_step(steps: list[Step]) -> Fault:
        (i,) = [i for i, s in enumerate(steps) if s.call.operation == "UpdateFunctionConfiguration"]
        return Fault(i, "undo")  # moving the function into the VPC; its undo moves it out again

    ends_right(FixKind.ATTACH_LAMBDA_TO_VPC, that_step, say=lambda _: None)


def ends_right(kind: FixKind, choose: Callable[[list[Step]], Fault], *, say: Callable[[str], None]) -> None:
    clients = session_clients()
    with simulated_aws():
        b = AccountBuilder(clients)
        broken = BY_KIND[kind](b)
        executor = Executor(clients, Policy(), poll=0.01, wait_timeout=2)
        plan = executor.assess(broken.secret, **broken.run)[2]
        steps = _plan_steps(plan)
        assert kind in [f.kind for f in plan.fixes] and steps
        fault = choose(steps)
        say(f"{kind}: {fault} on {steps[fault.step].id} {steps[fault.step].call.operation}")
        before = account_state(b)
        injector = Injector(clients, steps, fault)
        if fault.how == "undo":
            # This step is applied, then a later step fails, then undoing this one is refused.
            later = Fault(fault.step + 1, "call")
            failing_later = Injector(clients, steps, later)
            with injector.armed(), failing_later.armed():
                injector.undoing = False
                original = executor._undo

                def undo_refusing(*args: Any, **kw: Any) -> Any:
                    injector.undoing = True
                    return original(*args, **kw)

                executor._undo = undo_refusing  # type: ignore[method-assign]
                outcome = executor.run(broken.secret, approval=ANYTHING, **broken.run)
        else:
            with injector.armed():
                outcome = executor.run(broken.secret, approval=ANYTHING, **broken.run)

        failed_step = steps[fault.step + 1 if fault.how == "undo" else fault.step]
        assert outcome.reason is not None and failed_step.id in outcome.reason, (fault, outcome.reason)
        if fault.how == "undo" and outcome.status is OutcomeStatus.ROLLBACK_INCOMPLETE:
            # Exactly the steps whose undo was refused are left, each named with the call that removes it.
            target_undo = injector.target.undo
            assert target_undo is not None
            refusable = {s.id for s in steps[: fault.step + 1] if s.undo is not None and _same(s.undo, target_undo)}
            assert {x.step for x in outcome.leftovers} <= refusable
            assert all(x.remove is not None and x.resource for x in outcome.leftovers)
            assert account_state(b) != before
            for x in outcome.leftovers:  # what a person does with the report
                assert x.remove is not None
                executor._call(x.remove)
            assert account_state(b) == before
        elif fault.how == "undo":
            # The refused undo was moot: it changed only what a later undo deleted (a new group's egress rule).
            assert outcome.status is OutcomeStatus.ROLLED_BACK and outcome.leftovers == []
            assert all(w.created_by_plan for w in steps[fault.step].writes)
            assert account_state(b) == before
        elif fault.how == "outputs" and _undo_needs_its_own_output(steps[fault.step]):
            # AWS made it but never said its id: it cannot be undone, and the report says exactly that.
            assert outcome.status is OutcomeStatus.ROLLBACK_INCOMPLETE
            (left,) = outcome.leftovers
            assert left.step == steps[fault.step].id and left.remove is None and left.resource is None
            assert left.what == steps[fault.step].says
        else:
            assert outcome.status is OutcomeStatus.ROLLED_BACK, (fault, outcome.status, outcome.reason)
            assert outcome.leftovers == []
            assert account_state(b) == before, fault


def _undo_needs_its_own_output(step: Step) -> bool:
    return step.undo is not None and step.id in references(step.undo.params)


@pytest.mark.parametrize("kind", sorted(BY_KIND, key=str))
def test_without_a_fault_every_kind_ends_as_planned(kind: FixKind) -> None:
    clients = session_clients()
    with simulated_aws():
        b = AccountBuilder(clients)
        broken = BY_KIND[kind](b)
        outcome = Executor(clients, Policy(), poll=0.01, wait_timeout=5).run(
            broken.secret, approval=ANYTHING, **broken.run
        )
        assert outcome.status is OutcomeStatus.APPLIED and outcome.leftovers == []
        assert outcome.after is not None and outcome.after.verdict is Verdict.HEALTHY

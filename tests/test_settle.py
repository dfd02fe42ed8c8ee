"""The settle window through the real worker handler: change events wait until their place is quiet for the window,
then each affected secret is diagnosed once; redeliveries, two containers and a change during the diagnosis never
diagnose a secret twice for one window nor lose a change; a RotationFailed is never delayed."""

from __future__ import annotations

import io
import json
import threading
import uuid
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import handlers.worker as worker_module
from rotation_doctor.collect.accounts import Place
from rotation_doctor.service.batch import BatchContext
from rotation_doctor.service.events import SettlePlace
from rotation_doctor.service.settle import SettleWindow, item_key, sqs_sender
from rotation_doctor.simulated import scenarios
from rotation_doctor.simulated.account import AccountBuilder
from rotation_doctor.simulated.lambda_runtime import ACCOUNT, SimulatedContext, sqs_event
from tests.worker_events import (
    FICTIONAL_DB_SG,
    FICTIONAL_FN_SG,
    metric_values,
    real_shaped,
    revoke_function_rule,
    rotation_failed,
)

WINDOW = 60
T0 = 1_764_390_000.0


@dataclass
class Clock:
    at: float = T0

    def __call__(self) -> float:
        return self.at


@dataclass
class Container:
    """One worker container: its own Worker (and batch), the shared tables, the queue's delayed messages captured."""

    worker: Any
    clock: Clock
    sent: list[tuple[float, str]]  # (when the message becomes visible, its body), shared by every container
    reports: list[dict[str, Any]] = field(default_factory=list)

    def deliver(self, *bodies: str) -> dict[str, Any]:
        with redirect_stdout(io.StringIO()) as out:  # the EMF metrics, kept for the tests that read them
            answer = dict(worker_module.run(sqs_event(*bodies), SimulatedContext(), self.worker))
            worker_module.metrics.flush_metrics()
        self.emitted = out.getvalue()
        return answer

    def diagnosed(self) -> list[str]:
        """The secrets diagnosed so far by this container (a coalesced mention is no diagnosis)."""
        return [s["secret_name"] for r in self.reports for s in r["secrets"] if s["action"] != "coalesced"]


def container(service: Any, clock: Clock, sent: list[tuple[float, str]], mode: str = "propose") -> Container:
    worker = service.make(mode, ROTATION_DOCTOR_SETTLE_SECONDS=str(WINDOW), EVENTS_QUEUE_URL="https://queue.invalid/q")
    assert worker.settle is not None
    worker.settle.now = clock

    def send(message: SettlePlace, delay: int) -> None:
        sent.append((clock() + delay, message.body()))

    worker.settle.send = send
    made = Container(worker, clock, sent)
    process = worker.process

    def recorded(*, event: dict[str, object]) -> Any:
        report = process(event=event)
        made.reports.append(report)
        return report

    worker.process = recorded
    return made


def due_messages(sent: list[tuple[float, str]], clock: Clock) -> list[str]:
    """The settle messages visible by now, taken off the queue."""
    due = [body for at, body in sent if at <= clock.at]
    sent[:] = [(at, body) for at, body in sent if at > clock.at]
    return due


@pytest.fixture
def orders(builder: AccountBuilder) -> Any:
    o = scenarios.orders(builder, db_admits_function=True, endpoint=True)
    revoke_function_rule(builder, o)
    return o


def revoke(o: Any) -> str:
    return real_shaped("revoke_sg_ingress_items.json", **{FICTIONAL_DB_SG: o.db_sg, FICTIONAL_FN_SG: o.fn_sg})


HUB = Place(ACCOUNT, "us-east-1")  # where the real-shaped events happen: the hub's own account and region


def pending_item(builder: AccountBuilder) -> dict[str, Any] | None:
    """The hub place's pending item, as the proposals table holds it."""
    found: dict[str, Any] | None = builder.clients.dynamodb.get_item(
        TableName="proposals", Key=item_key(HUB), ConsistentRead=True
    ).get("Item")
    return found


def test_changes_wait_for_a_quiet_window_then_each_affected_secret_is_diagnosed_once(
    builder: AccountBuilder, service: Any, orders: Any
) -> None:
    clock, sent = Clock(), []
    hub = container(service, clock, sent)
    builder.clients.counter.calls.clear()
    for at in (0, 10, 20):  # three batches of a Terraform apply, each naming the same group
        clock.at = T0 + at
        assert hub.deliver(revoke(orders), revoke(orders)) == {"batchItemFailures": []}
    reads = [k for k in builder.clients.counter.calls if not k.startswith(("dynamodb:", "sqs:"))]
    assert reads == []  # nothing of the account is read while changes are pending
    assert service.store.list() == [] and hub.diagnosed() == []
    assert len(sent) == 3  # one wake-up a batch, not one an event
    assert "not before 2025-11-29T04:21:20Z" in hub.reports[-1]["note"]  # the window, as people read it
    clock.at = T0 + 70  # the first two batches' messages: the place is not quiet yet (the last change was at 20)
    for body in due_messages(sent, clock):
        hub.deliver(body)
    assert hub.diagnosed() == [] and len(sent) == 1  # the third batch's message is still on its way
    clock.at = T0 + 80
    [body] = due_messages(sent, clock)
    hub.deliver(body)
    assert hub.diagnosed() == [scenarios.DEMO_SECRET]
    [proposal] = service.store.list()
    assert proposal.secret_name == scenarios.DEMO_SECRET
    assert pending_item(builder) is None
    assert metric_values(hub.emitted, "PlacesSettled") == [1.0]
    assert metric_values(hub.emitted, "SettleWaitSeconds") == [80.0]


def test_a_rotation_failure_is_diagnosed_at_once(builder: AccountBuilder, service: Any) -> None:
    o = scenarios.orders(builder)
    clock, sent = Clock(), []
    hub = container(service, clock, sent)
    hub.deliver(rotation_failed(o.secret_arn))
    assert hub.diagnosed() == [scenarios.DEMO_SECRET]
    assert [p.secret_name for p in service.store.list()] == [scenarios.DEMO_SECRET]
    assert sent == [] and pending_item(builder) is None


def test_redelivered_changes_and_settle_messages_diagnose_once(
    builder: AccountBuilder, service: Any, orders: Any
) -> None:
    clock, sent = Clock(), []
    hub = container(service, clock, sent)
    change = revoke(orders)
    hub.deliver(change)
    clock.at = T0 + 5
    hub.deliver(change)  # the same event again (SQS delivers at least once): idempotency answers it
    assert len(sent) == 1
    clock.at = T0 + WINDOW
    [body] = due_messages(sent, clock)
    hub.deliver(body)
    hub.deliver(body)  # the settle message delivered again
    again = json.loads(body) | {"id": str(uuid.uuid4())}  # and a copy under another id: nothing is pending any more
    hub.deliver(json.dumps(again))
    assert hub.diagnosed() == [scenarios.DEMO_SECRET]
    assert len(service.store.list()) == 1


def test_two_containers_racing_for_one_place_diagnose_it_once(
    builder: AccountBuilder, service: Any, orders: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock, sent = Clock(), []
    first = container(service, clock, sent)
    second = container(service, clock, sent)
    first.deliver(revoke(orders))
    second.deliver(revoke(orders))  # another container's batch, the same second: two wake-ups for one window
    clock.at = T0 + WINDOW
    mine, theirs = due_messages(sent, clock)
    inventory = BatchContext._inventory
    raced: list[dict[str, Any]] = []

    def while_diagnosing(scope: Any) -> Any:
        if not raced:  # the second container's wake-up arrives while the first one reads the place
            raced.append(second.deliver(theirs))
        return inventory(scope)

    monkeypatch.setattr(BatchContext, "_inventory", staticmethod(while_diagnosing))
    first.deliver(mine)
    assert raced == [{"batchItemFailures": []}]
    assert first.diagnosed() == [scenarios.DEMO_SECRET] and second.diagnosed() == []
    assert "being diagnosed by another worker" in second.reports[-1]["note"]
    clock.at = T0 + 2 * WINDOW  # the second one looks again a window later: nothing is pending
    [again] = due_messages(sent, clock)
    second.deliver(again)
    assert second.diagnosed() == [] and len(service.store.list()) == 1


def test_two_containers_that_read_the_pending_place_at_once_diagnose_it_once(
    builder: AccountBuilder, service: Any, orders: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock, sent = Clock(), []
    first = container(service, clock, sent)
    second = container(service, clock, sent)
    first.deliver(revoke(orders))
    second.deliver(revoke(orders))
    clock.at = T0 + WINDOW
    wakes = due_messages(sent, clock)
    both_read = threading.Barrier(2, timeout=30)
    read = SettleWindow.read

    def read_then_wait(self: SettleWindow, place: Place) -> Any:
        found = read(self, place)
        both_read.wait()  # each has read the item unclaimed before either claims it
        return found

    monkeypatch.setattr(SettleWindow, "read", read_then_wait)
    answers: list[dict[str, Any]] = []
    threads = [
        threading.Thread(target=lambda c=c, b=b: answers.append(c.deliver(b)))
        for c, b in zip((first, second), wakes, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert answers == [{"batchItemFailures": []}] * 2
    assert sorted(first.diagnosed() + second.diagnosed()) == [scenarios.DEMO_SECRET]
    assert len(service.store.list()) == 1


def test_a_change_during_the_diagnosis_opens_a_new_window(
    builder: AccountBuilder, service: Any, orders: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock, sent = Clock(), []
    first = container(service, clock, sent)
    second = container(service, clock, sent)
    db_change = real_shaped("modify_db_instance.json", **{FICTIONAL_DB_SG: orders.db_sg})
    first.deliver(revoke(orders), db_change)
    clock.at = T0 + WINDOW
    [wake] = due_messages(sent, clock)
    inventory = BatchContext._inventory
    changed: list[str] = []

    def while_diagnosing(scope: Any) -> Any:
        if not changed:  # another container receives a change to the same group while the place is being read
            changed.append("revoke")
            second.deliver(revoke(orders))
        return inventory(scope)

    monkeypatch.setattr(BatchContext, "_inventory", staticmethod(while_diagnosing))
    first.deliver(wake)
    assert first.diagnosed() == [scenarios.DEMO_SECRET]
    assert metric_values(first.emitted, "SettleReopened") == [1.0]
    item = pending_item(builder)
    assert item is not None  # the change that arrived meanwhile is still pending
    named = sorted(k for k in item if k.startswith("t:"))
    # What was named again stays; the database, drained and not named again, is gone.
    assert named == sorted([f"t:id:{orders.db_sg}", f"t:id:{orders.fn_sg}"])
    assert "claim" not in item
    clock.at = T0 + 2 * WINDOW  # its own wake-up: diagnosed again, in its new window
    [body] = due_messages(sent, clock)
    second.deliver(body)
    assert second.diagnosed() == [scenarios.DEMO_SECRET]
    assert pending_item(builder) is None


def test_auto_mode_applies_after_the_settled_diagnosis_only(builder: AccountBuilder, service: Any, orders: Any) -> None:
    clock, sent = Clock(), []
    hub = container(service, clock, sent, mode="auto")
    hub.deliver(revoke(orders))
    ingress = builder.ec2.describe_security_groups(GroupIds=[orders.db_sg])["SecurityGroups"][0]["IpPermissions"]
    assert not any(pair["GroupId"] == orders.fn_sg for p in ingress for pair in p["UserIdGroupPairs"])
    clock.at = T0 + WINDOW
    [body] = due_messages(sent, clock)
    hub.deliver(body)
    ingress = builder.ec2.describe_security_groups(GroupIds=[orders.db_sg])["SecurityGroups"][0]["IpPermissions"]
    assert any(pair["GroupId"] == orders.fn_sg for p in ingress for pair in p["UserIdGroupPairs"])
    assert [s["action"] for r in hub.reports for s in r["secrets"]] == ["applied"]


def test_a_pending_place_whose_wake_up_was_lost_is_diagnosed_by_its_sweep(
    builder: AccountBuilder, service: Any, orders: Any
) -> None:
    clock, sent = Clock(), []
    hub = container(service, clock, sent)
    hub.deliver(revoke(orders))
    sent.clear()  # the message never arrives
    clock.at = T0 + 3600
    hub.deliver(real_shaped("scheduled_sweep.json"))
    assert scenarios.DEMO_SECRET in hub.diagnosed()
    assert pending_item(builder) is None


def test_a_settle_message_carries_no_authority(builder: AccountBuilder, service: Any, orders: Any) -> None:
    clock, sent = Clock(), []
    hub = container(service, clock, sent)
    hub.deliver(revoke(orders))
    forged = SettlePlace("forged", HUB.account, HUB.region, for_change=T0 + 10**6)
    clock.at = T0 + 1  # too early: a message cannot make the place settle before its window
    hub.deliver(forged.body())
    assert hub.diagnosed() == [] and pending_item(builder) is not None
    elsewhere = SettlePlace("elsewhere", "999999999999", "us-east-1", for_change=T0)
    builder.clients.counter.calls.clear()
    hub.deliver(elsewhere.body())  # another account, no member role: not even the table is read for it
    assert hub.diagnosed() == []
    assert not [k for k in builder.clients.counter.calls if k.startswith(("sts:", "dynamodb:GetItem"))]


def test_the_wake_up_is_an_sqs_message_delayed_by_the_window(builder: AccountBuilder) -> None:
    clients = builder.clients
    queue = clients.sqs.create_queue(QueueName="rotation-doctor-events")["QueueUrl"]
    send = sqs_sender(clients, queue)
    send(SettlePlace("settle#x", HUB.account, HUB.region, T0), WINDOW)
    attributes = clients.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"
    assert "Messages" not in clients.sqs.receive_message(QueueUrl=queue)  # not before the window


def test_an_item_grown_too_large_looks_at_everything_rather_than_fail(
    builder: AccountBuilder, service: Any, orders: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    clock, sent = Clock(), []
    hub = container(service, clock, sent)
    dynamodb = hub.worker.settle.clients.dynamodb
    update = dynamodb.update_item

    def too_large(**kwargs: Any) -> Any:  # DynamoDB's answer to an item beyond 400 KB (a flood of distinct names)
        if "last_change = :now" in kwargs.get("UpdateExpression", ""):
            error = {"Code": "ValidationException", "Message": "Item size has exceeded the maximum allowed size"}
            raise ClientError({"Error": error}, "UpdateItem")
        return update(**kwargs)

    monkeypatch.setattr(dynamodb, "update_item", too_large)
    assert hub.deliver(revoke(orders)) == {"batchItemFailures": []}
    monkeypatch.undo()
    item = pending_item(builder)
    assert item is not None and [k for k in item if k.startswith("t:")] == ["t:all"]
    clock.at = T0 + WINDOW
    [body] = due_messages(sent, clock)
    hub.deliver(body)
    assert hub.diagnosed() == [scenarios.DEMO_SECRET]


def test_the_template_sets_the_window_and_lets_the_worker_wake_itself() -> None:
    from cfnlint.decode import decode

    deployed, errors = decode(str(Path(__file__).resolve().parents[1] / "template.yaml"))
    assert not errors and deployed is not None
    parameter = deployed["Parameters"]["SettleWindowSeconds"]
    assert (parameter["Default"], parameter["MinValue"], parameter["MaxValue"]) == (60, 0, 900)
    worker = deployed["Resources"]["WorkerFunction"]["Properties"]
    env = worker["Environment"]["Variables"]
    assert env["ROTATION_DOCTOR_SETTLE_SECONDS"] == {"Ref": "SettleWindowSeconds"}
    assert env["EVENTS_QUEUE_URL"] == {"Ref": "EventsQueue"}
    assert {"SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": ["EventsQueue", "QueueName"]}}} in worker["Policies"]


def test_a_wake_up_that_finds_the_place_being_diagnosed_wakes_it_again_after(
    builder: AccountBuilder, service: Any, orders: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow diagnosis (auto mode waiting on a NAT gateway): a change arrives during it, and that change's own wake-up
    arrives while it still runs. The wake-up it sends itself again must not be answered by the idempotency record of
    the one it replaces: the change would then wait for the place's next change or sweep."""
    clock, sent = Clock(), []
    first = container(service, clock, sent)
    second = container(service, clock, sent)
    first.deliver(revoke(orders))
    clock.at = T0 + WINDOW
    [wake] = due_messages(sent, clock)
    inventory = BatchContext._inventory
    during: list[str] = []

    def slow_diagnosis(scope: Any) -> Any:
        if not during:
            during.append("change")
            second.deliver(revoke(orders))  # a change while the place is being diagnosed
            clock.at += WINDOW  # the diagnosis outlasts the window: the change's wake-up arrives meanwhile
            [its_wake] = due_messages(sent, clock)
            second.deliver(its_wake)
            assert "being diagnosed by another worker" in second.reports[-1]["note"]
        return inventory(scope)

    monkeypatch.setattr(BatchContext, "_inventory", staticmethod(slow_diagnosis))
    first.deliver(wake)
    assert first.diagnosed() == [scenarios.DEMO_SECRET] and pending_item(builder) is not None
    clock.at += WINDOW
    [again] = due_messages(sent, clock)  # the wake-up sent again, a window later
    second.deliver(again)
    assert second.diagnosed() == [scenarios.DEMO_SECRET]  # the change that arrived meanwhile, diagnosed
    assert pending_item(builder) is None


def test_a_sweep_never_clears_a_window_opened_after_it_read_the_place(
    builder: AccountBuilder, service: Any, orders: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sweep reads the pending item, then the place (long); meanwhile a drain empties the item and a new change
    creates it again. The new item must not pass for the one the sweep read (the same version, counted from 1 again):
    the sweep's reading was before that change, and clearing it would lose the change."""
    clock, sent = Clock(), []
    sweeper = container(service, clock, sent)
    other = container(service, clock, sent)
    other.deliver(revoke(orders))
    clock.at = T0 + WINDOW
    [wake] = due_messages(sent, clock)
    inventory = BatchContext._inventory
    during: list[str] = []

    def slow_sweep(scope: Any) -> Any:
        read = inventory(scope)
        if not during:  # the sweep has read the place; before it clears the pending item:
            during.append("drain")
            other.deliver(wake)  # the place's drain empties the item
            other.deliver(revoke(orders))  # and a new change opens a new window
        return read

    monkeypatch.setattr(BatchContext, "_inventory", staticmethod(slow_sweep))
    sweeper.deliver(real_shaped("scheduled_sweep.json"))
    assert pending_item(builder) is not None  # the new change is still pending
    clock.at += WINDOW
    [its_wake] = due_messages(sent, clock)
    diagnosed_before = len(other.diagnosed())
    other.deliver(its_wake)
    assert other.diagnosed()[diagnosed_before:] == [scenarios.DEMO_SECRET]

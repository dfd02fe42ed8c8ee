"""Messages for every kind and channel, within each channel's limits; delivery to SNS and to a real HTTP webhook."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

import pytest

from rotation_doctor.analysis import diagnose
from rotation_doctor.model.plan import FixKind, Risk
from rotation_doctor.model.records import ProposedFix
from rotation_doctor.notify import messages, slack, sns, text
from rotation_doctor.notify.messages import Kind, Links
from rotation_doctor.notify.notifier import Delivery, Notifier, RepeatLog
from rotation_doctor.planning.planner import make_plan
from tests.snapshots import healthy

BROKEN = healthy(vpc_endpoints=())
DIAGNOSIS = diagnose(BROKEN)
PLAN = tuple(ProposedFix.of(f) for f in make_plan(BROKEN).fixes)
LINKS = Links(
    "https://abc.lambda-url.us-east-1.on.aws/proposals/p-1?approve=t1&reject=t2",
    "https://abc.lambda-url.us-east-1.on.aws/proposals/p-1?reject=t2",
    "rotation-doctor proposals approve p-1",
)


def planned(snap: Any) -> tuple[ProposedFix, ...]:
    return tuple(ProposedFix.of(f) for f in make_plan(snap).fixes)


def with_steps(fix: ProposedFix, says: list[str]) -> ProposedFix:
    """`fix` with these lines as its steps (a plan far bigger than any fix kind makes)."""
    return replace(fix, steps=tuple(replace(fix.steps[0], id=f"s{i}", says=s) for i, s in enumerate(says, 1)))


def message(kind: Kind, **kw: Any) -> messages.Message:
    return messages.build(
        kind,
        DIAGNOSIS,
        PLAN,
        mode="propose",
        proposal_id="p-1",
        plan_hash="h" * 64,
        links=LINKS if kind is Kind.PROPOSED else Links(),
        **kw,
    )


@pytest.mark.parametrize("kind", list(Kind))
def test_every_kind_renders_for_every_channel(kind: Kind) -> None:
    msg = message(kind, outcome=("applied CREATE_SECRETSMANAGER_ENDPOINT",))
    subject, body = text.subject(msg), text.body(msg)
    assert len(subject) < 100 and "prod/app" in subject and str(kind) in subject
    first = body.splitlines()[0]
    assert first.startswith("prod/app:")
    if kind not in (Kind.HEALTHY_AGAIN, Kind.SUPERSEDED, Kind.APPLIED_AFTER_APPROVAL, Kind.APPROVED):
        assert "cannot reach Secrets Manager" in first
    assert "SM_NO_PATH: " in body and "+ interface endpoint" in body and "Cost:" in body
    assert ("Review and approve: https://" in body) is (kind is Kind.PROPOSED)
    payload = slack.blocks(msg)
    assert 0 < len(payload) <= slack.MAX_BLOCKS
    assert payload[0]["type"] == "header" and len(payload[0]["text"]["text"]) <= slack.MAX_HEADER
    request = sns.publish_request("arn:aws:sns:us-east-1:123456789012:rd", msg)
    assert request["MessageAttributes"]["secret_name"]["StringValue"] == "prod/app"
    assert json.loads(for_protocol(request, "sqs"))["kind"] == str(kind)
    assert for_protocol(request, "email") == body


def for_protocol(request: Any, protocol: str) -> str:
    """What SNS delivers to a subscriber of this protocol: its own key of the JSON structure, else `default`."""
    structure = json.loads(request["Message"])
    return str(structure.get(protocol, structure["default"]))


def test_proposal_message_has_url_buttons_and_the_exact_changes() -> None:
    payload = slack.blocks(message(Kind.PROPOSED))
    actions = next(b for b in payload if b["type"] == "actions")["elements"]
    assert [(e["text"]["text"], e["url"]) for e in actions] == [
        ("Review and approve", LINKS.approve),
        ("Reject", LINKS.reject),
    ]
    sections = "\n".join(b["text"]["text"] for b in payload if b["type"] == "section")
    assert "CREATE_SECRETSMANAGER_ENDPOINT* (risk medium)" in sections and "private DNS on" in sections


def _texts(block: dict[str, Any]) -> list[str]:
    found = []
    if isinstance(block.get("text"), dict):
        found.append(block["text"]["text"])
    for element in block.get("elements", []):
        if isinstance(element, dict) and "text" in element:
            found.append(element["text"] if isinstance(element["text"], str) else element["text"]["text"])
    return found


def test_a_huge_plan_stays_within_block_kit_limits() -> None:
    fix = with_steps(PLAN[0], [f"+ sg-{i:05d} ingress tcp/5432 <- sg-fn (" + "x" * 200 + ")" for i in range(60)])
    huge = messages.build(Kind.PROPOSED, DIAGNOSIS, [fix] * 80, mode="propose", links=LINKS)
    payload = slack.blocks(huge)
    assert len(payload) <= slack.MAX_BLOCKS and payload[-1]["type"] == "actions"
    assert all(len(t) <= slack.MAX_TEXT for b in payload for t in _texts(b))
    assert len(text.subject(huge)) < 100


def test_sns_readers_get_text_and_machines_get_json(builder: Any) -> None:
    clients = builder.clients
    topic = clients.sns.create_topic(Name="rotation-doctor")["TopicArn"]
    queue = clients.sqs.create_queue(QueueName="subscriber")["QueueUrl"]
    queue_arn = clients.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    clients.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    assert sns.SnsTopic(clients, topic).send(message(Kind.PROPOSED))
    envelope = json.loads(clients.sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"])
    assert envelope["Subject"].startswith("[rotation-doctor] prod/app: proposal created")
    assert json.loads(envelope["Message"])["links"]["approve"] == LINKS.approve
    assert envelope["MessageAttributes"]["verdict"]["Value"] == "broken"


def test_slack_webhook_posts_block_kit_to_the_url_kept_in_secrets_manager(
    builder: Any, webhook_server: dict[str, Any]
) -> None:
    secret = builder.clients.secretsmanager.create_secret(Name="slack/webhook", SecretString=webhook_server["url"])
    hook = slack.SlackWebhook(builder.clients, secret["ARN"])
    assert hook.send(message(Kind.PROPOSED))
    [post] = webhook_server["posts"]
    assert post["path"] == "/services/T000/B000/XXXX" and post["content_type"].startswith("application/json")
    assert post["json"]["blocks"][0]["type"] == "header" and post["json"]["text"].startswith("prod/app:")


def test_slack_failures_are_retried_and_never_raise(builder: Any, webhook_server: dict[str, Any]) -> None:
    secret = builder.clients.secretsmanager.create_secret(Name="slack/webhook", SecretString=webhook_server["url"])
    webhook_server["fail_first"] = 1
    assert slack.SlackWebhook(builder.clients, secret["ARN"]).send(message(Kind.PROPOSED))
    assert len(webhook_server["posts"]) == 2  # one 500, then the retry
    webhook_server["fail_first"] = 10
    assert slack.SlackWebhook(builder.clients, secret["ARN"]).send(message(Kind.APPLIED_AUTOMATICALLY)) is False


def test_repeats_are_suppressed_within_the_window_unless_something_changed(builder: Any) -> None:
    from rotation_doctor.approvals.store import create_table

    create_table(builder.clients, "state")
    sent: list[messages.Message] = []

    class Recorder:
        def send(self, m: messages.Message) -> bool:
            sent.append(m)
            return True

    notifier = Notifier([Recorder()], RepeatLog(builder.clients, "state"))
    assert notifier.notify(message(Kind.PROPOSED)) is Delivery.SENT
    assert notifier.notify(message(Kind.PROPOSED)) is Delivery.REPEAT
    changed = messages.build(
        Kind.PROPOSED,
        diagnose(healthy(vpc_endpoints=(), function_policy=None)),
        PLAN,
        mode="propose",
        plan_hash="h" * 64,
    )
    assert notifier.notify(changed) is Delivery.SENT
    assert notifier.notify(message(Kind.HEALTHY_AGAIN)) is Delivery.SENT
    assert [m.kind for m in sent] == [Kind.PROPOSED, Kind.PROPOSED, Kind.HEALTHY_AGAIN]


def test_strings_from_aws_and_the_secret_cannot_become_slack_links_or_pings() -> None:
    hostile = "<https://evil.example|review and approve> <!channel> & co"
    snap = healthy(vpc_endpoints=())
    snap = replace(snap, secret=replace(snap.secret, name=hostile))
    msg = messages.build(Kind.PROPOSED, diagnose(snap), planned(snap), mode="propose", links=LINKS)
    payload = slack.blocks(msg)
    mrkdwn = [t for block in payload if block["type"] != "header" for t in _texts(block)]
    mrkdwn.append(slack.fallback_text(msg))
    assert any("&lt;!channel&gt;" in t for t in mrkdwn)
    assert not any("<!channel>" in t or "<https://evil" in t for t in mrkdwn)
    # The only links in the message are the approval page's own buttons.
    urls = [e["url"] for b in payload if b["type"] == "actions" for e in b["elements"]]
    assert urls == [LINKS.approve, LINKS.reject]


# ----- what is told once, and what every time ----------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.sent: list[messages.Message] = []

    def send(self, m: messages.Message) -> bool:
        self.sent.append(m)
        return True


def test_decisions_and_reminders_are_told_every_time_and_a_new_round_is_news(builder: Any) -> None:
    from rotation_doctor.approvals.store import create_table

    create_table(builder.clients, "state")
    channel = Recorder()
    notifier = Notifier([channel], RepeatLog(builder.clients, "state"))
    told_each_time = sorted(set(Kind) - messages.TOLD_ONCE_PER_WINDOW)
    assert Kind.REMINDER in told_each_time and Kind.ROLLBACK_INCOMPLETE in told_each_time
    for kind in told_each_time:
        assert notifier.notify(message(kind)) is Delivery.SENT
        assert notifier.notify(message(kind)) is Delivery.SENT, kind
    # The same proposal's round is told once; the plan proposed again (a new generation, new links) is news.
    first, again = (replace(message(Kind.PROPOSED), generation=g) for g in (1, 2))
    assert notifier.notify(first) is Delivery.SENT and notifier.notify(first) is Delivery.REPEAT
    assert notifier.notify(again) is Delivery.SENT
    assert len(channel.sent) == 2 * len(told_each_time) + 2


def test_a_notice_no_channel_took_is_not_remembered_as_told(builder: Any) -> None:
    from rotation_doctor.approvals.store import create_table

    create_table(builder.clients, "state")
    repeats = RepeatLog(builder.clients, "state")

    class Down:
        def send(self, m: messages.Message) -> bool:
            return False

    class Broken:
        def send(self, m: messages.Message) -> bool:
            raise RuntimeError("boom")

    assert Notifier([Down(), Broken()], repeats).notify(message(Kind.PROPOSED)) is Delivery.FAILED
    up = Recorder()
    # Told later (the sweep): not a repeat, since nobody was told. A raising channel keeps it from no other one.
    assert Notifier([Broken(), up], repeats).notify(message(Kind.PROPOSED)) is Delivery.SENT
    assert [m.kind for m in up.sent] == [Kind.PROPOSED]
    assert Notifier([up], repeats).notify(message(Kind.PROPOSED)) is Delivery.REPEAT


def test_every_state_a_decision_leaves_a_proposal_in_has_its_own_message() -> None:
    from rotation_doctor.model.states import ProposalState
    from rotation_doctor.notify.dispatch import DECISION_MESSAGES

    # Proposed is told as a proposal (and reminded); applying is a moment inside the worker, told by how it ends.
    assert set(DECISION_MESSAGES) == set(ProposalState) - {ProposalState.PROPOSED, ProposalState.APPLYING}
    assert len(set(DECISION_MESSAGES.values())) == len(DECISION_MESSAGES)  # a failure is not told as a roll-back
    assert not set(DECISION_MESSAGES.values()) & messages.TOLD_ONCE_PER_WINDOW


# ----- a fix that could not be undone ------------------------------------------------------------

ENDPOINT = "vpce-0a1b2c3d4e5f60718"


def rollback_incomplete(what: str = "+ interface endpoint vpce-new2 in subnet-1, subnet-2") -> messages.Message:
    """What the dispatcher tells when the worker's apply ended in rollback_incomplete: an endpoint whose delete was
    refused, and a group whose id AWS never returned."""
    from rotation_doctor.apply.executor import Leftover, Outcome
    from rotation_doctor.approvals.store import Proposal
    from rotation_doctor.model.plan import Call
    from rotation_doctor.model.states import OutcomeStatus, ProposalState
    from rotation_doctor.notify.dispatch import Dispatcher

    left = [
        Leftover("s3", what, ENDPOINT, Call("ec2", "DeleteVpcEndpoints", {"VpcEndpointIds": [ENDPOINT]}), "Denied"),
        Leftover("s1", "+ security group sg-new1", None, None, "the id of what it created was never returned"),
    ]
    outcome = Outcome(OutcomeStatus.ROLLBACK_INCOMPLETE, diagnose(BROKEN), make_plan(BROKEN), leftovers=left)
    note = "s4 (AuthorizeSecurityGroupIngress): injected; NOT undone: ..."
    history: list[dict[str, str | int]] = [
        {"state": "rollback_incomplete", "by": "approval link (approve)", "note": note, "at": 0}
    ]
    proposal = Proposal(
        id="p-1",
        secret_arn=DIAGNOSIS.secret_arn,
        secret_name="prod/app",
        plan_hash="h" * 64,
        state=ProposalState.ROLLBACK_INCOMPLETE,
        created_at=0,
        expires_at=10**10,
        plan=PLAN,
        diagnosis=DIAGNOSIS,
        history=history,
        max_risk="high",
        generation=7,
    )
    channel = Recorder()
    Dispatcher(Notifier([channel]), "propose").after_decision(proposal, outcome)
    [told] = channel.sent
    return told


def test_a_fix_left_half_done_is_high_priority_and_names_each_leftover_and_how_to_remove_it() -> None:
    msg = rollback_incomplete()
    assert msg.kind is Kind.ROLLBACK_INCOMPLETE and msg.priority is messages.Priority.HIGH
    # E-mail: what on-call reads.
    assert text.subject(msg) == "[rotation-doctor] ACTION NEEDED: prod/app: fix failed, not undone (broken)"
    body = text.body(msg)
    assert body.splitlines()[0] == (
        "prod/app: ACTION NEEDED. The fix failed and undoing it failed too: 2 changes are left in the account; "
        "remove them by hand. Rotation is broken: the function cannot reach Secrets Manager."
    )
    command = (
        f'aws ec2 delete-vpc-endpoints --region us-east-1 --cli-input-json \'{{"VpcEndpointIds":["{ENDPOINT}"]}}\''
    )
    assert (
        "LEFT IN THE ACCOUNT (the undo failed): remove each by hand\n"
        f"  {ENDPOINT}  + interface endpoint vpce-new2 in subnet-1, subnet-2\n"
        "      undo failed: Denied\n"
        f"      remove with: {command}\n"
        "  (id unknown)  + security group sg-new1\n"
        "      undo failed: the id of what it created was never returned\n"
        "      its id was never returned: find it by its tag rotation-doctor:secret=prod/app and remove it\n"
    ) in body
    # SNS: an attribute to filter on, and the leftovers as data.
    request = sns.publish_request("arn:aws:sns:us-east-1:123456789012:rd", msg)
    assert request["MessageAttributes"]["priority"]["StringValue"] == "high"
    assert request["Subject"] == text.subject(msg)
    machine = json.loads(for_protocol(request, "sqs"))
    assert machine["priority"] == "high" and [x["resource"] for x in machine["leftovers"]] == [ENDPOINT, None]
    assert machine["leftovers"][0]["call"] == {
        "service": "ec2",
        "operation": "DeleteVpcEndpoints",
        "params": {"VpcEndpointIds": [ENDPOINT]},
    }
    assert machine["leftovers"][0]["remove"] == command
    # Slack: a ping, and the leftovers before the plan.
    assert slack.fallback_text(msg).startswith("<!here> prod/app: ACTION NEEDED.")
    payload = slack.blocks(msg)
    assert "ACTION NEEDED" in payload[0]["text"]["text"] and payload[1]["text"]["text"].startswith("<!here> ")
    sections = [b["text"]["text"] for b in payload if b["type"] == "section"]
    leftovers = next(i for i, t in enumerate(sections) if t.startswith("*Left in the account"))
    plan = next(i for i, t in enumerate(sections) if "CREATE_SECRETSMANAGER_ENDPOINT" in t)
    assert leftovers < plan and ENDPOINT in sections[leftovers] and f"```{command}```" in sections[leftovers]


def test_leftovers_named_by_aws_cannot_ping_or_link_in_slack() -> None:
    msg = rollback_incomplete(what="+ <!channel> <https://evil.example|remove me>")
    mrkdwn = [t for b in slack.blocks(msg) if b["type"] != "header" for t in _texts(b)]
    assert any("&lt;!channel&gt;" in t for t in mrkdwn)
    assert not any("<!channel>" in t or "<https://evil" in t for t in mrkdwn)
    assert sum(t.count("<!") for t in mrkdwn) == 1  # ours: <!here>, once


def test_slack_keeps_every_leftover_before_the_plan_and_says_what_it_left_out() -> None:
    from rotation_doctor.notify.messages import Leftover

    many = tuple(
        Leftover(f"+ sg-{i:017x} ingress tcp/5432 <- sg-fn", f"sg-{i:017x}", "Denied", f"aws ec2 revoke ... {i}")
        for i in range(30)
    )
    fix = with_steps(PLAN[0], ["+ a change " + "x" * 200] * 5)
    msg = replace(messages.build(Kind.ROLLBACK_INCOMPLETE, DIAGNOSIS, [fix] * 80, mode="propose"), leftovers=many)
    payload = slack.blocks(msg)
    assert len(payload) <= slack.MAX_BLOCKS
    texts = "\n".join(t for b in payload for t in _texts(b))
    assert all(f"sg-{i:017x}" in texts for i in range(30))
    assert "fix(es) of the plan not shown" in texts and "prod/app" in texts


# ----- within SNS's 256 KiB ------------------------------------------------------------------------


def huge_plan(steps: int = 600) -> list[ProposedFix]:
    """Hundreds of steps with long ids (security groups of 17 hex digits, descriptions at AWS's 255)."""
    long = f"({'rotation-doctor: prod/app ' * 9}…)"
    fix = with_steps(PLAN[0], [f"+ sg-{i:017x} ingress tcp/5432 <- sg-{i + 1:017x} {long}" for i in range(steps)])
    return [fix, replace(fix, kind=FixKind.AUTHORIZE_DB_INGRESS, risk=Risk.LOW)]


def test_a_huge_plan_is_shortened_to_fit_sns_and_says_so(builder: Any) -> None:
    huge = messages.build(
        Kind.PROPOSED, DIAGNOSIS, huge_plan(), mode="propose", proposal_id="p-1", plan_hash="h" * 64, links=LINKS
    )
    topic = "arn:aws:sns:us-east-1:123456789012:rd"
    assert sns.request_size(sns._request(topic, huge)) > sns.MAX_PUBLISH_BYTES  # as it is, SNS would refuse it
    request = sns.publish_request(topic, huge)
    # What SNS counts, measured here: the message and every attribute's name, type and value, in UTF-8 bytes.
    size = len(request["Message"].encode()) + sum(
        len(name.encode()) + len(a["DataType"].encode()) + len(a["StringValue"].encode())
        for name, a in request["MessageAttributes"].items()
    )
    assert 256 * 1024 * 0.9 < size <= 256 * 1024  # shortened, not gutted
    machine = json.loads(for_protocol(request, "sqs"))
    assert machine["shortened"]["changes"] > 0 and machine["shortened"]["findings"] == 0
    assert len(machine["plan"][0]["changes"]) > 100 and machine["risk"] == "medium"  # the whole plan's risk
    assert machine["links"] == {"approve": LINKS.approve, "reject": LINKS.reject, "cli": LINKS.cli}
    email = for_protocol(request, "email")
    assert email.splitlines()[2].startswith("This message is shortened to fit the channel's size limit: ")
    assert "changes of the plan not shown" in email.splitlines()[2]
    assert (
        "All of it is on the approval page (Review and approve) and with `rotation-doctor proposals show p-1`" in email
    )
    assert f"Review and approve: {LINKS.approve}" in email
    # Published for real: accepted, and what a queue subscriber reads parses.
    clients = builder.clients
    arn = clients.sns.create_topic(Name="rd")["TopicArn"]
    queue = clients.sqs.create_queue(QueueName="subscriber")["QueueUrl"]
    queue_arn = clients.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    clients.sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)
    assert sns.SnsTopic(clients, arn).send(huge)
    envelope = json.loads(clients.sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"])
    assert json.loads(envelope["Message"])["shortened"]["changes"] == machine["shortened"]["changes"]


def test_shortening_drops_the_plan_before_findings_and_leftovers_last() -> None:
    msg = rollback_incomplete()
    msg = replace(msg, changes=messages.build(Kind.PROPOSED, DIAGNOSIS, huge_plan(50), mode="propose").changes)
    whole = len(text.body(msg))
    kept = messages.fit(msg, lambda m: len(text.body(m)) <= whole // 3)
    assert kept.omitted.changes > 0 and kept.leftovers == msg.leftovers and kept.findings == msg.findings
    bare = messages.fit(msg, lambda m: len(text.body(m)) <= 1500)
    assert bare.changes == () and bare.omitted.leftovers + len(bare.leftovers) == 2
    assert len(text.body(bare)) <= 1500 and "This message is shortened" in text.body(bare)
    assert messages.fit(msg, lambda m: True) is msg


HOSTILE = (
    "<https://evil.example|click here> https://evil.example www.evil.example evil.example @channel @here #general "
    "<!here> <!channel> *bold* _it_ ~gone~ `code` ```block``` &amp;"
)


def test_a_hostile_host_cannot_make_a_link_a_ping_or_formatting_anywhere_in_a_slack_message() -> None:
    """Whatever the secret's `host` holds (and a leftover's text, and an undo's error): shown, never followed. The
    only links are the approval page's buttons; the only ping is ours."""
    from rotation_doctor.model.snapshot import TargetRef

    snap = healthy(vpc_endpoints=(), database=None, target_ref=TargetRef("secret-value", host=HOSTILE, port=5432))
    diagnosis = diagnose(snap)
    assert any(HOSTILE in f.summary for f in diagnosis.findings)  # the host is quoted in a finding
    msg = messages.build(Kind.PROPOSED, diagnosis, planned(snap), mode="propose", links=LINKS)
    msg = replace(
        msg,
        kind=Kind.ROLLBACK_INCOMPLETE,
        outcome=(HOSTILE,),
        costs=(HOSTILE,),
        leftovers=(messages.Leftover(HOSTILE, HOSTILE, HOSTILE, f"aws ec2 delete-vpc-endpoints {HOSTILE}"),),
    )
    payload = slack.blocks(msg)
    objects = [o for b in payload if b["type"] in ("section", "context") for o in _text_objects(b)]
    assert objects and all(o["type"] == "mrkdwn" and o.get("verbatim") is True for o in objects)
    texts = [o["text"] for o in objects] + [slack.fallback_text(msg)]
    assert sum(HOSTILE_MARK in t for t in texts) >= 3  # the host reached the findings, the outcome and the leftovers
    for shown in texts:
        # Slack's markup opens with `<`: the one left is our ping.
        assert shown.replace(slack.PING, "").count("<") == 0
        prose = re.sub(r"```.*?```|`[^`\n]*`", "", shown, flags=re.S)  # Slack links and mentions nothing in code
        assert not re.search(r"https?:/|\w\.\w|[@#]\w|\*bold\*|~gone~", prose), shown
        assert shown.count("```") % 2 == 0 and shown.replace("```", "").count("`") % 2 == 0  # only our own spans
    header = payload[0]["text"]["text"]
    assert payload[0]["text"]["type"] == "plain_text" and not re.search(r"https?:/|\w\.\w|[@#]\w", header)
    urls = [e["url"] for b in payload if b["type"] == "actions" for e in b["elements"]]
    assert urls == [LINKS.approve, LINKS.reject]
    # A command in a code block still runs as written: only the three characters Slack needs escaped, escaped.
    assert any("```aws ec2 delete-vpc-endpoints &lt;https://evil.example|click here&gt;" in t for t in texts)


HOSTILE_MARK = "click here"


def _text_objects(block: dict[str, Any]) -> list[dict[str, Any]]:
    found = [block["text"]] if isinstance(block.get("text"), dict) else []
    return found + [e for e in block.get("elements", []) if isinstance(e, dict) and e.get("type") == "mrkdwn"]


def test_a_slack_post_asks_for_no_link_previews(webhook_server: dict[str, Any], builder: Any) -> None:
    secret = builder.clients.secretsmanager.create_secret(Name="slack/webhook", SecretString=webhook_server["url"])
    assert slack.SlackWebhook(builder.clients, secret["ARN"]).send(message(Kind.PROPOSED))
    [post] = webhook_server["posts"]
    assert post["json"]["unfurl_links"] is False and post["json"]["unfurl_media"] is False

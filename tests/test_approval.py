"""Signed approval links and the approval page, served locally for a proposal on the simulated account; approving
hands the proposal to the worker, which applies it."""

from __future__ import annotations

import base64
import json
import logging
import re
import string
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from rotation_doctor.apply.executor import Executor
from rotation_doctor.apply.guardrails import Mode, Policy
from rotation_doctor.approvals import tokens
from rotation_doctor.approvals.handoff import ApplyApproved
from rotation_doctor.approvals.store import ProposalStore, create_table
from rotation_doctor.approvals.workflow import handle_secret
from rotation_doctor.model.errors import ProposalSuperseded, TokenExpired, TokenInvalid, TokenRefused, TokenSpent
from rotation_doctor.model.states import ProposalState
from rotation_doctor.simulated import scenarios
from rotation_doctor.simulated.account import AccountBuilder
from rotation_doctor.simulated.function_url import serve
from rotation_doctor.simulated.lambda_runtime import SimulatedContext, sqs_event
from tests.conftest import topic_with_inbox

KEY = b"k" * 32
GEN = 1_764_390_000_123_456


def issue(action: str = "approve", *, key: bytes = KEY, generation: int = GEN, **kw: Any) -> str:
    return tokens.issue(key, "p-1", "hash-1", action, generation=generation, **kw)


def verify(token: str, **kw: Any) -> tokens.Claims:
    args: dict[str, Any] = {"proposal_id": "p-1", "plan_hash": "hash-1", "generation": GEN, "action": "approve"} | kw
    key = args.pop("key", KEY)
    return tokens.verify(key, token, **args)


# ----- tokens, pure -----------------------------------------------------------------------------


def test_a_token_verifies_for_exactly_its_proposal_plan_generation_and_action() -> None:
    claims = verify(issue())
    assert claims.proposal_id == "p-1" and claims.action == "approve" and claims.generation == GEN


@pytest.mark.parametrize(
    "change,reason",
    [
        ({"key": b"x" * 32}, "signature"),
        ({"proposal_id": "p-2"}, "another proposal"),
        ({"plan_hash": "hash-2"}, "another version of the plan"),
        ({"generation": GEN + 1}, "earlier proposal of this plan"),
        ({"action": "reject"}, "does not allow reject"),
        ({"now": time.time() + 2 * tokens.DEFAULT_LIFETIME}, "expired"),
    ],
)
def test_refused_tokens(change: dict[str, Any], reason: str) -> None:
    with pytest.raises(TokenRefused, match=reason):
        verify(issue(), **change)


def test_a_tampered_claim_breaks_the_signature() -> None:
    token = issue("reject")
    forged_body = tokens._b64(b'{"a":"approve","exp":9999999999,"g":%d,"h":"hash-1","p":"p-1"}' % GEN)
    with pytest.raises(TokenRefused, match="signature"):
        verify(forged_body + "." + token.split(".")[1])


@pytest.mark.parametrize("junk", ["", "abc", "a.b.c", "!!!.???"])
def test_malformed_tokens(junk: str) -> None:
    with pytest.raises(TokenRefused):
        tokens.verify(KEY, junk, proposal_id="p", plan_hash="h", generation=GEN, action="approve")


def test_refusals_are_typed() -> None:
    token = issue()
    with pytest.raises(TokenExpired):
        verify(token, now=time.time() + 2 * 86400)
    for wrong in ({"proposal_id": "p-2"}, {"plan_hash": "hash-2"}, {"generation": GEN - 1}, {"action": "reject"}):
        with pytest.raises(TokenInvalid):
            verify(token, **wrong)
    with pytest.raises(TokenInvalid):
        verify("abc")


# ----- one spelling only --------------------------------------------------------------------------

B64URL = string.ascii_letters + string.digits + "-_"
# Characters base64 decoders skip, or that stand for `-` and `_` in the standard alphabet.
JUNK = "=~!*$,;:@ \t\n+/"


def lenient(part: str) -> bytes:
    """How the page decoded a token part before: every spelling below decodes to the same bytes this way."""
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def pad(part: str, n: int) -> str:
    return part + "=" * n


def low_bits(part: str, flip: int) -> str:
    """The last character of a part whose length is not a multiple of 4 carries 2 or 4 bits nobody reads."""
    unused = {2: 4, 3: 2}.get(len(part) % 4, 0)
    if not unused or not part or part[-1] not in B64URL:
        return part
    last = B64URL.index(part[-1]) ^ (flip % (1 << unused) or 1)
    return part[:-1] + B64URL[last]


def standard_alphabet(part: str) -> str:
    return part.replace("-", "+").replace("_", "/")


def with_junk(part: str, at: int, char: str) -> str:
    at %= len(part) + 1
    return part[:at] + char + part[at:]


RESPELLINGS: dict[str, Callable[[str], str]] = {
    "a trailing =": lambda p: pad(p, 1),
    "two trailing =": lambda p: pad(p, 2),
    "other unused low bits": lambda p: low_bits(p, 1),
    "+/ for -_": standard_alphabet,
    # Characters outside the alphabet are skipped (four of them, so that the padding still adds up).
    "skipped characters": lambda p: with_junk(p, 5, "~!*$"),
    "line breaks": lambda p: with_junk(with_junk(p, 7, "\n\n"), 20, "\r\n"),
}


@st.composite
def respelled(draw: st.DrawFn, token: str) -> str:
    """`token` spelled another way: one to three respellings of either part or both."""
    parts = token.split(".")
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.sampled_from([0, 1]))
        how = draw(st.sampled_from(["pad", "low bits", "alphabet", "junk"]))
        if how == "pad":
            parts[i] = pad(parts[i], draw(st.integers(1, 3)))
        elif how == "low bits":
            parts[i] = low_bits(parts[i], draw(st.integers(1, 15)))
        elif how == "alphabet":
            parts[i] = standard_alphabet(parts[i])
        else:
            junk = draw(st.text(st.sampled_from(JUNK), min_size=1, max_size=4))
            parts[i] = with_junk(parts[i], draw(st.integers(0, 200)), junk)
    return ".".join(parts)


# Five `?` in a row hold an aligned `???`, which base64 writes with a `_`: the claims then need `-_`.
ODD_HASH = "hash-?????"


def token_with_url_safe_characters() -> tuple[str, int]:
    """A token whose two parts both hold `-` or `_`, so that the standard alphabet spells each differently."""
    for generation in range(GEN, GEN + 1000):
        token = tokens.issue(KEY, "p-1", ODD_HASH, "approve", generation=generation)
        if all(set(part) & {"-", "_"} for part in token.split(".")):
            return token, generation
    raise AssertionError("no such token")


@pytest.mark.parametrize("how", sorted(RESPELLINGS))
@pytest.mark.parametrize("part", [0, 1])
def test_each_other_spelling_decodes_to_the_same_bytes_but_is_refused(how: str, part: int) -> None:
    token, generation = token_with_url_safe_characters()
    parts = token.split(".")
    parts[part] = RESPELLINGS[how](parts[part])
    variant = ".".join(parts)
    assert variant != token
    assert [lenient(p) for p in variant.split(".")] == [lenient(p) for p in token.split(".")]  # a real respelling
    with pytest.raises(TokenInvalid, match="malformed"):
        verify(variant, generation=generation, plan_hash=ODD_HASH)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    key=st.binary(min_size=16, max_size=64),
    pid=st.from_regex(r"p-[0-9a-f]{20}", fullmatch=True),
    generation=st.integers(1, 2**53),
    action=st.sampled_from(tokens.ACTIONS),
    data=st.data(),
)
@example(key=KEY, pid="p-0123456789abcdef0123", generation=GEN, action="approve", data=None)
def test_only_the_canonical_spelling_verifies(key: bytes, pid: str, generation: int, action: str, data: Any) -> None:
    token = tokens.issue(key, pid, "h" * 64, action, generation=generation)
    check = {"proposal_id": pid, "plan_hash": "h" * 64, "generation": generation, "action": action}
    assert tokens.verify(key, token, **check).generation == generation
    # The explicit example: a trailing `=` on the signature.
    variant = token + "=" if data is None else data.draw(respelled(token))
    assume(variant != token)
    try:
        same = [lenient(p) for p in variant.split(".")] == [lenient(p) for p in token.split(".")]
    except ValueError:
        same = False
    assume(same)  # the same bytes: a token the lenient decoder would have taken for this one
    with pytest.raises(TokenInvalid, match="malformed"):
        tokens.verify(key, variant, **check)


# ----- the page, over HTTP ------------------------------------------------------------------------


@pytest.fixture
def page(builder: AccountBuilder, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    import handlers.approval as approval
    import handlers.worker as worker_module

    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "RotationDoctor")
    clients = builder.clients
    orders = scenarios.orders(builder)
    create_table(clients, "proposals")
    create_table(clients, "idempotency")
    secret = clients.secretsmanager.create_secret(Name="rotation-doctor/approval-key", SecretString=KEY.decode())
    queue = clients.sqs.create_queue(QueueName="rotation-doctor-events")["QueueUrl"]
    topic, inbox = topic_with_inbox(clients)
    store = ProposalStore(clients, "proposals")
    executor = Executor(clients, Policy(mode=Mode.PROPOSE), poll=0.01)
    proposal = handle_secret(executor, store, scenarios.DEMO_SECRET).proposal
    assert proposal is not None
    env = {
        "PROPOSALS_TABLE": "proposals",
        "SIGNING_KEY_SECRET_ARN": secret["ARN"],
        "EVENTS_QUEUE_URL": queue,
        "NOTIFICATION_TOPIC_ARN": topic,
    }
    deps = approval.build_approvals(env, clients)
    published: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        published.append(dict(params))

    clients.sns.meta.events.register("before-parameter-build.sns.Publish", record, unique_id="published")

    def queued() -> list[str]:
        """What the approval function sent to the worker's queue (and takes it off the queue)."""
        got = clients.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        for m in got:
            clients.sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
        return [m["Body"] for m in got]

    def work(*bodies: str) -> dict[str, Any]:
        """The worker Lambda, handed these messages by SQS."""
        return dict(worker_module.run(sqs_event(*bodies), SimulatedContext(), ns.worker))

    def told() -> list[dict[str, Any]]:
        """What a queue subscribed to the topic received since last asked (the JSON form), in order."""
        got = []
        while batch := clients.sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10).get("Messages", []):
            for m in batch:
                clients.sqs.delete_message(QueueUrl=inbox, ReceiptHandle=m["ReceiptHandle"])
            got += batch
        return [json.loads(json.loads(m["Body"])["Message"]) for m in got]

    def emails() -> list[tuple[str, str]]:
        """What an e-mail subscriber reads of each message published since last asked: (subject, body)."""
        found = [(str(r["Subject"]), str(json.loads(r["Message"])["email"])) for r in published]
        published.clear()
        return found

    def links(p: Any) -> tuple[str, str]:
        return (
            tokens.issue(KEY, p.id, p.plan_hash, "approve", generation=p.generation),
            tokens.issue(KEY, p.id, p.plan_hash, "reject", generation=p.generation),
        )

    approve, reject = links(proposal)
    try:
        with serve(lambda event, context: approval.run(event, context, deps)) as base:

            def make_worker(**extra: str) -> Any:
                """The worker, its links pointing at this page (as the template sets APPROVAL_URL)."""
                worker_env = {
                    "PROPOSALS_TABLE": "proposals",
                    "IDEMPOTENCY_TABLE": "idempotency",
                    "NOTIFICATION_TOPIC_ARN": topic,
                    "SIGNING_KEY_SECRET_ARN": secret["ARN"],
                    "APPROVAL_URL": base,
                    **extra,
                }
                ns.worker = worker_module.build_worker(worker_env, clients)
                ns.worker.executor.poll = 0.01
                return ns.worker

            ns = SimpleNamespace(
                base=base,
                url=f"{base}/proposals/{proposal.id}",
                proposal=proposal,
                approve=approve,
                reject=reject,
                store=store,
                deps=deps,
                executor=executor,
                links=links,
                queued=queued,
                work=work,
                told=told,
                emails=emails,
                make_worker=make_worker,
                ec2=clients.ec2,
                orders=orders,
                builder=builder,
                link=f"{base}/proposals/{proposal.id}?{urlencode({'approve': approve, 'reject': reject})}",
            )
            make_worker()
            yield ns
    finally:
        clients.sns.meta.events.unregister("before-parameter-build.sns.Publish", unique_id="published")


def http(url: str, form: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    data = urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if form is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def assert_secure(headers: dict[str, str]) -> None:
    assert headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert headers["X-Frame-Options"] == "DENY" and headers["Cache-Control"] == "no-store"
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"] == "no-referrer"


def refresh_of(body: str) -> str | None:
    found = re.search(r'<meta http-equiv="refresh" content="([^"]*)">', body)
    return found.group(1) if found else None


def test_get_shows_the_proposal_and_changes_nothing(page: Any) -> None:
    status, headers, body = http(page.link)
    assert status == 200
    assert "CREATE_SECRETSMANAGER_ENDPOINT" in body and "Approve and apply" in body and "SM_NO_PATH" in body
    assert_secure(headers)
    assert "<script" not in body and refresh_of(body) is None
    assert page.store.get(page.proposal.id).state == "proposed" and page.queued() == []


def test_a_get_that_tries_to_approve_changes_nothing(page: Any) -> None:
    status, _, _ = http(f"{page.url}?{urlencode({'action': 'approve', 'token': page.approve})}")
    assert status == 403  # no approve= or reject= link token: nothing to show, and nothing done
    assert page.store.get(page.proposal.id).state == "proposed" and page.queued() == []


def test_approving_on_the_page_hands_the_proposal_to_the_worker_which_applies_it(page: Any) -> None:
    status, headers, body = http(page.url, {"action": "approve", "token": page.approve})
    assert status == 202 and 'id="outcome">Approved, applying<' in body
    assert_secure(headers)
    assert "<script" not in body
    # The answer sends the browser on to the proposal's page by GET: reloading it never approves again.
    assert refresh_of(body) == f"5; url=/proposals/{page.proposal.id}?{urlencode({'approve': page.approve})}"
    approved = page.store.get(page.proposal.id)
    assert approved.state == "approved" and approved.history[-1]["by"] == "approval link (approve)"

    [sent] = page.queued()
    handoff = ApplyApproved(page.proposal.id, page.proposal.generation, "approval link (approve)")
    assert json.loads(sent) == {
        "kind": "apply-approved-proposal",
        "version": 1,
        "id": f"apply#{page.proposal.id}#{page.proposal.generation}",
        "proposal_id": page.proposal.id,
        "generation": page.proposal.generation,
        "by": "approval link (approve)",
        "signature": handoff.signature(KEY),  # with the key derived from the links' for hand-offs
    }
    assert page.ec2.describe_vpc_endpoints()["VpcEndpoints"] == []  # nothing written: that is the worker's
    assert [m["kind"] for m in page.told()] == ["fix approved, applying"]  # told by the page, on the topic
    status, headers, body = http(page.link)
    assert status == 200 and 'id="outcome">Approved, applying<' in body and refresh_of(body) == "5"
    assert "Approve and apply" not in body
    assert_secure(headers)

    assert page.work(sent) == {"batchItemFailures": []}
    status, _, body = http(page.link)
    assert status == 200 and 'id="outcome">Applied<' in body and "healthy after" in body
    assert refresh_of(body) is None  # ended: no more reloading
    assert page.store.get(page.proposal.id).state == "applied"
    assert [m["kind"] for m in page.told()] == ["fix applied after approval"]  # told by the worker


def test_the_page_shows_a_stale_plan_was_not_applied(page: Any) -> None:
    """The account changed between the approval and the worker: nothing is written, the page says so, and the new
    plan is proposed (and told) afresh."""
    from rotation_doctor.simulated.account import tcp

    assert http(page.url, {"action": "approve", "token": page.approve})[0] == 202
    o = page.orders
    page.ec2.authorize_security_group_ingress(GroupId=o.db_sg, IpPermissions=[tcp(5432, group=o.fn_sg)])
    page.work(*page.queued())
    status, _, body = http(page.link)
    assert status == 200 and 'id="outcome">Not applied: the account changed<' in body
    assert "approve the new plan" in body and refresh_of(body) is None
    assert page.store.get(page.proposal.id).state == "expired"
    assert page.ec2.describe_vpc_endpoints()["VpcEndpoints"] == []
    told = [m["kind"] for m in page.told()]
    assert told == ["fix approved, applying", "proposal expired", "proposal created"]


def test_the_page_shows_a_rollback(page: Any) -> None:
    from tests.faults import fail_nth

    assert http(page.url, {"action": "approve", "token": page.approve})[0] == 202
    stop = fail_nth(page.builder, "CreateVpcEndpoint", 1)
    try:
        page.work(*page.queued())
    finally:
        stop()
    status, _, body = http(page.link)
    assert status == 200 and 'id="outcome">Rolled back<' in body and "injected" in body
    assert refresh_of(body) is None and "Approve and apply" not in body


def test_a_second_click_is_refused(page: Any) -> None:
    assert http(page.url, {"action": "approve", "token": page.approve})[0] == 202
    status, _, body = http(page.url, {"action": "approve", "token": page.approve})
    assert status == 409 and "already been used" in body
    assert len(page.queued()) == 1


def test_a_decision_is_spent_once_whichever_link_spells_it(page: Any) -> None:
    """Two links for the same decision (a reminder sends new ones, with a later expiry): one works, once."""
    later = tokens.issue(
        KEY, page.proposal.id, page.proposal.plan_hash, "approve", generation=page.proposal.generation, lifetime=7200
    )
    assert later != page.approve
    assert http(page.url, {"action": "approve", "token": page.approve})[0] == 202
    status, _, body = http(page.url, {"action": "approve", "token": later})
    assert status == 409 and "already been used" in body
    claims = tokens.verify(
        KEY,
        later,
        proposal_id=page.proposal.id,
        plan_hash=page.proposal.plan_hash,
        generation=page.proposal.generation,
        action="approve",
    )
    with pytest.raises(TokenSpent):
        page.deps.used.use(claims)


def test_every_other_spelling_of_a_spent_link_is_refused_as_not_ours(page: Any) -> None:
    assert http(page.url, {"action": "approve", "token": page.approve})[0] == 202
    body_part, signature = page.approve.split(".")
    variants = {
        f"{how} ({where})": v
        for how, respell in RESPELLINGS.items()
        for where, v in (
            ("claims", f"{respell(body_part)}.{signature}"),
            ("signature", f"{body_part}.{respell(signature)}"),
        )
        if v != page.approve
    }
    assert len(variants) >= 8
    for how, variant in variants.items():
        status, _, body = http(page.url, {"action": "approve", "token": variant})
        assert (status, "malformed" in body) == (403, True), how
    assert len(page.queued()) == 1  # the one approval


def test_the_page_picks_409_by_the_refusal_type_not_its_words(page: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A spent link is 409 whatever its message says; any other refusal is 403 even if it says "already"."""
    used = page.deps.used

    def spent(claims: tokens.Claims, **_: Any) -> None:
        raise TokenSpent("this link was used before")

    monkeypatch.setattr(used, "use", spent)
    status, _, body = http(page.url, {"action": "approve", "token": page.approve})
    assert status == 409 and "this link was used before" in body

    def invalid(claims: tokens.Claims, **_: Any) -> None:
        raise TokenInvalid("already a bad link")

    monkeypatch.setattr(used, "use", invalid)
    status, _, body = http(page.url, {"action": "approve", "token": page.approve})
    assert status == 403 and "already a bad link" in body
    assert page.store.get(page.proposal.id).state == "proposed"


def test_a_decided_proposal_answers_409_to_its_other_link(page: Any) -> None:
    """Approved through one link and applied; the unused reject link finds it decided (AlreadyDecided): 409."""
    assert http(page.url, {"action": "approve", "token": page.approve})[0] == 202
    page.work(*page.queued())
    status, _, body = http(page.url, {"action": "reject", "token": page.reject})
    assert status == 409 and "Refused" in body
    assert page.store.get(page.proposal.id).state == "applied"


def test_rejecting_while_the_worker_has_not_applied_yet_wins(page: Any) -> None:
    """Approved, then rejected before the worker ran: the hand-off finds nothing approved and writes nothing."""
    assert http(page.url, {"action": "approve", "token": page.approve})[0] == 202
    status, _, body = http(page.url, {"action": "reject", "token": page.reject})
    assert status == 200 and "Rejected" in body
    page.work(*page.queued())
    assert page.store.get(page.proposal.id).state == "rejected"
    assert page.ec2.describe_vpc_endpoints()["VpcEndpoints"] == []


def test_no_such_proposal_is_404(page: Any) -> None:
    token = tokens.issue(KEY, "p-nope", page.proposal.plan_hash, "approve", generation=GEN)
    assert http(f"{page.base}/proposals/p-nope?{urlencode({'approve': token})}")[0] == 404
    assert http(f"{page.base}/proposals/p-nope", {"action": "approve", "token": token})[0] == 404


# ----- every answer carries the security headers ----------------------------------------------------------------


def direct(page: Any, method: str, path: str, form: bytes = b"", **event: Any) -> dict[str, Any]:
    """The handler called as Lambda calls it, for requests the local server does not send (PUT, a bad body, ...)."""
    import handlers.approval as approval
    from rotation_doctor.simulated.function_url import to_event

    raw = to_event(method, path, {"content-type": "application/x-www-form-urlencoded"}, form, "page.example") | event
    context = SimulatedContext(function_name="rotation-doctor-approval")
    return dict(approval.run(raw, context, page.deps))


def failing(exc: Exception) -> Callable[..., Any]:
    def fail(*_: Any, **__: Any) -> Any:
        raise exc

    return fail


def answer(page: Any, how: str, monkeypatch: pytest.MonkeyPatch) -> tuple[int, dict[str, str], str]:
    """One request of each kind the page can answer, and its status, headers and body."""
    path = f"/proposals/{page.proposal.id}"
    form = urlencode({"action": "approve", "token": page.approve}).encode()
    if how == "proposal":
        return http(page.link)
    if how == "approve":
        return http(page.url, {"action": "approve", "token": page.approve})
    if how == "approve twice":
        http(page.url, {"action": "approve", "token": page.approve})
        return http(page.url, {"action": "approve", "token": page.approve})
    if how == "no token":
        return http(page.url)
    if how == "unknown path":
        return http(f"{page.base}/admin")
    if how == "no such proposal":
        return http(f"{page.base}/proposals/p-nope", {"action": "approve", "token": page.approve})
    if how == "worker queue down":
        monkeypatch.setattr(page.deps.worker, "send", failing(RuntimeError("queue down")))
        return http(page.url, {"action": "approve", "token": page.approve})
    if how == "exception in a route":
        monkeypatch.setattr(page.deps.store, "get", failing(RuntimeError("DynamoDB is having a day")))
        return http(page.link)
    response: dict[str, Any]
    if how in ("PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"):
        response = direct(page, how, path)
    elif how == "unknown action":
        response = direct(page, "POST", path, urlencode({"action": "apply", "token": page.approve}).encode())
    elif how == "not base64":
        response = direct(page, "POST", path, form, body="%%%not base64%%%", isBase64Encoded=True)
    elif how == "not UTF-8":
        response = direct(
            page, "POST", path, form, body=base64.b64encode(b"\xff\xfe" + form).decode(), isBase64Encoded=True
        )
    elif how == "too many fields":
        response = direct(page, "POST", path, form + b"&x=1" * 20)
    elif how == "not a function URL event":
        response = direct(page, "GET", path, requestContext=None, rawPath=None)
    else:
        raise AssertionError(how)
    return int(response["statusCode"]), dict(response["headers"]), str(response["body"])


@pytest.mark.parametrize(
    "how,status",
    [
        ("proposal", 200),
        ("approve", 202),
        ("unknown action", 400),
        ("not base64", 400),
        ("not UTF-8", 400),
        ("too many fields", 400),
        ("no token", 403),
        ("unknown path", 404),
        ("no such proposal", 404),
        ("PUT", 405),
        ("DELETE", 405),
        ("PATCH", 405),
        ("HEAD", 405),
        ("OPTIONS", 405),
        ("approve twice", 409),
        ("exception in a route", 500),
        ("not a function URL event", 500),
        ("worker queue down", 503),
    ],
)
def test_every_answer_carries_the_security_headers(
    page: Any, monkeypatch: pytest.MonkeyPatch, how: str, status: int
) -> None:
    got, headers, body = answer(page, how, monkeypatch)
    assert got == status, body[:300]
    assert_secure(headers)
    assert headers["Content-Type"] == "text/html; charset=utf-8" and body.startswith("<!doctype html>")
    if status == 405:
        assert headers["Allow"] == "GET, POST"
    if status >= 500:
        assert "DynamoDB is having a day" not in body and "Traceback" not in body  # the log has it, not the page


def test_a_request_it_cannot_read_changes_nothing(page: Any) -> None:
    path = f"/proposals/{page.proposal.id}"
    for body in (urlencode({"action": "apply", "token": page.approve}).encode(), b"action=approve&" + b"x=1&" * 20):
        assert direct(page, "POST", path, body)["statusCode"] == 400
    assert page.store.get(page.proposal.id).state == "proposed" and page.queued() == []
    assert http(page.url, {"action": "approve", "token": page.approve})[0] == 202  # the link is not spent


def test_a_failure_inside_a_route_is_logged_briefly(
    page: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def ping(n: int) -> int:
        return pong(n + 1)

    def pong(n: int) -> int:
        return ping(n + 1)

    monkeypatch.setattr(page.deps.store, "get", lambda _id: ping(0))
    assert http(page.link)[0] == 500
    [record] = [r for r in caplog.records if r.getMessage() == "the request failed"]
    assert record.error.startswith("RecursionError") and len(record.traceback) <= 4000  # type: ignore[attr-defined]
    assert record.exc_info is None  # not Powertools' whole traceback: a thousand frames


def test_reject_link_rejects_and_tells(page: Any) -> None:
    status, headers, body = http(page.url, {"action": "reject", "token": page.reject})
    assert status == 200 and "Rejected" in body and page.store.get(page.proposal.id).state == "rejected"
    assert_secure(headers)
    assert page.queued() == []
    assert [m["kind"] for m in page.told()] == ["proposal rejected"]


@pytest.mark.parametrize(
    "token_for", ["forged", "other_proposal", "other_plan", "expired", "wrong_action", "other_round"]
)
def test_bad_tokens_are_refused_and_change_nothing(page: Any, token_for: str) -> None:
    p = page.proposal
    token = {
        "forged": tokens.issue(b"not-the-key" * 3, p.id, p.plan_hash, "approve", generation=p.generation),
        "other_proposal": tokens.issue(KEY, "p-someone-else", p.plan_hash, "approve", generation=p.generation),
        "other_plan": tokens.issue(KEY, p.id, "0" * 64, "approve", generation=p.generation),
        "expired": tokens.issue(
            KEY, p.id, p.plan_hash, "approve", generation=p.generation, now=time.time() - 2 * tokens.DEFAULT_LIFETIME
        ),
        "wrong_action": page.reject,
        "other_round": tokens.issue(KEY, p.id, p.plan_hash, "approve", generation=p.generation - 1),
    }[token_for]
    status, _, body = http(page.url, {"action": "approve", "token": token})
    assert status == 403 and "Refused" in body
    assert page.store.get(p.id).state == "proposed" and page.queued() == []


# ----- a plan proposed again ------------------------------------------------------------------------


def test_an_old_link_is_refused_once_the_plan_is_proposed_again(page: Any) -> None:
    """Rejected, then the same plan raised again: the first round's unused approve link approves nothing."""
    assert http(page.url, {"action": "reject", "token": page.reject})[0] == 200
    again = handle_secret(page.executor, page.store, scenarios.DEMO_SECRET)
    assert again.proposal is not None and again.proposal_is_new
    assert again.proposal.id == page.proposal.id and again.proposal.generation > page.proposal.generation

    status, _, body = http(page.url, {"action": "approve", "token": page.approve})
    assert status == 403 and "earlier proposal of this plan" in body
    assert http(page.link)[0] == 403  # viewing with the old links, too
    assert page.store.get(page.proposal.id).state == "proposed" and page.queued() == []

    approve, _ = page.links(again.proposal)  # the new round's links work
    assert http(page.url, {"action": "approve", "token": approve})[0] == 202
    [sent] = page.queued()
    assert json.loads(sent)["generation"] == again.proposal.generation


def test_a_decision_for_an_earlier_round_is_refused_by_the_store(page: Any) -> None:
    """The write itself is conditional on the generation: a link checked against the old round, racing a new
    proposal, decides nothing."""
    old = page.proposal
    page.store.reject(old.id, by="oncall")
    again = handle_secret(page.executor, page.store, scenarios.DEMO_SECRET).proposal
    assert again is not None and again.generation > old.generation
    with pytest.raises(ProposalSuperseded):
        page.store.approve(old.id, by="old link", generation=old.generation)
    with pytest.raises(ProposalSuperseded):
        page.store.reject(old.id, by="old link", generation=old.generation)
    assert page.store.get(old.id).state == "proposed"
    assert page.store.approve(old.id, by="new link", generation=again.generation).state == "approved"


def test_history_survives_a_re_proposal(page: Any) -> None:
    pid = page.proposal.id
    page.store.reject(pid, by="alice", note="will fix in Terraform")
    again = handle_secret(page.executor, page.store, scenarios.DEMO_SECRET).proposal
    assert again is not None and again.id == pid
    stored = page.store.get(pid)
    assert [(e["state"], e["by"]) for e in stored.history] == [
        ("proposed", "rotation-doctor"),
        ("rejected", "alice"),
        ("proposed", "rotation-doctor"),
    ]
    assert stored.history[1]["note"] == "will fix in Terraform" and "proposed again" in stored.history[2]["note"]
    assert again.history == stored.history and stored.generation == again.generation
    # Raised once more while open: the same round, nothing added.
    same = handle_secret(page.executor, page.store, scenarios.DEMO_SECRET)
    assert same.proposal is not None and not same.proposal_is_new
    assert page.store.get(pid).history == stored.history and page.store.get(pid).generation == stored.generation


def test_values_from_aws_are_escaped(page: Any) -> None:
    from rotation_doctor.approvals.page import outcome_page, proposal_page

    hostile = page.store.get(page.proposal.id)
    hostile = type(hostile)(**{**vars(hostile), "secret_name": "<script>alert(1)</script>"})
    html = proposal_page(hostile, approve_token="t", reject_token=None, action_path="/x")
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    boom = [{"state": "failed", "by": "x", "note": "<b>boom</b>"}]
    noted = type(hostile)(**{**vars(hostile), "state": ProposalState.FAILED, "history": boom})
    html = proposal_page(noted, approve_token=None, reject_token=None, action_path="/x")
    assert "<b>boom</b>" not in html and "&lt;b&gt;boom&lt;/b&gt;" in html
    html = outcome_page(hostile, "Approved, applying", "x", follow='/p?approve=a"><script>')
    assert '"><script>' not in html


# ----- in a real browser ------------------------------------------------------------------------


@pytest.fixture
def browser(tmp_path: Any) -> Iterator[Any]:
    """Headless Chromium from Debian's packages, driven by Selenium (no browser download, no network)."""
    import os

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not try to fetch a driver
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.mark.browser
def test_approve_in_a_real_browser_the_worker_applies_and_a_second_click_is_refused(page: Any, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 60)
    browser.get(page.link)
    first = browser.current_window_handle
    assert browser.find_element(By.ID, "state").text == "proposed"
    assert "AUTHORIZE_DB_INGRESS" in browser.page_source
    browser.switch_to.new_window("tab")  # a second person, or a second tab, with the same link open
    browser.get(page.link)
    second = browser.current_window_handle

    browser.switch_to.window(first)
    browser.find_element(By.ID, "approve").click()
    wait.until(expected_conditions.text_to_be_present_in_element((By.ID, "outcome"), "Approved, applying"))
    assert browser.find_element(By.ID, "state").text == "approved"
    # The answer moves the browser on to the proposal's page (a GET), which keeps reloading while it waits.
    wait.until(lambda b: "?approve=" in b.current_url)
    wait.until(expected_conditions.text_to_be_present_in_element((By.ID, "outcome"), "Approved, applying"))
    assert browser.find_element(By.ID, "state").text == "approved"

    [sent] = page.queued()  # what the approval function handed to the worker
    assert page.work(sent) == {"batchItemFailures": []}
    wait.until(expected_conditions.text_to_be_present_in_element((By.ID, "outcome"), "Applied"))  # reloaded by itself
    assert browser.find_element(By.ID, "state").text == "applied"
    assert "healthy after" in browser.find_element(By.ID, "detail").text
    assert page.store.get(page.proposal.id).state == "applied"
    browser.refresh()  # a GET: shows the same, decides nothing
    assert browser.find_element(By.ID, "outcome").text == "Applied"

    browser.switch_to.window(second)
    browser.find_element(By.ID, "approve").click()
    wait.until(expected_conditions.text_to_be_present_in_element((By.ID, "outcome"), "Refused"))
    assert "already been used" in browser.find_element(By.ID, "reason").text
    assert page.queued() == []


def test_the_page_draws_each_path_and_each_step_points_at_the_hop_it_opens(page: Any) -> None:
    """The demo's broken account: the route table blocks the way to Secrets Manager, the database's group the way to
    the database. The page draws both paths, marks those hops, and the plan's steps link to them."""
    _, _, body = http(page.link)
    rtb = page.orders.net.tables["private"]
    blocked = re.findall(r'<g class="hop blocks" id="(hop-[a-z]+-\d+)"', body)
    assert blocked == ["hop-sm-2", "hop-db-6"]
    sm = body[body.index('id="hop-sm-2"') :]
    assert sm.index(rtb) < sm.index("</g>") and "route for 0.0.0.0/0: no route" in sm
    db = body[body.index('id="hop-db-6"') :]
    assert db.index(page.orders.db_sg) < db.index("</g>") and "blocked here" in db[: db.index("</g>")]
    # The ingress rule on the database's group opens hop 6; the new endpoint goes around the route table.
    sg = page.orders.db_sg
    ingress = re.search(rf"<pre>\+ {sg} ingress tcp/5432 &lt;- [^\n]*", body)  # the step's words, escaped
    assert ingress is not None
    assert f'<a href="#hop-db-6">← opens hop 6 to the database (security groups {sg})</a>' in ingress.group()
    assert f'For the block at <a href="#hop-sm-2">hop 2 to Secrets Manager (route table {rtb})</a>' in body
    assert "<script" not in body


@pytest.mark.browser
@pytest.mark.parametrize(("width", "height", "phone"), [(1280, 900, False), (390, 844, True)])
def test_the_blocked_hops_are_seen_on_a_desk_and_on_a_phone(
    page: Any, browser: Any, tmp_path: Any, width: int, height: int, *, phone: bool
) -> None:
    """Photographed as people see it: each blocked hop lies inside the screen's width, drawn on top, worded; the
    step's link brings the hop it opens into view."""
    from selenium.webdriver.common.by import By

    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 2 if phone else 1, "mobile": phone},
    )
    browser.get(page.link)
    # A page wider than the phone makes the phone zoom out (its layout viewport grows): nothing may overflow.
    assert browser.execute_script("return window.innerWidth") == width
    blocked = browser.find_elements(By.CSS_SELECTOR, "svg g.hop.blocks")
    assert [b.get_attribute("id") for b in blocked] == ["hop-sm-2", "hop-db-6"]
    for hop in blocked:
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", hop)
        box = browser.execute_script("return arguments[0].getBoundingClientRect().toJSON()", hop)
        assert box["left"] >= 0 and box["right"] <= width, box  # no sideways scrolling to find it
        assert box["top"] >= 0 and box["bottom"] <= height, box
        assert box["width"] >= 280, box  # drawn at a phone's size at least, never shrunk to fit
        centre = browser.execute_script(
            "const r = arguments[0].getBoundingClientRect();"
            "return arguments[0].contains(document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2))",
            hop,
        )
        assert centre, "something covers the blocked hop"
        assert hop.is_displayed() and "blocked here" in hop.text
        browser.save_screenshot(str(tmp_path / f"{hop.get_attribute('id')}-{width}.png"))
    assert "blocked at hop 6" in browser.find_element(By.ID, "path-db").text
    browser.execute_script("window.scrollTo(0, document.body.scrollHeight)")
    browser.find_element(By.CSS_SELECTOR, 'a[href="#hop-db-6"]').click()
    opened = browser.find_element(By.ID, "hop-db-6")
    box = browser.execute_script("return arguments[0].getBoundingClientRect().toJSON()", opened)
    assert browser.execute_script("return location.hash") == "#hop-db-6" and 0 <= box["top"] < height, box
    browser.save_screenshot(str(tmp_path / f"after-the-link-{width}.png"))


# ----- every decision is told ------------------------------------------------------------------------


def query_of(link: str) -> dict[str, str]:
    from urllib.parse import parse_qs, urlsplit

    return {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}


def test_an_approval_is_told_as_it_is_made_and_as_it_ends(page: Any) -> None:
    """What people on the topic read: the page says it is approved and being applied, the worker how it ended."""
    assert http(page.url, {"action": "approve", "token": page.approve})[0] == 202
    [approved] = page.told()
    assert approved["kind"] == "fix approved, applying" and approved["proposal_id"] == page.proposal.id
    [(subject, body)] = page.emails()
    assert subject == "[rotation-doctor] prod/orders/db: fix approved, applying (broken)"
    lines = body.splitlines()
    assert lines[0] == "prod/orders/db: the proposed fix was approved; rotation-doctor is applying it now."
    assert re.search(r"^  Approved at \d{4}-\d\d-\d\d \d\d:\d\d UTC, by approval link \(approve\)\.$", body, re.M)
    assert "The worker applies it now, re-planning first; how it ends is told next." in body
    assert "Review and approve" not in body  # nothing left to approve: no links

    page.work(*page.queued())
    [applied] = page.told()
    assert applied["kind"] == "fix applied after approval" and applied["verdict"] == "healthy"
    [(subject, body)] = page.emails()
    assert subject == "[rotation-doctor] prod/orders/db: fix applied after approval (healthy)"
    assert body.splitlines()[0] == "prod/orders/db: the approved fix is applied."
    assert "CREATE_SECRETSMANAGER_ENDPOINT, AUTHORIZE_DB_INGRESS; healthy after" in body


def test_a_rejection_on_the_page_is_told(page: Any) -> None:
    assert http(page.url, {"action": "reject", "token": page.reject})[0] == 200
    [rejected] = page.told()
    assert rejected["kind"] == "proposal rejected" and rejected["links"]["approve"] is None
    [(subject, body)] = page.emails()
    assert subject == "[rotation-doctor] prod/orders/db: proposal rejected (broken)"
    assert body.startswith("prod/orders/db: the proposed fix was rejected; rotation is broken:")
    assert re.search(r"^  Rejected at .* UTC, by approval link \(reject\)\.$", body, re.M)


def test_a_failed_apply_that_could_not_be_undone_is_told_loudly_on_every_channel(
    page: Any, webhook_server: dict[str, Any]
) -> None:
    """The worker's last step fails and undoing the endpoint is refused: SNS and Slack both carry a high-priority
    message naming what is left and the command that removes it; running those commands leaves the account clean."""
    import shlex

    from botocore import xform_name
    from botocore.exceptions import ClientError

    from tests.faults import fail_nth

    clients = page.builder.clients
    hook = clients.secretsmanager.create_secret(Name="slack/webhook", SecretString=webhook_server["url"])
    page.make_worker(SLACK_WEBHOOK_SECRET_ARN=hook["ARN"])
    assert http(page.url, {"action": "approve", "token": page.approve})[0] == 202
    page.told(), page.emails()

    def refuse(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "denied"}}, "DeleteVpcEndpoints")

    events = clients.ec2.meta.events
    events.register("before-call.ec2.DeleteVpcEndpoints", refuse, unique_id="refuse-undo")
    stop = fail_nth(page.builder, "AuthorizeSecurityGroupIngress", 2)  # s4: the database's rule
    try:
        assert page.work(*page.queued()) == {"batchItemFailures": []}
    finally:
        stop()
        events.unregister("before-call.ec2.DeleteVpcEndpoints", unique_id="refuse-undo")
    assert page.store.get(page.proposal.id).state == "rollback_incomplete"
    [endpoint] = [e["VpcEndpointId"] for e in page.ec2.describe_vpc_endpoints()["VpcEndpoints"]]

    # SNS: the subject, an attribute to filter on, and each leftover with its command.
    [told] = page.told()
    assert told["kind"] == "fix failed, not undone" and told["priority"] == "high"
    assert endpoint in [x["resource"] for x in told["leftovers"]]
    [(subject, body)] = page.emails()
    assert subject == "[rotation-doctor] ACTION NEEDED: prod/orders/db: fix failed, not undone (broken)"
    assert body.splitlines()[0].startswith("prod/orders/db: ACTION NEEDED. The fix failed and undoing it failed too: ")
    commands = [x["remove"] for x in told["leftovers"]]
    assert all(commands) and all(f"remove with: {c}" in body for c in commands)
    assert (
        f'aws ec2 delete-vpc-endpoints --region us-east-1 --cli-input-json \'{{"VpcEndpointIds":["{endpoint}"]}}\''
        in commands
    )

    # Slack: a ping, and the same leftovers and commands.
    [post] = webhook_server["posts"]
    assert post["json"]["text"].startswith("<!here> prod/orders/db: ACTION NEEDED.")
    slack_text = "\n".join(b["text"]["text"] for b in post["json"]["blocks"] if b["type"] == "section")
    assert all(c in slack_text for c in commands) and endpoint in slack_text

    # What on-call does with it: each command, as the AWS CLI would call it, removes what is left.
    for command in commands:
        _, service, operation, _, region, _, params = shlex.split(command)
        api = {xform_name(o, "-"): o for o in clients.client(service).meta.service_model.operation_names}[operation]
        getattr(clients.client(service), xform_name(api))(**json.loads(params))
        assert region == "us-east-1"
    from tests.fix_scenarios import created_by_rotation_doctor

    assert created_by_rotation_doctor(page.builder) == []


# ----- a plan proposed again, a proposal never announced, reminders -------------------------------------


def test_a_plan_proposed_again_goes_out_with_fresh_links_and_the_old_ones_are_refused(page: Any) -> None:
    from tests.worker_events import rotation_failed

    assert http(page.url, {"action": "reject", "token": page.reject})[0] == 200
    assert [m["kind"] for m in page.told()] == ["proposal rejected"]
    page.work(rotation_failed(page.orders.secret_arn))  # the rotation fails again: the same plan, a new round
    [proposed] = page.told()
    again = page.store.get(page.proposal.id)
    assert proposed["kind"] == "proposal created" and proposed["generation"] == again.generation
    assert again.generation > page.proposal.generation and again.announced == again.generation
    fresh = proposed["links"]["approve"]
    assert fresh.startswith(f"{page.url}?")
    for action in ("approve", "reject"):
        tokens.verify(
            KEY,
            query_of(fresh)[action],
            proposal_id=again.id,
            plan_hash=again.plan_hash,
            generation=again.generation,
            action=action,
        )
    status, _, body = http(page.link)  # the first round's link, from the first message
    assert status == 403 and "earlier proposal of this plan" in body
    assert http(page.url, {"action": "approve", "token": page.approve})[0] == 403
    assert http(fresh)[0] == 200  # the link in the new message opens the page ...
    assert http(page.url, {"action": "approve", "token": query_of(fresh)["approve"]})[0] == 202  # ... and approves


def test_a_proposal_whose_first_notice_was_lost_is_announced_by_the_sweep_once(page: Any) -> None:
    from botocore.exceptions import ClientError

    from tests.worker_events import real_shaped, rotation_failed

    clients = page.builder.clients
    clients.dynamodb.delete_item(TableName="proposals", Key={"id": {"S": page.proposal.id}})  # start afresh

    def sns_down(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "InternalError", "Message": "down"}}, "Publish")

    clients.sns.meta.events.register("before-call.sns.Publish", sns_down, unique_id="sns-down")
    try:
        page.work(rotation_failed(page.orders.secret_arn))
    finally:
        clients.sns.meta.events.unregister("before-call.sns.Publish", unique_id="sns-down")
    [lost] = page.store.list()
    assert lost.state == "proposed" and lost.announced == 0 and page.told() == []

    page.work(real_shaped("scheduled_sweep.json"))  # too young: the worker that made it may still be telling it
    assert page.told() == []
    clients.dynamodb.update_item(  # as if proposed two hours ago
        TableName="proposals",
        Key={"id": {"S": lost.id}},
        UpdateExpression="SET created_at = :t",
        ExpressionAttributeValues={":t": {"N": str(lost.created_at - 7200)}},
    )
    page.emails()
    page.work(real_shaped("scheduled_sweep.json"))
    [announced] = page.told()
    assert announced["kind"] == "proposal created" and announced["proposal_id"] == lost.id
    assert page.store.get(lost.id).announced == lost.generation
    [(_, body)] = page.emails()
    assert "no notice of it was recorded as delivered then" in body and "Review and approve: http" in body
    assert http(announced["links"]["approve"])[0] == 200  # its link works

    page.work(real_shaped("scheduled_sweep.json"))  # the next day's sweep: told once
    assert page.told() == []


def test_reminders_before_the_links_expire_carry_fresh_links_at_most_once_a_day(page: Any) -> None:
    from rotation_doctor.notify.pending import announce_pending
    from tests.worker_events import rotation_failed

    page.store.reject(page.proposal.id, by="test")
    page.work(rotation_failed(page.orders.secret_arn))  # proposed again, and announced with links for 24 hours
    [first] = page.told()
    page.emails()
    proposal = page.store.get(page.proposal.id)
    assert proposal.links_until == pytest.approx(time.time() + tokens.DEFAULT_LIFETIME, abs=60)
    dispatcher = page.worker.dispatcher

    now = time.time()
    assert announce_pending(page.store, dispatcher, now).reminded == []  # its links have a day to go
    later = now + 20 * 3600  # the next sweep: they expire within hours
    assert announce_pending(page.store, dispatcher, later).reminded == [proposal.id]
    assert announce_pending(page.store, dispatcher, later).reminded == []  # once a day, however many sweeps
    assert not dispatcher.remind(proposal, later + 60)  # even a sweep that read the proposal before this one did
    [reminder] = page.told()
    assert reminder["kind"] == "proposal waiting for approval"
    assert reminder["links"]["approve"] != first["links"]["approve"]
    claims = tokens.verify(
        KEY,
        query_of(reminder["links"]["approve"])["approve"],
        proposal_id=proposal.id,
        plan_hash=proposal.plan_hash,
        generation=proposal.generation,
        action="approve",
        now=later + tokens.DEFAULT_LIFETIME - 60,  # valid for a day from the reminder
    )
    assert claims.expires_at == int(later) + tokens.DEFAULT_LIFETIME
    [(subject, body)] = page.emails()
    assert subject == "[rotation-doctor] prod/orders/db: proposal waiting for approval (broken)"
    assert "A proposed fix still waits for approval; the links below are new." in body.splitlines()[0]
    assert re.search(r"these are new, valid until \d{4}-\d\d-\d\d \d\d:\d\d UTC", body)

    next_day = later + 24 * 3600
    assert announce_pending(page.store, dispatcher, next_day).reminded == [proposal.id]
    [again] = page.told()
    assert again["kind"] == "proposal waiting for approval"
    # The reminder's link works on the page, once.
    assert http(page.url, {"action": "approve", "token": query_of(again["links"]["approve"])["approve"]})[0] == 202
    assert announce_pending(page.store, dispatcher, next_day + 24 * 3600).reminded == []  # approved: no more


def test_the_approval_function_keeps_the_sdk_quiet_whatever_its_log_level() -> None:
    """Its calls read the signing key: botocore's DEBUG lines would hold it, so importing the handler pins them."""
    import subprocess
    import sys

    from tests.worker_events import lambda_env

    code = (
        "import logging; logging.basicConfig(level=logging.DEBUG, force=True); import handlers.approval; "
        "print([logging.getLogger(n).getEffectiveLevel() for n in ('botocore', 'urllib3')])"
    )
    env = lambda_env(POWERTOOLS_LOG_LEVEL="DEBUG", POWERTOOLS_TRACE_DISABLED="true")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == str([logging.WARNING, logging.WARNING])

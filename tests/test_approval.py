"""Signed approval links and the approval page, served locally for a proposal on the simulated account."""

from __future__ import annotations

import base64
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
from rotation_doctor.approvals.store import ProposalStore, create_table
from rotation_doctor.approvals.workflow import handle_secret
from rotation_doctor.model.errors import TokenExpired, TokenInvalid, TokenRefused, TokenSpent
from rotation_doctor.simulated import scenarios
from rotation_doctor.simulated.account import AccountBuilder
from rotation_doctor.simulated.function_url import serve

KEY = b"k" * 32


# ----- tokens, pure -----------------------------------------------------------------------------


def test_a_token_verifies_for_exactly_its_proposal_plan_and_action() -> None:
    token = tokens.issue(KEY, "p-1", "hash-1", "approve")
    claims = tokens.verify(KEY, token, proposal_id="p-1", plan_hash="hash-1", action="approve")
    assert claims.proposal_id == "p-1" and claims.action == "approve"


@pytest.mark.parametrize(
    "change,reason",
    [
        ({"key": b"x" * 32}, "signature"),
        ({"proposal_id": "p-2"}, "another proposal"),
        ({"plan_hash": "hash-2"}, "another version of the plan"),
        ({"action": "reject"}, "does not allow reject"),
        ({"now": time.time() + 2 * tokens.DEFAULT_LIFETIME}, "expired"),
    ],
)
def test_refused_tokens(change: dict[str, Any], reason: str) -> None:
    token = tokens.issue(KEY, "p-1", "hash-1", "approve")
    args: dict[str, Any] = {"proposal_id": "p-1", "plan_hash": "hash-1", "action": "approve"} | change
    key = args.pop("key", KEY)
    with pytest.raises(TokenRefused, match=reason):
        tokens.verify(key, token, **args)


def test_a_tampered_claim_breaks_the_signature() -> None:
    token = tokens.issue(KEY, "p-1", "hash-1", "reject")
    forged_body = tokens._b64(b'{"a":"approve","exp":9999999999,"h":"hash-1","p":"p-1"}')
    with pytest.raises(TokenRefused, match="signature"):
        tokens.verify(
            KEY, forged_body + "." + token.split(".")[1], proposal_id="p-1", plan_hash="hash-1", action="approve"
        )


@pytest.mark.parametrize("junk", ["", "abc", "a.b.c", "!!!.???"])
def test_malformed_tokens(junk: str) -> None:
    with pytest.raises(TokenRefused):
        tokens.verify(KEY, junk, proposal_id="p", plan_hash="h", action="approve")


def test_refusals_are_typed() -> None:
    token = tokens.issue(KEY, "p-1", "hash-1", "approve")
    with pytest.raises(TokenExpired):
        tokens.verify(KEY, token, proposal_id="p-1", plan_hash="hash-1", action="approve", now=time.time() + 2 * 86400)
    for wrong in ({"proposal_id": "p-2"}, {"plan_hash": "hash-2"}, {"action": "reject"}):
        args: dict[str, Any] = {"proposal_id": "p-1", "plan_hash": "hash-1", "action": "approve"} | wrong
        with pytest.raises(TokenInvalid):
            tokens.verify(KEY, token, **args)
    with pytest.raises(TokenInvalid):
        tokens.verify(KEY, "abc", proposal_id="p-1", plan_hash="hash-1", action="approve")


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


def token_with_url_safe_characters() -> tuple[str, str]:
    """A token whose two parts both hold `-` or `_`, so that the standard alphabet spells each differently."""
    for n in range(1000):
        token = tokens.issue(KEY, f"p-{n}", ODD_HASH, "approve")
        if all(set(part) & {"-", "_"} for part in token.split(".")):
            return token, f"p-{n}"
    raise AssertionError("no such token")


@pytest.mark.parametrize("how", sorted(RESPELLINGS))
@pytest.mark.parametrize("part", [0, 1])
def test_each_other_spelling_decodes_to_the_same_bytes_but_is_refused(how: str, part: int) -> None:
    token, pid = token_with_url_safe_characters()
    parts = token.split(".")
    parts[part] = RESPELLINGS[how](parts[part])
    variant = ".".join(parts)
    assert variant != token
    assert [lenient(p) for p in variant.split(".")] == [lenient(p) for p in token.split(".")]  # a real respelling
    with pytest.raises(TokenInvalid, match="malformed"):
        tokens.verify(KEY, variant, proposal_id=pid, plan_hash=ODD_HASH, action="approve")


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    key=st.binary(min_size=16, max_size=64),
    pid=st.from_regex(r"p-[0-9a-f]{20}", fullmatch=True),
    action=st.sampled_from(tokens.ACTIONS),
    data=st.data(),
)
@example(key=KEY, pid="p-0123456789abcdef0123", action="approve", data=None)
def test_only_the_canonical_spelling_verifies(key: bytes, pid: str, action: str, data: Any) -> None:
    token = tokens.issue(key, pid, "h" * 64, action)
    check = {"proposal_id": pid, "plan_hash": "h" * 64, "action": action}
    assert tokens.verify(key, token, **check).proposal_id == pid
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

    clients = builder.clients
    scenarios.orders(builder)
    create_table(clients, "proposals")
    secret = clients.secretsmanager.create_secret(Name="rotation-doctor/approval-key", SecretString=KEY.decode())
    store = ProposalStore(clients, "proposals")
    executor = Executor(clients, Policy(mode=Mode.PROPOSE), poll=0.01)
    proposal = handle_secret(executor, store, scenarios.DEMO_SECRET).proposal
    assert proposal is not None
    deps = approval.build_approvals({"PROPOSALS_TABLE": "proposals", "SIGNING_KEY_SECRET_ARN": secret["ARN"]}, clients)
    deps.executor.poll = 0.01
    monkeypatch.setattr(approval, "_default", lambda: deps)
    approve = tokens.issue(KEY, proposal.id, proposal.plan_hash, "approve")
    reject = tokens.issue(KEY, proposal.id, proposal.plan_hash, "reject")
    with serve(approval.handler) as base:
        yield SimpleNamespace(
            base=base,
            proposal=proposal,
            approve=approve,
            reject=reject,
            store=store,
            link=f"{base}/proposals/{proposal.id}?{urlencode({'approve': approve, 'reject': reject})}",
        )


def http(url: str, form: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    data = urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if form is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def test_get_shows_the_proposal_and_changes_nothing(page: Any) -> None:
    status, headers, body = http(page.link)
    assert status == 200
    assert "CREATE_SECRETSMANAGER_ENDPOINT" in body and "Approve and apply" in body and "SM_NO_PATH" in body
    assert headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert headers["X-Frame-Options"] == "DENY" and headers["Cache-Control"] == "no-store"
    assert page.store.get(page.proposal.id).state == "proposed"


def test_a_get_that_tries_to_approve_changes_nothing(page: Any) -> None:
    url = f"{page.base}/proposals/{page.proposal.id}?{urlencode({'action': 'approve', 'token': page.approve})}"
    status, _, _ = http(url)
    assert status == 403  # no approve= or reject= link token: nothing to show, and nothing done
    assert page.store.get(page.proposal.id).state == "proposed"


def test_post_approves_once_and_a_second_click_is_refused(page: Any) -> None:
    status, _, body = http(f"{page.base}/proposals/{page.proposal.id}", {"action": "approve", "token": page.approve})
    assert status == 200 and 'id="outcome">Applied<' in body and "healthy" in body
    assert page.store.get(page.proposal.id).state == "applied"
    status, _, body = http(f"{page.base}/proposals/{page.proposal.id}", {"action": "approve", "token": page.approve})
    assert status == 409 and "already been used" in body


def test_every_other_spelling_of_a_spent_link_is_refused_as_not_ours(page: Any) -> None:
    url = f"{page.base}/proposals/{page.proposal.id}"
    assert http(url, {"action": "approve", "token": page.approve})[0] == 200
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
        status, _, body = http(url, {"action": "approve", "token": variant})
        assert (status, "malformed" in body) == (403, True), how


def test_a_spent_link_is_refused_as_spent(page: Any) -> None:
    import handlers.approval as approval

    used = approval._default().used
    claims = tokens.verify(
        KEY, page.reject, proposal_id=page.proposal.id, plan_hash=page.proposal.plan_hash, action="reject"
    )
    used.use(page.reject, claims)
    with pytest.raises(TokenSpent):
        used.use(page.reject, claims)


def test_the_page_picks_409_by_the_refusal_type_not_its_words(page: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A spent link is 409 whatever its message says; any other refusal is 403 even if it says "already"."""
    import handlers.approval as approval

    used = approval._default().used
    url = f"{page.base}/proposals/{page.proposal.id}"

    def spent(token: str, claims: tokens.Claims) -> None:
        raise TokenSpent("this link was used before")

    monkeypatch.setattr(used, "use", spent)
    status, _, body = http(url, {"action": "approve", "token": page.approve})
    assert status == 409 and "this link was used before" in body

    def invalid(token: str, claims: tokens.Claims) -> None:
        raise TokenInvalid("already a bad link")

    monkeypatch.setattr(used, "use", invalid)
    status, _, body = http(url, {"action": "approve", "token": page.approve})
    assert status == 403 and "already a bad link" in body
    assert page.store.get(page.proposal.id).state == "proposed"


def test_a_decided_proposal_answers_409_to_its_other_link(page: Any) -> None:
    """Approved and applied through one link; the unused reject link finds it decided (AlreadyDecided): 409."""
    url = f"{page.base}/proposals/{page.proposal.id}"
    status, _, _ = http(url, {"action": "approve", "token": page.approve})
    assert status == 200
    status, _, body = http(url, {"action": "reject", "token": page.reject})
    assert status == 409 and "Refused" in body
    assert page.store.get(page.proposal.id).state == "applied"


def test_no_such_proposal_is_404(page: Any) -> None:
    token = tokens.issue(KEY, "p-nope", page.proposal.plan_hash, "approve")
    assert http(f"{page.base}/proposals/p-nope?{urlencode({'approve': token})}")[0] == 404
    assert http(f"{page.base}/proposals/p-nope", {"action": "approve", "token": token})[0] == 404


def test_reject_link_rejects(page: Any) -> None:
    status, _, body = http(f"{page.base}/proposals/{page.proposal.id}", {"action": "reject", "token": page.reject})
    assert status == 200 and "Rejected" in body and page.store.get(page.proposal.id).state == "rejected"


@pytest.mark.parametrize("token_for", ["forged", "other_proposal", "other_plan", "expired", "wrong_action"])
def test_bad_tokens_are_refused_and_change_nothing(page: Any, token_for: str) -> None:
    p = page.proposal
    token = {
        "forged": tokens.issue(b"not-the-key" * 3, p.id, p.plan_hash, "approve"),
        "other_proposal": tokens.issue(KEY, "p-someone-else", p.plan_hash, "approve"),
        "other_plan": tokens.issue(KEY, p.id, "0" * 64, "approve"),
        "expired": tokens.issue(KEY, p.id, p.plan_hash, "approve", now=time.time() - 2 * tokens.DEFAULT_LIFETIME),
        "wrong_action": page.reject,
    }[token_for]
    status, _, body = http(f"{page.base}/proposals/{p.id}", {"action": "approve", "token": token})
    assert status == 403 and "Refused" in body
    assert page.store.get(p.id).state == "proposed"


def test_values_from_aws_are_escaped(page: Any) -> None:
    from rotation_doctor.approvals.page import proposal_page

    hostile = page.store.get(page.proposal.id)
    hostile = type(hostile)(**{**vars(hostile), "secret_name": "<script>alert(1)</script>"})
    html = proposal_page(hostile, approve_token="t", reject_token=None, action_path="/x")
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html


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
def test_approve_in_a_real_browser_and_a_second_click_is_refused(page: Any, browser: Any) -> None:
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
    wait.until(expected_conditions.text_to_be_present_in_element((By.ID, "outcome"), "Applied"))
    assert browser.find_element(By.ID, "state").text == "applied"
    assert page.store.get(page.proposal.id).state == "applied"

    browser.switch_to.window(second)
    browser.find_element(By.ID, "approve").click()
    wait.until(expected_conditions.text_to_be_present_in_element((By.ID, "outcome"), "Refused"))
    assert "already been used" in browser.find_element(By.ID, "reason").text

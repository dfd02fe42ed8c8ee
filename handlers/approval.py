"""The approval page, served by a Lambda function URL (Powertools event handler).

GET  /proposals/{id}?approve=TOKEN&reject=TOKEN   shows the proposal, and how it ended once decided;
                                                  never changes anything
POST /proposals/{id}  action=approve|reject&token=TOKEN   spends the token once, records the decision
                                                          with a conditional write, and hands an
                                                          approval to the worker (a message on its
                                                          queue), which applies it

This function writes nothing to the account and reads none of it: the worker is the one writer.

Every response carries the page's security headers (`pages.SECURITY_HEADERS`), whatever its status: a proposal
(200), a decision (200, 202, 503), a request it cannot read (400), a refusal (403, 409), an unknown path (404), a
method other than GET and POST (405), a failure (500).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote, urlencode

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response

from rotation_doctor.apply.timing import LONGEST_APPLY_SECONDS
from rotation_doctor.approvals import page as pages
from rotation_doctor.approvals import tokens
from rotation_doctor.approvals.handoff import ApplyApproved
from rotation_doctor.collect.aws import quiet_sdk_loggers
from rotation_doctor.model.bounded import clip, traceback_tail
from rotation_doctor.model.errors import ProposalConflict, ProposalNotFound, TokenRefused, TokenSpent

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.exceptions import NotFoundError
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from rotation_doctor.approvals.handoff import WorkerQueue
    from rotation_doctor.approvals.store import Proposal, ProposalStore
    from rotation_doctor.collect.aws import AwsClients
    from rotation_doctor.notify.dispatch import Dispatcher

logger = Logger(service="rotation-doctor-approval")
quiet_sdk_loggers()  # whatever the function's log level: botocore's DEBUG lines hold response bodies (the signing key)
app = LambdaFunctionUrlResolver()
_one_request_at_a_time = threading.Lock()  # in-process servers (tests, demo) serve several threads
_HTML = "text/html; charset=utf-8"
_PROPOSAL_PATH = re.compile(r"/proposals/[^/]+")  # the one path served, by GET and POST
_ALLOWED = "GET, POST"
_MAX_FORM_FIELDS = 10
_FAILED = "The request failed; the approval function's log has the error. Reload the page to see where things stand."


@dataclass
class Approvals:
    store: ProposalStore
    key: tokens.SigningKey
    used: tokens.UsedTokens
    worker: WorkerQueue  # where an approved proposal is handed over
    dispatcher: Dispatcher | None = (
        None  # notifications of a decision (approved, rejected); None when none is configured
    )


# The request's Approvals, set by `run` around each request (one at a time) and read by the routes.
_current: ContextVar[Approvals] = ContextVar("rotation_doctor_approvals")


def build_approvals(env: Mapping[str, str], clients: AwsClients | None = None) -> Approvals:
    from rotation_doctor.approvals.handoff import WorkerQueue
    from rotation_doctor.approvals.store import ProposalStore
    from rotation_doctor.collect.aws import AwsClients
    from rotation_doctor.notify.dispatch import dispatcher_from_env

    clients = clients or AwsClients()
    table = env["PROPOSALS_TABLE"]
    store = ProposalStore(clients, table)
    key = tokens.SigningKey(clients, env["SIGNING_KEY_SECRET_ARN"])
    return Approvals(
        store,
        key,
        tokens.UsedTokens(clients, table),
        WorkerQueue(clients, env["EVENTS_QUEUE_URL"], key),  # hand-offs are signed with a key derived from it
        dispatcher_from_env(env, clients, store),
    )


@cache
def _default() -> Approvals:
    return build_approvals(os.environ)


def _deps() -> Approvals:
    return _current.get()


def _html(body: str, status: int = 200, **headers: str) -> Response[str]:
    return Response(status_code=status, content_type=_HTML, body=body, headers=dict(pages.SECURITY_HEADERS) | headers)


def _form() -> dict[str, str] | None:
    """The POSTed form's fields (the first value of each); None when the body cannot be read: not base64 when it
    says it is, not UTF-8, or more fields than the page's form has."""
    try:
        body = app.current_event.decoded_body or ""
        fields = parse_qs(body, max_num_fields=_MAX_FORM_FIELDS)
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        return None
    return {name: values[0] for name, values in fields.items()}


def _path(proposal_id: str) -> str:
    return f"/proposals/{quote(proposal_id, safe='')}"


def _verify(deps: Approvals, proposal: Proposal, token: str, action: str) -> tokens.Claims:
    """The token's claims, if it is for exactly this proposal, plan, generation and action (else TokenRefused)."""
    return tokens.verify(
        deps.key.get(),
        token,
        proposal_id=proposal.id,
        plan_hash=proposal.plan_hash,
        generation=proposal.generation,
        action=action,
    )


@app.get("/proposals/<proposal_id>")
def show(proposal_id: str) -> Response[str]:
    deps = _deps()
    try:
        proposal = deps.store.get(proposal_id)
    except ProposalNotFound:
        return _html(pages.refused_page("There is no such proposal."), 404)
    query = app.current_event.query_string_parameters or {}
    valid: dict[str, str | None] = {}
    reasons = []
    for action in tokens.ACTIONS:
        token = query.get(action)
        valid[action] = None
        if token:
            try:
                _verify(deps, proposal, token, action)
                valid[action] = token
            except TokenRefused as refused:
                reasons.append(str(refused))
    if not any(valid.values()):
        return _html(pages.refused_page(reasons[0] if reasons else "The link carries no approval token."), 403)
    return _html(
        pages.proposal_page(
            proposal,
            approve_token=valid["approve"],
            reject_token=valid["reject"],
            action_path=_path(proposal.id),
        )
    )


@app.post("/proposals/<proposal_id>")
def decide(proposal_id: str) -> Response[str]:
    deps = _deps()
    form = _form()
    if form is None:
        return _html(pages.error_page("Bad request", "The form could not be read."), 400)
    action, token = form.get("action", ""), form.get("token", "")
    if action not in tokens.ACTIONS:
        return _html(pages.error_page("Bad request", "The form asks for no action this page knows."), 400)
    try:
        proposal = deps.store.get(proposal_id)
    except ProposalNotFound:
        return _html(pages.refused_page("There is no such proposal."), 404)
    try:
        claims = _verify(deps, proposal, token, action)
        deps.used.use(claims, keep_until=proposal.kept_until)
    except TokenRefused as refused:
        logger.warning("approval refused", extra={"proposal": proposal_id, "reason": str(refused)})
        # A spent link is a conflict with what happened (someone used it); any other refusal is forbidden.
        return _html(pages.refused_page(str(refused)), 409 if isinstance(refused, TokenSpent) else 403)
    by = f"approval link ({action})"
    try:
        # Conditional on the generation the link was made for: a plan proposed again meanwhile is not decided.
        if action == "reject":
            done = deps.store.reject(proposal.id, by=by, generation=claims.generation)
            if deps.dispatcher is not None:
                deps.dispatcher.after_decision(done, None)
            logger.info("rejected", extra={"proposal": proposal.id})
            return _html(pages.outcome_page(done, "Rejected", "Nothing was changed."))
        approved = deps.store.approve(proposal.id, by=by, generation=claims.generation)
    except ProposalConflict as conflict:
        return _html(pages.refused_page(str(conflict)), 409)
    try:
        deps.worker.send(ApplyApproved(approved.id, approved.generation, by))
    except Exception:
        logger.exception("the approval could not be handed to the worker", extra={"proposal": approved.id})
        # Reconciliation hands an approval not applied yet to the worker again (approvals/workflow.py), or asks
        # again once the proposal has expired: the approval is not lost with this message.
        detail = (
            f"The approval is recorded, but it could not be handed to the worker yet, so nothing has been changed. "
            f"rotation-doctor hands it over again within about {LONGEST_APPLY_SECONDS // 60 + 2} minutes (or asks "
            "again, if the proposal expires first). The approval function's log has the error."
        )
        return _html(pages.outcome_page(approved, "Approved, not applied", detail), 503)
    logger.info("approved; handed to the worker", extra={"proposal": approved.id})
    if deps.dispatcher is not None:  # "approved, applying"; the worker tells how it ends
        deps.dispatcher.after_decision(approved, None)
    follow = f"{_path(approved.id)}?{urlencode({'approve': token})}"
    detail = "The worker applies the plan now, re-planning first: if the account changed since, nothing is written."
    return _html(pages.outcome_page(approved, pages.APPLYING_HEADLINE, detail, follow=follow), 202)


@app.not_found
def not_found(_: NotFoundError) -> Response[str]:
    """No route for this method and path: 405 (with Allow) for another method on the proposal path, else 404."""
    request = app.current_event
    if request.http_method.upper() not in ("GET", "POST") and _PROPOSAL_PATH.fullmatch(request.path):
        page = pages.error_page("Method not allowed", "This page answers GET and POST only.")
        return _html(page, 405, Allow=_ALLOWED)
    return _html(pages.error_page("Not found", "There is no such page."), 404)


def failed(exc: Exception) -> Response[str]:
    """An exception inside a route: logged briefly (its innermost frames), answered 500 with the page's headers."""
    logger.error(
        "the request failed",
        extra={
            "path": clip(app.current_event.path, 200),
            "error": clip(f"{type(exc).__name__}: {exc}"),
            "traceback": traceback_tail(exc),
        },
    )
    return _html(pages.error_page("Something went wrong", _FAILED), 500)


app.exception_handler(Exception)(failed)  # unhandled, Powertools logs the whole traceback itself and re-raises


def run(event: Mapping[str, object], context: LambdaContext, deps: Approvals) -> dict[str, object]:
    """One request, with everything it needs passed in (the handler builds it once per container). One at a time,
    as Lambda runs them: the resolver keeps the current request on itself. Whatever answers (a route, Powertools
    itself, or the failure of either), the answer leaves with the page's security headers."""
    with _one_request_at_a_time:
        current = _current.set(deps)
        try:
            response: dict[str, object] = app.resolve(event, context)
        except Exception as exc:  # the resolver itself failed (an event it cannot read): still an answer
            logger.error(
                "the request could not be handled",
                extra={"error": clip(f"{type(exc).__name__}: {exc}"), "traceback": traceback_tail(exc)},
            )
            response = {
                "statusCode": 500,
                "headers": {"Content-Type": _HTML},
                "body": pages.error_page("Something went wrong", _FAILED),
                "isBase64Encoded": False,
            }
        finally:
            _current.reset(current)
    return _secured(response)


def _secured(response: dict[str, object]) -> dict[str, object]:
    """`response` with the page's security headers, over any of the same name (nothing may weaken them)."""
    headers = response.get("headers")
    own: dict[str, str] = {str(k): str(v) for k, v in headers.items()} if isinstance(headers, dict) else {}
    return response | {"headers": own | pages.SECURITY_HEADERS}


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, object], context: LambdaContext) -> dict[str, object]:
    return run(event, context, _default())

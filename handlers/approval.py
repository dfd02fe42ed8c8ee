"""The approval page, served by a Lambda function URL (Powertools event handler).

GET  /proposals/{id}?approve=TOKEN&reject=TOKEN   shows the proposal, and how it ended once decided;
                                                  never changes anything
POST /proposals/{id}  action=approve|reject&token=TOKEN   spends the token once, records the decision
                                                          with a conditional write, and hands an
                                                          approval to the worker (a message on its
                                                          queue), which applies it

This function writes nothing to the account and reads none of it: the worker is the one writer.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response

from rotation_doctor.approvals import page as pages
from rotation_doctor.approvals import tokens
from rotation_doctor.approvals.handoff import ApplyApproved
from rotation_doctor.model.errors import ProposalConflict, ProposalNotFound, TokenRefused, TokenSpent

logger = Logger(service="rotation-doctor-approval")
app = LambdaFunctionUrlResolver()
_one_request_at_a_time = threading.Lock()  # in-process servers (tests, demo) serve several threads


@dataclass
class Approvals:
    store: Any  # ProposalStore
    key: Any  # SigningKey
    used: tokens.UsedTokens
    worker: Any  # WorkerQueue: where an approved proposal is handed over
    dispatcher: Any = None  # notifications of a decision (approved, rejected); None when none is configured


def build_approvals(env: Mapping[str, str], clients: Any = None) -> Approvals:
    from rotation_doctor.approvals.handoff import WorkerQueue
    from rotation_doctor.approvals.store import ProposalStore
    from rotation_doctor.collect.aws import AwsClients
    from rotation_doctor.notify.dispatch import dispatcher_from_env

    clients = clients or AwsClients()
    table = env["PROPOSALS_TABLE"]
    store = ProposalStore(clients, table)
    return Approvals(
        store,
        tokens.SigningKey(clients, env["SIGNING_KEY_SECRET_ARN"]),
        tokens.UsedTokens(clients, table),
        WorkerQueue(clients, env["EVENTS_QUEUE_URL"]),
        dispatcher_from_env(env, clients, store),
    )


@cache
def _default() -> Approvals:
    return build_approvals(os.environ)


def _deps() -> Approvals:
    deps: Approvals = app.context["deps"]
    return deps


def _html(body: str, status: int = 200) -> Response[str]:
    return Response(
        status_code=status, content_type="text/html; charset=utf-8", body=body, headers=dict(pages.SECURITY_HEADERS)
    )


def _path(proposal_id: str) -> str:
    return f"/proposals/{quote(proposal_id, safe='')}"


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
                tokens.verify(
                    deps.key.get(),
                    token,
                    proposal_id=proposal.id,
                    plan_hash=proposal.plan_hash,
                    generation=proposal.generation,
                    action=action,
                )
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
    form = {k: v[0] for k, v in parse_qs(app.current_event.decoded_body or "").items()}
    action, token = form.get("action", ""), form.get("token", "")
    try:
        proposal = deps.store.get(proposal_id)
    except ProposalNotFound:
        return _html(pages.refused_page("There is no such proposal."), 404)
    try:
        claims = tokens.verify(
            deps.key.get(),
            token,
            proposal_id=proposal.id,
            plan_hash=proposal.plan_hash,
            generation=proposal.generation,
            action=action,
        )
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
        detail = (
            "The approval is recorded, but it could not be handed to the worker, so nothing has been changed. "
            "Tell whoever runs rotation-doctor: the approval function's log has the error."
        )
        return _html(pages.outcome_page(approved, "Approved, not applied", detail), 503)
    logger.info("approved; handed to the worker", extra={"proposal": approved.id})
    if deps.dispatcher is not None:  # "approved, applying"; the worker tells how it ends
        deps.dispatcher.after_decision(approved, None)
    follow = f"{_path(approved.id)}?{urlencode({'approve': token})}"
    detail = "The worker applies the plan now, re-planning first: if the account changed since, nothing is written."
    return _html(pages.outcome_page(approved, pages.APPLYING_HEADLINE, detail, follow=follow), 202)


def run(event: Mapping[str, Any], context: Any, deps: Approvals) -> dict[str, Any]:
    """One request, with everything it needs passed in (the handler builds it once per container). One at a time,
    as Lambda runs them: the resolver keeps the current request on itself."""
    with _one_request_at_a_time:
        app.context["deps"] = deps
        return app.resolve(event, context)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run(event, context, _default())

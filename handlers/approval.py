"""The approval page, served by a Lambda function URL (Powertools event handler).

GET  /proposals/{id}?approve=TOKEN&reject=TOKEN   shows the proposal; never changes anything
POST /proposals/{id}  action=approve|reject&token=TOKEN   spends the token once, then approves
                                                          (running the executor) or rejects
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response

from rotation_doctor.approvals import page as pages
from rotation_doctor.approvals import tokens
from rotation_doctor.model.errors import ProposalConflict, ProposalNotFound, TokenRefused, TokenSpent
from rotation_doctor.model.states import OutcomeStatus, ProposalState

logger = Logger(service="rotation-doctor-approval")
app = LambdaFunctionUrlResolver()


@dataclass
class Approvals:
    store: Any
    executor: Any
    key: Any  # SigningKey
    used: tokens.UsedTokens
    dispatcher: Any = None  # notifications of the decision; None when none is configured


def build_approvals(env: Mapping[str, str], clients: Any = None) -> Approvals:
    from rotation_doctor.apply.executor import Executor
    from rotation_doctor.apply.guardrails import Mode, policy_from_env
    from rotation_doctor.approvals.store import ProposalStore
    from rotation_doctor.collect.aws import AwsClients

    clients = clients or AwsClients()
    table = env["PROPOSALS_TABLE"]
    return Approvals(
        ProposalStore(clients, table),
        Executor(clients, policy_from_env(env, mode=Mode.PROPOSE)),
        tokens.SigningKey(clients, env["SIGNING_KEY_SECRET_ARN"]),
        tokens.UsedTokens(clients, table),
    )


@cache
def _default() -> Approvals:
    return build_approvals(os.environ)


def _html(body: str, status: int = 200) -> Response[str]:
    return Response(
        status_code=status, content_type="text/html; charset=utf-8", body=body, headers=dict(pages.SECURITY_HEADERS)
    )


@app.get("/proposals/<proposal_id>")
def show(proposal_id: str) -> Response[str]:
    deps = _default()
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
            action_path=f"/proposals/{proposal.id}",
        )
    )


@app.post("/proposals/<proposal_id>")
def decide(proposal_id: str) -> Response[str]:
    from rotation_doctor.approvals.workflow import apply_proposal

    deps = _default()
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
            return _html(pages.outcome_page(done, "Rejected", "Nothing was changed."))
        deps.store.approve(proposal.id, by=by, generation=claims.generation)
        handled = apply_proposal(deps.executor, deps.store, proposal.id, by=by, generation=claims.generation)
    except ProposalConflict as conflict:
        return _html(pages.refused_page(str(conflict)), 409)
    final = deps.store.get(proposal.id)  # after a stale plan, handled.proposal is the new one
    if deps.dispatcher is not None:
        deps.dispatcher.after_decision(final, handled.outcome, handled.proposal if handled.proposal_is_new else None)
    after = handled.outcome.after
    detail = (
        f"Applied {', '.join(handled.outcome.applied) or 'nothing'}; the rotation path is now "
        f"{after.verdict if after else handled.outcome.status.label}."
    )
    if handled.outcome.status is OutcomeStatus.STALE:
        detail = "The account changed since this plan was made: it was not applied, and a new plan was proposed."
    finished = (ProposalState.APPLIED, ProposalState.ROLLED_BACK, ProposalState.FAILED)
    headline = final.state.label.capitalize() if final.state in finished else str(final.state)
    logger.info("approval decided", extra={"proposal": proposal.id, "state": final.state})
    return _html(pages.outcome_page(final, headline, detail))


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)

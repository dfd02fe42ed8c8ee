"""Signed approval links: a token binds a proposal, its plan's hash, the proposal's generation, one action and
an expiry, and works once.

token = base64url(claims JSON) "." base64url(HMAC-SHA256(key, claims JSON))

The key is kept in Secrets Manager (the template creates it) and read at run time. Verifying
checks the signature in constant time, the expiry, and that the token is for this proposal, this
plan, this generation of the proposal (a plan proposed again needs new links) and this action.

Only the canonical spelling verifies: base64url without padding, in the URL-safe alphabet, with the
unused low bits of the last character zero. Python's decoder (like most) also accepts a trailing `=`,
`+/` for `-_`, characters outside the alphabet (skipped) and other low bits, all decoding to the same
bytes: without this check one spent link would have many working spellings.

Using a token (a POST) records (proposal, generation, action) with a conditional write, so a second
use is refused whatever the token's spelling or expiry; viewing (a GET) never records or changes anything.

What is refused and why is typed (`rotation_doctor.model.errors`): `TokenInvalid`, `TokenExpired`,
`TokenSpent`, all `TokenRefused`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from rotation_doctor.collect.aws import AwsClients, error_code
from rotation_doctor.model.errors import TokenExpired, TokenInvalid, TokenSpent

ACTIONS = ("approve", "reject")
DEFAULT_LIFETIME = 24 * 3600


@dataclass(frozen=True)
class Claims:
    proposal_id: str
    plan_hash: str
    generation: int
    action: str
    expires_at: int


_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    """Decode the canonical spelling only: what `_b64` would write for the bytes it decodes to."""
    if not _BASE64URL.fullmatch(text):
        raise ValueError("not in the base64url alphabet, or padded")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(data) != text:
        raise ValueError("not the canonical spelling")
    return data


def issue(
    key: bytes,
    proposal_id: str,
    plan_hash: str,
    action: str,
    *,
    generation: int,
    lifetime: int = DEFAULT_LIFETIME,
    now: float | None = None,
) -> str:
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action}")
    claims = {
        "p": proposal_id,
        "h": plan_hash,
        "g": generation,
        "a": action,
        "exp": int((now or time.time()) + lifetime),
    }
    body = json.dumps(claims, separators=(",", ":"), sort_keys=True).encode()
    return f"{_b64(body)}.{_b64(hmac.new(key, body, hashlib.sha256).digest())}"


def verify(
    key: bytes,
    token: str,
    *,
    proposal_id: str,
    plan_hash: str,
    generation: int,
    action: str,
    now: float | None = None,
) -> Claims:
    """The claims of a valid token for exactly this proposal, plan, generation and action; else TokenInvalid or
    TokenExpired."""
    try:
        body_part, signature_part = token.split(".")
        body, signature = _unb64(body_part), _unb64(signature_part)
    except (ValueError, TypeError) as exc:
        raise TokenInvalid("the link is malformed") from exc
    if not hmac.compare_digest(hmac.new(key, body, hashlib.sha256).digest(), signature):
        raise TokenInvalid("the link's signature is not valid")
    try:
        raw: dict[str, Any] = json.loads(body)
        claims = Claims(str(raw["p"]), str(raw["h"]), int(raw["g"]), str(raw["a"]), int(raw["exp"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise TokenInvalid("the link is malformed") from exc
    if claims.expires_at < (now or time.time()):
        raise TokenExpired("the link has expired")
    if claims.proposal_id != proposal_id:
        raise TokenInvalid("the link is for another proposal")
    if claims.plan_hash != plan_hash:
        raise TokenInvalid("the link is for another version of the plan")
    if claims.generation != generation:
        raise TokenInvalid("the link is for an earlier proposal of this plan: use the link sent for the latest one")
    if claims.action != action:
        raise TokenInvalid(f"the link does not allow {action}")
    return claims


class UsedTokens:
    """Single use: each (proposal, generation, action) is spent once (DynamoDB conditional put), whichever token
    of it comes first; the record is kept while a token for it could still be valid."""

    def __init__(self, clients: AwsClients, table: str) -> None:
        self.clients = clients
        self.table = table

    def use(self, claims: Claims, *, keep_until: int = 0) -> None:
        """Spend the decision these claims allow; TokenSpent when it was spent before."""
        try:
            self.clients.dynamodb.put_item(
                TableName=self.table,
                Item={
                    "id": {"S": f"token#{claims.proposal_id}#{claims.generation}#{claims.action}"},
                    "ttl": {"N": str(max(claims.expires_at, keep_until) + 3600)},
                    "proposal": {"S": claims.proposal_id},
                    "generation": {"N": str(claims.generation)},
                    "action": {"S": claims.action},
                },
                ConditionExpression="attribute_not_exists(id)",
            )
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise TokenSpent("the link has already been used") from exc
            raise


class SigningKey:
    """The HMAC key from Secrets Manager, read once per container."""

    def __init__(self, clients: AwsClients, secret_id: str) -> None:
        self.clients = clients
        self.secret_id = secret_id
        self._key: bytes | None = None

    def get(self) -> bytes:
        if self._key is None:
            value = self.clients.secretsmanager.get_secret_value(SecretId=self.secret_id)["SecretString"]
            self._key = value.encode()
        return self._key

"""Signed approval links: a token binds a proposal, its plan's hash, one action and an expiry, and works once.

token = base64url(claims JSON) "." base64url(HMAC-SHA256(key, claims JSON))

The key is kept in Secrets Manager (the template creates it) and read at run time. Verifying
checks the signature in constant time, the expiry, and that the token is for this proposal, this
plan and this action. Using a token (a POST) records its digest with a conditional write, so a
second use is refused; viewing (a GET) never records or changes anything.

Only the canonical spelling verifies: base64url without padding, in the URL-safe alphabet, with the
unused low bits of the last character zero. Python's decoder (like most) also accepts a trailing `=`,
`+/` for `-_`, characters outside the alphabet (skipped) and other low bits, all decoding to the same
bytes: without this check one spent link would have many working spellings.

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

from rotation_doctor.collect.aws import error_code
from rotation_doctor.model.errors import TokenExpired, TokenInvalid, TokenSpent

ACTIONS = ("approve", "reject")
DEFAULT_LIFETIME = 24 * 3600


@dataclass(frozen=True)
class Claims:
    proposal_id: str
    plan_hash: str
    action: str
    expires_at: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


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
    lifetime: int = DEFAULT_LIFETIME,
    now: float | None = None,
) -> str:
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action}")
    claims = {"p": proposal_id, "h": plan_hash, "a": action, "exp": int((now or time.time()) + lifetime)}
    body = json.dumps(claims, separators=(",", ":"), sort_keys=True).encode()
    return f"{_b64(body)}.{_b64(hmac.new(key, body, hashlib.sha256).digest())}"


def verify(
    key: bytes, token: str, *, proposal_id: str, plan_hash: str, action: str, now: float | None = None
) -> Claims:
    """The claims of a valid token for exactly this proposal, plan and action; else TokenInvalid or TokenExpired."""
    try:
        body_part, signature_part = token.split(".")
        body, signature = _unb64(body_part), _unb64(signature_part)
    except (ValueError, TypeError) as exc:
        raise TokenInvalid("the link is malformed") from exc
    if not hmac.compare_digest(hmac.new(key, body, hashlib.sha256).digest(), signature):
        raise TokenInvalid("the link's signature is not valid")
    try:
        raw: dict[str, Any] = json.loads(body)
        claims = Claims(str(raw["p"]), str(raw["h"]), str(raw["a"]), int(raw["exp"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise TokenInvalid("the link is malformed") from exc
    if claims.expires_at < (now or time.time()):
        raise TokenExpired("the link has expired")
    if claims.proposal_id != proposal_id:
        raise TokenInvalid("the link is for another proposal")
    if claims.plan_hash != plan_hash:
        raise TokenInvalid("the link is for another version of the plan")
    if claims.action != action:
        raise TokenInvalid(f"the link does not allow {action}")
    return claims


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UsedTokens:
    """Single use: each token's digest is written once (DynamoDB conditional put), expiring with the token."""

    def __init__(self, clients: Any, table: str) -> None:
        self.clients = clients
        self.table = table

    def use(self, token: str, claims: Claims) -> None:
        try:
            self.clients.dynamodb.put_item(
                TableName=self.table,
                Item={
                    "id": {"S": f"token#{digest(token)}"},
                    "ttl": {"N": str(claims.expires_at + 3600)},
                    "proposal": {"S": claims.proposal_id},
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

    def __init__(self, clients: Any, secret_id: str) -> None:
        self.clients = clients
        self.secret_id = secret_id
        self._key: bytes | None = None

    def get(self) -> bytes:
        if self._key is None:
            value = self.clients.secretsmanager.get_secret_value(SecretId=self.secret_id)["SecretString"]
            self._key = value.encode()
        return self._key

"""The approval page hands an approved proposal to the worker: one small, versioned, signed message on the events
queue.

    {"kind": "apply-approved-proposal", "version": 1, "id": "apply#p-0123456789abcdef0123#1764390000123456",
     "proposal_id": "p-0123456789abcdef0123", "generation": 1764390000123456, "by": "approval link (approve)",
     "signature": "<64 hex digits>"}

The message carries no authority. The decision is the proposal's state in DynamoDB, moved to
`approved` for this generation by a conditional write before the message is sent; the worker
applies only a proposal that is approved, at this generation and unexpired, and claims it first
(approved -> applying, conditional), so a redelivered, duplicated or forged message applies
nothing that was not approved, and nothing twice. `id` is the worker's idempotency key and log
correlation id: one per proposal and generation.

The signature says who sent it: HMAC-SHA256 over the message's other fields (their canonical JSON) under a key derived
from the links' signing key for this one purpose (`handoff_key`), so that a link's signature is never a hand-off's nor
the other way round. Without it, any principal that may send to the queue could choose when an approved proposal is
applied (or probe which proposals are approved); the worker drops a hand-off that is not signed so (`verified`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rotation_doctor.model.errors import HandoffInvalid, HandoffUnsigned

if TYPE_CHECKING:
    from rotation_doctor.approvals.tokens import SigningKey
    from rotation_doctor.collect.aws import AwsClients

KIND = "apply-approved-proposal"
VERSION = 1
_PROPOSAL_ID = re.compile(r"p-[0-9a-f]{20}")
_FIELDS = {"kind", "version", "id", "proposal_id", "generation", "by", "signature"}
# What the hand-off key is derived with: no link's token signs this text (a token's claims are a JSON object).
HANDOFF_KEY_LABEL = b"rotation-doctor/handoff/v1"


def handoff_key(signing_key: bytes) -> bytes:
    """The key hand-offs are signed with: HMAC(signing key, label), the links' key kept to its own purpose."""
    return hmac.new(signing_key, HANDOFF_KEY_LABEL, hashlib.sha256).digest()


@dataclass(frozen=True)
class ApplyApproved:
    """Apply proposal `proposal_id`, approved at `generation` by `by` (for the history)."""

    proposal_id: str
    generation: int
    by: str

    @property
    def id(self) -> str:
        return f"apply#{self.proposal_id}#{self.generation}"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": KIND,
            "version": VERSION,
            "id": self.id,
            "proposal_id": self.proposal_id,
            "generation": self.generation,
            "by": self.by,
        }

    def signature(self, signing_key: bytes) -> str:
        """HMAC-SHA256, in hex, of the message's canonical JSON (without its signature) under the hand-off key."""
        canonical = json.dumps(self.to_json(), separators=(",", ":"), sort_keys=True).encode()
        return hmac.new(handoff_key(signing_key), canonical, hashlib.sha256).hexdigest()

    def body(self, signing_key: bytes) -> str:
        """The message as sent: its fields and their signature."""
        signed = self.to_json() | {"signature": self.signature(signing_key)}
        return json.dumps(signed, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ApplyApproved:
        """The message, checked field by field; HandoffInvalid (with the reason, never the body) when it is not
        one this version sends."""
        if raw.get("kind") != KIND:
            raise HandoffInvalid(f"not an {KIND} message")
        if raw.get("version") != VERSION or isinstance(raw.get("version"), bool):
            raise HandoffInvalid(f"{KIND} version {str(raw.get('version'))[:20]} is not {VERSION}")
        unknown = set(raw) - _FIELDS
        if unknown:
            raise HandoffInvalid(f"{KIND} with unknown fields: {', '.join(sorted(unknown))[:200]}")
        pid, generation, by = raw.get("proposal_id"), raw.get("generation"), raw.get("by")
        if not isinstance(pid, str) or not _PROPOSAL_ID.fullmatch(pid):
            raise HandoffInvalid(f"{KIND} without a proposal id")
        if not isinstance(generation, int) or isinstance(generation, bool) or generation <= 0:
            raise HandoffInvalid(f"{KIND} without a generation")
        if not isinstance(by, str) or not by or len(by) > 200:
            raise HandoffInvalid(f"{KIND} without who approved it")
        message = cls(pid, generation, by)
        if raw.get("id") != message.id:
            raise HandoffInvalid(f"{KIND} whose id is not {message.id}")
        return message


def verified(raw: Mapping[str, Any], signing_key: bytes) -> ApplyApproved:
    """The message, if the approval function sent it: HandoffInvalid when it is not one this version sends,
    HandoffUnsigned when it is not signed with the hand-off key (compared in constant time)."""
    message = ApplyApproved.from_json(raw)
    signature = raw.get("signature")
    if signature is None:
        raise HandoffUnsigned(f"{KIND} without a signature")
    expected = message.signature(signing_key).encode()
    if not isinstance(signature, str) or not hmac.compare_digest(signature.encode("utf-8", "replace"), expected):
        raise HandoffUnsigned(f"{KIND} whose signature is not the approval function's")
    return message


class WorkerQueue:
    """The worker's queue (the template's EventsQueue), written with the sender's IAM identity; each message signed
    with the hand-off key."""

    def __init__(self, clients: AwsClients, queue_url: str, key: SigningKey) -> None:
        self.clients = clients
        self.queue_url = queue_url
        self.key = key

    def send(self, message: ApplyApproved) -> None:
        self.clients.sqs.send_message(
            QueueUrl=self.queue_url,
            MessageBody=message.body(self.key.get()),
            MessageAttributes={"kind": {"DataType": "String", "StringValue": KIND}},
        )

"""The audit log's signed checkpoints, published for anyone to keep copies of (fundraise/audit.py).

Views on the API blueprint (fundraise.api.routes.bp). Someone who saves these today can later run
`flask audit verify --against FILE` (or check the signatures themselves) to show the log was not cut short or
rewritten since.
"""

from __future__ import annotations

from typing import Any

from flask import url_for
from marshmallow import EXCLUDE, Schema, fields, validate

from fundraise import audit
from fundraise.access import public
from fundraise.api.common import load_query
from fundraise.api.openapi import operation
from fundraise.api.routes import bp
from fundraise.request_limits import MAX_ID

MAX_CHECKPOINTS = 1000


class CheckpointQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    after_seq = fields.Integer(
        load_default=0,
        validate=validate.Range(min=0, max=MAX_ID),
        metadata={"description": "Only checkpoints of the chain beyond this event (0: from the start)."},
    )
    limit = fields.Integer(load_default=MAX_CHECKPOINTS, validate=validate.Range(min=1, max=MAX_CHECKPOINTS))


class Checkpoint(Schema):
    seq = fields.Integer(metadata={"description": "The chain reached this event (its sequence number)."})
    head_hash = fields.String(metadata={"description": "That event's hash (hex SHA-256)."})
    sealed_at = fields.String(metadata={"description": "When the checkpoint was signed (ISO 8601, UTC)."})
    key_id = fields.String(metadata={"description": "The first 16 hex digits of SHA-256 of the public key."})
    signature = fields.String(metadata={"description": "Ed25519 signature, base64."})


class CheckpointList(Schema):
    algorithm = fields.String(metadata={"example": "Ed25519"})
    public_key = fields.String(metadata={"description": "The raw 32-byte Ed25519 public key, base64."})
    key_id = fields.String()
    signed_payload = fields.String(
        metadata={
            "description": "What each signature covers: the UTF-8 JSON of {seq, head_hash, sealed_at, key_id} "
            "with keys sorted and no spaces."
        }
    )
    checkpoints = fields.List(fields.Nested(Checkpoint))
    next = fields.String(allow_none=True, metadata={"description": "The next page, or null when up to date."})


@bp.route("/audit/checkpoints", methods=["GET"])
@public
@operation(
    "The audit log's signed checkpoints",
    tag="transparency",
    description="Every checkpoint of the audit log's hash chain, oldest first: the chain's length and head "
    "hash at a moment, signed with the platform's Ed25519 key. Keep copies: a later log that no longer reaches "
    "a checkpoint you hold, or reaches it with another hash, was cut short or rewritten.",
    query=CheckpointQuery,
    responses={200: ("Checkpoints from after_seq on.", CheckpointList)},
)
def audit_checkpoints() -> Any:
    query = load_query(CheckpointQuery())
    items = audit.checkpoints_published(query["after_seq"], query["limit"])
    key = audit.public_key()
    following = None
    if len(items) == query["limit"]:
        following = url_for(
            "api.audit_checkpoints", after_seq=items[-1]["seq"], limit=query["limit"], _external=True
        )
    return CheckpointList().dump(
        {
            "algorithm": "Ed25519",
            "public_key": key.public_key,
            "key_id": key.key_id,
            "signed_payload": "canonical JSON of {seq, head_hash, sealed_at, key_id}",
            "checkpoints": items,
            "next": following,
        }
    )

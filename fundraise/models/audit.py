"""The tamper-evident audit log: one row per state change or money movement, sealed into a hash chain, with
signed checkpoints of the chain's head.

A request appends its events as ordinary inserts (`seq`, `prev_hash` and `hash` empty). The sealer
(fundraise/audit.py) later gives committed events the next sequence numbers and chains them in that order:
hash = sha256(prev_hash || canonical_json(event)). A checkpoint signs the head (seq, hash, time) with the
platform's Ed25519 key, so deleting the newest events, which leaves a shorter chain that still links up, is
caught against any checkpoint published before.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from fundraise.extensions import db
from fundraise.models.columns import UTCDateTime


class AuditEvent(db.Model):
    """One event; rows are only ever appended, and sealed once."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_object", "object_type", "object_id"),
        # The sealer's work list: what is not sealed yet, in the order it was written.
        Index(
            "ix_audit_events_unsealed",
            "id",
            postgresql_where=text("seq IS NULL"),
            sqlite_where=text("seq IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_label: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), index=True)
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Set by the sealer, together: the event's place in the chain, its predecessor's hash and its own.
    seq: Mapped[int | None] = mapped_column(unique=True)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64), unique=True)


class AuditCheckpoint(db.Model):
    """The chain's head at a moment, signed: anyone holding a copy can later show the chain still reaches it."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(index=True)
    head_hash: Mapped[str] = mapped_column(String(64))
    sealed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The first 16 hex digits of sha256 of the raw public key: which key signed (keys can be rotated).
    key_id: Mapped[str] = mapped_column(String(16))
    # Ed25519 over the canonical JSON of {seq, head_hash, sealed_at, key_id}, base64.
    signature: Mapped[str] = mapped_column(String(128))

"""The audit log (infrastructure, below the services; the ledger uses it too).

- `record` / `record_many` append events in the caller's transaction as ordinary inserts: no lock, nothing
  read first, so money postings do not queue behind one another for the log.
- `seal` (the sealer) takes committed events that are not sealed yet, gives them the next sequence numbers in
  the order it reads them, chains their hashes, and writes a signed checkpoint of the head, one batch per
  transaction under one lock: only one sealer runs at a time, and a crash leaves a batch wholly sealed or not
  at all. An event that commits late is simply sealed in a later batch. It runs right after each commit that
  wrote events in the embedded default (AUDIT_SEAL_AFTER_COMMIT), in the worker's sealing loop in
  production, and by hand as `flask audit seal`.
- `verify_log` (fundraise/audit_verification.py) walks the chain, checks every checkpoint's signature and that the chain still reaches each
  checkpoint (so cutting the newest events off is caught), optionally against checkpoints someone saved
  earlier from /api/v1/audit/checkpoints.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from flask import current_app, has_app_context
from sqlalchemy import Connection, bindparam, event, func, insert, select, text, update
from sqlalchemy.orm import Session

from fundraise.database import insert_rows
from fundraise.extensions import db
from fundraise.models import AuditCheckpoint, AuditEvent, User
from fundraise.models.columns import utcnow

log = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
# Any fixed number: the key of the advisory lock that lets one sealer run at a time on PostgreSQL.
SEAL_LOCK_KEY = 7_201_126
SEAL_BATCH_SIZE = 5_000
_PENDING = "aidbridge.audit_pending"

EVENTS = AuditEvent.__table__
CHECKPOINTS = AuditCheckpoint.__table__
BODY_COLUMNS = (
    EVENTS.c.created_at,
    EVENTS.c.actor_id,
    EVENTS.c.actor_label,
    EVENTS.c.action,
    EVENTS.c.object_type,
    EVENTS.c.object_id,
    EVENTS.c.before,
    EVENTS.c.after,
)


class AuditKeyError(ValueError):
    """AUDIT_SIGNING_KEY is missing or is not a base64 Ed25519 private key of 32 bytes."""


# --- hashing ---------------------------------------------------------------------------------------------


# One encoder for every hash: json.dumps with these options would build a new encoder per call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Mapping[str, Any]) -> bytes:
    return _CANONICAL.encode(value).encode()


def instant_text(value: datetime) -> str:
    # In UTC whatever zone the database hands the value back in, so a hash never depends on the server's zone.
    return value.astimezone(UTC).isoformat()


def event_body(row: Any) -> dict[str, Any]:
    """The fields the hash covers: everything but the row id, the sequence number and the hashes."""
    return {
        "created_at": instant_text(row.created_at),
        "actor_id": row.actor_id,
        "actor_label": row.actor_label,
        "action": row.action,
        "object_type": row.object_type,
        "object_id": row.object_id,
        "before": row.before,
        "after": row.after,
    }


def chain_hash(prev_hash: str, body: Mapping[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical_json(body)).hexdigest()


# --- appending -------------------------------------------------------------------------------------------


def record(
    action: str,
    object_type: str,
    object_id: object,
    *,
    actor: User | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append an event in the caller's transaction; the caller commits it with the change it describes.

    Not flushed here: the events of one unit of work go to the database together, in one INSERT, at its next
    flush (flush first when you need the event's id)."""
    event_ = AuditEvent(
        created_at=utcnow(),
        actor_id=actor.id if actor else None,
        actor_label=_actor_label(actor),
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        before=_plain(before),
        after=_plain(after),
    )
    db.session.add(event_)
    db.session.info[_PENDING] = True
    return event_


@dataclass(frozen=True)
class Event:
    """An event to append with `record_many`."""

    action: str
    object_type: str
    object_id: object
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


def record_many(events: Sequence[Event], *, actor: User | None) -> list[int]:
    """Append events in the caller's transaction in one statement (batch work); their ids, in order."""
    if not events:
        return []
    created_at = utcnow()
    rows = [
        {
            "created_at": created_at,
            "actor_id": actor.id if actor else None,
            "actor_label": _actor_label(actor),
            "action": item.action,
            "object_type": item.object_type,
            "object_id": str(item.object_id),
            "before": _plain(item.before),
            "after": _plain(item.after),
        }
        for item in events
    ]
    db.session.info[_PENDING] = True
    return insert_rows(EVENTS, rows)


def _actor_label(actor: User | None) -> str:
    return f"{actor.role}:{actor.id}" if actor else "system"


def _plain(values: dict[str, Any] | None) -> dict[str, Any] | None:
    """JSON-native values only, so the stored event hashes the same after a round trip through the database."""
    if values is None:
        return None
    if all(type(value) in _FLAT for value in values.values()):
        return values  # already what a round trip would give (the common case, and batch work's)
    plain: dict[str, Any] = json.loads(json.dumps(values, default=str))
    return plain


# Values a JSON round trip gives back unchanged (float is left out: its text form may not round-trip).
_FLAT = frozenset({str, int, bool, type(None)})


# --- the signing key -------------------------------------------------------------------------------------


def load_signing_key(encoded: str | None) -> Ed25519PrivateKey:
    """The Ed25519 private key from its base64 form (32 raw bytes), or AuditKeyError saying what is wrong."""
    if not encoded:
        raise AuditKeyError("AUDIT_SIGNING_KEY is not set")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise AuditKeyError("AUDIT_SIGNING_KEY is not base64") from None
    if len(raw) != 32:
        raise AuditKeyError(f"AUDIT_SIGNING_KEY must encode 32 bytes, not {len(raw)}")
    return Ed25519PrivateKey.from_private_bytes(raw)


def signing_key() -> Ed25519PrivateKey:
    return load_signing_key(current_app.config.get("AUDIT_SIGNING_KEY"))


def public_key_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    return hashlib.sha256(public_key_bytes(key)).hexdigest()[:16]


@dataclass(frozen=True)
class PublicKey:
    """What an outsider needs to check checkpoints: the raw public key (base64) and its id."""

    key_id: str
    public_key: str


def public_key() -> PublicKey:
    key = signing_key()
    return PublicKey(key_id(key), base64.b64encode(public_key_bytes(key)).decode())


def checkpoint_payload(seq: int, head_hash: str, sealed_at: str, key_id_: str) -> bytes:
    """The bytes a checkpoint's signature covers."""
    return canonical_json({"seq": seq, "head_hash": head_hash, "sealed_at": sealed_at, "key_id": key_id_})


# --- sealing ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SealResult:
    sealed: int
    checkpoints: int
    head_seq: int


def seal(*, batch_size: int = SEAL_BATCH_SIZE, max_batches: int | None = None) -> SealResult:
    """Seal everything committed and unsealed, a batch per transaction, on a connection of its own."""
    key = signing_key()
    every = timedelta(seconds=current_app.config["AUDIT_CHECKPOINT_SECONDS"])
    sealed = checkpoints = head = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        with db.engine.begin() as connection:
            count, wrote, head = seal_batch(connection, key, batch_size=batch_size, checkpoint_every=every)
        sealed += count
        checkpoints += wrote
        batches += 1
        if count < batch_size:
            break
    return SealResult(sealed, checkpoints, head)


def seal_batch(
    connection: Connection, key: Ed25519PrivateKey, *, batch_size: int, checkpoint_every: timedelta
) -> tuple[int, int, int]:
    """Seal up to `batch_size` events in the connection's transaction; (sealed, checkpoints written, head seq).

    A checkpoint is written when the head has moved past the last one and that one is at least
    `checkpoint_every` old (zero: after every batch that sealed something).
    """
    if connection.dialect.name == "postgresql":
        # Held until this batch commits; a second sealer waits, then sees this batch's work as done.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SEAL_LOCK_KEY})
    # (SQLite: the transaction began IMMEDIATE, see fundraise/database.py: sealers are already one at a time.)
    head = connection.execute(
        select(EVENTS.c.seq, EVENTS.c.hash)
        .where(EVENTS.c.seq.is_not(None))
        .order_by(EVENTS.c.seq.desc())
        .limit(1)
    ).first()
    seq, prev_hash = (int(head.seq), str(head.hash)) if head is not None else (0, GENESIS_HASH)
    rows = connection.execute(
        select(EVENTS.c.id, *BODY_COLUMNS)
        .where(EVENTS.c.seq.is_(None))
        .order_by(EVENTS.c.id)
        .limit(batch_size)
    ).all()
    sealed = []
    for row in rows:
        seq += 1
        digest = chain_hash(prev_hash, event_body(row))
        sealed.append({"event_id": row.id, "new_seq": seq, "new_prev": prev_hash, "new_hash": digest})
        prev_hash = digest
    if sealed:
        connection.execute(
            update(EVENTS)
            .where(EVENTS.c.id == bindparam("event_id"))
            .values(seq=bindparam("new_seq"), prev_hash=bindparam("new_prev"), hash=bindparam("new_hash")),
            sealed,
        )
    last = connection.execute(
        select(CHECKPOINTS.c.seq, CHECKPOINTS.c.sealed_at).order_by(CHECKPOINTS.c.id.desc()).limit(1)
    ).first()
    now = utcnow()
    due = last is None or (seq > last.seq and now - last.sealed_at >= checkpoint_every)
    if seq > 0 and due:
        sealed_at = instant_text(now)
        signer = key_id(key)
        signature = key.sign(checkpoint_payload(seq, prev_hash, sealed_at, signer))
        connection.execute(
            insert(CHECKPOINTS).values(
                seq=seq,
                head_hash=prev_hash,
                sealed_at=now,
                key_id=signer,
                signature=base64.b64encode(signature).decode(),
            )
        )
    return len(sealed), int(seq > 0 and due), seq


@event.listens_for(Session, "after_commit")
def _seal_after_commit(session: Session) -> None:
    # The embedded default seals right after a commit that wrote events, on a connection of its own (this
    # session's transaction is over and may not be used here). In production the worker's loop seals.
    if session.in_nested_transaction():
        return  # a savepoint was released: the events are not committed until the outer transaction is
    if not session.info.pop(_PENDING, False) or not has_app_context():
        return
    if not current_app.config["AUDIT_SEAL_AFTER_COMMIT"]:
        return
    try:
        seal()
    except Exception:
        # The events are committed and stay unsealed; the next seal (any later commit, or `flask audit seal`)
        # takes them. `flask audit verify` reports what is waiting.
        log.exception("sealing the audit log after a commit failed; the events wait for the next seal")


@event.listens_for(Session, "after_rollback")
def _forget_pending(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(_PENDING, None)


def unsealed_backlog() -> tuple[int, datetime | None]:
    """How many events wait for the sealer, and when the oldest of them was written."""
    count, oldest = db.session.execute(
        select(func.count(), func.min(EVENTS.c.created_at)).where(EVENTS.c.seq.is_(None))
    ).one()
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return int(count), oldest


def checkpoints_published(after_seq: int = 0, limit: int = 100) -> list[dict[str, Any]]:
    """Checkpoints in order from `after_seq`, as /api/v1/audit/checkpoints publishes them."""
    rows = db.session.execute(
        select(CHECKPOINTS).where(CHECKPOINTS.c.seq > after_seq).order_by(CHECKPOINTS.c.id).limit(limit)
    )
    return [
        {
            "seq": row.seq,
            "head_hash": row.head_hash,
            "sealed_at": instant_text(row.sealed_at),
            "key_id": row.key_id,
            "signature": row.signature,
        }
        for row in rows
    ]


def latest_checkpoints(limit: int = 10) -> list[dict[str, Any]]:
    """The newest checkpoints first (the transparency page)."""
    rows = db.session.execute(select(CHECKPOINTS).order_by(CHECKPOINTS.c.id.desc()).limit(limit))
    return [
        {
            "seq": row.seq,
            "head_hash": row.head_hash,
            "sealed_at": row.sealed_at,
            "key_id": row.key_id,
            "signature": row.signature,
        }
        for row in rows
    ]


def history(object_type: str, object_id: object) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.object_type == object_type, AuditEvent.object_id == str(object_id))
            .order_by(AuditEvent.id)
        )
    )

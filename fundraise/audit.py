"""The audit log (infrastructure, below the services; the ledger uses it too): append events to the hash chain
in the caller's transaction, and verify the chain."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text

from fundraise.database import insert_rows
from fundraise.extensions import db
from fundraise.models import AuditEvent, User
from fundraise.models.columns import utcnow

GENESIS_HASH = "0" * 64
# Any fixed number: the key of the advisory lock that serialises appends on PostgreSQL.
CHAIN_LOCK_KEY = 7_201_125


def canonical_json(event: dict[str, Any]) -> bytes:
    return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_body(event: AuditEvent) -> dict[str, Any]:
    """The fields the hash covers: everything but the row id and the hash itself."""
    return {
        "created_at": event.created_at.isoformat(),
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "before": event.before,
        "after": event.after,
    }


def chain_hash(prev_hash: str, body: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical_json(body)).hexdigest()


def record(
    action: str,
    object_type: str,
    object_id: object,
    *,
    actor: User | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append an event in the caller's transaction; the caller commits it with the change it describes."""
    if db.session.get_bind().dialect.name == "postgresql":
        # Appends must be serial or two events would share a predecessor; held until commit.
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEY})
    prev_hash = db.session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    event = AuditEvent(
        created_at=utcnow(),
        actor_id=actor.id if actor else None,
        actor_label=f"{actor.role}:{actor.id}" if actor else "system",
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        before=_plain(before),
        after=_plain(after),
        prev_hash=prev_hash or GENESIS_HASH,
    )
    event.hash = chain_hash(event.prev_hash, event_body(event))
    db.session.add(event)
    db.session.flush()
    return event


@dataclass(frozen=True)
class Event:
    """An event to append with `record_many`."""

    action: str
    object_type: str
    object_id: object
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


def record_many(events: Sequence[Event], *, actor: User | None) -> list[int]:
    """Append events in the caller's transaction with one INSERT, chained in the order given; their ids.

    The same chain as `record` writes one event at a time, for batch work (verifying thousands of cases),
    where a round trip per event would cost more than the work itself.
    """
    if not events:
        return []
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEY})
    prev_hash = (
        db.session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)) or GENESIS_HASH
    )
    created_at = utcnow()
    rows = []
    for event in events:
        row = {
            "created_at": created_at,
            "actor_id": actor.id if actor else None,
            "actor_label": f"{actor.role}:{actor.id}" if actor else "system",
            "action": event.action,
            "object_type": event.object_type,
            "object_id": str(event.object_id),
            "before": _plain(event.before),
            "after": _plain(event.after),
            "prev_hash": prev_hash,
        }
        body = {name: row[name] for name in _BODY_FIELDS}
        body["created_at"] = created_at.isoformat()
        row["hash"] = prev_hash = chain_hash(prev_hash, body)
        rows.append(row)
    return insert_rows(AuditEvent.__table__, rows)


_BODY_FIELDS = (
    "created_at",
    "actor_id",
    "actor_label",
    "action",
    "object_type",
    "object_id",
    "before",
    "after",
)


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


@dataclass(frozen=True)
class BrokenLink:
    event_id: int
    reason: str


def verify_chain(batch_size: int = 5000) -> tuple[int, BrokenLink | None]:
    """Walk the chain in order; return how many events were checked and the first broken link, if any."""
    checked = 0
    expected_prev = GENESIS_HASH
    for event in _events_in_order(batch_size):
        if event.prev_hash != expected_prev:
            return checked, BrokenLink(
                event.id, "its prev_hash does not match the hash of the event before it"
            )
        if chain_hash(event.prev_hash, event_body(event)) != event.hash:
            return checked, BrokenLink(event.id, "its contents do not match its hash (the row was altered)")
        expected_prev = event.hash
        checked += 1
    return checked, None


def _events_in_order(batch_size: int) -> Iterator[AuditEvent]:
    last_id = 0
    while True:
        batch = db.session.scalars(
            select(AuditEvent).where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(batch_size)
        ).all()
        if not batch:
            return
        yield from batch
        last_id = batch[-1].id
        db.session.expunge_all()


def history(object_type: str, object_id: object) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.object_type == object_type, AuditEvent.object_id == str(object_id))
            .order_by(AuditEvent.id)
        )
    )

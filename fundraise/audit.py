"""The audit log (infrastructure, below the services; the ledger uses it too).

- `record` / `record_many` append events in the caller's transaction as ordinary inserts: no lock, nothing
  read first, so money postings do not queue behind one another for the log.
- `seal` (the sealer) takes committed events that are not sealed yet, gives them the next sequence numbers in
  the order it reads them, chains their hashes, and writes a signed checkpoint of the head, one batch per
  transaction under one lock: only one sealer runs at a time, and a crash leaves a batch wholly sealed or not
  at all. An event that commits late is simply sealed in a later batch. It runs right after each commit that
  wrote events in the embedded default (AUDIT_SEAL_AFTER_COMMIT), in the worker's sealing loop in
  production, and by hand as `flask audit seal`.
- `verify_log` walks the chain, checks every checkpoint's signature and that the chain still reaches each
  checkpoint (so cutting the newest events off is caught), optionally against checkpoints someone saved
  earlier from /api/v1/audit/checkpoints.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import multiprocessing
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
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
_BODY_COLUMNS = (
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


def _instant(value: datetime) -> str:
    # In UTC whatever zone the database hands the value back in, so a hash never depends on the server's zone.
    return value.astimezone(UTC).isoformat()


def event_body(row: Any) -> dict[str, Any]:
    """The fields the hash covers: everything but the row id, the sequence number and the hashes."""
    return {
        "created_at": _instant(row.created_at),
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
        select(EVENTS.c.id, *_BODY_COLUMNS)
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
        sealed_at = _instant(now)
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


# --- verifying -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the log, in words an operator can act on."""

    kind: str  # "altered" | "missing" | "relinked" | "signature" | "not_ours" | "tail_cut" | "fork" | "file"
    message: str


@dataclass
class Verification:
    """What `verify_log` found."""

    events: int = 0
    head_seq: int = 0
    checkpoints: int = 0
    saved_checkpoints: int = 0
    unsealed: int = 0
    oldest_unsealed: datetime | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class SavedCheckpoint:
    """A checkpoint as published (and as someone may have saved it): every field as text or number."""

    seq: int
    head_hash: str
    sealed_at: str
    key_id: str
    signature: str
    label: str  # where it came from, for messages: "checkpoint #12" or "saved checkpoint 3 of FILE"


MAX_PROBLEMS = 50


# A chain this long is walked in parallel ranges (when the caller allows it), one process per core, in ranges
# of at least this many sequence numbers.
PARALLEL_FROM_EVENTS = 200_000
PARALLEL_RANGE_MIN = 50_000


def verify_log(
    saved: Iterable[SavedCheckpoint] = (), *, batch_size: int = 20_000, parallel: bool = False
) -> Verification:
    """Walk the sealed chain in order and check every checkpoint (ours, and any `saved` elsewhere).

    `parallel` (the command line's choice; never inside a web process) lets a long chain on PostgreSQL be
    walked in ranges by worker processes: every link can be checked on its own, and the ranges are stitched
    together here."""
    result = Verification()
    key = signing_key()
    ours = key_id(key)
    public = key.public_key()
    checkpoints = [*_stored_checkpoints(), *saved]
    result.checkpoints = sum(1 for c in checkpoints if c.label.startswith("checkpoint #"))
    result.saved_checkpoints = len(checkpoints) - result.checkpoints
    wanted: dict[int, list[SavedCheckpoint]] = {}
    for checkpoint in checkpoints:
        if checkpoint.key_id != ours:
            result.problems.append(
                Problem(
                    "not_ours",
                    f"{checkpoint.label} (seq {checkpoint.seq}) is signed by key {checkpoint.key_id}, not by"
                    f" this platform's key {ours}: it is not ours",
                )
            )
            continue
        if not _signature_holds(public, checkpoint):
            result.problems.append(
                Problem(
                    "signature",
                    f"{checkpoint.label} (seq {checkpoint.seq}) has a signature that does not match its contents:"
                    " it was forged or altered",
                )
            )
            continue
        wanted.setdefault(checkpoint.seq, []).append(checkpoint)

    walks = _walk_in_parallel(set(wanted)) if parallel else None
    if walks is None:
        walks = [_walk(_sealed_in_order(batch_size), set(wanted))]
    expected_seq, expected_prev = 1, GENESIS_HASH
    hashes: dict[int, str] = {}
    for walk in walks:
        if walk.first is not None:
            result.problems += _link_problems(*walk.first, expected_seq, expected_prev)
            expected_seq, expected_prev = walk.last  # type: ignore[misc]  # a walk with a first row has a last
            expected_seq += 1
        result.problems += walk.findings
        result.events += walk.count
        hashes.update(walk.hashes)
    result.head_seq = expected_seq - 1
    for seq in sorted(wanted):
        for checkpoint in wanted[seq]:
            if seq not in hashes:
                result.problems.append(
                    Problem(
                        "tail_cut" if seq > result.head_seq else "missing",
                        f"{checkpoint.label}, signed {checkpoint.sealed_at}, says the chain reached event {seq},"
                        + (
                            f" but it now ends at {result.head_seq}: the newest events were deleted"
                            if seq > result.head_seq
                            else " which is no longer in the chain: it was deleted"
                        ),
                    )
                )
            elif checkpoint.head_hash != hashes[seq]:
                result.problems.append(
                    Problem(
                        "fork",
                        f"{checkpoint.label} says the chain's event {seq} had hash {checkpoint.head_hash[:16]}…,"
                        f" but it now has {hashes[seq][:16]}…: the log was rewritten after that checkpoint",
                    )
                )
    del result.problems[MAX_PROBLEMS:]
    result.unsealed, result.oldest_unsealed = unsealed_backlog()
    return result


@dataclass
class _Walk:
    """What walking one run of the chain found; the link into its first event is the caller's to check."""

    findings: list[Problem] = field(default_factory=list)
    count: int = 0
    first: tuple[int, int, str] | None = None  # the first event's id, seq and prev_hash
    last: tuple[int, str] | None = None  # the last event's seq and hash
    hashes: dict[int, str] = field(default_factory=dict)  # at the sequence numbers checkpoints name


def _walk(rows: Iterable[Any], wanted: set[int]) -> _Walk:
    walk = _Walk()
    previous: tuple[int, str] | None = None
    for row in rows:
        if len(walk.findings) >= MAX_PROBLEMS:
            break
        if previous is None:
            walk.first = (row.id, row.seq, row.prev_hash or "")
        else:
            walk.findings += _link_problems(
                row.id, row.seq, row.prev_hash or "", previous[0] + 1, previous[1]
            )
        if chain_hash(row.prev_hash or "", event_body(row)) != row.hash:
            walk.findings.append(
                Problem(
                    "altered",
                    f"audit event {row.id} (seq {row.seq}): its contents do not match its hash (the row was"
                    " altered)",
                )
            )
        if row.seq in wanted:
            walk.hashes[row.seq] = str(row.hash)
        previous = (row.seq, str(row.hash))
        walk.count += 1
    walk.last = previous
    return walk


def _link_problems(
    event_id: int, seq: int, prev_hash: str, expected_seq: int, expected_prev: str
) -> list[Problem]:
    """Whether an event follows on from the one before it: the next number, and that event's hash."""
    if seq != expected_seq:
        return [
            Problem(
                "missing",
                f"events with seq {expected_seq} to {seq - 1} are missing (deleted) before audit event"
                f" {event_id} (seq {seq})",
            )
        ]
    if prev_hash != expected_prev:
        return [
            Problem(
                "relinked",
                f"audit event {event_id} (seq {seq}): its prev_hash does not match the hash of the event"
                " before it (events were swapped, replaced or re-chained)",
            )
        ]
    return []


def _walk_in_parallel(wanted: set[int]) -> list[_Walk] | None:
    """The chain walked in ranges of sequence numbers by worker processes, in order; None when it is not
    worth it (short, or not PostgreSQL)."""
    if db.session.get_bind().dialect.name != "postgresql":
        return None
    count, highest = db.session.execute(
        select(func.count(), func.max(EVENTS.c.seq)).where(EVENTS.c.seq.is_not(None))
    ).one()
    workers = min(os.cpu_count() or 1, 8)
    if workers < 2 or count < PARALLEL_FROM_EVENTS:
        return None
    url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    step = max(PARALLEL_RANGE_MIN, highest // (workers * 4) + 1)
    ranges = [(low, min(low + step - 1, highest)) for low in range(1, highest + 1, step)]
    # Forked: ready at once. A worker opens a connection of its own and never touches the ones it inherited;
    # multiprocessing ends it with os._exit, so nothing of this process's is closed or flushed there.
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return list(pool.map(_walk_range, [url] * len(ranges), ranges, [wanted] * len(ranges)))


def _walk_range(url: str, seqs: tuple[int, int], wanted: set[int]) -> _Walk:
    """In a worker process: walk the events numbered seqs[0]..seqs[1] on a connection of its own."""
    import psycopg
    from psycopg.rows import namedtuple_row

    with (
        psycopg.connect(url) as connection,
        connection.cursor(name="audit_verify_range", row_factory=namedtuple_row) as cursor,
    ):
        cursor.itersize = 20_000
        cursor.execute(_CHAIN_QUERY + " WHERE seq BETWEEN %s AND %s ORDER BY seq", seqs)
        return _walk(cursor, wanted)


def unsealed_backlog() -> tuple[int, datetime | None]:
    """How many events wait for the sealer, and when the oldest of them was written."""
    count, oldest = db.session.execute(
        select(func.count(), func.min(EVENTS.c.created_at)).where(EVENTS.c.seq.is_(None))
    ).one()
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return int(count), oldest


def _signature_holds(public: Ed25519PublicKey, checkpoint: SavedCheckpoint) -> bool:
    try:
        signature = base64.b64decode(checkpoint.signature, validate=True)
        public.verify(
            signature,
            checkpoint_payload(checkpoint.seq, checkpoint.head_hash, checkpoint.sealed_at, checkpoint.key_id),
        )
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def _stored_checkpoints() -> list[SavedCheckpoint]:
    return [
        SavedCheckpoint(
            seq=row.seq,
            head_hash=row.head_hash,
            sealed_at=_instant(row.sealed_at),
            key_id=row.key_id,
            signature=row.signature,
            label=f"checkpoint #{row.id}",
        )
        for row in db.session.execute(select(CHECKPOINTS).order_by(CHECKPOINTS.c.id))
    ]


def _sealed_in_order(batch_size: int) -> Iterator[Any]:
    """The sealed events in chain order, with the columns verification reads."""
    if db.session.get_bind().dialect.name == "postgresql":
        yield from _sealed_in_order_postgresql(batch_size)
        return
    last = 0
    columns = (EVENTS.c.id, EVENTS.c.seq, EVENTS.c.prev_hash, EVENTS.c.hash, *_BODY_COLUMNS)
    while True:
        batch = db.session.execute(
            select(*columns)
            .where(EVENTS.c.seq.is_not(None), EVENTS.c.seq > last)
            .order_by(EVENTS.c.seq)
            .limit(batch_size)
        ).all()
        if not batch:
            return
        yield from batch
        last = batch[-1].seq


_CHAIN_QUERY = (
    "SELECT id, seq, prev_hash, hash, created_at, actor_id, actor_label, action, object_type, object_id, before,"
    " after FROM audit_events"
)


def _sealed_in_order_postgresql(batch_size: int) -> Iterator[Any]:
    # One server-side cursor read straight through psycopg: at a million events, building SQLAlchemy rows
    # would cost more than the hashing itself. psycopg already hands back aware datetimes and parsed JSON.
    from psycopg.rows import namedtuple_row

    # psycopg's own Connection, which SQLAlchemy types as the bare DBAPI protocol.
    connection: Any = db.session.connection().connection.dbapi_connection
    with connection.cursor(name="audit_verify", row_factory=namedtuple_row) as cursor:
        cursor.itersize = batch_size
        cursor.execute(_CHAIN_QUERY + " WHERE seq IS NOT NULL ORDER BY seq")
        yield from cursor


def checkpoints_published(after_seq: int = 0, limit: int = 100) -> list[dict[str, Any]]:
    """Checkpoints in order from `after_seq`, as /api/v1/audit/checkpoints publishes them."""
    rows = db.session.execute(
        select(CHECKPOINTS).where(CHECKPOINTS.c.seq > after_seq).order_by(CHECKPOINTS.c.id).limit(limit)
    )
    return [
        {
            "seq": row.seq,
            "head_hash": row.head_hash,
            "sealed_at": _instant(row.sealed_at),
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


def saved_checkpoints(document: object, source: str) -> list[SavedCheckpoint]:
    """Checkpoints from a saved copy of /api/v1/audit/checkpoints (the whole response or its list); ValueError
    naming the first entry that is not a checkpoint."""
    items = document.get("checkpoints") if isinstance(document, dict) else document
    if not isinstance(items, list):
        raise ValueError(
            f"{source} holds no list of checkpoints (expected the JSON of /api/v1/audit/checkpoints)"
        )
    found = []
    for index, item in enumerate(items, start=1):
        if not (
            isinstance(item, dict)
            and isinstance(item.get("seq"), int)
            and not isinstance(item.get("seq"), bool)
            and all(
                isinstance(item.get(name), str) for name in ("head_hash", "sealed_at", "key_id", "signature")
            )
        ):
            raise ValueError(
                f"entry {index} of {source} is not a checkpoint (it needs seq, head_hash, sealed_at, key_id,"
                " signature)"
            )
        found.append(
            SavedCheckpoint(
                seq=item["seq"],
                head_hash=item["head_hash"],
                sealed_at=item["sealed_at"],
                key_id=item["key_id"],
                signature=item["signature"],
                label=f"saved checkpoint {index} of {source}",
            )
        )
    return found


def history(object_type: str, object_id: object) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.object_type == object_type, AuditEvent.object_id == str(object_id))
            .order_by(AuditEvent.id)
        )
    )

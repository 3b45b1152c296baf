"""Checking the audit log (fundraise/audit.py writes and seals it): `verify_log` recomputes every hash in seal
order, checks every checkpoint's signature, ours and any saved elsewhere, and that the chain still reaches each
of them, naming every problem in words an operator can act on. `flask audit verify` runs it; on PostgreSQL it
walks a long chain in parallel ranges.
"""

from __future__ import annotations

import base64
import binascii
import multiprocessing
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select

from fundraise.audit import (
    BODY_COLUMNS,
    CHECKPOINTS,
    EVENTS,
    GENESIS_HASH,
    chain_hash,
    checkpoint_payload,
    event_body,
    instant_text,
    key_id,
    signing_key,
    unsealed_backlog,
)
from fundraise.extensions import db


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
            sealed_at=instant_text(row.sealed_at),
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
    columns = (EVENTS.c.id, EVENTS.c.seq, EVENTS.c.prev_hash, EVENTS.c.hash, *BODY_COLUMNS)
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

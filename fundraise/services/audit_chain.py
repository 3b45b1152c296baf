"""The audit chain's health in a glance, cheap enough for every view of the audit-log viewer: the newest events
(a bounded range at the head of the chain) re-hashed and linked, and the newest checkpoint's signature checked
and matched against the chain. A full walk of the whole chain is `flask audit verify`'s job
(fundraise/audit_verification.py), never a page's."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from fundraise.audit import (
    BODY_COLUMNS,
    CHECKPOINTS,
    EVENTS,
    GENESIS_HASH,
    AuditKeyError,
    chain_hash,
    checkpoint_payload,
    event_body,
    instant_text,
    key_id,
    signing_key,
    unsealed_backlog,
)
from fundraise.extensions import db
from fundraise.models.columns import utcnow

# How many of the newest sealed events each look re-hashes: a few milliseconds.
RECENT_EVENTS = 500


@dataclass(frozen=True)
class ChainProblem:
    kind: str  # "altered" | "missing" | "relinked" | "signature" | "not_ours" | "tail_cut" | "fork"
    seq: int


@dataclass
class ChainStatus:
    """What was checked and what it showed. `state` is "intact", "broken", or "not_checked" (then `reason`
    says why: "no_key" when the signing key is not configured, "empty" when nothing is sealed yet)."""

    state: str
    checked_at: datetime
    reason: str = ""
    first_seq: int = 0
    last_seq: int = 0
    checkpoint_seq: int | None = None
    checkpoint_at: datetime | None = None
    checkpoint_matched: bool = False  # the checkpoint's seq lay in the range and its hash was found there
    unsealed: int = 0
    problems: list[ChainProblem] = field(default_factory=list)


def recent_status(window: int = RECENT_EVENTS) -> ChainStatus:
    """Re-hash the newest `window` sealed events and check the newest checkpoint against them."""
    now = utcnow()
    unsealed, _oldest = unsealed_backlog()
    try:
        key = signing_key()
    except AuditKeyError:
        return ChainStatus(state="not_checked", checked_at=now, reason="no_key", unsealed=unsealed)
    head = db.session.scalar(
        select(EVENTS.c.seq).where(EVENTS.c.seq.is_not(None)).order_by(EVENTS.c.seq.desc()).limit(1)
    )
    if head is None:
        return ChainStatus(state="not_checked", checked_at=now, reason="empty", unsealed=unsealed)
    first = max(1, head - window + 1)
    status = ChainStatus(state="intact", checked_at=now, first_seq=first, last_seq=head, unsealed=unsealed)
    # One event before the range too, so the range's first link can be checked.
    rows = db.session.execute(
        select(EVENTS.c.id, EVENTS.c.seq, EVENTS.c.prev_hash, EVENTS.c.hash, *BODY_COLUMNS)
        .where(EVENTS.c.seq >= first - 1, EVENTS.c.seq <= head)
        .order_by(EVENTS.c.seq)
    ).all()
    hashes: dict[int, str] = {}
    expected_seq, expected_prev = first, GENESIS_HASH if first == 1 else None
    if first > 1 and (not rows or rows[0].seq != first - 1):
        status.problems.append(ChainProblem("missing", first - 1))
    for row in rows:
        if row.seq < first:
            expected_prev = row.hash
            continue
        if row.seq != expected_seq:
            status.problems.append(ChainProblem("missing", expected_seq))
        elif expected_prev is not None and row.prev_hash != expected_prev:
            status.problems.append(ChainProblem("relinked", row.seq))
        if chain_hash(row.prev_hash or "", event_body(row)) != row.hash:
            status.problems.append(ChainProblem("altered", row.seq))
        hashes[row.seq] = row.hash
        expected_seq, expected_prev = row.seq + 1, row.hash
    _check_latest_checkpoint(status, key, hashes)
    if status.problems:
        status.state = "broken"
    return status


def _check_latest_checkpoint(status: ChainStatus, key: Ed25519PrivateKey, hashes: dict[int, str]) -> None:
    checkpoint = db.session.execute(select(CHECKPOINTS).order_by(CHECKPOINTS.c.id.desc()).limit(1)).first()
    if checkpoint is None:
        return
    status.checkpoint_seq, status.checkpoint_at = checkpoint.seq, checkpoint.sealed_at
    ours = key_id(key)
    if checkpoint.key_id != ours:
        status.problems.append(ChainProblem("not_ours", checkpoint.seq))
        return
    payload = checkpoint_payload(
        checkpoint.seq, checkpoint.head_hash, instant_text(checkpoint.sealed_at), ours
    )
    try:
        key.public_key().verify(base64.b64decode(checkpoint.signature, validate=True), payload)
    except (InvalidSignature, binascii.Error, ValueError):
        status.problems.append(ChainProblem("signature", checkpoint.seq))
        return
    if checkpoint.seq > status.last_seq:
        status.problems.append(ChainProblem("tail_cut", checkpoint.seq))
    elif checkpoint.seq in hashes:
        if hashes[checkpoint.seq] != checkpoint.head_hash:
            status.problems.append(ChainProblem("fork", checkpoint.seq))
        else:
            status.checkpoint_matched = True

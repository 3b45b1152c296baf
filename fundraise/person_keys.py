"""Personal details in the append-only logs, sealed under per-person keys so that a person can be erased.

The audit log and the ledger are hash-chained and never edited, so they cannot forget anything written in the
clear. They therefore refer to people by id, and a personal detail an event must carry (a name, an e-mail, words
someone typed about a case) is sealed: AES-GCM under a key that belongs to one subject ("user:<id>" for an
account, "patient:<blind index>" for a patient, who may have no account). `forget` deletes the key, and every
copy of every detail sealed for that subject becomes unreadable at once, while the envelopes, and so every hash
and signed checkpoint over them, stay exactly as they were.

- A subject's data key is 32 random bytes, stored wrapped (AES-GCM) under a key derived from PII_KEY with HKDF
  under a label of its own, with the subject as associated data: a wrapped key copied onto another subject's row
  does not unwrap.
- An envelope is `{"sealed_for": subject, "ct": base64(nonce || ciphertext)}`, the subject again bound as
  associated data: an envelope edited to name another subject does not open (it reads as unreadable, never an
  error page).
- Erasure is final for a subject. The row stays, with its key NULL and `erased_at` set, as the record that
  the subject was erased; no key is ever made for it again. A detail sealed for an erased subject later is
  dropped at once (`"ct": null`), so it opens as erased like the rest.
- Keys are remembered for the session's transaction (bulk work seals thousands of details over a few
  subjects); a rollback forgets them, since a key created in the rolled-back transaction is gone.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import event, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, SessionTransaction

from fundraise import audit
from fundraise.extensions import db
from fundraise.models import Campaign, PersonKey, User
from fundraise.models.columns import utcnow

__all__ = [
    "ERASED",
    "UNREADABLE",
    "SealedMarker",
    "forget",
    "is_sealed",
    "json_fields",
    "open_fields",
    "open_sealed",
    "seal",
    "seal_fields",
    "seal_for_campaign",
    "subject_for_campaign",
    "subject_for_campaign_id",
    "subject_for_patient",
    "subject_for_user",
]

_NONCE_BYTES = 12
_CACHE = "aidbridge.person_keys"
_KEYS = PersonKey.__table__
ERASED_ACTION = "person.keys_erased"


class SealedMarker:
    """What a sealed detail opens as when it cannot be read: `ERASED` (its key was deleted) or `UNREADABLE`
    (the envelope was altered or names a subject without a key). Written out, it says so in the reader's
    language; the API gives `to_json()`."""

    def __init__(self, code: str, text: Any) -> None:
        self.code = code
        self._text = text

    def __repr__(self) -> str:
        return f"<sealed detail: {self.code}>"

    def __str__(self) -> str:
        return str(self._text)

    def to_json(self) -> dict[str, Any]:
        return {"sealed": self.code, "text": str(self)}


ERASED = SealedMarker("erased", _l("(personal detail erased)"))
UNREADABLE = SealedMarker("unreadable", _l("(sealed detail unreadable)"))


# --- subjects --------------------------------------------------------------------------------------------


def subject_for_user(user_id: int) -> str:
    return f"user:{int(user_id)}"


def subject_for_patient(patient_id_index: str) -> str:
    return f"patient:{patient_id_index}"


def subject_for_campaign(campaign: Campaign) -> str:
    """Whom a detail about a case belongs to: its patient once the ID number is known, until then the
    applicant's account (a draft may have no ID number yet)."""
    if campaign.patient_id_index:
        return subject_for_patient(campaign.patient_id_index)
    return subject_for_user(campaign.applicant_id)


def subject_for_campaign_id(campaign_id: int) -> str:
    """`subject_for_campaign` from the id (the session's copy when it holds one)."""
    return subject_for_campaign(db.session.get_one(Campaign, campaign_id))


def seal_for_campaign(campaign_id: int, values: Mapping[str, Any]) -> dict[str, Any]:
    """`seal_fields` for the person a case is about: what someone typed about the case (notes, reasons)."""
    return seal_fields(subject_for_campaign_id(campaign_id), values)


# --- keys ------------------------------------------------------------------------------------------------


@cache
def _wrapping(pii_key: str) -> AESGCM:
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"aidbridge person key wrapping").derive(
        base64.urlsafe_b64decode(pii_key)
    )
    return AESGCM(raw)


def _wrapper() -> AESGCM:
    return _wrapping(current_app.config["PII_KEY"])


def _wrap(subject: str, data_key: bytes) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + _wrapper().encrypt(nonce, data_key, b"person-key:" + subject.encode())


def _unwrap(subject: str, wrapped: bytes) -> AESGCM:
    nonce, body = wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:]
    return AESGCM(_wrapper().decrypt(nonce, body, b"person-key:" + subject.encode()))


def _cache() -> dict[str, AESGCM | None]:
    cached: dict[str, AESGCM | None] = db.session.info.setdefault(_CACHE, {})
    return cached


def _insert_statement() -> Any:
    dialect = db.session.get_bind().dialect.name
    insert_ = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert_(_KEYS).on_conflict_do_nothing(index_elements=["subject"])


def _load(subjects: Iterable[str], *, create: bool) -> dict[str, AESGCM | None]:
    """The ciphers of these subjects (None: erased; absent: no key and `create` is false), in a few statements
    however many subjects: existing keys in one select, the missing ones made in one insert."""
    cache_ = _cache()
    wanted = sorted({subject for subject in subjects if subject not in cache_})
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = db.session.execute(
            select(_KEYS.c.subject, _KEYS.c.wrapped_key).where(_KEYS.c.subject.in_(chunk))
        ).all()
        found = {row.subject: row.wrapped_key for row in rows}
        missing = [subject for subject in chunk if subject not in found]
        if missing and create:
            now = utcnow()
            fresh = {subject: os.urandom(32) for subject in missing}
            db.session.execute(
                _insert_statement(),
                [
                    {"subject": subject, "wrapped_key": _wrap(subject, key), "created_at": now}
                    for subject, key in fresh.items()
                ],
            )
            # Read back: a concurrent transaction may have made (or erased) one of these keys first.
            rows = db.session.execute(
                select(_KEYS.c.subject, _KEYS.c.wrapped_key).where(_KEYS.c.subject.in_(missing))
            ).all()
            found.update({row.subject: row.wrapped_key for row in rows})
        for subject, wrapped in found.items():
            cache_[subject] = _unwrap(subject, wrapped) if wrapped is not None else None
    return {subject: cache_[subject] for subject in subjects if subject in cache_}


def prepare(subjects: Iterable[str]) -> None:
    """Make or load the keys of many subjects at once before sealing for each (imports, batch decisions)."""
    _load(subjects, create=True)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_cached_keys(session: Session) -> None:
    # Remembered for one transaction only: a rollback takes keys made in it away, and after a commit another
    # process may have erased a key this session still holds.
    session.info.pop(_CACHE, None)


@event.listens_for(Session, "after_transaction_end")
def _forget_after_savepoint(session: Session, transaction: SessionTransaction) -> None:
    # A savepoint rolled back may have taken a new key with it (released or not, looking again is cheap).
    if transaction.nested:
        session.info.pop(_CACHE, None)


# --- sealing and opening ---------------------------------------------------------------------------------


def seal(subject: str, detail: Mapping[str, Any]) -> dict[str, Any]:
    """The detail encrypted for the subject, as a JSON-able envelope to store in an event or a memo."""
    cipher = _load([subject], create=True)[subject]
    if cipher is None:
        # The subject was erased: nothing is written that a new key could read.
        return {"sealed_for": subject, "ct": None}
    plain = json.dumps(dict(detail), ensure_ascii=False, separators=(",", ":"), default=str).encode()
    nonce = os.urandom(_NONCE_BYTES)
    body = cipher.encrypt(nonce, plain, b"person-detail:" + subject.encode())
    return {"sealed_for": subject, "ct": base64.b64encode(nonce + body).decode()}


def seal_fields(subject: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Each non-empty value sealed on its own under its own name (an empty one says nothing about anyone and
    stays in the clear), so a reader still sees which fields an event carries."""
    return {
        name: seal(subject, {name: value}) if value not in (None, "", [], {}) else value
        for name, value in values.items()
    }


def is_sealed(value: object) -> bool:
    return isinstance(value, dict) and set(value) == {"sealed_for", "ct"}


def open_sealed(value: Any) -> Any:
    """An envelope's detail (a dict), `ERASED` when its subject's key was deleted, `UNREADABLE` when it does
    not open; any other value is returned as it is."""
    if not is_sealed(value):
        return value
    subject, text = value["sealed_for"], value["ct"]
    if not isinstance(subject, str):
        return UNREADABLE
    if text is None:
        return ERASED
    ciphers = _load([subject], create=False)
    if subject not in ciphers:
        return UNREADABLE
    cipher = ciphers[subject]
    if cipher is None:
        return ERASED
    try:
        raw = base64.b64decode(text, validate=True)
        plain = cipher.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], b"person-detail:" + subject.encode())
        detail = json.loads(plain)
    except (InvalidTag, binascii.Error, ValueError, TypeError):
        return UNREADABLE
    return detail if isinstance(detail, dict) else UNREADABLE


def open_fields(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """An event's before/after with every sealed field opened: the value itself for a field sealed by
    `seal_fields`, the whole detail for any other envelope, or a `SealedMarker`."""
    if values is None:
        return None
    if not any(is_sealed(value) for value in values.values()):
        return dict(values)
    opened: dict[str, Any] = {}
    for name, value in values.items():
        detail = open_sealed(value)
        if isinstance(detail, dict) and is_sealed(value):
            opened[name] = detail[name] if set(detail) == {name} else detail
        else:
            opened[name] = detail
    return opened


def json_fields(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Opened fields as JSON can carry them: a marker as {"sealed": "erased", "text": ...}."""
    if values is None:
        return None
    return {
        name: value.to_json() if isinstance(value, SealedMarker) else value for name, value in values.items()
    }


# --- erasure ---------------------------------------------------------------------------------------------


def forget(subjects: Iterable[str], *, reason: str, actor: User | None = None) -> int:
    """Erase these subjects' keys in the caller's transaction; how many subjects this erased (an already
    erased one does not count again).

    A subject without a key yet gets an erased row all the same, so nothing sealed for it later is readable.
    Audited as "person.keys_erased", naming the subjects by their subject strings only (a patient's is a
    keyed hash of the ID number, which says nothing without PII_KEY). `reason` is a code with ids (such as
    "deletion_request:12"), never words about the person: the event is kept for good."""
    wanted = sorted(set(subjects))
    if not wanted:
        return 0
    already = set(
        db.session.scalars(
            select(_KEYS.c.subject).where(_KEYS.c.subject.in_(wanted), _KEYS.c.erased_at.is_not(None))
        )
    )
    now = utcnow()
    db.session.execute(
        update(_KEYS)
        .where(_KEYS.c.subject.in_(wanted), _KEYS.c.erased_at.is_(None))
        .values(wrapped_key=None, erased_at=now)
    )
    db.session.execute(
        _insert_statement(),
        [
            {"subject": subject, "wrapped_key": None, "created_at": now, "erased_at": now}
            for subject in wanted
        ],
    )
    cache_ = _cache()
    for subject in wanted:
        cache_[subject] = None
    erased = [subject for subject in wanted if subject not in already]
    audit.record(
        ERASED_ACTION,
        "person_keys",
        utcnow().date().isoformat(),  # the day; the subjects are in the event
        actor=actor,
        after={"subjects": erased, "reason": reason},
    )
    return len(erased)

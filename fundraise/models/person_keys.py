"""Per-person keys: a personal detail the append-only logs must carry is encrypted under its person's key.

Erasing a person sets the key to NULL; the row stays, so that the erasure is on record and no new key is ever
made for that subject (details written later for an erased subject are dropped, see fundraise/person_keys.py).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from fundraise.extensions import db
from fundraise.models.columns import UTCDateTime


class PersonKey(db.Model):
    """One subject's data key, wrapped (AES-GCM) under a key derived from PII_KEY; NULL once erased."""

    __tablename__ = "person_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    # "user:<id>" for an account, "patient:<blind index>" for a patient (who may have no account).
    subject: Mapped[str] = mapped_column(String(80), unique=True)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

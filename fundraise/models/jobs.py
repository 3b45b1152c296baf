"""The job outbox (written in the same transaction as the change) and the notifications jobs produce."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fundraise.extensions import db
from fundraise.models.columns import UTCDateTime, utcnow

OUTBOX_STATUSES = ("pending", "enqueued", "done", "failed")


class OutboxMessage(db.Model):
    """A job to run once the transaction that wrote it has committed."""

    __tablename__ = "outbox_messages"
    __table_args__ = (CheckConstraint("status IN ('pending', 'enqueued', 'done', 'failed')", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(64))
    args: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The id of the web request (or job) that queued it: the job logs under it (fundraise/request_log.py).
    request_id: Mapped[str | None] = mapped_column(String(64))


class Notification(db.Model):
    """A message to a user, shown in their dashboard and sent by e-mail when SMTP is configured."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # Makes the job safe to run twice: the same event never notifies twice.
    dedupe_key: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    # Stored as message id + parameters, so it is rendered in the reader's language.
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

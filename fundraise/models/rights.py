"""A person's request to have their data erased (PIPL art. 47), and what was done about it, kind by kind."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fundraise.extensions import db
from fundraise.models.accounts import User
from fundraise.models.columns import UTCDateTime, utcnow


class DeletionState(enum.StrEnum):
    # Accepted, not yet carried out: it waits for the person's open campaign to be closed or cancelled.
    RECEIVED = "received"
    DONE = "done"
    # Carried out for what may go now; the rest is retained until its retention ends (`remainder_due_on`).
    PARTLY_DONE = "partly_done"


DELETION_STATES = ", ".join(f"'{state.value}'" for state in DeletionState)


class DeletionRequest(db.Model):
    """Who asked, when, and the outcome per kind of data: a list of codes with parameters
    (`{"kind": "account_profile", "outcome": "erased", "count": 1}` or
    `{"kind": "donations", "outcome": "retained", "until": "2056-12-31", "basis": "accounting_law"}`),
    rendered in the reader's language by the pages."""

    __tablename__ = "deletion_requests"
    __table_args__ = (
        CheckConstraint(f"state IN ({DELETION_STATES})", name="state"),
        Index("ix_deletion_requests_state_due", "state", "remainder_due_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # The account's role when it asked (the account row itself is anonymised).
    role: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), default=DeletionState.RECEIVED)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    carried_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Why it has not been carried out yet (state received): a code, e.g. 'campaign_open'.
    waiting_code: Mapped[str | None] = mapped_column(String(32))
    outcome: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # When the next retained part comes due; the retention run completes the request then.
    remainder_due_on: Mapped[date | None] = mapped_column(Date)

    user: Mapped[User] = relationship()

"""Friends and relatives vouching for a campaign (亲友证实): a signed-in person who knows the family confirms
the story, says how they know them and adds a line of their own; they may withdraw it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fundraise.extensions import db
from fundraise.models.accounts import User
from fundraise.models.columns import UTCDateTime, utcnow

VOUCHER_RELATIONSHIPS = (
    "relative",
    "friend",
    "neighbour",
    "colleague",
    "classmate",
    "fellow_villager",
    "other",
)


class Voucher(db.Model):
    __tablename__ = "vouchers"
    __table_args__ = (
        CheckConstraint(
            "relationship IN (" + ", ".join(f"'{value}'" for value in VOUCHER_RELATIONSHIPS) + ")",
            name="relationship",
        ),
        # One standing voucher per person and campaign; a withdrawn one may be followed by a new one.
        Index(
            "uq_vouchers_standing",
            "campaign_id",
            "user_id",
            unique=True,
            sqlite_where=text("withdrawn_at IS NULL"),
            postgresql_where=text("withdrawn_at IS NULL"),
        ),
        Index("ix_vouchers_user_created", "user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    relationship_to_family: Mapped[str] = mapped_column("relationship", String(16))
    statement: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()

"""What a civil-affairs officer records about the recipients of their jurisdiction: reproducible random
samples for spot checks, and findings (open, then resolved with a note) with their attachments."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Column, ForeignKey, Index, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fundraise.extensions import db
from fundraise.models.accounts import User
from fundraise.models.campaigns import Campaign, Document
from fundraise.models.columns import UTCDateTime, utcnow


class FindingStatus(enum.StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class RegisterSample(db.Model):
    """One draw: the officer's prefix, how many were asked for (a size, or a share in percent), the seed, how
    many recipients there were to draw from and which were drawn. The same seed over the same recipients
    draws the same sample again (`random.Random(seed).sample(sorted(ids), k)`)."""

    __tablename__ = "register_samples"
    __table_args__ = (
        CheckConstraint(
            "(size IS NOT NULL AND share_percent IS NULL) OR (size IS NULL AND share_percent IS NOT NULL)",
            name="size_or_share",
        ),
        Index("ix_register_samples_prefix_created", "region_prefix", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    region_prefix: Mapped[str] = mapped_column(String(12))
    size: Mapped[int | None] = mapped_column()
    share_percent: Mapped[int | None] = mapped_column()
    seed: Mapped[int] = mapped_column(BigInteger)
    population: Mapped[int] = mapped_column()
    campaign_ids: Mapped[list[Any]] = mapped_column(JSON)
    drawn_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    drawn_by: Mapped[User] = relationship()


finding_documents = Table(
    "finding_documents",
    db.metadata,
    Column("finding_id", ForeignKey("findings.id"), primary_key=True),
    Column("document_id", ForeignKey("documents.id"), primary_key=True, unique=True),
)


class Finding(db.Model):
    """What an officer found about one recipient (optionally while checking a sample), open until resolved
    with a note saying how."""

    __tablename__ = "findings"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'resolved')", name="status"),
        CheckConstraint(
            "(status = 'open' AND resolved_at IS NULL) OR (status = 'resolved' AND resolved_at IS NOT NULL)",
            name="resolved_when_resolved",
        ),
        Index("ix_findings_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    sample_id: Mapped[int | None] = mapped_column(ForeignKey("register_samples.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default=FindingStatus.OPEN)
    resolution: Mapped[str] = mapped_column(Text, default="")
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    campaign: Mapped[Campaign] = relationship()
    recorded_by: Mapped[User] = relationship(foreign_keys=[recorded_by_id])
    resolved_by: Mapped[User | None] = relationship(foreign_keys=[resolved_by_id])
    attachments: Mapped[list[Document]] = relationship(secondary=finding_documents, order_by=Document.id)

"""Relief projects of charities, the matching runs that allocate their budgets, and the offers runs make.

A project's money lives in the ledger, not here: its unallocated budget in the `project_budget` account and
its approved offers in `project_commitment` (owner: the project id). An offer is a proposal until charity
staff approve it; approval posts budget → commitment, and only then does it count against the case's need.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fundraise.extensions import db
from fundraise.models.accounts import Charity, User
from fundraise.models.campaigns import Campaign
from fundraise.models.columns import UTCDateTime, utcnow


class ProjectStatus(enum.StrEnum):
    OPEN = "open"  # runs may offer its budget (inside its window)
    PAUSED = "paused"  # no new offers; approved ones stand
    CLOSED = "closed"  # for good; what was not committed went back to the charity


class RunStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class OfferStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for the charity's staff
    APPROVED = "approved"  # budget moved to commitment
    DECLINED = "declined"  # by staff, with a reason; the pair is never offered again
    EXPIRED = "expired"  # nobody decided in time; the budget goes back to the next run
    WITHDRAWN = "withdrawn"  # a later run found the case no longer needs it or no longer qualifies


def _values(kind: type[enum.StrEnum]) -> str:
    return ", ".join(f"'{member.value}'" for member in kind)


class ReliefProject(db.Model):
    """A charity's relief programme: whom it serves (`rules`, see matching/rules.py), how much per case, when."""

    __tablename__ = "relief_projects"
    __table_args__ = (
        CheckConstraint(f"status IN ({_values(ProjectStatus)})", name="status"),
        CheckConstraint("per_case_cap_fen > 0", name="per_case_cap"),
        CheckConstraint("closes_on IS NULL OR opens_on IS NULL OR closes_on >= opens_on", name="window"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    charity_id: Mapped[int] = mapped_column(ForeignKey("charities.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(Text, default="")
    # The eligibility rule as matching.rules_to_dict writes it; read with matching.rules_from_dict.
    rules: Mapped[dict[str, Any]] = mapped_column(JSON)
    per_case_cap_fen: Mapped[int] = mapped_column(BigInteger)
    opens_on: Mapped[date | None] = mapped_column(Date)
    closes_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default=ProjectStatus.OPEN, index=True)
    # Where the programme it is modelled on is described (demo projects), or the charity's own page.
    source_url: Mapped[str] = mapped_column(String(255), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    charity: Mapped[Charity] = relationship()
    created_by: Mapped[User | None] = relationship()

    def is_open_on(self, day: date) -> bool:
        return (
            self.status == ProjectStatus.OPEN
            and (self.opens_on is None or self.opens_on <= day)
            and (self.closes_on is None or day <= self.closes_on)
        )


class MatchRun(db.Model):
    """One matching run (or dry run): its progress while it works and a summary of what it changed."""

    __tablename__ = "match_runs"
    __table_args__ = (CheckConstraint(f"status IN ({_values(RunStatus)})", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default=RunStatus.QUEUED, index=True)
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # 0..100 and a stage code (loading, solving, writing, done), for the progress display.
    progress: Mapped[int] = mapped_column(Integer, default=0)
    stage: Mapped[str] = mapped_column(String(16), default="queued")
    # Counts and totals; for a dry run also the changes it would make (see services/matching_runs.py).
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str] = mapped_column(Text, default="")

    started_by: Mapped[User | None] = relationship()


class MatchCaseResult(db.Model):
    """What one run found for one case: its need and priority then, and every project it was eligible for
    with the amount and the constraint that bound it: the stored half of a case's "why"."""

    __tablename__ = "match_case_results"
    __table_args__ = (UniqueConstraint("run_id", "campaign_id", name="uq_match_case_results_run_campaign"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The run that wrote it (no foreign key: only the run writes these rows, in the transaction that finishes
    # it, and runs are never deleted; a key would cost a lookup per row, a million of them in a national run).
    run_id: Mapped[int] = mapped_column(Integer)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    need_fen: Mapped[int] = mapped_column(BigInteger)
    priority: Mapped[int] = mapped_column(Integer)
    priority_parts: Mapped[dict[str, int]] = mapped_column(JSON)
    covered_fen: Mapped[int] = mapped_column(BigInteger)
    # Every eligible pair the run solved, as parallel lists (a national run writes a million pairs; lists of
    # numbers are what JSON stores cheapest): {"project_ids": [...], "amounts_fen": [...], "bounds": [codes]}.
    # A bound's parameters follow from the row (need_fen), the amount (a cap) or the run's budgets_fen.
    pairs: Mapped[dict[str, list[Any]]] = mapped_column(JSON)


class Offer(db.Model):
    """A project's proposed support for one case, and what the charity's staff decided."""

    __tablename__ = "relief_offers"
    __table_args__ = (
        CheckConstraint(f"status IN ({_values(OfferStatus)})", name="status"),
        CheckConstraint("amount_fen > 0", name="amount"),
        # One open offer per pair: a run changes an offer by withdrawing it and writing a new one.
        Index(
            "uq_relief_offers_open_pair",
            "project_id",
            "campaign_id",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_relief_offers_project_status", "project_id", "status"),
        Index("ix_relief_offers_campaign_status", "campaign_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The run that made it (no foreign key, as for MatchCaseResult.run_id).
    run_id: Mapped[int] = mapped_column(Integer)
    project_id: Mapped[int] = mapped_column(ForeignKey("relief_projects.id"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default=OfferStatus.PENDING)
    # Why this amount and not more (matching.solver's Bound), and the case's priority when offered.
    bound_code: Mapped[str] = mapped_column(String(32))
    bound_params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    priority: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # What staff typed when declining (or approving); a withdrawal's reason is a code.
    decision_note: Mapped[str] = mapped_column(Text, default="")
    withdrawn_reason: Mapped[str | None] = mapped_column(String(32))

    project: Mapped[ReliefProject] = relationship()
    campaign: Mapped[Campaign] = relationship()
    decided_by: Mapped[User | None] = relationship()

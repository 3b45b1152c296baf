"""Stored verification reports: what the checks decided for a campaign, with the policy and records they used.

History is kept: a report is never changed after it is written (only a reviewer's acknowledgement of a changed
outcome is added). A later change of records or policy that changes anything makes a new report, so the report
a decision was taken on can always be shown as it was.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fundraise.extensions import db
from fundraise.models.accounts import User
from fundraise.models.campaigns import Campaign
from fundraise.models.columns import UTCDateTime, utcnow


class VerificationTrigger(enum.StrEnum):
    SUBMISSION = "submission"  # the job started when the family submits
    RECORDS_IMPORT = "records_import"  # an import changed the patient's records
    MANUAL = "manual"  # `flask verify run`, or a reviewer asking again


class VerificationDecision(enum.StrEnum):
    VERIFIED = "verified"
    NEEDS_REVIEW = "needs_review"
    REJECTED = "rejected"


class VerificationProblem(enum.StrEnum):
    """Why no checks could be run: the case goes to a reviewer with this reason."""

    NO_POLICY = "no_policy"  # no benefit rules on file for the patient's region and treatment year
    RECORDS_UNAVAILABLE = "records_unavailable"  # the live records service did not answer


def _values(kind: type[enum.StrEnum]) -> str:
    return ", ".join(f"'{member.value}'" for member in kind)


class VerificationReport(db.Model):
    """One run of the checks for one campaign.

    `report` is `verification.report.report_to_dict` without its records snapshot, which is kept apart in
    `records_snapshot` (so it is stored once). Both are None, like the amounts, when `problem` says why the
    checks could not run. `changed_outcome` is set when the decision differs from the campaign's previous
    report's (`previous_decision`); staff see such reports until one of them acknowledges it.
    """

    __tablename__ = "verification_reports"
    __table_args__ = (
        CheckConstraint(f"trigger IN ({_values(VerificationTrigger)})", name="trigger"),
        CheckConstraint(f"decision IN ({_values(VerificationDecision)})", name="decision"),
        CheckConstraint(
            f"previous_decision IS NULL OR previous_decision IN ({_values(VerificationDecision)})",
            name="previous_decision",
        ),
        CheckConstraint(f"problem IS NULL OR problem IN ({_values(VerificationProblem)})", name="problem"),
        CheckConstraint("cap_reason IS NULL OR cap_reason IN ('gap', 'platform_limit')", name="cap_reason"),
        CheckConstraint(
            "gap_fen >= 0 AND basic_fen >= 0 AND critical_illness_fen >= 0 AND assistance_fen >= 0"
            " AND capped_target_fen >= 0",
            name="amounts",
        ),
        CheckConstraint("(problem IS NULL) = (report IS NOT NULL)", name="report_or_problem"),
        Index("ix_verification_reports_campaign_latest", "campaign_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    trigger: Mapped[str] = mapped_column(String(16))
    # Who asked, for manual runs by a person; None for the system and the command line.
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decision: Mapped[str] = mapped_column(String(16))
    problem: Mapped[str | None] = mapped_column(String(32))

    total_cost_fen: Mapped[int | None] = mapped_column(BigInteger)
    basic_fen: Mapped[int | None] = mapped_column(BigInteger)
    critical_illness_fen: Mapped[int | None] = mapped_column(BigInteger)
    assistance_fen: Mapped[int | None] = mapped_column(BigInteger)
    gap_fen: Mapped[int | None] = mapped_column(BigInteger)
    capped_target_fen: Mapped[int | None] = mapped_column(BigInteger)
    cap_reason: Mapped[str | None] = mapped_column(String(16))

    # The pooling region and year whose rules were looked up; the version only when a policy was found.
    policy_region_code: Mapped[str] = mapped_column(String(6))
    policy_year: Mapped[int] = mapped_column(Integer)
    policy_version: Mapped[str | None] = mapped_column(String(64))

    # none_as_null: a missing report is SQL NULL (as the check constraint expects), not the JSON null.
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    records_snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))

    changed_outcome: Mapped[bool] = mapped_column(default=False)
    previous_decision: Mapped[str | None] = mapped_column(String(16))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    campaign: Mapped[Campaign] = relationship()
    requested_by: Mapped[User | None] = relationship(foreign_keys=[requested_by_id])
    acknowledged_by: Mapped[User | None] = relationship(foreign_keys=[acknowledged_by_id])

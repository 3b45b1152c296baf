"""Reading a campaign's verification reports, and the list of changed outcomes staff acknowledge."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from fundraise import audit
from fundraise.extensions import db
from fundraise.models import User, VerificationReport
from fundraise.models.columns import utcnow
from fundraise.unit_of_work import transactional
from verification.report import VerificationReport as CoreReport
from verification.report import report_from_dict


def latest_report(campaign_id: int) -> VerificationReport | None:
    return db.session.scalar(
        select(VerificationReport)
        .where(VerificationReport.campaign_id == campaign_id)
        .order_by(VerificationReport.id.desc())
        .limit(1)
    )


def report_history(campaign_id: int) -> list[VerificationReport]:
    """Every report of a campaign, newest first."""
    return list(
        db.session.scalars(
            select(VerificationReport)
            .where(VerificationReport.campaign_id == campaign_id)
            .order_by(VerificationReport.id.desc())
        )
    )


def core_report(report: VerificationReport) -> CoreReport | None:
    """The stored report as the core's dataclass (None when the checks could not run)."""
    if report.report is None:
        return None
    return report_from_dict({**report.report, "records_snapshot": report.records_snapshot or {}})


def changed_reports(limit: int = 200) -> list[VerificationReport]:
    """Latest reports whose decision changed on a re-run and that no staff member has acknowledged yet."""
    return list(db.session.scalars(_changed_query().order_by(VerificationReport.id.desc()).limit(limit)))


def changed_count() -> int:
    return db.session.scalar(select(func.count()).select_from(_changed_query().subquery())) or 0


def _changed_query() -> Any:
    newest = select(func.max(VerificationReport.id)).group_by(VerificationReport.campaign_id)
    return select(VerificationReport).where(
        VerificationReport.changed_outcome.is_(True),
        VerificationReport.acknowledged_at.is_(None),
        VerificationReport.id.in_(newest),
    )


@transactional
def acknowledge(report: VerificationReport, staff: User) -> None:
    """A staff member has seen a changed outcome; it leaves the list. Audited; commits."""
    if report.acknowledged_at is not None:
        return
    report.acknowledged_at = utcnow()
    report.acknowledged_by_id = staff.id
    audit.record(
        "campaign.verification_acknowledged",
        "campaign",
        report.campaign_id,
        actor=staff,
        after={"report_id": report.id, "decision": report.decision},
    )

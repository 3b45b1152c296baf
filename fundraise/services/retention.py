"""Retention that ends (PIPL art. 19): the daily run that deletes what the retention table
(fundraise/retention_policy.py) no longer lets us keep, kind by kind, and completes deletion requests whose
remainder has come due.

- draft_unsubmitted: drafts untouched for the rule's period, deleted whole with their files.
- rejected_case: rejected cases decided longer ago than the period: personal fields cleared, evidence and
  verification details deleted (the row stays; audit events name it).
- evidence_documents: closed-out or cancelled cases ended longer ago than the period: evidence documents and
  photos deleted (the bills payments were made on stay, as accounting vouchers).
- records_feeds: imported insurance and civil-affairs rows whose validity ended longer ago than the period.
- access_logs: sign-in records (sessions, reset links) older than the period. The audit log's "who looked"
  events are part of the sealed chain and are never deleted; the personal details they carry are sealed
  under per-person keys, which a deletion forgets.
- deletion_remainders: deletion requests waiting for a case that has since ended, and retained remainders
  that have come due.

Ledger entries and audit events are never deleted, so `flask ledger check` and `flask audit verify` pass after
any run. A dry run changes nothing; a real run is one unit of work and writes one audit event with the counts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select

from fundraise import audit
from fundraise.extensions import db
from fundraise.models import (
    BasicEnrolmentRecord,
    Campaign,
    CampaignState,
    CivilAffairsRecord,
    CriticalIllnessRecord,
    LoginSession,
    PasswordResetToken,
)
from fundraise.models.columns import utcnow
from fundraise.retention_policy import rule_for
from fundraise.services import deletion, erasure
from fundraise.unit_of_work import discard, unit_of_work

RUN_ACTION = "retention.run"
RECORD_TABLES = (BasicEnrolmentRecord, CriticalIllnessRecord, CivilAffairsRecord)


@dataclass(frozen=True)
class KindResult:
    """One kind in one run: the cut-off (what is older goes) and how many were (or would be) deleted."""

    kind: str
    cutoff: date
    count: int


def _period(kind: str) -> timedelta:
    rule = rule_for(kind)
    return timedelta(days=rule.days if rule.days is not None else rule.after_close_days or 0)


class _Run:
    def __init__(self, now: datetime, dry_run: bool) -> None:
        self.now = now
        self.dry_run = dry_run
        self.files: list[str] = []

    def cutoff(self, kind: str) -> datetime:
        return self.now - _period(kind)

    def drafts(self) -> int:
        cutoff = self.cutoff("draft_unsubmitted")
        drafts = list(
            db.session.scalars(
                select(Campaign).where(Campaign.state == CampaignState.DRAFT, Campaign.updated_at < cutoff)
            )
        )
        if not self.dry_run:
            self.files += erasure.delete_drafts(drafts, reason="retention:draft_unsubmitted")
        return len(drafts)

    def rejected(self) -> int:
        cutoff = self.cutoff("rejected_case")
        rejected = list(
            db.session.scalars(
                select(Campaign).where(
                    Campaign.state == CampaignState.REJECTED, Campaign.state_changed_at < cutoff
                )
            )
        )
        # Documents of all of them in one query, not one per case.
        with_documents = {d.campaign_id for d in erasure.deletable_documents([c.id for c in rejected])}
        cases = [c for c in rejected if not erasure.is_cleared(c) or c.id in with_documents]
        if not self.dry_run:
            for campaign in cases:
                self.files += erasure.clear_case(campaign, reason="retention:rejected_case")
        return len(cases)

    def evidence(self) -> int:
        cutoff = self.cutoff("evidence_documents")
        ended = select(Campaign.id).where(
            or_(
                Campaign.ended_at < cutoff,
                and_(
                    Campaign.ended_at.is_(None),
                    Campaign.state == CampaignState.CANCELLED,
                    Campaign.state_changed_at < cutoff,
                ),
            )
        )
        documents = erasure.deletable_documents(list(db.session.scalars(ended)))
        if not self.dry_run:
            self.files += erasure.delete_documents(documents)
        return len(documents)

    def records(self) -> int:
        cutoff = self.cutoff("records_feeds").date()
        return sum(
            self.expire(table, and_(table.valid_to.is_not(None), table.valid_to < cutoff))
            for table in RECORD_TABLES
        )

    def access_logs(self) -> int:
        cutoff = self.cutoff("access_logs")
        sessions = or_(LoginSession.ended_at < cutoff, LoginSession.expires_at < cutoff)
        links = PasswordResetToken.expires_at < cutoff
        return self.expire(LoginSession, sessions) + self.expire(PasswordResetToken, links)

    def expire(self, model: Any, where: Any) -> int:
        """Delete the rows of `model` matching `where`, or in a dry run count them; how many."""
        if self.dry_run:
            return db.session.scalar(select(func.count()).select_from(model).where(where)) or 0
        return int(db.session.execute(delete(model).where(where)).rowcount)  # type: ignore[attr-defined]  # a CursorResult

    def remainders(self) -> int:
        touched, names = deletion.complete_due(self.now.date(), dry_run=self.dry_run)
        self.files += names
        return touched


KINDS: tuple[tuple[str, str | None, Callable[[_Run], int]], ...] = (
    ("draft_unsubmitted", "draft_unsubmitted", _Run.drafts),
    ("rejected_case", "rejected_case", _Run.rejected),
    ("evidence_documents", "evidence_documents", _Run.evidence),
    ("records_feeds", "records_feeds", _Run.records),
    ("access_logs", "access_logs", _Run.access_logs),
    ("deletion_remainders", None, _Run.remainders),
)


def run(*, dry_run: bool, now: datetime | None = None) -> list[KindResult]:
    """Apply the retention table once; per kind, its cut-off and the count deleted (or, dry, to delete)."""
    now = now or utcnow()
    work = _Run(now, dry_run)
    if dry_run:
        results = _apply(work)
        discard()  # only read: end the transaction the counts were read in
        return results
    with unit_of_work():
        results = _apply(work)
        audit.record(RUN_ACTION, "retention", now.date().isoformat(), actor=None, after=_counts(results))
    erasure.unlink_files(work.files)
    return results


def _apply(work: _Run) -> list[KindResult]:
    results = []
    for kind, rule_kind, handler in KINDS:
        cutoff = work.cutoff(rule_kind).date() if rule_kind else work.now.date()
        results.append(KindResult(kind, cutoff, handler(work)))
    return results


def _counts(results: list[KindResult]) -> dict[str, Any]:
    return {result.kind: result.count for result in results}

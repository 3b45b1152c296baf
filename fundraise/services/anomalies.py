"""The register's anomaly flags for campaigns: loads in batch what the rules of verification/anomalies.py need,
runs them, and says where each flag's evidence is.

`flags_for(ids)` is a fixed number of queries whatever the number of ids (a page of the register, a chunk of
its export). `flagged_ids(scope, codes)` finds the flagged campaigns of a scope for the register's filters:
a cheap SQL condition narrows each rule to its candidates, then the rules themselves decide.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, String, Text, and_, case, cast, func, literal, or_, select, union_all

from fundraise.database import any_of
from fundraise.extensions import db
from fundraise.models import (
    Campaign,
    CampaignState,
    Disbursement,
    DisbursementStatus,
    Donation,
    DonationRefund,
    DonationStatus,
    RefundStatus,
    VerificationReport,
)
from fundraise.models.records import BasicEnrolmentRecord, CivilAffairsRecord, CriticalIllnessRecord
from fundraise.services.donations.totals import committed_by_campaign, raised_by_campaign
from verification import anomalies as rules

CODES = rules.CODES
# The rules that read beyond a campaign's own aid (other campaigns, records, payouts, gifts).
CHECKED_BEYOND_AID = tuple(code for code in CODES if code != "aid_above_cost")
# Another campaign of the same patient counts unless it never went anywhere: a draft, refused, or cancelled
# before it took money (a family that cancels and files again is not raising twice).
NOT_COUNTED_AS_DUPLICATE = (CampaignState.DRAFT, CampaignState.REJECTED)


def _counts_as_campaign() -> Any:
    return and_(
        Campaign.state.not_in(NOT_COUNTED_AS_DUPLICATE),
        or_(Campaign.state != CampaignState.CANCELLED, Campaign.ended_code.is_not(None)),
    )


# Disbursements that are, or may become, money sent to a hospital.
LIVE_PAYOUTS = (DisbursementStatus.REQUESTED, DisbursementStatus.APPROVED, DisbursementStatus.PAID)
# Refunds whose money has left (a failed or cancelled one never happened).
MONEY_REFUNDS = (RefundStatus.PENDING, RefundStatus.SUCCEEDED)
# Ids per batch when confirming candidates, so an IN list stays of a reasonable size.
CHUNK = 1000


@dataclass(frozen=True)
class Flag:
    """One anomaly of one campaign, ready to show: code and params (register_text puts them in words) and the
    path of the page that shows its evidence."""

    code: str
    params: dict[str, str | int]
    evidence: str
    evidence_kind: str


@dataclass(frozen=True)
class Subject:
    """What the rules read of a campaign itself: its treating hospital, its patient, the aid from each source,
    and its latest verification report (None when it has none)."""

    campaign_id: int
    hospital_id: int | None
    patient_id_index: str | None
    aid: rules.Aid
    report_id: int | None


# The columns of a report the rules read (rows, not entities: an export's hundred thousand reports never pile
# up in the session). The report's JSON only where it holds a disclosure mismatch: that is all the rules read
# of it, and the JSON of a real report is kilobytes, parsed in Python for nothing on every clean row.
def _report_columns() -> tuple[Any, ...]:
    return (
        VerificationReport.id,
        VerificationReport.created_at,
        VerificationReport.decision,
        VerificationReport.changed_outcome,
        VerificationReport.acknowledged_at,
        VerificationReport.previous_decision,
        case(
            (
                cast(VerificationReport.report, Text).contains("disclosure_mismatch"),
                VerificationReport.report,
            ),
            else_=None,
        ).label("report"),
    )


def _reports(report_ids: Sequence[int]) -> dict[int, Any]:
    """The reports of those ids (a primary-key lookup each), by id."""
    if not report_ids:
        return {}
    found = db.session.execute(select(*_report_columns()).where(any_of(VerificationReport.id, report_ids)))
    return {row.id: row for row in found}


def disclosure_check(report_json: object) -> dict[str, Any] | None:
    """The stored result of a report's disclosure check (from its JSON), None if it has none."""
    if not isinstance(report_json, dict):
        return None
    for check in report_json.get("checks") or []:
        if isinstance(check, dict) and check.get("code") == "disclosure":
            return check
    return None


def _report_state(report: Any) -> rules.ReportState | None:
    if report is None:
        return None
    return rules.ReportState(
        report_id=report.id,
        created_at=report.created_at,
        decision=report.decision,
        changed_outcome=report.changed_outcome,
        acknowledged=report.acknowledged_at is not None,
        previous_decision=report.previous_decision,
        disclosure=disclosure_check(report.report),
    )


def _newest_records(indexes: Collection[str]) -> dict[str, datetime]:
    """When each person's records (any of the three kinds) were last imported or changed."""
    if not indexes:
        return {}
    parts = [
        select(model.person_index.label("person_index"), model.imported_at.label("at")).where(
            any_of(model.person_index, indexes)
        )
        for model in (BasicEnrolmentRecord, CriticalIllnessRecord, CivilAffairsRecord)
    ]
    both = union_all(*parts).subquery()
    rows = db.session.execute(select(both.c.person_index, func.max(both.c.at)).group_by(both.c.person_index))
    return {index: at for index, at in rows}


def payer_key() -> Any:
    """Who paid a donation: the donor's account, else the receipt e-mail (lower case); '' when neither."""
    return case(
        (Donation.donor_id.is_not(None), literal("donor:") + cast(Donation.donor_id, String)),
        (Donation.receipt_email != "", literal("email:") + func.lower(Donation.receipt_email)),
        else_=literal(""),
    )


def _heavy_payers(ids: Sequence[int]) -> dict[int, dict[str, int]]:
    key = payer_key().label("payer")
    rows = db.session.execute(
        select(Donation.campaign_id, key, func.count(Donation.id))
        .where(any_of(Donation.campaign_id, ids), Donation.status == DonationStatus.SUCCEEDED)
        .group_by(Donation.campaign_id, key)
        .having(func.count(Donation.id) >= rules.MANY_GIFTS_COUNT)
    )
    found: dict[int, dict[str, int]] = defaultdict(dict)
    for campaign_id, payer, count in rows:
        found[campaign_id][payer] = count
    return found


def _refunded_gifts(ids: Sequence[int]) -> dict[int, list[rules.Gift]]:
    rows = db.session.execute(
        select(Donation.campaign_id, Donation.id, func.min(DonationRefund.created_at))
        .join(DonationRefund, DonationRefund.donation_id == Donation.id)
        .where(any_of(Donation.campaign_id, ids), DonationRefund.status.in_(MONEY_REFUNDS))
        .group_by(Donation.campaign_id, Donation.id)
    )
    found: dict[int, list[rules.Gift]] = defaultdict(list)
    for campaign_id, donation_id, first in rows:
        found[campaign_id].append(rules.Gift(donation_id, first))
    return found


def _evidence(campaign_id: int, anomaly: rules.Anomaly, *, staff_links: bool) -> str:
    """The page that shows an anomaly's evidence, as the reader can open it (officers read reports and
    donations through their own pages; charity staff through the review and refunds pages)."""
    kind, target = anomaly.evidence_kind, anomaly.evidence_id
    if kind == "report":
        if staff_links:
            return f"/staff/reviews/{campaign_id}#verification"
        return f"/staff/region/campaigns/{campaign_id}/verification"
    if kind == "disbursement":
        return f"/disbursements/{target}"
    if kind == "donations":
        return f"/staff/donations?campaign={target}" if staff_links else f"/staff/register/{target}#flags"
    if target == campaign_id:
        return f"/staff/register/{target}#aid"
    return f"/staff/register/{target}"


def flags_for(campaign_ids: Iterable[int], *, staff_links: bool = False) -> dict[int, list[Flag]]:
    """Every anomaly of each campaign, in the order of verification.anomalies.CODES ([] for a clean one)."""
    ids = sorted(set(campaign_ids))
    if not ids:
        return {}
    newest = (
        select(func.max(VerificationReport.id))
        .where(any_of(VerificationReport.campaign_id, ids))
        .group_by(VerificationReport.campaign_id)
    )
    reports = {
        row.campaign_id: row
        for row in db.session.execute(
            select(
                VerificationReport.id,
                VerificationReport.campaign_id,
                VerificationReport.basic_fen,
                VerificationReport.critical_illness_fen,
                VerificationReport.assistance_fen,
            ).where(VerificationReport.id.in_(newest))
        )
    }
    raised = raised_by_campaign(ids)
    committed = committed_by_campaign(ids)
    subjects = []
    for row in db.session.execute(
        select(Campaign.id, Campaign.hospital_id, Campaign.patient_id_index, Campaign.cost_total_fen).where(
            any_of(Campaign.id, ids)
        )
    ):
        report = reports.get(row.id)
        subjects.append(
            Subject(
                campaign_id=row.id,
                hospital_id=row.hospital_id,
                patient_id_index=row.patient_id_index,
                aid=rules.Aid(
                    campaign_id=row.id,
                    total_cost_fen=row.cost_total_fen,
                    basic_fen=(report.basic_fen or 0) if report else 0,
                    critical_illness_fen=(report.critical_illness_fen or 0) if report else 0,
                    assistance_fen=(report.assistance_fen or 0) if report else 0,
                    committed_fen=committed.get(row.id, 0),
                    raised_fen=raised.get(row.id, 0),
                ),
                report_id=report.id if report else None,
            )
        )
    return flags_of(subjects, staff_links=staff_links)


def flags_of(
    subjects: Sequence[Subject], *, staff_links: bool = False, candidates: Collection[int] | None = None
) -> dict[int, list[Flag]]:
    """`flags_for` for campaigns whose own facts the caller already read (the register's rows): a fixed number
    of queries for what lies beyond them (other campaigns of the patient, records, payouts, gifts).

    `candidates`, from `candidate_ids` over a scope holding the subjects, spares the queries and the rules
    beyond aid for the subjects outside it (an export's hundred thousand rows, nearly all of them clean)."""
    if not subjects:
        return {}
    beyond = [s for s in subjects if candidates is None or s.campaign_id in candidates]
    ids = sorted(subject.campaign_id for subject in beyond)
    if not beyond:
        return {
            s.campaign_id: _flags(s.campaign_id, rules.aid_above_cost(s.aid), staff_links) for s in subjects
        }
    reports = _reports([subject.report_id for subject in beyond if subject.report_id is not None])
    indexes = {subject.patient_id_index for subject in beyond if subject.patient_id_index}
    same_patient: dict[str, list[int]] = defaultdict(list)
    if indexes:
        for other_id, index in db.session.execute(
            select(Campaign.id, Campaign.patient_id_index).where(
                any_of(Campaign.patient_id_index, indexes), _counts_as_campaign()
            )
        ):
            same_patient[str(index)].append(other_id)
    newest_records = _newest_records(indexes)
    payouts: dict[int, list[rules.Payout]] = defaultdict(list)
    for payout in db.session.execute(
        select(Disbursement.id, Disbursement.campaign_id, Disbursement.hospital_id, Disbursement.amount_fen)
        .join(Campaign, Campaign.id == Disbursement.campaign_id)
        .where(
            any_of(Disbursement.campaign_id, ids),
            Disbursement.status.in_(LIVE_PAYOUTS),
            or_(Campaign.hospital_id.is_(None), Disbursement.hospital_id != Campaign.hospital_id),
        )
        .order_by(Disbursement.id)
    ):
        payouts[payout.campaign_id].append(rules.Payout(payout.id, payout.hospital_id, payout.amount_fen))
    heavy = _heavy_payers(ids)
    refunded = _refunded_gifts(ids)

    flags: dict[int, list[Flag]] = {}
    checked = set(ids)
    for subject in subjects:
        campaign_id, index = subject.campaign_id, subject.patient_id_index or ""
        if campaign_id not in checked:
            flags[campaign_id] = _flags(campaign_id, rules.aid_above_cost(subject.aid), staff_links)
            continue
        state = _report_state(reports.get(subject.report_id or 0))
        found = [
            *rules.aid_above_cost(subject.aid),
            *rules.duplicate_patient(campaign_id, same_patient.get(index, [])),
            *rules.records_changed(state, newest_records.get(index)),
            *rules.disclosure_mismatch(state),
            *rules.other_hospital(subject.hospital_id, payouts.get(campaign_id, [])),
            *rules.many_gifts_one_payer(campaign_id, heavy.get(campaign_id, {})),
            *rules.bulk_refunds(campaign_id, refunded.get(campaign_id, [])),
        ]
        flags[campaign_id] = _flags(campaign_id, found, staff_links)
    return flags


def _flags(campaign_id: int, found: Sequence[rules.Anomaly], staff_links: bool) -> list[Flag]:
    return [
        Flag(a.code, dict(a.params), _evidence(campaign_id, a, staff_links=staff_links), a.evidence_kind)
        for a in found
    ]


# --- finding the flagged campaigns of a scope -----------------------------------------------------------


def _latest_report_ids() -> Any:
    return select(func.max(VerificationReport.id)).group_by(VerificationReport.campaign_id)


def _candidates(scope: Select[Any], code: str) -> Select[Any]:
    """Ids of the scope's campaigns that may carry `code` (a superset; the rule decides)."""
    ids = scope.with_only_columns(Campaign.id).order_by(None)
    if code == "duplicate_patient":
        repeated = (
            select(Campaign.patient_id_index)
            .where(Campaign.patient_id_index.is_not(None), _counts_as_campaign())
            .group_by(Campaign.patient_id_index)
            .having(func.count(Campaign.id) > 1)
        )
        return ids.where(Campaign.patient_id_index.in_(repeated))
    if code == "records_changed":
        latest = select(VerificationReport.campaign_id, VerificationReport.created_at).where(
            VerificationReport.id.in_(_latest_report_ids())
        )
        changed = latest.where(
            VerificationReport.changed_outcome.is_(True), VerificationReport.acknowledged_at.is_(None)
        ).with_only_columns(VerificationReport.campaign_id)
        newest = latest.subquery()
        newer = [
            select(Campaign.id)
            .join(newest, newest.c.campaign_id == Campaign.id)
            .join(model, model.person_index == Campaign.patient_id_index)
            .where(model.imported_at > newest.c.created_at)
            for model in (BasicEnrolmentRecord, CriticalIllnessRecord, CivilAffairsRecord)
        ]
        return ids.where(or_(Campaign.id.in_(changed), *(Campaign.id.in_(part) for part in newer)))
    if code == "disclosure_mismatch":
        mismatched = select(VerificationReport.campaign_id).where(
            VerificationReport.id.in_(_latest_report_ids()),
            cast(VerificationReport.report, Text).contains("disclosure_mismatch"),
        )
        return ids.where(Campaign.id.in_(mismatched))
    if code == "other_hospital":
        elsewhere = (
            select(Disbursement.campaign_id)
            .join(Campaign, Campaign.id == Disbursement.campaign_id)
            .where(
                Disbursement.status.in_(LIVE_PAYOUTS),
                or_(Campaign.hospital_id.is_(None), Disbursement.hospital_id != Campaign.hospital_id),
            )
        )
        return ids.where(Campaign.id.in_(elsewhere))
    if code == "many_gifts_one_payer":
        key = payer_key()
        heavy = (
            select(Donation.campaign_id)
            .where(Donation.status == DonationStatus.SUCCEEDED, key != "")
            .group_by(Donation.campaign_id, key)
            .having(func.count(Donation.id) >= rules.MANY_GIFTS_COUNT)
        )
        return ids.where(Campaign.id.in_(heavy))
    if code == "bulk_refunds":
        refunded = (
            select(Donation.campaign_id)
            .join(DonationRefund, DonationRefund.donation_id == Donation.id)
            .where(DonationRefund.status.in_(MONEY_REFUNDS))
            .group_by(Donation.campaign_id)
            .having(func.count(func.distinct(Donation.id)) >= rules.BULK_REFUND_COUNT)
        )
        return ids.where(Campaign.id.in_(refunded))
    raise ValueError(f"no candidate query for {code}")


def candidate_ids(scope: Select[Any], codes: Collection[str] = CHECKED_BEYOND_AID) -> set[int]:
    """Ids of the scope's campaigns (a select of campaigns, filters applied) that may carry any of `codes`:
    a superset, found in SQL, one query per code; the rules decide."""
    candidates: set[int] = set()
    for code in codes:
        candidates.update(db.session.scalars(_candidates(scope, code)))
    return candidates


def flagged_ids(scope: Select[Any], codes: Collection[str]) -> set[int]:
    """Ids of the scope's campaigns (a select of campaigns, filters applied) carrying any of `codes`.
    aid_above_cost is not among the codes taken here: the register filters on it in SQL, with its sums."""
    ordered = sorted(candidate_ids(scope, codes))
    found: set[int] = set()
    wanted = set(codes)
    for start in range(0, len(ordered), CHUNK):
        for campaign_id, flags in flags_for(ordered[start : start + CHUNK]).items():
            if any(flag.code in wanted for flag in flags):
                found.add(campaign_id)
    return found


__all__ = [
    "CODES",
    "Flag",
    "Subject",
    "candidate_ids",
    "disclosure_check",
    "flagged_ids",
    "flags_for",
    "flags_of",
    "payer_key",
]

"""The cases a matching run (or a rule preview, or a case's "why") looks at, read in bulk as the pure core's
`CaseProfile`s.

A case is a campaign that was verified and still needs money: state verified or fundraising, remaining need
above zero. Its facts come from the campaign (diagnosis, age from the birth date, region, disclosed household
income), its hospital (tier), the disease catalogue (category), and the civil-affairs record valid today for
the patient's identity (assistance class). A handful of queries whatever the number of cases: no query per
case.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Select, func, or_, select

from fundraise.extensions import db
from fundraise.models import (
    Campaign,
    CampaignState,
    CivilAffairsRecord,
    DiseaseRange,
    Donation,
    DonationStatus,
    Hospital,
    Offer,
    OfferStatus,
    VerificationDecision,
    VerificationReport,
)
from fundraise.services.donations import need_left
from matching.eligibility import CaseProfile

# Verified and not finished: these cases may still receive relief support.
MATCHABLE_STATES = (CampaignState.VERIFIED, CampaignState.FUNDRAISING)


@dataclass(frozen=True)
class CaseLoad:
    """The profiles, and the amounts a run needs beside them (all by campaign id)."""

    profiles: list[CaseProfile]
    # Approved support per (campaign, project): a project's per-case cap counts what it already committed.
    committed_pairs: dict[tuple[int, int], int]
    # Pairs a charity declined: never offered again.
    declined_pairs: set[tuple[int, int]]


def age_on(birth: date | None, day: date) -> int | None:
    if birth is None:
        return None
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def load_cases(today: date, campaign_ids: Iterable[int] | None = None) -> CaseLoad:
    """Every matchable case (or those of `campaign_ids`) with its remaining need, in campaign id order.

    The need here is the remaining need of DESIGN §5 (target − raised − approved commitments; the same sum as
    `fundraise.services.donations.remaining_need_fen`, done for all cases in grouped queries); a case whose
    need is zero is left out."""
    ids = None if campaign_ids is None else sorted(set(campaign_ids))
    raised = _sum_by_campaign(
        select(
            Donation.campaign_id,
            func.sum(Donation.amount_fen - Donation.refunded_fen - Donation.disputed_fen),
        ).where(Donation.status == DonationStatus.SUCCEEDED),
        Donation.campaign_id,
        ids,
    )
    offer_rows = db.session.execute(
        _scoped(
            select(Offer.campaign_id, Offer.project_id, Offer.status, func.sum(Offer.amount_fen))
            .join(Campaign, Campaign.id == Offer.campaign_id)
            .where(Offer.status.in_((OfferStatus.APPROVED, OfferStatus.DECLINED)))
            .group_by(Offer.campaign_id, Offer.project_id, Offer.status),
            ids,
        )
    ).all()
    committed_pairs: dict[tuple[int, int], int] = {}
    declined_pairs: set[tuple[int, int]] = set()
    committed: dict[int, int] = {}
    for campaign_id, project_id, status, total in offer_rows:
        pair = (campaign_id, project_id)
        if status == OfferStatus.APPROVED:
            committed_pairs[pair] = int(total)
            committed[campaign_id] = committed.get(campaign_id, 0) + int(total)
        else:
            declined_pairs.add(pair)

    assistance = _assistance_classes(today, ids)
    verified_at = _first_verified(ids)
    rows = db.session.execute(
        _scoped(
            select(
                Campaign.id,
                Campaign.target_fen,
                Campaign.diagnosis_icd10,
                DiseaseRange.category,
                Campaign.patient_birth_date,
                Campaign.patient_region_code,
                Campaign.household_income_fen,
                Campaign.household_size,
                Hospital.tier,
                Campaign.admitted_on,
                Campaign.submitted_at,
                Campaign.patient_id_index,
            )
            .outerjoin(DiseaseRange, DiseaseRange.id == Campaign.disease_range_id)
            .outerjoin(Hospital, Hospital.id == Campaign.hospital_id)
            .order_by(Campaign.id),
            ids,
        )
    ).all()
    profiles = []
    for (
        campaign_id,
        target,
        icd10,
        category,
        birth,
        region,
        income,
        size,
        tier,
        admitted,
        submitted,
        person_index,
    ) in rows:
        need = need_left(target, raised.get(campaign_id, 0), committed.get(campaign_id, 0))
        if need <= 0:
            continue
        waiting_since = verified_at.get(campaign_id) or submitted or today
        profiles.append(
            CaseProfile(
                case_id=campaign_id,
                need_fen=need,
                icd10=icd10,
                disease_category=category,
                age=age_on(birth, today),
                region_code=region,
                assistance_class=assistance.get(person_index) if person_index else None,
                income_per_capita_fen=income // size if size else None,
                hospital_tier=tier,
                treatment_date=admitted,
                waiting_since=waiting_since.date() if isinstance(waiting_since, datetime) else waiting_since,
            )
        )
    return CaseLoad(profiles, committed_pairs, declined_pairs)


def _scoped(query: Select, ids: list[int] | None) -> Select:  # type: ignore[type-arg]  # any row shape
    """Limit a query that joins Campaign to the matchable cases (or to `ids`)."""
    query = query.where(Campaign.state.in_(MATCHABLE_STATES))
    return query if ids is None else query.where(Campaign.id.in_(ids))


def _sum_by_campaign(query: Select, column: object, ids: list[int] | None) -> dict[int, int]:  # type: ignore[type-arg]
    rows = db.session.execute(
        _scoped(query.join(Campaign, Campaign.id == column).group_by(column), ids)  # type: ignore[arg-type]
    ).all()
    return {campaign_id: int(total or 0) for campaign_id, total in rows}


def _assistance_classes(today: date, ids: list[int] | None) -> dict[str, str]:
    """The civil-affairs class valid today, by the patient's blind index (the latest record when several are)."""
    rows = db.session.execute(
        _scoped(
            select(CivilAffairsRecord.person_index, CivilAffairsRecord.assistance_class)
            .join(Campaign, Campaign.patient_id_index == CivilAffairsRecord.person_index)
            .where(
                CivilAffairsRecord.valid_from <= today,
                or_(CivilAffairsRecord.valid_to.is_(None), CivilAffairsRecord.valid_to >= today),
            )
            .order_by(CivilAffairsRecord.valid_from, CivilAffairsRecord.id),
            ids,
        )
    ).all()
    return dict(rows)  # later rows (newer records) win


def _first_verified(ids: list[int] | None) -> dict[int, datetime]:
    """When each case was first found verified: time waiting for support counts from then."""
    rows = db.session.execute(
        _scoped(
            select(VerificationReport.campaign_id, func.min(VerificationReport.created_at))
            .join(Campaign, Campaign.id == VerificationReport.campaign_id)
            .where(VerificationReport.decision == VerificationDecision.VERIFIED)
            .group_by(VerificationReport.campaign_id),
            ids,
        )
    ).all()
    return dict(rows)

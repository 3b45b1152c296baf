"""Where a disbursement's money comes from and what a campaign's disbursements show: the charity responsible
for each source, what each source still holds for new requests, the use of funds, and the lists pages read."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from fundraise import ledger
from fundraise.extensions import db
from fundraise.models import (
    AccountKind,
    Charity,
    Disbursement,
    DisbursementSource,
    DisbursementStatus,
    Donation,
    DonationRefund,
    DonationStatus,
    Offer,
    OfferStatus,
    RefundStatus,
    ReliefProject,
    Role,
    User,
)

S = DisbursementStatus


def responsible_charity_id(source: str, offer: Offer | None) -> int | None:
    """The charity whose staff approve, and whose finance members pay, a disbursement from this source."""
    if source == DisbursementSource.RELIEF_COMMITMENT:
        return offer.project.charity_id if offer is not None else None
    code = current_app.config.get("CUSTODIAN_CHARITY")
    if not code:
        return None
    return db.session.scalar(select(Charity.id).where(Charity.code == code))


# --- what is available ---------------------------------------------------------------------------------


def _requested_from(campaign_id: int, source: str, offer_id: int | None = None) -> int:
    """What requests not yet approved already ask of this source (approved ones are reserved in the ledger)."""
    query = select(func.coalesce(func.sum(Disbursement.amount_fen), 0)).where(
        Disbursement.campaign_id == campaign_id,
        Disbursement.source == source,
        Disbursement.status == S.REQUESTED,
    )
    if offer_id is not None:
        query = query.where(Disbursement.offer_id == offer_id)
    return int(db.session.scalar(query) or 0)


def available_from_fund(campaign_id: int) -> int:
    """What a new request may still ask of the campaign fund: its balance less the requests waiting for
    approval and the refunds asked of the provider."""
    asked_refunds = db.session.scalar(
        select(func.coalesce(func.sum(DonationRefund.amount_fen), 0))
        .join(Donation, DonationRefund.donation_id == Donation.id)
        .where(Donation.campaign_id == campaign_id, DonationRefund.status == RefundStatus.REQUESTED)
    )
    balance = ledger.balance(ledger.campaign_fund(campaign_id))
    return max(
        balance - _requested_from(campaign_id, DisbursementSource.CAMPAIGN_FUND) - int(asked_refunds or 0), 0
    )


def available_from_offer(offer: Offer) -> int:
    """What is left of an approved offer after the disbursements asked of it (not rejected or cancelled)."""
    if offer.status != OfferStatus.APPROVED:
        return 0
    used = db.session.scalar(
        select(func.coalesce(func.sum(Disbursement.amount_fen), 0)).where(
            Disbursement.offer_id == offer.id, Disbursement.status.in_([S.REQUESTED, S.APPROVED, S.PAID])
        )
    )
    return max(offer.amount_fen - int(used or 0), 0)


def approved_offers(campaign_id: int) -> list[Offer]:
    return list(
        db.session.scalars(
            select(Offer)
            .options(joinedload(Offer.project))
            .where(Offer.campaign_id == campaign_id, Offer.status == OfferStatus.APPROVED)
            .order_by(Offer.id)
        )
    )


# --- reading -------------------------------------------------------------------------------------------


def for_campaign(campaign_id: int) -> list[Disbursement]:
    return list(
        db.session.scalars(
            select(Disbursement)
            .options(joinedload(Disbursement.hospital), joinedload(Disbursement.bill))
            .where(Disbursement.campaign_id == campaign_id)
            .order_by(Disbursement.created_at.desc(), Disbursement.id.desc())
        )
    )


def visible_to_public(disbursement: Disbursement) -> bool:
    """Rejected and cancelled requests leave the public list; everything else (in notice onwards) is shown."""
    return disbursement.status in (S.REQUESTED, S.APPROVED, S.PAID)


@dataclass(frozen=True)
class UseOfFunds:
    """A campaign's money in five numbers, as its public page shows them."""

    raised_fen: int
    paid_fen: int  # from the campaign fund to the hospital
    relief_paid_fen: int  # from relief commitments to the hospital
    refunded_fen: int
    held_fen: int  # in the fund or reserved for approved disbursements


def use_of_funds(campaign_id: int) -> UseOfFunds:
    paid = dict(
        db.session.execute(
            select(Disbursement.source, func.sum(Disbursement.amount_fen))
            .where(Disbursement.campaign_id == campaign_id, Disbursement.status == S.PAID)
            .group_by(Disbursement.source)
        ).all()
    )
    raised, refunded = db.session.execute(
        select(
            func.coalesce(func.sum(Donation.amount_fen - Donation.refunded_fen - Donation.disputed_fen), 0),
            func.coalesce(func.sum(Donation.refunded_fen), 0),
        ).where(Donation.campaign_id == campaign_id, Donation.status == DonationStatus.SUCCEEDED)
    ).one()
    reserved = db.session.scalar(
        select(func.coalesce(func.sum(Disbursement.amount_fen), 0)).where(
            Disbursement.campaign_id == campaign_id,
            Disbursement.status == S.APPROVED,
            Disbursement.source == DisbursementSource.CAMPAIGN_FUND,
        )
    )
    fund = ledger.find_account(AccountKind.CAMPAIGN_FUND, campaign_id)
    held = (ledger.balance(fund) if fund else 0) + int(reserved or 0)
    return UseOfFunds(
        raised_fen=int(raised or 0) + int(refunded or 0),
        paid_fen=int(paid.get(DisbursementSource.CAMPAIGN_FUND.value, 0) or 0),
        relief_paid_fen=int(paid.get(DisbursementSource.RELIEF_COMMITMENT.value, 0) or 0),
        refunded_fen=int(refunded or 0),
        held_fen=held,
    )


def queue(actor: User, tab: str) -> list[Disbursement]:
    """The disbursements a staff member's charity is responsible for, by tab: 'waiting' (requested: in notice,
    held or awaiting approval), 'approved' (to be paid), 'paid', 'closed' (rejected or cancelled). An admin
    sees every charity's."""
    statuses = {
        "waiting": [S.REQUESTED],
        "approved": [S.APPROVED],
        "paid": [S.PAID],
        "closed": [S.REJECTED, S.CANCELLED],
    }.get(tab, [S.REQUESTED])
    query = (
        select(Disbursement)
        .outerjoin(Offer, Offer.id == Disbursement.offer_id)
        .outerjoin(ReliefProject, ReliefProject.id == Offer.project_id)
        .options(joinedload(Disbursement.campaign), joinedload(Disbursement.hospital))
        .where(Disbursement.status.in_(statuses))
        .order_by(Disbursement.notice_ends_at, Disbursement.id)
        .limit(500)
    )
    if not actor.has_role(Role.ADMIN):
        custodian = responsible_charity_id(DisbursementSource.CAMPAIGN_FUND, None)
        mine = ReliefProject.charity_id == actor.charity_id
        if custodian is not None and custodian == actor.charity_id:
            mine = mine | (Disbursement.source == DisbursementSource.CAMPAIGN_FUND)
        query = query.where(mine)
    return list(db.session.scalars(query))

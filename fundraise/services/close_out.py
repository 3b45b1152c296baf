"""Closing a campaign out when treatment is over (DESIGN §5, Payout): the family (or their social worker, or
charity staff) files the final bill, and the custodian charity's staff settle what is left in the fund as each
donor chose at the time of the gift: back to the donor, or into the relief pool for other patients.

    request_close_out  final bill stored; FUNDRAISING → CLOSED if needed; ended_code "close_out_requested"
    settle_surplus     (custodian staff; nothing unpaid, nothing frozen) per gift still holding money, oldest
                       first: RELIEF_POOL → campaign_fund → relief_pool, allocated to the gift (one unit, under
                       the fund's lock); REFUND → a refund asked of the provider (its own units; one failing
                       does not stop the others); then ended_code "closed_out"

A refund posts to the ledger when the provider's event arrives, so the fund reaches zero then.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy import func, select

from fundraise import audit, ledger, person_keys
from fundraise.access import is_applicant_side, is_staff
from fundraise.errors import DomainError, Forbidden, IllegalTransition, NotFound, ValidationFailed
from fundraise.extensions import db
from fundraise.models import (
    AccountKind,
    Campaign,
    CampaignState,
    Disbursement,
    DisbursementSource,
    DisbursementStatus,
    DocumentKind,
    Donation,
    DonationRefund,
    GiftAllocation,
    GiftUse,
    RefundStatus,
    Role,
    SurplusChoice,
    TransactionKind,
    User,
)
from fundraise.models.columns import utcnow
from fundraise.services import disbursement_funds, disbursements, gift_allocations
from fundraise.services import documents as document_service
from fundraise.services.documents import PreparedFile
from fundraise.services.donations import refund_donation, refundable_fen
from fundraise.services.donations.refunds import CLOSE_OUT_REFUND
from fundraise.services.transitions import transition
from fundraise.text_input import text_problem
from fundraise.unit_of_work import unit_of_work
from fundraise.verification_text import CLOSE_OUT_REASON

REQUESTED, CLOSED_OUT = "close_out_requested", "closed_out"
CLOSABLE_STATES = (CampaignState.FUNDRAISING, CampaignState.CLOSED)
NOTE_MAX = 1000


# --- who and when --------------------------------------------------------------------------------------


def may_request(actor: User | None, campaign: Campaign) -> bool:
    """The applicant side or charity staff, on a campaign raising money or closed, not yet closed out."""
    return (
        (is_applicant_side(actor, campaign) or is_staff(actor))
        and campaign.state in CLOSABLE_STATES
        and campaign.ended_code is None
    )


def is_custodian_staff(actor: User | None) -> bool:
    """Charity staff of the charity that holds campaign funds: they settle what is left."""
    if actor is None or not actor.has_role(Role.CHARITY_STAFF):
        return False
    custodian = disbursement_funds.responsible_charity_id(DisbursementSource.CAMPAIGN_FUND, None)
    return custodian is not None and actor.charity_id == custodian


def unpaid(campaign_id: int) -> list[Disbursement]:
    """The campaign's disbursements still requested or approved: to be paid, rejected or cancelled first."""
    return list(
        db.session.scalars(
            select(Disbursement)
            .where(
                Disbursement.campaign_id == campaign_id,
                Disbursement.status.in_([DisbursementStatus.REQUESTED, DisbursementStatus.APPROVED]),
            )
            .order_by(Disbursement.id)
        )
    )


def settlement_refusal(actor: User | None, campaign: Campaign) -> str | None:
    """Why this person may not settle what is left of the campaign now, or None (for pages to hide the
    button; settle_surplus checks the same)."""
    try:
        _check_settlement(actor, campaign)
    except (Forbidden, IllegalTransition) as error:
        return error.message
    return None


def _check_settlement(actor: User | None, campaign: Campaign) -> User:
    # Whether there is anything to settle comes first: it is the answer for everyone.
    if campaign.ended_code not in (REQUESTED, CLOSED_OUT) or campaign.state != CampaignState.CLOSED:
        raise IllegalTransition(_("The family has not asked to close the campaign out yet."))
    if actor is None or not is_custodian_staff(actor):
        raise Forbidden(_("Only staff of the charity that holds the campaign's money settle what is left."))
    if frozen := disbursements.frozen_reason(campaign):
        raise IllegalTransition(frozen)
    if waiting := unpaid(campaign.id):
        raise IllegalTransition(
            _(
                "Finish the disbursements still unpaid first (pay, reject or cancel them): %(ids)s.",
                ids=", ".join(f"#{d.id}" for d in waiting),
            )
        )
    return actor


# --- what is left --------------------------------------------------------------------------------------


def _asked_refunds(donation_ids: Sequence[int]) -> dict[int, int]:
    """Refunds asked of the provider and not yet posted, per gift: the fund still holds that money, but it is
    already promised back."""
    if not donation_ids:
        return {}
    rows = db.session.execute(
        select(DonationRefund.donation_id, func.sum(DonationRefund.amount_fen))
        .where(
            DonationRefund.donation_id.in_(list(donation_ids)),
            DonationRefund.status == RefundStatus.REQUESTED,
        )
        .group_by(DonationRefund.donation_id)
    ).all()
    return {int(donation_id): int(total or 0) for donation_id, total in rows}


def leftovers(campaign_id: int) -> list[tuple[Donation, int]]:
    """Each gift still holding money, oldest first, with what may still be settled of it: what it holds less
    refunds already asked for it, and never more than can be refunded of it."""
    held = gift_allocations.unspent(campaign_id)
    asked = _asked_refunds([donation.id for donation, _left in held])
    result = []
    for donation, left in held:
        amount = min(left - asked.get(donation.id, 0), refundable_fen(donation))
        if amount > 0:
            result.append((donation, amount))
    return result


@dataclass(frozen=True)
class Preview:
    """What settling would do now: how much goes back to donors and how much to the relief pool, to how many."""

    held_fen: int
    refund_fen: int
    refund_count: int
    pool_fen: int
    pool_count: int


def moved_to_pool_fen(campaign_id: int) -> int:
    """What the campaign's gifts have moved to the relief pool at close-out."""
    total = db.session.scalar(
        select(func.coalesce(func.sum(GiftAllocation.amount_fen), 0))
        .join(Donation, GiftAllocation.donation_id == Donation.id)
        .where(Donation.campaign_id == campaign_id, GiftAllocation.kind == GiftUse.RELIEF_POOL)
    )
    return int(total or 0)


def preview(campaign: Campaign) -> Preview:
    parts = leftovers(campaign.id)
    refunds = [amount for d, amount in parts if d.surplus_choice != SurplusChoice.RELIEF_POOL]
    pool = [amount for d, amount in parts if d.surplus_choice == SurplusChoice.RELIEF_POOL]
    fund = ledger.find_account(AccountKind.CAMPAIGN_FUND, campaign.id)
    return Preview(
        held_fen=ledger.balance(fund) if fund is not None else 0,
        refund_fen=sum(refunds),
        refund_count=len(refunds),
        pool_fen=sum(pool),
        pool_count=len(pool),
    )


# --- the family's request ------------------------------------------------------------------------------


def _note(note: str) -> str:
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        message = _("Up to %(n)d characters.", n=NOTE_MAX)
        raise ValidationFailed(message, fields={"note": [message]})
    if note and (problem := text_problem(note, one_line=False)):
        raise ValidationFailed(problem, fields={"note": [problem]})
    return note


def request_close_out(campaign: Campaign, actor: User, final_bill: PreparedFile, note: str = "") -> Campaign:
    """Store the final bill, close fundraising if it is still open and ask the custodian charity to settle
    what is left. Commits."""
    with unit_of_work():
        locked = db.session.get(Campaign, campaign.id, with_for_update=True, populate_existing=True)
        if locked is None:
            raise NotFound(_("We could not find that campaign."))
        campaign = locked
        if not (is_applicant_side(actor, campaign) or is_staff(actor)):
            raise Forbidden(
                _("Only the family, their social worker or charity staff may close a campaign out.")
            )
        if campaign.ended_code is not None:
            raise IllegalTransition(_("This campaign's close-out was already asked for."))
        if campaign.state not in CLOSABLE_STATES:
            raise IllegalTransition(_("Only a campaign that is raising money or closed can be closed out."))
        note = _note(note)
        bill = dataclasses.replace(final_bill, kind=DocumentKind.BILL.value)
        (document,) = document_service.store(campaign, actor, [bill])
        if campaign.state == CampaignState.FUNDRAISING:
            transition(campaign, "close", actor=actor, reason=note or CLOSE_OUT_REASON)
        campaign.ended_code = REQUESTED
        campaign.ended_at = utcnow()
        audit.record(
            "campaign.close_out_requested",
            "campaign",
            campaign.id,
            actor=actor,
            after={
                "bill_document_id": document.id,
                **person_keys.seal_for_campaign(campaign.id, {"note": note}),
            },
        )
    return campaign


# --- settling what is left -----------------------------------------------------------------------------


@dataclass
class Settlement:
    """What settle_surplus did: refunds asked of the provider, money moved to the pool, refunds that failed."""

    refunds_asked: list[tuple[int, int]] = field(default_factory=list)  # (donation id, fen)
    moved_to_pool: list[tuple[int, int]] = field(default_factory=list)  # (donation id, fen)
    failures: list[tuple[int, str]] = field(default_factory=list)  # (donation id, why)

    @property
    def refund_fen(self) -> int:
        return sum(amount for _id, amount in self.refunds_asked)

    @property
    def pool_fen(self) -> int:
        return sum(amount for _id, amount in self.moved_to_pool)


def settle_surplus(campaign: Campaign, actor: User) -> Settlement:
    """Send what is left of each gift where its donor chose. The pool part is one unit of work under the fund's
    lock; each refund is its own (one refused leaves the others standing and is reported). The campaign is
    closed out once nothing failed; pressing again settles only what is still left."""
    result = Settlement()
    with unit_of_work():
        fund = ledger.campaign_fund(campaign.id)
        # A disbursement requested meanwhile waits for this lock, then sees the fund as it is left.
        ledger.lock_accounts([fund])
        locked = db.session.get(Campaign, campaign.id, populate_existing=True)
        if locked is None:
            raise NotFound(_("We could not find that campaign."))
        campaign = locked
        staff = _check_settlement(actor, campaign)
        pool = ledger.account(AccountKind.RELIEF_POOL)
        refunds: list[tuple[int, int]] = []
        for donation, amount in leftovers(campaign.id):
            if donation.surplus_choice != SurplusChoice.RELIEF_POOL:
                refunds.append((donation.id, amount))
                continue
            ledger.post_transfer(
                f"surplus:{donation.id}",
                TransactionKind.SURPLUS,
                [(fund, -amount), (pool, amount)],
                f"close-out of campaign {campaign.id}: gift {donation.id} to the relief pool, as its donor chose",
                {"campaign_id": campaign.id},
                donation_id=donation.id,
                actor=staff,
            )
            gift_allocations.allocate_to_pool(donation, amount)
            result.moved_to_pool.append((donation.id, amount))
        audit.record(
            "campaign.surplus_settling",
            "campaign",
            campaign.id,
            actor=staff,
            after={"to_pool": result.moved_to_pool, "to_refund": refunds},
        )
    reason = CLOSE_OUT_REFUND
    for donation_id, amount in refunds:
        gift = db.session.get_one(Donation, donation_id)
        try:  # each refund is its own units of work
            refund_donation(gift, amount, staff, reason)
        except DomainError as error:
            result.failures.append((donation_id, error.message))
        else:
            result.refunds_asked.append((donation_id, amount))
    with unit_of_work():
        campaign = db.session.get_one(Campaign, campaign.id, populate_existing=True)
        before = campaign.ended_code
        if not result.failures:
            campaign.ended_code = CLOSED_OUT
            campaign.ended_at = utcnow()
        audit.record(
            "campaign.closed_out" if not result.failures else "campaign.surplus_settled_in_part",
            "campaign",
            campaign.id,
            actor=staff,
            before={"ended_code": before},
            after={
                "ended_code": campaign.ended_code,
                "refunds_asked": result.refunds_asked,
                "moved_to_pool": result.moved_to_pool,
                "failures": result.failures,
            },
        )
    return result

"""Refunds: charity staff ask the provider for one (`refund_donation`, `refund_all` for confirmed fraud); the
provider's refund events record each one, including refunds made at the provider, and post it once."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import func, select

from fundraise import audit, ledger, person_keys
from fundraise.errors import DomainError, Forbidden, IllegalTransition, ValidationFailed
from fundraise.extensions import db
from fundraise.jobs.outbox import enqueue
from fundraise.models import (
    AccountKind,
    Campaign,
    Donation,
    DonationRefund,
    DonationStatus,
    RefundStatus,
    Role,
    TransactionKind,
    User,
)
from fundraise.models.columns import utcnow
from fundraise.money import format_yuan
from fundraise.payments.provider import ProviderError, ProviderEvent, RefundInfo
from fundraise.services.donations.capture import ClaimedEvent, EventWork, donation_for, ensure_captured
from fundraise.services.donations.custody import reverse, withdraw
from fundraise.services.donations.payment import provider
from fundraise.services.transitions import TRANSITIONS, transition
from fundraise.unit_of_work import unit_of_work

REFUND_RANK = {
    RefundStatus.REQUESTED: 0,
    RefundStatus.PENDING: 1,
    RefundStatus.SUCCEEDED: 2,
    RefundStatus.FAILED: 3,
    RefundStatus.CANCELED: 3,
}
# Provider refund states → ours. requires_action (the donor must give bank details) has left our balance.
PROVIDER_REFUND_STATUS = {
    "pending": RefundStatus.PENDING,
    "requires_action": RefundStatus.PENDING,
    "succeeded": RefundStatus.SUCCEEDED,
    "failed": RefundStatus.FAILED,
    "canceled": RefundStatus.CANCELED,
}


# --- the provider's refund events ------------------------------------------------------------------------


# What the system writes on a refund row, stored as codes and put in words by donate/presenters.py
# `refund_reason_text` in the reader's language.
PROVIDER_REFUND = "@provider-refund"  # made in the provider's dashboard, not through Aidbridge
PROVIDER_REPORTS_REFUND = "@provider-refund-status:"  # + the status the provider reported (failed, canceled)
CLOSE_OUT_REFUND = "@close-out"  # what was left of the gift at close-out, back to the donor as they chose


def record_refund(event: ProviderEvent, stored: ClaimedEvent, work: EventWork) -> str:
    donation = donation_for(event, stored)
    if donation is None:
        return "ignored: no donation for this payment"
    ensure_captured(donation, event, work)
    results = [_apply_refund(donation, info, event) for info in event.refunds]
    return "; ".join(results) or "ignored: no refunds in the event"


def _apply_refund(donation: Donation, info: RefundInfo, event: ProviderEvent) -> str:
    target = PROVIDER_REFUND_STATUS.get(info.status)
    if target is None:
        return f"ignored: refund {info.refund_id} is {info.status}"
    row = db.session.scalar(select(DonationRefund).where(DonationRefund.provider_refund_id == info.refund_id))
    if row is None and info.request_key:
        row = db.session.scalar(
            select(DonationRefund).where(
                DonationRefund.idempotency_key == info.request_key, DonationRefund.donation_id == donation.id
            )
        )
    if row is None:
        # Made at the provider (its dashboard), not through Aidbridge: recorded all the same.
        row = DonationRefund(
            donation_id=donation.id,
            amount_fen=info.amount_fen,
            status=RefundStatus.REQUESTED,
            idempotency_key=f"provider-{uuid.uuid4().hex}",
            reason=PROVIDER_REFUND,
        )
        db.session.add(row)
    if row.donation_id != donation.id:
        raise ledger.LedgerError(f"refund {info.refund_id} belongs to another donation")
    row.provider_refund_id = info.refund_id
    if row.amount_fen != info.amount_fen:
        row.amount_fen = info.amount_fen  # the provider's amount is what moved
    if REFUND_RANK[target] <= REFUND_RANK[RefundStatus(row.status)]:
        db.session.flush()
        return f"refund {info.refund_id}: already {row.status}"
    before = row.status
    row.status = target
    key = f"refund:{info.refund_id}"
    refs = {"refund_id": info.refund_id, "event_id": event.event_id}
    if target in (RefundStatus.PENDING, RefundStatus.SUCCEEDED):
        if ledger.find_transaction(key) is None:
            if donation.refunded_fen + info.amount_fen > donation.amount_fen:
                raise ledger.LedgerError(
                    f"refund {info.refund_id} would refund more than donation {donation.id}"
                )
            withdraw(
                key,
                TransactionKind.REFUND,
                donation,
                info.amount_fen,
                AccountKind.REFUNDS,
                f"refund of donation {donation.id}",
                refs,
            )
            donation.refunded_fen += info.amount_fen
        if target == RefundStatus.SUCCEEDED:
            row.settled_at = utcnow()
    else:
        original = ledger.find_transaction(key)
        if original is not None and ledger.find_transaction(f"{key}:reversed") is None:
            reverse(original, f"{key}:reversed", TransactionKind.REFUND_REVERSAL, AccountKind.REFUNDS, refs)
            donation.refunded_fen -= info.amount_fen
        row.failure_reason = f"{PROVIDER_REPORTS_REFUND}{target}"
        row.settled_at = utcnow()
    db.session.flush()
    audit.record(
        "donation.refund",
        "donation",
        donation.id,
        actor=None,
        before={"refund_status": before},
        after={
            "refund_id": info.refund_id,
            "refund_status": target,
            "amount_fen": info.amount_fen,
            "refunded_fen": donation.refunded_fen,
        },
    )
    return f"refund {info.refund_id}: {target}"


def note_refund_summary(event: ProviderEvent, stored: ClaimedEvent, work: EventWork) -> str:
    """The provider says how much of the payment is refunded but not which refunds: when that differs from
    the ledger, a job fetches the refunds from the provider and posts each by its id (once, like any refund
    event), after this transaction commits and outside it."""
    donation = donation_for(event, stored)
    if donation is None:
        return "ignored: no donation for this payment"
    noted = f"noted: provider reports {event.refunded_total_fen} refunded in total, ledger {donation.refunded_fen}"
    if event.refunded_total_fen is None or event.refunded_total_fen == donation.refunded_fen:
        return noted
    enqueue("fetch_refunds", event_id=event.event_id)
    return f"{noted}; fetching the refunds from the provider"


# --- refunds by charity staff ----------------------------------------------------------------------------


def refundable_fen(donation: Donation) -> int:
    """What may still be refunded: not yet refunded, not withdrawn by a dispute, not already asked for."""
    asked = db.session.scalar(
        select(func.coalesce(func.sum(DonationRefund.amount_fen), 0)).where(
            DonationRefund.donation_id == donation.id, DonationRefund.status == RefundStatus.REQUESTED
        )
    )
    return max(donation.amount_fen - donation.refunded_fen - donation.disputed_fen - int(asked or 0), 0)


def refund_donation(
    donation: Donation, amount_fen: int, actor: User, reason: str = "", *, allow_shortfall: bool = False
) -> DonationRefund:
    """Ask the provider to refund part or all of a donation (charity staff). The request is stored first
    with the idempotency key the provider call carries; the ledger posts when the provider's refund event
    arrives. Refused when the campaign fund cannot cover it (money already paid out), unless
    `allow_shortfall` (confirmed fraud: the platform covers what the fund cannot)."""
    if actor is None or not actor.has_role(Role.CHARITY_STAFF, Role.ADMIN):
        raise Forbidden(_("Only charity staff can refund donations."))
    if donation.status != DonationStatus.SUCCEEDED or donation.provider_payment_id is None:
        raise IllegalTransition(_("Only a completed donation can be refunded."))
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen <= 0:
        raise ValidationFailed(
            _("Enter the refund in whole fen."), fields={"amount_fen": [_("A positive whole number of fen.")]}
        )
    with unit_of_work():
        # The checks below and the request they allow are one reservation: the fund's row lock (held until the
        # commit that stores the request) makes a concurrent refund of the same campaign wait, then see this one.
        fund = ledger.campaign_fund(donation.campaign_id)
        ledger.lock_accounts([fund])
        db.session.refresh(donation)
        available = refundable_fen(donation)
        if amount_fen > available:
            raise ValidationFailed(
                _(
                    "At most %(yuan)s yuan of this donation can still be refunded.",
                    yuan=format_yuan(available, symbol=False),
                ),
                fields={"amount_fen": [_("Too large.")]},
            )
        if not allow_shortfall:
            asked = db.session.scalar(
                select(func.coalesce(func.sum(DonationRefund.amount_fen), 0))
                .join(Donation, DonationRefund.donation_id == Donation.id)
                .where(
                    Donation.campaign_id == donation.campaign_id,
                    DonationRefund.status == RefundStatus.REQUESTED,
                )
            )
            if ledger.balance(fund) - int(asked or 0) < amount_fen:
                raise IllegalTransition(
                    _(
                        "The campaign fund no longer holds enough for this refund (money was paid out to the hospital)."
                    )
                )
        row = DonationRefund(
            donation_id=donation.id,
            amount_fen=amount_fen,
            status=RefundStatus.REQUESTED,
            idempotency_key=f"refund-{uuid.uuid4().hex}",
            requested_by_id=actor.id,
            reason=(reason or "").strip()[:2000],
        )
        db.session.add(row)
        db.session.flush()
        audit.record(
            "donation.refund_requested",
            "donation",
            donation.id,
            actor=actor,
            after={
                "refund_request": row.id,
                "amount_fen": amount_fen,
                **person_keys.seal_for_campaign(donation.campaign_id, {"reason": row.reason}),
            },
        )
    row_id, payment_id, key = row.id, donation.provider_payment_id, row.idempotency_key
    # The request is stored (its own unit) before the provider is asked; the answer is a second unit.
    try:
        refund_id = provider().refund(payment_id, amount_fen, key)
    except ProviderError as error:
        with unit_of_work():
            row = db.session.get_one(DonationRefund, row_id, populate_existing=True)
            if row.status == RefundStatus.REQUESTED:
                row.status = RefundStatus.FAILED
                row.failure_reason = str(error.message)[:255]
                row.settled_at = utcnow()
                audit.record(
                    "donation.refund_failed",
                    "donation",
                    row.donation_id,
                    actor=actor,
                    after={"refund_request": row_id, "error": row.failure_reason},
                )
        raise
    with unit_of_work():
        row = db.session.get_one(DonationRefund, row_id, populate_existing=True)
        if (
            row.provider_refund_id is None
        ):  # the provider's event (in-process for the sandbox) may have set it
            row.provider_refund_id = refund_id
    return row


@dataclass(frozen=True)
class RefundAllResult:
    requested: list[DonationRefund]
    failed: list[tuple[int, str]]


def refund_all(campaign: Campaign, actor: User, reason: str) -> RefundAllResult:
    """Confirmed fraud: stop the campaign (cancel it where the state machine allows) and refund every donor
    what is left of their gift, the platform covering what the fund no longer holds. Continues past a failed
    refund and reports it."""

    if actor is None or not actor.has_role(Role.CHARITY_STAFF, Role.ADMIN):
        raise Forbidden(_("Only charity staff can refund donations."))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Please give a reason."), fields={"reason": [_("A reason is required.")]})
    cancel = TRANSITIONS["cancel"]
    with unit_of_work():
        if campaign.state in cancel.sources and cancel.allowed(actor, campaign):
            transition(campaign, "cancel", actor=actor, reason=reason)
        audit.record(
            "campaign.refund_all",
            "campaign",
            campaign.id,
            actor=actor,
            after=person_keys.seal_for_campaign(campaign.id, {"reason": reason}),
        )
    donation_ids = list(
        db.session.scalars(
            select(Donation.id)
            .where(Donation.campaign_id == campaign.id, Donation.status == DonationStatus.SUCCEEDED)
            .order_by(Donation.id)
        )
    )
    requested: list[DonationRefund] = []
    failed: list[tuple[int, str]] = []
    for donation_id in donation_ids:
        donation = db.session.get(Donation, donation_id)
        assert donation is not None
        amount = refundable_fen(donation)
        if amount <= 0:
            continue
        try:  # each refund is its own units of work: one that fails leaves the others standing
            requested.append(refund_donation(donation, amount, actor, reason, allow_shortfall=True))
        except DomainError as error:
            failed.append((donation_id, error.message))
    return RefundAllResult(requested, failed)

"""A payment's capture: find the donation a provider event is about (locked), move it to succeeded and post
its capture once, with the provider's fee. A refund or dispute proves the capture too (`ensure_captured`)."""

from __future__ import annotations

from sqlalchemy import select

from fundraise import audit, ledger
from fundraise.extensions import db
from fundraise.jobs.outbox import enqueue
from fundraise.models import (
    AccountKind,
    Campaign,
    CampaignState,
    Donation,
    DonationStatus,
    PaymentEvent,
    TransactionKind,
)
from fundraise.models.columns import utcnow
from fundraise.payments.provider import ProviderEvent
from fundraise.services.donations.custody import withdraw
from fundraise.services.donations.totals import raised_fen


class EventWork:
    """What one event's handling leaves to do once the event is applied."""

    def __init__(self) -> None:
        self.crossed_target: list[int] = []


def donation_for(event: ProviderEvent, stored: PaymentEvent) -> Donation | None:
    """The donation the event is about, locked for this transaction: by the provider's payment id, or by the
    donation id in the payment's metadata when our own write of the payment id was lost."""
    donation_id = None
    if event.payment_id:
        donation_id = db.session.scalar(
            select(Donation.id).where(
                Donation.provider == event.provider, Donation.provider_payment_id == event.payment_id
            )
        )
    if donation_id is None and event.donation_id is not None:
        candidate = db.session.get(Donation, event.donation_id)
        if (
            candidate is not None
            and candidate.provider == event.provider
            and candidate.provider_payment_id is None
        ):
            donation_id = candidate.id
    if donation_id is None:
        return None
    query = select(Donation).where(Donation.id == donation_id).execution_options(populate_existing=True)
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    donation = db.session.scalar(query)
    if donation is not None:
        # Lock the fund now, before anything writes to the audit chain (see fundraise.ledger on lock order).
        ledger.lock_accounts([ledger.campaign_fund(donation.campaign_id)])
        if donation.provider_payment_id is None and event.payment_id:
            donation.provider_payment_id = event.payment_id
        stored.donation_id = donation.id
    return donation


def record_payment_succeeded(event: ProviderEvent, stored: PaymentEvent, work: EventWork) -> str:
    donation = donation_for(event, stored)
    if donation is None:
        return "ignored: no donation for this payment"
    if (event.currency and event.currency != donation.currency) or (
        event.amount_fen is not None and event.amount_fen != donation.amount_fen
    ):
        audit.record(
            "donation.amount_mismatch",
            "donation",
            donation.id,
            actor=None,
            before={"amount_fen": donation.amount_fen, "currency": donation.currency},
            after={"amount_fen": event.amount_fen, "currency": event.currency, "event_id": event.event_id},
        )
        return f"refused: the provider reports {event.amount_fen} {event.currency}, the donation is {donation.amount_fen}"
    result = _capture(donation, event, work)
    if event.fee_fen:
        withdraw(
            f"donation:{donation.id}:fee",
            TransactionKind.FEE,
            donation,
            event.fee_fen,
            AccountKind.PROCESSOR_FEES,
            memo=f"{event.provider} fee on donation {donation.id}",
            refs={"event_id": event.event_id},
        )
    return result


def _capture(donation: Donation, event: ProviderEvent, work: EventWork) -> str:
    """Move the donation to succeeded (from any earlier state) and post its capture, once."""
    result = "recorded"
    if donation.status != DonationStatus.SUCCEEDED:
        raised_before = raised_fen(donation.campaign_id)
        now = utcnow()
        before = donation.status
        donation.status = DonationStatus.SUCCEEDED
        donation.confirmed_at = now
        donation.failure_reason = ""
        donation.receipt_number = f"AB{now:%Y%m%d}{donation.id:010d}"
        enqueue("send_receipt", donation_id=donation.id)  # runs once this event's transaction commits
        audit.record(
            "donation.succeeded",
            "donation",
            donation.id,
            actor=None,
            before={"status": before},
            after={"status": DonationStatus.SUCCEEDED, "receipt_number": donation.receipt_number},
        )
        campaign = db.session.get(Campaign, donation.campaign_id)
        assert campaign is not None
        if campaign.state != CampaignState.FUNDRAISING:
            result = f"recorded (campaign {campaign.state}: counted as surplus)"
        elif raised_before < campaign.target_fen <= raised_before + donation.amount_fen:
            work.crossed_target.append(campaign.id)
    else:
        result = "recorded: already succeeded"
    ledger.post_transfer(
        f"donation:{donation.id}:captured",
        TransactionKind.CAPTURE,
        [
            (ledger.account(AccountKind.DONOR_CLEARING), -donation.amount_fen),
            (ledger.campaign_fund(donation.campaign_id), donation.amount_fen),
        ],
        memo=f"donation {donation.id} to campaign {donation.campaign_id}",
        refs={"payment_id": donation.provider_payment_id, "event_id": event.event_id},
        donation_id=donation.id,
    )
    return result


def ensure_captured(donation: Donation, event: ProviderEvent, work: EventWork) -> None:
    """A refund or dispute proves the payment succeeded, even if its success event has not arrived yet."""
    if donation.status != DonationStatus.SUCCEEDED:
        _capture(donation, event, work)

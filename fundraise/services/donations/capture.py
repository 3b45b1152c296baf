"""A payment's capture: find the donation a provider event is about (locked), move it to succeeded and post
its capture once, with the provider's fee. A refund or dispute proves the capture too (`ensure_captured`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import joinedload

from fundraise import audit, ledger
from fundraise.extensions import db
from fundraise.jobs.outbox import enqueue
from fundraise.models import (
    AccountKind,
    CampaignState,
    Donation,
    DonationStatus,
    TransactionKind,
)
from fundraise.models.columns import utcnow
from fundraise.payments.provider import ProviderEvent
from fundraise.services.donations.custody import withdraw


@dataclass
class ClaimedEvent:
    """An event this delivery stored (its row id), and the donation it turned out to be about."""

    id: int
    donation_id: int | None = None


class EventWork:
    """What one event's handling leaves to do once the event is applied."""

    def __init__(self) -> None:
        # Campaigns still fundraising that received money: each may have reached its target.
        self.fundraising: set[int] = set()


def donation_for(event: ProviderEvent, stored: ClaimedEvent) -> Donation | None:
    """The donation the event is about, locked for this transaction, with its campaign: by the provider's
    payment id (one statement), or by the donation id in the payment's metadata when our own write of the
    payment id was lost."""
    donation = None
    if event.payment_id:
        donation = db.session.scalar(
            _locked(Donation.provider == event.provider, Donation.provider_payment_id == event.payment_id)
        )
    if donation is None and event.donation_id is not None:
        donation = db.session.scalar(
            _locked(
                Donation.id == event.donation_id,
                Donation.provider == event.provider,
                Donation.provider_payment_id.is_(None),
            )
        )
    if donation is not None:
        if donation.provider_payment_id is None and event.payment_id:
            donation.provider_payment_id = event.payment_id
        stored.donation_id = donation.id
    return donation


def _locked(*conditions: ColumnElement[bool]) -> Select[Donation]:
    query = (
        select(Donation)
        .where(*conditions)
        .options(joinedload(Donation.campaign))
        .execution_options(populate_existing=True)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=Donation)
    return query


def record_payment_succeeded(event: ProviderEvent, stored: ClaimedEvent, work: EventWork) -> str:
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
    # Every account the capture and its fee touch, in one look-up; the postings below find them again without
    # asking the database (ledger.accounts remembers them for the transaction).
    ledger.accounts(
        *_accounts_of(donation),
        *([(AccountKind.PROCESSOR_FEES, 0), (AccountKind.PLATFORM_RESERVE, 0)] if event.fee_fen else []),
    )
    _post_capture(donation, event)
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
    # The postings first, then the donation's own changes: those and the audit events of all go to the
    # database together when the unit of work ends, one statement per table.
    return _mark_succeeded(donation, work)


def _post_capture(donation: Donation, event: ProviderEvent) -> None:
    clearing, fund = ledger.accounts(*_accounts_of(donation))
    ledger.post_transfer(
        f"donation:{donation.id}:captured",
        TransactionKind.CAPTURE,
        [(clearing, -donation.amount_fen), (fund, donation.amount_fen)],
        memo=f"donation {donation.id} to campaign {donation.campaign_id}",
        refs={"payment_id": donation.provider_payment_id, "event_id": event.event_id},
        donation_id=donation.id,
    )


def _mark_succeeded(donation: Donation, work: EventWork) -> str:
    """Move the donation to succeeded (from any earlier state), its receipt queued."""
    if donation.status == DonationStatus.SUCCEEDED:
        return "recorded: already succeeded"
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
    campaign = donation.campaign  # loaded with the donation
    if campaign.state != CampaignState.FUNDRAISING:
        return f"recorded (campaign {campaign.state}: counted as surplus)"
    # Whether this gift reached the target is the worker's to find out: summing what the campaign has raised
    # here would make every gift to a popular campaign cost more than the one before it.
    work.fundraising.add(campaign.id)
    return "recorded"


def _accounts_of(donation: Donation) -> tuple[tuple[AccountKind, int], ...]:
    return (AccountKind.DONOR_CLEARING, 0), (AccountKind.CAMPAIGN_FUND, donation.campaign_id)


def ensure_captured(donation: Donation, event: ProviderEvent, work: EventWork) -> None:
    """A refund or dispute proves the payment succeeded, even if its success event has not arrived yet."""
    if donation.status != DonationStatus.SUCCEEDED:
        _post_capture(donation, event)
        _mark_succeeded(donation, work)

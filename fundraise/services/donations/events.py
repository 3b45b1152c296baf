"""Provider events: receive a webhook delivery, store each event once and hand it to its handler, in one
unit of work (see the package docstring); close a campaign that reached its target (a job after the gift);
replay a failed event
and fetch refunds an event announced without listing them."""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from fundraise import audit, ledger
from fundraise.database import release_read_transaction
from fundraise.errors import DomainError, NotFound
from fundraise.extensions import db
from fundraise.jobs.outbox import enqueue
from fundraise.models import AuditEvent, Campaign, CampaignState, DonationStatus, PaymentEvent
from fundraise.models.columns import utcnow
from fundraise.models.donations import STATUS_RANK
from fundraise.payments.provider import EventKind, PaymentProvider, ProviderEvent
from fundraise.services.donations.capture import (
    ClaimedEvent,
    EventWork,
    donation_for,
    record_payment_succeeded,
)
from fundraise.services.donations.disputes import (
    record_dispute_closed,
    record_dispute_opened,
    record_dispute_reinstated,
)
from fundraise.services.donations.payment import provider, set_status
from fundraise.services.donations.refunds import note_refund_summary, record_refund
from fundraise.services.donations.totals import committed_fen, raised_fen, remaining_need_fen
from fundraise.services.transitions import TRANSITIONS, transition
from fundraise.unit_of_work import transactional, unit_of_work

log = logging.getLogger(__name__)


def receive_webhook(client: PaymentProvider, raw_body: bytes, headers: Mapping[str, str]) -> str:
    """Verify and handle one delivery. Raises InvalidSignature or MalformedEvent (the endpoint answers 400);
    returns what processing did otherwise, duplicates included."""
    event = client.parse_webhook(raw_body, headers)
    return handle_event(event)


@transactional
def handle_event(event: ProviderEvent) -> str:
    """Apply one verified provider event as one unit of work. Idempotent by event id.

    The event is stored first; what it causes (postings, state changes, closing a campaign at its target) is a
    nested unit, so a deterministic refusal (an impossible amount, a key reused for another kind) undoes all
    of that and leaves the event stored as failed, logged and acknowledged: retrying would not help, and
    reconciliation shows the gap. Anything else (the database gone) rolls the whole unit back, event too, so
    the provider's retry finds nothing stored."""
    stored = _claim_event(event)
    if stored is None:
        return "duplicate"  # one statement: the insert that found the event already there
    handler = HANDLERS.get(event.kind)
    try:
        with unit_of_work():
            work = EventWork()
            result = handler(event, stored, work) if handler else f"ignored: {event.type} is not acted on"
            for campaign_id in sorted(work.fundraising):
                enqueue("close_at_target", campaign_id=campaign_id)
    except (DomainError, ledger.LedgerError) as error:
        log.error("payment event %s %s could not be applied: %s", event.event_id, event.type, error)
        result = f"failed: {error}"[:255]
    db.session.execute(
        update(PaymentEvent)
        .where(PaymentEvent.id == stored.id)
        .values(result=result[:255], processed_at=utcnow(), donation_id=stored.donation_id)
        .execution_options(synchronize_session=False)
    )
    return result


def _claim_event(event: ProviderEvent) -> ClaimedEvent | None:
    """Store the event under its unique id in one statement, or return None when it is already stored (a
    duplicate; a concurrent duplicate's insert waits for the first to commit, then finds the conflict)."""
    dialect = db.session.get_bind().dialect.name
    insert_ = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stored_id = db.session.scalar(
        insert_(PaymentEvent)
        .values(
            provider=event.provider,
            event_id=event.event_id,
            type=event.type[:64],
            payload=event.payload,
            result="received",
            received_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["provider", "event_id"])
        .returning(PaymentEvent.id)
    )
    return None if stored_id is None else ClaimedEvent(stored_id)


def _move(target: DonationStatus) -> Any:
    def record(event: ProviderEvent, stored: ClaimedEvent, work: EventWork) -> str:
        donation = donation_for(event, stored)
        if donation is None:
            return "ignored: no donation for this payment"
        if STATUS_RANK[target] <= STATUS_RANK[DonationStatus(donation.status)]:
            return f"ignored: donation already {donation.status}"
        set_status(donation, target, event.failure_reason)
        return "recorded"

    return record


@transactional
def close_at_target(campaign_id: int) -> None:
    """The worker's follow-up to a gift: a fundraising campaign that has raised its target stops taking
    donations. The system closes it when the state machine lets the system make the 'close' transition;
    otherwise start_donation already refuses (no remaining need) and the event is written to the audit log
    for staff, once."""
    campaign = db.session.scalar(
        select(Campaign).where(Campaign.id == campaign_id).with_for_update()
    )  # two gifts' checks at once close it once
    if campaign is None or campaign.state != CampaignState.FUNDRAISING:
        return
    if remaining_need_fen(campaign) > 0:
        return
    rule = TRANSITIONS.get("close")
    if rule is not None and campaign.state in rule.sources and rule.allowed(None, campaign):
        transition(campaign, "close", actor=None, reason="target reached")
        return
    already = db.session.scalar(
        select(AuditEvent.id).where(
            AuditEvent.action == "campaign.target_reached",
            AuditEvent.object_type == "campaign",
            AuditEvent.object_id == str(campaign.id),
        )
    )
    if already is None:
        audit.record(
            "campaign.target_reached",
            "campaign",
            campaign.id,
            actor=None,
            after={
                "raised_fen": raised_fen(campaign),
                "committed_fen": committed_fen(campaign),
                "target_fen": campaign.target_fen,
            },
        )


HANDLERS = {
    EventKind.PAYMENT_SUCCEEDED: record_payment_succeeded,
    EventKind.PAYMENT_PROCESSING: _move(DonationStatus.PENDING),
    EventKind.PAYMENT_FAILED: _move(DonationStatus.FAILED),
    EventKind.PAYMENT_CANCELED: _move(DonationStatus.CANCELED),
    EventKind.REFUND_UPDATED: record_refund,
    EventKind.REFUND_SUMMARY: note_refund_summary,
    EventKind.DISPUTE_OPENED: record_dispute_opened,
    EventKind.DISPUTE_CLOSED: record_dispute_closed,
    EventKind.DISPUTE_FUNDS_REINSTATED: record_dispute_reinstated,
}


def apply_fetched_refunds(event_id: str) -> str:
    """A stored event announced refunds without listing them: fetch them from the provider and apply them as
    an event of their own (stored under a derived id, so running twice applies nothing twice)."""
    client = provider()
    stored = db.session.scalar(
        select(PaymentEvent).where(PaymentEvent.provider == client.name, PaymentEvent.event_id == event_id)
    )
    if stored is None:
        return "no such event"
    announced = client.event_from_payload(stored.payload)
    # Nothing is held while the provider is asked (on SQLite a transaction holds the write lock).
    release_read_transaction()
    if not announced.payment_id:
        return "no payment named"
    fetched = client.fetch_refunds_event(announced.payment_id, event_id)
    return handle_event(fetched) if fetched is not None else "the provider lists its refunds in its events"


def replay_event(event_id: str) -> str:
    """Apply a stored event again whose processing failed (after the cause was fixed). Its payload was verified
    when it arrived."""
    client = provider()
    stored = db.session.scalar(
        select(PaymentEvent).where(PaymentEvent.provider == client.name, PaymentEvent.event_id == event_id)
    )
    if stored is None:
        raise NotFound(f"no stored {client.name} event {event_id}")
    if not stored.result.startswith("failed"):
        return f"not replayed: it was {stored.result}"
    event = client.event_from_payload(stored.payload)
    # The failed attempt's row is the record of that failure; the replay is stored under a derived id.
    replay_id = f"{event.event_id}:replay:{uuid.uuid4().hex[:8]}"
    return handle_event(dataclasses.replace(event, event_id=replay_id))

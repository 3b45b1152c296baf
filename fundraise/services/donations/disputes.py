"""Disputes reported by the provider: an inquiry is only noted; an opened dispute withdraws the money from
the campaign fund, a won one reinstates it, a lost one leaves it withdrawn."""

from __future__ import annotations

from fundraise import audit, ledger
from fundraise.models import AccountKind, DisputeStatus, Donation, TransactionKind
from fundraise.models.ledger import LedgerTransaction
from fundraise.payments.provider import ProviderEvent
from fundraise.services.donations.capture import ClaimedEvent, EventWork, donation_for, ensure_captured
from fundraise.services.donations.custody import reverse, withdraw

DISPUTE_RANK: dict[str | None, int] = {
    None: 0,
    DisputeStatus.INQUIRY: 1,
    DisputeStatus.OPEN: 2,
    DisputeStatus.WON: 3,
    DisputeStatus.LOST: 3,
}


def record_dispute_opened(event: ProviderEvent, stored: ClaimedEvent, work: EventWork) -> str:
    donation = donation_for(event, stored)
    if donation is None or event.dispute is None:
        return "ignored: no donation for this payment"
    ensure_captured(donation, event, work)
    dispute = event.dispute
    if dispute.is_inquiry:
        _set_dispute(donation, DisputeStatus.INQUIRY, dispute.dispute_id)
        return f"dispute {dispute.dispute_id}: inquiry noted, no money withdrawn"
    _withdraw_for_dispute(donation, event)
    _set_dispute(donation, DisputeStatus.OPEN, dispute.dispute_id)
    return f"dispute {dispute.dispute_id}: funds withdrawn"


def record_dispute_closed(event: ProviderEvent, stored: ClaimedEvent, work: EventWork) -> str:
    donation = donation_for(event, stored)
    if donation is None or event.dispute is None:
        return "ignored: no donation for this payment"
    ensure_captured(donation, event, work)
    dispute = event.dispute
    if dispute.is_inquiry:
        if donation.dispute_status == DisputeStatus.INQUIRY:
            audit.record(
                "donation.dispute",
                "donation",
                donation.id,
                actor=None,
                before={"dispute_status": "inquiry"},
                after={"dispute_status": None},
            )
            donation.dispute_status = None
        return f"dispute {dispute.dispute_id}: inquiry closed"
    if dispute.status not in ("won", "lost"):
        return f"ignored: dispute {dispute.dispute_id} closed as {dispute.status}"
    # Closed before its "created" arrived (out of order): the withdrawal happened all the same.
    withdrawal = _withdraw_for_dispute(donation, event)
    if dispute.status == "won":
        _reinstate(donation, withdrawal, event)
        _set_dispute(donation, DisputeStatus.WON, dispute.dispute_id)
        return f"dispute {dispute.dispute_id}: won, funds reinstated"
    _set_dispute(donation, DisputeStatus.LOST, dispute.dispute_id)
    return f"dispute {dispute.dispute_id}: lost, funds stay withdrawn"


def record_dispute_reinstated(event: ProviderEvent, stored: ClaimedEvent, work: EventWork) -> str:
    donation = donation_for(event, stored)
    if donation is None or event.dispute is None:
        return "ignored: no donation for this payment"
    ensure_captured(donation, event, work)
    withdrawal = _withdraw_for_dispute(donation, event)
    _reinstate(donation, withdrawal, event)
    _set_dispute(donation, DisputeStatus.WON, event.dispute.dispute_id)
    return f"dispute {event.dispute.dispute_id}: funds reinstated"


def _withdraw_for_dispute(donation: Donation, event: ProviderEvent) -> LedgerTransaction:
    assert event.dispute is not None
    key = f"dispute:{event.dispute.dispute_id}:withdrawn"
    existing = ledger.find_transaction(key)
    if existing is not None:
        return existing
    amount = event.dispute.amount_fen
    if amount <= 0 or donation.disputed_fen + amount > donation.amount_fen:
        raise ledger.LedgerError(
            f"dispute {event.dispute.dispute_id} withdraws more than donation {donation.id}"
        )
    transaction = withdraw(
        key,
        TransactionKind.DISPUTE_WITHDRAWAL,
        donation,
        amount,
        AccountKind.DISPUTES,
        f"dispute on donation {donation.id}",
        {"dispute_id": event.dispute.dispute_id, "event_id": event.event_id},
    )
    donation.disputed_fen += amount
    return transaction


def _reinstate(donation: Donation, withdrawal: LedgerTransaction, event: ProviderEvent) -> None:
    assert event.dispute is not None
    key = f"dispute:{event.dispute.dispute_id}:reinstated"
    if ledger.find_transaction(key) is not None:
        return
    reverse(
        withdrawal,
        key,
        TransactionKind.DISPUTE_REINSTATEMENT,
        AccountKind.DISPUTES,
        {"dispute_id": event.dispute.dispute_id, "event_id": event.event_id},
    )
    donation.disputed_fen -= sum(
        e.amount_fen for e in withdrawal.entries if e.account.kind == AccountKind.DISPUTES
    )


def _set_dispute(donation: Donation, status: DisputeStatus, dispute_id: str) -> None:
    if DISPUTE_RANK[status] <= DISPUTE_RANK[donation.dispute_status]:
        return
    audit.record(
        "donation.dispute",
        "donation",
        donation.id,
        actor=None,
        before={"dispute_status": donation.dispute_status},
        after={"dispute_status": status, "dispute_id": dispute_id, "disputed_fen": donation.disputed_fen},
    )
    donation.dispute_status = status
    donation.provider_dispute_id = dispute_id

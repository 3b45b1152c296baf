"""Donations: start a payment, record it only from the provider's verified event, refund it, follow disputes.

Money flows (ledger accounts, DESIGN §4; every arrow is one balanced transaction with its idempotency key):

    capture      donor_clearing  → campaign_fund       donation:{id}:captured
    fee          campaign_fund   → processor_fees      donation:{id}:fee
    refund       campaign_fund   → refunds             refund:{provider_refund_id}
    (failed)     refunds         → campaign_fund       refund:{provider_refund_id}:reversed
    dispute      campaign_fund   → disputes            dispute:{provider_dispute_id}:withdrawn
    (won)        disputes        → campaign_fund       dispute:{provider_dispute_id}:reinstated
    (lost)       stays in disputes

`donor_clearing` is the outside world seen through the provider (its balance is minus everything donors
paid); `refunds` is what went back to donors through the provider, `processor_fees` what the provider kept,
`disputes` what banks took back. A refund, dispute or late fee is something the provider has already done, so it
is always recorded: if the campaign fund no longer holds enough (it was paid out to the hospital), the fund
gives what it has and `platform_reserve` covers the rest, which the entries show. Staff refunds are refused
up front when the fund cannot cover them, except `refund_all` for confirmed fraud, where the platform must
refund regardless.

Recording: only `handle_event` (fed by the webhook endpoint, or in-process by the sandbox after the same
signature check) moves a donation forward or posts to the ledger. In one database transaction it stores the
event under its unique id (a duplicate delivery finds it and does nothing), locks the donation, applies the
event without ever moving a state backwards, and posts with idempotency keys (so two different events
reporting the same fact post it once).

Raised and remaining need come from donation sums: raised = Σ (amount − refunded − disputed) over succeeded
donations. Not the fund balance: fees and payouts lower the fund without lowering what donors gave.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from fundraise import audit, ledger
from fundraise.database import release_read_transaction
from fundraise.errors import DomainError, Forbidden, IllegalTransition, NotFound, ValidationFailed
from fundraise.extensions import db
from fundraise.jobs.outbox import enqueue
from fundraise.models import (
    AccountKind,
    Campaign,
    CampaignState,
    DisputeStatus,
    Donation,
    DonationRefund,
    DonationStatus,
    PaymentEvent,
    RefundStatus,
    Role,
    SurplusChoice,
    TransactionKind,
    User,
)
from fundraise.models.columns import utcnow
from fundraise.models.donations import STATUS_RANK
from fundraise.models.ledger import LedgerAccount, LedgerTransaction
from fundraise.money import format_yuan
from fundraise.payments.links import donation_token
from fundraise.payments.provider import (
    EventKind,
    InvalidSignature,
    MalformedEvent,
    PaymentProvider,
    ProviderError,
    ProviderEvent,
    RefundInfo,
)
from fundraise.text_input import text_problem
from fundraise.unit_of_work import transactional, unit_of_work

log = logging.getLogger(__name__)
# An e-mail address's shape (something@domain.tld, no spaces); whether it exists is the mail server's business.
EMAIL_SHAPE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

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
DISPUTE_RANK: dict[str | None, int] = {
    None: 0,
    DisputeStatus.INQUIRY: 1,
    DisputeStatus.OPEN: 2,
    DisputeStatus.WON: 3,
    DisputeStatus.LOST: 3,
}


def provider() -> PaymentProvider:
    from fundraise.payments import get_provider

    return get_provider()


# --- what a campaign has raised --------------------------------------------------------------------------


def raised_fen(campaign: Campaign | int) -> int:
    """What donors have given a campaign and kept there: succeeded donations net of refunds and of money a
    dispute withdrew."""
    campaign_id = campaign if isinstance(campaign, int) else campaign.id
    total = db.session.scalar(
        select(
            func.coalesce(func.sum(Donation.amount_fen - Donation.refunded_fen - Donation.disputed_fen), 0)
        ).where(Donation.campaign_id == campaign_id, Donation.status == DonationStatus.SUCCEEDED)
    )
    return int(total or 0)


def raised_by_campaign(campaign_ids: Iterable[int]) -> dict[int, int]:
    """`raised_fen` for many campaigns in one grouped query (a list of cards); 0 for those with no gift."""
    ids = sorted(set(campaign_ids))
    if not ids:
        return {}
    rows = db.session.execute(
        select(
            Donation.campaign_id,
            func.sum(Donation.amount_fen - Donation.refunded_fen - Donation.disputed_fen),
        )
        .where(Donation.campaign_id.in_(ids), Donation.status == DonationStatus.SUCCEEDED)
        .group_by(Donation.campaign_id)
    ).all()
    raised = dict.fromkeys(ids, 0)
    raised.update({campaign_id: int(total or 0) for campaign_id, total in rows})
    return raised


def remaining_need_fen(campaign: Campaign) -> int:
    return max(campaign.target_fen - raised_fen(campaign), 0)


def surplus_fen(campaign: Campaign) -> int:
    """Money above the target (late confirmations after the campaign closed)."""
    return max(raised_fen(campaign) - campaign.target_fen, 0)


# --- starting a donation ---------------------------------------------------------------------------------


def start_donation(
    campaign: Campaign,
    donor: User | None,
    amount_fen: int,
    anonymous: bool = False,
    message: str = "",
    surplus_choice: str = SurplusChoice.REFUND,
    display_name: str = "",
    *,
    return_url: str | Callable[[Donation], str] | None = None,
    idempotency_key: str | None = None,
    guest_scope: str | None = None,
    receipt_email: str = "",
) -> tuple[Donation, str]:
    """Check the gift, store the donation, create the payment at the provider (with the donation's
    idempotency key) and return where the donor pays. Nothing is recorded as given until the provider's event.

    `idempotency_key`, when the caller has one (an API client's retry, a double-clicked form), makes a repeat
    by the same caller return the same donation and payment instead of a second one. A key belongs to its
    caller: the donor's account, or for a guest `guest_scope` (a random id kept in the guest's session), so
    another caller sending the same key gets a donation of their own, never someone else's. `return_url` may
    be a function of the stored donation (a thank-you page named by its id). `receipt_email` is where a
    guest's receipt goes.
    """
    if idempotency_key is not None and not (
        isinstance(idempotency_key, str) and 8 <= len(idempotency_key) <= 64
    ):
        raise ValidationFailed(_("The request key must be 8 to 64 characters."))
    if idempotency_key:
        idempotency_key = caller_key(idempotency_key, donor, guest_scope)
        existing = db.session.scalar(select(Donation).where(Donation.idempotency_key == idempotency_key))
        if existing is not None:
            if existing.campaign_id != campaign.id or existing.amount_fen != amount_fen:
                raise ValidationFailed(_("This request was already used for a different donation."))
            return existing, _payment_redirect(existing, return_url)

    settings = current_app.config
    if campaign.state != CampaignState.FUNDRAISING:
        raise IllegalTransition(_("This campaign is not taking donations."))
    errors: dict[str, list[str]] = {}
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int):
        errors["amount_fen"] = [_("Enter the amount in whole fen (an integer).")]
    elif amount_fen < settings["DONATION_MIN_FEN"]:
        errors["amount_fen"] = [
            _("The smallest gift is %(yuan)s yuan.", yuan=_yuan(settings["DONATION_MIN_FEN"]))
        ]
    elif amount_fen > settings["DONATION_MAX_FEN"]:
        errors["amount_fen"] = [
            _("One online gift is at most %(yuan)s yuan.", yuan=_yuan(settings["DONATION_MAX_FEN"]))
        ]
    else:
        remaining = remaining_need_fen(campaign)
        if remaining <= 0:
            raise IllegalTransition(_("This campaign has reached its target and is not taking donations."))
        if amount_fen > remaining:
            errors["amount_fen"] = [
                _(
                    "The campaign needs only %(yuan)s yuan more. Please give at most that.",
                    yuan=_yuan(remaining),
                )
            ]
    message = (message or "").strip()
    if len(message) > settings["DONATION_MESSAGE_MAX_CHARS"]:
        errors["message"] = [_("At most %(n)d characters.", n=settings["DONATION_MESSAGE_MAX_CHARS"])]
    elif problem := text_problem(message, one_line=False):
        errors["message"] = [problem]
    display_name = (display_name or "").strip() or (donor.name if donor is not None else "")
    if len(display_name) > 64:
        errors["display_name"] = [_("At most %(n)d characters.", n=64)]
    elif problem := text_problem(display_name, one_line=True):
        errors["display_name"] = [problem]
    receipt_email = (receipt_email or "").strip()
    if receipt_email and (len(receipt_email) > 254 or not EMAIL_SHAPE.fullmatch(receipt_email)):
        errors["email"] = [_("Enter an e-mail address like name@example.cn.")]
    if surplus_choice not in set(SurplusChoice):
        errors["surplus_choice"] = [_("Choose what happens to money left over.")]
    if not isinstance(anonymous, bool):
        errors["anonymous"] = [_("Choose whether to give anonymously.")]
    if errors:
        raise ValidationFailed(_("Please correct the donation."), fields=errors)

    # Stored before the provider is called (its own unit of work): a crash after the call leaves a donation
    # whose key makes the retry find the same payment, and whose metadata lets the provider's event find it.
    with unit_of_work():
        client = provider()
        donation = Donation(
            campaign_id=campaign.id,
            donor_id=donor.id if donor is not None else None,
            display_name=display_name,
            anonymous=anonymous,
            message=message,
            amount_fen=amount_fen,
            surplus_choice=str(surplus_choice),
            status=DonationStatus.CREATED,
            provider=client.name,
            idempotency_key=idempotency_key or f"donation-{uuid.uuid4().hex}",
            receipt_email=receipt_email,
        )
        db.session.add(donation)
        db.session.flush()
        audit.record(
            "donation.start",
            "donation",
            donation.id,
            actor=donor,
            after={"campaign_id": campaign.id, "amount_fen": amount_fen, "status": DonationStatus.CREATED},
        )
    return donation, _payment_redirect(donation, return_url)


def caller_key(key: str, donor: User | None, guest_scope: str | None) -> str:
    """The stored form of a caller's idempotency key: bound to the caller, fixed length (it also goes to the
    payment provider as that call's idempotency key)."""
    if donor is not None:
        caller = f"user:{donor.id}"
    elif guest_scope:
        caller = f"guest:{guest_scope}"
    else:
        raise ValueError("a guest's idempotency key needs the guest's scope")
    digest = hashlib.sha256(f"{caller}\n{key}".encode()).hexdigest()
    return f"idem-{digest[:59]}"


def _payment_redirect(donation: Donation, return_url: str | Callable[[Donation], str] | None) -> str:
    if callable(return_url):
        return_url = return_url(donation)
    return_url = return_url or url_for(
        "payments.donation_status", donation_id=donation.id, t=donation_token(donation.id)
    )
    try:
        created = provider().create_payment(donation, return_url)
    except ProviderError as error:
        with unit_of_work():
            donation = db.session.get_one(Donation, donation.id, populate_existing=True)
            if donation.status == DonationStatus.CREATED and donation.provider_payment_id is None:
                _set_status(donation, DonationStatus.FAILED, "the payment provider could not be reached")
        raise ProviderError(
            _("The payment service is not available right now. Please try again later.")
        ) from error
    with unit_of_work():
        if donation.provider_payment_id is None:
            donation.provider_payment_id = created.provider_payment_id
    return created.redirect_url


def _yuan(fen: int) -> str:
    return format_yuan(fen, symbol=False)


# --- provider events -------------------------------------------------------------------------------------


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
        return "duplicate"
    handler = HANDLERS.get(event.kind)
    try:
        with unit_of_work():
            work = _Work()
            result = handler(event, stored, work) if handler else f"ignored: {event.type} is not acted on"
            for campaign_id in work.crossed_target:
                _close_on_target(campaign_id)
    except (DomainError, ledger.LedgerError) as error:
        log.error("payment event %s %s could not be applied: %s", event.event_id, event.type, error)
        result = f"failed: {error}"[:255]
    stored.result = result[:255]
    stored.processed_at = utcnow()
    return result


class _Work:
    """What one event's handling leaves to do once the event is applied."""

    def __init__(self) -> None:
        self.crossed_target: list[int] = []


def _claim_event(event: ProviderEvent) -> PaymentEvent | None:
    """Insert the event under its unique id, or return None when it was already stored (a duplicate; a
    concurrent duplicate waits here for the first to commit, then finds it)."""
    found = db.session.scalar(
        select(PaymentEvent.id).where(
            PaymentEvent.provider == event.provider, PaymentEvent.event_id == event.event_id
        )
    )
    if found is not None:
        return None
    stored = PaymentEvent(
        provider=event.provider,
        event_id=event.event_id,
        type=event.type[:64],
        payload=event.payload,
        result="received",
    )
    try:
        with db.session.begin_nested():
            db.session.add(stored)
    except IntegrityError:
        return None  # the savepoint is rolled back; the caller's own work stays
    return stored


def _donation_for(event: ProviderEvent, stored: PaymentEvent) -> Donation | None:
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


def record_payment_succeeded(event: ProviderEvent, stored: PaymentEvent, work: _Work) -> str:
    donation = _donation_for(event, stored)
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
        _withdraw(
            f"donation:{donation.id}:fee",
            TransactionKind.FEE,
            donation,
            event.fee_fen,
            AccountKind.PROCESSOR_FEES,
            memo=f"{event.provider} fee on donation {donation.id}",
            refs={"event_id": event.event_id},
        )
    return result


def _capture(donation: Donation, event: ProviderEvent, work: _Work) -> str:
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


def _ensure_captured(donation: Donation, event: ProviderEvent, work: _Work) -> None:
    """A refund or dispute proves the payment succeeded, even if its success event has not arrived yet."""
    if donation.status != DonationStatus.SUCCEEDED:
        _capture(donation, event, work)


def _move(target: DonationStatus) -> Any:
    def record(event: ProviderEvent, stored: PaymentEvent, work: _Work) -> str:
        donation = _donation_for(event, stored)
        if donation is None:
            return "ignored: no donation for this payment"
        if STATUS_RANK[target] <= STATUS_RANK[DonationStatus(donation.status)]:
            return f"ignored: donation already {donation.status}"
        _set_status(donation, target, event.failure_reason)
        return "recorded"

    return record


def _set_status(donation: Donation, target: DonationStatus, reason: str = "") -> None:
    before = donation.status
    donation.status = target
    if target in (DonationStatus.FAILED, DonationStatus.CANCELED):
        donation.failure_reason = (reason or "")[:255]
    audit.record(
        f"donation.{target}",
        "donation",
        donation.id,
        actor=None,
        before={"status": before},
        after={"status": target, "reason": reason},
    )


def record_refund(event: ProviderEvent, stored: PaymentEvent, work: _Work) -> str:
    donation = _donation_for(event, stored)
    if donation is None:
        return "ignored: no donation for this payment"
    _ensure_captured(donation, event, work)
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
            reason="refunded at the payment provider",
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
            _withdraw(
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
            _reverse(original, f"{key}:reversed", TransactionKind.REFUND_REVERSAL, AccountKind.REFUNDS, refs)
            donation.refunded_fen -= info.amount_fen
        row.failure_reason = f"the provider reports the refund {target}"
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


def note_refund_summary(event: ProviderEvent, stored: PaymentEvent, work: _Work) -> str:
    """The provider says how much of the payment is refunded but not which refunds: when that differs from
    the ledger, a job fetches the refunds from the provider and posts each by its id (once, like any refund
    event), after this transaction commits and outside it."""
    donation = _donation_for(event, stored)
    if donation is None:
        return "ignored: no donation for this payment"
    noted = f"noted: provider reports {event.refunded_total_fen} refunded in total, ledger {donation.refunded_fen}"
    if event.refunded_total_fen is None or event.refunded_total_fen == donation.refunded_fen:
        return noted
    enqueue("fetch_refunds", event_id=event.event_id)
    return f"{noted}; fetching the refunds from the provider"


def record_dispute_opened(event: ProviderEvent, stored: PaymentEvent, work: _Work) -> str:
    donation = _donation_for(event, stored)
    if donation is None or event.dispute is None:
        return "ignored: no donation for this payment"
    _ensure_captured(donation, event, work)
    dispute = event.dispute
    if dispute.is_inquiry:
        _set_dispute(donation, DisputeStatus.INQUIRY, dispute.dispute_id)
        return f"dispute {dispute.dispute_id}: inquiry noted, no money withdrawn"
    _withdraw_for_dispute(donation, event)
    _set_dispute(donation, DisputeStatus.OPEN, dispute.dispute_id)
    return f"dispute {dispute.dispute_id}: funds withdrawn"


def record_dispute_closed(event: ProviderEvent, stored: PaymentEvent, work: _Work) -> str:
    donation = _donation_for(event, stored)
    if donation is None or event.dispute is None:
        return "ignored: no donation for this payment"
    _ensure_captured(donation, event, work)
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


def record_dispute_reinstated(event: ProviderEvent, stored: PaymentEvent, work: _Work) -> str:
    donation = _donation_for(event, stored)
    if donation is None or event.dispute is None:
        return "ignored: no donation for this payment"
    _ensure_captured(donation, event, work)
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
    transaction = _withdraw(
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
    _reverse(
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


def _withdraw(
    key: str,
    kind: TransactionKind,
    donation: Donation,
    amount_fen: int,
    to_kind: AccountKind,
    memo: str,
    refs: dict[str, Any],
) -> LedgerTransaction:
    """Money the provider has already taken out of a campaign's custody: from the campaign fund as far as it
    holds, the rest from the platform reserve (a fund already paid out to the hospital)."""
    existing = ledger.find_transaction(key)
    if existing is not None:
        return existing
    fund = ledger.campaign_fund(donation.campaign_id)
    ledger.lock_accounts([fund])
    from_fund = min(amount_fen, max(ledger.balance(fund), 0))
    entries: list[tuple[LedgerAccount, int]] = [(ledger.account(to_kind), amount_fen)]
    if from_fund:
        entries.append((fund, -from_fund))
    if amount_fen > from_fund:
        entries.append((ledger.account(AccountKind.PLATFORM_RESERVE), -(amount_fen - from_fund)))
        refs = {**refs, "shortfall_fen": amount_fen - from_fund}
    return ledger.post_transfer(key, kind, entries, memo, refs, donation_id=donation.id)


def _reverse(
    original: LedgerTransaction, key: str, kind: TransactionKind, from_kind: AccountKind, refs: dict[str, Any]
) -> LedgerTransaction:
    """Undo a withdrawal: every account it took from gets its share back."""
    entries = [(entry.account, -entry.amount_fen) for entry in original.entries]
    assert any(a.kind == from_kind for a, _amount in entries)
    return ledger.post_transfer(
        key,
        kind,
        entries,
        f"reversal of {original.idempotency_key}",
        {**refs, "reverses": original.id},
        donation_id=original.donation_id,
    )


def _close_on_target(campaign_id: int) -> None:
    """The campaign reached its target: it stops taking donations. The system closes it when the state machine
    lets the system make the 'close' transition; otherwise start_donation already refuses (no remaining need)
    and the event is written to the audit log for staff."""
    from fundraise.services.campaigns import TRANSITIONS, transition

    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None or campaign.state != CampaignState.FUNDRAISING:
        return
    rule = TRANSITIONS.get("close")
    if rule is not None and campaign.state in rule.sources and rule.allowed(None, campaign):
        transition(campaign, "close", actor=None, reason="target reached")
        return
    audit.record(
        "campaign.target_reached",
        "campaign",
        campaign.id,
        actor=None,
        after={"raised_fen": raised_fen(campaign), "target_fen": campaign.target_fen},
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
                _("At most %(yuan)s yuan of this donation can still be refunded.", yuan=_yuan(available)),
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
            after={"refund_request": row.id, "amount_fen": amount_fen, "reason": row.reason},
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
    from fundraise.services.campaigns import TRANSITIONS, transition

    if actor is None or not actor.has_role(Role.CHARITY_STAFF, Role.ADMIN):
        raise Forbidden(_("Only charity staff can refund donations."))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Please give a reason."), fields={"reason": [_("A reason is required.")]})
    cancel = TRANSITIONS["cancel"]
    with unit_of_work():
        if campaign.state in cancel.sources and cancel.allowed(actor, campaign):
            transition(campaign, "cancel", actor=actor, reason=reason)
        audit.record("campaign.refund_all", "campaign", campaign.id, actor=actor, after={"reason": reason})
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


__all__ = [
    "InvalidSignature",
    "MalformedEvent",
    "handle_event",
    "raised_fen",
    "receive_webhook",
    "record_payment_succeeded",
    "refund_all",
    "refund_donation",
    "remaining_need_fen",
    "start_donation",
    "surplus_fen",
]


# --- proving the donation side of the ledger -------------------------------------------------------------


def check_donations() -> tuple[int, list[str]]:
    """Donations against the ledger; returns (donations checked, violations).

    Every succeeded donation has exactly one capture, of its amount, into its campaign's fund; no other
    donation has one; its refunded_fen equals its refunds posted less reversals, its disputed_fen its dispute
    withdrawals less reinstatements; and per campaign, captures into the fund equal the succeeded donations,
    and what donors gave and kept (raised) equals captures − refunds − disputes in the ledger.
    """
    from fundraise.models import LedgerAccount, LedgerEntry, LedgerTransaction

    violations: list[str] = []
    rows = db.session.execute(
        select(
            LedgerTransaction.donation_id,
            LedgerTransaction.kind,
            LedgerAccount.kind,
            LedgerAccount.owner_id,
            func.count(func.distinct(LedgerTransaction.id)),
            func.sum(LedgerEntry.amount_fen),
        )
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerEntry.account_id == LedgerAccount.id)
        .where(LedgerTransaction.donation_id.is_not(None))
        .group_by(
            LedgerTransaction.donation_id, LedgerTransaction.kind, LedgerAccount.kind, LedgerAccount.owner_id
        )
    ).all()
    # (donation, transaction kind, account kind) -> (transactions, total); captures also by campaign.
    totals: dict[tuple[int, str, str], tuple[int, int]] = {}
    capture_fund_owner: dict[int, int] = {}
    reserve_by_donation: dict[int, int] = {}
    for row_donation_id, tx_kind, account_kind, owner_id, count, summed in rows:
        assert row_donation_id is not None  # the query leaves out transactions without a donation
        donation_id = int(row_donation_id)
        totals[(donation_id, tx_kind, account_kind)] = (int(count), int(summed))
        if account_kind == AccountKind.PLATFORM_RESERVE:
            reserve_by_donation[donation_id] = reserve_by_donation.get(donation_id, 0) + int(summed)
        if tx_kind == TransactionKind.CAPTURE and account_kind == AccountKind.CAMPAIGN_FUND:
            capture_fund_owner[donation_id] = owner_id

    other_fund_movements = {
        account_id: int(amount)
        for account_id, amount in db.session.execute(
            select(LedgerEntry.account_id, func.sum(LedgerEntry.amount_fen))
            .join(LedgerTransaction, LedgerEntry.transaction_id == LedgerTransaction.id)
            .join(LedgerAccount, LedgerEntry.account_id == LedgerAccount.id)
            .where(LedgerTransaction.donation_id.is_(None), LedgerAccount.kind == AccountKind.CAMPAIGN_FUND)
            .group_by(LedgerEntry.account_id)
        )
    }

    def total(donation_id: int, tx_kind: TransactionKind, account_kind: AccountKind) -> int:
        return totals.get((donation_id, tx_kind, account_kind), (0, 0))[1]

    checked = 0
    per_campaign: dict[int, dict[str, int]] = {}
    for donation in db.session.scalars(select(Donation).order_by(Donation.id)).yield_per(1000):
        checked += 1
        captures, captured = totals.get(
            (donation.id, TransactionKind.CAPTURE, AccountKind.CAMPAIGN_FUND), (0, 0)
        )
        if donation.status == DonationStatus.SUCCEEDED:
            if captures != 1:
                violations.append(f"donation {donation.id} succeeded but has {captures} capture transactions")
            elif (
                captured != donation.amount_fen or capture_fund_owner.get(donation.id) != donation.campaign_id
            ):
                violations.append(
                    f"donation {donation.id}: captured {captured} fen into campaign {capture_fund_owner.get(donation.id)}, "
                    f"expected {donation.amount_fen} into campaign {donation.campaign_id}"
                )
        elif captures:
            violations.append(f"donation {donation.id} is {donation.status} but has a capture transaction")
        refunded = total(donation.id, TransactionKind.REFUND, AccountKind.REFUNDS) + total(
            donation.id, TransactionKind.REFUND_REVERSAL, AccountKind.REFUNDS
        )
        if refunded != donation.refunded_fen:
            violations.append(
                f"donation {donation.id}: refunded_fen {donation.refunded_fen}, ledger refunds {refunded}"
            )
        disputed = total(donation.id, TransactionKind.DISPUTE_WITHDRAWAL, AccountKind.DISPUTES) + total(
            donation.id, TransactionKind.DISPUTE_REINSTATEMENT, AccountKind.DISPUTES
        )
        if disputed != donation.disputed_fen:
            violations.append(
                f"donation {donation.id}: disputed_fen {donation.disputed_fen}, ledger disputes {disputed}"
            )
        campaign = per_campaign.setdefault(
            donation.campaign_id, {"donations": 0, "captured": 0, "kept": 0, "fees": 0, "covered": 0}
        )
        campaign["captured"] += captured
        campaign["kept"] += captured - refunded - disputed
        campaign["fees"] += total(donation.id, TransactionKind.FEE, AccountKind.PROCESSOR_FEES)
        campaign["covered"] -= reserve_by_donation.get(donation.id, 0)
        if donation.status == DonationStatus.SUCCEEDED:
            campaign["donations"] += donation.amount_fen
    for campaign_id, sums in sorted(per_campaign.items()):
        if sums["captured"] != sums["donations"]:
            violations.append(
                f"campaign {campaign_id}: captures {sums['captured']} fen, succeeded donations {sums['donations']} fen"
            )
        raised = raised_fen(campaign_id)
        if raised != sums["kept"]:
            violations.append(
                f"campaign {campaign_id}: raised {raised} fen, ledger captures − refunds − disputes {sums['kept']}"
            )
        # The fund holds what donors kept there, less fees, plus what the platform reserve covered for it,
        # plus movements that are not about one donation (payouts to the hospital, corrections).
        fund = ledger.find_account(AccountKind.CAMPAIGN_FUND, campaign_id)
        other = other_fund_movements.get(fund.id, 0) if fund is not None else 0
        expected = sums["kept"] - sums["fees"] + sums["covered"] + other
        actual = ledger.balance(fund) if fund is not None else 0
        if actual != expected:
            violations.append(
                f"campaign {campaign_id}: fund balance {actual} fen, expected kept {sums['kept']} − fees {sums['fees']}"
                f" + reserve-covered {sums['covered']} + other movements {other} = {expected}"
            )
    return checked, violations

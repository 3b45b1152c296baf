"""Donations, the refunds made on them, the provider events that record both, and the sandbox provider's own
records (so reconciliation has a provider side to compare with, even without Stripe)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fundraise.extensions import db
from fundraise.models.accounts import User
from fundraise.models.campaigns import Campaign
from fundraise.models.columns import UTCDateTime, utcnow


class DonationStatus(enum.StrEnum):
    CREATED = "created"  # the payment exists at the provider; the donor has not paid yet
    PENDING = "pending"  # the provider is processing a delayed payment method
    SUCCEEDED = "succeeded"  # the provider confirmed it; the capture is in the ledger
    FAILED = "failed"
    CANCELED = "canceled"


# How far along a donation is. An event may only move a donation to a higher rank, so a late or out-of-order
# event ("processing" after "succeeded") never moves it backwards. A failed attempt can still be followed by a
# success (the donor retries with another card); a success is final (refunds and disputes are tracked apart).
STATUS_RANK = {
    DonationStatus.CREATED: 0,
    DonationStatus.PENDING: 1,
    DonationStatus.FAILED: 2,
    DonationStatus.CANCELED: 3,
    DonationStatus.SUCCEEDED: 4,
}


class SurplusChoice(enum.StrEnum):
    REFUND = "refund"  # money left after treatment comes back to me, pro rata
    RELIEF_POOL = "relief_pool"  # ... or goes to a relief pool for other patients


class DisputeStatus(enum.StrEnum):
    INQUIRY = "inquiry"  # the bank asked; no money was withdrawn
    OPEN = "open"  # money withdrawn while the dispute runs
    WON = "won"  # money reinstated
    LOST = "lost"  # money stays withdrawn


class RefundStatus(enum.StrEnum):
    REQUESTED = "requested"  # written before the provider is asked, so a retry reuses its idempotency key
    PENDING = "pending"  # the provider accepted it; the money has left (posted to the ledger)
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # refused by the provider, or failed after acceptance (posting reversed)
    CANCELED = "canceled"


def _values(kind: type[enum.StrEnum]) -> str:
    return ", ".join(f"'{member.value}'" for member in kind)


class Donation(db.Model):
    """A donor's gift to one campaign, recorded as succeeded only from a verified provider event."""

    __tablename__ = "donations"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount"),
        CheckConstraint("currency = 'CNY'", name="currency"),
        CheckConstraint(f"status IN ({_values(DonationStatus)})", name="status"),
        CheckConstraint(f"surplus_choice IN ({_values(SurplusChoice)})", name="surplus_choice"),
        CheckConstraint(
            f"dispute_status IS NULL OR dispute_status IN ({_values(DisputeStatus)})", name="dispute_status"
        ),
        CheckConstraint("refunded_fen >= 0 AND refunded_fen <= amount_fen", name="refunded"),
        CheckConstraint("disputed_fen >= 0 AND disputed_fen <= amount_fen", name="disputed"),
        Index("ix_donations_campaign_status", "campaign_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    # None for a guest.
    donor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    # The name the donor chose to show; never shown when `anonymous`.
    display_name: Mapped[str] = mapped_column(String(64), default="")
    anonymous: Mapped[bool] = mapped_column(default=False)
    message: Mapped[str] = mapped_column(Text, default="")
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    surplus_choice: Mapped[str] = mapped_column(String(16), default=SurplusChoice.REFUND)
    status: Mapped[str] = mapped_column(String(16), default=DonationStatus.CREATED, index=True)
    # Kept in step with the ledger's refund transactions for this donation (`flask ledger check` proves it).
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    dispute_status: Mapped[str | None] = mapped_column(String(16))
    provider_dispute_id: Mapped[str | None] = mapped_column(String(255))
    # What an open or lost dispute withdrew (0 once won).
    disputed_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    provider: Mapped[str] = mapped_column(String(16))
    provider_payment_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    # Sent with the provider call that creates the payment: a retried start cannot create a second payment.
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    receipt_number: Mapped[str | None] = mapped_column(String(32), unique=True)
    # Where a guest's receipt is sent (a signed-in donor's goes to their account's address).
    receipt_email: Mapped[str] = mapped_column(String(254), default="")
    # When the receipt e-mail went out: the receipt job sends it once.
    receipt_emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failure_reason: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    campaign: Mapped[Campaign] = relationship()
    donor: Mapped[User | None] = relationship()
    refunds: Mapped[list[DonationRefund]] = relationship(
        back_populates="donation", order_by="DonationRefund.id"
    )

    @property
    def disputed(self) -> bool:
        return self.dispute_status in (DisputeStatus.OPEN, DisputeStatus.LOST)

    @property
    def net_fen(self) -> int:
        """What this donation still contributes to its campaign: nothing unless succeeded, less refunds and
        money withdrawn by a dispute."""
        if self.status != DonationStatus.SUCCEEDED:
            return 0
        return self.amount_fen - self.refunded_fen - self.disputed_fen

    @property
    def shown_name(self) -> str | None:
        """The donor's chosen name for public lists, or None for an anonymous gift."""
        return None if self.anonymous else (self.display_name or None)


class DonationRefund(db.Model):
    """A refund of part or all of a donation: asked by staff (written before the provider is called) or
    reported by the provider (made in its dashboard). Posted to the ledger only from the provider's event."""

    __tablename__ = "donation_refunds"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount"),
        CheckConstraint(f"status IN ({_values(RefundStatus)})", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    donation_id: Mapped[int] = mapped_column(ForeignKey("donations.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default=RefundStatus.REQUESTED)
    provider_refund_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    # Sent with the provider's refund call and carried back in its events (refund metadata).
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(Text, default="")
    failure_reason: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    donation: Mapped[Donation] = relationship(back_populates="refunds")
    requested_by: Mapped[User | None] = relationship()


class PaymentEvent(db.Model):
    """Every verified provider event, stored under its unique id in the same transaction as what it caused:
    a second delivery finds it and changes nothing."""

    __tablename__ = "payment_events"
    __table_args__ = (UniqueConstraint("provider", "event_id", name="uq_payment_events_provider_event"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    donation_id: Mapped[int | None] = mapped_column(ForeignKey("donations.id"), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # What processing did, in words: "recorded capture", "ignored: already succeeded", "unknown payment", ...
    result: Mapped[str] = mapped_column(String(255), default="")


class SandboxPaymentStatus(enum.StrEnum):
    REQUIRES_PAYMENT = "requires_payment"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class SandboxPayment(db.Model):
    """The sandbox provider's record of a payment: what Stripe would hold on its side."""

    __tablename__ = "sandbox_payments"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount"),
        CheckConstraint(f"status IN ({_values(SandboxPaymentStatus)})", name="status"),
        CheckConstraint("refunded_fen >= 0 AND refunded_fen <= amount_fen", name="refunded"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    donation_id: Mapped[int] = mapped_column(index=True)
    campaign_id: Mapped[int] = mapped_column()
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    status: Mapped[str] = mapped_column(String(20), default=SandboxPaymentStatus.REQUIRES_PAYMENT)
    fee_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    # A dispute the sandbox opened and has not closed in the payer's favour (money withdrawn).
    disputed: Mapped[bool] = mapped_column(default=False)
    return_url: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class SandboxRefund(db.Model):
    """The sandbox provider's record of a refund."""

    __tablename__ = "sandbox_refunds"
    __table_args__ = (CheckConstraint("amount_fen > 0", name="amount"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("sandbox_payments.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

"""Money leaving for hospitals (DESIGN §5, Payout): the hospitals' settlement accounts, disbursements and their
approvals, what each gift paid for, and the patients blocked after confirmed fraud.

A disbursement's stored `status` moves requested → approved → paid, or ends rejected or cancelled. Whether a
requested one is still in its public notice, held by an objection, or waiting for its first or second
approval is not stored but read from the clock, the open objections and the approvals (services/disbursements.py
`phase`), so no job has to move it and no two columns can disagree.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fundraise.extensions import db
from fundraise.models.accounts import User
from fundraise.models.campaigns import Campaign, Document
from fundraise.models.columns import UTCDateTime, utcnow
from fundraise.models.donations import Donation
from fundraise.models.matching import Offer
from fundraise.models.reference import Hospital


def _values(kind: type[enum.StrEnum]) -> str:
    return ", ".join(f"'{member.value}'" for member in kind)


class SettlementStatus(enum.StrEnum):
    PENDING = "pending"  # entered by one admin; nothing is paid to it until a second admin confirms
    CONFIRMED = "confirmed"  # the hospital's account payouts go to
    REPLACED = "replaced"  # a later confirmed account took its place (kept: old payouts name it)


class SettlementAccount(db.Model):
    """A hospital's bank account for payouts, entered by one admin and confirmed by another. A change is a new
    row, pending until confirmed; while a change is pending the hospital is not paid at all."""

    __tablename__ = "settlement_accounts"
    __table_args__ = (
        CheckConstraint(f"status IN ({_values(SettlementStatus)})", name="status"),
        CheckConstraint("confirmed_by_id IS NULL OR confirmed_by_id != proposed_by_id", name="two_admins"),
        Index(
            "uq_settlement_accounts_pending",
            "hospital_id",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index(
            "uq_settlement_accounts_confirmed",
            "hospital_id",
            unique=True,
            sqlite_where=text("status = 'confirmed'"),
            postgresql_where=text("status = 'confirmed'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    hospital_id: Mapped[int] = mapped_column(ForeignKey("hospitals.id"), index=True)
    bank_name: Mapped[str] = mapped_column(String(128))
    account_name: Mapped[str] = mapped_column(String(128))
    # A hospital's corporate account, not personal information: kept in full for the bank file, shown masked.
    account_number: Mapped[str] = mapped_column(String(34))
    status: Mapped[str] = mapped_column(String(16), default=SettlementStatus.PENDING)
    proposed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    hospital: Mapped[Hospital] = relationship()
    proposed_by: Mapped[User] = relationship(foreign_keys=[proposed_by_id])
    confirmed_by: Mapped[User | None] = relationship(foreign_keys=[confirmed_by_id])

    @property
    def masked_number(self) -> str:
        return "•••• " + self.account_number[-4:]


class DisbursementSource(enum.StrEnum):
    CAMPAIGN_FUND = "campaign_fund"  # what donors gave the campaign
    RELIEF_COMMITMENT = "relief_commitment"  # an approved relief-project offer for the case


class DisbursementStatus(enum.StrEnum):
    REQUESTED = "requested"  # in notice, held, or waiting for approval (see `phase`)
    APPROVED = "approved"  # every approval given; the money is reserved in the ledger
    PAID = "paid"  # finance recorded the bank transfer; the payout is posted
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class Disbursement(db.Model):
    """A payment to the treating hospital against a bill, from a campaign's fund or an approved relief offer."""

    __tablename__ = "disbursements"
    __table_args__ = (
        CheckConstraint(f"source IN ({_values(DisbursementSource)})", name="source"),
        CheckConstraint(f"status IN ({_values(DisbursementStatus)})", name="status"),
        CheckConstraint("amount_fen > 0 AND amount_fen <= bill_total_fen", name="amount"),
        CheckConstraint("required_approvals IN (1, 2)", name="required_approvals"),
        CheckConstraint(
            "(source = 'relief_commitment') = (offer_id IS NOT NULL)", name="offer_for_relief_commitment"
        ),
        CheckConstraint("(status = 'paid') = (transfer_reference IS NOT NULL)", name="paid_reference"),
        Index("ix_disbursements_status_notice", "status", "notice_ends_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    source: Mapped[str] = mapped_column(String(24))
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("relief_offers.id"), index=True)
    hospital_id: Mapped[int] = mapped_column(ForeignKey("hospitals.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    # The bill's own total: a payout never exceeds the bill it pays.
    bill_total_fen: Mapped[int] = mapped_column(BigInteger)
    purpose: Mapped[str] = mapped_column(String(200))
    bill_document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"))
    status: Mapped[str] = mapped_column(String(16), default=DisbursementStatus.REQUESTED, index=True)
    required_approvals: Mapped[int] = mapped_column(default=1)
    # Sent with the request form (or the API's Idempotency-Key): a second submit finds the first request.
    request_key: Mapped[str] = mapped_column(String(64), unique=True)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    notice_ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The confirmed settlement account at approval; payment goes there only while it is still the confirmed one.
    settlement_account_id: Mapped[int | None] = mapped_column(ForeignKey("settlement_accounts.id"))
    # Who rejected or cancelled it, when and why (shown to the requester and staff).
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_note: Mapped[str] = mapped_column(Text, default="")
    transfer_reference: Mapped[str | None] = mapped_column(String(64), unique=True)
    paid_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    campaign: Mapped[Campaign] = relationship()
    offer: Mapped[Offer | None] = relationship()
    hospital: Mapped[Hospital] = relationship()
    bill: Mapped[Document] = relationship()
    requested_by: Mapped[User] = relationship(foreign_keys=[requested_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    paid_by: Mapped[User | None] = relationship(foreign_keys=[paid_by_id])
    settlement_account: Mapped[SettlementAccount | None] = relationship()
    approvals: Mapped[list[DisbursementApproval]] = relationship(
        back_populates="disbursement", order_by="DisbursementApproval.id", lazy="selectin"
    )

    @property
    def approver_ids(self) -> set[int]:
        return {approval.approver_id for approval in self.approvals}


class DisbursementApproval(db.Model):
    """One approver's approval; the same person approves a request once."""

    __tablename__ = "disbursement_approvals"
    __table_args__ = (
        UniqueConstraint("disbursement_id", "approver_id", name="uq_disbursement_approvals_once"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    disbursement_id: Mapped[int] = mapped_column(ForeignKey("disbursements.id"), index=True)
    approver_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    disbursement: Mapped[Disbursement] = relationship(back_populates="approvals")
    approver: Mapped[User] = relationship()


class GiftUse(enum.StrEnum):
    PAYOUT = "payout"  # paid to the hospital in a disbursement
    RELIEF_POOL = "relief_pool"  # left over at close-out and moved to the relief pool, as the donor chose


class GiftAllocation(db.Model):
    """The part of one gift a payout (or the relief pool) took: written once, when the money moved, first in
    first out over the campaign's gifts, so each donor can see what their gift paid for."""

    __tablename__ = "gift_allocations"
    __table_args__ = (
        CheckConstraint(f"kind IN ({_values(GiftUse)})", name="kind"),
        CheckConstraint("amount_fen > 0", name="amount"),
        CheckConstraint("(kind = 'payout') = (disbursement_id IS NOT NULL)", name="payout_disbursement"),
        UniqueConstraint("donation_id", "disbursement_id", "kind", name="uq_gift_allocations_once"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    donation_id: Mapped[int] = mapped_column(ForeignKey("donations.id"), index=True)
    disbursement_id: Mapped[int | None] = mapped_column(ForeignKey("disbursements.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default=GiftUse.PAYOUT)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    donation: Mapped[Donation] = relationship()
    disbursement: Mapped[Disbursement | None] = relationship()


class BlockedPatient(db.Model):
    """A patient (by the blind index of their ID number) whose campaign was confirmed fraudulent: a new
    campaign for them is refused at filing, with the reason, until staff lift the block."""

    __tablename__ = "blocked_patients"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id_index: Mapped[str] = mapped_column(String(64), unique=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    report_id: Mapped[int | None] = mapped_column(ForeignKey("campaign_reports.id"))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

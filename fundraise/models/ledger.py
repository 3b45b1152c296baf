"""The double-entry ledger (DESIGN §4): accounts, transactions and their entries.

Transactions and entries are append-only: they are inserted by `fundraise.ledger.post_transfer` and never
updated or deleted (a guard in `fundraise.ledger` refuses any flush that would). The entries are the truth.

Balances of the accounts that may not go negative (campaign fund, project budget, project commitment, payout
reservation) are
also stored on the account row (`balance_fen`, with a `version` counted up at each change), updated by
post_transfer in the same transaction as the entries, under the row lock it already holds to check them, so
a posting never re-sums history. The other accounts (donor clearing and the sinks every gift touches) keep
`balance_fen` at 0 and their balance is the sum of their entries: updating their rows would make every
posting wait on the one before it. `flask ledger check` recomputes every balance from the entries and names
each stored balance that differs.

Sign convention: an entry's `amount_fen` is what it adds to its account's balance. Money arriving from donors
is `donor_clearing −x, campaign_fund +x`; every transaction's entries sum to zero.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fundraise.extensions import db
from fundraise.models.columns import UTCDateTime, utcnow


class AccountKind(enum.StrEnum):
    # The outside world as seen through the payment provider: money in from donors (negative balance).
    DONOR_CLEARING = "donor_clearing"
    # Custody of one campaign's donations (owner: campaign id). Never negative.
    CAMPAIGN_FUND = "campaign_fund"
    # A relief project's unallocated budget and its approved-but-unpaid offers (owner: project id). Never negative.
    PROJECT_BUDGET = "project_budget"
    PROJECT_COMMITMENT = "project_commitment"
    # Money a charity has placed with the platform for its relief projects (owner: charity id; negative = what
    # the charity deposited, net of what went back to it).
    CHARITY_FUNDS = "charity_funds"
    # An approved disbursement's money, reserved until the bank transfer is recorded (owner: disbursement id).
    # Never negative.
    PAYOUT_RESERVED = "payout_reserved"
    # Money paid out to a hospital (owner: hospital id).
    HOSPITAL_PAYOUT = "hospital_payout"
    # What donors chose to leave for other patients when their campaign closed with money left.
    RELIEF_POOL = "relief_pool"
    # Money returned to donors through the provider.
    REFUNDS = "refunds"
    # What the payment provider kept as its fee.
    PROCESSOR_FEES = "processor_fees"
    # Money the provider withdrew for an open (or lost) card dispute.
    DISPUTES = "disputes"
    # The platform's own money: covers a provider withdrawal (refund, dispute, late fee) that a campaign fund
    # can no longer cover because it was already paid out. Negative = the platform fronted that much.
    PLATFORM_RESERVE = "platform_reserve"


# Accounts whose balance may never go below zero; post_transfer locks and checks them, and keeps their
# balance on the account row.
NON_NEGATIVE_KINDS = frozenset(
    {
        AccountKind.CAMPAIGN_FUND,
        AccountKind.PROJECT_BUDGET,
        AccountKind.PROJECT_COMMITMENT,
        AccountKind.PAYOUT_RESERVED,
    }
)
# Accounts that exist once per owner; every other kind is a single account with owner_id 0.
OWNED_KINDS = frozenset(
    {
        AccountKind.CAMPAIGN_FUND,
        AccountKind.PROJECT_BUDGET,
        AccountKind.PROJECT_COMMITMENT,
        AccountKind.HOSPITAL_PAYOUT,
        AccountKind.CHARITY_FUNDS,
        AccountKind.PAYOUT_RESERVED,
    }
)


def _values(kind: type[enum.StrEnum]) -> str:
    return ", ".join(f"'{member.value}'" for member in kind)


def _owned() -> str:
    return ", ".join(f"'{kind.value}'" for kind in sorted(OWNED_KINDS))


class LedgerAccount(db.Model):
    """One account. `owner_id` names the campaign, project or hospital for owned kinds (no foreign key: the
    owner's table depends on the kind), and is 0 for the single accounts, so the unique key also holds for
    them (NULLs would never collide)."""

    __tablename__ = "ledger_accounts"
    __table_args__ = (
        UniqueConstraint("kind", "owner_id", name="uq_ledger_accounts_kind_owner"),
        CheckConstraint(f"kind IN ({_values(AccountKind)})", name="kind"),
        CheckConstraint(
            f"(kind IN ({_owned()}) AND owner_id > 0) OR (kind NOT IN ({_owned()}) AND owner_id = 0)",
            name="owner",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    owner_id: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Kept only for NON_NEGATIVE_KINDS (0 on the others): the sum of the account's entries, changed only by
    # post_transfer's `UPDATE ... SET balance_fen = balance_fen + delta, version = version + 1`. Read it
    # with `fundraise.ledger.balance`, which asks the database, not this attribute.
    balance_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    def __repr__(self) -> str:
        return f"<LedgerAccount {self.id} {self.kind}:{self.owner_id}>"

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.owner_id}" if self.owner_id else self.kind


class TransactionKind(enum.StrEnum):
    CAPTURE = "capture"  # a donation confirmed by the provider
    FEE = "fee"  # the provider's fee on a donation
    REFUND = "refund"  # money returned to a donor
    REFUND_REVERSAL = "refund_reversal"  # a refund the provider reports as failed or canceled
    DISPUTE_WITHDRAWAL = "dispute_withdrawal"  # a card dispute opened: the provider took the money
    DISPUTE_REINSTATEMENT = "dispute_reinstatement"  # a dispute won: the money came back
    RESERVATION = "reservation"  # an approved disbursement's money set aside, or released again
    PAYOUT = "payout"  # money to a hospital
    SURPLUS = "surplus"  # money left at close-out moved to the relief pool
    BUDGET = "budget"  # relief-project budget in, commitments and releases
    ADJUSTMENT = "adjustment"  # a correction, always its own transaction


class LedgerTransaction(db.Model):
    """One balanced movement of money, recorded at most once per idempotency key."""

    __tablename__ = "ledger_transactions"
    __table_args__ = (CheckConstraint(f"kind IN ({_values(TransactionKind)})", name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    memo: Mapped[str] = mapped_column(Text, default="")
    # The donation this movement belongs to, when it belongs to one; other references (refund, dispute,
    # payment event, payout ids) are kept in `refs`.
    donation_id: Mapped[int | None] = mapped_column(ForeignKey("donations.id"), index=True)
    refs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    entries: Mapped[list[LedgerEntry]] = relationship(
        back_populates="transaction", order_by="LedgerEntry.id", lazy="selectin"
    )


class LedgerEntry(db.Model):
    """One side of a transaction: a signed amount added to one account."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("amount_fen != 0", name="nonzero"),
        Index("ix_ledger_entries_account_transaction", "account_id", "transaction_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    amount_fen: Mapped[int] = mapped_column(BigInteger)

    transaction: Mapped[LedgerTransaction] = relationship(back_populates="entries")
    account: Mapped[LedgerAccount] = relationship(lazy="joined")

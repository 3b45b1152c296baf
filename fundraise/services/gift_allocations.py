"""What each gift paid for: payouts (and the relief pool at close-out) take the campaign's gifts first in, first
out, fen-exact, recorded when the money moves.

A gift's parts always sum to the gift: paid to the hospital (per disbursement), moved to the relief pool,
refunded, withdrawn by a card dispute, kept by the payment provider as its fee, and what is still held.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import func, select

from fundraise.extensions import db
from fundraise.models import (
    AccountKind,
    Disbursement,
    Donation,
    DonationStatus,
    GiftAllocation,
    GiftUse,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    TransactionKind,
)


def _fees(donation_ids: list[int]) -> dict[int, int]:
    """The provider's fee on each of these gifts (the ledger's fee postings)."""
    if not donation_ids:
        return {}
    rows = db.session.execute(
        select(LedgerTransaction.donation_id, func.sum(LedgerEntry.amount_fen))
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerEntry.account_id == LedgerAccount.id)
        .where(
            LedgerTransaction.donation_id.in_(donation_ids),
            LedgerTransaction.kind == TransactionKind.FEE,
            LedgerAccount.kind == AccountKind.PROCESSOR_FEES,
        )
        .group_by(LedgerTransaction.donation_id)
    ).all()
    return {int(donation_id or 0): int(total or 0) for donation_id, total in rows}


def _allocated(donation_ids: list[int]) -> dict[int, int]:
    if not donation_ids:
        return {}
    rows = db.session.execute(
        select(GiftAllocation.donation_id, func.sum(GiftAllocation.amount_fen))
        .where(GiftAllocation.donation_id.in_(donation_ids))
        .group_by(GiftAllocation.donation_id)
    ).all()
    return {int(donation_id): int(total or 0) for donation_id, total in rows}


def unspent(campaign_id: int) -> list[tuple[Donation, int]]:
    """The campaign's succeeded gifts, oldest first, each with what is still unspent of it (more than 0)."""
    donations = list(
        db.session.scalars(
            select(Donation)
            .where(Donation.campaign_id == campaign_id, Donation.status == DonationStatus.SUCCEEDED)
            .order_by(Donation.confirmed_at, Donation.id)
        )
    )
    ids = [d.id for d in donations]
    fees, allocated = _fees(ids), _allocated(ids)
    result = []
    for donation in donations:
        left = donation.net_fen - fees.get(donation.id, 0) - allocated.get(donation.id, 0)
        if left > 0:
            result.append((donation, left))
    return result


def allocate(campaign_id: int, amount_fen: int, *, disbursement_id: int) -> list[GiftAllocation]:
    """Allocate a payout of `amount_fen` to the campaign's gifts, first in first out, in the caller's unit of
    work (which holds the campaign fund's lock). A gift refunded or withdrawn is skipped for what it no longer
    holds; should the gifts hold less than the payout (money the platform fronted), the rest is left
    unallocated rather than invented."""
    rows = []
    needed = amount_fen
    for donation, left in unspent(campaign_id):
        if needed <= 0:
            break
        take = min(left, needed)
        rows.append(
            GiftAllocation(
                donation_id=donation.id, disbursement_id=disbursement_id, kind=GiftUse.PAYOUT, amount_fen=take
            )
        )
        needed -= take
    db.session.add_all(rows)
    return rows


def allocate_to_pool(donation: Donation, amount_fen: int) -> GiftAllocation:
    """A gift's unspent part moved to the relief pool at close-out."""
    row = GiftAllocation(
        donation_id=donation.id, disbursement_id=None, kind=GiftUse.RELIEF_POOL, amount_fen=amount_fen
    )
    db.session.add(row)
    return row


@dataclass
class GiftBreakdown:
    """One gift's parts; `held` is what is left, so the parts always sum to the gift."""

    amount_fen: int
    payouts: list[tuple[Disbursement, int]] = field(default_factory=list)
    relief_pool_fen: int = 0
    refunded_fen: int = 0
    disputed_fen: int = 0
    fee_fen: int = 0

    @property
    def held_fen(self) -> int:
        used = sum(amount for _d, amount in self.payouts) + self.relief_pool_fen
        return max(self.amount_fen - used - self.refunded_fen - self.disputed_fen - self.fee_fen, 0)


def breakdowns(donations: Iterable[Donation]) -> dict[int, GiftBreakdown]:
    """The breakdown of each succeeded gift, in three queries whatever their number."""
    gifts = [d for d in donations if d.status == DonationStatus.SUCCEEDED]
    ids = [d.id for d in gifts]
    fees = _fees(ids)
    result = {
        d.id: GiftBreakdown(
            amount_fen=d.amount_fen,
            refunded_fen=d.refunded_fen,
            disputed_fen=d.disputed_fen,
            fee_fen=fees.get(d.id, 0),
        )
        for d in gifts
    }
    if not ids:
        return result
    uses: dict[int, list[GiftAllocation]] = defaultdict(list)
    for row in db.session.scalars(
        select(GiftAllocation).where(GiftAllocation.donation_id.in_(ids)).order_by(GiftAllocation.id)
    ):
        uses[row.donation_id].append(row)
    paid_ids = {row.disbursement_id for rows in uses.values() for row in rows if row.disbursement_id}
    paid = (
        {d.id: d for d in db.session.scalars(select(Disbursement).where(Disbursement.id.in_(paid_ids)))}
        if paid_ids
        else {}
    )
    for donation_id, rows in uses.items():
        for row in rows:
            if row.kind == GiftUse.RELIEF_POOL:
                result[donation_id].relief_pool_fen += row.amount_fen
            elif row.disbursement_id in paid:
                result[donation_id].payouts.append((paid[row.disbursement_id], row.amount_fen))
    return result

"""Proving the payout side of the ledger (`flask ledger check`): every disbursement's status against its
reservation and payout postings, the gift allocations against the payouts, the relief pool against what
donors moved into it."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select

from fundraise.extensions import db
from fundraise.models import (
    AccountKind,
    Disbursement,
    DisbursementSource,
    DisbursementStatus,
    GiftAllocation,
    GiftUse,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    TransactionKind,
)

S = DisbursementStatus


def check_disbursements() -> tuple[int, list[str]]:
    """Returns (disbursements checked, violations).

    - An approved disbursement has exactly its amount reserved; any other has nothing reserved.
    - A paid one has one payout posting of its amount, to its hospital; no other has a payout.
    - A paid campaign-fund disbursement's gift allocations sum to its amount; no other disbursement has any.
    - The relief pool holds exactly what gifts were moved into it.
    """
    violations: list[str] = []
    disbursements = {d.id: d for d in db.session.scalars(select(Disbursement))}
    reserved = dict(
        db.session.execute(
            select(LedgerAccount.owner_id, LedgerAccount.balance_fen).where(
                LedgerAccount.kind == AccountKind.PAYOUT_RESERVED
            )
        ).all()
    )
    payouts: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for refs, owner_id, amount in db.session.execute(
        select(LedgerTransaction.refs, LedgerAccount.owner_id, LedgerEntry.amount_fen)
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerEntry.account_id == LedgerAccount.id)
        .where(
            LedgerTransaction.kind == TransactionKind.PAYOUT,
            LedgerAccount.kind == AccountKind.HOSPITAL_PAYOUT,
        )
    ):
        payouts[int((refs or {}).get("disbursement_id") or 0)].append((int(owner_id), int(amount)))
    allocated = dict(
        db.session.execute(
            select(GiftAllocation.disbursement_id, func.sum(GiftAllocation.amount_fen))
            .where(GiftAllocation.kind == GiftUse.PAYOUT)
            .group_by(GiftAllocation.disbursement_id)
        ).all()
    )
    for disbursement_id, d in disbursements.items():
        label = f"disbursement {disbursement_id}"
        held = int(reserved.get(disbursement_id, 0) or 0)
        expected = d.amount_fen if d.status == S.APPROVED else 0
        if held != expected:
            violations.append(f"{label} ({d.status}) has {held} fen reserved, expected {expected}")
        paid = payouts.pop(disbursement_id, [])
        if d.status == S.PAID:
            if paid != [(d.hospital_id, d.amount_fen)]:
                violations.append(f"{label} is paid but its payout postings are {paid}")
        elif paid:
            violations.append(f"{label} ({d.status}) has payout postings {paid}")
        gifts = int(allocated.pop(disbursement_id, 0) or 0)
        if d.status == S.PAID and d.source == DisbursementSource.CAMPAIGN_FUND and gifts != d.amount_fen:
            violations.append(f"{label} paid {d.amount_fen} fen but its gift allocations sum to {gifts}")
        elif gifts and (d.status != S.PAID or d.source != DisbursementSource.CAMPAIGN_FUND):
            violations.append(f"{label} ({d.status}, {d.source}) has {gifts} fen of gift allocations")
    for orphan, paid in payouts.items():
        violations.append(f"payout postings {paid} name no disbursement ({orphan})")
    for orphan_id, orphan_gifts in allocated.items():
        violations.append(f"gift allocations of {orphan_gifts} fen name no disbursement ({orphan_id})")

    pool = db.session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount_fen), 0))
        .join(LedgerAccount, LedgerEntry.account_id == LedgerAccount.id)
        .where(LedgerAccount.kind == AccountKind.RELIEF_POOL)
    )
    moved = db.session.scalar(
        select(func.coalesce(func.sum(GiftAllocation.amount_fen), 0)).where(
            GiftAllocation.kind == GiftUse.RELIEF_POOL
        )
    )
    if int(pool or 0) != int(moved or 0):
        violations.append(f"the relief pool holds {pool} fen but gifts moved into it sum to {moved}")
    return len(disbursements), violations

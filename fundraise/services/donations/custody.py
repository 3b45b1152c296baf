"""Money leaving a campaign's custody and coming back: the ledger moves behind fees, refunds and disputes.

What the provider has taken is always recorded: the campaign fund gives what it holds and the platform
reserve covers the rest (see the package docstring). Reconciliation posts a missed fee through here too.
"""

from __future__ import annotations

from typing import Any

from fundraise import ledger
from fundraise.models import AccountKind, Donation, TransactionKind
from fundraise.models.ledger import LedgerAccount, LedgerTransaction


def withdraw(
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
    fund, to, reserve = ledger.accounts(
        (AccountKind.CAMPAIGN_FUND, donation.campaign_id), (to_kind, 0), (AccountKind.PLATFORM_RESERVE, 0)
    )
    # The fund's balance, its row locked until commit so the split stays true (a key already posted is
    # found by post_transfer, which then writes nothing).
    from_fund = min(amount_fen, max(ledger.lock_accounts([fund])[fund.id], 0))
    entries: list[tuple[LedgerAccount, int]] = [(to, amount_fen)]
    if from_fund:
        entries.append((fund, -from_fund))
    if amount_fen > from_fund:
        entries.append((reserve, -(amount_fen - from_fund)))
        refs = {**refs, "shortfall_fen": amount_fen - from_fund}
    return ledger.post_transfer(key, kind, entries, memo, refs, donation_id=donation.id)


def reverse(
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

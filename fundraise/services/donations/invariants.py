"""Proving the donation side of the ledger: every donation's state and amounts against its ledger postings,
and each campaign's fund against its donations (`flask ledger check`)."""

from __future__ import annotations

from sqlalchemy import func, select

from fundraise import ledger
from fundraise.extensions import db
from fundraise.models import (
    AccountKind,
    Donation,
    DonationStatus,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    TransactionKind,
)
from fundraise.services.donations.totals import raised_fen


def check_donations() -> tuple[int, list[str]]:
    """Donations against the ledger; returns (donations checked, violations).

    Every succeeded donation has exactly one capture, of its amount, into its campaign's fund; no other
    donation has one; its refunded_fen equals its refunds posted less reversals, its disputed_fen its dispute
    withdrawals less reinstatements; and per campaign, captures into the fund equal the succeeded donations,
    and what donors gave and kept (raised) equals captures − refunds − disputes in the ledger.
    """
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
            donation.campaign_id,
            {"donations": 0, "captured": 0, "kept": 0, "fees": 0, "covered": 0, "surplus": 0},
        )
        campaign["captured"] += captured
        campaign["kept"] += captured - refunded - disputed
        campaign["fees"] += total(donation.id, TransactionKind.FEE, AccountKind.PROCESSOR_FEES)
        campaign["covered"] -= reserve_by_donation.get(donation.id, 0)
        # What was left of the gift at close-out and moved to the relief pool, as its donor chose.
        campaign["surplus"] += total(donation.id, TransactionKind.SURPLUS, AccountKind.CAMPAIGN_FUND)
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
        expected = sums["kept"] - sums["fees"] + sums["covered"] + sums["surplus"] + other
        actual = ledger.balance(fund) if fund is not None else 0
        if actual != expected:
            violations.append(
                f"campaign {campaign_id}: fund balance {actual} fen, expected kept {sums['kept']} − fees {sums['fees']}"
                f" + reserve-covered {sums['covered']} + moved to the relief pool {sums['surplus']}"
                f" + other movements {other} = {expected}"
            )
    return checked, violations

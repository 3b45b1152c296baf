"""Balances stored on guarded account rows: kept equal to the sum of the entries by post_transfer, checked
from the stored value (never a SUM of history), recomputed and compared by `flask ledger check`; the accounts
every gift touches are never locked nor updated by a posting.

The races run on whichever database the suite has (PostgreSQL in CI: TEST_DATABASE_URL); the lock tests need
PostgreSQL's row locks and say so.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from fundraise import ledger
from fundraise.extensions import db
from fundraise.ledger import AppendOnlyViolation, InsufficientFunds, post_transfer
from fundraise.models import (
    AccountKind,
    AuditEvent,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    TransactionKind,
)
from tests.races import THREADS, race
from tests.statements import counting


def _seed(fund: LedgerAccount, amount: int, key: str) -> None:
    post_transfer(
        key,
        TransactionKind.ADJUSTMENT,
        [(ledger.account(AccountKind.DONOR_CLEARING), -amount), (fund, amount)],
    )


def _entry_sum(account_id: int) -> int:
    return int(
        db.session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.amount_fen), 0)).where(
                LedgerEntry.account_id == account_id
            )
        )
        or 0
    )


def _stored(account_id: int) -> tuple[int, int]:
    row = db.session.execute(
        select(LedgerAccount.balance_fen, LedgerAccount.version).where(LedgerAccount.id == account_id)
    ).one()
    return int(row[0]), int(row[1])


def _count(model: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def test_stored_balances_equal_the_entries_after_many_postings(app: Flask) -> None:
    fund = ledger.campaign_fund(1)
    budget = ledger.account(AccountKind.PROJECT_BUDGET, 1)
    commitment = ledger.account(AccountKind.PROJECT_COMMITMENT, 1)
    hospital = ledger.account(AccountKind.HOSPITAL_PAYOUT, 1)
    fees = ledger.account(AccountKind.PROCESSOR_FEES)
    for n in range(40):
        _seed(fund, 1_000 + n, f"gift:{n}")
        post_transfer(f"fee:{n}", TransactionKind.FEE, [(fund, -6), (fees, 6)])
        if n % 3 == 0:
            post_transfer(f"budget:{n}", TransactionKind.BUDGET, [(fund, -500), (budget, 500)])
            post_transfer(f"commit:{n}", TransactionKind.BUDGET, [(budget, -300), (commitment, 300)])
        if n % 5 == 0:
            post_transfer(f"pay:{n}", TransactionKind.PAYOUT, [(commitment, -200), (hospital, 200)])
        if n % 10 == 9:
            db.session.commit()
    db.session.commit()

    for account in (fund, budget, commitment):
        stored, version = _stored(account.id)
        assert stored == _entry_sum(account.id) == ledger.balance(account) == ledger.balance(account.id)
        assert version == _count(select(LedgerEntry).where(LedgerEntry.account_id == account.id).subquery())
    # The accounts every gift touches keep nothing on their row; their balance is their entries.
    for account in (fees, hospital, ledger.account(AccountKind.DONOR_CLEARING)):
        assert _stored(account.id) == (0, 0)
        assert ledger.balance(account) == _entry_sum(account.id) != 0
    ids = [fund.id, budget.id, fees.id, 10**9]
    assert ledger.balances(ids) == {
        fund.id: _entry_sum(fund.id),
        budget.id: _entry_sum(budget.id),
        fees.id: _entry_sum(fees.id),
        10**9: 0,
    }
    assert ledger.verify()[1] == []


def test_a_posting_is_seen_at_once_in_its_transaction_and_gone_with_it(app: Flask) -> None:
    fund = ledger.campaign_fund(2)
    hospital = ledger.account(AccountKind.HOSPITAL_PAYOUT, 2)
    _seed(fund, 1_000, "seed")
    db.session.commit()
    assert fund.balance_fen == 1_000

    post_transfer("pay", TransactionKind.PAYOUT, [(fund, -400), (hospital, 400)])
    assert ledger.balance(fund) == 600
    assert fund.balance_fen == 600  # the ORM object does not keep a stale value
    db.session.rollback()
    assert ledger.balance(fund) == 1_000

    savepoint = db.session.begin_nested()  # a nested unit of work that fails
    post_transfer("pay", TransactionKind.PAYOUT, [(fund, -400), (hospital, 400)])
    assert ledger.balance(fund) == 600
    savepoint.rollback()
    assert ledger.balance(fund) == 1_000
    assert ledger.verify()[1] == []


def test_ledger_check_names_an_account_whose_stored_balance_was_tampered_with(
    app: Flask, runner: Any
) -> None:
    fund = ledger.campaign_fund(12)
    _seed(fund, 400, "seed")
    db.session.commit()
    fund_id, clearing_id = fund.id, ledger.account(AccountKind.DONOR_CLEARING).id
    assert ledger.verify()[1] == []
    db.session.rollback()  # end this session's transaction (on SQLite it holds the write lock)

    # Below the application, where the guard cannot see it.
    with db.engine.begin() as connection:
        connection.execute(
            text("UPDATE ledger_accounts SET balance_fen = 500 WHERE id = :id"), {"id": fund_id}
        )
        connection.execute(
            text("UPDATE ledger_accounts SET balance_fen = 7 WHERE id = :id"), {"id": clearing_id}
        )

    _checked, violations = ledger.verify()
    assert "account campaign_fund:12 stores 500 fen but its entries sum to 400" in violations
    assert (
        "account donor_clearing stores 7 fen but keeps no balance on its row (its entries sum to -400)"
        in violations
    )
    db.session.rollback()
    result = runner.invoke(args=["ledger", "check"])
    assert result.exit_code == 1
    assert "VIOLATION account campaign_fund:12 stores 500 fen but its entries sum to 400" in result.output


def test_insufficient_funds_is_judged_from_the_stored_balance_and_writes_nothing(app: Flask) -> None:
    fund = ledger.campaign_fund(3)
    _seed(fund, 1_000, "seed")
    db.session.commit()
    hospital = ledger.account(AccountKind.HOSPITAL_PAYOUT, 3)
    db.session.commit()

    with pytest.raises(InsufficientFunds) as refused:
        post_transfer("too-much", TransactionKind.PAYOUT, [(fund, -1_001), (hospital, 1_001)])
    assert refused.value.balance_fen == 1_000
    db.session.rollback()

    # The stored balance is what decides: lowered below the application, it refuses what the entries allow.
    fund_id = fund.id
    db.session.rollback()
    with db.engine.begin() as connection:
        connection.execute(
            text("UPDATE ledger_accounts SET balance_fen = 100 WHERE id = :id"), {"id": fund_id}
        )
    before = (_count(LedgerTransaction), _count(LedgerEntry), _count(AuditEvent), _stored(fund_id))
    with pytest.raises(InsufficientFunds) as refused:
        post_transfer("half", TransactionKind.PAYOUT, [(fund, -500), (hospital, 500)])
    assert refused.value.balance_fen == 100
    assert (_count(LedgerTransaction), _count(LedgerEntry), _count(AuditEvent), _stored(fund_id)) == before
    db.session.rollback()
    assert (_count(LedgerTransaction), _count(LedgerEntry), _count(AuditEvent), _stored(fund_id)) == before


def test_a_posting_to_a_long_history_costs_what_it_costs_to_a_fresh_fund(app: Flask) -> None:
    old, fresh = ledger.campaign_fund(4), ledger.campaign_fund(5)
    hospital = ledger.account(AccountKind.HOSPITAL_PAYOUT, 4)
    for n in range(60):
        _seed(old, 100, f"old:{n}")
    _seed(fresh, 100, "fresh:0")
    db.session.commit()

    def pay(fund: LedgerAccount, key: str) -> list[str]:
        db.session.commit()  # each starts the same way: a new transaction, the accounts to load again
        with counting() as seen:
            post_transfer(key, TransactionKind.PAYOUT, [(fund, -50), (hospital, 50)])
        db.session.commit()
        return seen

    to_old, to_fresh = pay(old, "pay:old"), pay(fresh, "pay:fresh")
    assert len(to_old) == len(to_fresh), (to_old, to_fresh)
    # Nothing adds up the fund's history: its balance comes off its row.
    summing = [s for s in to_old if "ledger_entries" in s and "sum(" in s.lower()]
    assert summing == []
    assert ledger.balance(old) == 60 * 100 - 50
    assert ledger.balance(fresh) == 50


def test_the_stored_balance_changes_only_by_posting(app: Flask) -> None:
    fund = ledger.campaign_fund(6)
    _seed(fund, 1_000, "seed")
    db.session.commit()
    fund.balance_fen = 10**9
    with pytest.raises(AppendOnlyViolation, match="stored balance"):
        db.session.flush()
    db.session.rollback()
    fund.version = 99
    with pytest.raises(AppendOnlyViolation, match="stored balance"):
        db.session.flush()
    db.session.rollback()
    assert ledger.balance(fund) == 1_000


def test_threads_posting_in_and_out_of_one_fund_keep_its_stored_balance_true(app: Flask) -> None:
    fund = ledger.campaign_fund(7)
    hospital = ledger.account(AccountKind.HOSPITAL_PAYOUT, 7)
    _seed(fund, 300, "seed")
    db.session.commit()
    fund_id, hospital_id = fund.id, hospital.id
    rounds = 5

    def work(i: int) -> tuple[int, int]:
        """Each thread alternately gives 100 and pays out 150; returns (given, paid out)."""
        given = paid = 0
        for r in range(rounds):
            fund = db.session.get(LedgerAccount, fund_id)
            hospital = db.session.get(LedgerAccount, hospital_id)
            assert fund is not None
            assert hospital is not None
            if (i + r) % 2:
                try:
                    post_transfer(f"out:{i}:{r}", TransactionKind.PAYOUT, [(fund, -150), (hospital, 150)])
                    paid += 150
                except InsufficientFunds:
                    db.session.rollback()
                    continue
            else:
                _seed(fund, 100, f"in:{i}:{r}")
                given += 100
            db.session.commit()
        return given, paid

    results = race(app, work, THREADS)
    assert all(isinstance(r, tuple) for r in results), results
    given = sum(r[0] for r in results)
    paid = sum(r[1] for r in results)
    assert paid > 0
    stored, version = _stored(fund_id)
    assert stored == _entry_sum(fund_id) == 300 + given - paid >= 0
    assert version == _count(select(LedgerEntry).where(LedgerEntry.account_id == fund_id).subquery())
    assert ledger.balance(hospital_id) == paid
    # Replayed in order the fund never went below zero, and every stored balance is its entries' sum.
    assert ledger.verify()[1] == []


def _postgresql_only() -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks: PostgreSQL only (set TEST_DATABASE_URL); SQLite has one write lock")


def test_a_gift_locks_its_fund_and_no_account_every_gift_touches(app: Flask) -> None:
    _postgresql_only()
    fund = ledger.campaign_fund(8)
    fees = ledger.account(AccountKind.PROCESSOR_FEES)
    clearing = ledger.account(AccountKind.DONOR_CLEARING)
    reserve = ledger.account(AccountKind.PLATFORM_RESERVE)
    db.session.commit()
    sinks = [clearing.id, fees.id, reserve.id]

    # A gift and its fee, not yet committed.
    _seed(fund, 10_000, "gift")
    post_transfer("gift:fee", TransactionKind.FEE, [(fund, -60), (fees, 60)])
    db.session.flush()

    with db.engine.connect() as other:
        # FOR NO KEY UPDATE is the lock an UPDATE of a balance takes: it would wait for any such update.
        locked = other.execute(
            text("SELECT id FROM ledger_accounts WHERE id = ANY(:ids) FOR NO KEY UPDATE NOWAIT"),
            {"ids": sinks},
        ).all()
        assert sorted(row[0] for row in locked) == sorted(sinks)
        other.rollback()
        with pytest.raises(OperationalError, match="could not obtain lock"):
            other.execute(
                text("SELECT id FROM ledger_accounts WHERE id = :id FOR NO KEY UPDATE NOWAIT"),
                {"id": fund.id},
            )
        other.rollback()
    db.session.commit()
    assert ledger.balance(fund) == 10_000 - 60


@pytest.mark.services
def test_stored_balance_races_run_on_postgresql(app: Flask) -> None:
    assert os.environ.get("TEST_DATABASE_URL")
    assert db.engine.dialect.name == "postgresql"
    test_threads_posting_in_and_out_of_one_fund_keep_its_stored_balance_true(app)

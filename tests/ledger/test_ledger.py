"""post_transfer: balanced, integer, idempotent, never below zero on guarded accounts, append-only, audited;
`flask ledger check` finds what is wrong and names it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, text

from fundraise import ledger
from fundraise.extensions import db
from fundraise.ledger import AppendOnlyViolation, InsufficientFunds, LedgerError, post_transfer
from fundraise.models import AccountKind, AuditEvent, LedgerEntry, LedgerTransaction, TransactionKind


def _fund_with(campaign_id: int, amount: int) -> Any:
    fund = ledger.campaign_fund(campaign_id)
    post_transfer(
        f"seed:{campaign_id}:{amount}",
        TransactionKind.ADJUSTMENT,
        [(ledger.account(AccountKind.DONOR_CLEARING), -amount), (fund, amount)],
        memo="test money in",
    )
    db.session.commit()
    return fund


def _count(model: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def test_a_transfer_moves_money_and_writes_one_audit_event(app: Flask) -> None:
    fund = _fund_with(1, 1000)
    hospital = ledger.account(AccountKind.HOSPITAL_PAYOUT, 7)
    transaction = post_transfer(
        "pay:1", TransactionKind.PAYOUT, [(fund, -400), (hospital, 400)], memo="bill 1"
    )
    db.session.commit()
    assert ledger.balance(fund) == 600
    assert ledger.balance(hospital) == 400
    assert sum(e.amount_fen for e in transaction.entries) == 0
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "ledger.post")).all()
    assert len(events) == 2
    assert events[-1].object_id == str(transaction.id)
    assert events[-1].after["entries"] == [
        {"account": "campaign_fund:1", "amount_fen": -400},
        {"account": "hospital_payout:7", "amount_fen": 400},
    ]


def test_the_same_key_returns_the_first_transaction_and_writes_nothing(app: Flask) -> None:
    fund = _fund_with(1, 1000)
    hospital = ledger.account(AccountKind.HOSPITAL_PAYOUT, 7)
    first = post_transfer("pay:1", TransactionKind.PAYOUT, [(fund, -400), (hospital, 400)])
    db.session.commit()
    before = (_count(LedgerTransaction), _count(LedgerEntry), _count(AuditEvent))
    again = post_transfer("pay:1", TransactionKind.PAYOUT, [(fund, -400), (hospital, 400)])
    db.session.commit()
    assert again.id == first.id
    assert (_count(LedgerTransaction), _count(LedgerEntry), _count(AuditEvent)) == before
    assert ledger.balance(fund) == 600


def test_a_key_reused_for_another_kind_is_refused(app: Flask) -> None:
    fund = _fund_with(1, 1000)
    hospital = ledger.account(AccountKind.HOSPITAL_PAYOUT, 7)
    post_transfer("k", TransactionKind.PAYOUT, [(fund, -1), (hospital, 1)])
    with pytest.raises(LedgerError, match="was used for a payout"):
        post_transfer("k", TransactionKind.REFUND, [(fund, -1), (hospital, 1)])


@pytest.mark.parametrize(
    ("amounts", "message"),
    [
        ((-100, 99), "sum to zero"),
        ((-100,), "at least two"),
        ((-100.0, 100.0), "integers of fen"),
        ((Decimal("-1"), Decimal("1")), "integers of fen"),
        ((True, -1), "integers of fen"),
        ((0, 0), "non-zero"),
        ((-(10**14), 10**14), "non-zero and at most"),
    ],
)
def test_bad_transfers_are_refused_and_nothing_is_written(
    app: Flask, amounts: tuple[Any, ...], message: str
) -> None:
    fund = _fund_with(1, 1000)
    accounts = [fund, ledger.account(AccountKind.HOSPITAL_PAYOUT, 7)]
    before = _count(LedgerTransaction)
    with pytest.raises(LedgerError, match=message):
        post_transfer("bad", TransactionKind.PAYOUT, list(zip(accounts, amounts, strict=False)))
    assert _count(LedgerTransaction) == before


def test_the_same_account_twice_is_refused(app: Flask) -> None:
    fund = _fund_with(1, 1000)
    with pytest.raises(LedgerError, match="appears twice"):
        post_transfer("twice", TransactionKind.ADJUSTMENT, [(fund, -5), (fund, 5)])


@pytest.mark.parametrize(
    "kind", [AccountKind.CAMPAIGN_FUND, AccountKind.PROJECT_BUDGET, AccountKind.PROJECT_COMMITMENT]
)
def test_guarded_accounts_never_go_below_zero(app: Flask, kind: AccountKind) -> None:
    guarded = ledger.account(kind, 3)
    clearing = ledger.account(AccountKind.DONOR_CLEARING)
    post_transfer("in", TransactionKind.ADJUSTMENT, [(clearing, -500), (guarded, 500)])
    db.session.commit()
    with pytest.raises(InsufficientFunds) as refused:
        post_transfer("out", TransactionKind.ADJUSTMENT, [(guarded, -501), (clearing, 501)])
    assert refused.value.balance_fen == 500
    db.session.rollback()
    post_transfer("out", TransactionKind.ADJUSTMENT, [(guarded, -500), (clearing, 500)])
    db.session.commit()
    assert ledger.balance(guarded) == 0


def test_unguarded_accounts_may_go_negative(app: Flask) -> None:
    clearing = ledger.account(AccountKind.DONOR_CLEARING)
    reserve = ledger.account(AccountKind.PLATFORM_RESERVE)
    post_transfer("x", TransactionKind.ADJUSTMENT, [(clearing, -5), (reserve, 5)])
    post_transfer("y", TransactionKind.ADJUSTMENT, [(reserve, -50), (clearing, 50)])
    assert ledger.balance(reserve) == -45


def test_accounts_are_unique_per_kind_and_owner(app: Flask) -> None:
    assert ledger.campaign_fund(4).id == ledger.campaign_fund(4).id
    assert ledger.campaign_fund(4).id != ledger.campaign_fund(5).id
    assert ledger.account(AccountKind.REFUNDS).id == ledger.account("refunds").id
    with pytest.raises(LedgerError):
        ledger.account(AccountKind.CAMPAIGN_FUND)  # a fund needs its campaign
    with pytest.raises(LedgerError):
        ledger.account(AccountKind.REFUNDS, 3)


def test_ledger_rows_cannot_be_changed_or_deleted(app: Flask) -> None:
    fund = _fund_with(1, 1000)
    transaction = db.session.scalar(select(LedgerTransaction))
    assert transaction is not None
    transaction.memo = "rewritten"
    with pytest.raises(AppendOnlyViolation):
        db.session.flush()
    db.session.rollback()
    entry = db.session.scalar(select(LedgerEntry).where(LedgerEntry.account_id == fund.id))
    db.session.delete(entry)
    with pytest.raises(AppendOnlyViolation):
        db.session.flush()
    db.session.rollback()
    assert ledger.balance(fund) == 1000


def test_statement_shows_the_running_balance(app: Flask) -> None:
    fund = _fund_with(1, 1000)
    post_transfer(
        "pay", TransactionKind.PAYOUT, [(fund, -300), (ledger.account(AccountKind.HOSPITAL_PAYOUT, 2), 300)]
    )
    db.session.commit()
    lines = ledger.statement(fund)
    assert [(line.amount_fen, line.balance_fen) for line in lines] == [(1000, 1000), (-300, 700)]


def test_ledger_check_passes_on_good_data_and_names_each_violation(app: Flask, runner: Any) -> None:
    fund = _fund_with(1, 1000)
    result = runner.invoke(args=["ledger", "check"])
    assert result.exit_code == 0, result.output
    assert "ledger consistent: 1 transactions" in result.output

    # Tamper below the application (the guard refuses it in code): an unbalanced entry and an overdraft.
    transaction = db.session.scalar(select(LedgerTransaction))
    assert transaction is not None
    transaction_id, fund_id = transaction.id, fund.id
    db.session.rollback()  # end this session's transaction (on SQLite it holds the write lock)
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO ledger_entries (transaction_id, account_id, amount_fen) VALUES (:t, :a, -5000)"
            ),
            {"t": transaction_id, "a": fund_id},
        )
    result = runner.invoke(args=["ledger", "check"])
    assert result.exit_code == 1
    assert f"transaction {transaction_id} (seed:1:1000): 3 entries summing to -5000" in result.output
    assert f"account campaign_fund:1 went to -4000 fen at transaction {transaction_id}" in result.output

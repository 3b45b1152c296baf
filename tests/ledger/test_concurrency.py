"""Races that really happen: threads, each with its own app context and database connection, start together.

On PostgreSQL (TEST_DATABASE_URL, as in CI) the fund rows are locked with SELECT ... FOR UPDATE; on SQLite
BEGIN IMMEDIATE serialises the writers. The invariants are the same on both, so these run on whichever
database the suite has; `test_races_run_on_postgresql` proves the PostgreSQL run happened.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from fundraise import ledger
from fundraise.extensions import db
from fundraise.ledger import InsufficientFunds, post_transfer
from fundraise.models import AccountKind, LedgerEntry, LedgerTransaction, TransactionKind
from tests.races import THREADS, race


def _race(app: Flask, work: Callable[[int], Any]) -> list[Any]:
    return race(app, work, THREADS)


def _funded(campaign_id: int, amount: int) -> tuple[int, int]:
    fund = ledger.campaign_fund(campaign_id)
    hospital = ledger.account(AccountKind.HOSPITAL_PAYOUT, 1)
    post_transfer(
        f"seed:{campaign_id}",
        TransactionKind.ADJUSTMENT,
        [(ledger.account(AccountKind.DONOR_CLEARING), -amount), (fund, amount)],
    )
    db.session.commit()
    return fund.id, hospital.id


def test_eight_threads_spending_one_fund_never_overdraw_it(app: Flask) -> None:
    affordable = 5
    fund_id, hospital_id = _funded(campaign_id=1, amount=affordable * 100)

    def spend(i: int) -> int:
        fund = db.session.get(ledger.LedgerAccount, fund_id)
        hospital = db.session.get(ledger.LedgerAccount, hospital_id)
        transaction = post_transfer(f"spend:{i}", TransactionKind.PAYOUT, [(fund, -100), (hospital, 100)])
        db.session.commit()
        return transaction.id

    results = _race(app, spend)
    succeeded = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, InsufficientFunds)]
    assert len(succeeded) == affordable, results
    assert len(refused) == THREADS - affordable, results
    assert ledger.balance(fund_id) == 0
    assert ledger.balance(hospital_id) == affordable * 100
    assert ledger.verify()[1] == []


def test_eight_threads_posting_one_key_write_one_transaction(app: Flask) -> None:
    fund_id, hospital_id = _funded(campaign_id=2, amount=1000)

    def post(_i: int) -> int:
        fund = db.session.get(ledger.LedgerAccount, fund_id)
        hospital = db.session.get(ledger.LedgerAccount, hospital_id)
        transaction = post_transfer(
            "payout:same-click", TransactionKind.PAYOUT, [(fund, -300), (hospital, 300)]
        )
        db.session.commit()
        return transaction.id

    results = _race(app, post)
    assert all(isinstance(r, int) for r in results), results
    assert len(set(results)) == 1
    count = db.session.scalar(
        select(func.count())
        .select_from(LedgerTransaction)
        .where(LedgerTransaction.idempotency_key == "payout:same-click")
    )
    assert count == 1
    assert (
        db.session.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.transaction_id == results[0])
        )
        == 2
    )
    assert ledger.balance(fund_id) == 700


def test_eight_threads_creating_one_account_get_the_same_one(app: Flask) -> None:
    results = _race(app, lambda _i: (ledger.campaign_fund(99).id, db.session.commit())[0])
    assert all(isinstance(r, int) for r in results), results
    assert len(set(results)) == 1


@pytest.mark.services
def test_races_run_on_postgresql(app: Flask) -> None:
    assert os.environ.get("TEST_DATABASE_URL")
    assert db.engine.dialect.name == "postgresql"
    test_eight_threads_spending_one_fund_never_overdraw_it(app)

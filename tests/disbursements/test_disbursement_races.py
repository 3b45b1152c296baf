"""Disbursements under concurrency (PostgreSQL in CI, SQLite otherwise): fifty approvals and payments raced
against a fund that affords only some of them pay exactly as many as it affords, the rest refused with the
reason; no account goes negative and every transaction balances. Two finance members recording one transfer
at once pay it once; two approvers approving one request at once reserve it once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from fundraise import ledger
from fundraise.errors import DomainError
from fundraise.extensions import db
from fundraise.models import AccountKind, Disbursement, LedgerTransaction, TransactionKind, User
from fundraise.services import disbursements
from fundraise.services.disbursement_invariants import check_disbursements
from fundraise.services.donations import check_donations
from tests.disbursements.world import World, world
from tests.factories import UserFactory
from tests.races import race

AMOUNT = 20_000  # 200 yuan each


@pytest.fixture
def app_settings() -> dict[str, Any]:
    """A connection for each of the fifty racing threads (PostgreSQL allows 100)."""
    return {"SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 50, "max_overflow": 5, "pool_pre_ping": True}}


def _requests(w: World, count: int) -> list[int]:
    ids = [w.request(AMOUNT).id for _ in range(count)]
    for d in db.session.scalars(select(Disbursement).where(Disbursement.id.in_(ids))):
        d.notice_ends_at = d.notice_ends_at - timedelta(days=2)
    db.session.commit()
    return ids


def _drain(w: World, leave_fen: int) -> None:
    """Money leaves the fund after the requests were made (refunds, say): it now affords only some."""
    fund = ledger.campaign_fund(w.campaign.id)
    take = ledger.balance(fund) - leave_fen
    reserve = ledger.account(AccountKind.PLATFORM_RESERVE)
    ledger.post_transfer(
        "test:drain", TransactionKind.ADJUSTMENT, [(fund, -take), (reserve, take)], "test drain"
    )
    db.session.commit()


def _approve_and_pay(disbursement_id: int, approver_id: int, finance_id: int) -> str:
    approver, finance = db.session.get(User, approver_id), db.session.get(User, finance_id)
    assert approver is not None
    assert finance is not None
    disbursements.approve(disbursement_id, approver)
    return disbursements.record_payment(disbursement_id, finance, f"HX-RACE-{disbursement_id:06d}").status


def test_fifty_approvals_and_payments_pay_exactly_what_the_fund_affords(app: Flask) -> None:
    w = world(app, gifts=(600_000, 600_000))
    ids = _requests(w, 50)
    affordable = 17
    _drain(w, leave_fen=affordable * AMOUNT + AMOUNT // 2)
    approver_id, finance_id = w.approver.id, w.finance.id

    results = race(app, lambda i: _approve_and_pay(ids[i], approver_id, finance_id), threads=50)

    paid = [r for r in results if r == "paid"]
    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(paid) == affordable, results
    assert len(refused) == 50 - affordable, [
        r for r in results if r != "paid" and not isinstance(r, DomainError)
    ]
    assert all("no longer holds" in r.message for r in refused), {r.message for r in refused}
    db.session.expire_all()
    assert ledger.balance(ledger.campaign_fund(w.campaign.id)) == AMOUNT // 2
    statuses = db.session.execute(
        select(Disbursement.status, func.count())
        .where(Disbursement.id.in_(ids))
        .group_by(Disbursement.status)
    ).all()
    assert dict(statuses) == {"paid": affordable, "requested": 50 - affordable}
    assert ledger.verify()[1] == []
    assert check_disbursements()[1] == []
    assert check_donations()[1] == []


def test_two_finance_members_recording_one_transfer_pay_it_once(app: Flask) -> None:
    w = world(app, gifts=(100_000,))
    (d_id,) = _requests(w, 1)
    disbursements.approve(d_id, w.approver)
    other = UserFactory(role="charity_staff", charity=w.custodian, finance=True)
    db.session.commit()
    finance_ids = [w.finance.id, other.id]

    def pay(i: int) -> object:
        finance = db.session.get(User, finance_ids[i])
        assert finance is not None
        return disbursements.record_payment(d_id, finance, "HX-ONCE-000001").transfer_reference

    results = race(app, pay, threads=2)

    assert results == ["HX-ONCE-000001", "HX-ONCE-000001"], results
    payouts = db.session.scalar(
        select(func.count()).where(
            LedgerTransaction.kind == TransactionKind.PAYOUT,
            LedgerTransaction.idempotency_key.like(f"disbursement:{d_id}:%"),
        )
    )
    assert payouts == 1
    assert check_disbursements()[1] == []


def test_two_approvers_at_once_reserve_once(app: Flask) -> None:
    w = world(app, gifts=(100_000,))
    (d_id,) = _requests(w, 1)
    approver_ids = [w.approver.id, w.second.id]

    def approve(i: int) -> object:
        approver = db.session.get(User, approver_ids[i])
        assert approver is not None
        return disbursements.approve(d_id, approver).status

    results = race(app, approve, threads=2)

    assert sorted(map(str, results)) == [
        "This disbursement is no longer waiting for approval.",
        "approved",
    ], results
    db.session.expire_all()
    assert ledger.balance(ledger.account(AccountKind.PAYOUT_RESERVED, d_id)) == AMOUNT
    assert check_disbursements()[1] == []

"""Property tests over random sequences of operations.

1. Raw transfers between random accounts: post_transfer refuses exactly the transfers a simple model says
   would overdraw a guarded account, and balances equal the model.
2. Donations through the sandbox provider's signed events (the webhook path): donate (some declined first),
   fees, partial refunds, disputes opened and closed (won or lost), payouts that leave a fund short, and
   duplicate deliveries of any earlier event. After each sequence: every transaction balances, no fund was
   ever negative (replayed), balances equal the model, donations agree with the ledger.

Each example works on a fresh campaign, so examples do not depend on one another; the app (and its
database) is shared across examples, which is why the function-scoped-fixture health check is off.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from fundraise import ledger
from fundraise.errors import DomainError
from fundraise.extensions import db
from fundraise.ledger import InsufficientFunds, post_transfer
from fundraise.models import AccountKind, Donation, TransactionKind, User
from fundraise.payments import get_provider
from fundraise.services import donations as service
from tests.factories import CampaignFactory, UserFactory

SHARED_APP = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FEE_BPS = 250


@pytest.fixture
def app_settings() -> dict[str, Any]:
    return {"SANDBOX_FEE_BPS": FEE_BPS}


_owners = iter(range(1_000_000, 10_000_000))

transfers = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(1, 500)).filter(lambda t: t[0] != t[1]),
    min_size=1,
    max_size=25,
)


@SHARED_APP
@given(transfers)
def test_random_transfers_match_the_model(app: Flask, steps: list[tuple[int, int, int]]) -> None:
    owner = next(_owners)
    accounts = [
        ledger.account(AccountKind.DONOR_CLEARING),
        ledger.account(AccountKind.CAMPAIGN_FUND, owner),
        ledger.account(AccountKind.PROJECT_BUDGET, owner),
        ledger.account(AccountKind.HOSPITAL_PAYOUT, owner),
    ]
    db.session.commit()  # a refused transfer rolls back; the accounts stay
    guarded = {1, 2}
    start = {i: ledger.balance(a) for i, a in enumerate(accounts)}
    model = dict(start)
    for n, (source, target, amount) in enumerate(steps):
        key = f"prop:{owner}:{n}"
        if source in guarded and model[source] - amount < 0:
            with pytest.raises(InsufficientFunds):
                post_transfer(
                    key, TransactionKind.ADJUSTMENT, [(accounts[source], -amount), (accounts[target], amount)]
                )
            db.session.rollback()
            continue
        post_transfer(
            key, TransactionKind.ADJUSTMENT, [(accounts[source], -amount), (accounts[target], amount)]
        )
        db.session.commit()
        model[source] -= amount
        model[target] += amount
    assert {i: ledger.balance(a) for i, a in enumerate(accounts)} == model
    assert all(model[i] >= 0 for i in guarded)


@dataclass
class Gift:
    donation_id: int
    payment_id: str
    amount: int
    fee: int
    refunded: int = 0
    dispute_id: str | None = None
    dispute_amount: int = 0
    dispute_state: str | None = None  # open | won | lost

    @property
    def withdrawn(self) -> int:
        return self.dispute_amount if self.dispute_state in ("open", "lost") else 0


@dataclass
class Model:
    fund: int = 0
    reserve: int = 0  # what the platform reserve covered (as a positive number)
    gifts: list[Gift] = field(default_factory=list)

    def withdraw(self, amount: int) -> None:
        from_fund = min(amount, self.fund)
        self.fund -= from_fund
        self.reserve += amount - from_fund


operations = st.lists(
    st.one_of(
        st.tuples(st.just("donate"), st.integers(100, 20_000), st.booleans()),
        st.tuples(st.just("refund"), st.integers(0, 50), st.integers(1, 100)),
        st.tuples(st.just("dispute"), st.integers(0, 50), st.booleans()),
        st.tuples(st.just("close"), st.integers(0, 50), st.booleans()),
        st.tuples(st.just("payout"), st.integers(1, 30_000), st.booleans()),
        st.tuples(st.just("redeliver"), st.integers(0, 100), st.booleans()),
    ),
    min_size=1,
    max_size=14,
)


@SHARED_APP
@given(operations)
def test_random_donation_histories_keep_the_ledger_true(
    app: Flask, steps: list[tuple[str, int, Any]]
) -> None:
    campaign = CampaignFactory(state="fundraising", target_fen=10**9)
    staff = UserFactory(charity_staff=True)
    db.session.commit()
    provider = get_provider()
    delivered: list[tuple[bytes, dict[str, str]]] = []

    def deliver(payload: dict[str, Any]) -> str:
        body, headers = provider.signed(payload)
        delivered.append((body, headers))
        return service.receive_webhook(provider, body, headers)

    provider.deliver = deliver  # type: ignore[method-assign]  (records each delivery so it can be repeated)
    reserve_before = ledger.balance(ledger.account(AccountKind.PLATFORM_RESERVE))
    model = Model()
    try:
        for step in steps:
            _apply(step, campaign, staff, provider, model, delivered)
    finally:
        del provider.deliver  # type: ignore[method-assign]

    fund = ledger.campaign_fund(campaign.id)
    assert ledger.balance(fund) == model.fund
    assert reserve_before - ledger.balance(ledger.account(AccountKind.PLATFORM_RESERVE)) == model.reserve
    db.session.expire_all()
    for gift in model.gifts:
        donation = db.session.get(Donation, gift.donation_id)
        assert donation is not None
        assert donation.status == "succeeded"
        assert donation.refunded_fen == gift.refunded
        assert donation.disputed_fen == gift.withdrawn
        assert donation.dispute_status == gift.dispute_state
    _checked, violations = ledger.verify()
    assert violations == []
    _checked, violations = service.check_donations()
    assert violations == []


def _apply(
    step: tuple[str, int, Any], campaign: Any, staff: User, provider: Any, model: Model, delivered: list[Any]
) -> None:
    op, n, flag = step
    gifts = model.gifts
    if op == "donate":
        donation, _url = service.start_donation(campaign, None, n)
        payment_id = donation.provider_payment_id
        if flag:
            provider.decline(payment_id)
            db.session.commit()
        provider.pay(payment_id)
        db.session.commit()
        fee = n * FEE_BPS // 10_000
        model.fund += n
        model.withdraw(fee)
        gifts.append(Gift(donation.id, payment_id, n, fee))
    elif op == "refund" and gifts:
        gift = gifts[n % len(gifts)]
        refundable = gift.amount - gift.refunded - gift.withdrawn
        if refundable <= 0:
            return
        amount = max(1, refundable * flag // 100)
        donation = db.session.get(Donation, gift.donation_id)
        if model.fund < amount:
            with pytest.raises(DomainError):
                service.refund_donation(donation, amount, staff, "property test")
            db.session.rollback()
            return
        service.refund_donation(donation, amount, staff, "property test")
        gift.refunded += amount
        model.withdraw(amount)
    elif op == "dispute" and gifts:
        gift = gifts[n % len(gifts)]
        amount = gift.amount - gift.refunded
        if gift.dispute_state is not None or amount <= 0:
            return
        dispute_id, _result = provider.open_dispute(gift.payment_id, amount)
        db.session.commit()
        gift.dispute_id, gift.dispute_amount, gift.dispute_state = dispute_id, amount, "open"
        model.withdraw(amount)
    elif op == "close" and gifts:
        gift = gifts[n % len(gifts)]
        if gift.dispute_state != "open":
            return
        provider.close_dispute(gift.payment_id, gift.dispute_id, gift.dispute_amount, won=flag)
        db.session.commit()
        gift.dispute_state = "won" if flag else "lost"
        if flag:
            # Reinstated to where it came from: the fund's share to the fund, the reserve's to the reserve.
            _reinstate(model, gift)
    elif op == "payout":
        fund = ledger.campaign_fund(campaign.id)
        hospital = ledger.account(AccountKind.HOSPITAL_PAYOUT, campaign.hospital_id)
        key = f"payout:{uuid.uuid4().hex}"
        if n > model.fund:
            with pytest.raises(InsufficientFunds):
                post_transfer(key, TransactionKind.PAYOUT, [(fund, -n), (hospital, n)])
            db.session.rollback()
            return
        post_transfer(key, TransactionKind.PAYOUT, [(fund, -n), (hospital, n)])
        db.session.commit()
        model.fund -= n
    elif op == "redeliver" and delivered:
        body, headers = delivered[n % len(delivered)]
        assert service.receive_webhook(provider, body, headers) == "duplicate"


def _reinstate(model: Model, gift: Gift) -> None:
    withdrawal = ledger.find_transaction(f"dispute:{gift.dispute_id}:withdrawn")
    assert withdrawal is not None
    for entry in withdrawal.entries:
        if entry.account.kind == AccountKind.CAMPAIGN_FUND:
            model.fund -= entry.amount_fen
        elif entry.account.kind == AccountKind.PLATFORM_RESERVE:
            model.reserve += entry.amount_fen


def test_every_ledger_transaction_of_the_histories_is_audited(app: Flask) -> None:
    campaign = CampaignFactory(state="fundraising", target_fen=10**9)
    db.session.commit()
    donation, _url = service.start_donation(campaign, None, 5000)
    get_provider().pay(donation.provider_payment_id)
    db.session.commit()
    keys = set(db.session.scalars(select(ledger.LedgerTransaction.idempotency_key)))
    assert keys == {f"donation:{donation.id}:captured", f"donation:{donation.id}:fee"}
    assert ledger.verify()[1] == []

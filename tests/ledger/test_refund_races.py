"""Refunds racing on one campaign fund (PostgreSQL in CI): the "fund can cover it" check and the refund request
it allows are one reservation, so simultaneous refunds never ask for more than the fund holds and never take
the platform reserve; simultaneous full refunds of one donation make one request."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select

from fundraise import ledger
from fundraise.errors import DomainError
from fundraise.extensions import db
from fundraise.models import AccountKind, Campaign, Donation, DonationRefund, User
from fundraise.payments import get_provider
from fundraise.services import donations as service
from tests.factories import CampaignFactory, UserFactory
from tests.races import race


def _paid(campaign: Campaign, amount_fen: int) -> int:
    donation, _url = service.start_donation(campaign, None, amount_fen, receipt_email="d@example.cn")
    get_provider().pay(donation.provider_payment_id)
    db.session.commit()
    return donation.id


def _refund(donation_id: int, amount_fen: int | None, staff_id: int) -> object:
    donation = db.session.get(Donation, donation_id)
    staff = db.session.get(User, staff_id)
    assert donation is not None
    assert staff is not None
    return service.refund_donation(donation, amount_fen or donation.amount_fen, staff, "race")


def test_two_refunds_at_once_never_exceed_what_the_fund_holds(app: Flask) -> None:
    campaign = CampaignFactory(state="fundraising", target_fen=1_000_000)
    staff = UserFactory(charity_staff=True)
    db.session.commit()
    # Two gifts of 100 yuan; the sandbox's 0.6% fees leave the fund 198.80 yuan.
    first, second = _paid(campaign, 10_000), _paid(campaign, 10_000)
    fund = ledger.campaign_fund(campaign.id)
    assert ledger.balance(fund) == 19_880
    staff_id, ids = staff.id, [first, second]

    results = race(app, lambda i: _refund(ids[i % 2], 10_000, staff_id), threads=2)

    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(refused) == 1, results
    assert "no longer holds enough" in refused[0].message
    db.session.expire_all()
    assert ledger.balance(ledger.campaign_fund(campaign.id)) == 9_880
    reserve = ledger.find_account(AccountKind.PLATFORM_RESERVE, 0)
    assert reserve is None or ledger.balance(reserve) == 0
    assert ledger.verify()[1] == []
    assert service.check_donations()[1] == []


def test_simultaneous_full_refunds_of_one_donation_make_one_request(app: Flask) -> None:
    campaign = CampaignFactory(state="fundraising", target_fen=1_000_000)
    staff = UserFactory(charity_staff=True)
    db.session.commit()
    _paid(campaign, 50_000)  # keeps the fund able to cover the refund below
    donation_id = _paid(campaign, 10_000)
    staff_id = staff.id

    results = race(app, lambda _i: _refund(donation_id, None, staff_id))

    assert sum(1 for r in results if isinstance(r, DonationRefund)) == 1, results
    assert all(isinstance(r, DonationRefund | DomainError) for r in results), results
    requests = db.session.scalar(
        select(func.count()).select_from(DonationRefund).where(DonationRefund.donation_id == donation_id)
    )
    assert requests == 1
    db.session.expire_all()
    assert db.session.get(Donation, donation_id).refunded_fen == 10_000
    assert ledger.verify()[1] == []
    assert service.check_donations()[1] == []

"""The sandbox end to end through the test client: start a donation, the checkout page, pay or decline, and
what follows (receipt, ledger, refunds, reconciliation, `flask ledger check`, `flask payments reconcile`)."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from fundraise import ledger
from fundraise.errors import DomainError, Forbidden, IllegalTransition, ValidationFailed
from fundraise.extensions import db
from fundraise.models import AccountKind, Donation, LedgerTransaction, PaymentEvent, SandboxPayment
from fundraise.payments import get_provider
from fundraise.services import donations as service
from fundraise.services.reconciliation import reconcile
from tests.factories import CampaignFactory, UserFactory


@pytest.fixture
def app_settings() -> dict[str, Any]:
    return {"SANDBOX_FEE_BPS": 60}


def path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def test_a_guest_donates_through_the_sandbox_checkout(client: FlaskClient) -> None:
    campaign = CampaignFactory(state="fundraising", target_fen=1_000_000)
    db.session.commit()
    donation, redirect_url = service.start_donation(
        campaign, None, 20_000, anonymous=True, message="早日康复", display_name="李四"
    )
    assert donation.status == "created"
    assert donation.provider == "sandbox"
    assert path(redirect_url) == f"/sandbox/checkout/{donation.provider_payment_id}"

    page = client.get(path(redirect_url))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "SANDBOX — no real money" in html
    assert "Pay (succeeds)" in html
    assert "Decline (fails)" in html

    paid = client.post(path(redirect_url), data={"action": "pay"})
    assert paid.status_code == 302
    db.session.expire_all()
    assert donation.status == "succeeded"
    assert donation.receipt_number
    assert donation.receipt_number.startswith("AB")
    fee = 20_000 * 60 // 10_000
    assert ledger.balance(ledger.campaign_fund(campaign.id)) == 20_000 - fee
    assert ledger.balance(ledger.account(AccountKind.PROCESSOR_FEES)) == fee
    assert service.raised_fen(campaign) == 20_000
    assert ledger.verify()[1] == []
    assert service.check_donations()[1] == []

    thanks = client.get(path(paid.headers["Location"]))
    assert thanks.status_code == 200
    html = thanks.get_data(as_text=True)
    assert donation.receipt_number in html
    assert "SANDBOX — no real money" in html

    # A second press (double click) sends nothing and posts nothing.
    client.post(path(redirect_url), data={"action": "pay"})
    assert db.session.scalar(select(func.count()).select_from(PaymentEvent)) == 1
    assert db.session.scalar(select(func.count()).select_from(LedgerTransaction)) == 2


def test_a_declined_payment_fails_and_the_donor_may_pay_again(client: FlaskClient) -> None:
    campaign = CampaignFactory(state="fundraising")
    db.session.commit()
    donation, url = service.start_donation(campaign, None, 500)
    client.post(path(url), data={"action": "decline"})
    db.session.expire_all()
    assert donation.status == "failed"
    assert ledger.find_transaction(f"donation:{donation.id}:captured") is None
    assert "You can try again" in client.get(path(url)).get_data(as_text=True)
    client.post(path(url), data={"action": "pay"})
    db.session.expire_all()
    assert donation.status == "succeeded"


def test_the_sandbox_webhook_endpoint_verifies_like_stripe(client: FlaskClient) -> None:
    campaign = CampaignFactory(state="fundraising")
    db.session.commit()
    donation, _url = service.start_donation(campaign, None, 700)
    provider = get_provider()
    payment = provider.payment(donation.provider_payment_id)
    payment.status = "succeeded"
    body, headers = provider.signed(provider.event("payment.succeeded", payment))
    assert client.post("/payments/webhooks/sandbox", data=body, headers=headers).json["result"] == "recorded"
    assert client.post("/payments/webhooks/sandbox", data=body, headers=headers).json["result"] == "duplicate"
    stale_body, stale = provider.signed(json.loads(body), timestamp=int(time.time()) - 3600)
    assert client.post("/payments/webhooks/sandbox", data=stale_body, headers=stale).status_code == 400
    assert client.post("/payments/webhooks/sandbox", data=body + b" ", headers=headers).status_code == 400


def test_unknown_checkout_and_donation_pages_are_404(client: FlaskClient) -> None:
    assert client.get("/sandbox/checkout/sbpi_nope").status_code == 404
    assert client.post("/sandbox/checkout/sbpi_nope", data={"action": "pay"}).status_code == 404
    campaign = CampaignFactory(state="fundraising")
    db.session.commit()
    donation, _url = service.start_donation(campaign, None, 700)
    assert client.get(f"/donate/{donation.id}/status").status_code == 404  # no token
    assert client.get(f"/donate/{donation.id}/status?t=guess").status_code == 404


@pytest.mark.parametrize(
    ("amount", "error"),
    [
        (99, ValidationFailed),
        (50_000 * 100 + 1, ValidationFailed),
        (10.5, ValidationFailed),
        ("100", ValidationFailed),
        (True, ValidationFailed),
    ],
)
def test_amount_limits(app: Flask, amount: Any, error: type[DomainError]) -> None:
    campaign = CampaignFactory(state="fundraising", target_fen=100_000_000)
    db.session.commit()
    with pytest.raises(error):
        service.start_donation(campaign, None, amount)
    assert db.session.scalar(select(func.count()).select_from(Donation)) == 0


def test_only_a_fundraising_campaign_takes_donations_up_to_its_remaining_need(app: Flask) -> None:
    verified = CampaignFactory(state="verified")
    campaign = CampaignFactory(state="fundraising", target_fen=10_000)
    db.session.commit()
    with pytest.raises(IllegalTransition):
        service.start_donation(verified, None, 1_000)
    with pytest.raises(ValidationFailed) as refused:
        service.start_donation(campaign, None, 10_001)
    assert "only 100 yuan more" in refused.value.fields["amount_fen"][0]
    donation, _url = service.start_donation(campaign, None, 10_000)
    get_provider().pay(donation.provider_payment_id)
    db.session.commit()
    with pytest.raises(IllegalTransition):
        service.start_donation(campaign, None, 100)


def test_a_confirmation_after_the_target_was_reached_is_recorded_as_surplus(app: Flask) -> None:
    campaign = CampaignFactory(state="fundraising", target_fen=10_000)
    db.session.commit()
    first, _ = service.start_donation(campaign, None, 8_000)
    second, _ = service.start_donation(campaign, None, 2_000)  # both fit when they start
    late, _ = service.start_donation(campaign, None, 2_000)
    provider = get_provider()
    for donation in (first, second, late):
        provider.pay(donation.provider_payment_id)
        db.session.commit()
    db.session.expire_all()
    assert late.status == "succeeded"
    assert service.raised_fen(campaign) == 12_000
    assert service.surplus_fen(campaign) == 2_000
    assert service.check_donations()[1] == []


def test_start_donation_with_a_client_key_is_idempotent(app: Flask) -> None:
    campaign = CampaignFactory(state="fundraising")
    donor = UserFactory(donor=True)
    db.session.commit()
    first, url1 = service.start_donation(campaign, donor, 1_000, idempotency_key="client-key-1")
    again, url2 = service.start_donation(campaign, donor, 1_000, idempotency_key="client-key-1")
    assert again.id == first.id
    assert url1 == url2
    assert first.display_name == donor.name
    assert first.donor_id == donor.id
    assert db.session.scalar(select(func.count()).select_from(SandboxPayment)) == 1
    with pytest.raises(ValidationFailed):
        service.start_donation(campaign, donor, 2_000, idempotency_key="client-key-1")


def test_staff_refund_in_part_and_in_full(app: Flask) -> None:
    campaign = CampaignFactory(state="fundraising", target_fen=1_000_000)
    staff = UserFactory(charity_staff=True)
    donor = UserFactory(donor=True)
    db.session.commit()
    donation, _ = service.start_donation(campaign, donor, 10_000)
    get_provider().pay(donation.provider_payment_id)
    db.session.commit()
    with pytest.raises(Forbidden):
        service.refund_donation(donation, 1_000, donor)
    first = service.refund_donation(donation, 3_000, staff, "the donor asked")
    assert first.status == "succeeded"
    assert first.provider_refund_id
    assert first.requested_by_id == staff.id
    fee = 10_000 * 60 // 10_000
    with pytest.raises(IllegalTransition):  # the fund holds 10,000 − fee − 3,000: not the full 7,000
        service.refund_donation(donation, 7_000, staff, "rest")
    service.refund_donation(donation, 7_000 - fee, staff, "rest")
    db.session.expire_all()
    assert donation.refunded_fen == 10_000 - fee
    assert ledger.balance(ledger.campaign_fund(campaign.id)) == 0
    with pytest.raises(ValidationFailed):
        service.refund_donation(donation, fee + 1, staff, "more than is left")
    assert ledger.verify()[1] == []
    assert service.check_donations()[1] == []
    assert reconcile(get_provider()).clean


def test_refund_all_for_confirmed_fraud(app: Flask) -> None:
    campaign = CampaignFactory(state="fundraising", target_fen=1_000_000)
    staff = UserFactory(charity_staff=True)
    db.session.commit()
    provider = get_provider()
    gifts = []
    for amount in (1_000, 2_500, 4_000):
        donation, _ = service.start_donation(campaign, None, amount)
        provider.pay(donation.provider_payment_id)
        db.session.commit()
        gifts.append(donation)
    service.refund_donation(gifts[0], 400, staff, "partial first")
    # Part of the fund was already paid to the hospital: the platform covers that part of the refunds.
    ledger.post_transfer(
        "payout:fraud-test",
        "payout",
        [
            (ledger.campaign_fund(campaign.id), -3_000),
            (ledger.account(AccountKind.HOSPITAL_PAYOUT, 1), 3_000),
        ],
    )
    db.session.commit()
    result = service.refund_all(campaign, staff, "identity documents were forged")
    assert result.failed == []
    assert sorted(r.amount_fen for r in result.requested) == [600, 2_500, 4_000]
    db.session.expire_all()
    assert campaign.state == "cancelled"
    assert all(d.refunded_fen == d.amount_fen for d in gifts)
    assert ledger.balance(ledger.campaign_fund(campaign.id)) == 0
    assert ledger.balance(ledger.account(AccountKind.PLATFORM_RESERVE)) < 0
    assert ledger.verify()[1] == []
    assert service.check_donations()[1] == []


def test_reconciliation_lists_every_difference(app: Flask, runner: Any) -> None:
    campaign = CampaignFactory(state="fundraising", target_fen=1_000_000)
    db.session.commit()
    provider = get_provider()
    donations = []
    for amount in (1_000, 2_000, 3_000, 4_000):
        donation, _ = service.start_donation(campaign, None, amount)
        donations.append(donation)
    for donation in donations[:3]:
        provider.pay(donation.provider_payment_id)
        db.session.commit()
    result = runner.invoke(args=["payments", "reconcile"])
    assert result.exit_code == 0, result.output
    assert "0 differences" in result.output

    # A lost webhook: the provider took the money, our donation never heard.
    lost = provider.payment(donations[3].provider_payment_id)
    lost.status = "succeeded"
    # A provider-side refund whose event never came.
    provider.payment(donations[0].provider_payment_id).refunded_fen = 500
    # A payment the provider has never heard of (its record lost) for a succeeded donation.
    db.session.delete(provider.payment(donations[1].provider_payment_id))
    # A payment at the provider for a different amount than the ledger captured.
    provider.payment(donations[2].provider_payment_id).amount_fen = 3_100
    db.session.commit()
    report = reconcile(provider)
    kinds = sorted((d.kind, d.donation_id) for d in report.differences)
    assert kinds == [
        ("amount_mismatch", donations[0].id),
        ("amount_mismatch", donations[2].id),
        ("missing_at_provider", donations[1].id),
        ("status_mismatch", donations[3].id),
    ]
    result = runner.invoke(args=["payments", "reconcile", "--since", "2020-01-01"])
    assert result.exit_code == 1
    assert "4 differences" in result.output
    assert "missing_at_provider" in result.output


def test_reconcile_job_writes_its_report_to_the_audit_log(app: Flask) -> None:
    from fundraise.jobs.outbox import JOBS
    from fundraise.models import AuditEvent

    assert "reconcile_payments" in JOBS
    JOBS["reconcile_payments"]()
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "payments.reconciled"))
    assert event is not None
    assert event.after["differences"] == []


def test_ledger_check_command_on_real_history(app: Flask, runner: Any) -> None:
    campaign = CampaignFactory(state="fundraising", target_fen=1_000_000)
    staff = UserFactory(charity_staff=True)
    db.session.commit()
    donation, _ = service.start_donation(campaign, None, 9_000)
    provider = get_provider()
    provider.pay(donation.provider_payment_id)
    db.session.commit()
    service.refund_donation(donation, 1_000, staff, "asked")
    dispute_id, _ = provider.open_dispute(donation.provider_payment_id, 2_000)
    db.session.commit()
    provider.close_dispute(donation.provider_payment_id, dispute_id, 2_000, won=False)
    db.session.commit()
    result = runner.invoke(args=["ledger", "check"])
    assert result.exit_code == 0, result.output
    assert "ledger consistent" in result.output

    # The donation row drifts from the ledger: the check names it.
    db.session.execute(db.update(Donation).where(Donation.id == donation.id).values(refunded_fen=0))
    db.session.commit()
    result = runner.invoke(args=["ledger", "check"])
    assert result.exit_code == 1
    assert f"donation {donation.id}: refunded_fen 0, ledger refunds 1000" in result.output

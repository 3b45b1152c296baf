"""Staff refunds through the pages: one donation in part or in full, and every donor after an upheld report."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from fundraise import ledger
from fundraise.extensions import db
from fundraise.models import (
    CampaignReport,
    DonationRefund,
    ReportStatus,
)
from fundraise.services import donations as service
from tests.factories import UserFactory, user_of_role

# --- staff refunds ---------------------------------------------------------------------------------------
from tests.web import donations
from tests.web.donations import (
    fundraising,
    give_and_pay,
    path,
    pay_directly,
    signed_in,
    text,
)

client = donations.client  # the fixture


@pytest.fixture
def staff(app: Flask) -> FlaskClient:
    return signed_in(app, UserFactory(charity_staff=True))


def test_staff_refund_a_donation_in_part_then_in_full(client: FlaskClient, staff: FlaskClient) -> None:
    campaign = fundraising()
    donation = give_and_pay(client, campaign)  # 50 yuan; the sandbox keeps a 0.30 yuan fee
    pay_directly(campaign, 10_000)  # another gift keeps the fund able to cover a full refund
    listing = staff.get(f"/staff/donations?campaign={campaign.id}")
    assert listing.status_code == 200
    assert "zhang.san@example.cn" in text(listing)

    partly = staff.post(
        f"/staff/donations/{donation.id}/refund", data={"amount": "20", "reason": "donor asked"}
    )
    assert partly.status_code == 302
    db.session.refresh(donation)
    assert donation.refunded_fen == 2_000
    page = text(staff.get(path(partly.headers["Location"])))
    assert "Refunded ¥20 of donation" in page
    assert "¥20 refunded" in page

    rest = staff.post(f"/staff/donations/{donation.id}/refund", data={"amount": "30", "reason": "rest of it"})
    assert rest.status_code == 302
    db.session.refresh(donation)
    assert donation.refunded_fen == 5_000
    assert service.raised_fen(campaign) == 10_000
    public_ledger = text(client.get(f"/campaigns/{campaign.id}/ledger"))
    assert public_ledger.count("Refund to a donor") == 2
    assert ledger.verify()[1] == []
    assert service.check_donations()[1] == []

    # Nothing is left to refund: said in a flash, never a 500.
    more = staff.post(f"/staff/donations/{donation.id}/refund", data={"amount": "1", "reason": "once more"})
    assert more.status_code == 302
    assert "can still be refunded" in text(staff.get(path(more.headers["Location"])))


def test_a_refund_needs_an_amount_and_a_reason(client: FlaskClient, staff: FlaskClient) -> None:
    campaign = fundraising()
    donation = give_and_pay(client, campaign)
    for data in (
        {"amount": "10", "reason": ""},
        {"amount": "", "reason": "a reason"},
        {"amount": "x", "reason": "why"},
    ):
        response = staff.post(f"/staff/donations/{donation.id}/refund", data=data)
        assert response.status_code == 422
        assert "flash-error" in text(response)
    assert db.session.scalar(select(func.count()).select_from(DonationRefund)) == 0
    assert (
        staff.post("/staff/donations/99999/refund", data={"amount": "1", "reason": "x" * 9}).status_code
        == 404
    )


def test_a_refund_the_fund_cannot_cover_is_refused_with_a_message(
    client: FlaskClient, staff: FlaskClient
) -> None:
    campaign = fundraising()
    donation = give_and_pay(client, campaign)  # the fund holds 50 − 0.30 fee
    response = staff.post(
        f"/staff/donations/{donation.id}/refund", data={"amount": "50", "reason": "all of it"}
    )
    assert response.status_code == 302
    assert "no longer holds enough" in text(staff.get(path(response.headers["Location"])))
    db.session.refresh(donation)
    assert donation.refunded_fen == 0


@pytest.mark.parametrize("role", ["donor", "family", "social_worker", "civil_affairs_officer"])
def test_only_charity_staff_and_admins_refund(app: Flask, client: FlaskClient, role: str) -> None:
    campaign = fundraising()
    donation = give_and_pay(client, campaign)
    other = signed_in(app, user_of_role(role))
    assert other.get(f"/staff/donations?campaign={campaign.id}").status_code == 403
    assert (
        other.post(
            f"/staff/donations/{donation.id}/refund", data={"amount": "1", "reason": "mine"}
        ).status_code
        == 403
    )


def test_refund_every_donor_after_an_upheld_report(client: FlaskClient, staff: FlaskClient) -> None:
    campaign = fundraising()
    gifts = [give_and_pay(client, campaign, preset=amount) for amount in ("2000", "5000")]
    # Without an upheld report there is no refund-all.
    page = text(staff.get(f"/staff/campaigns/{campaign.id}/refund-all"))
    assert "no upheld report" in page
    assert 'name="confirm"' not in page
    refused = staff.post(
        f"/staff/campaigns/{campaign.id}/refund-all", data={"reason": "x" * 20, "confirm": "y"}
    )
    assert refused.status_code == 409
    assert all(service.refundable_fen(d) == d.amount_fen for d in gifts)

    report = CampaignReport(campaign_id=campaign.id, reason="false_information", details="forged invoices")
    report.status = ReportStatus.UPHELD
    report.resolution = "The hospital invoices were forged."
    db.session.add(report)
    campaign.state = "suspended"
    db.session.commit()
    listing = text(staff.get(f"/staff/donations?campaign={campaign.id}"))
    assert "Refund every donor" in listing
    assert "invoices were forged" in listing
    confirm = text(staff.get(f"/staff/campaigns/{campaign.id}/refund-all"))
    assert "2 donations will be refunded, ¥70 in all" in confirm

    unconfirmed = staff.post(
        f"/staff/campaigns/{campaign.id}/refund-all", data={"reason": "forged invoices, fraud"}
    )
    assert unconfirmed.status_code == 422
    assert "Tick the box" in text(unconfirmed)
    done = staff.post(
        f"/staff/campaigns/{campaign.id}/refund-all",
        data={"reason": "forged invoices, fraud", "confirm": "y"},
    )
    assert done.status_code == 302
    assert "Refunds asked for 2 donations, ¥70 in all" in text(staff.get(path(done.headers["Location"])))
    db.session.expire_all()
    assert campaign.state == "cancelled"
    assert [d.refunded_fen for d in gifts] == [2_000, 5_000]
    assert ledger.balance(ledger.campaign_fund(campaign.id)) == 0  # the platform covered the fees
    assert ledger.verify()[1] == []
    assert service.check_donations()[1] == []
    # A cancelled campaign leaves the public pages; staff still see its ledger.
    assert client.get(f"/campaigns/{campaign.id}/ledger").status_code == 404
    assert text(staff.get(f"/campaigns/{campaign.id}/ledger")).count("Refund to a donor") == 2


def test_the_staff_page_without_a_campaign_lists_upheld_cases(staff: FlaskClient) -> None:
    page = staff.get("/staff/donations")
    assert page.status_code == 200
    assert "Campaigns with an upheld report" in text(page)
    assert staff.get("/staff/donations?campaign=99999").status_code == 404
    assert staff.get("/staff/donations?campaign=abc").status_code == 200


def test_a_report_page_leads_staff_to_the_campaigns_donations(staff: FlaskClient) -> None:
    campaign = fundraising()
    report = CampaignReport(campaign_id=campaign.id, reason="misuse", details="the money is misused")
    db.session.add(report)
    db.session.commit()
    assert f"/staff/donations?campaign={campaign.id}" in text(staff.get(f"/staff/reports/{report.id}"))

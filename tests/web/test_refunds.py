"""Staff refunds through the pages: one donation in part or in full, and every donor after an upheld report."""

from __future__ import annotations

import re

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
from fundraise.staff import refunds as refund_pages
from tests.factories import CampaignFactory, UserFactory, user_of_role

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


def row(response: object, donation_id: int) -> str:
    """The donation's row on the staff page: what a person sees where they were."""
    found = re.search(rf'<li id="donation-{donation_id}"[^>]*>(.*?)</li>', text(response), re.DOTALL)
    assert found, f"no row for donation #{donation_id}"
    return found.group(1)


def outside_rows(response: object) -> str:
    """The page without its donation rows: the top of the page, where flashes are."""
    return re.sub(r'<ul class="staff-donations">.*?</ul>', "", text(response), flags=re.DOTALL)


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

    # Nothing is left to refund: said beside the donation, never a 500.
    more = staff.post(f"/staff/donations/{donation.id}/refund", data={"amount": "1", "reason": "once more"})
    assert more.status_code == 422
    assert "can still be refunded" in row(more, donation.id)


def test_a_refund_needs_an_amount_and_a_reason(client: FlaskClient, staff: FlaskClient) -> None:
    campaign = fundraising()
    donation = give_and_pay(client, campaign)
    for data, said in (
        ({"amount": "10", "reason": ""}, "A written reason is required."),
        ({"amount": "", "reason": "a reason"}, "Enter the amount."),
        ({"amount": "x", "reason": "why"}, "Enter an amount in yuan, like 12000 or 12000.50."),
    ):
        response = staff.post(f"/staff/donations/{donation.id}/refund", data=data)
        assert response.status_code == 422
        # Under the field, in the donation's row, with what was typed kept; nothing at the top of the page.
        assert '<p class="error" id="' in row(response, donation.id)
        assert said in row(response, donation.id)
        assert said not in outside_rows(response)
        assert '<details class="refund-form" open>' in row(response, donation.id)
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
    # Shown again in answer, the reason beside the donation (no redirect jumping past a message at the top).
    assert response.status_code == 409
    here = row(response, donation.id)
    assert 'role="alert"' in here
    assert "no longer holds enough" in here
    assert "no longer holds enough" not in outside_rows(response)
    assert "Donation #" not in text(response)
    assert 'value="all of it"' in here  # what was typed is kept
    # The form's address ends in the row's anchor, so the browser shows the answer at the row.
    assert f'action="/staff/donations/{donation.id}/refund#donation-{donation.id}"' in here
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


# --- issue 14: the refund page's messages, and choosing the campaign -------------------------------------


def test_a_refused_refund_on_the_chinese_page_says_why_beside_the_row_in_chinese(
    client: FlaskClient, staff: FlaskClient
) -> None:
    campaign = fundraising()
    donation = give_and_pay(client, campaign)
    staff.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    response = staff.post(
        f"/staff/donations/{donation.id}/refund", data={"amount": "50", "reason": "全部退还给捐款人"}
    )
    assert response.status_code == 409
    here = row(response, donation.id)
    assert "项目善款余额已不足以支付此笔退款" in here
    # No English prefix: the row itself says which donation it is.
    assert "Donation #" not in text(response)


@pytest.mark.parametrize(
    ("typed", "said", "zh"),
    [
        ("-1", "The amount cannot be negative.", "金额不能为负数。"),
        ("0", "Enter an amount above zero, in yuan.", "请填写大于零的金额（元）。"),
        ("0.00", "Enter an amount above zero, in yuan.", "请填写大于零的金额（元）。"),
    ],
)
def test_a_negative_or_zero_refund_says_so_not_enter_the_amount(
    client: FlaskClient, staff: FlaskClient, typed: str, said: str, zh: str
) -> None:
    campaign = fundraising()
    donation = give_and_pay(client, campaign)
    response = staff.post(f"/staff/donations/{donation.id}/refund", data={"amount": typed, "reason": "asked"})
    assert response.status_code == 422
    here = row(response, donation.id)
    assert said in here
    assert "Enter the amount." not in here
    assert f'value="{typed}"' in here
    staff.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    chinese = row(
        staff.post(f"/staff/donations/{donation.id}/refund", data={"amount": typed, "reason": "捐款人要求"}),
        donation.id,
    )
    assert zh in chinese
    assert "请输入金额" not in chinese
    assert db.session.scalar(select(func.count()).select_from(DonationRefund)) == 0


def test_an_amount_that_cannot_be_read_keeps_its_reason_under_a_required_check(app: Flask) -> None:
    """The cause of "-1" reading "Enter the amount.": DataRequired cleared the field's own error. Any form
    requiring a YuanField (the relief deposit form) now shows why."""
    from flask_wtf import FlaskForm
    from wtforms.validators import DataRequired

    from fundraise.web.fields import YuanField

    class Required(FlaskForm):
        amount = YuanField("Amount", validators=[DataRequired("Enter the amount.")])

    for typed, said in (("-1", "The amount cannot be negative."), ("", "Enter the amount.")):
        with app.test_request_context("/", method="POST", data={"amount": typed}):
            form = Required(meta={"csrf": False})
            assert not form.validate()
            assert [str(error) for error in form.amount.errors] == [said]


def test_a_refused_refund_on_a_later_page_shows_that_page(
    client: FlaskClient, staff: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(refund_pages, "STAFF_PER_PAGE", 1)
    campaign = fundraising()
    older = give_and_pay(client, campaign)  # the list is newest first: this one is on page 2
    pay_directly(campaign, 10_000)
    listing = text(staff.get(f"/staff/donations?campaign={campaign.id}&page=2"))
    action = f"/staff/donations/{older.id}/refund?page=2#donation-{older.id}"
    assert f'action="{action}"' in listing
    refused = staff.post(action.split("#")[0], data={"amount": "-1", "reason": "asked"})
    assert refused.status_code == 422
    assert "The amount cannot be negative." in row(refused, older.id)
    # Its pager leads to the list, not to the refund's address.
    assert f'href="/staff/donations?campaign={campaign.id}&amp;page=1"' in text(refused)
    done = staff.post(action.split("#")[0], data={"amount": "10", "reason": "asked"})
    assert done.status_code == 302
    assert path(done.headers["Location"]) == f"/staff/donations?campaign={campaign.id}&page=2"
    assert done.headers["Location"].endswith(f"#donation-{older.id}")


def test_the_dashboard_leads_staff_to_refunds(staff: FlaskClient) -> None:
    assert 'href="/staff/donations"' in text(staff.get("/staff/"))


def test_staff_choose_the_campaign_from_a_list_and_search_it(client: FlaskClient, staff: FlaskClient) -> None:
    given = fundraising(title="请帮助小明战胜白血病")
    pay_directly(given, 5_000)
    closed = fundraising(title="Help Li Hua after the accident")
    pay_directly(closed, 2_000)
    closed.state = "closed"  # given while it raised money, closed since
    no_gifts = fundraising(title="还没有捐款的求助")
    verified = CampaignFactory(state="verified", title="已核验的求助")
    db.session.commit()

    page = text(staff.get("/staff/donations"))
    assert 'name="campaign"' not in page  # no number to type
    assert 'type="search"' in page
    assert f'href="/staff/donations?campaign={given.id}"' in page
    assert f'href="/staff/donations?campaign={closed.id}"' in page
    assert "¥50" in page
    assert "¥20" in page
    assert f"?campaign={no_gifts.id}" not in page  # no donation to refund
    assert f"?campaign={verified.id}" not in page  # not raising money

    by_title = text(staff.get("/staff/donations?q=li hua"))
    assert f"?campaign={closed.id}" in by_title
    assert f"?campaign={given.id}" not in by_title
    by_number = text(staff.get(f"/staff/donations?q=%23{given.id}"))
    assert f"?campaign={given.id}" in by_number
    assert f'?campaign={closed.id}"' not in by_number
    nothing = text(staff.get("/staff/donations?q=%25_"))  # LIKE's wildcards are searched for as they are
    assert "No campaign with donations matches" in nothing


def test_the_campaign_list_is_paged(staff: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(refund_pages, "PICK_PER_PAGE", 2)
    for n in range(3):
        pay_directly(fundraising(title=f"求助 {n}"), 1_000)
    first = text(staff.get("/staff/donations"))
    assert "3 campaigns" in first
    assert first.count("/staff/donations?campaign=") == 2
    assert 'href="/staff/donations?page=2"' in first
    assert text(staff.get("/staff/donations?page=2")).count("/staff/donations?campaign=") == 1


def test_a_report_page_leads_staff_to_the_campaigns_donations(staff: FlaskClient) -> None:
    campaign = fundraising()
    report = CampaignReport(campaign_id=campaign.id, reason="misuse", details="the money is misused")
    db.session.add(report)
    db.session.commit()
    assert f"/staff/donations?campaign={campaign.id}" in text(staff.get(f"/staff/reports/{report.id}"))

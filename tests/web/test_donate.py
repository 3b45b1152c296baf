"""Giving through the pages: the campaign page's panel, the donation form and its limits, the sandbox checkout,
the thank-you page with the receipt, a donor's history, the public list of gifts and the public ledger.
Staff refunds are in test_refunds.py, the receipt e-mail in test_receipts.py."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from fundraise import ledger
from fundraise.extensions import db
from fundraise.models import (
    AccountKind,
    Donation,
)
from fundraise.payments import get_provider
from fundraise.payments.links import donation_token
from fundraise.services import donations as service
from tests.factories import UserFactory

# --- the campaign page's panel ---------------------------------------------------------------------------
from tests.web import donations
from tests.web.donations import (
    donation_count,
    format_fen,
    fundraising,
    give,
    give_and_pay,
    pay_directly,
    signed_in,
    text,
)

client = donations.client  # the fixture


def test_campaign_page_shows_raised_donors_and_the_give_button(client: FlaskClient) -> None:
    campaign = fundraising(target_fen=100_000)
    donor = UserFactory(donor=True, name="李四")
    db.session.commit()
    pay_directly(campaign, 20_000, display_name="王五", message="加油")
    donation, _ = service.start_donation(campaign, donor, 5_000, anonymous=True)
    get_provider().pay(donation.provider_payment_id)
    db.session.commit()

    page = text(client.get(f"/campaigns/{campaign.id}"))
    assert "¥250" in page
    assert "of ¥1,000" in page
    assert 'aria-valuenow="25"' in page  # the progress bar
    assert "2 donors" in page
    assert "¥750 still needed" in page
    assert f'href="/campaigns/{campaign.id}/donate"' in page
    assert "王*" in page
    assert "王五" not in page
    assert "加油" in page
    assert "Anonymous" in page
    assert "李四" not in page
    assert f"/campaigns/{campaign.id}/ledger" in page
    assert page.count('role="progressbar"') == 1


@pytest.mark.parametrize(
    ("state", "sentence"),
    [
        ("verified", "has not opened fundraising yet"),
        ("closed", "Fundraising has ended"),
        ("suspended", "report about this campaign is investigated"),
    ],
)
def test_a_campaign_that_takes_no_gifts_says_why(client: FlaskClient, state: str, sentence: str) -> None:
    campaign = fundraising(state=state)
    page = text(client.get(f"/campaigns/{campaign.id}"))
    assert sentence in page
    assert f'href="/campaigns/{campaign.id}/donate"' not in page
    form = client.get(f"/campaigns/{campaign.id}/donate")
    assert form.status_code == 200
    assert sentence in text(form)
    assert 'name="custom_amount"' not in text(form)
    refused = give(client, campaign)
    assert refused.status_code == 409
    assert sentence in text(refused)
    assert donation_count() == 0


def test_a_campaign_at_its_target_takes_no_more(client: FlaskClient) -> None:
    campaign = fundraising(target_fen=10_000)
    pay_directly(campaign, 10_000)
    db.session.refresh(campaign)
    page = text(client.get(f"/campaigns/{campaign.id}"))
    assert "reached its target" in page
    assert give(client, campaign, preset=None, custom_amount="1").status_code == 409
    assert donation_count() == 1


def test_a_draft_has_no_donation_page(client: FlaskClient) -> None:
    campaign = fundraising(state="draft")
    assert client.get(f"/campaigns/{campaign.id}/donate").status_code == 404
    assert give(client, campaign).status_code == 404
    assert client.get(f"/campaigns/{campaign.id}/donations").status_code == 404
    assert client.get(f"/campaigns/{campaign.id}/ledger").status_code == 404
    assert donation_count() == 0


# --- giving ----------------------------------------------------------------------------------------------


def test_the_form_offers_presets_custom_amount_anonymity_surplus_choice_and_receipt_email(
    client: FlaskClient,
) -> None:
    campaign = fundraising()
    page = text(client.get(f"/campaigns/{campaign.id}/donate"))
    assert "SANDBOX — no real money" in page
    for value in ("2000", "5000", "10000", "50000"):
        assert f'value="{value}"' in page
    assert re.search(r'value="5000"[^>]*checked|checked[^>]*value="5000"', page)
    for name in ("custom_amount", "display_name", "anonymous", "message", "surplus_choice", "email"):
        assert f'name="{name}"' in page
    assert "Refund my share to me" in page
    assert "relief pool" in page
    assert "paid only to the" in page or "only to the hospital" in page


def test_presets_above_the_remaining_need_are_not_offered(client: FlaskClient) -> None:
    campaign = fundraising(target_fen=8_000)  # 80 yuan
    page = text(client.get(f"/campaigns/{campaign.id}/donate"))
    assert re.search(r'<input[^>]*disabled[^>]*value="10000"|<input[^>]*value="10000"[^>]*disabled', page)
    assert "needs only ¥80 more" in page


def test_a_guest_gives_50_yuan_and_gets_a_receipt(client: FlaskClient) -> None:
    campaign = fundraising(title="帮小明")
    donation = give_and_pay(client, campaign)
    assert donation.status == "succeeded"
    assert donation.amount_fen == 5_000
    assert donation.donor_id is None
    assert donation.receipt_email == "zhang.san@example.cn"
    assert donation.display_name == "张三"
    assert donation.message == "早日康复"
    assert not donation.anonymous
    assert donation.surplus_choice == "refund"

    thanks = client.get(f"/donations/{donation.id}?t={donation_token(donation.id)}")
    assert thanks.status_code == 200
    assert thanks.headers["Cache-Control"] == "no-store"
    page = text(thanks)
    assert "Thank you" in page
    assert "SANDBOX — no real money" in page
    assert donation.receipt_number in page
    assert "¥50" in page
    assert "帮小明" in page
    assert "paid only to the hospital" in page.replace("\n", " ")
    assert "refunded to you, in proportion to your gift" in page
    assert "张*" in page  # how the gift is shown in public
    assert service.raised_fen(campaign) == 5_000
    assert ledger.verify()[1] == []
    assert service.check_donations()[1] == []


def test_the_receipt_needs_its_token_or_the_donors_account(app: Flask, client: FlaskClient) -> None:
    campaign = fundraising()
    donation = give_and_pay(client, campaign)
    assert client.get(f"/donations/{donation.id}").status_code == 404
    assert client.get(f"/donations/{donation.id}?t=nope").status_code == 404
    stranger = signed_in(app, UserFactory(donor=True))
    assert stranger.get(f"/donations/{donation.id}").status_code == 404
    assert client.get("/donations/999999?t=x").status_code == 404


def test_a_signed_in_donor_gives_anonymously_and_finds_it_in_their_history(app: Flask) -> None:
    campaign = fundraising(title="帮小红")
    donor = UserFactory(donor=True, name="赵六", email="zhao@example.cn")
    client = signed_in(app, donor)
    form = text(client.get(f"/campaigns/{campaign.id}/donate"))
    assert 'name="email"' not in form
    assert "zhao@example.cn" in form
    assert 'value="赵六"' in form  # the name to show starts as the account's

    donation = give_and_pay(
        client,
        campaign,
        preset=None,
        custom_amount="88.50",
        anonymous="y",
        email=None,
        surplus_choice="relief_pool",
    )
    assert donation.donor_id == donor.id
    assert donation.amount_fen == 8_850
    assert donation.anonymous
    assert donation.receipt_email == ""
    assert donation.surplus_choice == "relief_pool"

    receipt = text(client.get(f"/donations/{donation.id}"))  # their own: no token needed
    assert donation.receipt_number in receipt
    assert "Anonymous" in receipt
    assert "relief pool" in receipt

    history = text(client.get("/me/donations"))
    assert "帮小红" in history
    assert "¥88.50" in history
    assert "Received" in history
    assert f"/donations/{donation.id}?t={donation_token(donation.id)}" in history
    assert donation.receipt_number in history
    assert "赵*" not in text(client.get(f"/campaigns/{campaign.id}/donations"))


def test_history_is_for_signed_in_accounts_and_lists_only_their_own(app: Flask, client: FlaskClient) -> None:
    assert "/login" in client.get("/me/donations").headers["Location"]
    campaign = fundraising(title="别人的捐款")
    pay_directly(campaign, 1_000)
    family = UserFactory()  # a family may give too
    page = text(signed_in(app, family).get("/me/donations"))
    assert "别人的捐款" not in page
    assert "not given" in page


def test_a_declined_payment_lands_on_an_honest_failure_page(client: FlaskClient) -> None:
    campaign = fundraising()
    donation = give_and_pay(client, campaign, action="decline")
    assert donation.status == "failed"
    page = text(client.get(f"/donations/{donation.id}?t={donation_token(donation.id)}"))
    assert "did not go through" in page
    assert "Nothing was taken" in page
    assert f"/sandbox/checkout/{donation.provider_payment_id}" in page  # try again
    assert service.raised_fen(campaign) == 0


def test_a_delayed_payment_waits_for_confirmation(client: FlaskClient) -> None:
    campaign = fundraising()
    started = give(client, campaign)
    donation = db.session.scalar(select(Donation))
    provider = get_provider()
    payment = provider.payment(donation.provider_payment_id)
    provider.deliver(provider.event("payment.processing", payment))
    db.session.commit()
    page = text(client.get(f"/donations/{donation.id}?t={donation_token(donation.id)}"))
    assert started.status_code == 303
    assert "Waiting for confirmation" in page
    assert "do not need to pay again" in page
    assert 'http-equiv="refresh"' in page
    assert "Receipt number" not in page


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("0", "The smallest gift is 1 yuan."),
        ("-5", "cannot be negative"),
        ("abc", "Enter an amount in yuan"),
        ("1e12", "Enter an amount in yuan"),
        ("1000000000000", "at most 50,000 yuan"),
        ("50000.01", "at most 50,000 yuan"),
        ("12.345", "at most two decimals"),
        ("9" * 30, "too large to be right"),
    ],
)
def test_bad_amounts_are_explained_and_nothing_is_created(
    client: FlaskClient, typed: str, message: str
) -> None:
    campaign = fundraising(target_fen=100_000_000)
    response = give(client, campaign, custom_amount=typed)
    assert response.status_code == 422
    page = text(response)
    assert message in page, page
    assert f'value="{typed}"' in page  # what was typed is shown back
    assert donation_count() == 0


def test_more_than_the_remaining_need_is_refused(client: FlaskClient) -> None:
    campaign = fundraising(target_fen=10_000)
    response = give(client, campaign, preset=None, custom_amount="100.01")
    assert response.status_code == 422
    assert "needs only 100 yuan more" in text(response)
    assert donation_count() == 0
    assert give(client, campaign, preset=None, custom_amount="100").status_code == 303


@pytest.mark.parametrize(
    ("changes", "field_message"),
    [
        ({"email": ""}, "Give an e-mail address for your receipt"),
        ({"email": "not-an-address"}, "Enter an e-mail address like"),
        ({"message": "好" * 201}, "Keep the message to 200 characters"),
        ({"display_name": "名" * 65}, "Keep the name to 64 characters"),
        ({"surplus_choice": "keep_it"}, "Not a valid choice"),
        ({"preset": "12345"}, "Not a valid choice"),
        ({"preset": None}, "Choose an amount or type one in"),
    ],
)
def test_other_bad_input_re_renders_with_messages(
    client: FlaskClient, changes: dict[str, Any], field_message: str
) -> None:
    campaign = fundraising()
    response = give(client, campaign, **changes)
    assert response.status_code == 422
    assert field_message in text(response)
    assert donation_count() == 0


# --- the public list and the public ledger ---------------------------------------------------------------


def test_a_long_donor_name_is_masked_to_a_fixed_length(client: FlaskClient) -> None:
    """Any donor could once stretch a campaign page sideways with a 64-character name masked to a row of 63
    asterisks, which also told everyone how long the name was."""
    campaign = fundraising(target_fen=10_000_000)
    pay_directly(campaign, 500, display_name="W" + "x" * 63)
    pay_directly(campaign, 500, display_name="王")
    for path in (f"/campaigns/{campaign.id}", f"/campaigns/{campaign.id}/donations"):
        page = text(client.get(path))
        assert "W**" in page
        assert "王**" in page
        assert "***" not in page


def test_the_public_list_masks_names_newest_first_and_pages(client: FlaskClient) -> None:
    campaign = fundraising(target_fen=10_000_000)
    for n in range(22):
        pay_directly(campaign, 100 + n, display_name=f"Qian{n:02d}", message=f"msg-{n:02d}")
    pay_directly(campaign, 999, display_name="欧阳娜娜", anonymous=True, message="匿名的话")
    first = text(client.get(f"/campaigns/{campaign.id}/donations"))
    assert "23 gifts received" in first
    assert first.index("匿名的话") < first.index("msg-21") < first.index("msg-04")
    assert "Anonymous" in first
    assert "欧阳" not in first
    assert "欧*" not in first
    assert "Q**" in first
    assert "Qian" not in first
    assert "msg-02" not in first
    second = text(client.get(f"/campaigns/{campaign.id}/donations?page=2"))
    assert "msg-01" in second
    assert "msg-00" in second
    assert "Page 2 of 2" in second
    # Nonsense page numbers fall back to a real page.
    assert client.get(f"/campaigns/{campaign.id}/donations?page=abc").status_code == 200
    assert "Page 2 of 2" in text(client.get(f"/campaigns/{campaign.id}/donations?page=99999999999999999999"))


def test_the_public_ledger_shows_every_movement_with_running_balances(client: FlaskClient) -> None:
    campaign = fundraising()
    staff = UserFactory(charity_staff=True)
    db.session.commit()
    first = pay_directly(campaign, 10_000, display_name="王大锤", receipt_email="wang@example.cn")
    pay_directly(campaign, 5_000)
    service.refund_donation(first, 2_000, staff, "asked by the donor")
    fee = 10_000 * 60 // 10_000
    balance = 10_000 + 5_000 - fee - 5_000 * 60 // 10_000 - 2_000
    assert ledger.balance(ledger.campaign_fund(campaign.id)) == balance

    page = text(client.get(f"/campaigns/{campaign.id}/ledger"))
    for words in ("Donation received", "Payment processing fee", "Refund to a donor"):
        assert words in page
    assert page.count("Donation received") == 2
    assert page.count("Payment processing fee") == 2
    assert f"Held in the fund now</dt><dd><strong>{format_fen(balance)}</strong>" in page
    assert "¥0.60" in page
    assert "¥20" in page
    # Running balances, newest first: the refund's line ends at the current balance.
    rows = re.findall(r"<tr>.*?</tr>", page, flags=re.S)
    assert "Refund to a donor" in rows[1]
    assert (
        rows[1]
        .rstrip("</tr>")
        .strip()
        .endswith(f'<td data-label="Balance" class="num">{format_fen(balance)}</td>')
    )
    assert "王" not in page
    assert "wang@example.cn" not in page
    assert "asked by the donor" not in page


def test_a_campaign_without_money_has_an_empty_ledger(client: FlaskClient) -> None:
    campaign = fundraising()
    page = text(client.get(f"/campaigns/{campaign.id}/ledger"))
    assert "No money has moved" in page
    assert ledger.find_account(AccountKind.CAMPAIGN_FUND, campaign.id) is None  # reading creates nothing


def test_the_donor_message_is_counted_not_cut(client: FlaskClient) -> None:
    campaign = fundraising()
    response = client.get(f"/campaigns/{campaign.id}/donate")
    page = text(response)
    message_box = _tag(response.get_data(as_text=True), "textarea", "message")
    assert "maxlength" not in message_box
    assert 'data-limit="200"' in message_box
    assert "At most 200 characters." in page
    refused = give(client, campaign, message="好" * 201)
    assert refused.status_code == 422
    assert "好" * 201 in refused.get_data(as_text=True)


def _tag(html: str, name: str, element_id: str) -> str:
    """The opening tag of the <name> element with this id."""
    return next(tag for tag in re.findall(rf"<{name}\b[^>]*>", html) if f'id="{element_id}"' in tag)


def test_a_refused_form_ties_each_error_to_its_field_and_links_to_it(client: FlaskClient) -> None:
    """axe-core: invalid fields carried aria-invalid but nothing pointed to their message, and the summary did
    not lead to the bad field."""
    campaign = fundraising()
    html = give(client, campaign, email="not-an-address").get_data(as_text=True)
    email = _tag(html, "input", "email")
    assert 'aria-invalid="true"' in email
    assert 'aria-describedby="email-error-1 email-help"' in email
    assert 'id="email-error-1"' in html
    assert 'class="flash flash-error error-summary"' in html
    assert '<a href="#email">' in html

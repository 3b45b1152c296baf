"""Giving through the pages: the campaign page's panel, the donation form and its limits, the sandbox checkout,
the thank-you page with the receipt, a donor's history, the public list of gifts and the public ledger, staff
refunds (one donation, or every donor after an upheld report), and the receipt e-mail sent once."""

from __future__ import annotations

import re
import socketserver
import threading
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from fundraise import ledger
from fundraise.extensions import db
from fundraise.jobs.outbox import JOBS
from fundraise.models import (
    AccountKind,
    Campaign,
    CampaignReport,
    Donation,
    DonationRefund,
    OutboxMessage,
    ReportStatus,
)
from fundraise.payments import get_provider
from fundraise.payments.links import donation_token
from fundraise.services import donations as service
from tests.factories import PASSWORD, CampaignFactory, UserFactory, user_of_role

CHECKOUT = re.compile(r"^/sandbox/checkout/(sbpi_[0-9a-f]+)$")


# --- helpers ---------------------------------------------------------------------------------------------


def path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def text(response: Any) -> str:
    return response.get_data(as_text=True)


def messages(response: Any) -> list[str]:
    """The error messages a page shows (field errors and error flashes)."""
    return re.findall(r'class="(?:error|flash flash-error)"[^>]*>([^<]*)<', text(response))


def fundraising(**fields: Any) -> Campaign:
    fields.setdefault("target_fen", 1_000_000)
    made = CampaignFactory(state=fields.pop("state", "fundraising"), **fields)
    db.session.commit()
    return made


def english(client: FlaskClient) -> FlaskClient:
    """Pages in English (the source strings), whatever the catalogues hold."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return english(app.test_client())


def signed_in(app: Flask, user: Any) -> FlaskClient:
    db.session.commit()
    client = english(app.test_client())
    assert client.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 302
    return client


def donation_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Donation)) or 0


def give_form(**changes: Any) -> dict[str, Any]:
    form = {
        "preset": "5000",
        "custom_amount": "",
        "display_name": "张三",
        "message": "早日康复",
        "surplus_choice": "refund",
        "email": "zhang.san@example.cn",
    }
    form.update(changes)
    return {key: value for key, value in form.items() if value is not None}


def give(client: FlaskClient, campaign: Campaign, **changes: Any) -> Any:
    return client.post(f"/campaigns/{campaign.id}/donate", data=give_form(**changes))


def give_and_pay(client: FlaskClient, campaign: Campaign, action: str = "pay", **changes: Any) -> Donation:
    """Through the pages: the form, the sandbox checkout, pay (or decline); returns the donation."""
    started = give(client, campaign, **changes)
    assert started.status_code == 303, messages(started)
    checkout = path(started.headers["Location"])
    assert CHECKOUT.match(checkout), checkout
    assert client.get(checkout).status_code == 200
    done = client.post(checkout, data={"action": action})
    assert done.status_code == 302
    donation = db.session.scalar(select(Donation).order_by(Donation.id.desc()))
    assert donation is not None
    db.session.refresh(donation)
    assert path(done.headers["Location"]) == f"/donations/{donation.id}?t={donation_token(donation.id)}"
    return donation


def pay_directly(campaign: Campaign, amount_fen: int, **fields: Any) -> Donation:
    donation, _url = service.start_donation(campaign, None, amount_fen, **fields)
    get_provider().pay(donation.provider_payment_id)
    db.session.commit()
    db.session.refresh(donation)
    return donation


# --- the campaign page's panel ---------------------------------------------------------------------------


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
    assert "Q*****" in first
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


def format_fen(fen: int) -> str:
    from fundraise.money import format_yuan

    return format_yuan(fen)


# --- staff refunds ---------------------------------------------------------------------------------------


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


# --- the receipt e-mail ----------------------------------------------------------------------------------


class _SMTPHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: greeting, EHLO, MAIL, RCPT, DATA, QUIT."""

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self.reply("220 test-smtp ready")
        while line := self.rfile.readline():
            verb = line.decode(errors="replace").strip().split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 test-smtp")
            elif verb == "DATA":
                self.reply("354 end with <CRLF>.<CRLF>")
                body = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    body += chunk[1:] if chunk.startswith(b"..") else chunk
                self.server.messages.append(message_from_bytes(body, policy=policy.default))  # type: ignore[attr-defined]
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:  # MAIL, RCPT, RSET, NOOP
                self.reply("250 ok")


@pytest.fixture
def smtp_server(app: Flask) -> Iterator[list[EmailMessage]]:
    """A tiny SMTP server on loopback; the app is configured to send through it. Yields what it received."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SMTPHandler)
    server.daemon_threads = True
    server.messages = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=server.server_address[1], SMTP_USER=None)
    try:
        yield server.messages  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def test_the_receipt_is_emailed_once(
    app: Flask, client: FlaskClient, smtp_server: list[EmailMessage]
) -> None:
    campaign = fundraising(title="帮小明")
    donation = give_and_pay(client, campaign)  # the job runs inline after the checkout's request
    assert len(smtp_server) == 1
    mail = smtp_server[0]
    assert mail["To"] == "zhang.san@example.cn"
    assert donation.receipt_number in mail["Subject"]
    body = mail.get_content()
    assert donation.receipt_number in body
    assert "¥50" in body
    assert "帮小明" in body
    assert f"/donations/{donation.id}?t={donation_token(donation.id)}" in body
    db.session.refresh(donation)
    assert donation.receipt_emailed_at is not None

    JOBS["send_receipt"](donation_id=donation.id)  # run again: nothing more is sent
    checkout = f"/sandbox/checkout/{donation.provider_payment_id}"
    client.post(checkout, data={"action": "pay"})  # a second press of Pay
    assert len(smtp_server) == 1
    assert (
        db.session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.job == "send_receipt")
        )
        == 1
    )


def test_a_signed_in_donors_receipt_goes_to_their_account(
    app: Flask, smtp_server: list[EmailMessage]
) -> None:
    campaign = fundraising()
    donor = UserFactory(donor=True, email="donor@example.cn", locale="en")
    client = signed_in(app, donor)
    give_and_pay(client, campaign, email=None)
    assert [m["To"] for m in smtp_server] == ["donor@example.cn"]
    assert "Your Aidbridge receipt" in smtp_server[0]["Subject"]


def test_no_smtp_no_email_and_the_receipt_stays_on_the_page(client: FlaskClient) -> None:
    campaign = fundraising()
    donation = give_and_pay(client, campaign)
    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.job == "send_receipt"))
    assert message is not None
    assert message.status == "done"
    db.session.refresh(donation)
    assert donation.receipt_emailed_at is None


def test_a_failed_send_is_retried_later(app: Flask, client: FlaskClient) -> None:
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=1)  # nothing listens there
    campaign = fundraising()
    donation = give_and_pay(client, campaign)
    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.job == "send_receipt"))
    assert message is not None
    assert message.status == "failed"
    db.session.refresh(donation)
    assert donation.receipt_emailed_at is None  # the claim was rolled back with the failure


def test_a_worker_sends_the_receipt_outside_any_request(app: Flask, smtp_server: list[EmailMessage]) -> None:
    from fundraise.jobs.outbox import run_message

    campaign = fundraising()
    donation = pay_directly(campaign, 3_000, receipt_email="worker@example.cn")  # no request: nothing relayed
    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.job == "send_receipt"))
    assert message is not None
    assert message.status == "pending"
    assert smtp_server == []
    run_message(message.id, reraise=True)  # what `flask worker` does with it
    assert [m["To"] for m in smtp_server] == ["worker@example.cn"]
    assert (
        f"http://localhost/donations/{donation.id}?t={donation_token(donation.id)}"
        in smtp_server[0].get_content()
    )
    run_message(message.id, reraise=True)
    assert len(smtp_server) == 1


def test_a_report_page_leads_staff_to_the_campaigns_donations(staff: FlaskClient) -> None:
    campaign = fundraising()
    report = CampaignReport(campaign_id=campaign.id, reason="misuse", details="the money is misused")
    db.session.add(report)
    db.session.commit()
    assert f"/staff/donations?campaign={campaign.id}" in text(staff.get(f"/staff/reports/{report.id}"))

"""A guest gives 50 yuan in a real browser: the campaign page's panel, the donation form (first with an amount
it explains and refuses), the sandbox checkout, the thank-you page with the receipt, then the gift in the
public list and the public ledger. Screenshots at phone (390px) and desktop (1280px) widths go to
test-artifacts/."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from fundraise.extensions import db
from fundraise.models import Donation
from fundraise.payments import get_provider
from fundraise.services import donations as service
from tests.factories import CampaignFactory

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def shoot(page: Any, folder: Path, name: str) -> None:
    for size in (PHONE, DESKTOP):
        page.set_viewport_size(size)
        page.screenshot(path=str(folder / f"{name}-{size['width']}.png"), full_page=True)
    page.set_viewport_size(PHONE)


def test_a_guest_gives_50_yuan_and_sees_the_receipt(app, live_server, browser, artifacts):
    campaign = CampaignFactory(
        state="fundraising",
        title="Help Xiaoming beat leukaemia",
        target_fen=3_000_000,
        story="Xiaoming is seven.",
    )
    db.session.commit()
    with app.test_request_context():  # the provider builds its checkout address
        for name, amount, message in (("Li Wei", 20_000, "Get well soon!"), ("", 10_000, "")):
            earlier, _url = service.start_donation(campaign, None, amount, display_name=name, message=message)
            get_provider().pay(earlier.provider_payment_id)
            db.session.commit()
    campaign_id = campaign.id
    # End this thread's transaction: on SQLite every transaction begins IMMEDIATE (a write lock), and the
    # server thread must be able to write.
    db.session.close()

    context = browser.new_context(viewport=PHONE, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    # The campaign page: raised of target, donors, the Give button, the recent gifts with masked names.
    page.goto(f"{live_server}/campaigns/{campaign_id}")
    panel = page.locator(".donate-panel")
    assert panel.get_by_text("¥300").is_visible()
    assert panel.get_by_text("2 donors").is_visible()
    assert page.locator(".gift-list").get_by_text("L**", exact=True).is_visible()
    assert "Li Wei" not in page.content()
    shoot(page, artifacts, "donor-0-campaign")

    page.get_by_role("link", name="Give", exact=True).click()
    assert page.url.endswith(f"/campaigns/{campaign_id}/donate")
    assert page.get_by_text("SANDBOX — no real money").is_visible()
    shoot(page, artifacts, "donor-1-form")

    # An amount with three decimals is explained and nothing is created.
    page.fill("input[name=custom_amount]", "12.345")
    page.fill("input[name=display_name]", "Zhang San")
    page.fill("textarea[name=message]", "Stay strong, Xiaoming.")
    page.fill("input[name=email]", "zhang.san@example.cn")
    with page.expect_navigation():
        page.get_by_role("button", name="Continue to payment").click()
    assert page.locator("p.error", has_text="Use at most two decimals").is_visible()
    assert page.input_value("input[name=custom_amount]") == "12.345"
    shoot(page, artifacts, "donor-2-form-error")

    # 50 yuan from the presets; the other fields were kept.
    page.fill("input[name=custom_amount]", "")
    page.locator("label.preset", has_text=re.compile(r"^¥50$")).click()
    assert page.is_checked("input[name=preset][value='5000']")
    assert page.input_value("input[name=email]") == "zhang.san@example.cn"
    page.locator("label.option-card", has_text="relief pool").click()
    with page.expect_navigation():
        page.get_by_role("button", name="Continue to payment").click()
    assert re.search(r"/sandbox/checkout/sbpi_[0-9a-f]+$", page.url), page.url
    assert page.get_by_text("SANDBOX — no real money").first.is_visible()
    shoot(page, artifacts, "donor-3-checkout")

    with page.expect_navigation():
        page.get_by_role("button", name="Pay (succeeds)").click()
    assert re.search(r"/donations/\d+\?t=[0-9a-f]+$", page.url), page.url
    assert page.get_by_role("heading", name="Thank you").is_visible()
    receipt = page.locator("dl.receipt")
    db.session.expire_all()
    donation = db.session.scalars(select(Donation).order_by(Donation.id.desc())).first()
    assert donation is not None
    assert donation.status == "succeeded"
    assert donation.amount_fen == 5_000
    assert receipt.get_by_text(donation.receipt_number).is_visible()
    assert receipt.get_by_text("¥50", exact=True).is_visible()
    assert page.get_by_text("paid only to the hospital", exact=False).first.is_visible()
    assert donation.surplus_choice == "relief_pool"
    assert donation.receipt_email == "zhang.san@example.cn"
    db.session.close()
    shoot(page, artifacts, "donor-4-receipt")

    # Back on the campaign page the gift is counted and listed, masked.
    page.get_by_role("link", name="Help Xiaoming beat leukaemia").first.click()
    assert page.locator(".donate-panel").get_by_text("¥350").is_visible()
    assert page.locator(".gift-list").get_by_text("Stay strong, Xiaoming.").is_visible()
    assert page.locator(".gift-list").get_by_text("Z**", exact=True).is_visible()

    page.get_by_role("link", name=re.compile("public ledger")).first.click()
    assert page.get_by_role("heading", name="Public ledger of the campaign's fund").is_visible()
    assert page.locator(".ledger-table tbody tr").count() == 6  # three gifts, three fees
    shoot(page, artifacts, "donor-5-ledger")
    assert errors == []
    context.close()

"""The whole money path walked in a real browser, by the people who walk it: a guest gives (choosing the relief
pool for what may be left), a matching run offers a relief project's support and its charity approves it, the
family asks for a payment with the bill attached, it shows on the public page in its notice, two charity staff
approve it (it is above the two-approver threshold), a finance member records the transfer, the public page
shows the use of funds, and the family closes out with custodian staff settling what is left — the guest's
receipt then says where the rest of the gift went. Screenshots go to test-artifacts/."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from fundraise import ledger
from fundraise.extensions import db
from fundraise.models import Disbursement, Offer, OfferStatus, User
from fundraise.services import matching_runs, relief_projects
from fundraise.services.disbursement_invariants import check_disbursements
from tests.disbursements.world import pdf_bill, world
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}


def _signed_in(browser: Any, live_server: str, email: str) -> Any:
    context = browser.new_context(viewport=PHONE, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{live_server}/language/en?next=/login")
    page.goto(f"{live_server}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    return page


def test_request_notice_two_approvals_payment_use_of_funds_and_close_out(
    app: Flask, live_server: str, browser: Any, artifacts: Path, tmp_path: Path
) -> None:
    with app.test_request_context():  # the sandbox provider builds its checkout address
        w = world(app, gifts=(3_000_000, 3_000_000))
    project_staff = UserFactory(charity_staff=True)
    db.session.commit()
    relief_projects.create_project(
        project_staff,
        {
            "name": "大病患者救助项目",
            "rules": {"max_age": 100},
            "per_case_cap_fen": 1_000_000,
            "deposit_fen": 5_000_000,
            "deposit_reference": "BANK-WALK-0001",
        },
    )
    people = {name: getattr(w, name).email for name in ("family", "approver", "second", "finance")}
    people["project_staff"] = project_staff.email
    campaign_id = w.campaign.id
    bill = tmp_path / "bill.pdf"
    bill.write_bytes(pdf_bill().data)
    db.session.close()

    # A guest gives 500 yuan and leaves what may be left to the relief pool.
    guest = browser.new_context(viewport=PHONE, locale="en-GB").new_page()
    guest.goto(f"{live_server}/language/en?next=/campaigns/{campaign_id}/donate")
    guest.fill("input[name=custom_amount]", "500")
    guest.fill("input[name=email]", "guest@example.cn")
    guest.locator("label.option-card", has_text="relief pool").click()
    with guest.expect_navigation():
        guest.get_by_role("button", name="Continue to payment").click()
    with guest.expect_navigation():
        guest.get_by_role("button", name="Pay (succeeds)").click()
    receipt_url = guest.url
    assert guest.get_by_role("heading", name="Thank you").is_visible()

    # The matching run offers the relief project's support; its charity approves the offer.
    with app.app_context():
        run, _started = matching_runs.start_run(db.session.get_one(User, project_staff.id), queue_job=False)
        matching_runs.execute_run(run.id)
        db.session.close()
    charity = _signed_in(browser, live_server, people["project_staff"])
    charity.goto(f"{live_server}/relief/offers")
    charity.check("input[name=offer_ids]")
    charity.get_by_role("button", name="Apply to chosen offers").click()
    charity.wait_for_load_state()
    with app.app_context():
        assert db.session.scalars(db.select(Offer.status)).all() == [OfferStatus.APPROVED]
        db.session.close()

    family = _signed_in(browser, live_server, people["family"])
    family.goto(f"{live_server}/campaigns/{campaign_id}/disbursements/new")
    family.fill("input[name=amount]", "55000")
    family.fill("input[name=bill_total]", "60000")
    family.fill("input[name=purpose]", "第一次住院结算（化疗）")
    family.set_input_files("input[name=bill]", str(bill))
    family.locator("form[enctype] button[type=submit]").click()
    family.wait_for_url("**/disbursements/*")
    assert "In public notice" in family.content()
    disbursement_id = int(family.url.rstrip("/").split("/")[-1])
    family.screenshot(path=str(artifacts / "payout-requested-390.png"), full_page=True)

    public = browser.new_context(viewport=PHONE, locale="en-GB").new_page()
    public.goto(f"{live_server}/language/en?next=/campaigns/{campaign_id}")
    assert "Object to this payment" in public.content()

    with app.app_context():  # the notice period passes
        d = db.session.get_one(Disbursement, disbursement_id)
        d.notice_ends_at = d.notice_ends_at - timedelta(days=2)
        db.session.commit()
        db.session.close()

    for who in ("approver", "second"):
        page = _signed_in(browser, live_server, people[who])
        page.goto(f"{live_server}/disbursements/{disbursement_id}")
        page.get_by_role("button", name="Approve this disbursement").click()
        page.wait_for_load_state()
    assert "Approved, to be paid" in page.content()

    finance = _signed_in(browser, live_server, people["finance"])
    finance.goto(f"{live_server}/disbursements/{disbursement_id}")
    finance.fill("input[name=pay-reference]", "HX-20261203-0001")
    finance.get_by_role("button", name="Record payment").click()
    finance.wait_for_load_state()
    assert "Paid to the hospital" in finance.content()

    public.goto(f"{live_server}/campaigns/{campaign_id}")
    content = public.content()
    assert "Paid to the hospital" in content
    assert "¥55,000" in content
    public.screenshot(path=str(artifacts / "payout-use-of-funds-390.png"), full_page=True)

    family.goto(f"{live_server}/family/campaigns/{campaign_id}/close-out")
    family.set_input_files("input[name=bill]", str(bill))
    family.get_by_role("button", name="Ask to close out").click()
    family.wait_for_load_state()
    custodian = _signed_in(browser, live_server, people["approver"])
    custodian.goto(f"{live_server}/family/campaigns/{campaign_id}/close-out")
    custodian.get_by_role("button", name="Settle what is left").click()
    custodian.wait_for_load_state()
    custodian.screenshot(path=str(artifacts / "payout-close-out-390.png"), full_page=True)

    guest.goto(receipt_url)
    assert "moved to the relief pool" in guest.content()

    with app.app_context():
        assert ledger.balance(ledger.campaign_fund(campaign_id)) == 0
        assert ledger.verify()[1] == []
        assert check_disbursements()[1] == []

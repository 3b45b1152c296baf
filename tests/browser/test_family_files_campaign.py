"""A family registers, files a campaign through every step in a real browser, submits it, and sees it
awaiting review. Screenshots at phone (390px) and desktop (1280px) widths go to test-artifacts/."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

from fundraise.extensions import db
from fundraise.models import Campaign
from verification.identity import make_resident_id

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
ID_NUMBER = make_resident_id("341221", date(2019, 5, 1), "M", 11)


def pdf(title: str) -> dict[str, Any]:
    body = f"%PDF-1.4\n1 0 obj << /Title ({title}) >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n".encode()
    return {"name": f"{title}.pdf", "mimeType": "application/pdf", "buffer": body}


def png(name: str, colour: tuple[int, int, int]) -> dict[str, Any]:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), colour).save(out, format="PNG")
    return {"name": name, "mimeType": "image/png", "buffer": out.getvalue()}


def shoot(page: Any, folder: Path, name: str) -> None:
    for size in (PHONE, DESKTOP):
        page.set_viewport_size(size)
        page.screenshot(path=str(folder / f"{name}-{size['width']}.png"), full_page=True)
    page.set_viewport_size(PHONE)


def save_and_continue(page: Any) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name="Save and continue").click()


def test_family_files_a_campaign_in_the_browser(app, live_server, browser, artifacts):
    context = browser.new_context(viewport=PHONE, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    # Register as a family.
    page.goto(f"{live_server}/register")
    page.check("input[name=role][value=family]")
    page.fill("input[name=name]", "Zhang Li")
    page.fill("input[name=email]", "zhang.li@example.cn")
    page.fill("input[name=password]", "a long enough password")
    page.fill("input[name=confirm]", "a long enough password")
    page.check("input[name=accept_truth]")
    with page.expect_navigation():
        page.get_by_role("button", name="Create account").click()
    assert page.url.endswith("/family/")
    shoot(page, artifacts, "family-0-dashboard-empty")

    # Step 1: the patient.
    page.get_by_role("link", name="Start a campaign").first.click()
    page.fill("input[name=patient_name]", "Wang Xiaoming")
    page.fill("input[name=patient_id_number]", ID_NUMBER)
    page.select_option("select[name=patient_region_code]", "341221")
    page.select_option("select[name=relationship]", "parent")
    shoot(page, artifacts, "family-1-patient")
    save_and_continue(page)
    assert re.search(r"/family/campaigns/\d+/edit/diagnosis$", page.url), page.url

    # Step 2: diagnosis and hospital.
    page.fill("input[name=diagnosis_icd10]", "C91.0")
    page.fill("input[name=diagnosis_text]", "Acute lymphoblastic leukaemia")
    page.select_option("select[name=hospital_code]", "AH-PROV")
    page.fill("input[name=admitted_on]", (date.today() - timedelta(days=14)).isoformat())
    page.fill("textarea[name=treatment_plan]", "Induction chemotherapy, then two years of maintenance.")
    shoot(page, artifacts, "family-2-diagnosis")
    save_and_continue(page)

    # Step 3: costs, first with a mistake that is explained and kept on the page.
    page.fill("input[name=cost_total_fen]", "400,000")
    page.fill("input[name=cost_in_policy_fen]", "300000")
    page.fill("input[name=target_fen]", "-150000")
    page.fill("input[name=household_income_fen]", "48000")
    page.fill("input[name=household_size]", "4")
    page.check("input[name=owns_house][value=yes]")
    page.fill("input[name=house_note]", "Village house, self-built")
    page.check("input[name=owns_car][value=no]")
    page.fill("input[name=savings_fen]", "5000")
    page.fill("input[name=commercial_insurance_fen]", "0")
    page.fill("input[name=other_fundraising_fen]", "0")
    save_and_continue(page)
    assert page.locator("p.error", has_text="The amount cannot be negative.").is_visible()
    assert page.input_value("input[name=cost_total_fen]") == "400,000"
    shoot(page, artifacts, "family-3-costs-error")
    page.fill("input[name=target_fen]", "150000")
    save_and_continue(page)

    # Step 4: story and photos.
    page.fill("input[name=title]", "Help Xiaoming beat leukaemia")
    page.fill(
        "textarea[name=story]", "Xiaoming is seven. He was diagnosed in September and is in chemotherapy."
    )
    page.set_input_files(
        "input[name=photo]", files=[png("xiaoming.png", (40, 120, 90)), png("ward.png", (200, 160, 60))]
    )
    save_and_continue(page)

    # Step 5: evidence documents. A program renamed .pdf is refused by its content, and nothing is stored.
    fake = {"name": "diagnosis.pdf", "mimeType": "application/pdf", "buffer": b"MZ\x90\x00" + b"\x00" * 64}
    page.set_input_files("input[name=diagnosis]", files=[fake])
    page.set_input_files("input[name=cost_estimate]", files=[pdf("cost-estimate")])
    with page.expect_navigation():
        page.get_by_role("button", name="Upload", exact=True).click()
    assert page.locator("p.error", has_text="diagnosis.pdf is not a PDF, JPEG or PNG file").is_visible()
    assert page.locator(".file-list").count() == 0
    shoot(page, artifacts, "family-5-documents-error")
    # Then the real files, uploaded and listed before moving on.
    page.set_input_files("input[name=diagnosis]", files=[pdf("diagnosis-certificate")])
    page.set_input_files("input[name=cost_estimate]", files=[pdf("cost-estimate")])
    page.set_input_files(
        "input[name=identity]", files=[png("id-card.png", (10, 10, 10)), pdf("birth-certificate")]
    )
    with page.expect_navigation():
        page.get_by_role("button", name="Upload", exact=True).click()
    assert page.get_by_role("link", name="diagnosis-certificate.pdf").is_visible()
    shoot(page, artifacts, "family-5-documents")
    with page.expect_navigation():
        page.get_by_role("button", name="Save and review").click()

    # Step 6: review everything, then submit.
    assert re.search(r"/review$", page.url), page.url
    assert ID_NUMBER not in page.content()
    photos_loaded = page.eval_on_selector_all(
        ".gallery img", "imgs => imgs.map(i => i.complete && i.naturalWidth > 0)"
    )
    assert photos_loaded == [True, True]
    shoot(page, artifacts, "family-6-review")
    # The two consents, each on its own form and nothing ticked in advance: a parent's, for a child under 14.
    for purpose in ("sensitive_processing", "public_page"):
        form = page.locator(f"form[action$='/consent/{purpose}']")
        if purpose == "sensitive_processing":
            form.locator(f"input[name='{purpose}-guardian_relationship'][value=parent]").check()
        form.locator(f"input[name='{purpose}-agree']").check()
        with page.expect_navigation():
            form.get_by_role("button", name="Give this consent").click()
        assert re.search(r"/review(#consent)?$", page.url), page.url
    assert page.get_by_text("Everything needed is filled in.").is_visible()
    shoot(page, artifacts, "family-6-consents")
    with page.expect_navigation():
        page.get_by_role("button", name="Submit for verification").click()

    # The dashboard: awaiting a reviewer, with the notification.
    assert page.url.endswith("/family/")
    assert page.locator(".badge", has_text="Awaiting review").first.is_visible()
    assert page.get_by_text("is now: Awaiting review").first.is_visible()
    shoot(page, artifacts, "family-7-dashboard-submitted")
    assert errors == []

    db.session.expire_all()
    campaign = db.session.scalars(select(Campaign)).one()
    assert campaign.state == "needs_review"
    assert campaign.target_fen == 150_000_00
    assert len(campaign.photos) == 2
    assert len(campaign.evidence) == 4
    context.close()


def test_social_worker_opens_an_account_for_a_family_and_confirms_the_stay(
    app, live_server, browser, artifacts
):
    from tests.factories import PASSWORD, user_of_role

    worker = user_of_role("social_worker")
    db.session.commit()
    email = worker.email
    # End this thread's transaction: on SQLite every transaction begins IMMEDIATE (a write lock), and the
    # server thread must be able to write.
    db.session.close()
    context = browser.new_context(viewport=PHONE, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(15_000)

    page.goto(f"{live_server}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.locator("main button[type=submit]").click()
    assert page.url.endswith("/hospital/")

    page.get_by_role("link", name="File for a family").click()
    page.fill("input[name=email]", "wang.fang@example.cn")
    page.fill("input[name=name]", "Wang Fang")
    page.fill("input[name=phone]", "138 0000 1234")
    with page.expect_navigation():
        page.get_by_role("button", name="Continue").click()
    password = page.locator("code.token").inner_text().strip()
    assert len(password) >= 10
    shoot(page, artifacts, "sw-1-account-opened")

    page.get_by_role("link", name="Continue: the patient").click()
    page.fill("input[name=patient_name]", "Wang Xiaohong")
    page.fill("input[name=patient_id_number]", make_resident_id("341221", date(2016, 3, 8), "F", 24))
    page.select_option("select[name=patient_region_code]", "341221")
    page.select_option("select[name=relationship]", "parent")
    save_and_continue(page)
    assert page.locator("select[name=hospital_code] option").all_inner_texts() == [
        "Anhui Provincial Hospital (tertiary)"
    ]
    page.fill("input[name=diagnosis_icd10]", "Q21.0")
    page.fill("input[name=admitted_on]", (date.today() - timedelta(days=3)).isoformat())
    save_and_continue(page)
    page.fill("input[name=cost_total_fen]", "80000")
    with page.expect_navigation():
        page.get_by_role("button", name="Save and finish later").click()
    assert page.url.endswith("/hospital/")
    assert page.get_by_text("You filed this campaign for the family.").is_visible()
    with page.expect_navigation():
        page.get_by_role("button", name="Confirm stay and cost estimate").click()
    assert page.locator(".badge", has_text="Confirmed").first.is_visible()
    shoot(page, artifacts, "sw-2-dashboard")
    context.close()

"""Layout on a phone: a campaign page whose donor chose a 64-character name still fits 390 px (it once
scrolled sideways to 476 px), and no page asks for something the server does not have (the favicon 404 every
page logged)."""

from __future__ import annotations

from typing import Any

import pytest

from fundraise.extensions import db
from tests.web.donations import fundraising, pay_directly

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}


def test_a_long_donor_name_does_not_widen_the_campaign_page_and_nothing_is_missing(
    app: Any, live_server: str, browser: Any
) -> None:
    with app.test_request_context():
        campaign = fundraising(target_fen=10_000_000)
        pay_directly(campaign, 500, display_name="W" + "x" * 63, message="加油" * 50)
        pay_directly(campaign, 500, display_name="<" + "y" * 63)
        db.session.commit()
        campaign_id = campaign.id
    db.session.close()

    page = browser.new_page(viewport=PHONE)
    failed: list[str] = []
    page.on(
        "response",
        lambda response: (
            failed.append(f"{response.status} {response.url}") if response.status >= 400 else None
        ),
    )
    for path in (f"/campaigns/{campaign_id}", f"/campaigns/{campaign_id}/donations", "/campaigns", "/"):
        page.goto(f"{live_server}{path}")
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width} px wide on a {PHONE['width']} px screen"
    assert page.locator("link[rel=icon]").count() == 1
    assert failed == []
    page.close()

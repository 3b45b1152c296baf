"""Pasting more than a text box takes keeps the whole text and says how much too long it is (the donor
message once cut at 200 characters without a word)."""

from __future__ import annotations

from typing import Any

import pytest

from fundraise.extensions import db
from tests.web.donations import fundraising

pytestmark = pytest.mark.browser


def test_a_pasted_message_too_long_is_kept_and_counted(app: Any, live_server: str, browser: Any) -> None:
    with app.test_request_context():
        campaign = fundraising()
        db.session.commit()
        campaign_id = campaign.id
    db.session.close()
    page = browser.new_page(viewport={"width": 390, "height": 844}, locale="en")
    page.goto(f"{live_server}/campaigns/{campaign_id}/donate")
    counter = page.locator("#message-count")
    assert counter.inner_text() == "0 / 200"
    page.locator("#message").fill("好" * 150)
    assert counter.inner_text() == "150 / 200"
    page.locator("#message").fill("好" * 250)
    assert len(page.locator("#message").input_value()) == 250
    assert counter.inner_text() == "50 characters too many: shorten it before sending."
    assert "over" in (counter.get_attribute("class") or "")
    page.close()

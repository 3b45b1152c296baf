"""The family's dashboard shows, for each campaign taking gifts, what was raised, what is still needed and the
latest gifts (issue 14): the family should not have to open the public page to know where they stand."""

from __future__ import annotations

from flask import Flask

from tests.factories import PASSWORD
from tests.web.donations import english, fundraising, pay_directly


def test_raised_remaining_and_recent_gifts(app: Flask) -> None:
    campaign = fundraising(target_fen=1_000_000)
    pay_directly(campaign, 250_000, display_name="王五", message="早日康复")
    client = english(app.test_client())
    client.post("/login", data={"email": campaign.applicant.email, "password": PASSWORD})
    page = client.get("/family/").get_data(as_text=True)
    assert "Raised ¥2,500 of ¥10,000; ¥7,500 still needed." in page
    assert "Recent gifts" in page
    assert "早日康复" in page
    assert "王五" not in page  # masked, as on the public page

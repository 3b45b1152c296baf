"""Past the limit on gifts started from one connection (10 a minute), the donate form comes back as it was
typed, saying when to send it again, with Retry-After: it once answered with an error page and the
typed form was lost."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.web.donations import donation_count, fundraising, give, text


@pytest.fixture
def app_settings() -> dict[str, Any]:
    return {"RATELIMIT_ENABLED": True}


def test_the_eleventh_try_in_a_minute_keeps_the_form_and_says_when(client: FlaskClient) -> None:
    campaign = fundraising()
    for _ in range(10):  # refused for its own reason (no e-mail), each still counted
        assert give(client, campaign, email="").status_code == 422
    typed = {"display_name": "小王同学", "message": "早日康复，加油！", "preset": None, "custom_amount": "66"}
    response = give(client, campaign, **typed)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    page = text(response)
    assert "This connection sent the form many times in a short while." in page
    assert "again after" in page
    html = response.get_data(as_text=True)
    for value in ("小王同学", "早日康复，加油！", 'value="66"'):
        assert value in html
    assert donation_count() == 0

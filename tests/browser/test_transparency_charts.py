"""The transparency page's charts in a real browser: drawn at phone and desktop width without sideways
scrolling, with nothing fetched from anywhere but the app itself. Screenshots go to test-artifacts/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from fundraise.extensions import db
from fundraise.models import Donation
from fundraise.services import disbursements
from tests.disbursements.test_disbursement_flow import _end_notice
from tests.disbursements.world import give, world
from tests.factories import CampaignFactory, _disease_code_for

pytestmark = pytest.mark.browser
WIDTHS = (390, 1280)
# Provinces (a region code each) and diseases of the campaigns the page sums, with what each was given.
CASES = [
    ("440000", "C71", (880_000, 120_000)),
    ("110000", "I21", (2_300_000,)),
    ("650000", "C91.0", (45_600, 700_000)),
    ("510000", "C34", (1_250_000,)),
    ("450000", "N18.5", (99_900,)),
]


def _money_world(app: Any) -> None:
    w = world(app, gifts=(1_500_000, 600_000))
    for region, icd10, gifts in CASES:
        campaign = CampaignFactory(
            state="fundraising",
            patient_region_code=region,
            diagnosis_icd10=icd10,
            disease_range_id=_disease_code_for(icd10),
        )
        db.session.commit()
        for amount in gifts:
            give(campaign, amount)
    paid = w.request(1_200_000)
    _end_notice(paid.id)
    disbursements.approve(paid.id, w.approver)
    disbursements.record_payment(paid.id, w.finance, "HX20261203001")
    # Spread the gifts over the last months so the month chart has columns to draw.
    now = datetime.now(UTC)
    for i, gift in enumerate(db.session.scalars(select(Donation).order_by(Donation.id))):
        gift.confirmed_at = now - timedelta(days=31 * (i % 9))
    db.session.commit()


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_the_charts_fit_phone_and_desktop_and_need_no_network(
    app: Any, live_server: str, browser: Any, artifacts: Any, language: str
) -> None:
    with app.test_request_context():  # the services build links (receipts, notices) as in a request
        _money_world(app)
    db.session.close()

    for width in WIDTHS:
        _look_at(browser, f"{live_server}/transparency", language, width, artifacts)


def _look_at(browser: Any, url: str, language: str, width: int, artifacts: Path) -> None:
    """Open the page at this width, open its data tables, check the width and the requests, screenshot."""
    context = browser.new_context(
        viewport={"width": width, "height": 900}, extra_http_headers={"Accept-Language": language}
    )
    page = context.new_page()
    requested: list[str] = []
    failed: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on(
        "response",
        lambda response: (
            failed.append(f"{response.status} {response.url}") if response.status >= 400 else None
        ),
    )
    page.goto(url)
    page.wait_for_load_state("networkidle")
    # Open every data table too: a table must not widen the page either.
    for summary in page.locator("details.chart-data > summary").all():
        summary.click()
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"/transparency is {scroll_width} px wide on a {width} px screen"
    visible = [chart for chart in page.locator("svg.chart").all() if chart.is_visible()]
    ids = [chart.get_attribute("id") for chart in visible]
    # The months as columns on a wide screen, as bars on a phone.
    months = "chart-months-narrow" if width < 600 else "chart-months"
    assert ids == ["chart-provinces", "chart-diseases", months]
    for chart in visible:
        box = chart.bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= width
    page.screenshot(path=str(artifacts / f"transparency-{language}-{width}.png"), full_page=True)
    hosts = {urlsplit(url).hostname for url in requested}
    assert hosts == {"127.0.0.1"}, requested
    assert failed == []
    context.close()

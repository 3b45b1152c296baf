"""The civil-affairs officer's regional list in Chromium, in Chinese (issue 14): at 1280 px a patient's name
is one line (it once wrapped one character per line beside an 80-character title), the table needs no
sideways scrolling; at 390 px the rows are cards and the page does not scroll sideways."""

from __future__ import annotations

from typing import Any

import pytest

from fundraise.extensions import db
from tests.factories import PASSWORD, CampaignFactory, UserFactory

pytestmark = pytest.mark.browser
DESK = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
# The longest title the form takes (80 characters), without a space to break at.
LONG_TITLE = ("请帮助我们的女儿小红战胜急性髓系白血病她才九岁正在合肥接受化疗和骨髓移植" * 3)[:80]
NAMES = ("欧阳明月", "王小明", "李小红")

# Each name's line boxes (one per line it takes) and its line height.
NAME_BOXES = """() => Array.from(document.querySelectorAll(".region-table .patient-name")).map((name) => ({
  text: name.textContent,
  lines: name.getClientRects().length,
  height: name.getBoundingClientRect().height,
  lineHeight: parseFloat(getComputedStyle(name).lineHeight),
}))"""


def _signed_in_page(browser: Any, live_server: str, email: str, screen: dict[str, int]) -> Any:
    page = browser.new_page(viewport=screen)
    page.goto(f"{live_server}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    return page


def test_the_region_list_keeps_names_whole_at_desk_width_and_fits_a_phone(
    app: Any, live_server: str, browser: Any
) -> None:
    with app.test_request_context():
        officer = UserFactory(officer=True, jurisdiction_code="341200", locale="zh_CN")
        CampaignFactory(state="fundraising", title=LONG_TITLE, patient_name=NAMES[0])
        CampaignFactory(
            state="needs_review",
            title="Please help our son Wang Xiaoming beat acute lymphoblastic leukaemia this year",
            patient_name=NAMES[1],
        )
        CampaignFactory(state="verified", patient_name=NAMES[2])
        db.session.commit()
        email = officer.email
    db.session.close()

    page = _signed_in_page(browser, live_server, email, DESK)
    page.goto(f"{live_server}/staff/region")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    names = page.evaluate(NAME_BOXES)
    assert sorted(name["text"] for name in names) == sorted(NAMES)
    for name in names:
        assert name["lines"] == 1, f"{name['text']} takes {name['lines']} lines at 1280 px"
        assert name["height"] < 2 * name["lineHeight"], name
    assert page.evaluate("document.documentElement.scrollWidth") <= DESK["width"]
    wrap = page.locator(".table-wrap").first
    assert wrap.evaluate("(el) => el.scrollWidth <= el.clientWidth"), "the table scrolls sideways at 1280 px"
    # Every row leads to the campaign's verification report.
    assert page.locator("a[href$='/verification']").count() == len(NAMES)
    page.close()

    page = _signed_in_page(browser, live_server, email, PHONE)
    page.goto(f"{live_server}/staff/region")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the region list is {width} px wide on a {PHONE['width']} px screen"
    # Still cards on a phone: the table's head is hidden and each cell is labelled.
    assert not page.locator(".region-table thead").is_visible()
    page.close()

"""axe-core (vendored: tests/browser/vendor, MPL-2.0) over the pages each role works on, in both languages, at
phone and desk width, in Chromium: any WCAG 2.1 A or AA violation fails, named with the page and the element."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from fundraise.extensions import db
from fundraise.models import Campaign, CampaignReport, Disbursement
from fundraise.services.demo import DEMO_PASSWORD, seed_demo

pytestmark = pytest.mark.browser
AXE = Path(__file__).parent / "vendor" / "axe-4.14.1.min.js"
WIDTHS = (390, 1280)
LANGUAGES = ("zh_CN", "en")
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def _pages() -> dict[str | None, list[str]]:
    def first(model: Any, *where: Any) -> int:
        return int(db.session.scalar(select(model.id).where(*where).order_by(model.id)) or 1)

    campaign = first(Campaign, Campaign.state == "fundraising")
    review = first(Campaign, Campaign.state == "needs_review")
    return {
        None: [
            "/",
            "/campaigns",
            f"/campaigns/{campaign}",
            f"/campaigns/{campaign}/donate",
            "/login",
            "/transparency",
            "/privacy",
        ],
        "family1": [
            "/family/",
            f"/family/campaigns/{campaign}/close-out",
            "/family/consents",
            "/account/data",
            "/account/data/delete",
        ],
        "donor": ["/me/donations"],
        "socialworker": ["/hospital/"],
        "staff": [
            "/staff/",
            f"/staff/reviews/{review}",
            f"/staff/reports/{first(CampaignReport)}",
            "/staff/disbursements",
            f"/disbursements/{first(Disbursement)}",
            "/relief/offers",
        ],
        "officer": [
            "/staff/region",
            "/staff/register",
            f"/staff/register/{campaign}",
            "/staff/register/samples",
            "/staff/register/findings",
            "/staff/audit",
        ],
        "admin": ["/admin/users", "/admin/settlement-accounts", "/admin/deletion-requests"],
    }


def test_no_wcag_violations_on_the_pages_people_work_on(app: Flask, live_server: str, browser: Any) -> None:
    with app.test_request_context(base_url=live_server):
        seed_demo()
        pages = _pages()
    db.session.close()
    script = AXE.read_text(encoding="utf-8")
    violations: list[str] = []
    for local, paths in pages.items():
        context = browser.new_context(bypass_csp=True)  # axe is injected as an inline script
        # Photos are not fetched (nor the favicon: tests/browser/conftest.py): axe reads alt text, not pixels,
        # and a file the next navigation leaves half-read would leave the test server's file handle to the
        # garbage collector.
        context.route("**/documents/**", lambda route: route.abort())
        page = context.new_page()
        if local is not None:
            page.goto(f"{live_server}/login")
            page.fill("input[name=email]", f"{local}@demo.aidbridge.cn")
            page.fill("input[name=password]", DEMO_PASSWORD)
            page.click("button[type=submit]")
        for language in LANGUAGES:
            page.goto(f"{live_server}/language/{language}?next=/")
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 900})
                for path in paths:
                    page.goto(live_server + path)
                    page.add_script_tag(content=script)
                    found = page.evaluate(
                        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})"
                        ".then(r => r.violations.map(v => [v.id, v.nodes.map(n => n.target.join(' ')).slice(0, 3)]))",
                        TAGS,
                    )
                    for rule, targets in found:
                        violations.append(
                            f"{local or 'anonymous'} {language} {width}px {path}: {rule} {targets}"
                        )
        context.close()
    assert violations == [], "\n".join(violations)

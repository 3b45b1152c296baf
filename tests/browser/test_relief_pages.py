"""Charity staff's relief pages on a phone (390 px) and at desk width, in Chinese: none scrolls sideways, the
offers queue approves what was ticked, and the case's why shows each condition."""

from __future__ import annotations

from typing import Any

import pytest

from fundraise.extensions import db
from fundraise.models import Offer, OfferStatus
from fundraise.services import matching_runs, relief_projects
from tests.factories import PASSWORD, CampaignFactory, UserFactory

pytestmark = pytest.mark.browser
SCREENS = ({"width": 390, "height": 844}, {"width": 1280, "height": 900})


def test_relief_pages_fit_and_the_queue_approves(app: Any, live_server: str, browser: Any) -> None:
    with app.test_request_context():
        child = CampaignFactory(state="fundraising")
        worker = UserFactory(charity_staff=True, locale="zh_CN")
        db.session.commit()
        project = relief_projects.create_project(
            worker,
            {
                "name": "白血病患儿救助（一个很长的项目名称，用来检查在手机上是否换行）",
                "rules": {"disease_categories": ["leukemia"], "max_age": 14, "region_prefixes": ["34"]},
                "per_case_cap_fen": 3_000_000,
                "deposit_fen": 10_000_000,
                "deposit_reference": "BANK-20261203-0001",
            },
        )
        run, _started = matching_runs.start_run(worker, queue_job=False)
        matching_runs.execute_run(run.id)
        ids = {"campaign": child.id, "project": project.id, "run": run.id, "email": worker.email}
    db.session.close()

    for screen in SCREENS:
        page = browser.new_page(viewport=screen)
        page.goto(f"{live_server}/login")
        page.fill("input[name=email]", ids["email"])
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        for path in (
            "/relief/offers",
            "/relief/projects",
            "/relief/projects/new",
            f"/relief/projects/{ids['project']}",
            "/relief/runs",
            f"/relief/runs/{ids['run']}",
            f"/relief/cases/{ids['campaign']}/why",
        ):
            page.goto(f"{live_server}{path}")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= screen["width"], f"{path} is {width} px wide on a {screen['width']} px screen"
            assert page.locator("html").get_attribute("lang") == "zh-CN"
        page.close()

    page = browser.new_page(viewport=SCREENS[0])
    page.goto(f"{live_server}/login")
    page.fill("input[name=email]", ids["email"])
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server}/relief/cases/{ids['campaign']}/why")
    assert "符合条件" in page.content()
    page.goto(f"{live_server}/relief/offers")
    page.check("input[name=offer_ids]")
    page.click("text=应用到选中的提议")
    page.wait_for_load_state("networkidle")
    assert "已批准 1 项资助提议" in page.content()
    page.close()
    with app.app_context():
        assert db.session.scalars(db.select(Offer.status)).all() == [OfferStatus.APPROVED]

"""Issue 14: a civil-affairs officer reads the verification report of a campaign whose patient is registered
in their region, on a page of its own and read-only; officers of other regions are refused, and the
reviewer's actions stay closed to officers."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from fundraise.extensions import db
from fundraise.jobs.outbox import relay
from fundraise.models import Campaign, VerificationReport
from fundraise.services.verification import verify_campaign
from fundraise.states import PUBLIC_STATES
from tests.factories import PASSWORD, CampaignFactory, UserFactory
from tests.verification.records import civil_affairs_row, import_rows, insured, submitted_case

POSTING_FORM = re.compile(r"<form\b[^>]*method=\"post\"[^>]*>", re.IGNORECASE)


def officer_of(app: Flask, jurisdiction_code: str) -> FlaskClient:
    officer = UserFactory(officer=True, jurisdiction_code=jurisdiction_code)
    db.session.commit()
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    assert client.post("/login", data={"email": officer.email, "password": PASSWORD}).status_code == 302
    return client


def report_url(campaign: Campaign) -> str:
    return f"/staff/region/campaigns/{campaign.id}/verification"


def posting_forms(html: str) -> list[str]:
    """Every form on the page that posts, except the header's sign-out."""
    return [form for form in POSTING_FORM.findall(html) if 'action="/logout"' not in form]


def linquan_case_with_a_changed_outcome() -> Campaign:
    """A Linquan (341221) case checked on submission, then again after a civil-affairs import changed the
    outcome: the reviewer's panel would offer "Mark as seen" and "Run the checks again"."""
    campaign = submitted_case()
    insured(campaign)
    verify_campaign(campaign.id, trigger="submission")
    import_rows("civil_affairs", [civil_affairs_row(campaign, "dibao")])
    relay()
    db.session.commit()
    return campaign


def test_an_officer_of_the_region_reads_the_report_with_its_checks_and_nothing_to_post(app: Flask) -> None:
    campaign = linquan_case_with_a_changed_outcome()
    latest = db.session.scalar(select(VerificationReport).order_by(VerificationReport.id.desc()).limit(1))
    assert latest is not None
    assert latest.changed_outcome
    officer = officer_of(app, "341200")  # Fuyang, which holds Linquan county

    page = officer.get(report_url(campaign))

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Verification report" in html
    assert campaign.patient_name in html
    assert "Automatic checks" in html
    assert 'class="check-list"' in html  # the checks, each with its status
    assert "check-item" in html
    assert "Passed" in html
    assert f"YB-{campaign.id}" in html  # the records the checks used
    assert "The outcome changed from" in html  # the change is shown…
    assert "Mark as seen" not in html  # …but not acknowledged from here
    assert "Run the checks again" not in html
    assert "Record the decision" not in html
    assert posting_forms(html) == []
    assert "<button" not in html.replace('<button class="link" type="submit">Sign out</button>', "")
    assert page.headers["Cache-Control"] == "no-store"

    # The regional list leads there.
    assert report_url(campaign) in officer.get("/staff/region").get_data(as_text=True)


def test_a_case_without_a_report_says_so(app: Flask) -> None:
    campaign = submitted_case()
    db.session.commit()
    page = officer_of(app, "341200").get(report_url(campaign))
    assert page.status_code == 200
    assert "No report yet" in page.get_data(as_text=True)


def test_an_officer_of_another_region_is_refused(app: Flask) -> None:
    campaign = submitted_case()  # Linquan (341221), not public
    verify_campaign(campaign.id, trigger="submission")
    public = CampaignFactory(state="fundraising")  # Linquan too, and public
    db.session.commit()
    assert campaign.state not in PUBLIC_STATES
    gansu = officer_of(app, "620000")

    # A case the officer may not see at all is not found, as on every page; a public one is refused.
    assert gansu.get(report_url(campaign)).status_code == 404
    refused = gansu.get(report_url(public))
    assert refused.status_code == 403
    assert "not registered in your region" in refused.get_data(as_text=True)
    assert gansu.get("/staff/region/campaigns/99999/verification").status_code == 404


def test_other_roles_are_refused_as_before(app: Flask, login: Any, client: FlaskClient) -> None:
    campaign = submitted_case()
    verify_campaign(campaign.id, trigger="submission")
    db.session.commit()
    assert client.get(report_url(campaign)).status_code == 302  # a guest is sent to sign in
    login(UserFactory(charity_staff=True))
    assert client.get(report_url(campaign)).status_code == 403  # staff have the review page


def test_the_reviewers_actions_stay_closed_to_the_officer(app: Flask) -> None:
    campaign = linquan_case_with_a_changed_outcome()
    state = campaign.state
    reports = db.session.scalar(select(func.count(VerificationReport.id)))
    latest = db.session.scalar(select(VerificationReport).order_by(VerificationReport.id.desc()).limit(1))
    assert latest is not None
    officer = officer_of(app, "341200")

    decided = officer.post(
        f"/staff/reviews/{campaign.id}/decide",
        data={"decision": "approve", "reason": "诊断证明、费用清单与医院记录一致，家庭收入与低保记录相符。"},
    )
    assert decided.status_code == 403
    assert officer.get(f"/staff/reviews/{campaign.id}").status_code == 403
    assert officer.post(f"/staff/reviews/{campaign.id}/verify-again").status_code == 403
    assert officer.post(f"/staff/verification/reports/{latest.id}/acknowledge").status_code == 403

    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).state == state  # type: ignore[union-attr]
    assert db.session.scalar(select(func.count(VerificationReport.id))) == reports
    assert db.session.get(VerificationReport, latest.id).acknowledged_at is None  # type: ignore[union-attr]

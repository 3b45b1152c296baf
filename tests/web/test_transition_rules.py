"""Every rule of a campaign transition lives in the state machine, so the staff pages and the API refuse and
allow exactly the same moves (the API used to reinstate a campaign with reports still open, and took a
one-word reason)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from fundraise.extensions import db
from fundraise.models import Campaign, CampaignReport, ReportStatus
from fundraise.services import accounts
from fundraise.services.transitions import DECISION_REASON_MIN, TRANSITIONS
from tests.factories import CampaignFactory, UserFactory

GOOD_REASON = "查明举报不实，已恢复筹款。"  # 13 characters
SHORT_REASON = "好的"

# Each staff transition that needs a written reason, from a state it leaves.
STAFF_DECISIONS = {"verify": "needs_review", "reject": "needs_review", "suspend": "fundraising"}


def _bearer(user: Any) -> dict[str, str]:
    _token, plaintext = accounts.create_token(user, "rules")
    return {"Authorization": f"Bearer {plaintext}"}


def _suspended_with_open_report() -> tuple[Campaign, CampaignReport]:
    campaign = CampaignFactory(state="suspended", state_before_suspension="fundraising")
    report = CampaignReport(campaign_id=campaign.id, reason="other", details="details of the report")
    db.session.add(report)
    db.session.commit()
    return campaign, report


def _resolve(report: CampaignReport) -> None:
    report.status = ReportStatus.DISMISSED
    report.resolution = "nothing in it"
    db.session.commit()


def test_decision_reasons_have_one_minimum():
    assert len(GOOD_REASON) >= DECISION_REASON_MIN > len(SHORT_REASON)
    assert {name for name, rule in TRANSITIONS.items() if rule.reason_min == DECISION_REASON_MIN} == {
        "verify",
        "reject",
        "suspend",
        "reinstate",
    }


def test_the_api_does_not_reinstate_while_a_report_is_open(app: Flask) -> None:
    staff = UserFactory(charity_staff=True)
    campaign, report = _suspended_with_open_report()
    client = app.test_client()
    url = f"/api/v1/campaigns/{campaign.id}/transitions/reinstate"

    refused = client.post(url, json={"reason": GOOD_REASON}, headers=_bearer(staff))
    assert refused.status_code == 409
    assert "Resolve every open report" in refused.get_json()["detail"]
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).state == "suspended"

    _resolve(report)
    short = client.post(url, json={"reason": SHORT_REASON}, headers=_bearer(staff))
    assert short.status_code == 422
    assert "reason" in short.get_json()["errors"]
    done = client.post(url, json={"reason": GOOD_REASON}, headers=_bearer(staff))
    assert done.status_code == 200
    assert done.get_json()["state"] == "fundraising"


def test_the_page_and_the_api_refuse_a_reinstatement_the_same_way(app: Flask, client, login) -> None:
    staff = UserFactory(charity_staff=True)
    campaign, report = _suspended_with_open_report()
    login(staff)

    page = client.post(f"/staff/reports/{report.id}/reinstate", data={"reason": GOOD_REASON})
    api = app.test_client().post(
        f"/api/v1/campaigns/{campaign.id}/transitions/reinstate",
        json={"reason": GOOD_REASON},
        headers=_bearer(staff),
    )
    assert page.status_code == 302
    assert api.status_code == 409
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).state == "suspended"


@pytest.mark.parametrize("name", sorted(STAFF_DECISIONS))
def test_every_staff_decision_needs_the_same_written_reason_through_the_api(app: Flask, name: str) -> None:
    staff = UserFactory(charity_staff=True)
    campaign = CampaignFactory(state=STAFF_DECISIONS[name])
    db.session.commit()
    url = f"/api/v1/campaigns/{campaign.id}/transitions/{name}"
    client = app.test_client()

    for reason in ("", SHORT_REASON):
        response = client.post(url, json={"reason": reason}, headers=_bearer(staff))
        assert response.status_code == 422, (reason, response.get_json())
        assert "reason" in response.get_json()["errors"]
    assert client.post(url, json={"reason": GOOD_REASON}, headers=_bearer(staff)).status_code == 200

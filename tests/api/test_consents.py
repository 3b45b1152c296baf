"""Consents through the API: a submission without them is refused with `consent.*` field errors, each is given
on its own, and a family may withdraw one."""

from __future__ import annotations

from sqlalchemy import select

from fundraise.extensions import db
from fundraise.models import Campaign, Consent
from fundraise.privacy_notice import NOTICE_VERSION
from tests.api.helpers import assert_problem
from tests.factories import CampaignFactory, DocumentFactory


def _draft() -> Campaign:
    campaign = CampaignFactory()
    for kind in ("diagnosis", "cost_estimate", "identity"):
        DocumentFactory(campaign=campaign, kind=kind)
    db.session.commit()
    return campaign


def _consent(purpose: str, **fields: object) -> dict[str, object]:
    return {"purpose": purpose, "agree": True, "notice_version": NOTICE_VERSION, **fields}


def test_submission_without_consent_is_refused_with_field_errors(api, token_for):
    campaign = _draft()
    token = token_for(campaign.applicant)
    path = f"/campaigns/{campaign.id}"
    body = assert_problem(
        api("POST", path + "/submit", token=token), 422, "consent.sensitive_processing", "consent.public_page"
    )
    assert "documents.diagnosis" not in body["errors"]

    # A child's consent is a guardian's, who says how; an old notice version is refused.
    assert_problem(
        api("POST", path + "/consents", token=token, json=_consent("sensitive_processing", basis="own")),
        422,
        "basis",
    )
    assert_problem(
        api("POST", path + "/consents", token=token, json=_consent("sensitive_processing", basis="guardian")),
        422,
        "guardian_relationship",
    )
    stale = _consent("sensitive_processing", basis="guardian", guardian_relationship="parent")
    assert_problem(
        api("POST", path + "/consents", token=token, json={**stale, "notice_version": "2020-01-01"}),
        422,
        "notice_version",
    )
    assert_problem(api("POST", path + "/consents", token=token, json={**stale, "agree": False}), 422, "agree")

    given = api("POST", path + "/consents", token=token, json=stale)
    assert given.status_code == 201, given.get_json()
    assert given.get_json()["basis"] == "guardian"
    assert given.get_json()["in_force"] is True
    page = _consent("public_page", basis="guardian", guardian_relationship="parent")
    assert api("POST", path + "/consents", token=token, json=page).status_code == 201
    listed = api("GET", path + "/consents", token=token).get_json()["consents"]
    assert [c["purpose"] for c in listed] == ["public_page", "sensitive_processing"]

    assert api("POST", path + "/submit", token=token).status_code == 200


def test_withdrawing_through_the_api(api, token_for):
    campaign = CampaignFactory(with_evidence=True, state="fundraising")
    db.session.commit()
    page = db.session.scalars(select(Consent).where(Consent.purpose == "public_page")).one()
    token = token_for(campaign.applicant)
    withdrawn = api("POST", f"/consents/{page.id}/withdraw", token=token)
    assert withdrawn.status_code == 200, withdrawn.get_json()
    assert "close_fundraising" in withdrawn.get_json()["effects"]
    assert_problem(api("POST", f"/consents/{page.id}/withdraw", token=token), 409)
    assert_problem(api("GET", f"/campaigns/{campaign.id}"), 404)
    assert campaign.id not in [c["id"] for c in api("GET", "/campaigns").get_json()["items"]]


def test_the_notice_version_is_public(api):
    notice = api("GET", "/privacy-notice").get_json()
    assert notice["version"] == NOTICE_VERSION
    assert {rule["kind"] for rule in notice["retention"]} >= {"accounting_records", "access_logs"}

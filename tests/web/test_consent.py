"""Notice and consent (PIPL): the notice page, the separate consents a submission needs (a guardian's for a
child, the patient's own or a documented reason for an adult filed by someone else), the public page consent,
withdrawing either, and the daily check that asks for a patient's own consent once they turn 14."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from fundraise.extensions import db
from fundraise.models import AuditEvent, Campaign, CampaignState, Consent, Notification
from fundraise.privacy_notice import NOTICE_VERSION
from fundraise.retention_policy import RULES
from fundraise.services import consents
from fundraise.services.consent_rules import age_on
from tests.factories import CampaignFactory, ConsentFactory, DocumentFactory, UserFactory

S = CampaignState


def text_of(response: Any) -> str:
    return response.get_data(as_text=True)


def draft_without_consent(**fields: Any) -> Campaign:
    """A draft complete in every field and document, with no consent given."""
    campaign = CampaignFactory(**fields)
    for kind in ("diagnosis", "cost_estimate", "identity"):
        DocumentFactory(campaign=campaign, kind=kind)
    db.session.commit()
    return campaign


def consent_form(purpose: str, **answers: str) -> dict[str, str]:
    data = {"agree": "y", "notice_version": NOTICE_VERSION, **answers}
    return {f"{purpose}-{key}": value for key, value in data.items()}


def post_consent(client: FlaskClient, campaign: Campaign, purpose: str, **answers: str) -> Any:
    return client.post(
        f"/family/campaigns/{campaign.id}/consent/{purpose}", data=consent_form(purpose, **answers)
    )


# --- the notice ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    # The Chinese words come with the catalogue; here the page's language and its facts.
    ("language", "heading", "period"),
    [("en", "Privacy notice", "30 years"), ("zh_CN", 'lang="zh-CN"', "30")],
)
def test_the_notice_is_public_versioned_and_linked_from_every_page(app, client, language, heading, period):
    client.get(f"/language/{language}")
    page = client.get("/privacy")
    assert page.status_code == 200
    html = text_of(page)
    assert heading in html
    assert NOTICE_VERSION in html
    assert period in html  # the accounting records' 30 years, from the retention table
    assert "/account/data" in html
    assert 'href="/privacy"' in text_of(client.get("/"))
    assert 'href="/privacy"' in text_of(client.get("/register"))


def test_the_retention_table_is_one_source_with_a_label_for_each_kind():
    from fundraise.privacy_notice import LEGAL_BASIS_LABELS, RETENTION_LABELS

    kinds = {rule.kind for rule in RULES}
    assert kinds == set(RETENTION_LABELS)
    assert {rule.basis for rule in RULES} <= set(LEGAL_BASIS_LABELS)
    accounting = next(rule for rule in RULES if rule.kind == "accounting_records")
    assert accounting.days == 30 * 365
    assert accounting.basis == "accounting_archives"


# --- submission needs the consents -------------------------------------------------------------------


def test_submission_is_refused_until_both_consents_are_given(app, client, login):
    campaign = draft_without_consent()
    login(campaign.applicant)
    review = text_of(client.get(f"/family/campaigns/{campaign.id}/review"))
    assert "Consent to processing the sensitive information" in review
    assert f"notice version {NOTICE_VERSION}" in review
    assert 'type="checkbox"' in review
    assert "checked" not in review.split('id="consent"')[1].split("</section>")[0]

    refused = client.post(f"/family/campaigns/{campaign.id}/submit")
    assert refused.status_code == 422
    assert "Consent to processing the sensitive information" in text_of(refused)
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).state == S.DRAFT

    # The box must be ticked; the page consent waits for the processing consent.
    unticked = client.post(
        f"/family/campaigns/{campaign.id}/consent/sensitive_processing",
        data={
            "sensitive_processing-basis": "guardian",
            "sensitive_processing-guardian_relationship": "parent",
        },
    )
    assert unticked.status_code == 422
    assert "Tick the box to give this consent." in text_of(unticked)
    assert "Give the consent to processing first." in text_of(unticked)

    assert (
        post_consent(
            client, campaign, "sensitive_processing", basis="guardian", guardian_relationship="parent"
        ).status_code
        == 302
    )
    still = client.post(f"/family/campaigns/{campaign.id}/submit")
    assert still.status_code == 422
    assert "Consent to the public page" in text_of(still)
    assert post_consent(client, campaign, "public_page").status_code == 302
    assert client.post(f"/family/campaigns/{campaign.id}/submit").status_code == 302


def test_a_child_needs_a_guardian_who_says_how(app, client, login):
    campaign = draft_without_consent()  # seven years old
    assert age_on(campaign.patient_birth_date, date.today()) < 14
    login(campaign.applicant)
    wrong = post_consent(client, campaign, "sensitive_processing", basis="patient_confirmed")
    assert wrong.status_code == 422
    assert "A patient under 14 needs a guardian" in text_of(wrong)
    nameless = post_consent(client, campaign, "sensitive_processing", basis="guardian")
    assert nameless.status_code == 422
    assert "Say how you are the child" in text_of(nameless)
    assert db.session.scalar(select(Consent.id)) is None

    assert (
        post_consent(
            client, campaign, "sensitive_processing", basis="guardian", guardian_relationship="legal_guardian"
        ).status_code
        == 302
    )
    consent = db.session.scalars(select(Consent)).one()
    assert (consent.basis, consent.guardian_relationship, consent.notice_version) == (
        "guardian",
        "legal_guardian",
        NOTICE_VERSION,
    )
    assert consent.user_id == campaign.applicant_id
    assert consent.given_at is not None
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "consent.give")).one()
    assert event.after["purpose"] == "sensitive_processing"
    assert event.after["basis"] == "guardian"


def test_an_adult_filed_by_a_relative_needs_their_consent_or_a_documented_reason(app, client, login):
    campaign = draft_without_consent(patient_birth_date=date(1986, 3, 2), relationship_to_patient="spouse")
    login(campaign.applicant)
    assert (
        post_consent(
            client, campaign, "sensitive_processing", basis="guardian", guardian_relationship="parent"
        ).status_code
        == 422
    )
    assert post_consent(client, campaign, "sensitive_processing", basis="own").status_code == 422
    no_reason = post_consent(client, campaign, "sensitive_processing", basis="patient_unable")
    assert no_reason.status_code == 422
    assert "Choose why the patient cannot give consent." in text_of(no_reason)

    words = "在重症监护室，使用镇静药物。"
    response = post_consent(
        client,
        campaign,
        "sensitive_processing",
        basis="patient_unable",
        unable_reason_code="intensive_care",
        unable_reason_text=words,
    )
    assert response.status_code == 302
    consent = db.session.scalars(select(Consent)).one()
    assert (consent.basis, consent.unable_reason_code, consent.unable_reason_text) == (
        "patient_unable",
        "intensive_care",
        words,
    )
    # The audit event names codes and ids only.
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "consent.give")).one()
    assert words not in str(event.after)
    assert event.after["unable_reason_code"] == "intensive_care"

    # The page consent is given on the same footing.
    assert post_consent(client, campaign, "public_page").status_code == 302
    page = db.session.scalars(select(Consent).where(Consent.purpose == "public_page")).one()
    assert page.basis == "patient_unable"
    assert client.post(f"/family/campaigns/{campaign.id}/submit").status_code == 302


def test_the_patient_confirmed_by_the_filer(app, client, login):
    campaign = draft_without_consent(patient_birth_date=date(1960, 1, 25), relationship_to_patient="child")
    login(campaign.applicant)
    assert (
        post_consent(client, campaign, "sensitive_processing", basis="patient_confirmed").status_code == 302
    )
    assert post_consent(client, campaign, "public_page").status_code == 302
    assert client.post(f"/family/campaigns/{campaign.id}/submit").status_code == 302


# --- withdrawing ----------------------------------------------------------------------------------------


def fundraising_campaign() -> Campaign:
    campaign = CampaignFactory(with_evidence=True, state=S.FUNDRAISING)
    db.session.commit()
    return campaign


def test_withdrawing_the_page_consent_unpublishes_and_closes_fundraising(app, client, login):
    campaign = fundraising_campaign()
    page = db.session.scalars(select(Consent).where(Consent.purpose == "public_page")).one()
    assert client.get(f"/campaigns/{campaign.id}").status_code == 200
    login(campaign.applicant)
    listing = text_of(client.get("/family/consents"))
    assert f"/family/consents/{page.id}/withdraw" in listing

    confirm = text_of(client.get(f"/family/consents/{page.id}/withdraw"))
    assert "Fundraising closes: no new gifts are taken." in confirm
    assert "Payments already made to the hospital stay paid." in confirm
    assert client.post(f"/family/consents/{page.id}/withdraw").status_code == 302

    db.session.expire_all()
    campaign = db.session.get(Campaign, campaign.id)
    assert campaign.state == S.CLOSED
    assert campaign.unpublished_at is not None
    assert db.session.get(Consent, page.id).withdrawn_at is not None
    actions = set(db.session.scalars(select(AuditEvent.action)))
    assert {"consent.withdraw", "campaign.unpublish", "campaign.close"} <= actions

    anonymous = client.application.test_client()
    gone = anonymous.get(f"/campaigns/{campaign.id}")
    assert gone.status_code == 410
    assert "This campaign is no longer public" in text_of(gone)
    assert campaign.title not in text_of(gone)
    assert campaign.title not in text_of(anonymous.get("/campaigns"))
    # The family still sees its own campaign.
    assert client.get(f"/campaigns/{campaign.id}").status_code == 200

    # Given again, the page is shown again.
    assert post_consent(client, campaign, "public_page").status_code == 302
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).unpublished_at is None


def test_withdrawing_consent_to_processing_cancels_and_says_what_happens_to_money(app, client, login):
    campaign = fundraising_campaign()
    sensitive = db.session.scalars(select(Consent).where(Consent.purpose == "sensitive_processing")).one()
    login(campaign.applicant)
    confirm = text_of(client.get(f"/family/consents/{sensitive.id}/withdraw"))
    assert "nothing more is paid from a cancelled campaign" in confirm
    assert "refund it to the donors" in confirm
    assert "kept for 30 years" in confirm
    assert client.post(f"/family/consents/{sensitive.id}/withdraw").status_code == 302

    db.session.expire_all()
    campaign = db.session.get(Campaign, campaign.id)
    assert campaign.state == S.CANCELLED
    assert campaign.unpublished_at is not None
    assert all(c.withdrawn_at is not None for c in db.session.scalars(select(Consent)))
    review = text_of(client.get(f"/family/campaigns/{campaign.id}/review"))
    assert "The family withdrew consent to the processing" in review
    assert "@consent-withdrawn" not in review


def test_others_cannot_withdraw_a_familys_consent(app, client, login):
    fundraising_campaign()
    consent = db.session.scalars(select(Consent)).first()
    login(UserFactory())
    assert client.get(f"/family/consents/{consent.id}/withdraw").status_code == 404
    assert client.post(f"/family/consents/{consent.id}/withdraw").status_code == 404


# --- the patient turns 14 -----------------------------------------------------------------------------


def test_the_daily_check_asks_for_the_patients_own_consent_once_they_turn_14(app, client, login):
    campaign = CampaignFactory(state=S.FUNDRAISING, patient_birth_date=date(2012, 12, 3))
    guardian = ConsentFactory(campaign=campaign)
    ConsentFactory(campaign=campaign, purpose="public_page")
    db.session.commit()

    assert consents.check_turned_14(date(2026, 12, 2)) == 0
    assert consents.check_turned_14(date(2026, 12, 3)) == 1
    assert consents.check_turned_14(date(2026, 12, 4)) == 0  # asked once
    note = db.session.scalars(select(Notification).where(Notification.kind == "consent_own_needed")).one()
    assert note.user_id == campaign.applicant_id

    login(campaign.applicant)
    dashboard = text_of(client.get("/family/"))
    assert f"/family/campaigns/{campaign.id}/consent/own" in dashboard
    assert "has turned 14: their own consent is needed" in dashboard
    # Processing continues meanwhile: the campaign is still raising money.
    assert db.session.get(Campaign, campaign.id).state == S.FUNDRAISING

    refused = client.post(f"/family/campaigns/{campaign.id}/consent/own", data={})
    assert refused.status_code == 422
    response = client.post(
        f"/family/campaigns/{campaign.id}/consent/own",
        data={"agree": "y", "agree_public": "y", "notice_version": NOTICE_VERSION},
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Consent, guardian.id).superseded_at is not None
    in_force = db.session.scalars(
        select(Consent).where(Consent.withdrawn_at.is_(None), Consent.superseded_at.is_(None))
    ).all()
    assert {(c.purpose, c.basis) for c in in_force} == {
        ("sensitive_processing", "patient_confirmed"),
        ("public_page", "patient_confirmed"),
    }
    assert f"/family/campaigns/{campaign.id}/consent/own" not in text_of(client.get("/family/"))

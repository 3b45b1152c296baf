"""The social worker's pages: filing for a family, the shared filing steps, confirming a stay, and the
boundaries between hospitals."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from fundraise.extensions import db
from fundraise.models import AuditEvent, Campaign, User
from fundraise.services import accounts
from tests.factories import CampaignFactory, UserFactory, hospital, user_of_role
from tests.web.test_filing import (
    ID_NUMBER,
    costs_form,
    diagnosis_form,
    give_consents,
    patient_form,
    pdf_bytes,
    snapshot,
    story_form,
    text_of,
    upload,
)


@pytest.fixture
def worker(app, login):
    user = user_of_role("social_worker")  # at AH-PROV, Anhui Provincial Hospital
    db.session.commit()
    return login(user)


def other_hospital_worker():
    user = UserFactory(social_worker=True, hospital=hospital("FY-PEOPLE"))
    db.session.commit()
    return user


def test_social_worker_files_for_a_new_family_and_confirms_the_stay(app, client, worker):
    assert "File for a family" in text_of(client.get("/hospital/"))
    assert client.get("/hospital/families/new").status_code == 200

    response = client.post(
        "/hospital/families/new",
        data={"email": "Wang.Fang@Example.cn", "name": "王芳", "phone": "138 0000 1234"},
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = text_of(response)
    assert "shown only this once" in page
    password = re.search(r'<code class="token">([^<]+)</code>', page).group(1)

    family = db.session.scalar(select(User).where(User.email == "wang.fang@example.cn"))
    assert family.role == "family"
    assert family.phone == "138 0000 1234"
    assert accounts.authenticate("wang.fang@example.cn", password) is family
    assert password not in str([e.after for e in db.session.scalars(select(AuditEvent))])
    campaign = db.session.scalars(select(Campaign)).one()
    assert campaign.applicant_id == family.id
    assert campaign.filed_by_id == worker.id
    assert campaign.hospital.code == "AH-PROV"

    # The worker uses the family's filing pages for this campaign.
    base = f"/family/campaigns/{campaign.id}/edit"
    assert client.post(f"{base}/patient", data=patient_form()).status_code == 302
    step2 = text_of(client.get(f"{base}/diagnosis"))
    assert "A social worker files for patients of their own hospital." in step2
    assert 'value="BJ-FUWAI"' not in step2  # the hospital is fixed
    before = snapshot(app)
    response = client.post(f"{base}/diagnosis", data=diagnosis_form(hospital_code="BJ-FUWAI"))
    assert response.status_code == 422
    assert "can file only for patients of their own hospital" in text_of(response)
    assert snapshot(app) == before
    assert client.post(f"{base}/diagnosis", data=diagnosis_form()).status_code == 302
    assert client.post(f"{base}/costs", data=costs_form()).status_code == 302
    assert client.post(f"{base}/story", data=story_form()).status_code == 302
    response = client.post(
        f"{base}/documents",
        data={
            "diagnosis": [upload(pdf_bytes(), "d.pdf")],
            "cost_estimate": [upload(pdf_bytes(), "c.pdf")],
            "identity": [upload(pdf_bytes(), "i.pdf")],
        },
    )
    assert response.status_code == 302

    dashboard = text_of(client.get("/hospital/"))
    assert "Not confirmed" in dashboard
    assert "You filed this campaign for the family." in dashboard
    response = client.post(f"/hospital/campaigns/{campaign.id}/confirm-stay")
    assert response.status_code == 302
    db.session.expire_all()
    campaign = db.session.get(Campaign, campaign.id)
    assert campaign.stay_confirmed_by_id == worker.id
    assert campaign.stay_confirmed_at is not None
    assert "Confirmed" in text_of(client.get("/hospital/"))

    # The worker can submit it too (recording the guardian's consents); the family sees it on their dashboard.
    give_consents(client, campaign.id)
    assert client.post(f"/family/campaigns/{campaign.id}/submit").status_code == 302
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).state == "needs_review"
    family_client = app.test_client()
    assert family_client.post("/login", data={"email": family.email, "password": password}).status_code == 302
    family_page = text_of(family_client.get("/family/"))
    assert "Awaiting review" in family_page
    assert "filed with the help" not in family_page
    assert ID_NUMBER not in family_page


def test_an_existing_family_gets_a_new_draft_and_no_password(app, client, worker):
    family = UserFactory(email="known@example.cn")
    db.session.commit()
    response = client.post("/hospital/families/new", data={"email": "KNOWN@example.cn"})
    assert response.status_code == 200
    page = text_of(response)
    assert "already has an account" in page
    assert 'class="token"' not in page
    campaign = db.session.scalars(select(Campaign)).one()
    assert campaign.applicant_id == family.id
    assert campaign.filed_by_id == worker.id
    assert db.session.scalar(select(func.count(User.id))) == 2


def test_filing_for_a_non_family_account_or_without_a_name_is_refused(app, client, worker):
    donor = UserFactory(donor=True)
    db.session.commit()
    before = snapshot(app)
    response = client.post("/hospital/families/new", data={"email": donor.email})
    assert response.status_code == 422
    assert "not a family account" in text_of(response)
    response = client.post("/hospital/families/new", data={"email": "new@example.cn", "name": ""})
    assert response.status_code == 422
    assert "Enter a name to open one" in text_of(response)
    response = client.post("/hospital/families/new", data={"email": "not-an-email", "name": "王芳"})
    assert response.status_code == 422
    assert "Enter a valid e-mail address." in text_of(response)
    response = client.post(
        "/hospital/families/new", data={"email": "x@example.cn", "name": "王芳", "phone": "call me"}
    )
    assert response.status_code == 422
    assert "Enter a phone number" in text_of(response)
    assert snapshot(app) == before


def test_the_dashboard_shows_my_hospitals_campaigns_but_not_cancelled_ones(app, client, worker):
    mine = CampaignFactory(title="Ours", hospital=hospital("AH-PROV"))
    CampaignFactory(title="Cancelled one", hospital=hospital("AH-PROV"), state="cancelled")
    CampaignFactory(title="Elsewhere", hospital=hospital("FY-PEOPLE"))
    db.session.commit()
    page = text_of(client.get("/hospital/"))
    assert "Ours" in page
    assert "Cancelled one" not in page
    assert "Elsewhere" not in page
    assert mine.patient_id_masked in page


def test_a_social_worker_of_another_hospital_is_kept_out(app, client, login):
    draft = CampaignFactory(hospital=hospital("AH-PROV"))
    public = CampaignFactory(hospital=hospital("AH-PROV"), state="fundraising")
    outsider = other_hospital_worker()
    db.session.commit()
    login(outsider)
    before = snapshot(app)
    for campaign in (draft, public):
        assert client.get(f"/family/campaigns/{campaign.id}/edit/patient").status_code == 404
        assert client.get(f"/family/campaigns/{campaign.id}/review").status_code == 404
        assert (
            client.post(f"/family/campaigns/{campaign.id}/edit/patient", data=patient_form()).status_code
            == 404
        )
    assert client.post(f"/hospital/campaigns/{draft.id}/confirm-stay").status_code == 404
    assert client.post(f"/hospital/campaigns/{public.id}/confirm-stay").status_code == 403
    assert snapshot(app) == before


def test_hospital_pages_are_for_social_workers_only(app, client, login):
    family = UserFactory()
    campaign = CampaignFactory(applicant=family)
    db.session.commit()
    assert client.get("/hospital/").status_code == 302
    login(family)
    assert client.get("/hospital/").status_code == 403
    assert client.get("/hospital/families/new").status_code == 403
    assert client.post(f"/hospital/campaigns/{campaign.id}/confirm-stay").status_code == 403


def test_the_stay_is_confirmed_only_once_admission_and_cost_are_on_file(app, client, worker):
    campaign = CampaignFactory(
        hospital=hospital("AH-PROV"), admitted_on=None, cost_total_fen=0, cost_in_policy_fen=0, target_fen=0
    )
    db.session.commit()
    assert "once the admission date and the cost estimate are filed" in text_of(client.get("/hospital/"))
    before = snapshot(app)
    response = client.post(f"/hospital/campaigns/{campaign.id}/confirm-stay", follow_redirects=True)
    assert "Confirm the stay once the admission date and the cost estimate are filed." in text_of(response)
    assert snapshot(app) == before

"""Filing through the API with a bearer token: create, update, upload, submit; and every refusal on the way."""

from __future__ import annotations

from datetime import date

import pytest
from werkzeug.http import HTTP_STATUS_CODES

from fundraise.extensions import db
from fundraise.models import Campaign
from tests.api.helpers import PDF_BYTES, assert_problem, png_bytes
from tests.factories import CampaignFactory, UserFactory, user_of_role
from verification.identity import make_resident_id

ID_NUMBER = make_resident_id("341221", date(2019, 5, 1), "M", 7)


def full_draft_fields() -> dict:
    return {
        "patient_name": "王小明",
        "patient_id_number": ID_NUMBER,
        "patient_region_code": "341221",
        "relationship": "parent",
        "diagnosis_icd10": "C91.0",
        "diagnosis_text": "急性淋巴细胞白血病",
        "hospital_code": "AH-PROV",
        "admitted_on": "2026-09-01",
        "treatment_plan": "诱导化疗及巩固治疗，约两年。",
        "cost_total_fen": 40_000_000,
        "cost_in_policy_fen": 30_000_000,
        "target_fen": 15_000_000,
        "household_income_fen": 4_800_000,
        "household_size": 4,
        "owns_house": True,
        "house_note": "老家自建房一处",
        "owns_car": False,
        "savings_fen": 0,
    }


@pytest.fixture
def family(app):
    user = UserFactory()
    db.session.commit()
    return user


def test_file_update_upload_and_submit_end_to_end(api, family, token_for):
    token = token_for(family)

    created = api(
        "POST", "/campaigns", token=token, json={"title": "请帮助小明", "story": "小明七岁，确诊白血病。"}
    )
    assert created.status_code == 201, created.get_json()
    campaign = created.get_json()
    assert campaign["state"] == "draft"
    assert created.headers["Location"].endswith(f"/api/v1/campaigns/{campaign['id']}")
    path = f"/campaigns/{campaign['id']}"

    updated = api("PATCH", path, token=token, json=full_draft_fields())
    assert updated.status_code == 200, updated.get_json()
    body = updated.get_json()
    assert body["target_yuan"] == "¥150,000"
    assert body["private"]["patient_id_masked"] != ID_NUMBER
    assert "*" in body["private"]["patient_id_masked"]
    assert body["private"]["patient_birth_date"] == "2019-05-01"
    assert ID_NUMBER not in updated.get_data(as_text=True)

    for kind in ("diagnosis", "cost_estimate", "identity"):
        uploaded = api(
            "POST", path + "/documents", token=token, data={"kind": kind, "file": (_pdf(), f"{kind}.pdf")}
        )
        assert uploaded.status_code == 201, uploaded.get_json()
        assert uploaded.get_json()["kind"] == kind
        assert uploaded.get_json()["content_type"] == "application/pdf"
    photo = api("POST", path + "/documents", token=token, data={"kind": "photo", "file": (_png(), "xm.png")})
    assert photo.status_code == 201

    # Without the separate consents, the submission is refused and names them.
    assert_problem(api("POST", path + "/submit", token=token), 422, "consent.sensitive_processing")
    give_consents(api, path, token)

    submitted = api("POST", path + "/submit", token=token)
    assert submitted.status_code == 200, submitted.get_json()

    # Verification jobs run inline right after the request's commit.
    after = api("GET", path, token=token).get_json()
    assert after["state"] == "needs_review"
    assert len(after["photos"]) == 1
    assert sorted(d["kind"] for d in after["private"]["documents"]) == [
        "cost_estimate",
        "diagnosis",
        "identity",
    ]


def give_consents(api, path, token):
    """The two separate consents a parent gives for a child under 14."""
    version = api("GET", "/privacy-notice").get_json()["version"]
    for purpose in ("sensitive_processing", "public_page"):
        given = api(
            "POST",
            path + "/consents",
            token=token,
            json={
                "purpose": purpose,
                "basis": "guardian",
                "guardian_relationship": "parent",
                "agree": True,
                "notice_version": version,
            },
        )
        assert given.status_code == 201, given.get_json()


def _pdf():
    import io

    return io.BytesIO(PDF_BYTES)


def _png():
    import io

    return io.BytesIO(png_bytes())


def test_submit_twice_is_a_conflict(api, token_for):
    campaign = CampaignFactory(with_evidence=True)
    db.session.commit()
    token = token_for(campaign.applicant)

    assert api("POST", f"/campaigns/{campaign.id}/submit", token=token).status_code == 200
    body = assert_problem(api("POST", f"/campaigns/{campaign.id}/submit", token=token), 409)
    assert body["title"] == "Conflict"


def test_submit_incomplete_names_what_is_missing(api, family, token_for):
    token = token_for(family)
    campaign_id = api("POST", "/campaigns", token=token, json={"title": "只有标题"}).get_json()["id"]

    assert_problem(
        api("POST", f"/campaigns/{campaign_id}/submit", token=token), 422, "story", "documents.diagnosis"
    )
    assert db.session.get(Campaign, campaign_id).state == "draft"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"patient_id_number": ID_NUMBER[:-1] + ("0" if ID_NUMBER[-1] != "0" else "1")}, "patient_id_number"),
        ({"target_fen": -100}, "target_fen"),
        ({"cost_total_fen": 1500.5}, "cost_total_fen"),
        ({"cost_total_fen": 1500.0}, "cost_total_fen"),
        ({"cost_total_fen": "150000"}, "cost_total_fen"),
        ({"savings_fen": True}, "savings_fen"),
        ({"owns_car": "no"}, "owns_car"),
        ({"patient_sex": "X"}, "patient_sex"),
        ({"admitted_on": "01/09/2026"}, "admitted_on"),
        ({"relationship": "neighbour"}, "relationship"),
        ({"favourite_colour": "blue"}, "favourite_colour"),
        ({"cost_total_fen": 100_000, "cost_in_policy_fen": 200_000}, "cost_in_policy_fen"),
        ({"target_fen": 60_000_000}, "target_fen"),  # above the 500,000-yuan cap
        ({"hospital_code": "NOWHERE"}, "hospital_code"),
    ],
)
def test_field_errors_are_422_and_nothing_is_written(api, token_for, fields, field):
    campaign = CampaignFactory(cost_total_fen=80_000_000, target_fen=15_000_000)
    db.session.commit()
    before = (
        campaign.cost_total_fen,
        campaign.cost_in_policy_fen,
        campaign.target_fen,
        campaign.patient_id_index,
    )

    response = api("PATCH", f"/campaigns/{campaign.id}", token=token_for(campaign.applicant), json=fields)

    body = assert_problem(response, 422, field)
    assert body["title"] == HTTP_STATUS_CODES[422]
    assert all(isinstance(message, str) for message in body["errors"][field])
    db.session.refresh(campaign)
    assert (
        campaign.cost_total_fen,
        campaign.cost_in_policy_fen,
        campaign.target_fen,
        campaign.patient_id_index,
    ) == before


def test_create_refuses_bad_fields_too(api, family, token_for):
    response = api("POST", "/campaigns", token=token_for(family), json={"title": "x", "target_fen": 12.5})
    assert_problem(response, 422, "target_fen")
    assert db.session.query(Campaign).count() == 0


def test_malformed_json_is_400_and_other_media_types_415(api, family, token_for):
    token = token_for(family)
    malformed = api(
        "POST", "/campaigns", token=token, data='{"title": "x",', headers={"Content-Type": "application/json"}
    )
    assert_problem(malformed, 400)
    form = api("POST", "/campaigns", token=token, data={"title": "x"})
    assert_problem(form, 415)
    not_an_object = api("POST", "/campaigns", token=token, json=["title"])
    assert_problem(not_an_object, 422, "_schema")


def test_upload_refusals(api, token_for):
    campaign = CampaignFactory()
    db.session.commit()
    token = token_for(campaign.applicant)
    path = f"/campaigns/{campaign.id}/documents"

    assert_problem(api("POST", path, token=token, json={"kind": "diagnosis"}), 415)
    assert_problem(api("POST", path, token=token, data={"kind": "diagnosis"}), 415)  # urlencoded: no file
    no_file = api("POST", path, token=token, data={"kind": "diagnosis"}, content_type="multipart/form-data")
    assert_problem(no_file, 422, "file")
    assert_problem(
        api("POST", path, token=token, data={"kind": "x-ray", "file": (_pdf(), "a.pdf")}), 422, "kind"
    )
    fake = api("POST", path, token=token, data={"kind": "diagnosis", "file": (_text(), "a.pdf")})
    assert_problem(fake, 422, "file")
    not_a_photo = api("POST", path, token=token, data={"kind": "photo", "file": (_pdf(), "a.pdf")})
    assert_problem(not_a_photo, 422, "file")
    assert campaign.documents == []


def _text():
    import io

    return io.BytesIO(b"just some text pretending to be a PDF")


def test_only_drafts_change(api, token_for):
    campaign = CampaignFactory(state="fundraising")
    db.session.commit()
    token = token_for(campaign.applicant)

    assert_problem(api("PATCH", f"/campaigns/{campaign.id}", token=token, json={"title": "新标题"}), 409)
    upload = api(
        "POST",
        f"/campaigns/{campaign.id}/documents",
        token=token,
        data={"kind": "photo", "file": (_png(), "a.png")},
    )
    assert_problem(upload, 409)


def test_strangers_cannot_change_a_campaign(api, token_for):
    draft = CampaignFactory()
    public = CampaignFactory(state="fundraising")
    stranger = UserFactory()
    db.session.commit()
    token = token_for(stranger)

    assert_problem(api("PATCH", f"/campaigns/{draft.id}", token=token, json={"title": "x"}), 404)
    assert_problem(api("PATCH", f"/campaigns/{public.id}", token=token, json={"title": "x"}), 404)
    assert_problem(api("POST", f"/campaigns/{public.id}/transitions/close", token=token), 404)
    assert db.session.get(Campaign, public.id).state == "fundraising"


def test_social_worker_files_for_a_family(api, family, token_for):
    worker = user_of_role("social_worker")  # of AH-PROV
    db.session.commit()
    token = token_for(worker)

    response = api(
        "POST", "/campaigns", token=token, json={"family_email": family.email.upper(), "title": "代为申请"}
    )

    assert response.status_code == 201, response.get_json()
    campaign = db.session.get(Campaign, response.get_json()["id"])
    assert campaign.applicant_id == family.id
    assert campaign.filed_by_id == worker.id
    assert campaign.hospital.code == "AH-PROV"  # the social worker's own hospital by default
    assert response.get_json()["private"]["filed_by_id"] == worker.id


def test_social_worker_must_name_an_existing_family(api, family, token_for):
    worker = user_of_role("social_worker")
    donor = user_of_role("donor")
    db.session.commit()
    token = token_for(worker)

    assert_problem(api("POST", "/campaigns", token=token, json={"title": "x"}), 422, "family_email")
    unknown = api("POST", "/campaigns", token=token, json={"family_email": "nobody@example.cn"})
    assert_problem(unknown, 422, "family_email")
    not_family = api("POST", "/campaigns", token=token, json={"family_email": donor.email})
    assert_problem(not_family, 422, "family_email")
    other_hospital = api(
        "POST", "/campaigns", token=token, json={"family_email": family.email, "hospital_code": "BJ-FUWAI"}
    )
    assert_problem(other_hospital, 422, "hospital_code")  # only for patients of their own hospital
    assert db.session.query(Campaign).count() == 0


def test_a_social_worker_cannot_move_a_draft_to_another_hospital(api, family, token_for):
    """The probe: PATCH {"hospital_code": "BJ-FUWAI"} answered 200 and the social worker kept access."""
    worker = user_of_role("social_worker")  # at AH-PROV
    db.session.commit()
    token = token_for(worker)
    created = api("POST", "/campaigns", token=token, json={"family_email": family.email})
    assert created.status_code == 201
    campaign_id = created.get_json()["id"]

    moved = api("PATCH", f"/campaigns/{campaign_id}", token=token, json={"hospital_code": "BJ-FUWAI"})
    assert_problem(moved, 422, "hospital_code")
    db.session.expire_all()
    assert db.session.get(Campaign, campaign_id).hospital.code == "AH-PROV"
    # The family itself may still choose another hospital (their social worker then no longer acts for it).
    assert (
        api(
            "PATCH", f"/campaigns/{campaign_id}", token=token_for(family), json={"hospital_code": "BJ-FUWAI"}
        ).status_code
        == 200
    )


def test_a_family_cannot_file_for_another(api, family, token_for):
    other = UserFactory()
    db.session.commit()
    response = api("POST", "/campaigns", token=token_for(family), json={"family_email": other.email})
    assert_problem(response, 422, "family_email")


def test_transitions_follow_the_state_machine(api, token_for):
    campaign = CampaignFactory(state="needs_review")
    staff = user_of_role("charity_staff")
    db.session.commit()
    family_token, staff_token = token_for(campaign.applicant), token_for(staff)
    path = f"/campaigns/{campaign.id}/transitions"

    assert_problem(api("POST", f"{path}/verify", token=family_token, json={"reason": "ok"}), 403)
    assert_problem(api("POST", f"{path}/verify", token=staff_token, json={}), 422, "reason")
    assert_problem(api("POST", f"{path}/verify", token=staff_token, json={"reason": 5}), 422, "reason")
    assert_problem(api("POST", f"{path}/begin_verification", token=staff_token), 404)
    assert_problem(api("POST", f"{path}/no_such_thing", token=staff_token), 404)

    # The same minimum as the review page's: a one-line approval is not a reason.
    assert_problem(
        api("POST", f"{path}/verify", token=staff_token, json={"reason": "记录核实无误"}), 422, "reason"
    )
    verified = api(
        "POST", f"{path}/verify", token=staff_token, json={"reason": "记录核实无误，住院及费用已确认。"}
    )
    assert verified.status_code == 200, verified.get_json()
    assert verified.get_json()["state"] == "verified"
    opened = api("POST", f"{path}/open_fundraising", token=family_token)
    assert opened.get_json()["state"] == "fundraising"
    assert_problem(api("POST", f"{path}/open_fundraising", token=family_token), 409)
    cancelled = api("POST", f"{path}/cancel", token=family_token, json={"reason": "已筹得治疗费用"})
    assert cancelled.get_json()["state"] == "cancelled"
    assert cancelled.get_json()["private"]["decision_reason"] == "已筹得治疗费用"


def test_donor_cannot_use_transitions(api, token_for):
    campaign = CampaignFactory(state="fundraising")
    donor = user_of_role("donor")
    db.session.commit()
    response = api("POST", f"/campaigns/{campaign.id}/transitions/close", token=token_for(donor))
    assert_problem(response, 403)

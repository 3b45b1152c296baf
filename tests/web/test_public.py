"""Public pages: browsing and searching campaigns, a campaign's page, and reporting a campaign."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from fundraise import pii
from fundraise.extensions import db
from fundraise.models import AuditEvent, Campaign, CampaignReport
from fundraise.services.donations import raised_fen
from fundraise.services.filing import disease_for_code
from fundraise.services.transitions import transition
from tests.factories import PASSWORD, CampaignFactory, DocumentFactory, UserFactory, user_of_role


@pytest.fixture
def app_settings() -> dict[str, Any]:
    return {"CAMPAIGNS_PER_PAGE": 3}


def campaign(state: str = "fundraising", **fields: Any) -> Campaign:
    made = CampaignFactory(state=state, **fields)
    db.session.commit()
    return made


def signed_in(app: Flask, user: Any) -> FlaskClient:
    """A separate client signed in as this user (so a test can compare viewers)."""
    db.session.commit()
    client = app.test_client()
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    return client


def text(response: Any) -> str:
    return response.get_data(as_text=True)


# --- browse and search -----------------------------------------------------------------------------------


def test_home_page_pitches_and_shows_fundraising_campaigns(client: FlaskClient) -> None:
    campaign(title="帮小芳做心脏手术")
    campaign(state="draft", title="草稿不应出现")
    page = text(client.get("/"))
    assert "Money only to hospitals" in page
    assert "How it works" in page
    assert "帮小芳做心脏手术" in page
    assert "草稿不应出现" not in page
    assert "/campaigns" in page
    assert "/register" in page


def test_browse_lists_only_public_states(client: FlaskClient) -> None:
    for state in ("fundraising", "verified", "closed", "suspended"):
        campaign(state=state, title=f"公开-{state}")
    for state in ("draft", "submitted", "verifying", "needs_review", "rejected", "cancelled"):
        campaign(state=state, title=f"隐藏-{state}")
    page = text(client.get("/campaigns?state=&page=1"))
    page += text(client.get("/campaigns?page=2"))
    for state in ("fundraising", "verified", "closed", "suspended"):
        assert f"公开-{state}" in page
    assert "隐藏-" not in page
    # Asking for a private state by hand gets the public list, not the drafts.
    assert "隐藏-" not in text(client.get("/campaigns?state=draft"))
    assert "隐藏-" not in text(client.get("/campaigns?state=needs_review"))


def test_state_filter(client: FlaskClient) -> None:
    campaign(state="fundraising", title="正在筹款的")
    campaign(state="closed", title="已经结束的")
    page = text(client.get("/campaigns?state=closed"))
    assert "已经结束的" in page
    assert "正在筹款的" not in page


def test_province_filter_offers_provinces_with_campaigns(client: FlaskClient) -> None:
    campaign(title="安徽的孩子", patient_region_code="341221")
    campaign(title="北京的孩子", patient_region_code="110105")
    everything = text(client.get("/campaigns"))
    # Provinces are named in the active locale (English in tests unless asked otherwise).
    assert '<option value="34">Anhui</option>' in everything
    assert '<option value="11">Beijing</option>' in everything
    chinese = text(client.get("/campaigns", headers={"Accept-Language": "zh-CN"}))
    assert '<option value="34">安徽省</option>' in chinese
    assert '<option value="44">' not in everything  # Guangdong has no campaign
    anhui = text(client.get("/campaigns?province=34"))
    assert "安徽的孩子" in anhui
    assert "北京的孩子" not in anhui
    english = text(client.get("/campaigns?province=11", headers={"Accept-Language": "en"}))
    assert "北京的孩子" in english
    assert "安徽的孩子" not in english
    assert '<option selected value="11">Beijing</option>' in english
    # A malformed province is ignored, not an error.
    assert client.get("/campaigns?province=3%25").status_code == 200


def test_category_filter(client: FlaskClient) -> None:
    heart = disease_for_code("Q21.3")
    assert heart is not None
    campaign(title="白血病的孩子")  # the factory's C91.0, category leukemia
    campaign(
        title="心脏病的孩子", diagnosis_icd10="Q21.3", disease_range_id=heart.id, diagnosis_text="室间隔缺损"
    )
    page = text(client.get("/campaigns?category=congenital_heart_disease"))
    assert "心脏病的孩子" in page
    assert "白血病的孩子" not in page
    page = text(client.get("/campaigns?category=leukemia"))
    assert "白血病的孩子" in page
    assert "心脏病的孩子" not in page
    options = text(client.get("/campaigns", headers={"Accept-Language": "en"}))
    assert '<option value="leukemia">Leukaemia</option>' in options
    assert '<option value="congenital_heart_disease">Congenital heart disease</option>' in options
    assert "心脏病的孩子" in text(client.get("/campaigns?category=no-such-category"))


def test_text_search_covers_title_story_and_diagnosis_case_insensitively(client: FlaskClient) -> None:
    campaign(title="Help Lily beat leukaemia", story="Lily is five.", diagnosis_text="ALL")
    campaign(title="小刚的故事", story="He loves FOOTBALL and drawing.", diagnosis_text="骨肉瘤")
    campaign(title="第三个", story="无", diagnosis_text="Tetralogy of Fallot")
    assert "Help Lily" in text(client.get("/campaigns?q=LEUKAEMIA"))
    found = text(client.get("/campaigns?q=football"))
    assert "小刚的故事" in found
    assert "Help Lily" not in found
    found = text(client.get("/campaigns?q=fallot"))
    assert "第三个" in found
    assert "小刚的故事" not in found
    # LIKE wildcards typed by a visitor are matched literally.
    assert "No campaign matches" in text(client.get("/campaigns?q=%25"))
    assert "No campaign matches" in text(client.get("/campaigns?q=_"))


def test_pagination_and_bad_page_numbers(client: FlaskClient) -> None:
    for number in range(7):
        campaign(title=f"第{number}号求助")
    first = text(client.get("/campaigns"))
    assert "Page 1 of 3" in first
    assert first.count('class="card campaign-card"') == 3
    last = text(client.get("/campaigns?page=3"))
    assert "Page 3 of 3" in last
    assert last.count('class="card campaign-card"') == 1
    seen = set()
    for page in (1, 2, 3):
        body = text(client.get(f"/campaigns?page={page}"))
        seen |= {n for n in range(7) if f"第{n}号求助" in body}
    assert seen == set(range(7))
    for bad in ("abc", "-1", "0", "99", "1e9", ""):
        response = client.get(f"/campaigns?page={bad}")
        assert response.status_code == 200
        assert "Page 1 of 3" in text(response)


def test_pagination_keeps_the_filters(client: FlaskClient) -> None:
    for number in range(4):
        campaign(title=f"安徽{number}", patient_region_code="341221")
    body = text(client.get("/campaigns?province=34"))
    assert "province=34" in body
    assert "page=2" in body


def test_card_shows_photo_masked_name_age_region_hospital_and_progress(client: FlaskClient) -> None:
    with_photo = campaign(title="有照片的")
    photo = DocumentFactory(campaign=with_photo, kind="photo", content_type="image/jpeg")
    campaign(title="没有照片的")
    db.session.commit()
    body = text(client.get("/campaigns"))
    assert f"/documents/{photo.id}" in body
    assert "photo-placeholder" in body
    assert "王**" in body
    assert "王小明" not in body
    assert "years old" in body
    assert "Linquan County" in body
    assert "Anhui Provincial Hospital" in body
    assert "¥150,000" in body  # the target
    assert raised_fen(with_photo) == 0
    assert 'aria-valuenow="0"' in body


# --- the campaign page -----------------------------------------------------------------------------------


def test_drafts_are_not_found_for_strangers_but_shown_to_their_family(
    app: Flask, client: FlaskClient
) -> None:
    draft = campaign(state="draft", title="还没提交")
    assert client.get(f"/campaigns/{draft.id}").status_code == 404
    stranger = signed_in(app, user_of_role("family"))
    assert stranger.get(f"/campaigns/{draft.id}").status_code == 404
    assert signed_in(app, draft.applicant).get(f"/campaigns/{draft.id}").status_code == 200
    assert client.get("/campaigns/999999").status_code == 404


def test_public_page_shows_the_case_but_hides_private_fields(app: Flask, client: FlaskClient) -> None:
    shown = CampaignFactory(state="fundraising", with_evidence=True, savings_fen=1_234_500)
    photo = DocumentFactory(campaign=shown, kind="photo", content_type="image/png")
    db.session.commit()
    evidence_ids = [d.id for d in shown.evidence]
    full_id = pii.decrypt_id(shown.patient_id_ciphertext)

    body = text(client.get(f"/campaigns/{shown.id}"))
    assert shown.title in body
    assert 'class="story"' in body
    assert "王**" in body
    assert "王小明" not in body
    assert "Linquan County" in body  # the patient's region, full name
    assert "急性淋巴细胞白血病" in body
    assert "Anhui Provincial Hospital" in body
    assert "Tertiary hospital" in body
    assert "Not confirmed yet" in body
    assert "¥400,000" in body
    assert "¥300,000" in body
    assert "¥150,000" in body
    assert "老家自建房一处" in body  # house note is public
    assert f"/documents/{photo.id}" in body
    # Private: amounts, the ID number (even masked), evidence documents.
    assert "¥48,000" not in body
    assert "¥12,345" not in body
    assert shown.patient_id_masked not in body
    assert full_id not in body
    assert all(f"/documents/{i}" not in body for i in evidence_ids)

    staff = signed_in(app, user_of_role("charity_staff"))
    body = text(staff.get(f"/campaigns/{shown.id}"))
    assert "¥48,000" in body
    assert "¥12,345" in body
    assert shown.patient_id_masked in body
    assert full_id not in body
    assert all(f"/documents/{i}" in body for i in evidence_ids)


def test_officers_see_private_fields_only_in_their_jurisdiction(app: Flask) -> None:
    shown = campaign()  # Linquan county, Fuyang
    inside = UserFactory(officer=True, jurisdiction_code="341200")
    outside = UserFactory(officer=True, jurisdiction_code="110000")
    assert "¥48,000" in text(signed_in(app, inside).get(f"/campaigns/{shown.id}"))
    assert "¥48,000" not in text(signed_in(app, outside).get(f"/campaigns/{shown.id}"))


def test_stay_confirmation_reason_and_timeline_without_actors(app: Flask, client: FlaskClient) -> None:
    shown = CampaignFactory(with_evidence=True)
    worker = UserFactory(social_worker=True, name="社工李")
    reviewer = UserFactory(charity_staff=True, name="审核员赵")
    db.session.commit()
    from fundraise.jobs.outbox import relay
    from fundraise.services.filing import confirm_stay

    transition(shown, "submit", actor=shown.applicant)
    relay()
    confirm_stay(shown, worker)
    transition(shown, "verify", actor=reviewer, reason="病历与费用清单一致，医保记录核实无误。")
    body = text(client.get(f"/campaigns/{shown.id}"))
    assert "Confirmed" in body
    assert "social worker on" in body
    assert "病历与费用清单一致" in body  # the reviewer's reason for a verified case
    for label in ("Submitted for verification", "Sent to a charity reviewer", "Verified"):
        assert label in body
    assert "社工李" not in body
    assert "审核员赵" not in body
    assert "charity_staff:" not in body


def test_updates_newest_first_with_photos(client: FlaskClient) -> None:
    from datetime import UTC, datetime

    from fundraise.models import CampaignUpdate

    shown = campaign()
    old = CampaignUpdate(
        campaign_id=shown.id,
        author_id=shown.applicant_id,
        body="第一次化疗结束",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    new = CampaignUpdate(
        campaign_id=shown.id,
        author_id=shown.applicant_id,
        body="第二次化疗结束",
        created_at=datetime(2026, 2, 1, tzinfo=UTC),
    )
    db.session.add_all([old, new])
    db.session.flush()
    photo = DocumentFactory(campaign=shown, kind="update_photo", update_id=new.id, content_type="image/png")
    db.session.commit()
    db.session.expire_all()
    body = text(client.get(f"/campaigns/{shown.id}"))
    assert body.index("第二次化疗结束") < body.index("第一次化疗结束")
    assert f"/documents/{photo.id}" in body


# --- reporting a campaign --------------------------------------------------------------------------------


def _reports(campaign_id: int) -> list[CampaignReport]:
    return list(db.session.scalars(select(CampaignReport).where(CampaignReport.campaign_id == campaign_id)))


def test_anonymous_report_is_stored_and_audited(client: FlaskClient) -> None:
    shown = campaign()
    response = client.post(
        f"/campaigns/{shown.id}/report",
        data={
            "reason": "already_covered",
            "details": "这家人的费用已经由保险全额报销了。",
            "contact": "wit@example.cn",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/campaigns/{shown.id}#main")
    assert "Thank you" in text(client.get(response.headers["Location"]))
    [stored] = _reports(shown.id)
    assert (stored.reason, stored.status, stored.reporter_id) == ("already_covered", "open", None)
    assert stored.reporter_contact == "wit@example.cn"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "report.create"))
    assert event is not None
    assert event.object_id == str(stored.id)


def test_anonymous_report_needs_a_contact_and_keeps_what_was_typed(client: FlaskClient) -> None:
    shown = campaign()
    typed = "我认识这家人，他们另有一套房子。"
    response = client.post(
        f"/campaigns/{shown.id}/report", data={"reason": "false_information", "details": typed}
    )
    assert response.status_code == 422
    body = text(response)
    assert typed in body
    assert "Leave an e-mail address or phone number" in body
    assert "<details open>" in body
    assert _reports(shown.id) == []


ENOUGH = "详细情况说明在这里写够十个字"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"reason": "misuse", "details": "太短", "contact": "13800000000"}, "details"),
        ({"reason": "misuse", "details": "x" * 2001, "contact": "13800000000"}, "details"),
        ({"reason": "misuse", "details": "          ", "contact": "13800000000"}, "details"),
        ({"reason": "", "details": ENOUGH, "contact": "13800000000"}, "reason"),
        ({"reason": "bogus", "details": ENOUGH, "contact": "13800000000"}, "reason"),
        ({"reason": "misuse", "details": ENOUGH, "contact": "not-a-contact"}, "contact"),
        ({"reason": "misuse", "details": ENOUGH, "contact": "12"}, "contact"),
    ],
)
def test_invalid_reports_rerender_with_errors(client: FlaskClient, data: dict[str, str], field: str) -> None:
    shown = campaign()
    response = client.post(f"/campaigns/{shown.id}/report", data=data)
    assert response.status_code == 422
    marked = re.findall(r'<div class="field [^"]*has-error">\s*<label for="(\w+)"', text(response))
    assert marked == [field]
    assert _reports(shown.id) == []


def test_signed_in_reporter_needs_no_contact(app: Flask) -> None:
    shown = campaign()
    donor = user_of_role("donor")
    client = signed_in(app, donor)
    response = client.post(
        f"/campaigns/{shown.id}/report",
        data={"reason": "duplicate", "details": "在另一个平台也有同一个孩子的筹款。"},
    )
    assert response.status_code == 302
    [stored] = _reports(shown.id)
    assert stored.reporter_id == donor.id
    assert stored.reporter_contact == ""


def test_a_draft_cannot_be_reported_by_strangers(client: FlaskClient) -> None:
    draft = campaign(state="draft")
    response = client.post(
        f"/campaigns/{draft.id}/report",
        data={"reason": "misuse", "details": "详细情况说明在这里写够十个字", "contact": "a@b.cn"},
    )
    assert response.status_code == 404
    assert _reports(draft.id) == []

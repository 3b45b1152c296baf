"""Staff pages: the review queue and decisions, the report queue, and the officer's regional list."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from fundraise import pii
from fundraise.extensions import db
from fundraise.jobs.outbox import relay
from fundraise.models import AuditEvent, Campaign, CampaignReport, User
from fundraise.services import campaign_reports
from fundraise.services.transitions import transition
from tests.factories import CampaignFactory, UserFactory, user_of_role
from tests.web.test_public import signed_in, text

REASON = "诊断证明、费用清单与医院记录一致，家庭收入与低保记录相符。"


@pytest.fixture
def reviewer() -> User:
    user = UserFactory(charity_staff=True, name="审核员周")
    db.session.commit()
    return user


@pytest.fixture
def staff(app: Flask, reviewer: User) -> FlaskClient:
    return signed_in(app, reviewer)


def awaiting_review(**fields: Any) -> Campaign:
    """A complete case taken through the real flow: submitted, verification started, flagged for review."""
    campaign = CampaignFactory(with_evidence=True, **fields)
    db.session.commit()
    transition(campaign, "submit", actor=campaign.applicant)
    relay()
    assert campaign.state == "needs_review"
    return campaign


def fresh(campaign: Campaign) -> Campaign:
    db.session.expire_all()
    found = db.session.get(Campaign, campaign.id)
    assert found is not None
    return found


def events(action: str, object_id: int) -> int:
    return (
        db.session.scalar(
            select(func.count(AuditEvent.id)).where(
                AuditEvent.action == action, AuditEvent.object_id == str(object_id)
            )
        )
        or 0
    )


# --- dashboard -------------------------------------------------------------------------------------------


def test_dashboard_counts_for_staff(staff: FlaskClient) -> None:
    awaiting_review()
    CampaignFactory(state="fundraising")
    db.session.commit()
    body = text(staff.get("/staff/"))
    assert "Cases awaiting review" in body
    assert "Open reports" in body
    assert '<span class="stat-number">1</span><span>Cases awaiting review</span>' in body


def test_dashboard_for_officers_counts_their_region(app: Flask) -> None:
    CampaignFactory(state="fundraising")  # Linquan, inside Fuyang
    CampaignFactory(state="fundraising", patient_region_code="110105")
    officer = UserFactory(officer=True, jurisdiction_code="341200")
    body = text(signed_in(app, officer).get("/staff/"))
    assert "Campaigns in your region" in body
    assert "Fundraising</span> 1" in body


@pytest.mark.parametrize("role", ["family", "donor", "social_worker"])
def test_staff_pages_refuse_other_roles(app: Flask, role: str) -> None:
    client = signed_in(app, user_of_role(role))
    for url in ("/staff/", "/staff/reviews", "/staff/reports", "/staff/region"):
        assert client.get(url).status_code == 403, url


def test_staff_pages_send_guests_to_sign_in(client: FlaskClient) -> None:
    response = client.get("/staff/reviews")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


# --- reviews ---------------------------------------------------------------------------------------------


def test_review_queue_lists_cases_oldest_first(staff: FlaskClient) -> None:
    first = awaiting_review(title="先来的病例")
    second = awaiting_review(title="后来的病例")
    CampaignFactory(state="fundraising", title="不需要审核的")
    db.session.commit()
    body = text(staff.get("/staff/reviews"))
    assert body.index(first.title) < body.index(second.title)
    assert "不需要审核的" not in body


def test_review_page_shows_every_filed_fact_and_the_evidence(staff: FlaskClient) -> None:
    case = awaiting_review()
    body = text(staff.get(f"/staff/reviews/{case.id}"))
    assert "王小明" in body  # reviewers see the full name
    assert case.patient_id_masked in body
    assert pii.decrypt_id(case.patient_id_ciphertext) not in body  # not until asked for
    for fact in ("C91.0", "急性淋巴细胞白血病", "安徽省立医院", "¥400,000", "¥48,000", "老家自建房一处"):
        assert fact in body, fact
    for document in case.evidence:
        assert f"/documents/{document.id}" in body
    assert "Record the decision" in body


def test_revealing_the_id_number_is_a_post_and_is_audited(staff: FlaskClient) -> None:
    case = awaiting_review()
    full = pii.decrypt_id(case.patient_id_ciphertext)
    assert staff.get(f"/staff/reviews/{case.id}/reveal-id").status_code == 405
    response = staff.post(f"/staff/reviews/{case.id}/reveal-id")
    assert response.status_code == 200
    assert full in text(response)
    assert response.headers["Cache-Control"] == "no-store"
    assert events("campaign.reveal_id", case.id) == 1


def test_approve_with_a_reason(staff: FlaskClient, reviewer: User) -> None:
    case = awaiting_review()
    response = staff.post(f"/staff/reviews/{case.id}/decide", data={"decision": "approve", "reason": REASON})
    assert response.status_code == 302
    case = fresh(case)
    assert case.state == "verified"
    assert case.decision_reason == REASON
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "campaign.verify"))
    assert event is not None
    assert event.actor_id == reviewer.id
    assert "verified" in text(staff.get("/staff/reviews"))  # the flash


def test_reject_with_a_reason(staff: FlaskClient) -> None:
    case = awaiting_review()
    response = staff.post(f"/staff/reviews/{case.id}/decide", data={"decision": "reject", "reason": REASON})
    assert response.status_code == 302
    assert fresh(case).state == "rejected"


@pytest.mark.parametrize("reason", ["", "   ", "太短了"])
@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_a_decision_needs_a_written_reason(staff: FlaskClient, decision: str, reason: str) -> None:
    case = awaiting_review()
    response = staff.post(f"/staff/reviews/{case.id}/decide", data={"decision": decision, "reason": reason})
    assert response.status_code == 422
    assert 'has-error">' in text(response)
    assert fresh(case).state == "needs_review"
    assert events("campaign.verify", case.id) + events("campaign.reject", case.id) == 0


def test_a_decision_needs_approve_or_reject(staff: FlaskClient) -> None:
    case = awaiting_review()
    response = staff.post(f"/staff/reviews/{case.id}/decide", data={"decision": "shrug", "reason": REASON})
    assert response.status_code == 422
    assert fresh(case).state == "needs_review"


def test_deciding_twice_is_refused_and_changes_nothing(staff: FlaskClient) -> None:
    case = awaiting_review()
    staff.post(f"/staff/reviews/{case.id}/decide", data={"decision": "approve", "reason": REASON})
    again = staff.post(
        f"/staff/reviews/{case.id}/decide",
        data={"decision": "reject", "reason": "第二次决定，本不应该生效的理由。"},
        follow_redirects=True,
    )
    assert again.status_code == 200
    assert "cannot be moved by" in text(again)
    case = fresh(case)
    assert case.state == "verified"
    assert case.decision_reason == REASON
    assert events("campaign.reject", case.id) == 0
    assert events("campaign.verify", case.id) == 1
    assert "Record the decision" not in text(again)


def test_unknown_case_is_not_found(staff: FlaskClient) -> None:
    assert staff.get("/staff/reviews/999999").status_code == 404
    assert (
        staff.post("/staff/reviews/999999/decide", data={"decision": "approve", "reason": REASON}).status_code
        == 404
    )


# --- reports ---------------------------------------------------------------------------------------------


def reported(state: str = "fundraising", count: int = 1) -> tuple[Campaign, list[CampaignReport]]:
    campaign = CampaignFactory(state=state)
    db.session.commit()
    made = [
        campaign_reports.file_report(
            campaign,
            None,
            reason="false_information",
            details=f"第{n}条举报：家庭另有房产未披露。",
            contact="a@b.cn",
        )
        for n in range(count)
    ]
    return campaign, made


RESOLUTION = "经核实，家庭确有两套房产未如实披露，暂停筹款。"


def test_report_queue_lists_open_reports(staff: FlaskClient) -> None:
    campaign, [report] = reported()
    body = text(staff.get("/staff/reports"))
    assert f"/staff/reports/{report.id}" in body
    assert campaign.title in body
    assert "The information is false" in body


def test_uphold_suspends_then_reinstate(client: FlaskClient, staff: FlaskClient, reviewer: User) -> None:
    campaign, [report] = reported()
    page = text(staff.get(f"/staff/reports/{report.id}"))
    assert "家庭另有房产未披露" in page
    assert "a@b.cn" in page

    response = staff.post(
        f"/staff/reports/{report.id}/resolve", data={"outcome": "uphold", "resolution": RESOLUTION}
    )
    assert response.status_code == 302
    db.session.expire_all()
    report = db.session.get(CampaignReport, report.id)
    assert report is not None
    assert (report.status, report.handled_by_id, report.resolution) == ("upheld", reviewer.id, RESOLUTION)
    campaign = fresh(campaign)
    assert campaign.state == "suspended"
    assert campaign.state_before_suspension == "fundraising"
    assert events("report.uphold", report.id) == 1
    assert events("campaign.suspend", campaign.id) == 1

    public_page = text(client.get(f"/campaigns/{campaign.id}"))
    assert "Suspended" in public_page
    assert RESOLUTION in public_page

    page = text(staff.get(f"/staff/reports/{report.id}"))
    assert "Reinstate the campaign" in page
    assert staff.post(f"/staff/reports/{report.id}/reinstate", data={"reason": "短"}).status_code == 422
    assert fresh(campaign).state == "suspended"
    response = staff.post(
        f"/staff/reports/{report.id}/reinstate", data={"reason": "家庭补充了房产证明，房产为危房，恢复筹款。"}
    )
    assert response.status_code == 302
    assert fresh(campaign).state == "fundraising"
    assert events("campaign.reinstate", campaign.id) == 1


def test_reinstating_waits_for_every_open_report(staff: FlaskClient) -> None:
    campaign, [first, second] = reported(count=2)
    staff.post(f"/staff/reports/{first.id}/resolve", data={"outcome": "uphold", "resolution": RESOLUTION})
    assert fresh(campaign).state == "suspended"
    page = text(staff.get(f"/staff/reports/{first.id}"))
    assert "Reinstate the campaign" not in page
    assert "still open" in page
    refused = staff.post(
        f"/staff/reports/{first.id}/reinstate",
        data={"reason": "想要恢复筹款，但还有举报未处理。"},
        follow_redirects=True,
    )
    assert "Resolve every open report" in text(refused)
    assert fresh(campaign).state == "suspended"

    staff.post(
        f"/staff/reports/{second.id}/resolve",
        data={"outcome": "dismiss", "resolution": "与第一条举报重复，已一并处理。"},
    )
    assert fresh(campaign).state == "suspended"  # dismissing leaves the campaign as it is
    response = staff.post(
        f"/staff/reports/{second.id}/reinstate", data={"reason": "所有举报均已处理，问题已澄清。"}
    )
    assert response.status_code == 302
    assert fresh(campaign).state == "fundraising"


def test_dismiss_leaves_the_campaign_alone(staff: FlaskClient) -> None:
    campaign, [report] = reported()
    response = staff.post(
        f"/staff/reports/{report.id}/resolve",
        data={"outcome": "dismiss", "resolution": "举报内容与医院记录不符，不予采纳。"},
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(CampaignReport, report.id).status == "dismissed"  # type: ignore[union-attr]
    assert fresh(campaign).state == "fundraising"
    assert events("report.dismiss", report.id) == 1


def test_resolution_is_required_and_resolving_twice_is_refused(staff: FlaskClient) -> None:
    campaign, [report] = reported()
    for data in ({"outcome": "uphold", "resolution": ""}, {"outcome": "", "resolution": RESOLUTION}):
        assert staff.post(f"/staff/reports/{report.id}/resolve", data=data).status_code == 422
    assert fresh(campaign).state == "fundraising"
    staff.post(
        f"/staff/reports/{report.id}/resolve",
        data={"outcome": "dismiss", "resolution": "不予采纳，理由见记录。"},
    )
    again = staff.post(
        f"/staff/reports/{report.id}/resolve",
        data={"outcome": "uphold", "resolution": RESOLUTION},
        follow_redirects=True,
    )
    assert "already been resolved" in text(again)
    assert fresh(campaign).state == "fundraising"


def test_upholding_a_report_on_a_closed_campaign_does_not_suspend_it(staff: FlaskClient) -> None:
    campaign, [report] = reported(state="closed")
    staff.post(f"/staff/reports/{report.id}/resolve", data={"outcome": "uphold", "resolution": RESOLUTION})
    assert fresh(campaign).state == "closed"
    db.session.expire_all()
    assert db.session.get(CampaignReport, report.id).status == "upheld"  # type: ignore[union-attr]


# --- the officer's region --------------------------------------------------------------------------------


def test_officer_region_is_scoped_to_the_jurisdiction(app: Flask) -> None:
    inside = awaiting_review(title="临泉县的病例")  # 341221, inside Fuyang (341200)
    CampaignFactory(state="fundraising", title="颍州区的病例", patient_region_code="341202")
    CampaignFactory(state="draft", title="临泉县的草稿")
    outside = CampaignFactory(state="needs_review", title="北京的病例", patient_region_code="110105")
    CampaignFactory(state="fundraising", title="合肥的病例", patient_region_code="340103")
    officer = UserFactory(officer=True, jurisdiction_code="341200")
    client = signed_in(app, officer)

    body = text(client.get("/staff/region"))
    assert "临泉县的病例" in body
    assert "颍州区的病例" in body
    assert "临泉县的草稿" not in body
    assert "北京的病例" not in body
    assert "合肥的病例" not in body
    assert "¥400,000" in body  # amounts
    assert text(client.get("/staff/region?state=fundraising")).count("的病例</a>") == 1
    assert client.get("/staff/region?state=draft&page=x").status_code == 200

    # The case page: private details inside the jurisdiction, nothing outside it.
    case = client.get(f"/campaigns/{inside.id}")
    assert case.status_code == 200
    assert "¥48,000" in text(case)
    assert client.get(f"/campaigns/{outside.id}").status_code == 404


def test_region_list_is_for_officers_only(staff: FlaskClient) -> None:
    assert staff.get("/staff/region").status_code == 403

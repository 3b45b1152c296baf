"""The report workflow: credible (disbursements freeze), evidence asked of the family and answered, dismissed
(the freeze lifts), an objection holding one disbursement, and confirmed fraud (unpaid disbursements
cancelled, every donor refunded, the patient blocked at filing), each step by the right and wrong role."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from fundraise import ledger, pii
from fundraise.errors import Forbidden, IllegalTransition, ValidationFailed
from fundraise.extensions import db
from fundraise.models import (
    AuditEvent,
    BlockedPatient,
    Campaign,
    CampaignReport,
    Donation,
    DonationRefund,
    Notification,
    Role,
    User,
)
from fundraise.services import block_list, campaign_reports, disbursements
from fundraise.services.disbursement_invariants import check_disbursements
from fundraise.services.documents import Upload
from fundraise.services.filing import missing_items
from tests.disbursements.world import World, world
from tests.factories import UserFactory
from tests.web.test_filing import patient_form, pdf_bytes, upload
from tests.web.test_public import signed_in, text

DETAILS = "这个家庭另有两套房产和一辆车，没有如实披露。"
NOTE = "举报附有房产证照片，可信。"
ASK = "请提供家庭全部房产的不动产登记查询结果。"
ANSWER = "附上不动产登记中心出具的查询结果：家庭名下只有一套自住房。"
RESOLUTION = "经不动产登记查询核实，举报不实，不予采纳。"
FRAUD = "经医院核实，诊断证明系伪造，患者并未住院，确认为诈骗。"


def report_on(w: World, reason: str = "misuse", disbursement_id: int | None = None) -> CampaignReport:
    return campaign_reports.file_report(
        w.campaign, None, reason=reason, details=DETAILS, contact="a@b.cn", disbursement_id=disbursement_id
    )


def end_notice(disbursement_id: int) -> None:
    d = disbursements.get(disbursement_id)
    d.notice_ends_at = d.notice_ends_at - timedelta(days=2)
    db.session.commit()


def fresh_report(report_id: int) -> CampaignReport:
    db.session.expire_all()
    found = db.session.get(CampaignReport, report_id)
    assert found is not None
    return found


def invariants_hold() -> None:
    assert ledger.verify()[1] == []
    assert check_disbursements()[1] == []


def test_each_step_refuses_the_wrong_role(app: Flask) -> None:
    w = world(app)
    report = report_on(w)
    stranger = UserFactory()
    db.session.commit()
    for who in (w.family, stranger):
        with pytest.raises(Forbidden):
            campaign_reports.mark_credible(report, who, NOTE)
        with pytest.raises(Forbidden):
            campaign_reports.request_evidence(report, who, ASK, date.today() + timedelta(days=7))
        with pytest.raises(Forbidden):
            campaign_reports.dismiss_report(report, who, RESOLUTION)
        with pytest.raises(Forbidden):
            campaign_reports.confirm_fraud(report, who, FRAUD)
    campaign_reports.request_evidence(report, w.approver, ASK, date.today() + timedelta(days=7))
    for who in (w.approver, stranger):
        with pytest.raises(Forbidden):
            campaign_reports.answer_evidence(report, who, ANSWER)
    assert fresh_report(report.id).evidence_response == ""
    with pytest.raises(IllegalTransition):
        campaign_reports.mark_credible(report, w.approver, NOTE)  # only an open report


def test_staff_pages_refuse_families(app: Flask) -> None:
    w = world(app)
    report = report_on(w)
    family = signed_in(app, w.family)
    assert family.get("/staff/reports").status_code == 403
    assert family.post(f"/staff/reports/{report.id}/credible", data={"note": NOTE}).status_code == 403
    assert (
        family.post(
            f"/staff/reports/{report.id}/fraud", data={"resolution": FRAUD, "confirm": "y"}
        ).status_code
        == 403
    )
    assert fresh_report(report.id).status == "open"


def test_credible_freezes_approval_and_payment_and_dismissal_lifts_it(app: Flask) -> None:
    w = world(app, gifts=(100_000, 100_000))
    approved = w.request(50_000)
    waiting = w.request(40_000)
    end_notice(approved.id)
    end_notice(waiting.id)
    disbursements.approve(approved.id, w.approver)
    report = report_on(w)
    assert disbursements.frozen_reason(w.campaign) is None  # an untriaged report freezes nothing

    staff = signed_in(app, w.approver)
    assert staff.post(f"/staff/reports/{report.id}/credible", data={"note": ""}).status_code == 422
    assert staff.post(f"/staff/reports/{report.id}/credible", data={"note": NOTE}).status_code == 302
    assert fresh_report(report.id).status == "credible"
    with pytest.raises(IllegalTransition, match="frozen"):
        disbursements.approve(waiting.id, w.second)
    with pytest.raises(IllegalTransition, match="frozen"):
        disbursements.record_payment(approved.id, w.finance, "HX20261203010")

    # Evidence: a date in the past or too far away is refused beside the field.
    for bad in (date.today(), date.today() + timedelta(days=61)):
        response = staff.post(
            f"/staff/reports/{report.id}/evidence", data={"request_text": ASK, "due_on": bad.isoformat()}
        )
        assert response.status_code == 422
        assert "at most 60 days" in text(response)
    due = date.today() + timedelta(days=14)
    response = staff.post(
        f"/staff/reports/{report.id}/evidence", data={"request_text": ASK, "due_on": due.isoformat()}
    )
    assert response.status_code == 302
    assert fresh_report(report.id).status == "evidence_requested"
    notice = db.session.scalar(select(Notification).where(Notification.kind == "evidence_requested"))
    assert notice is not None
    assert notice.user_id == w.family.id
    assert notice.params["due_on"] == due.isoformat()
    with pytest.raises(IllegalTransition, match="frozen"):
        disbursements.approve(waiting.id, w.second)

    # The family finds the request on its dashboard and answers with a file.
    family = signed_in(app, w.family)
    path = f"/family/campaigns/{w.campaign.id}/reports/{report.id}/evidence"
    assert path in text(family.get("/family/"))
    page = text(family.get(path))
    assert ASK in page
    assert DETAILS not in page  # the family never sees what the reporter wrote
    assert family.post(path, data={"response_text": "短"}).status_code == 422
    response = family.post(
        path,
        data={"response_text": ANSWER, "files": upload(pdf_bytes("登记查询"), "查询结果.pdf")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    answered = fresh_report(report.id)
    assert answered.status == "evidence_requested"  # staff decide
    assert answered.evidence_response == ANSWER
    [document] = campaign_reports.evidence_documents(answered)
    assert document.kind == "report_evidence"
    report_page = text(staff.get(f"/staff/reports/{report.id}"))
    assert ANSWER in report_page
    assert f"/documents/{document.id}" in report_page
    assert "Evidence requested" in report_page

    response = staff.post(
        f"/staff/reports/{report.id}/resolve", data={"outcome": "dismiss", "resolution": RESOLUTION}
    )
    assert response.status_code == 302
    assert fresh_report(report.id).status == "dismissed"
    assert disbursements.frozen_reason(w.campaign) is None
    disbursements.record_payment(approved.id, w.finance, "HX20261203010")
    disbursements.approve(waiting.id, w.second)
    invariants_hold()


def test_an_overdue_request_is_shown_to_staff(app: Flask) -> None:
    w = world(app)
    report = report_on(w)
    campaign_reports.request_evidence(report, w.approver, ASK, date.today() + timedelta(days=3))
    row = fresh_report(report.id)
    row.evidence_due_on = date.today() - timedelta(days=1)
    db.session.commit()
    assert campaign_reports.is_overdue(row)
    staff = signed_in(app, w.approver)
    queue = text(staff.get("/staff/reports"))
    assert "Overdue since" in queue
    assert "evidence_requested" not in queue.replace('"evidence_requested"', "")  # a label, not the code
    assert "Overdue: the family has not answered." in text(staff.get(f"/staff/reports/{report.id}"))
    # A late answer is still taken; it is no longer overdue.
    campaign_reports.answer_evidence(row, w.family, ANSWER, [Upload("查询结果.pdf", pdf_bytes())])
    assert not campaign_reports.is_overdue(fresh_report(report.id))


def test_an_objection_holds_one_disbursement_in_notice(app: Flask) -> None:
    w = world(app, gifts=(100_000,))
    waiting = w.request(30_000)
    other = w.request(20_000)
    end_notice(other.id)
    disbursements.approve(other.id, w.approver)
    with pytest.raises(ValidationFailed) as refused:
        report_on(w, reason="disbursement_objection", disbursement_id=other.id)
    assert "disbursement_id" in refused.value.fields
    with pytest.raises(ValidationFailed) as refused:
        report_on(w, reason="disbursement_objection")
    assert "reason" in refused.value.fields

    objection = report_on(w, reason="disbursement_objection", disbursement_id=waiting.id)
    assert disbursements.held_ids([waiting.id, other.id]) == {waiting.id}
    staff = signed_in(app, w.approver)
    page = text(staff.get(f"/staff/reports/{objection.id}"))
    assert f"/disbursements/{waiting.id}" in page
    assert "An objection to a disbursement in its notice period" in page
    end_notice(waiting.id)
    with pytest.raises(IllegalTransition, match="objection"):
        disbursements.approve(waiting.id, w.second)
    campaign_reports.dismiss_report(objection, w.approver, RESOLUTION)
    assert disbursements.held_ids([waiting.id]) == set()
    disbursements.approve(waiting.id, w.second)
    invariants_hold()


def test_confirmed_fraud_cancels_refunds_and_blocks_the_patient(app: Flask, client: FlaskClient) -> None:
    w = world(app, gifts=(100_000, 100_000, 50_000))
    paid = w.request(80_000)
    approved = w.request(30_000)
    waiting = w.request(20_000)
    for d in (paid, approved):
        end_notice(d.id)
        disbursements.approve(d.id, w.approver)
    disbursements.record_payment(paid.id, w.finance, "HX20261203020")
    report = report_on(w)
    second = report_on(w, reason="false_information")
    campaign_reports.mark_credible(report, w.approver, NOTE)

    staff = signed_in(app, w.approver)
    assert staff.post(f"/staff/reports/{report.id}/fraud", data={"resolution": FRAUD}).status_code == 422
    response = staff.post(
        f"/staff/reports/{report.id}/fraud", data={"resolution": FRAUD, "confirm": "y"}, follow_redirects=True
    )
    assert response.status_code == 200
    page = text(response)
    assert "Fraud confirmed" in page
    assert "3 refunds were asked" in page
    assert "Refunds to donors" in page

    db.session.expire_all()
    assert fresh_report(report.id).status == "fraud_confirmed"
    assert fresh_report(second.id).status == "fraud_confirmed"
    statuses = {d.id: disbursements.get(d.id).status for d in (paid, approved, waiting)}
    assert statuses == {paid.id: "paid", approved.id: "cancelled", waiting.id: "cancelled"}
    campaign = w.campaign
    db.session.refresh(campaign)
    assert campaign.state == "cancelled"
    assert campaign.ended_code == "fraud_confirmed"
    assert campaign.ended_at is not None
    for donation in db.session.scalars(select(Donation).where(Donation.campaign_id == campaign.id)):
        asked = db.session.scalar(
            select(func.coalesce(func.sum(DonationRefund.amount_fen), 0)).where(
                DonationRefund.donation_id == donation.id
            )
        )
        assert asked == donation.amount_fen  # every donor refunded in full, the platform covering the payout
    blocked = db.session.scalar(select(BlockedPatient))
    assert blocked is not None
    assert blocked.patient_id_index == campaign.patient_id_index
    assert blocked.report_id == report.id
    invariants_hold()
    with pytest.raises(IllegalTransition, match="already been resolved"):
        campaign_reports.confirm_fraud(report, w.approver, FRAUD)
    assert db.session.scalar(select(func.count(BlockedPatient.id))) == 1

    # A new filing with the same ID number is refused on the ID field, naming no other campaign.
    assert campaign.patient_id_ciphertext is not None
    number = pii.decrypt_id(campaign.patient_id_ciphertext)
    newcomer = UserFactory()
    db.session.commit()
    family = signed_in(app, newcomer)
    refused = family.post("/family/campaigns/new", data=patient_form(patient_id_number=number))
    assert refused.status_code == 422
    body = text(refused)
    assert "cannot raise money on Aidbridge after a confirmed fraud report" in body
    assert campaign.title not in body
    assert db.session.scalar(select(func.count()).where(AuditEvent.action == "patient_block.add")) == 1


def test_a_draft_saved_before_the_block_cannot_be_submitted(app: Flask) -> None:
    w = world(app, gifts=(10_000,))
    assert w.campaign.patient_id_ciphertext is not None
    number = pii.decrypt_id(w.campaign.patient_id_ciphertext)
    newcomer = UserFactory()
    db.session.commit()
    family = signed_in(app, newcomer)
    response = family.post("/family/campaigns/new", data=patient_form(patient_id_number=number))
    assert response.status_code == 302
    report = report_on(w)
    campaign_reports.confirm_fraud(report, w.approver, FRAUD)
    draft = db.session.scalar(select(Campaign).where(Campaign.applicant_id == newcomer.id))
    assert draft is not None
    assert "confirmed fraud" in missing_items(draft)["patient_id_number"][0]


def test_only_an_admin_lifts_a_block(app: Flask) -> None:
    w = world(app, gifts=(10_000,))
    report = report_on(w)
    campaign_reports.confirm_fraud(report, w.approver, FRAUD)
    index = w.campaign.patient_id_index
    assert block_list.blocked_reason(index) is not None
    row = block_list.find(index)
    assert row is not None
    with pytest.raises(Forbidden):
        block_list.lift_block(row.id, w.approver, "法院判决认定不构成诈骗，解除限制。")
    admin: User = UserFactory(role=Role.ADMIN)
    db.session.commit()
    staff = signed_in(app, w.approver)
    assert "Lift the block" not in text(staff.get(f"/staff/reports/{report.id}"))
    assert staff.post(f"/staff/reports/{report.id}/lift-block", data={"reason": "x" * 20}).status_code == 403
    admin_client = signed_in(app, admin)
    assert (
        admin_client.post(f"/staff/reports/{report.id}/lift-block", data={"reason": "短"}).status_code == 422
    )
    response = admin_client.post(
        f"/staff/reports/{report.id}/lift-block", data={"reason": "法院判决认定不构成诈骗，解除限制。"}
    )
    assert response.status_code == 302
    assert block_list.blocked_reason(index) is None
    assert db.session.scalar(select(func.count()).where(AuditEvent.action == "patient_block.lift")) == 1


def test_queue_lists_every_unresolved_report_with_its_state(app: Flask) -> None:
    w = world(app, gifts=(10_000,))
    first, second, third, done = (report_on(w) for _ in range(4))
    campaign_reports.mark_credible(second, w.approver, NOTE)
    campaign_reports.request_evidence(third, w.approver, ASK, date.today() + timedelta(days=5))
    campaign_reports.dismiss_report(done, w.approver, RESOLUTION)
    staff = signed_in(app, w.approver)
    page = text(staff.get("/staff/reports"))
    for shown in (first, second, third):
        assert f'/staff/reports/{shown.id}"' in page
    assert f'/staff/reports/{done.id}"' not in page
    for label in ("Open", "Credible: payouts frozen", "Evidence requested", "Answer by"):
        assert label in page
    # Family side: another family cannot open the request.
    stranger = UserFactory()
    db.session.commit()
    other = signed_in(app, stranger)
    assert other.get(f"/family/campaigns/{w.campaign.id}/reports/{third.id}/evidence").status_code == 404

"""The disbursement pages end to end: the request form (good path, every bad input sent back with its message
and nothing written, a double submit), the detail page as each role, approving, rejecting and paying through the
pages with the service's refusals shown, the bank file, and the admins' settlement-account pages."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from fundraise.extensions import db
from fundraise.models import (
    AuditEvent,
    Disbursement,
    Document,
    Role,
    SettlementAccount,
    SettlementStatus,
)
from fundraise.services import disbursements
from tests.disbursements.world import World, pdf_bill, world
from tests.factories import UserFactory, hospital

PDF = pdf_bill().data


def _count(model: Any, *where: Any) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _request_key(client: FlaskClient, campaign_id: int) -> str:
    page = client.get(f"/campaigns/{campaign_id}/disbursements/new")
    assert page.status_code == 200
    found = re.search(r'name="request_key" type="hidden" value="([0-9a-f]+)"', page.get_data(as_text=True))
    assert found is not None
    return found.group(1)


def _post_request(client: FlaskClient, w: World, **changes: Any) -> Any:
    data: dict[str, Any] = {
        "source": "campaign_fund",
        "amount": "1000",
        "bill_total": "1200.50",
        "purpose": "住院费用（三月）",
        "request_key": _request_key(client, w.campaign.id),
        "bill": (io.BytesIO(PDF), "账单.pdf"),
    }
    data.update(changes)
    data = {key: value for key, value in data.items() if value is not None}
    return client.post(
        f"/campaigns/{w.campaign.id}/disbursements/new", data=data, content_type="multipart/form-data"
    )


def _end_notice(disbursement_id: int) -> None:
    found = disbursements.get(disbursement_id)
    found.notice_ends_at = found.notice_ends_at - timedelta(days=2)
    db.session.commit()


# --- the request form -------------------------------------------------------------------------------------


def test_the_request_form_shows_payee_money_and_rules_then_makes_the_request(
    app: Flask, client: FlaskClient, login: Any
) -> None:
    w = world(app)
    login(w.family)
    page = client.get(f"/campaigns/{w.campaign.id}/disbursements/new").get_data(as_text=True)
    assert "•••• 5678" in page
    assert "6217" not in page
    assert "24 hours" in page
    assert "¥50,000" in page
    response = _post_request(client, w)
    assert response.status_code == 302
    made = db.session.scalar(select(Disbursement))
    assert made is not None
    assert (made.amount_fen, made.bill_total_fen, made.requested_by_id) == (100_000, 120_050, w.family.id)
    assert response.headers["Location"].endswith(f"/disbursements/{made.id}")
    detail = client.get(f"/disbursements/{made.id}").get_data(as_text=True)
    assert "In public notice" in detail
    assert "Disbursement requested" in detail


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"amount": "100000", "bill_total": "200000"}, "is available from this source now"),
        ({"amount": "1300", "bill_total": "1200"}, "cannot be more than the bill it pays"),
        ({"bill": None}, "Attach the hospital&#39;s bill or invoice"),
        ({"bill": (io.BytesIO(b"just some text"), "bill.pdf")}, "is not a PDF, JPEG or PNG file"),
        ({"purpose": ""}, "Say what it pays for in 4 to 200 characters"),
        ({"amount": "12,00", "purpose": "x"}, "Use commas only between groups of three digits"),
    ],
    ids=["above-available", "above-bill", "no-bill", "not-a-document", "empty-purpose", "unreadable-amount"],
)
def test_a_bad_request_is_sent_back_with_its_message_and_nothing_written(
    app: Flask, client: FlaskClient, login: Any, changes: dict[str, Any], message: str
) -> None:
    w = world(app)
    login(w.family)
    response = _post_request(client, w, **changes)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in page
    assert "Attach the bill again" in page
    if changes.get("purpose") is None:
        assert "住院费用（三月）" in page  # what was typed is kept
    assert _count(Disbursement) == 0
    assert _count(Document, Document.kind == "bill") == 0


def test_an_unreadable_amount_also_shows_the_other_fields_problems(
    app: Flask, client: FlaskClient, login: Any
) -> None:
    w = world(app)
    login(w.family)
    page = _post_request(client, w, amount="abc", purpose="x").get_data(as_text=True)
    assert "Enter an amount in yuan" in page
    assert "Say what it pays for" in page


def test_a_double_submit_makes_one_disbursement(app: Flask, client: FlaskClient, login: Any) -> None:
    w = world(app)
    login(w.family)
    key = _request_key(client, w.campaign.id)
    first = _post_request(client, w, request_key=key)
    second = _post_request(client, w, request_key=key, bill=(io.BytesIO(PDF), "again.pdf"))
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    assert _count(Disbursement) == 1
    assert _count(Document, Document.kind == "bill") == 1


def test_only_the_applicant_side_and_staff_open_the_request_form(
    app: Flask, client: FlaskClient, login: Any
) -> None:
    w = world(app)
    stranger = UserFactory()
    db.session.commit()
    login(stranger)
    assert client.get(f"/campaigns/{w.campaign.id}/disbursements/new").status_code == 404
    client.post("/logout")
    login(w.approver)
    assert client.get(f"/campaigns/{w.campaign.id}/disbursements/new").status_code == 200


# --- the detail page --------------------------------------------------------------------------------------


def test_the_detail_page_as_each_role(app: Flask, client: FlaskClient, login: Any) -> None:
    w = world(app)
    made = w.request(150_000)
    officer = UserFactory(role=Role.CIVIL_AFFAIRS_OFFICER, jurisdiction_code="341200")
    far_officer = UserFactory(role=Role.CIVIL_AFFAIRS_OFFICER, jurisdiction_code="110000")
    admin, donor, stranger = UserFactory(role=Role.ADMIN), UserFactory(role=Role.DONOR), UserFactory()
    db.session.commit()
    url = f"/disbursements/{made.id}"
    assert client.get(url).status_code == 302  # anonymous: to the login page
    expected = {
        w.family.id: 200,
        w.approver.id: 200,
        admin.id: 200,
        officer.id: 200,
        far_officer.id: 404,
        donor.id: 404,
        stranger.id: 404,
    }
    for person in (w.family, w.approver, admin, officer, far_officer, donor, stranger):
        login(person)
        response = client.get(url)
        assert response.status_code == expected[person.id], person.role
        if response.status_code == 200:
            page = response.get_data(as_text=True)
            assert "¥1,500" in page
            assert f"/documents/{made.bill_document_id}" in page
            assert ("Cancel the disbursement" in page) == (person.id in (w.family.id, w.approver.id))
            assert "Approve this disbursement" not in page  # nobody approves during the notice
        client.post("/logout")


def test_approve_reject_and_pay_through_the_pages(app: Flask, client: FlaskClient, login: Any) -> None:
    w = world(app)
    made = w.request(150_000)
    login(w.approver)
    # In its notice: the page says why there is no button, and a post is refused with the reason on top.
    page = client.get(f"/disbursements/{made.id}").get_data(as_text=True)
    assert "The public notice period has not ended yet." in page
    refused = client.post(f"/disbursements/{made.id}/approve", follow_redirects=True)
    assert "The public notice period has not ended yet." in refused.get_data(as_text=True)
    assert disbursements.get(made.id).approvals == []
    _end_notice(made.id)
    assert "Approve this disbursement" in client.get(f"/disbursements/{made.id}").get_data(as_text=True)
    # A reject without a reason comes back with the message next to the note.
    no_reason = client.post(f"/disbursements/{made.id}/reject", data={"reject-note": ""})
    assert no_reason.status_code == 422
    assert "Give the reason in a few words" in no_reason.get_data(as_text=True)
    approved = client.post(
        f"/disbursements/{made.id}/approve", data={"approve-note": "票据核对无误"}, follow_redirects=True
    )
    assert "Your approval is recorded." in approved.get_data(as_text=True)
    assert disbursements.get(made.id).status == "approved"
    # The approver is not a finance member: no payment form, and a post is refused.
    assert "Record payment" not in approved.get_data(as_text=True)
    not_finance = client.post(
        f"/disbursements/{made.id}/pay", data={"pay-reference": "HX20261203001"}, follow_redirects=True
    )
    assert "Only a finance member" in not_finance.get_data(as_text=True)
    client.post("/logout")
    login(w.finance)
    assert "Record payment" in client.get(f"/disbursements/{made.id}").get_data(as_text=True)
    bad = client.post(f"/disbursements/{made.id}/pay", data={"pay-reference": "x"})
    assert bad.status_code == 422
    assert "6 to 64 letters" in bad.get_data(as_text=True)
    paid = client.post(
        f"/disbursements/{made.id}/pay", data={"pay-reference": "HX20261203001"}, follow_redirects=True
    )
    page = paid.get_data(as_text=True)
    assert "HX20261203001" in page
    assert "Paid" in page
    assert disbursements.get(made.id).status == "paid"


def test_a_family_cannot_approve_and_the_requester_can_cancel(
    app: Flask, client: FlaskClient, login: Any
) -> None:
    w = world(app)
    made = w.request(50_000)
    _end_notice(made.id)
    login(w.family)
    assert client.post(f"/disbursements/{made.id}/approve").status_code == 403
    cancelled = client.post(
        f"/disbursements/{made.id}/cancel", data={"cancel-note": "账单有误，重新申请"}, follow_redirects=True
    )
    assert "The disbursement is cancelled." in cancelled.get_data(as_text=True)
    assert disbursements.get(made.id).status == "cancelled"


def test_a_staff_member_of_another_charity_is_refused(app: Flask, client: FlaskClient, login: Any) -> None:
    w = world(app)
    made = w.request(50_000)
    _end_notice(made.id)
    other = UserFactory(charity_staff=True)
    db.session.commit()
    login(other)
    page = client.get(f"/disbursements/{made.id}").get_data(as_text=True)
    assert "Approve this disbursement" not in page
    assert "Reject the request" not in page
    refused = client.post(
        f"/disbursements/{made.id}/reject", data={"reject-note": "不是我们的"}, follow_redirects=True
    )
    assert "Only staff of the charity responsible" in refused.get_data(as_text=True)
    assert disbursements.get(made.id).status == "requested"


# --- the queue and the bank file --------------------------------------------------------------------------


def test_the_queue_lists_by_tab(app: Flask, client: FlaskClient, login: Any) -> None:
    w = world(app)
    waiting = w.request(50_000)
    login(w.approver)
    page = client.get("/staff/disbursements").get_data(as_text=True)
    assert f"/disbursements/{waiting.id}" in page
    assert "In public notice" in page
    assert f"/disbursements/{waiting.id}" not in client.get("/staff/disbursements?tab=paid").get_data(
        as_text=True
    )
    assert client.get("/staff/disbursements?tab=nonsense").status_code == 200


def test_the_bank_file(app: Flask, client: FlaskClient, login: Any) -> None:
    w = world(app)
    made = w.request(150_050)
    _end_notice(made.id)
    disbursements.approve(made.id, w.approver)
    account = db.session.scalar(select(SettlementAccount).where(SettlementAccount.status == "confirmed"))
    assert account is not None
    account.account_name = "=HYPERLINK(evil)"
    db.session.commit()
    login(w.approver)  # not a finance member
    refused = client.get("/staff/disbursements/export.csv", follow_redirects=True)
    assert "Only finance members" in refused.get_data(as_text=True)
    client.post("/logout")
    login(w.finance)
    response = client.get("/staff/disbursements/export.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    body = response.get_data()
    assert body.startswith("\ufeff".encode())
    lines = body.decode("utf-8-sig").split("\r\n")
    assert lines[0] == (
        "payment_id,payee_account_name,payee_bank,payee_account_number,amount_yuan,currency,purpose,campaign_id"
    )
    cells = lines[1].split(",")
    assert cells[0] == str(made.id)
    assert cells[1] == "'=HYPERLINK(evil)"
    assert cells[3] == "6217000012345678"
    assert cells[4] == "1500.50"
    assert cells[5] == "CNY"
    assert cells[6] == f"Aidbridge disbursement {made.id}: 住院费用（第一次结算）"
    assert cells[7] == str(w.campaign.id)
    assert lines[2:] == [""]
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "disbursement.export"))
    assert event is not None
    assert event.after["disbursement_ids"] == [made.id]


# --- settlement accounts ----------------------------------------------------------------------------------


def test_admins_enter_and_confirm_a_settlement_account(app: Flask, client: FlaskClient, login: Any) -> None:
    first, second = UserFactory(role=Role.ADMIN), UserFactory(role=Role.ADMIN)
    db.session.commit()
    target = hospital("AH-PROV")
    login(first)
    page = client.get("/admin/settlement-accounts").get_data(as_text=True)
    assert target.code in page
    form = client.get(f"/admin/settlement-accounts?hospital_id={target.id}").get_data(as_text=True)
    assert f"/admin/settlement-accounts/{target.id}" in form
    bad = client.post(
        f"/admin/settlement-accounts/{target.id}",
        data={"bank_name": "中国银行", "account_name": "安徽省立医院", "account_number": "12ab"},
    )
    assert bad.status_code == 422
    assert "8 to 30 digits" in bad.get_data(as_text=True)
    entered = client.post(
        f"/admin/settlement-accounts/{target.id}",
        data={
            "bank_name": "中国银行合肥分行",
            "account_name": "安徽省立医院",
            "account_number": "6217 0000 9999 4321",
        },
        follow_redirects=True,
    )
    assert "Another admin must confirm it" in entered.get_data(as_text=True)
    pending = db.session.scalar(select(SettlementAccount).where(SettlementAccount.hospital_id == target.id))
    assert pending is not None
    assert pending.status == SettlementStatus.PENDING
    page = entered.get_data(as_text=True)
    assert f"/admin/settlement-accounts/{pending.id}/confirm" not in page  # not offered to who entered it
    assert "•••• 4321" in page
    assert "6217" not in page
    refused = client.post(f"/admin/settlement-accounts/{pending.id}/confirm", follow_redirects=True)
    assert "A second admin must confirm" in refused.get_data(as_text=True)
    client.post("/logout")
    login(second)
    assert f"/admin/settlement-accounts/{pending.id}/confirm" in client.get(
        "/admin/settlement-accounts"
    ).get_data(as_text=True)
    confirmed = client.post(f"/admin/settlement-accounts/{pending.id}/confirm", follow_redirects=True)
    assert "The account is confirmed" in confirmed.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(SettlementAccount, pending.id).status == SettlementStatus.CONFIRMED  # type: ignore[union-attr]


def test_an_admin_marks_charity_staff_as_finance_members(app: Flask, client: FlaskClient, login: Any) -> None:
    admin = UserFactory(role=Role.ADMIN)
    member = UserFactory(charity_staff=True)
    db.session.commit()
    login(admin)
    page = client.get(f"/admin/users/{member.id}/edit").get_data(as_text=True)
    assert "Finance member: records bank transfers" in page
    data = {
        "name": member.name,
        "email": member.email,
        "role": "charity_staff",
        "charity_code": member.charity.code,
        "active": "y",
        "finance": "y",
    }
    assert client.post(f"/admin/users/{member.id}/edit", data=data).status_code == 302
    db.session.expire_all()
    assert member.finance is True
    data.update(role="donor", charity_code="")
    client.post(f"/admin/users/{member.id}/edit", data=data)
    db.session.expire_all()
    assert member.finance is False  # only charity staff are finance members

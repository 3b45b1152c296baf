"""API v1 for payouts: the whole path (a request with a PDF bill, the notice, approval, payment, what each gift
paid for), every bad input as a problem document with nothing written, who sees what, and the hospitals'
settlement accounts. Every answer conforms to the OpenAPI document (tests/api/conftest.py)."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from fundraise.extensions import db
from fundraise.models import (
    CampaignReport,
    Disbursement,
    Document,
    DocumentKind,
    Donation,
    Hospital,
    SettlementAccount,
    User,
)
from fundraise.payments import get_provider
from fundraise.services import donations as donation_service
from tests.api.helpers import PDF_BYTES, assert_problem, png_bytes
from tests.disbursements.world import World, world
from tests.factories import CampaignFactory, UserFactory

Api = Callable[..., Any]
PURPOSE = "住院费用（第一次结算）"


@pytest.fixture
def w(app: Flask) -> World:
    return world(app, gifts=(100_000, 100_000))


@pytest.fixture
def tokens(w: World, token_for: Callable[[Any], str]) -> dict[str, str]:
    made = {name: token_for(getattr(w, name)) for name in ("approver", "second", "finance", "family")}
    db.session.commit()
    return made


def _token(user: User, token_for: Callable[[Any], str]) -> str:
    token = token_for(user)
    db.session.commit()
    return token


def ask(
    api: Api,
    w: World,
    token: str,
    *,
    key: str | None = "",
    bill: tuple[bytes, str] | None = (PDF_BYTES, "住院费用清单.pdf"),
    **fields: Any,
) -> Any:
    """POST a disbursement request as multipart/form-data; `key=None` sends no Idempotency-Key."""
    form: dict[str, Any] = {
        "source": "campaign_fund",
        "amount_fen": "150000",
        "bill_total_fen": "150000",
        "purpose": PURPOSE,
    }
    form.update({name: str(value) for name, value in fields.items()})
    if bill is not None:
        form["bill"] = (io.BytesIO(bill[0]), bill[1])
    headers = {} if key is None else {"Idempotency-Key": key or uuid.uuid4().hex}
    return api(
        "POST",
        f"/campaigns/{w.campaign.id}/disbursements",
        token=token,
        data=form,
        content_type="multipart/form-data",
        headers=headers,
    )


def end_notice(disbursement_id: int) -> None:
    """The public notice period is over: move its end back, as the clock would."""
    row = db.session.get(Disbursement, disbursement_id)
    assert row is not None
    row.notice_ends_at = row.notice_ends_at - timedelta(days=3)
    db.session.commit()


def written() -> tuple[int, int]:
    """How many disbursements and bills are stored."""
    db.session.expire_all()
    return (
        db.session.scalar(select(func.count()).select_from(Disbursement)) or 0,
        db.session.scalar(select(func.count()).where(Document.kind == DocumentKind.BILL)) or 0,
    )


def give_as(donor: User, w: World, amount_fen: int) -> int:
    donation, _url = donation_service.start_donation(w.campaign, donor, amount_fen)
    get_provider().pay(donation.provider_payment_id)
    db.session.commit()
    return donation.id


# --- the whole path ------------------------------------------------------------------------------------


def test_the_whole_path_request_approve_pay_and_read_what_a_gift_paid_for(
    api: Api, w: World, tokens: dict[str, str], token_for: Callable[[Any], str]
) -> None:
    donor = UserFactory()
    db.session.commit()
    gift_id = give_as(donor, w, 50_000)
    donor_token = _token(donor, token_for)
    assert_problem(api("GET", f"/donations/{gift_id}/uses", token=tokens["family"]), 404)  # not their gift

    key = uuid.uuid4().hex
    asked = ask(api, w, tokens["family"], key=key, amount_fen=240_000, bill_total_fen=300_000)
    assert asked.status_code == 201, asked.get_json()
    body = asked.get_json()
    assert asked.headers["Location"] == body["url"]
    assert (body["phase"], body["amount_fen"], body["bill_total_fen"]) == ("notice", 240_000, 300_000)
    assert body["hospital"]["id"] == w.campaign.hospital_id
    assert body["private"]["bill"]["content_type"] == "application/pdf"
    assert body["private"]["requested_by"]["id"] == w.family.id
    # A retry with the same key is the same request, not a second one.
    again = ask(api, w, tokens["family"], key=key, amount_fen=240_000, bill_total_fen=300_000)
    assert again.status_code == 200
    assert again.get_json()["id"] == body["id"]
    assert written() == (1, 1)

    public = api("GET", f"/campaigns/{w.campaign.id}/disbursements").get_json()
    assert [item["id"] for item in public["items"]] == [body["id"]]
    assert "private" not in public["items"][0]
    assert public["use_of_funds"]["paid_fen"] == 0

    notice = api("POST", f"/disbursements/{body['id']}/approve", token=tokens["approver"], json={})
    assert_problem(notice, 409)
    end_notice(body["id"])
    waiting = api("GET", "/disbursements?tab=waiting", token=tokens["approver"]).get_json()
    assert [(item["id"], item["phase"]) for item in waiting["items"]] == [(body["id"], "awaiting_approval")]

    approved = api(
        "POST",
        f"/disbursements/{body['id']}/approve",
        token=tokens["approver"],
        json={"note": "票据核对无误"},
    )
    assert approved.status_code == 200, approved.get_json()
    assert approved.get_json()["phase"] == "approved"
    assert approved.get_json()["private"]["approvals"][0]["approver"]["id"] == w.approver.id

    paid = api(
        "POST",
        f"/disbursements/{body['id']}/payment",
        token=tokens["finance"],
        json={"reference": "HX20261203001"},
    )
    assert paid.status_code == 200, paid.get_json()
    assert paid.get_json()["phase"] == "paid"
    assert paid.get_json()["private"]["transfer_reference"] == "HX20261203001"
    # The same reference again is the payment already recorded.
    same = api(
        "POST",
        f"/disbursements/{body['id']}/payment",
        token=tokens["finance"],
        json={"reference": "HX20261203001"},
    )
    assert same.status_code == 200

    funds = api("GET", f"/campaigns/{w.campaign.id}/disbursements").get_json()["use_of_funds"]
    assert funds["paid_fen"] == 240_000

    # Payouts take the gifts first in, first out: the donor's gift came last, after 200,000 of guests' gifts.
    uses = api("GET", f"/donations/{gift_id}/uses", token=donor_token)
    assert uses.status_code == 200
    parts = uses.get_json()
    assert parts["received"] is True
    assert [p["disbursement_id"] for p in parts["payouts"]] == [body["id"]]
    assert parts["payouts"][0]["purpose"] == PURPOSE
    total = sum(p["amount_fen"] for p in parts["payouts"]) + parts["fee_fen"] + parts["held_fen"]
    total += parts["relief_pool_fen"] + parts["refunded_fen"] + parts["disputed_fen"]
    assert total == parts["amount_fen"] == 50_000
    first = db.session.scalars(select(Donation).order_by(Donation.id)).first()
    assert first is not None
    staff_view = api("GET", f"/donations/{first.id}/uses", token=tokens["approver"]).get_json()
    assert staff_view["payouts"][0]["amount_fen"] > 0


# --- bad input: a problem by field, nothing written -----------------------------------------------------


def test_an_amount_above_what_the_fund_holds_is_refused(api: Api, w: World, tokens: dict[str, str]) -> None:
    response = ask(api, w, tokens["family"], amount_fen=300_000, bill_total_fen=400_000)
    body = assert_problem(response, 422, "amount_fen")
    assert "available" in body["errors"]["amount_fen"][0]
    assert written() == (0, 0)


def test_an_amount_above_the_bill_is_refused(api: Api, w: World, tokens: dict[str, str]) -> None:
    response = ask(api, w, tokens["family"], amount_fen=50_000, bill_total_fen=40_000)
    body = assert_problem(response, 422, "amount_fen")
    assert "bill" in body["errors"]["amount_fen"][0]
    assert written() == (0, 0)


def test_another_hospital_is_refused(api: Api, w: World, tokens: dict[str, str]) -> None:
    other = db.session.scalar(select(Hospital.id).where(Hospital.id != w.campaign.hospital_id).limit(1))
    response = ask(api, w, tokens["family"], hospital_id=other)
    assert_problem(response, 422, "hospital_id")
    assert written() == (0, 0)


def test_a_missing_idempotency_key_is_a_400(api: Api, w: World, tokens: dict[str, str]) -> None:
    assert_problem(ask(api, w, tokens["family"], key=None), 400)
    assert_problem(ask(api, w, tokens["family"], key="short"), 400)
    assert written() == (0, 0)


def test_a_bill_that_is_not_a_pdf_or_image_is_refused(api: Api, w: World, tokens: dict[str, str]) -> None:
    response = ask(api, w, tokens["family"], bill=(b"just some text, not a bill", "bill.pdf"))
    assert_problem(response, 422, "bill")
    assert_problem(ask(api, w, tokens["family"], bill=None), 422, "bill")
    assert written() == (0, 0)
    # A photo of the bill is fine.
    assert ask(api, w, tokens["family"], bill=(png_bytes(), "bill.png")).status_code == 201


def test_bad_fields_are_all_named_before_the_bill_is_read(api: Api, w: World, tokens: dict[str, str]) -> None:
    response = ask(
        api, w, tokens["family"], source="elsewhere", amount_fen="12.5", bill_total_fen="-1", purpose="x"
    )
    assert_problem(response, 422, "source", "amount_fen", "bill_total_fen", "purpose")
    assert written() == (0, 0)


def test_the_requester_cannot_approve(api: Api, w: World, tokens: dict[str, str]) -> None:
    asked = ask(api, w, tokens["approver"]).get_json()
    end_notice(asked["id"])
    body = assert_problem(api("POST", f"/disbursements/{asked['id']}/approve", token=tokens["approver"]), 403)
    assert "someone else" in body["detail"]
    assert api("GET", f"/disbursements/{asked['id']}", token=tokens["approver"]).get_json()["phase"] == (
        "awaiting_approval"
    )


def test_no_approval_after_rejection(api: Api, w: World, tokens: dict[str, str]) -> None:
    asked = ask(api, w, tokens["family"]).get_json()
    end_notice(asked["id"])
    assert_problem(
        api("POST", f"/disbursements/{asked['id']}/reject", token=tokens["approver"], json={}), 422, "note"
    )
    rejected = api(
        "POST",
        f"/disbursements/{asked['id']}/reject",
        token=tokens["approver"],
        json={"note": "票据与诊断不符"},
    )
    assert rejected.get_json()["phase"] == "rejected"
    assert_problem(api("POST", f"/disbursements/{asked['id']}/approve", token=tokens["second"]), 409)
    # The public no longer sees it; the family does, with the reason.
    assert api("GET", f"/campaigns/{w.campaign.id}/disbursements").get_json()["items"] == []
    mine = api("GET", f"/campaigns/{w.campaign.id}/disbursements", token=tokens["family"]).get_json()
    assert mine["items"][0]["private"]["decision_note"] == "票据与诊断不符"


def test_an_approver_cannot_record_the_payment(api: Api, w: World, tokens: dict[str, str]) -> None:
    asked = ask(api, w, tokens["family"]).get_json()
    end_notice(asked["id"])
    assert api("POST", f"/disbursements/{asked['id']}/approve", token=tokens["finance"]).status_code == 200
    payment = {"reference": "HX20261203009"}
    body = assert_problem(
        api("POST", f"/disbursements/{asked['id']}/payment", token=tokens["finance"], json=payment), 403
    )
    assert "approved" in body["detail"]
    assert_problem(
        api("POST", f"/disbursements/{asked['id']}/payment", token=tokens["second"], json=payment), 403
    )
    assert_problem(
        api(
            "POST", f"/disbursements/{asked['id']}/payment", token=tokens["finance"], json={"reference": "x"}
        ),
        422,
        "reference",
    )
    assert db.session.get(Disbursement, asked["id"]).status == "approved"  # type: ignore[union-attr]


def test_a_credible_report_freezes_requests_and_decisions(api: Api, w: World, tokens: dict[str, str]) -> None:
    asked = ask(api, w, tokens["family"]).get_json()
    end_notice(asked["id"])
    db.session.add(
        CampaignReport(campaign_id=w.campaign.id, reason="other", details="票据疑似伪造", status="credible")
    )
    db.session.commit()
    assert_problem(ask(api, w, tokens["family"]), 409)
    assert written() == (1, 1)
    assert_problem(api("POST", f"/disbursements/{asked['id']}/approve", token=tokens["approver"]), 409)
    listing = api("GET", f"/campaigns/{w.campaign.id}/disbursements").get_json()
    assert listing["frozen_reason"]


def test_cancel_by_the_requester(api: Api, w: World, tokens: dict[str, str]) -> None:
    asked = ask(api, w, tokens["family"]).get_json()
    cancelled = api(
        "POST",
        f"/disbursements/{asked['id']}/cancel",
        token=tokens["family"],
        json={"note": "医院已减免该笔费用"},
    )
    assert cancelled.status_code == 200
    assert cancelled.get_json()["phase"] == "cancelled"


# --- who sees what ---------------------------------------------------------------------------------------


def test_a_disbursement_is_shown_only_to_its_campaign_side_staff_and_officers(
    api: Api, w: World, tokens: dict[str, str], token_for: Callable[[Any], str]
) -> None:
    asked = ask(api, w, tokens["family"]).get_json()
    path = f"/disbursements/{asked['id']}"
    assert_problem(api("GET", path), 401)
    stranger = UserFactory()
    officer = UserFactory(officer=True, jurisdiction_code="341200")
    db.session.commit()
    assert_problem(api("GET", path, token=_token(stranger, token_for)), 404)
    assert_problem(
        api("POST", f"{path}/cancel", token=_token(stranger, token_for), json={"note": "不需要了"}), 404
    )
    assert api("GET", path, token=_token(officer, token_for)).status_code == 200
    assert_problem(api("GET", "/disbursements", token=tokens["family"]), 403)
    assert_problem(api("GET", "/disbursements?tab=nowhere", token=tokens["approver"]), 422, "tab")
    assert_problem(api("GET", "/disbursements/2147483647", token=tokens["approver"]), 404)


def test_a_draft_campaigns_disbursements_are_not_public(api: Api) -> None:
    draft = CampaignFactory()
    db.session.commit()
    assert_problem(api("GET", f"/campaigns/{draft.id}/disbursements"), 404)


# --- settlement accounts ---------------------------------------------------------------------------------


def test_settlement_accounts_need_two_admins(api: Api, w: World, token_for: Callable[[Any], str]) -> None:
    first, second = UserFactory(admin=True), UserFactory(admin=True)
    db.session.commit()
    one, two = _token(first, token_for), _token(second, token_for)
    hospital_id = w.campaign.hospital_id
    path = f"/hospitals/{hospital_id}/settlement-accounts"

    listed = api("GET", path, token=one).get_json()
    assert [row["status"] for row in listed["items"]] == ["confirmed"]
    assert listed["payable"] is True
    assert listed["items"][0]["account_number_masked"].endswith("5678")
    assert "account_number" not in listed["items"][0]

    change = {
        "bank_name": "中国工商银行合肥分行",
        "account_name": "安徽省立医院",
        "account_number": "6222-0000-8888-4321",
    }
    assert_problem(
        api("POST", path, token=one, json=change | {"account_number": "12"}), 422, "account_number"
    )
    proposed = api("POST", path, token=one, json=change)
    assert proposed.status_code == 201
    row = proposed.get_json()
    assert (row["status"], row["account_number_masked"]) == ("pending", "•••• 4321")
    assert_problem(api("POST", path, token=two, json=change), 409)
    assert api("GET", path, token=one).get_json()["payable"] is False

    assert_problem(api("POST", f"/settlement-accounts/{row['id']}/confirm", token=one), 403)
    confirmed = api("POST", f"/settlement-accounts/{row['id']}/confirm", token=two)
    assert confirmed.get_json()["status"] == "confirmed"
    assert [r["id"] for r in api("GET", path, token=one).get_json()["items"]] == [row["id"]]

    again = api("POST", path, token=two, json=change | {"account_number": "6222000099990000"}).get_json()
    assert api("POST", f"/settlement-accounts/{again['id']}/withdraw", token=one).status_code == 204
    assert db.session.get(SettlementAccount, again["id"]) is None
    assert_problem(api("POST", f"/settlement-accounts/{again['id']}/withdraw", token=one), 404)
    assert_problem(api("GET", "/hospitals/2147483647/settlement-accounts", token=one), 404)
    assert_problem(api("GET", path, token=_token(w.approver, token_for)), 403)

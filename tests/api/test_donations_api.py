"""API v1 for giving: start a donation (guest or token), a donor's donations, a campaign's public gifts and
its fund's public ledger; field errors as problem documents and nothing written on bad input."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from fundraise import ledger
from fundraise.extensions import db
from fundraise.models import Campaign, Donation
from fundraise.payments import get_provider
from fundraise.payments.links import donation_token
from fundraise.services import donations as service
from tests.api.helpers import assert_problem
from tests.factories import CampaignFactory, UserFactory


def fundraising(**fields: Any) -> Campaign:
    fields.setdefault("target_fen", 1_000_000)
    made = CampaignFactory(state=fields.pop("state", "fundraising"), **fields)
    db.session.commit()
    return made


def donation_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Donation)) or 0


def pay(donation_id: int) -> Donation:
    donation = db.session.get(Donation, donation_id)
    assert donation is not None
    get_provider().pay(donation.provider_payment_id)
    db.session.commit()
    db.session.refresh(donation)
    return donation


def test_a_guest_starts_a_donation_and_pays_where_told(api: Any, client: FlaskClient) -> None:
    campaign = fundraising()
    response = api(
        "POST",
        f"/campaigns/{campaign.id}/donations",
        json={"amount_fen": 5_000, "email": "guest@example.cn", "display_name": "张三", "message": "加油"},
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["status"] == "created"
    donation = db.session.get(Donation, body["donation_id"])
    assert donation.amount_fen == 5_000
    assert donation.receipt_email == "guest@example.cn"
    assert donation.donor_id is None
    assert donation.surplus_choice == "refund"
    assert not donation.anonymous
    pay_url = urlsplit(body["pay_url"])
    assert pay_url.scheme == "http"
    assert pay_url.path == f"/sandbox/checkout/{donation.provider_payment_id}"
    receipt = urlsplit(body["receipt_url"])
    assert f"{receipt.path}?{receipt.query}" == f"/donations/{donation.id}?t={donation_token(donation.id)}"

    paid = client.post(pay_url.path, data={"action": "pay"})
    assert urlsplit(paid.headers["Location"]).path == receipt.path  # the checkout returns to the receipt
    db.session.refresh(donation)
    assert donation.status == "succeeded"


def test_a_token_caller_gives_as_their_account_and_lists_their_donations(api: Any, token_for: Any) -> None:
    campaign = fundraising(title="帮小明")
    other = fundraising(title="别的")
    donor = UserFactory(donor=True, name="李四")
    someone = UserFactory(donor=True)
    db.session.commit()
    token = token_for(donor)
    started = api(
        "POST",
        f"/campaigns/{campaign.id}/donations",
        token=token,
        json={"amount_fen": 2_000, "anonymous": True, "surplus_choice": "relief_pool"},
    )
    assert started.status_code == 201, started.get_data(as_text=True)
    first = pay(started.get_json()["donation_id"])
    assert first.donor_id == donor.id
    assert first.anonymous
    assert first.display_name == "李四"
    api("POST", f"/campaigns/{other.id}/donations", token=token, json={"amount_fen": 300})
    service.start_donation(other, someone, 999)  # someone else's

    mine = api("GET", "/me/donations", token=token)
    assert mine.status_code == 200
    body = mine.get_json()
    assert body["total"] == 2
    assert body["next"] is None
    newest, oldest = body["items"]
    assert newest["amount_fen"] == 300
    assert newest["status"] == "created"
    assert newest["campaign_title"] == "别的"
    assert oldest["amount_fen"] == 2_000
    assert oldest["amount_yuan"] == "¥20"
    assert oldest["status"] == "succeeded"
    assert oldest["receipt_number"] == first.receipt_number
    assert oldest["surplus_choice"] == "relief_pool"
    assert oldest["receipt_url"].endswith(f"/donations/{first.id}?t={donation_token(first.id)}")
    paged = api("GET", "/me/donations?per_page=1&page=2", token=token).get_json()
    assert [item["amount_fen"] for item in paged["items"]] == [2_000]
    assert paged["prev"]


def test_my_donations_needs_a_caller(api: Any) -> None:
    assert_problem(api("GET", "/me/donations"), 401)


def test_the_same_idempotency_key_returns_the_same_donation(api: Any) -> None:
    campaign = fundraising()
    body = {"amount_fen": 1_000, "email": "g@example.cn"}
    first = api(
        "POST", f"/campaigns/{campaign.id}/donations", json=body, headers={"Idempotency-Key": "abc-12345"}
    )
    again = api(
        "POST", f"/campaigns/{campaign.id}/donations", json=body, headers={"Idempotency-Key": "abc-12345"}
    )
    assert first.status_code == again.status_code == 201
    assert first.get_json() == again.get_json()
    assert donation_count() == 1
    changed = api(
        "POST",
        f"/campaigns/{campaign.id}/donations",
        json={**body, "amount_fen": 2_000},
        headers={"Idempotency-Key": "abc-12345"},
    )
    assert_problem(changed, 422)


def test_another_callers_idempotency_key_never_returns_their_donation(
    app: Any, api: Any, token_for: Any
) -> None:
    """The probe: a guest sent the donor's key, campaign and amount and got the donor's donation back, with
    its pay_url and private receipt_url."""
    campaign = fundraising()
    donor = UserFactory(donor=True)
    db.session.commit()
    key = {"Idempotency-Key": "donor-key-0001"}
    mine = api(
        "POST",
        f"/campaigns/{campaign.id}/donations",
        token=token_for(donor),
        json={"amount_fen": 1_000},
        headers=key,
    )
    assert mine.status_code == 201
    guest = app.test_client().post(
        f"/api/v1/campaigns/{campaign.id}/donations",
        json={"amount_fen": 1_000, "email": "g@example.cn"},
        headers=key,
    )
    assert guest.status_code == 201
    assert guest.get_json()["donation_id"] != mine.get_json()["donation_id"]
    assert guest.get_json()["receipt_url"] != mine.get_json()["receipt_url"]
    # Two guests with the same key are two callers too; each one's own retry finds its own donation.
    other_guest = app.test_client()
    first = other_guest.post(
        f"/api/v1/campaigns/{campaign.id}/donations",
        json={"amount_fen": 1_000, "email": "h@example.cn"},
        headers=key,
    )
    retry = other_guest.post(
        f"/api/v1/campaigns/{campaign.id}/donations",
        json={"amount_fen": 1_000, "email": "h@example.cn"},
        headers=key,
    )
    assert (
        first.get_json()["donation_id"] == retry.get_json()["donation_id"] != guest.get_json()["donation_id"]
    )
    assert donation_count() == 3
    # The donor's own retry still returns the donor's donation.
    again = api(
        "POST",
        f"/campaigns/{campaign.id}/donations",
        token=token_for(donor),
        json={"amount_fen": 1_000},
        headers=key,
    )
    assert again.get_json()["donation_id"] == mine.get_json()["donation_id"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount_fen": 0}, "amount_fen"),
        ({"amount_fen": -100}, "amount_fen"),
        ({"amount_fen": "5000"}, "amount_fen"),
        ({"amount_fen": 50.5}, "amount_fen"),
        ({"amount_fen": 1e12}, "amount_fen"),
        ({"amount_fen": 10**12}, "amount_fen"),
        ({"amount_fen": 5_000_001}, "amount_fen"),
        ({"amount_fen": True}, "amount_fen"),
        ({}, "amount_fen"),
        ({"amount_fen": 5_000, "message": "好" * 201}, "message"),
        ({"amount_fen": 5_000, "surplus_choice": "keep"}, "surplus_choice"),
        ({"amount_fen": 5_000, "anonymous": "yes"}, "anonymous"),
        ({"amount_fen": 5_000, "email": "nope"}, "email"),
        ({"amount_fen": 5_000, "display_name": "名" * 65}, "display_name"),
        ({"amount_fen": 5_000, "tip_fen": 100}, "tip_fen"),
    ],
)
def test_bad_input_is_a_422_with_field_errors_and_nothing_is_created(
    api: Any, body: dict[str, Any], field: str
) -> None:
    campaign = fundraising(target_fen=100_000_000)
    body = {"email": "guest@example.cn", **body}
    assert_problem(api("POST", f"/campaigns/{campaign.id}/donations", json=body), 422, field)
    assert donation_count() == 0


def test_a_guest_must_give_an_email(api: Any) -> None:
    campaign = fundraising()
    assert_problem(
        api("POST", f"/campaigns/{campaign.id}/donations", json={"amount_fen": 5_000}), 422, "email"
    )
    assert donation_count() == 0


def test_more_than_the_remaining_need_is_refused(api: Any) -> None:
    campaign = fundraising(target_fen=10_000)
    body = assert_problem(
        api(
            "POST",
            f"/campaigns/{campaign.id}/donations",
            json={"amount_fen": 10_001, "email": "g@example.cn"},
        ),
        422,
        "amount_fen",
    )
    assert "only 100 yuan more" in body["errors"]["amount_fen"][0]
    assert donation_count() == 0


def test_not_json_malformed_and_unknown_campaigns(api: Any) -> None:
    campaign = fundraising()
    assert_problem(api("POST", f"/campaigns/{campaign.id}/donations", data="amount_fen=1"), 415)
    assert_problem(
        api("POST", f"/campaigns/{campaign.id}/donations", data="{", content_type="application/json"), 400
    )
    assert_problem(api("POST", "/campaigns/99999/donations", json={"amount_fen": 5_000}), 404)
    draft = fundraising(state="draft")
    assert_problem(
        api("POST", f"/campaigns/{draft.id}/donations", json={"amount_fen": 5_000, "email": "g@example.cn"}),
        404,
    )
    assert donation_count() == 0


@pytest.mark.parametrize("state", ["verified", "closed", "suspended"])
def test_a_campaign_not_fundraising_refuses_with_409(api: Any, state: str) -> None:
    campaign = fundraising(state=state)
    response = api(
        "POST", f"/campaigns/{campaign.id}/donations", json={"amount_fen": 5_000, "email": "g@e.cn"}
    )
    assert_problem(response, 409)
    assert donation_count() == 0


def test_the_public_list_is_masked_and_newest_first(api: Any) -> None:
    campaign = fundraising()
    for name, amount, anonymous in (("王五", 1_000, False), ("赵六", 2_000, True), ("", 3_000, False)):
        donation, _ = service.start_donation(
            campaign, None, amount, display_name=name, anonymous=anonymous, message=f"m{amount}"
        )
        pay(donation.id)
    service.start_donation(campaign, None, 4_000, display_name="未付款")  # never paid: not listed
    body = api("GET", f"/campaigns/{campaign.id}/donations?per_page=2").get_json()
    assert body["total"] == 3
    assert body["next"]
    assert [(g["name"], g["amount_fen"], g["message"]) for g in body["items"]] == [
        (None, 3_000, "m3000"),
        (None, 2_000, "m2000"),
    ]
    rest = api("GET", f"/campaigns/{campaign.id}/donations?per_page=2&page=2").get_json()
    assert [(g["name"], g["amount_yuan"]) for g in rest["items"]] == [("王**", "¥10")]
    flat = str(body) + str(rest)
    assert "王五" not in flat
    assert "赵" not in flat
    assert "未付款" not in flat
    assert "@" not in flat
    assert_problem(api("GET", f"/campaigns/{campaign.id}/donations?per_page=1000"), 422)


def test_the_public_ledger_balances(api: Any) -> None:
    campaign = fundraising()
    staff = UserFactory(charity_staff=True)
    db.session.commit()
    first, _ = service.start_donation(
        campaign, None, 10_000, display_name="王五", receipt_email="w@example.cn"
    )
    pay(first.id)
    second, _ = service.start_donation(campaign, None, 5_000)
    pay(second.id)
    service.refund_donation(db.session.get(Donation, first.id), 1_000, staff, "asked")

    body = api("GET", f"/campaigns/{campaign.id}/ledger", headers={"Accept-Language": "en"}).get_json()
    kinds = [line["kind"] for line in body["items"]]
    assert kinds == ["capture", "fee", "capture", "fee", "refund"]
    running = 0
    for line in body["items"]:
        running += line["amount_fen"]
        assert line["balance_fen"] == running
    assert body["balance_fen"] == running == ledger.balance(ledger.campaign_fund(campaign.id))
    assert body["money_in_fen"] == 15_000
    assert body["money_out_fen"] == 15_000 - running
    assert body["raised_fen"] == 14_000
    assert body["raised_yuan"] == "¥140"
    assert body["items"][0]["label"] == "Donation received"
    assert "王" not in str(body)
    assert "w@example.cn" not in str(body)
    page = api("GET", f"/campaigns/{campaign.id}/ledger?per_page=2&page=3").get_json()
    assert [line["kind"] for line in page["items"]] == ["refund"]
    assert page["next"] is None


def test_an_empty_ledger(api: Any) -> None:
    campaign = fundraising()
    body = api("GET", f"/campaigns/{campaign.id}/ledger").get_json()
    assert body["items"] == []
    assert body["balance_fen"] == 0
    assert body["total"] == 0
    assert_problem(api("GET", "/campaigns/99999/ledger"), 404)

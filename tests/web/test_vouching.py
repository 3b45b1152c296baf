"""Friends and relatives vouching (亲友证实): a signed-in person who knows the family vouches with their
relationship and a line; the public sees masked names, the family sees who; the family cannot vouch for
itself, nobody twice, a voucher can be withdrawn, and vouching is limited per person and day."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from fundraise.extensions import db
from tests.factories import PASSWORD, UserFactory
from tests.web.donations import english, fundraising


def signed_in(app: Flask, user: Any) -> FlaskClient:
    db.session.commit()
    client = english(app.test_client())
    assert client.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 302
    return client


def test_vouch_show_masked_to_the_public_and_named_to_the_family_then_withdraw(app: Flask) -> None:
    campaign = fundraising()
    neighbour = UserFactory(name="李明华")
    client = signed_in(app, neighbour)
    done = client.post(
        f"/campaigns/{campaign.id}/vouch",
        data={"relationship": "neighbour", "statement": "我们是邻居，孩子住院我去看过。"},
    )
    assert done.status_code == 302

    public = english(app.test_client()).get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "我们是邻居，孩子住院我去看过。" in public
    assert "李**" in public
    assert "李明华" not in public
    assert "Neighbour" in public

    family = signed_in(app, campaign.applicant).get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "李明华" in family

    again = client.post(
        f"/campaigns/{campaign.id}/vouch", data={"relationship": "friend", "statement": "再证实一次"}
    )
    assert again.status_code == 422
    assert "You have vouched for this campaign already." in again.get_data(as_text=True)

    withdrawn = client.post(f"/campaigns/{campaign.id}/vouch/withdraw")
    assert withdrawn.status_code == 302
    assert "我们是邻居" not in english(app.test_client()).get(f"/campaigns/{campaign.id}").get_data(
        as_text=True
    )


def test_the_family_cannot_vouch_and_bad_input_keeps_the_form(app: Flask) -> None:
    campaign = fundraising()
    family = signed_in(app, campaign.applicant)
    refused = family.post(
        f"/campaigns/{campaign.id}/vouch", data={"relationship": "relative", "statement": "这是真的。"}
    )
    assert refused.status_code == 422
    assert "cannot vouch for their own campaign" in refused.get_data(as_text=True)

    friend = signed_in(app, UserFactory())
    short = friend.post(f"/campaigns/{campaign.id}/vouch", data={"relationship": "friend", "statement": "好"})
    body = short.get_data(as_text=True)
    assert short.status_code == 422
    assert "Write 5 to 200 characters." in body
    assert 'value="friend" selected' in body or 'selected value="friend"' in body


def test_vouching_is_limited_per_person_and_day(app: Flask) -> None:
    app.config["VOUCHES_PER_DAY"] = 2
    voucher = UserFactory()
    client = signed_in(app, voucher)
    campaigns = [fundraising(patient_id_sequence=n) for n in range(3)]
    for campaign in campaigns[:2]:
        assert (
            client.post(
                f"/campaigns/{campaign.id}/vouch",
                data={"relationship": "friend", "statement": "我认识这家人。"},
            ).status_code
            == 302
        )
    third = client.post(
        f"/campaigns/{campaigns[2].id}/vouch", data={"relationship": "friend", "statement": "我认识这家人。"}
    )
    assert third.status_code == 429
    assert "as many campaigns as one person may in a day" in third.get_data(as_text=True)
    assert "我认识这家人。" in third.get_data(as_text=True)  # what was typed is kept


def test_signed_out_visitors_are_asked_to_sign_in(app: Flask) -> None:
    campaign = fundraising()
    page = english(app.test_client()).get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "Sign in to vouch for them." in page
    assert english(app.test_client()).post(f"/campaigns/{campaign.id}/vouch").status_code == 302

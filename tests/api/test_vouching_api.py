"""API v1 for vouching and sharing: list, vouch (once, not the family's own, a day's limit with Retry-After),
withdraw, and the share links. Answers conform to the OpenAPI document (tests/api/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from fundraise.extensions import db
from tests.api.helpers import assert_problem
from tests.factories import CampaignFactory, UserFactory

Api = Callable[..., Any]


@pytest.fixture
def app_settings() -> dict[str, Any]:
    return {"VOUCHES_PER_DAY": 2}


def test_vouch_list_withdraw_and_share(app: Flask, api: Api, token_for: Callable[[Any], str]) -> None:
    campaigns = [CampaignFactory(state="fundraising") for _ in range(3)]
    friend = UserFactory(name="王小明")
    db.session.commit()
    token, family = token_for(friend), token_for(campaigns[0].applicant)
    db.session.commit()
    first = campaigns[0].id

    made = api(
        "POST",
        f"/campaigns/{first}/vouchers",
        token=token,
        json={"relationship": "neighbour", "statement": "我们是邻居，情况属实"},
    )
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["name"] == "王**"
    again = api(
        "POST",
        f"/campaigns/{first}/vouchers",
        token=token,
        json={"relationship": "friend", "statement": "再说一次"},
    )
    assert_problem(again, 422)
    own = api(
        "POST",
        f"/campaigns/{first}/vouchers",
        token=family,
        json={"relationship": "relative", "statement": "我自己"},
    )
    assert_problem(own, 422)
    bad = api(
        "POST", f"/campaigns/{first}/vouchers", token=token, json={"relationship": "cousin", "statement": ""}
    )
    assert_problem(bad, 422)

    listed = api("GET", f"/campaigns/{first}/vouchers", token=token).get_json()
    assert listed["total"] == 1
    assert listed["mine"]["relationship"] == "neighbour"
    assert listed["may_vouch"] is False
    assert api("GET", f"/campaigns/{first}/vouchers").get_json()["mine"] is None

    second = api(
        "POST",
        f"/campaigns/{campaigns[1].id}/vouchers",
        token=token,
        json={"relationship": "friend", "statement": "老朋友了，属实"},
    )
    assert second.status_code == 201
    limited = api(
        "POST",
        f"/campaigns/{campaigns[2].id}/vouchers",
        token=token,
        json={"relationship": "friend", "statement": "也认识他们"},
    )
    assert_problem(limited, 429)
    assert int(limited.headers["Retry-After"]) > 0

    assert api("DELETE", f"/campaigns/{first}/vouchers/mine", token=token).status_code == 204
    assert_problem(api("DELETE", f"/campaigns/{first}/vouchers/mine", token=token), 404)
    assert api("GET", f"/campaigns/{first}/vouchers").get_json()["total"] == 0

    share = api("GET", f"/campaigns/{first}/share").get_json()
    assert share["short_url"].endswith(f"/c/{first}")
    assert share["poster_url"].endswith(f"/campaigns/{first}/poster.png")
    assert share["qr_svg"].startswith("<svg") or "<svg" in share["qr_svg"]
    draft = CampaignFactory(state="draft")
    db.session.commit()
    assert_problem(api("GET", f"/campaigns/{draft.id}/share"), 404)

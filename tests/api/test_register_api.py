"""API v1 for the officers' register: the same rows, filters and flags as the page, within the caller's
jurisdiction only, and the CSV export."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Flask

from fundraise.extensions import db
from tests.factories import UserFactory
from tests.web.test_register import gift, recipient, report


def _regions() -> dict[str, Any]:
    mine = recipient("341202", patient_name="王小明")
    report(mine, basic=100_000, ci=20_000, assistance=5_000)
    gift(mine, 30_000)
    above = recipient("341221", cost_total_fen=100_000, cost_in_policy_fen=50_000, target_fen=10_000)
    report(above, basic=90_000, ci=20_000)
    theirs = recipient("620102", patient_name="马欣悦")
    report(theirs, basic=900_000, ci=900_000)
    db.session.commit()
    return {"mine": mine, "above": above, "theirs": theirs}


def test_officers_list_their_jurisdiction_with_aid_totals_and_flags(
    app: Flask, api: Callable[..., Any], token_for: Callable[[Any], str]
) -> None:
    planted = _regions()
    token = token_for(UserFactory(officer=True, jurisdiction_code="341200"))
    body = api("GET", "/register", token).get_json()
    ids = {item["campaign_id"] for item in body["items"]}
    assert ids == {planted["mine"].id, planted["above"].id}
    assert body["totals"]["recipients"] == 2
    assert body["totals"]["raised_fen"] == 30_000
    mine = next(item for item in body["items"] if item["campaign_id"] == planted["mine"].id)
    assert mine["patient"] == "王**"
    assert (mine["basic_fen"], mine["raised_fen"], mine["total_aid_fen"]) == (100_000, 30_000, 155_000)
    flagged = api("GET", "/register?flag=aid_above_cost", token).get_json()
    assert [item["campaign_id"] for item in flagged["items"]] == [planted["above"].id]
    (flag,) = flagged["items"][0]["flags"]
    assert flag["code"] == "aid_above_cost"
    assert flag["reason"]
    assert flag["evidence"].startswith("/staff/register/")


def test_no_filter_widens_the_jurisdiction(
    app: Flask, api: Callable[..., Any], token_for: Callable[[Any], str]
) -> None:
    planted = _regions()
    token = token_for(UserFactory(officer=True, jurisdiction_code="341200"))
    theirs = planted["theirs"]
    for query in (
        f"?hospital={theirs.hospital_id}",
        "?flagged=true",
        "?sort=total_aid",
        "?region=62",
        "?per_page=100",
    ):
        items = api("GET", "/register" + query, token).get_json()["items"]
        assert theirs.id not in {item["campaign_id"] for item in items}, query
    # Staff read every region; others are refused.
    staff = token_for(UserFactory(charity_staff=True))
    assert theirs.id in {i["campaign_id"] for i in api("GET", "/register", staff).get_json()["items"]}
    assert api("GET", "/register", token_for(UserFactory(donor=True))).status_code == 403
    assert api("GET", "/register?flag=nonsense", token).status_code == 422


def test_the_export_is_the_filter_as_csv_within_the_jurisdiction(
    app: Flask, api: Callable[..., Any], token_for: Callable[[Any], str]
) -> None:
    planted = _regions()
    officer = UserFactory(officer=True, jurisdiction_code="341200", locale="zh_CN")
    token = token_for(officer)
    response = api("GET", "/register/export.csv", token)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "no-store" in response.headers["Cache-Control"]
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    lines = text.lstrip("\ufeff").splitlines()
    ids = {line.split(",")[0] for line in lines[1:]}
    assert ids == {str(planted["mine"].id), str(planted["above"].id)}
    assert "王**" in text
    assert "马" not in text
    flagged = api("GET", "/register/export.csv?flag=aid_above_cost", token).get_data(as_text=True)
    assert [line.split(",")[0] for line in flagged.lstrip("\ufeff").splitlines()[1:]] == [
        str(planted["above"].id)
    ]
    # Recorded with its filter, like the page's export.
    from fundraise.models import AuditEvent

    exports = db.session.scalars(
        sa.select(AuditEvent).where(
            AuditEvent.action == "register.exported", AuditEvent.actor_id == officer.id
        )
    ).all()
    assert [event.after["filters"] for event in exports] == [{}, {"flag": "aid_above_cost"}]
    assert api("GET", "/register/export.csv", token_for(UserFactory(donor=True))).status_code == 403
    assert api("GET", "/register/export.csv?class=nonsense", token).status_code == 422

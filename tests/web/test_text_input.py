"""Text fields keep to their kind: single-line fields hold no line break or control character (a title with a
line break stopped every e-mail about its campaign), multi-line fields no control character but line breaks
and tabs, and a control character nobody types is refused before any view runs."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from fundraise import audit
from fundraise.extensions import db
from fundraise.jobs.notifications import notify_state_change
from fundraise.models import Campaign, Notification
from fundraise.services import accounts
from fundraise.text_input import fits_one_line, fits_text, one_line
from tests.factories import CampaignFactory, UserFactory
from tests.smtp import smtp_server  # noqa: F401  (a fixture)


def _bearer(user: Any) -> dict[str, str]:
    _token, plaintext = accounts.create_token(user, "text")
    return {"Authorization": f"Bearer {plaintext}"}


@pytest.mark.parametrize(
    "value", ["第一行\n第二行", "a\rb", "tab\there", "nul\x00", "esc\x1b[31m", "sep\u2028x"]
)
def test_a_single_line_field_refuses_line_breaks_and_controls(value: str) -> None:
    assert not fits_one_line(value)


def test_a_multi_line_field_takes_line_breaks_and_tabs_only() -> None:
    assert fits_text("第一段\n\n第二段\r\n\tok")
    assert not fits_text("nul\x00")
    assert not fits_text("bell\x07")


def test_one_line_makes_any_text_a_header_value() -> None:
    assert one_line("救救\r\n小明\x00吧  ") == "救救 小明 吧"


def test_the_api_refuses_a_title_with_a_line_break(app: Flask, client) -> None:
    campaign = CampaignFactory(state="draft")
    db.session.commit()
    response = client.patch(
        f"/api/v1/campaigns/{campaign.id}",
        json={"title": "救救小明\nBcc: everyone@example.cn", "story": "第一段\n\n第二段"},
        headers=_bearer(campaign.applicant),
    )
    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == ["title"]
    db.session.expire_all()
    assert "\n" not in (db.session.get(Campaign, campaign.id).title or "")


def test_a_donor_name_stays_on_one_line(app: Flask, client) -> None:
    campaign = CampaignFactory(state="fundraising", target_fen=1_000_000)
    db.session.commit()
    response = client.post(
        f"/api/v1/campaigns/{campaign.id}/donations",
        json={
            "amount_fen": 1_000,
            "email": "g@example.cn",
            "display_name": "张\n三",
            "message": "早日\n康复",
        },
    )
    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == ["display_name"]


@pytest.mark.parametrize("value", ["a\x00b", "\x1b[2J", "x\x7f"])
def test_control_characters_are_refused_before_any_view(app: Flask, client, value: str) -> None:
    campaign = CampaignFactory(state="fundraising", target_fen=1_000_000)
    db.session.commit()
    form = client.post(f"/campaigns/{campaign.id}/report", data={"reason": "other", "details": value * 5})
    assert form.status_code == 400
    api = client.post(
        f"/api/v1/campaigns/{campaign.id}/donations",
        json={"amount_fen": 1_000, "email": "g@example.cn", "message": value},
    )
    assert api.status_code == 400
    assert api.mimetype == "application/problem+json"


def test_a_stored_title_with_a_line_break_still_gets_its_emails(app: Flask, smtp_server) -> None:  # noqa: F811
    campaign = CampaignFactory(state="submitted", title="救救小明\n谢谢")  # stored before the rule existed
    db.session.flush()
    event = audit.record(
        "campaign.begin_verification", "campaign", campaign.id, actor=None, after={"state": "verifying"}
    )
    db.session.commit()
    notify_state_change(campaign.id, event.id)
    assert len(smtp_server) == 1
    assert smtp_server[0]["Subject"].startswith("Your campaign “救救小明 谢谢”")
    assert db.session.query(Notification).one().emailed_at is not None


def test_an_account_name_and_a_token_name_stay_on_one_line(app: Flask) -> None:
    from fundraise.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as refused:
        accounts.register("new@example.cn", "张三\r\n李四", "a long password", "donor")
    assert list(refused.value.fields) == ["name"]
    user = UserFactory()
    db.session.commit()
    with pytest.raises(ValidationFailed) as token:
        accounts.create_token(user, "ci\nbot")
    assert list(token.value.fields) == ["name"]

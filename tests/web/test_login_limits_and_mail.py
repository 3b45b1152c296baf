"""Login rate limiting, and notification e-mail through SMTP when it is configured."""

from __future__ import annotations

import smtplib
from typing import Any

import pytest
from sqlalchemy import select

from fundraise.extensions import db
from fundraise.jobs.outbox import relay
from fundraise.models import Notification
from fundraise.services.campaigns import transition
from tests.factories import CampaignFactory, UserFactory


@pytest.fixture
def app_settings() -> dict[str, Any]:
    return {"RATELIMIT_ENABLED": True, "LOGIN_RATE_LIMIT": "3 per minute", "SMTP_HOST": "smtp.test"}


def test_login_attempts_are_rate_limited(client):
    user = UserFactory()
    db.session.commit()
    statuses = [
        client.post("/login", data={"email": user.email, "password": "wrong password"}).status_code
        for _ in range(4)
    ]
    assert statuses == [401, 401, 401, 429]
    assert "Too many attempts" in client.post("/login", data={"email": "x", "password": "y"}).get_data(
        as_text=True
    )


class RecordingSMTP:
    """Stands in for smtplib.SMTP and keeps what would have been sent."""

    sent: list[Any] = []

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host = host

    def __enter__(self) -> RecordingSMTP:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def send_message(self, message: Any) -> None:
        RecordingSMTP.sent.append(message)


def test_state_changes_are_emailed_once(app, monkeypatch):
    RecordingSMTP.sent = []
    monkeypatch.setattr(smtplib, "SMTP", RecordingSMTP)
    campaign = CampaignFactory(with_evidence=True)
    campaign.applicant.locale = "en"
    db.session.commit()
    transition(campaign, "submit", actor=campaign.applicant)
    relay()
    notes = db.session.scalars(select(Notification)).all()
    assert notes and all(n.emailed_at is not None for n in notes)
    assert len(RecordingSMTP.sent) == len(notes)
    assert all(m["To"] == campaign.applicant.email for m in RecordingSMTP.sent)
    assert any("Submitted" in m["Subject"] for m in RecordingSMTP.sent)

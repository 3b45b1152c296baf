"""Sign-in limits (failed attempts per address, a lock per account that the owner is told about), and
notification e-mail through SMTP when it is configured."""

from __future__ import annotations

import re
import smtplib
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from fundraise.errors import try_again_at
from fundraise.extensions import db
from fundraise.jobs.outbox import relay
from fundraise.models import AuditEvent, Notification, OutboxMessage, User
from fundraise.services import accounts
from fundraise.services.transitions import transition
from tests.factories import PASSWORD, CampaignFactory, UserFactory
from tests.races import THREADS, race


@pytest.fixture
def app_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The module's settings; a test changes some with `@pytest.mark.parametrize("app_settings", [{...}],
    indirect=True)`."""
    settings = {"RATELIMIT_ENABLED": True, "LOGIN_RATE_LIMIT": "3 per minute", "SMTP_HOST": "smtp.test"}
    settings.update(getattr(request, "param", {}))
    return settings


def settings(**changes: Any) -> Any:
    return pytest.mark.parametrize("app_settings", [changes], indirect=True)


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

    # Class-level on purpose: the test reads what every instance sent.
    sent: ClassVar[list[Any]] = []

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
    assert notes
    assert all(n.emailed_at is not None for n in notes)
    assert len(RecordingSMTP.sent) == len(notes)
    assert all(m["To"] == campaign.applicant.email for m in RecordingSMTP.sent)
    assert any("Submitted" in m["Subject"] for m in RecordingSMTP.sent)


# --- per address: failed attempts only, sized for a shared office, and the truth about when to retry ------


def attempt(client: FlaskClient, email: str, password: str, address: str | None = None) -> Any:
    headers = {"X-Forwarded-For": address} if address else {}
    return client.post("/login", data={"email": email, "password": password}, headers=headers)


@pytest.fixture
def quick_hashes(monkeypatch: pytest.MonkeyPatch) -> str:
    """argon2 at its cheapest for tests that sign in dozens of times; returns the password of the hash that
    `UserFactory(password_hash=...)` should be given."""
    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(accounts, "_hasher", hasher)
    monkeypatch.setattr(accounts, "_DUMMY_HASH", hasher.hash("not a real password"))
    return hasher.hash(PASSWORD)


def test_successful_sign_ins_from_one_address_are_never_refused(
    client: FlaskClient, quick_hashes: str
) -> None:
    # A hospital ward or a charity office behind one address: 50 people signing in within the hour.
    staff = [UserFactory(password_hash=quick_hashes) for _ in range(50)]
    db.session.commit()
    for user in staff:
        assert attempt(client, user.email, PASSWORD).status_code == 302, user.email
        client.post("/logout")
    # Failures still count: the limit ("3 per minute" here) is reached by three wrong passwords.
    statuses = [attempt(client, staff[0].email, "wrong password").status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]


def test_an_account_that_never_signed_in_is_not_refused_for_others_successes(
    app: Flask, quick_hashes: str
) -> None:
    office = app.test_client()
    colleagues = [UserFactory(password_hash=quick_hashes) for _ in range(60)]
    newcomer = UserFactory(password_hash=quick_hashes)
    db.session.commit()
    for user in colleagues:
        assert attempt(office, user.email, PASSWORD).status_code == 302
        office.post("/logout")
    assert attempt(office, newcomer.email, PASSWORD).status_code == 302


@settings(LOGIN_RATE_LIMIT="2 per minute; 2 per hour")
def test_the_refusal_says_when_every_limit_allows_the_next_try(app: Flask, client: FlaskClient) -> None:
    user = UserFactory()
    db.session.commit()
    assert [attempt(client, user.email, "wrong").status_code for _ in range(2)] == [401, 401]
    refused = attempt(client, user.email, PASSWORD)
    assert refused.status_code == 429
    # The hour's limit is what holds: a page saying "a minute" would not be telling the truth.
    wait = int(refused.headers["Retry-After"])
    assert 59 * 60 <= wait <= 61 * 60
    with app.test_request_context(headers={"Accept-Language": "en"}):
        expected = {
            try_again_at(moment)
            for moment in (
                datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(seconds=wait + shift)
                for shift in (-60, 0, 60)
            )
        }
    page = refused.get_data(as_text=True)
    assert "Please try again after" in page
    shown = re.search(r"Please try again after ([^<]+?)\.", page)
    assert shown is not None
    assert shown.group(1) in expected


def test_behind_a_proxy_without_trusting_it_forwarded_addresses_are_ignored(client: FlaskClient) -> None:
    user = UserFactory()
    db.session.commit()
    statuses = [attempt(client, user.email, "wrong", address=f"203.0.113.{n}").status_code for n in range(4)]
    assert statuses == [401, 401, 401, 429]  # a visitor cannot pick the address they are counted under


@settings(TRUSTED_PROXY_COUNT="1")  # as the environment variable gives it
def test_behind_a_trusted_proxy_each_visitor_is_counted_by_their_own_address(client: FlaskClient) -> None:
    user = UserFactory()
    db.session.commit()
    first = [attempt(client, user.email, "wrong", address="203.0.113.7").status_code for _ in range(4)]
    assert first == [401, 401, 401, 429]
    assert attempt(client, user.email, "wrong", address="198.51.100.20").status_code == 401
    # What the visitor put before the proxy's own entry is not trusted.
    spoofed = "198.51.100.99, 203.0.113.7"
    assert attempt(client, user.email, "wrong", address=spoofed).status_code == 429


# --- per account: a lock the owner is told about ---------------------------------------------------------


@settings(TRUSTED_PROXY_COUNT=1, LOGIN_MAX_FAILURES=4)
def test_failures_from_many_addresses_lock_the_account_and_the_owner_is_told(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch, quick_hashes: str
) -> None:
    RecordingSMTP.sent = []
    monkeypatch.setattr(smtplib, "SMTP", RecordingSMTP)
    user = UserFactory(locale="en", password_hash=quick_hashes)
    db.session.commit()
    statuses = [
        attempt(client, user.email, "wrong", address=f"203.0.113.{n}").status_code for n in range(1, 5)
    ]
    assert statuses == [401, 401, 401, 429]

    # Now even the right password, from yet another address, is refused until the lock ends, and the page
    # says until when.
    refused = attempt(client, user.email, PASSWORD, address="198.51.100.1")
    assert refused.status_code == 429
    db.session.expire_all()
    locked_until = db.session.get(User, user.id).locked_until  # type: ignore[union-attr]
    assert locked_until is not None
    assert timedelta(minutes=14) < locked_until - datetime.now(UTC) <= timedelta(minutes=16)
    assert locked_until.second == 0  # whole minutes, as the page shows them
    with app.test_request_context(headers={"Accept-Language": "en"}):
        until_text = try_again_at(locked_until)
    page = refused.get_data(as_text=True)
    assert f"It is locked until {until_text}" in page
    assert 14 * 60 <= int(refused.headers["Retry-After"]) <= 16 * 60

    # The owner: one notice in the account, one e-mail, one audit event without personal data.
    [notice] = db.session.scalars(select(Notification).where(Notification.user_id == user.id)).all()
    assert notice.kind == "sign_in_locked"
    assert notice.emailed_at is not None
    [mail] = RecordingSMTP.sent
    assert mail["To"] == user.email
    assert "locked" in mail["Subject"]
    assert until_text in mail.get_content()
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "user.sign_in_locked")).all()
    assert event.object_id == str(user.id)
    assert user.email not in str(event.after)
    account_page_client = app.test_client()
    # The lock ends on time; the right password then signs in and the count starts again.
    db.session.get(User, user.id).locked_until = datetime.now(UTC) - timedelta(seconds=1)  # type: ignore[union-attr]
    db.session.commit()
    assert attempt(account_page_client, user.email, PASSWORD, address="198.51.100.1").status_code == 302
    db.session.expire_all()
    fresh = db.session.get(User, user.id)
    assert fresh is not None
    assert fresh.failed_logins == 0
    assert fresh.locked_until is None
    page = account_page_client.get("/account", headers={"X-Forwarded-For": "198.51.100.1"})
    page = page.get_data(as_text=True)
    assert "Security notices" in page
    assert "Sign-in to your Aidbridge account is locked" in page


@settings(TRUSTED_PROXY_COUNT=1, LOGIN_MAX_FAILURES=3)
def test_unknown_e_mails_get_the_same_answer_and_lock_nothing(client: FlaskClient, quick_hashes: str) -> None:
    user = UserFactory(password_hash=quick_hashes)
    db.session.commit()
    for n in range(5):
        response = attempt(client, f"nobody{n}@example.cn", "wrong", address=f"203.0.113.{n}")
        assert response.status_code == 401
        assert "The e-mail or password is not right." in response.get_data(as_text=True)
    assert attempt(client, user.email, "wrong", address="198.51.100.1").status_code == 401
    assert attempt(client, user.email, PASSWORD, address="198.51.100.2").status_code == 302
    assert db.session.scalars(select(Notification)).all() == []


@settings(TRUSTED_PROXY_COUNT=1, LOGIN_MAX_FAILURES=3, LOGIN_FAILURE_WINDOW_SECONDS=900)
def test_failures_are_counted_within_the_window_only(client: FlaskClient, quick_hashes: str) -> None:
    user = UserFactory(password_hash=quick_hashes)
    db.session.commit()
    assert attempt(client, user.email, "wrong", address="203.0.113.1").status_code == 401
    assert attempt(client, user.email, "wrong", address="203.0.113.2").status_code == 401
    db.session.expire_all()
    counted = db.session.get(User, user.id)
    assert counted is not None
    assert counted.failed_logins == 2
    # The window started 16 minutes ago: a third failure starts a new count instead of locking.
    counted.failed_login_window_started_at = datetime.now(UTC) - timedelta(minutes=16)
    db.session.commit()
    assert attempt(client, user.email, "wrong", address="203.0.113.3").status_code == 401
    db.session.expire_all()
    again = db.session.get(User, user.id)
    assert again is not None
    assert again.failed_logins == 1
    assert again.locked_until is None


@settings(LOGIN_MAX_FAILURES=4)
def test_racing_failures_lose_no_count_and_lock_the_account_once(app: Flask, quick_hashes: str) -> None:
    user = UserFactory(password_hash=quick_hashes)
    db.session.commit()
    email = user.email

    def guess(i: int) -> Any:
        return accounts.authenticate(email, f"wrong guess {i}")

    results = race(app, guess)
    refused = [r for r in results if r is None]
    locked = [r for r in results if isinstance(r, accounts.AccountLocked)]
    assert len(refused) == 3, results
    assert len(locked) == THREADS - 3, results
    assert len({error.until for error in locked}) == 1
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.action == "user.sign_in_locked"))
    assert len(actions.all()) == 1
    notices = db.session.scalars(select(OutboxMessage).where(OutboxMessage.job == "notify_sign_in_locked"))
    assert len(notices.all()) == 1

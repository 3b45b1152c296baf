"""A forgotten password: a link asked for on the sign-in page (the same answer whether or not the address has
an account, rate-limited per address and per e-mail), e-mailed in the account's language, working once and
for 30 minutes; setting the password ends every session of the account."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import get_locale
from sqlalchemy import select

from fundraise.extensions import db
from fundraise.models import AuditEvent, LoginSession, PasswordResetToken, User
from fundraise.services import password_resets
from tests import smtp
from tests.factories import PASSWORD, UserFactory
from tests.web.test_public import signed_in, text

smtp_server = smtp.smtp_server  # the fixture

NEW_PASSWORD = "a brand new password"
LINK = re.compile(r"http://localhost(/password/reset/[\w-]+)")


@pytest.fixture
def app_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Limits on unless a test changes them with `@settings(...)`."""
    values: dict[str, Any] = {"RATELIMIT_ENABLED": True}
    values.update(getattr(request, "param", {}))
    return values


def settings(**changes: Any) -> Any:
    return pytest.mark.parametrize("app_settings", [changes], indirect=True)


def ask(client: FlaskClient, email: str) -> Any:
    return client.post("/password/forgot", data={"email": email})


def link_in(mail: EmailMessage) -> str:
    found = LINK.search(mail.get_content())
    assert found is not None, mail.get_content()
    return found.group(1)


def emailed_link(client: FlaskClient, user: User, smtp_server: list[EmailMessage]) -> str:
    before = len(smtp_server)
    assert ask(client, user.email).status_code == 302
    assert len(smtp_server) == before + 1
    return link_in(smtp_server[-1])


def set_password(client: FlaskClient, path: str, password: str = NEW_PASSWORD) -> Any:
    return client.post(path, data={"password": password, "confirm": password})


def can_sign_in(app: Flask, user: User, password: str) -> bool:
    response = app.test_client().post("/login", data={"email": user.email, "password": password})
    return response.status_code == 302


def test_the_sign_in_page_offers_a_way_back_in(client: FlaskClient) -> None:
    page = text(client.get("/login"))
    assert '<a href="/password/forgot">Forgot your password?</a>' in page
    form = text(client.get("/password/forgot"))
    assert 'name="email"' in form
    assert "works once, for 30 minutes" in form


def test_the_answer_is_the_same_for_a_known_and_an_unknown_address(
    client: FlaskClient, smtp_server: list[EmailMessage]
) -> None:
    user = UserFactory(email="wang@example.cn")
    db.session.commit()
    known = ask(client, "wang@example.cn")
    known_page = text(client.get(known.headers["Location"]))
    unknown = ask(client, "nobody@example.cn")
    unknown_page = text(client.get(unknown.headers["Location"]))
    assert (known.status_code, known.headers["Location"]) == (
        unknown.status_code,
        unknown.headers["Location"],
    )
    assert known.get_data() == unknown.get_data()
    assert known_page == unknown_page
    assert "If an account uses this e-mail address, a link to set a new password is on its way." in known_page
    assert "/password/reset/" not in known_page
    assert [mail["To"] for mail in smtp_server] == [user.email]  # the unknown address was sent nothing
    assert len(db.session.scalars(select(PasswordResetToken)).all()) == 1


def test_the_e_mail_holds_a_link_that_sets_a_new_password(
    app: Flask, client: FlaskClient, smtp_server: list[EmailMessage]
) -> None:
    user = UserFactory(email="wang@example.cn", name="王芳", locale="en")
    db.session.commit()
    path = emailed_link(client, user, smtp_server)
    [mail] = smtp_server
    assert mail["To"] == "wang@example.cn"
    assert mail["Subject"] == "Set a new password for your Aidbridge account"
    body = mail.get_content()
    assert "Hello 王芳," in body
    assert "within 30 minutes" in body
    assert "If you did not ask for this, ignore this e-mail" in body

    form = client.get(path)
    assert form.status_code == 200
    assert form.headers["Cache-Control"] == "no-store"
    assert form.headers["Referrer-Policy"] == "no-referrer"
    assert "For the account wang@example.cn." in text(form)
    done = set_password(client, path)
    assert done.status_code == 302
    assert done.headers["Location"] == "/login"
    assert "Your new password is set" in text(client.get("/login"))
    assert can_sign_in(app, user, NEW_PASSWORD)
    assert not can_sign_in(app, user, PASSWORD)


def test_only_the_tokens_hash_is_stored(client: FlaskClient, smtp_server: list[EmailMessage]) -> None:
    user = UserFactory()
    db.session.commit()
    token = emailed_link(client, user, smtp_server).rsplit("/", 1)[1]
    [row] = db.session.scalars(select(PasswordResetToken)).all()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert row.user_id == user.id
    assert row.used_at is None
    assert timedelta(minutes=29) < row.expires_at - row.created_at <= timedelta(minutes=30)
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "user.password_reset_link"))
    assert token not in str(event.after)
    assert event.actor_id is None


def test_a_link_works_once(app: Flask, client: FlaskClient, smtp_server: list[EmailMessage]) -> None:
    user = UserFactory()
    db.session.commit()
    path = emailed_link(client, user, smtp_server)
    assert set_password(client, path).status_code == 302
    for again in (client.get(path), set_password(app.test_client(), path, "yet another password")):
        assert again.status_code == 410
        assert "This link to set a new password was used already" in text(again)
    assert can_sign_in(app, user, NEW_PASSWORD)
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "user.password_reset"))
    assert event.actor_id == user.id
    assert "$argon2" not in str(event.after)


def test_using_a_link_voids_the_accounts_other_links(
    client: FlaskClient, smtp_server: list[EmailMessage]
) -> None:
    user = UserFactory()
    db.session.commit()
    first = emailed_link(client, user, smtp_server)
    second = emailed_link(client, user, smtp_server)
    assert first != second
    assert client.get(first).status_code == 200  # both work until one is used
    assert set_password(client, second).status_code == 302
    refused = client.get(first)
    assert refused.status_code == 410
    assert "no longer works" in text(refused)
    assert 'href="/password/forgot"' in text(refused)


def test_an_expired_link_is_refused(app: Flask, client: FlaskClient, smtp_server: list[EmailMessage]) -> None:
    user = UserFactory()
    db.session.commit()
    path = emailed_link(client, user, smtp_server)
    row = db.session.scalars(select(PasswordResetToken)).one()
    row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    db.session.commit()
    for refused in (client.get(path), set_password(client, path)):
        assert refused.status_code == 410
        assert "This link to set a new password has expired: a link works for 30 minutes." in text(refused)
    assert can_sign_in(app, user, PASSWORD)


@pytest.mark.parametrize("token", ["not-a-token", "x" * 43, "%E2%80%8B"])
def test_an_unknown_link_gets_a_clear_page(client: FlaskClient, token: str) -> None:
    for response in (
        client.get(f"/password/reset/{token}"),
        set_password(client, f"/password/reset/{token}"),
    ):
        assert response.status_code == 404
        assert "This link to set a new password is not valid." in text(response)


def test_setting_the_password_ends_every_session_of_the_account(
    app: Flask, smtp_server: list[EmailMessage]
) -> None:
    user = UserFactory()
    db.session.commit()
    laptop = signed_in(app, user)
    phone = signed_in(app, user)
    assert laptop.get("/account").status_code == 200
    # The link is opened in the laptop's browser, signed in: it too signs in afresh.
    path = emailed_link(app.test_client(), user, smtp_server)
    assert set_password(laptop, path).status_code == 302
    assert phone.get("/account").status_code == 302
    assert laptop.get("/account").status_code == 302
    db.session.expire_all()
    sessions = db.session.scalars(select(LoginSession).where(LoginSession.user_id == user.id)).all()
    assert len(sessions) == 2
    assert all(row.ended_at is not None for row in sessions)
    assert {row.ended_reason for row in sessions} <= {"password_changed", "signed_out"}
    assert can_sign_in(app, user, NEW_PASSWORD)


def test_the_new_password_follows_the_registration_rule(
    app: Flask, client: FlaskClient, smtp_server: list[EmailMessage]
) -> None:
    user = UserFactory()
    db.session.commit()
    path = emailed_link(client, user, smtp_server)
    short = set_password(client, path, "short")
    assert short.status_code == 422
    assert 'id="password-error-1">' in text(short)
    differ = client.post(path, data={"password": NEW_PASSWORD, "confirm": "something else"})
    assert differ.status_code == 422
    assert "The passwords differ." in text(differ)
    assert set_password(client, path).status_code == 302  # the link was not used up by the refusals
    assert can_sign_in(app, user, NEW_PASSWORD)


def test_a_reset_lifts_a_sign_in_lock(
    app: Flask, client: FlaskClient, smtp_server: list[EmailMessage]
) -> None:
    user = UserFactory(locked_until=datetime.now(UTC) + timedelta(minutes=10), failed_logins=3)
    db.session.commit()
    assert set_password(client, emailed_link(client, user, smtp_server)).status_code == 302
    db.session.expire_all()
    fresh = db.session.get(User, user.id)
    assert fresh is not None
    assert (fresh.locked_until, fresh.failed_logins) == (None, 0)
    assert can_sign_in(app, user, NEW_PASSWORD)


def test_a_deactivated_account_is_sent_nothing_and_its_links_stop(
    client: FlaskClient, smtp_server: list[EmailMessage]
) -> None:
    user = UserFactory()
    db.session.commit()
    path = emailed_link(client, user, smtp_server)
    user.active = False
    db.session.commit()
    assert client.get(path).status_code == 404
    assert ask(client, user.email).status_code == 302
    assert len(smtp_server) == 1


def test_the_e_mail_is_written_in_the_accounts_language(
    client: FlaskClient, smtp_server: list[EmailMessage], monkeypatch: pytest.MonkeyPatch
) -> None:
    written_in: list[str] = []
    compose = password_resets.reset_email

    def recording(*args: Any, **kwargs: Any) -> tuple[str, str]:
        locale = get_locale()
        assert locale is not None
        written_in.append(locale.language)
        return compose(*args, **kwargs)

    monkeypatch.setattr(password_resets, "reset_email", recording)
    chinese = UserFactory(locale="zh_CN")
    english = UserFactory(locale="en")
    db.session.commit()
    ask(client, chinese.email)
    ask(client, english.email)
    assert written_in == ["zh", "en"]
    assert len(smtp_server) == 2


def test_without_smtp_the_answer_is_the_same_and_no_link_is_shown(client: FlaskClient) -> None:
    user = UserFactory()
    db.session.commit()
    assert "This installation sends no e-mail." in text(client.get("/password/forgot"))
    response = ask(client, user.email)
    assert response.status_code == 302
    page = text(client.get(response.headers["Location"]))
    assert "If an account uses this e-mail address" in page
    assert "/password/reset/" not in page
    assert db.session.scalars(select(PasswordResetToken)).all() == []


# --- limits ----------------------------------------------------------------------------------------------


@settings(PASSWORD_RESET_EMAIL_RATE_LIMIT="2 per minute")
def test_requests_for_one_address_are_limited_and_the_form_is_kept(
    client: FlaskClient, smtp_server: list[EmailMessage]
) -> None:
    user = UserFactory(email="wang@example.cn")
    db.session.commit()
    for address in ("wang@example.cn", "nobody@example.cn"):
        assert [ask(client, address).status_code for _ in range(2)] == [302, 302]
        refused = ask(client, address.upper())  # the same address, however it is typed
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 120
        page = text(refused)
        assert "Too many requests for a new password. Please try again after" in page
        assert f'value="{address.upper()}"' in page  # the form as typed
        assert 'action="/password/forgot"' in page
    assert [mail["To"] for mail in smtp_server] == [user.email, user.email]
    assert ask(client, "someone.else@example.cn").status_code == 302  # other addresses are not held up


@settings(PASSWORD_RESET_RATE_LIMIT="3 per minute")
def test_requests_from_one_connection_are_limited(
    client: FlaskClient, smtp_server: list[EmailMessage]
) -> None:
    statuses = [ask(client, f"person{n}@example.cn").status_code for n in range(4)]
    assert statuses == [302, 302, 302, 429]
    assert 'value="person3@example.cn"' in text(ask(client, "person3@example.cn"))

"""Sign-in sessions live on the server: signing out, changing the password and deactivation end them wherever
their cookies went; and nothing shown to a signed-in caller may be cached."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from flask_login import decode_cookie
from sqlalchemy import select

from fundraise.extensions import db
from fundraise.models import AuditEvent, LoginSession, User
from fundraise.models.columns import utcnow
from fundraise.services import accounts, login_sessions
from tests.factories import PASSWORD, CampaignFactory, UserFactory

NEW_PASSWORD = "a brand new passphrase"


def sign_in(app: Flask, user: User, *, remember: bool = True, password: str = PASSWORD) -> FlaskClient:
    """A browser of its own, signed in as the user."""
    client = app.test_client()
    data = {"email": user.email, "password": password}
    if remember:
        data["remember"] = "y"
    response = client.post("/login", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client


def cookie(client: FlaskClient, name: str) -> str | None:
    found = client.get_cookie(name, domain="localhost")
    return found.value if found is not None else None


def browser_with(app: Flask, **cookies: str) -> FlaskClient:
    """A fresh browser that replays the given cookies (as someone who copied them would)."""
    client = app.test_client()
    for name, value in cookies.items():
        client.set_cookie(name, value, domain="localhost")
    return client


def me(client: FlaskClient) -> int:
    return client.get("/api/v1/me").status_code


def active_rows(user: User) -> list[LoginSession]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(LoginSession).where(LoginSession.user_id == user.id, LoginSession.ended_at.is_(None))
        )
    )


# --- signing out -----------------------------------------------------------------------------------------


def test_signing_out_ends_the_session_and_the_remember_cookie_wherever_they_are_replayed(app: Flask) -> None:
    user = UserFactory()
    db.session.commit()
    browser = sign_in(app, user, remember=True)
    old_session, old_remember = cookie(browser, "session"), cookie(browser, "remember_token")
    assert old_session
    assert old_remember
    assert me(browser) == 200
    assert me(browser_with(app, session=old_session)) == 200
    assert me(browser_with(app, remember_token=old_remember)) == 200

    response = browser.post("/logout")
    assert response.status_code == 302
    assert cookie(browser, "remember_token") is None  # the browser is told to forget it
    assert me(browser) == 401

    # Someone who copied the cookies before the sign-out gets nothing from them.
    assert me(browser_with(app, session=old_session)) == 401
    assert me(browser_with(app, remember_token=old_remember)) == 401
    assert me(browser_with(app, session=old_session, remember_token=old_remember)) == 401
    page = browser_with(app, session=old_session, remember_token=old_remember).get("/family/")
    assert page.status_code == 302
    assert "/login" in page.headers["Location"]

    [row] = db.session.scalars(select(LoginSession).where(LoginSession.user_id == user.id))
    assert row.ended_at is not None
    assert row.ended_reason == "signed_out"
    actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions[-2:] == ["session.start", "session.end"]


def test_a_replayed_dead_cookie_is_cleared_and_a_bearer_token_still_works(app: Flask) -> None:
    user = UserFactory()
    db.session.commit()
    browser = sign_in(app, user, remember=True)
    old_session, old_remember = cookie(browser, "session"), cookie(browser, "remember_token")
    browser.post("/logout")
    _token, plaintext = accounts.create_token(user, "his")

    replay = browser_with(app, session=old_session or "", remember_token=old_remember or "")
    response = replay.get("/api/v1/me", headers={"Authorization": f"Bearer {plaintext}"})
    assert response.status_code == 200
    assert response.get_json()["authenticated_by"] == "token"
    assert cookie(replay, "remember_token") is None


def test_each_sign_in_gets_its_own_remember_token_which_is_not_the_account_id(app: Flask) -> None:
    user = UserFactory()
    db.session.commit()
    first = cookie(sign_in(app, user), "remember_token")
    second = cookie(sign_in(app, user), "remember_token")
    assert first
    assert second
    assert first != second
    keys = {decode_cookie(first), decode_cookie(second)}
    assert str(user.id) not in keys
    assert None not in keys
    stored = {row.key_hash for row in active_rows(user)}
    assert len(stored) == 2
    assert not stored & keys


def test_a_kept_sign_in_is_restored_from_its_cookie_for_good(app: Flask) -> None:
    user = UserFactory()
    db.session.commit()
    remember = cookie(sign_in(app, user, remember=True), "remember_token")
    restored = browser_with(app, remember_token=remember or "")  # the browser was closed and opened again
    assert [me(restored) for _ in range(3)] == [200, 200, 200]


def test_a_session_ends_on_the_server_when_it_expires(app: Flask) -> None:
    user = UserFactory()
    db.session.commit()
    browser = sign_in(app, user, remember=False)
    [row] = active_rows(user)
    assert timedelta(hours=11) < row.expires_at - row.created_at <= timedelta(hours=12)
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert me(browser) == 401


def test_a_kept_sign_in_lasts_as_long_as_its_cookie(app: Flask) -> None:
    user = UserFactory()
    db.session.commit()
    sign_in(app, user, remember=True)
    [row] = active_rows(user)
    assert row.remember
    assert row.expires_at - row.created_at == timedelta(days=30)


# --- password change, other sessions, deactivation --------------------------------------------------------


def test_changing_the_password_ends_every_other_session_and_keeps_this_browser(app: Flask) -> None:
    user = UserFactory()
    db.session.commit()
    here = sign_in(app, user)
    elsewhere = sign_in(app, user)
    old_here, old_remember = cookie(here, "session"), cookie(here, "remember_token")
    response = here.post(
        "/account/password",
        data={"current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert me(here) == 200  # carried on in a fresh session
    assert me(elsewhere) == 401
    assert me(browser_with(app, session=old_here or "")) == 401  # this browser's old cookies are dead too
    assert me(browser_with(app, remember_token=old_remember or "")) == 401
    kept = cookie(here, "remember_token")  # still kept signed in, under the new session's key
    assert kept
    assert kept != old_remember
    assert me(browser_with(app, remember_token=kept)) == 200
    assert len(active_rows(user)) == 1
    assert (
        app.test_client().post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 401
    )
    sign_in(app, user, password=NEW_PASSWORD)


def test_a_wrong_current_password_changes_nothing(app: Flask) -> None:
    user = UserFactory()
    db.session.commit()
    here = sign_in(app, user)
    elsewhere = sign_in(app, user)
    response = here.post(
        "/account/password",
        data={"current_password": "not my password", "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert response.status_code == 422
    assert "This is not your current password." in response.get_data(as_text=True)
    assert me(here) == 200
    assert me(elsewhere) == 200
    db.session.refresh(user)
    assert user.failed_logins == 1  # counts towards the account's lock
    short = here.post(
        "/account/password", data={"current_password": PASSWORD, "new_password": "short", "confirm": "short"}
    )
    assert short.status_code == 422
    sign_in(app, user)  # the old password still works


def test_the_account_page_lists_sessions_and_signs_out_of_the_others(app: Flask) -> None:
    user = UserFactory()
    db.session.commit()
    firefox = app.test_client()
    firefox.environ_base["HTTP_USER_AGENT"] = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
    )
    assert firefox.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 302
    phone = app.test_client()
    phone.environ_base["HTTP_USER_AGENT"] = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
    )
    assert phone.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 302

    page = firefox.get("/account").get_data(as_text=True)
    assert "Firefox · Windows" in page
    assert "Safari · iOS" in page
    assert "This browser" in page
    assert "Sign out of all other sessions" in page

    response = firefox.post("/account/sessions/end-others")
    assert response.status_code == 302
    assert me(firefox) == 200
    assert me(phone) == 401
    [kept] = active_rows(user)
    assert kept.device == "Firefox · Windows"
    ended = db.session.scalars(select(LoginSession).where(LoginSession.ended_at.is_not(None))).all()
    assert [row.ended_reason for row in ended] == ["signed_out_elsewhere"]


def test_deactivation_ends_every_session_and_reactivation_does_not_revive_them(app: Flask) -> None:
    admin = UserFactory(admin=True)
    user = UserFactory()
    db.session.commit()
    browser = sign_in(app, user)
    remember = cookie(browser, "remember_token")
    accounts.set_account_active(user.id, False, actor=admin)
    assert me(browser) == 401
    assert active_rows(user) == []
    accounts.set_account_active(user.id, True, actor=admin)
    assert me(browser) == 401
    assert me(browser_with(app, remember_token=remember or "")) == 401
    assert [row.ended_reason for row in db.session.scalars(select(LoginSession))] == ["deactivated"]
    sign_in(app, user)  # a new sign-in works again


def test_device_labels_name_browser_and_system_only() -> None:
    edge = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0"
    )
    android = (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Mobile Safari/537.36"
    )
    assert login_sessions.device_label(edge) == "Edge · Windows"
    assert login_sessions.device_label(android) == "Chrome · Android"
    assert login_sessions.device_label("curl/8.5.0") == "curl"
    assert login_sessions.device_label("") == ""


# --- no caching of private responses ---------------------------------------------------------------------


def no_store(response: Any) -> bool:
    return "no-store" in response.headers.get("Cache-Control", "")


def test_every_response_to_a_signed_in_caller_is_no_store(app: Flask) -> None:
    family = UserFactory()
    officer = UserFactory(officer=True)
    db.session.commit()
    campaign = CampaignFactory(applicant=family)
    db.session.commit()
    browser = sign_in(app, family, remember=False)
    for path in (
        "/family/",
        f"/family/campaigns/{campaign.id}/review",
        f"/family/campaigns/{campaign.id}/edit/patient",
        "/account",
        "/api/v1/me",
    ):
        response = browser.get(path)
        assert response.status_code == 200, path
        assert no_store(response), path
    created = browser.post("/account", data={"name": "his"})
    assert created.status_code == 200
    assert "ab_" in created.get_data(as_text=True)
    assert no_store(created)  # the page that shows a new token once

    staff_browser = sign_in(app, officer, remember=False)
    assert no_store(staff_browser.get("/staff/region"))

    _token, plaintext = accounts.create_token(family, "his")
    api = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {plaintext}"})
    assert api.status_code == 200
    assert no_store(api)

    signing_in = app.test_client().post("/login", data={"email": family.email, "password": PASSWORD})
    assert no_store(signing_in)


def test_public_pages_for_visitors_keep_their_caching(app: Flask, client: FlaskClient) -> None:
    campaign = CampaignFactory(state="fundraising")
    db.session.commit()
    for path in (f"/campaigns/{campaign.id}", "/campaigns", "/"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert not no_store(response), path
    with client.get("/static/app.css") as static:
        assert not no_store(static)

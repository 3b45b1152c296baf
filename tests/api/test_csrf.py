"""CSRF with the app's real protection on: the session cookie needs a CSRF token, a bearer token does not."""

from __future__ import annotations

import re
from typing import Any

import pytest

from fundraise.extensions import db
from fundraise.models import Campaign
from tests.api.helpers import assert_problem, forget_request_globals
from tests.factories import PASSWORD, UserFactory


@pytest.fixture
def app_settings() -> dict[str, Any]:
    return {"WTF_CSRF_ENABLED": True}


def _csrf_token(client: Any, path: str) -> str:
    forget_request_globals()
    page = client.get(path).get_data(as_text=True)
    for tag in re.findall(r"<input[^>]*>", page):
        if 'name="csrf_token"' in tag:
            return re.search(r'value="([^"]+)"', tag).group(1)  # type: ignore[union-attr]
    raise AssertionError(f"no CSRF token on {path}")


@pytest.fixture
def family_session(client: Any) -> tuple[Any, str]:
    """A family signed in through the login form; returns the user and a CSRF token of the new session."""
    user = UserFactory()
    db.session.commit()
    login_token = _csrf_token(client, "/login")
    forget_request_globals()
    signed_in = client.post(
        "/login",
        data={"email": user.email, "password": PASSWORD, "csrf_token": login_token},
    )
    assert signed_in.status_code == 302
    return user, _csrf_token(client, "/")  # the sign-out form on every page carries the session's token


def test_session_post_without_csrf_token_is_refused(api, family_session):
    response = api("POST", "/campaigns", json={"title": "跨站请求"})
    body = assert_problem(response, 400)
    assert "CSRF" in body["detail"]
    assert db.session.query(Campaign).count() == 0


def test_session_post_with_csrf_token_is_accepted(api, family_session):
    user, token = family_session
    response = api("POST", "/campaigns", json={"title": "本站页面"}, headers={"X-CSRFToken": token})
    assert response.status_code == 201, response.get_json()
    assert db.session.get(Campaign, response.get_json()["id"]).applicant_id == user.id


def test_session_reads_need_no_csrf_token(api, family_session):
    user, _token = family_session
    assert api("GET", "/me").get_json()["email"] == user.email


def test_bearer_token_needs_no_csrf_token(api, token_for):
    family = UserFactory()
    db.session.commit()
    response = api("POST", "/campaigns", token=token_for(family), json={"title": "集成接口"})
    assert response.status_code == 201, response.get_json()


def test_a_bearer_header_does_not_excuse_a_session_from_csrf(api, family_session, token_for):
    """With both, the session identifies the request, so the session's rule applies."""
    other = UserFactory()
    db.session.commit()
    response = api("POST", "/campaigns", token=token_for(other), json={"title": "x"})
    assert_problem(response, 400)

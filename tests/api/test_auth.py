"""Who may call what: bearer tokens, the browser session, and the roles each route admits."""

from __future__ import annotations

from fundraise.extensions import db
from fundraise.services.accounts import create_token, revoke_token
from tests.api.helpers import assert_problem
from tests.factories import UserFactory, user_of_role


def test_signed_in_routes_need_credentials(api):
    assert_problem(api("GET", "/me"), 401)
    assert_problem(api("POST", "/campaigns", json={"title": "x"}), 401)
    assert_problem(api("PATCH", "/campaigns/1", json={"title": "x"}), 401)
    assert_problem(api("POST", "/campaigns/1/submit"), 401)


def test_unknown_or_malformed_tokens_are_401(api):
    assert_problem(api("GET", "/me", token="ab_not-a-real-token"), 401)
    assert_problem(api("GET", "/me", headers={"Authorization": "Basic dXNlcjpwYXNz"}), 401)


def test_me_with_a_token(api, token_for):
    worker = user_of_role("social_worker")
    db.session.commit()

    body = api("GET", "/me", token=token_for(worker)).get_json()

    assert body["email"] == worker.email
    assert body["role"] == "social_worker"
    assert body["hospital"]["code"] == "AH-PROV"
    assert body["authenticated_by"] == "token"


def test_me_with_the_browser_session(api, login):
    user = login(UserFactory(donor=True))
    db.session.commit()
    body = api("GET", "/me").get_json()
    assert body["email"] == user.email
    assert body["authenticated_by"] == "session"


def test_a_donor_may_not_create_a_campaign(api, token_for):
    donor = user_of_role("donor")
    db.session.commit()
    assert_problem(api("POST", "/campaigns", token=token_for(donor), json={"title": "x"}), 403)


def test_staff_and_officers_may_not_file(api, token_for):
    for role in ("charity_staff", "civil_affairs_officer", "admin"):
        user = user_of_role(role)
        db.session.commit()
        assert_problem(api("POST", "/campaigns", token=token_for(user), json={}), 403)


def test_revoked_token_is_401(api):
    family = UserFactory()
    db.session.commit()
    token, plaintext = create_token(family, "integration")
    assert api("GET", "/me", token=plaintext).status_code == 200

    revoke_token(family, token.id)

    assert_problem(api("GET", "/me", token=plaintext), 401)
    assert_problem(api("POST", "/campaigns", token=plaintext, json={"title": "x"}), 401)


def test_token_of_a_deactivated_account_is_401(api, token_for):
    family = UserFactory()
    db.session.commit()
    plaintext = token_for(family)
    family.active = False
    db.session.commit()
    assert_problem(api("GET", "/me", token=plaintext), 401)


def test_tokens_are_not_accepted_outside_the_api(client, token_for):
    family = UserFactory()
    db.session.commit()
    response = client.get("/family/", headers={"Authorization": f"Bearer {token_for(family)}"})
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_bearer_callers_get_no_cookie(api, token_for):
    family = UserFactory()
    db.session.commit()
    response = api("POST", "/campaigns", token=token_for(family), json={"title": "无状态"})
    assert response.status_code == 201
    assert "Set-Cookie" not in response.headers

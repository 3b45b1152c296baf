"""An admin edits an account (name, e-mail, role with its organisation, active) and sends it a link to set a
new password; the platform always keeps an active admin, and every change is audited without the hash."""

from __future__ import annotations

import re
from email.message import EmailMessage
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from fundraise import person_keys
from fundraise.errors import ValidationFailed
from fundraise.extensions import db
from fundraise.models import AuditEvent, LoginSession, PasswordResetToken, Role, User
from fundraise.services import accounts
from tests import smtp
from tests.factories import PASSWORD, CharityFactory, UserFactory
from tests.web.test_public import signed_in, text

smtp_server = smtp.smtp_server  # the fixture


@pytest.fixture
def admin_user() -> User:
    user = UserFactory(admin=True, name="管理员")
    db.session.commit()
    return user


@pytest.fixture
def admin(app: Flask, admin_user: User) -> FlaskClient:
    return signed_in(app, admin_user)


def fresh(user: User) -> User:
    db.session.expire_all()
    found = db.session.get(User, user.id)
    assert found is not None
    return found


def edit(person: User, **changes: Any) -> dict[str, Any]:
    """The edit form as the page fills it for this account, with some fields changed."""
    data: dict[str, Any] = {
        "name": person.name,
        "email": person.email,
        "role": person.role,
        "hospital_code": person.hospital.code if person.hospital else "",
        "charity_code": person.charity.code if person.charity else "",
        "jurisdiction_code": person.jurisdiction_code or "",
    }
    if person.active:
        data["active"] = "y"
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def updates() -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "user.update")))


def test_the_account_list_links_to_each_accounts_edit_page(admin: FlaskClient) -> None:
    person = UserFactory(name="王芳", email="wang@example.cn")
    db.session.commit()
    assert f'href="/admin/users/{person.id}/edit"' in text(admin.get("/admin/users"))
    page = text(admin.get(f"/admin/users/{person.id}/edit"))
    assert 'value="王芳"' in page
    assert 'value="wang@example.cn"' in page
    assert 'name="password"' not in page  # admins never set a password here
    assert "Send a link to set a new password" in page


def test_admin_edits_name_email_and_role_with_its_organisation(admin: FlaskClient, admin_user: User) -> None:
    person = UserFactory(name="王芳", email="wang@example.cn")
    db.session.commit()
    response = admin.post(
        f"/admin/users/{person.id}/edit",
        data=edit(
            person,
            name="王芳芳",
            email="Wang.Fang@Hospital.cn",
            role="social_worker",
            hospital_code="LQ-PEOPLE",
        ),
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/admin/users")
    person = fresh(person)
    assert (person.name, person.email, person.role) == ("王芳芳", "wang.fang@hospital.cn", "social_worker")
    assert person.hospital is not None
    assert person.hospital.code == "LQ-PEOPLE"

    # Charity staff: the hospital goes, the charity comes.
    charity = CharityFactory(code="CFCF")
    db.session.commit()
    assert (
        admin.post(
            f"/admin/users/{person.id}/edit", data=edit(person, role="charity_staff", charity_code="CFCF")
        ).status_code
        == 302
    )
    person = fresh(person)
    assert (person.role, person.charity_id, person.hospital_id) == ("charity_staff", charity.id, None)

    # An officer: a jurisdiction, and nothing else.
    assert (
        admin.post(
            f"/admin/users/{person.id}/edit",
            data=edit(person, role="civil_affairs_officer", jurisdiction_code="341200"),
        ).status_code
        == 302
    )
    person = fresh(person)
    assert (person.role, person.jurisdiction_code, person.charity_id) == (
        "civil_affairs_officer",
        "341200",
        None,
    )

    first, second, third = updates()
    assert first.actor_id == admin_user.id
    assert first.object_id == str(person.id)
    # The name and e-mail are sealed under the person's key (erasable); the rest is in the clear.
    recorded = str(first.before) + str(first.after)
    assert "王芳" not in recorded
    assert "wang" not in recorded
    assert person_keys.open_fields(first.before) == {
        "name": "王芳",
        "email": "wang@example.cn",
        "role": "family",
        "hospital": None,
    }
    assert person_keys.open_fields(first.after) == {
        "name": "王芳芳",
        "email": "wang.fang@hospital.cn",
        "role": "social_worker",
        "hospital": "LQ-PEOPLE",
    }
    assert second.before == {"role": "social_worker", "hospital": "LQ-PEOPLE", "charity": None}
    assert second.after == {"role": "charity_staff", "hospital": None, "charity": "CFCF"}
    assert third.after == {"role": "civil_affairs_officer", "charity": None, "jurisdiction_code": "341200"}
    for event in (first, second, third):
        recorded = str(event.before) + str(event.after)
        assert "password" not in recorded
        assert person.password_hash not in recorded
        assert "$argon2" not in recorded


def test_saving_without_a_change_writes_no_event(admin: FlaskClient) -> None:
    person = UserFactory()
    db.session.commit()
    assert admin.post(f"/admin/users/{person.id}/edit", data=edit(person)).status_code == 302
    assert updates() == []


@pytest.mark.parametrize("taken", ["chen@hospital.cn", "CHEN@Hospital.cn"])
def test_an_e_mail_another_account_has_is_refused_with_a_field_error(admin: FlaskClient, taken: str) -> None:
    UserFactory(email="chen@hospital.cn")
    person = UserFactory(name="王芳", email="wang@example.cn")
    db.session.commit()
    response = admin.post(f"/admin/users/{person.id}/edit", data=edit(person, name="改了名字", email=taken))
    assert response.status_code == 422
    page = text(response)
    assert 'id="email-error-1">An account with this e-mail already exists.' in page
    assert f'value="{taken}"' in page  # what was typed is kept
    person = fresh(person)
    assert (person.name, person.email) == ("王芳", "wang@example.cn")  # nothing saved
    assert updates() == []


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"role": "social_worker"}, "hospital_code", "A social worker needs a registered hospital."),
        ({"role": "social_worker", "hospital_code": "NOPE"}, "hospital_code", "Not a valid choice."),
        ({"role": "charity_staff"}, "charity_code", "Charity staff need a charity."),
        (
            {"role": "civil_affairs_officer", "jurisdiction_code": "999999"},
            "jurisdiction_code",
            "An officer needs a jurisdiction (a region code).",
        ),
        ({"email": "not an e-mail"}, "email", "Enter a valid e-mail address."),
        ({"name": "line\nbreak"}, "name", ""),
        ({"role": "king"}, "role", ""),
    ],
)
def test_bad_input_rerenders_with_field_errors_and_saves_nothing(
    admin: FlaskClient, changes: dict[str, str], field: str, message: str
) -> None:
    person = UserFactory(name="王芳")
    db.session.commit()
    response = admin.post(
        f"/admin/users/{person.id}/edit", data=edit(person, **{"name": "新名字", **changes})
    )
    assert response.status_code == 422
    assert f'id="{field}-error-1">{message}' in text(response)
    assert fresh(person).name == "王芳"
    assert fresh(person).role == "family"


def test_the_last_active_admin_cannot_be_demoted_or_deactivated(admin: FlaskClient, admin_user: User) -> None:
    UserFactory(admin=True, active=False)  # a deactivated admin does not count
    db.session.commit()
    demoted = admin.post(f"/admin/users/{admin_user.id}/edit", data=edit(admin_user, role="donor"))
    assert demoted.status_code == 422
    assert "This is the last active administrator." in text(demoted)
    deactivated = admin.post(f"/admin/users/{admin_user.id}/edit", data=edit(admin_user, active=None))
    assert deactivated.status_code == 422
    assert "You cannot deactivate your own account." in text(deactivated)
    me = fresh(admin_user)
    assert (me.role, me.active) == ("admin", True)
    assert updates() == []


def test_with_another_admin_an_admin_may_step_down(admin: FlaskClient, admin_user: User) -> None:
    UserFactory(admin=True)
    db.session.commit()
    response = admin.post(f"/admin/users/{admin_user.id}/edit", data=edit(admin_user, role="donor"))
    assert response.status_code == 302
    assert response.headers["Location"] == "/"  # the admin pages are closed to them now
    assert fresh(admin_user).role == "donor"
    assert admin.get("/admin/users").status_code == 403


def test_the_service_keeps_an_active_admin_whoever_asks(app: Flask) -> None:
    first = UserFactory(admin=True)
    second = UserFactory(admin=True)
    db.session.commit()
    accounts.update_account(
        second.id, name=second.name, email=second.email, role="donor", active=True, actor=first
    )
    with pytest.raises(ValidationFailed) as refused:
        accounts.update_account(
            first.id, name=first.name, email=first.email, role="family", active=True, actor=first
        )
    assert "role" in refused.value.fields
    assert fresh(first).role == Role.ADMIN


def test_deactivating_through_the_edit_page_signs_the_account_out_everywhere(
    app: Flask, admin: FlaskClient
) -> None:
    person = UserFactory()
    db.session.commit()
    browser = signed_in(app, person)
    assert browser.get("/account").status_code == 200
    assert admin.post(f"/admin/users/{person.id}/edit", data=edit(person, active=None)).status_code == 302
    assert fresh(person).active is False
    assert browser.get("/account").status_code == 302  # to the sign-in page
    ended = db.session.scalars(select(LoginSession).where(LoginSession.user_id == person.id)).all()
    assert [row.ended_reason for row in ended] == ["deactivated"]
    [event] = updates()
    assert (event.before, event.after) == ({"active": True}, {"active": False})
    assert "Deactivated" in text(admin.get("/admin/users"))


def test_non_admins_cannot_edit_accounts(app: Flask) -> None:
    person = UserFactory()
    staff = UserFactory(charity_staff=True)
    db.session.commit()
    browser = signed_in(app, staff)
    assert browser.get(f"/admin/users/{person.id}/edit").status_code == 403
    assert browser.post(f"/admin/users/{person.id}/edit", data=edit(person, role="admin")).status_code == 403
    assert browser.post(f"/admin/users/{person.id}/password-reset").status_code == 403
    assert fresh(person).role == "family"


def test_an_unknown_account_is_a_404(admin: FlaskClient) -> None:
    assert admin.get("/admin/users/999999/edit").status_code == 404
    assert admin.post("/admin/users/999999/password-reset").status_code == 404


# --- a reset link sent by the admin ----------------------------------------------------------------------


def test_without_smtp_the_admin_is_shown_the_link_to_pass_on(app: Flask, admin: FlaskClient) -> None:
    person = UserFactory(name="王芳")
    db.session.commit()
    response = admin.post(f"/admin/users/{person.id}/password-reset")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = text(response)
    assert "No e-mail could be sent: this server has no outgoing mail set up." in page
    # The name is marked as Chinese inside the English sentence (a screen reader's voice follows it).
    assert 'Pass this link to <span lang="zh-CN">王芳</span> yourself' in page
    found = re.search(r'<code class="token">http://localhost(/password/reset/[\w-]+)</code>', page)
    assert found is not None
    # The link is on that answer only: not in a flash message for the next page.
    assert found.group(1) not in text(admin.get(f"/admin/users/{person.id}/edit"))
    # It works.
    visitor = app.test_client()
    assert visitor.get(found.group(1)).status_code == 200
    reset = visitor.post(
        found.group(1), data={"password": "a brand new password", "confirm": "a brand new password"}
    )
    assert reset.status_code == 302
    assert (
        visitor.post("/login", data={"email": person.email, "password": "a brand new password"}).status_code
        == 302
    )
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "user.password_reset_link"))
    assert event.after is not None
    assert event.after["asked_by"] == "admin"


def test_with_smtp_the_link_is_e_mailed_and_not_shown(
    admin: FlaskClient, admin_user: User, smtp_server: list[EmailMessage]
) -> None:
    person = UserFactory(email="wang@example.cn", locale="en")
    db.session.commit()
    response = admin.post(f"/admin/users/{person.id}/password-reset")
    assert response.status_code == 302
    page = text(admin.get(response.headers["Location"]))
    assert "A link to set a new password was e-mailed to wang@example.cn." in page
    assert "/password/reset/" not in page
    [mail] = smtp_server
    assert mail["To"] == "wang@example.cn"
    body = mail.get_content()
    assert "An Aidbridge administrator sent you this link" in body
    assert re.search(r"http://localhost/password/reset/[\w-]+", body)


def test_a_failed_send_shows_the_admin_the_link(app: Flask, admin: FlaskClient) -> None:
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=1)  # nothing listens there
    person = UserFactory()
    db.session.commit()
    response = admin.post(f"/admin/users/{person.id}/password-reset")
    assert response.status_code == 200
    page = text(response)
    assert "No e-mail could be sent: the mail server did not take it." in page
    assert "/password/reset/" in page


def test_a_deactivated_account_gets_no_link(admin: FlaskClient) -> None:
    person = UserFactory(active=False)
    db.session.commit()
    assert "Activate it before sending" in text(admin.get(f"/admin/users/{person.id}/edit"))
    response = admin.post(f"/admin/users/{person.id}/password-reset")
    assert response.status_code == 302
    assert "Activate it before sending" in text(admin.get(response.headers["Location"]))
    assert db.session.scalars(select(PasswordResetToken)).all() == []


def test_a_new_e_mail_address_voids_the_links_sent_to_the_old_one(app: Flask, admin: FlaskClient) -> None:
    person = UserFactory(email="old@example.cn")
    db.session.commit()
    page = text(admin.post(f"/admin/users/{person.id}/password-reset"))
    found = re.search(r"http://localhost(/password/reset/[\w-]+)", page)
    assert found is not None
    assert (
        admin.post(f"/admin/users/{person.id}/edit", data=edit(person, email="new@example.cn")).status_code
        == 302
    )
    refused = app.test_client().get(found.group(1))
    assert refused.status_code == 410
    assert "no longer works" in text(refused)


def test_the_old_password_still_works_after_an_edit(app: Flask, admin: FlaskClient) -> None:
    person = UserFactory()
    db.session.commit()
    assert admin.post(f"/admin/users/{person.id}/edit", data=edit(person, name="新名字")).status_code == 302
    response = app.test_client().post("/login", data={"email": person.email, "password": PASSWORD})
    assert response.status_code == 302

"""Admin pages: staff accounts (create, deactivate, activate) and charities."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from fundraise.extensions import db
from fundraise.models import AuditEvent, Charity, User
from fundraise.services.charities import credit_code_problem
from tests.factories import PASSWORD, CharityFactory, UserFactory, user_of_role
from tests.web.test_public import signed_in, text

VALID_CREDIT_CODE = "53100000500012345U"


@pytest.fixture
def admin_user() -> User:
    user = UserFactory(admin=True, name="管理员")
    db.session.commit()
    return user


@pytest.fixture
def admin(app: Flask, admin_user: User) -> FlaskClient:
    return signed_in(app, admin_user)


def user_by_email(email: str) -> User | None:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.email == email))


def account(**fields: str) -> dict[str, str]:
    data = {
        "name": "社工陈",
        "email": "chen@hospital.cn",
        "password": "a long first password",
        "role": "social_worker",
        "hospital_code": "",
        "charity_code": "",
        "jurisdiction_code": "",
    }
    data.update(fields)
    return data


def test_admin_creates_a_social_worker(admin: FlaskClient, admin_user: User) -> None:
    page = text(admin.get("/admin/users"))
    assert "Create an account" in page
    assert 'value="LQ-PEOPLE"' in page
    response = admin.post("/admin/users", data=account(hospital_code="LQ-PEOPLE"))
    assert response.status_code == 302
    made = user_by_email("chen@hospital.cn")
    assert made is not None
    assert made.role == "social_worker"
    assert made.hospital.code == "LQ-PEOPLE"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user.create"))
    assert event is not None
    assert event.actor_id == admin_user.id
    listing = text(admin.get("/admin/users"))
    assert "chen@hospital.cn" in listing
    assert "Linquan County People" in listing


def test_a_social_worker_needs_a_hospital(admin: FlaskClient) -> None:
    response = admin.post("/admin/users", data=account())
    assert response.status_code == 422
    body = text(response)
    assert "A social worker needs a registered hospital." in body
    assert 'value="chen@hospital.cn"' in body  # what was typed is kept
    assert user_by_email("chen@hospital.cn") is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"role": "charity_staff"}, "Charity staff need a charity."),
        ({"role": "civil_affairs_officer", "jurisdiction_code": "999999"}, "An officer needs a jurisdiction"),
        ({"role": "donor", "email": "not an e-mail"}, "Enter a valid e-mail address."),
        ({"role": "king"}, 'has-error">'),
        ({"role": "donor", "password": "short"}, 'has-error">'),
        ({"role": "social_worker", "hospital_code": "NOPE"}, 'has-error">'),
    ],
)
def test_account_form_errors_rerender(admin: FlaskClient, fields: dict[str, str], message: str) -> None:
    response = admin.post("/admin/users", data=account(**fields))
    assert response.status_code == 422
    assert message in text(response)


def test_duplicate_email_is_refused(admin: FlaskClient) -> None:
    UserFactory(email="chen@hospital.cn")
    db.session.commit()
    response = admin.post("/admin/users", data=account(hospital_code="LQ-PEOPLE"))
    assert response.status_code == 422
    assert "already exists" in text(response)


def test_admin_creates_staff_for_a_charity_and_an_officer(admin: FlaskClient) -> None:
    charity = CharityFactory(code="CFCF")
    db.session.commit()
    assert (
        admin.post(
            "/admin/users", data=account(role="charity_staff", email="staff@cfcf.cn", charity_code="CFCF")
        ).status_code
        == 302
    )
    assert user_by_email("staff@cfcf.cn").charity_id == charity.id  # type: ignore[union-attr]
    assert (
        admin.post(
            "/admin/users",
            data=account(role="civil_affairs_officer", email="mz@fy.gov.cn", jurisdiction_code="341200"),
        ).status_code
        == 302
    )
    officer = user_by_email("mz@fy.gov.cn")
    assert officer is not None
    assert officer.jurisdiction_prefix == "3412"


def test_deactivate_and_activate(app: Flask, admin: FlaskClient, admin_user: User) -> None:
    worker = UserFactory(social_worker=True)
    db.session.commit()
    assert admin.get(f"/admin/users/{worker.id}/deactivate").status_code == 405
    assert admin.post(f"/admin/users/{worker.id}/deactivate").status_code == 302
    assert user_by_email(worker.email).active is False  # type: ignore[union-attr]
    guest = app.test_client()
    assert guest.post("/login", data={"email": worker.email, "password": PASSWORD}).status_code == 401
    assert admin.post(f"/admin/users/{worker.id}/activate").status_code == 302
    assert user_by_email(worker.email).active is True  # type: ignore[union-attr]
    actions = db.session.scalars(
        select(AuditEvent.action).where(
            AuditEvent.object_type == "user", AuditEvent.object_id == str(worker.id)
        )
    ).all()
    assert actions == ["user.deactivate", "user.activate"]


def test_an_admin_cannot_deactivate_themself(admin: FlaskClient, admin_user: User) -> None:
    response = admin.post(f"/admin/users/{admin_user.id}/deactivate", follow_redirects=True)
    assert "cannot deactivate your own account" in text(response)
    assert user_by_email(admin_user.email).active is True  # type: ignore[union-attr]


def test_unknown_account_is_not_found(admin: FlaskClient) -> None:
    response = admin.post("/admin/users/999999/deactivate", follow_redirects=True)
    assert "could not find that account" in text(response)


# --- charities -------------------------------------------------------------------------------------------


def charity(**fields: str) -> dict[str, str]:
    data = {
        "code": "ccf",
        "name_zh": "中国儿童少年基金会",
        "name_en": "China Children and Teenagers' Fund",
        "credit_code": VALID_CREDIT_CODE,
        "region_code": "110105",
    }
    data.update(fields)
    return data


def test_credit_code_check_character() -> None:
    # Published codes of registered organisations, and one with a wrong last character.
    assert credit_code_problem("91350100M000100Y43") is None
    assert credit_code_problem("9144030071526726XG") is None
    assert credit_code_problem(VALID_CREDIT_CODE) is None
    assert credit_code_problem("53100000500012345T") is not None
    assert credit_code_problem("5310000050001234") is not None
    assert credit_code_problem("53100000500O12345U") is not None


def test_admin_registers_a_charity(admin: FlaskClient) -> None:
    assert "No charity is registered yet." in text(admin.get("/admin/charities"))
    response = admin.post("/admin/charities", data=charity())
    assert response.status_code == 302
    db.session.expire_all()
    made = db.session.scalar(select(Charity).where(Charity.code == "CCF"))
    assert made is not None
    assert made.credit_code == VALID_CREDIT_CODE
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "charity.create")) is not None
    assert "中国儿童少年基金会" in text(admin.get("/admin/charities"))
    # Now charity staff can be created for it.
    assert 'value="CCF"' in text(admin.get("/admin/users"))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"credit_code": "53100000500012345T"}, "check character"),
        ({"credit_code": "531000005000123"}, "Exactly 18 characters."),
        ({"region_code": "999999"}, "Enter a region code"),
        ({"code": "has space"}, "Up to 32 capital letters"),
        ({"name_zh": ""}, 'has-error">'),
    ],
)
def test_charity_form_errors_rerender(admin: FlaskClient, fields: dict[str, str], message: str) -> None:
    response = admin.post("/admin/charities", data=charity(**fields))
    assert response.status_code == 422
    assert message in text(response)
    db.session.expire_all()
    assert db.session.scalar(select(Charity)) is None


def test_duplicate_charity_is_refused(admin: FlaskClient) -> None:
    assert admin.post("/admin/charities", data=charity()).status_code == 302
    response = admin.post("/admin/charities", data=charity(code="OTHER"))
    assert response.status_code == 422
    assert "already exists" in text(response)


@pytest.mark.parametrize(
    "role", ["family", "donor", "social_worker", "charity_staff", "civil_affairs_officer"]
)
def test_non_admins_get_403(app: Flask, role: str) -> None:
    client = signed_in(app, user_of_role(role))
    for url in ("/admin/users", "/admin/charities"):
        assert client.get(url).status_code == 403
        assert client.post(url, data=charity()).status_code == 403
    assert client.post("/admin/users/1/deactivate").status_code == 403


def test_guests_are_sent_to_sign_in(client: FlaskClient) -> None:
    response = client.get("/admin/users")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]

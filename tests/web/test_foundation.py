"""The app's foundations: settings, personal data, the audit chain, the outbox, accounts and security."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from fundraise import ConfigurationError, create_app, pii
from fundraise.extensions import db
from fundraise.jobs.outbox import JOBS, enqueue, job, relay
from fundraise.models import ApiToken, Notification, OutboxMessage, Role
from fundraise.services import accounts
from fundraise.services.transitions import transition
from tests.factories import PASSWORD, CampaignFactory, UserFactory


def test_production_refuses_to_start_without_its_secrets(monkeypatch):
    for name in ("SECRET_KEY", "PII_KEY", "AUDIT_SIGNING_KEY", "DATABASE_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(
        ConfigurationError,
        match=r"SECRET_KEY.*PII_KEY.*AUDIT_SIGNING_KEY.*SQLALCHEMY_DATABASE_URI.*REDIS_URL",
    ):
        create_app("production")


def test_production_refuses_a_malformed_pii_key(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.setenv("PII_KEY", "too-short")
    monkeypatch.setenv("AUDIT_SIGNING_KEY", "cHJvZHVjdGlvbi1hdWRpdC1rZXktZm9yLXRlc3RzLi4=")
    monkeypatch.setenv("DATABASE_URL", "postgresql://x@127.0.0.1/x")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    with pytest.raises(ConfigurationError, match="PII_KEY"):
        create_app("production")


def test_id_numbers_are_encrypted_and_blind_indexed(app):
    number = "11010519491231002X"
    ciphertext = pii.encrypt_id(number)
    assert number.encode() not in ciphertext
    assert pii.encrypt_id(number) != ciphertext  # a fresh nonce every time
    assert pii.decrypt_id(ciphertext) == number
    assert pii.blind_index(number) == pii.blind_index(number.lower())
    assert pii.blind_index(number) != pii.blind_index("110105194912310029")
    assert number not in pii.blind_index(number)


def test_stored_campaign_holds_no_plain_id_number(app):
    campaign = CampaignFactory()
    db.session.commit()
    row = (
        db.session.execute(text("SELECT * FROM campaigns WHERE id = :id"), {"id": campaign.id})
        .mappings()
        .one()
    )
    plain = pii.decrypt_id(campaign.patient_id_ciphertext)
    assert all(plain not in str(value) for value in row.values())
    assert campaign.patient_id_masked == plain[:4] + "*" * 10 + plain[-4:]


def test_state_change_notifies_the_family_once_even_if_the_job_runs_twice(app):
    campaign = CampaignFactory(with_evidence=True)
    db.session.commit()
    transition(campaign, "submit", actor=campaign.applicant)
    relay()
    notes = db.session.scalars(
        select(Notification).where(Notification.user_id == campaign.applicant_id)
    ).all()
    assert {"submitted", "needs_review"} <= {n.params["to_state"] for n in notes}
    # Run every job again: nothing new appears.
    for message in db.session.scalars(select(OutboxMessage)).all():
        message.status = "pending"
    db.session.commit()
    relay()
    again = db.session.scalars(
        select(Notification).where(Notification.user_id == campaign.applicant_id)
    ).all()
    assert len(again) == len(notes)
    assert campaign.state == "needs_review"


def test_a_job_written_in_a_rolled_back_transaction_never_runs(app):
    enqueue("start_verification", campaign_id=12345)
    db.session.rollback()
    assert relay() == 0
    assert db.session.scalar(select(OutboxMessage)) is None


def test_failed_jobs_are_recorded_and_listed(app, runner):
    @job("test_always_fails")
    def always_fails(reason: str) -> None:
        raise RuntimeError(reason)

    try:
        enqueue("test_always_fails", reason="printer on fire")
        db.session.commit()
        relay()
        message = db.session.scalar(select(OutboxMessage))
        assert message.status == "failed"
        assert "printer on fire" in message.last_error
        result = runner.invoke(args=["jobs", "status"])
        assert "failed=1" in result.output
        assert "printer on fire" in result.output
    finally:
        del JOBS["test_always_fails"]


def test_staff_cannot_self_register(client):
    response = client.post(
        "/register",
        data={
            "role": "admin",
            "name": "x",
            "email": "x@example.cn",
            "password": PASSWORD,
            "confirm": PASSWORD,
            "accept_truth": "y",
        },
    )
    assert response.status_code == 422
    assert db.session.scalar(select(ApiToken)) is None


def test_login_sets_secure_headers_and_rejects_wrong_passwords(client):
    user = UserFactory()
    db.session.commit()
    response = client.post("/login", data={"email": user.email, "password": "wrong password!"})
    assert response.status_code == 401
    assert "The e-mail or password is not right." in response.get_data(as_text=True)
    response = client.get("/login")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_login_redirect_stays_on_this_site(client):
    user = UserFactory()
    db.session.commit()
    response = client.post(
        "/login?next=https://evil.example/", data={"email": user.email, "password": PASSWORD}
    )
    assert response.status_code == 302
    assert "evil.example" not in response.headers["Location"]


def test_users_create_command_makes_a_staff_account(app, runner):
    result = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "sw@example.cn",
            "--name",
            "社工",
            "--role",
            "social_worker",
            "--hospital",
            "BJ-FUWAI",
            "--password",
            "a long enough password",
        ]
    )
    assert result.exit_code == 0, result.output
    user = accounts.authenticate("sw@example.cn", "a long enough password")
    assert user is not None
    assert user.role == Role.SOCIAL_WORKER
    assert user.hospital.code == "BJ-FUWAI"
    bad = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "sw2@example.cn",
            "--name",
            "社工",
            "--role",
            "social_worker",
            "--password",
            "a long enough password",
        ]
    )
    assert bad.exit_code == 2
    assert "hospital_code" in bad.output


def test_api_tokens_are_stored_hashed_and_can_be_revoked(app):
    user = UserFactory()
    db.session.commit()
    token, plaintext = accounts.create_token(user, "his")
    assert plaintext not in token.token_hash
    assert accounts.user_for_token(plaintext) == user
    accounts.revoke_token(user, token.id)
    assert accounts.user_for_token(plaintext) is None


def test_language_follows_the_browser_then_the_switch(client):
    assert "Campaigns" in client.get("/", headers={"Accept-Language": "en-US,en"}).get_data(as_text=True)
    client.get("/language/zh_CN")
    assert 'lang="zh-CN"' in client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)


def test_a_deactivated_account_loses_its_open_session(app, client, login):
    from fundraise.services.accounts import set_account_active

    admin = UserFactory(admin=True)
    family = UserFactory()
    db.session.commit()
    login(family)
    assert client.get("/family/").status_code == 200
    set_account_active(family.id, False, actor=admin)
    response = client.get("/family/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]

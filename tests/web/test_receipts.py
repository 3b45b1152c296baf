"""The receipt e-mail: sent once, to the donor's account or the address given, retried when the send fails,
and sent by a worker outside any request."""

from __future__ import annotations

from email.message import EmailMessage

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from fundraise.extensions import db
from fundraise.jobs.outbox import JOBS
from fundraise.models import OutboxMessage
from fundraise.payments.links import donation_token
from tests import smtp
from tests.factories import UserFactory
from tests.web import donations
from tests.web.donations import (
    fundraising,
    give_and_pay,
    pay_directly,
    signed_in,
)

client = donations.client  # the fixture
smtp_server = smtp.smtp_server  # the fixture


def test_the_receipt_is_emailed_once(
    app: Flask, client: FlaskClient, smtp_server: list[EmailMessage]
) -> None:
    campaign = fundraising(title="帮小明")
    donation = give_and_pay(client, campaign)  # the job runs inline after the checkout's request
    assert len(smtp_server) == 1
    mail = smtp_server[0]
    assert mail["To"] == "zhang.san@example.cn"
    assert donation.receipt_number in mail["Subject"]
    body = mail.get_content()
    assert donation.receipt_number in body
    assert "¥50" in body
    assert "帮小明" in body
    assert f"/donations/{donation.id}?t={donation_token(donation.id)}" in body
    db.session.refresh(donation)
    assert donation.receipt_emailed_at is not None

    JOBS["send_receipt"](donation_id=donation.id)  # run again: nothing more is sent
    checkout = f"/sandbox/checkout/{donation.provider_payment_id}"
    client.post(checkout, data={"action": "pay"})  # a second press of Pay
    assert len(smtp_server) == 1
    assert (
        db.session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.job == "send_receipt")
        )
        == 1
    )


def test_a_signed_in_donors_receipt_goes_to_their_account(
    app: Flask, smtp_server: list[EmailMessage]
) -> None:
    campaign = fundraising()
    donor = UserFactory(donor=True, email="donor@example.cn", locale="en")
    client = signed_in(app, donor)
    give_and_pay(client, campaign, email=None)
    assert [m["To"] for m in smtp_server] == ["donor@example.cn"]
    assert "Your Aidbridge receipt" in smtp_server[0]["Subject"]


def test_no_smtp_no_email_and_the_receipt_stays_on_the_page(client: FlaskClient) -> None:
    campaign = fundraising()
    donation = give_and_pay(client, campaign)
    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.job == "send_receipt"))
    assert message is not None
    assert message.status == "done"
    db.session.refresh(donation)
    assert donation.receipt_emailed_at is None


def test_a_failed_send_is_retried_later(app: Flask, client: FlaskClient) -> None:
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=1)  # nothing listens there
    campaign = fundraising()
    donation = give_and_pay(client, campaign)
    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.job == "send_receipt"))
    assert message is not None
    assert message.status == "failed"
    db.session.refresh(donation)
    assert donation.receipt_emailed_at is None  # the claim was rolled back with the failure


def test_a_worker_sends_the_receipt_outside_any_request(app: Flask, smtp_server: list[EmailMessage]) -> None:
    from fundraise.jobs.outbox import run_message

    campaign = fundraising()
    donation = pay_directly(campaign, 3_000, receipt_email="worker@example.cn")  # no request: nothing relayed
    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.job == "send_receipt"))
    assert message is not None
    assert message.status == "pending"
    assert smtp_server == []
    run_message(message.id, reraise=True)  # what `flask worker` does with it
    assert [m["To"] for m in smtp_server] == ["worker@example.cn"]
    assert (
        f"http://localhost/donations/{donation.id}?t={donation_token(donation.id)}"
        in smtp_server[0].get_content()
    )
    run_message(message.id, reraise=True)
    assert len(smtp_server) == 1

"""The donation receipt e-mail, `send_receipt`: enqueued when the provider confirms a donation (in the same
transaction as the capture), sent once when SMTP is configured."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from flask import current_app, render_template, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import update

from fundraise.extensions import db
from fundraise.jobs.outbox import job
from fundraise.models import Campaign, Donation, DonationStatus
from fundraise.models.columns import utcnow
from fundraise.money import format_yuan
from fundraise.payments.links import donation_token
from fundraise.pii import public_name
from fundraise.text_input import one_line

log = logging.getLogger(__name__)


@job("send_receipt")
def send_receipt(donation_id: int) -> None:
    """E-mail the receipt of a succeeded donation to its donor (the account's address, or the address a guest
    gave). Safe to run twice: the first run that sends marks the donation, and later runs find it marked."""
    config = current_app.config
    if not config.get("SMTP_HOST"):
        return  # nowhere to send; the thank-you page and the donor's history hold the receipt
    donation = db.session.get(Donation, donation_id)
    if donation is None or donation.status != DonationStatus.SUCCEEDED or donation.receipt_emailed_at:
        return
    recipient = donation.receipt_email or (donation.donor.email if donation.donor is not None else "")
    if not recipient:
        return
    # Claim the receipt in this transaction before sending. A concurrent run waits on the row (PostgreSQL) or
    # the write lock (SQLite) and then finds it claimed; if sending fails, the rollback releases the claim
    # and the outbox retries the job.
    claimed = db.session.execute(
        update(Donation)
        .where(Donation.id == donation_id, Donation.receipt_emailed_at.is_(None))
        .values(receipt_emailed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        db.session.rollback()
        return
    locale = (donation.donor.locale if donation.donor is not None else None) or config["BABEL_DEFAULT_LOCALE"]
    with force_locale(locale):
        message = receipt_message(donation, recipient)
    with smtplib.SMTP(config["SMTP_HOST"], int(config["SMTP_PORT"]), timeout=30) as smtp:
        if config.get("SMTP_USER"):
            smtp.starttls()
            smtp.login(config["SMTP_USER"], config["SMTP_PASSWORD"] or "")
        smtp.send_message(message)
    db.session.commit()
    log.info("receipt %s e-mailed for donation %s", donation.receipt_number, donation_id)


def receipt_message(donation: Donation, recipient: str) -> EmailMessage:

    campaign = db.session.get(Campaign, donation.campaign_id)
    assert campaign is not None
    message = EmailMessage()
    message["From"] = current_app.config["SMTP_SENDER"]
    message["To"] = recipient
    message["Subject"] = one_line(
        _(
            "Your Aidbridge receipt %(number)s: %(amount)s to “%(title)s”",
            number=donation.receipt_number,
            amount=format_yuan(donation.amount_fen),
            title=campaign.title,
        )
    )
    message.set_content(
        render_template(
            "donate/receipt_email.txt",
            donation=donation,
            campaign=campaign,
            shown_name=public_name(donation),
            campaign_url=_link("public.campaign", campaign_id=campaign.id),
            ledger_url=_link("donate.fund_ledger", campaign_id=campaign.id),
            receipt_url=_link("donate.thanks", donation_id=donation.id, t=donation_token(donation.id)),
            sandbox=donation.provider == "sandbox",
        )
    )
    return message


def _link(endpoint: str, **values: object) -> str | None:
    """An absolute link when the app knows its address (in a request, or SERVER_NAME); else none."""
    try:
        return url_for(endpoint, _external=True, **values)
    except RuntimeError:
        return None

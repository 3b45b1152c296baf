"""Donation receipts by e-mail: sent once when the provider confirms a donation and SMTP is configured."""

from __future__ import annotations

import logging
from email.message import EmailMessage
from typing import Any

from flask import current_app, render_template, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import update

from fundraise import mail
from fundraise.extensions import db
from fundraise.models import Campaign, Donation, DonationStatus
from fundraise.models.columns import utcnow
from fundraise.money import format_yuan
from fundraise.payments.links import donation_token
from fundraise.pii import public_name
from fundraise.unit_of_work import transactional

log = logging.getLogger(__name__)


@transactional
def send_receipt(donation_id: int) -> None:
    """E-mail the receipt of a succeeded donation to its donor (the account's address, or the address a guest
    gave). Safe to run twice: the receipt is claimed in this unit of work before sending (a concurrent run
    waits on the row, then finds it claimed); if sending fails, the unit rolls back with the claim and the
    outbox retries the job."""
    if not mail.configured():
        return  # nowhere to send; the thank-you page and the donor's history hold the receipt
    donation = db.session.get(Donation, donation_id)
    if donation is None or donation.status != DonationStatus.SUCCEEDED or donation.receipt_emailed_at:
        return
    recipient = donation.receipt_email or (donation.donor.email if donation.donor is not None else "")
    if not recipient:
        return
    claimed = db.session.execute(
        update(Donation)
        .where(Donation.id == donation_id, Donation.receipt_emailed_at.is_(None))
        .values(receipt_emailed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]  # an UPDATE's result is a CursorResult
        return
    config = current_app.config
    locale = (donation.donor.locale if donation.donor is not None else None) or config["BABEL_DEFAULT_LOCALE"]
    with force_locale(locale):
        mail.send(receipt_message(donation, recipient))
    log.info("receipt %s e-mailed for donation %s", donation.receipt_number, donation_id)


def receipt_message(donation: Donation, recipient: str) -> EmailMessage:
    campaign = db.session.get(Campaign, donation.campaign_id)
    assert campaign is not None
    subject = _(
        "Your Aidbridge receipt %(number)s: %(amount)s to “%(title)s”",
        number=donation.receipt_number,
        amount=format_yuan(donation.amount_fen),
        title=campaign.title,
    )
    return mail.message(
        recipient,
        subject,
        render_template(
            "donate/receipt_email.txt",
            donation=donation,
            campaign=campaign,
            shown_name=public_name(donation),
            campaign_url=_link("public.campaign", campaign_id=campaign.id),
            ledger_url=_link("donate.fund_ledger", campaign_id=campaign.id),
            receipt_url=_link("donate.thanks", donation_id=donation.id, t=donation_token(donation.id)),
            sandbox=donation.provider == "sandbox",
        ),
    )


def _link(endpoint: str, **values: Any) -> str | None:
    """An absolute link when the app knows its address (in a request, or SERVER_NAME); else none."""
    try:
        return url_for(endpoint, _external=True, **values)
    except RuntimeError:
        return None

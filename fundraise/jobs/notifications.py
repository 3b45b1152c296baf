"""Notify a campaign's family (and the social worker who filed it) of each state change."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from flask import current_app
from flask_babel import force_locale
from sqlalchemy import select, update

from fundraise.database import insert_unless_present
from fundraise.extensions import db
from fundraise.jobs.outbox import job
from fundraise.models import AuditEvent, Campaign, Notification, User
from fundraise.models.columns import utcnow
from fundraise.text_input import one_line

log = logging.getLogger(__name__)


@job("notify_state_change")
def notify_state_change(campaign_id: int, audit_event_id: int) -> None:
    campaign = db.session.get(Campaign, campaign_id)
    event = db.session.get(AuditEvent, audit_event_id)
    if campaign is None or event is None:
        return
    recipients = {campaign.applicant_id}
    if campaign.filed_by_id:
        recipients.add(campaign.filed_by_id)
    params = {
        "campaign_id": campaign.id,
        "title": campaign.title,
        "from_state": (event.before or {}).get("state"),
        "to_state": (event.after or {}).get("state"),
        "reason": (event.after or {}).get("reason", ""),
    }
    for user_id in sorted(recipients):
        key = f"state:{audit_event_id}:{user_id}"
        # The job may run twice, even at once in two processes: the dedupe key decides, without an error.
        insert_unless_present(
            Notification.__table__,
            {
                "user_id": user_id,
                "dedupe_key": key,
                "kind": "state_change",
                "campaign_id": campaign.id,
                "params": params,
                "created_at": utcnow(),
            },
            ["dedupe_key"],
        )
        db.session.commit()
        if current_app.config.get("SMTP_HOST"):
            email_once(key, user_id)


def email_once(dedupe_key: str, user_id: int) -> None:
    """E-mail a stored notification unless it was e-mailed already. Claimed first (the row is marked in this
    transaction; a concurrent run waits on it, then finds it marked), released by the rollback if sending
    fails, so the outbox's retry sends it."""
    claimed = db.session.execute(
        update(Notification)
        .where(Notification.dedupe_key == dedupe_key, Notification.emailed_at.is_(None))
        .values(emailed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        db.session.rollback()
        return
    notification = db.session.scalar(select(Notification).where(Notification.dedupe_key == dedupe_key))
    user = db.session.get(User, user_id)
    if notification is None or user is None:
        db.session.rollback()
        return
    try:
        send_email(user, notification)
    except Exception:
        db.session.rollback()
        raise
    db.session.commit()


def send_email(user: User, notification: Notification) -> None:
    from fundraise.notifications import render_notification

    config = current_app.config
    with force_locale(user.locale or config["BABEL_DEFAULT_LOCALE"]):
        subject, body = render_notification(notification)
    message = EmailMessage()
    message["From"] = config["SMTP_SENDER"]
    message["To"] = user.email
    # A title stored before single-line fields were enforced may hold a line break, which a header refuses.
    message["Subject"] = one_line(subject)
    message.set_content(body)
    with smtplib.SMTP(config["SMTP_HOST"], int(config["SMTP_PORT"]), timeout=30) as smtp:
        if config.get("SMTP_USER"):
            smtp.starttls()
            smtp.login(config["SMTP_USER"], config["SMTP_PASSWORD"] or "")
        smtp.send_message(message)

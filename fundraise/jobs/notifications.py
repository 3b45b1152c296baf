"""Notify a campaign's family (and the social worker who filed it) of each state change."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from flask import current_app
from flask_babel import force_locale
from sqlalchemy import select

from fundraise.extensions import db
from fundraise.jobs.outbox import job
from fundraise.models import AuditEvent, Campaign, Notification, User
from fundraise.models.columns import utcnow

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
        notification = db.session.scalar(select(Notification).where(Notification.dedupe_key == key))
        if notification is None:
            notification = Notification(
                user_id=user_id, dedupe_key=key, kind="state_change", campaign_id=campaign.id, params=params
            )
            db.session.add(notification)
            db.session.commit()
        if notification.emailed_at is None and current_app.config.get("SMTP_HOST"):
            user = db.session.get(User, user_id)
            if user is not None:
                send_email(user, notification)
                notification.emailed_at = utcnow()
                db.session.commit()


def send_email(user: User, notification: Notification) -> None:
    from fundraise.notifications import render_notification

    config = current_app.config
    with force_locale(user.locale or config["BABEL_DEFAULT_LOCALE"]):
        subject, body = render_notification(notification)
    message = EmailMessage()
    message["From"] = config["SMTP_SENDER"]
    message["To"] = user.email
    message["Subject"] = subject
    message.set_content(body)
    with smtplib.SMTP(config["SMTP_HOST"], int(config["SMTP_PORT"]), timeout=30) as smtp:
        if config.get("SMTP_USER"):
            smtp.starttls()
            smtp.login(config["SMTP_USER"], config["SMTP_PASSWORD"] or "")
        smtp.send_message(message)

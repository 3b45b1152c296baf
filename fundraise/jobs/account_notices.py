"""Tell an account's owner about what happened to their account's security: a lock after failed sign-ins."""

from __future__ import annotations

from flask import current_app

from fundraise.database import insert_unless_present
from fundraise.extensions import db
from fundraise.jobs.notifications import email_once
from fundraise.jobs.outbox import job
from fundraise.models import Notification, User
from fundraise.models.columns import utcnow


@job("notify_sign_in_locked")
def notify_sign_in_locked(user_id: int, locked_until: str, failures: int) -> None:
    """A notice in the account (and an e-mail when SMTP is configured) that sign-in is locked until
    `locked_until` (ISO 8601, UTC) after `failures` failed attempts. Once per lock, however often it runs."""
    if db.session.get(User, user_id) is None:
        return
    key = f"sign_in_locked:{user_id}:{locked_until}"
    insert_unless_present(
        Notification.__table__,
        {
            "user_id": user_id,
            "dedupe_key": key,
            "kind": "sign_in_locked",
            "campaign_id": None,
            "params": {"locked_until": locked_until, "failures": failures},
            "created_at": utcnow(),
        },
        ["dedupe_key"],
    )
    db.session.commit()
    if current_app.config.get("SMTP_HOST"):
        email_once(key, user_id)

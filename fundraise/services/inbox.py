"""A user's notifications: what the dashboard lists, and marking them read."""

from __future__ import annotations

from sqlalchemy import update

from fundraise.extensions import db
from fundraise.models import Notification, User
from fundraise.models.columns import utcnow
from fundraise.unit_of_work import transactional


@transactional
def mark_all_read(user: User) -> None:
    db.session.execute(
        update(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
    )

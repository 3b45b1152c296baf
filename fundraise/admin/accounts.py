"""Turning accounts off and on again, for admins.

This belongs with the other account services in fundraise/services/accounts.py; it lives here until that
module (owned by the accounts work) takes it, so the admin pages do not hold the rule themselves.
"""

from __future__ import annotations

from flask_babel import gettext as _

from fundraise.errors import Forbidden, NotFound, ValidationFailed
from fundraise.extensions import db
from fundraise.models import Role, User
from fundraise.services import audit


def set_account_active(user_id: int, active: bool, *, actor: User) -> User:
    """Deactivate (no more sign-in, API tokens refused) or reactivate an account; audited, commits.

    An admin cannot deactivate their own account, so the last admin cannot lock everyone out by accident.
    """
    if actor.role != Role.ADMIN:
        raise Forbidden(_("Only an administrator can change accounts."))
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(_("We could not find that account."))
    if not active and user.id == actor.id:
        raise ValidationFailed(_("You cannot deactivate your own account."))
    if user.active == active:
        return user
    user.active = active
    audit.record(
        "user.activate" if active else "user.deactivate",
        "user",
        user.id,
        actor=actor,
        before={"active": not active},
        after={"active": active},
    )
    db.session.commit()
    return user

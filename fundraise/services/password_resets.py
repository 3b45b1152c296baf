"""Password reset links: someone who forgot their password asks for one on the sign-in page, or an admin sends
one; the link, e-mailed to the account, lets its holder set a new password once, within RESET_LINK_LIFETIME.

Only the SHA-256 of a link's random token is stored, so the table cannot be replayed from a database copy.
That is also why the e-mail is sent here, right after the link's unit of work commits, and not by an outbox
job: a job's arguments are stored, and a worker outside the request does not know the site's address.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from flask import current_app, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, select

from fundraise import audit, mail
from fundraise.errors import DomainError, Forbidden, NotFound, ValidationFailed
from fundraise.extensions import db
from fundraise.models import PasswordResetToken, Role, User
from fundraise.models.columns import utcnow
from fundraise.services.accounts import MIN_PASSWORD_LENGTH, hash_password, revoke_reset_links
from fundraise.services.login_sessions import end_sessions
from fundraise.unit_of_work import unit_of_work

log = logging.getLogger(__name__)

# Short, so a link left in a mailbox soon stops working (OWASP Forgot Password Cheat Sheet: single use, short
# expiry); long enough for a slow mail server.
RESET_LINK_LIFETIME = timedelta(minutes=30)
RESET_LINK_MINUTES = int(RESET_LINK_LIFETIME.total_seconds() // 60)


class Delivery(StrEnum):
    """What became of the e-mail carrying a link."""

    EMAILED = "emailed"
    NO_MAIL = "no_mail"  # no SMTP server is configured (the demo)
    FAILED = "failed"  # the mail server refused it or could not be reached


@dataclass(frozen=True)
class ResetLinkSent:
    """A link an admin sent: where to, and whether the e-mail went out. When it did not, the admin's page
    offers the link itself, to pass on."""

    url: str
    email: str
    delivery: Delivery


class ResetLinkRefused(DomainError):
    """The token names no link that can set a password now; the message says why, and what to do."""

    status = 410


class ResetLinkUnknown(ResetLinkRefused):
    """No link has this token (or its account was deactivated)."""

    status = 404


def send_reset_link(user_id: int, *, actor: User) -> ResetLinkSent:
    """An admin sends an account a link to set a new password (admins never see or choose passwords)."""
    if actor.role != Role.ADMIN:
        raise Forbidden(_("Only an administrator can change accounts."))
    with unit_of_work():
        user = db.session.get(User, user_id)
        if user is None:
            raise NotFound(_("We could not find that account."))
        if not user.active:
            raise ValidationFailed(
                _("This account is deactivated. Activate it before sending a link to set a new password.")
            )
        token = _issue(user, actor=actor)
    url = reset_url(token)
    return ResetLinkSent(url, user.email, _send(user, url, by_admin=True))


def ask_for_reset_link(email: str) -> None:
    """Someone who forgot their password asks for a link on the sign-in page. An active account with this
    address is sent one; whether there is such an account is never told, so the caller answers the same
    either way (and the same when sending fails, which is logged)."""
    if not mail.configured():
        return  # no link could reach anyone: none is made
    with unit_of_work():
        user = db.session.scalar(
            select(User).where(func.lower(User.email) == email.strip().lower(), User.active.is_(True))
        )
        if user is None:
            return
        token = _issue(user, actor=None)
    _send(user, reset_url(token), by_admin=False)


def reset_url(token: str) -> str:
    return url_for("auth.reset_password", token=token, _external=True)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _issue(user: User, *, actor: User | None) -> str:
    """A new link for the account in the caller's unit of work; returns its token (stored only hashed)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    row = PasswordResetToken(
        user_id=user.id, token_hash=_token_hash(token), created_at=now, expires_at=now + RESET_LINK_LIFETIME
    )
    db.session.add(row)
    db.session.flush()
    audit.record(
        "user.password_reset_link",
        "user",
        user.id,
        actor=actor,
        after={
            "link": row.id,
            "asked_by": "admin" if actor is not None else "owner",
            "expires_at": row.expires_at.isoformat(),
        },
    )
    return token


def _send(user: User, url: str, *, by_admin: bool) -> Delivery:
    if not mail.configured():
        return Delivery.NO_MAIL
    with force_locale(user.locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
        subject, body = reset_email(user, url, by_admin=by_admin)
    try:
        mail.send(mail.message(user.email, subject, body))
    except (smtplib.SMTPException, OSError):
        log.exception("the password reset link for account %s could not be e-mailed", user.id)
        return Delivery.FAILED
    return Delivery.EMAILED


def reset_email(user: User, url: str, *, by_admin: bool) -> tuple[str, str]:
    """The e-mail's subject and text, in the current locale."""
    if by_admin:
        why = _(
            "An Aidbridge administrator sent you this link to set a new password for your account (%(email)s).",
            email=user.email,
        )
    else:
        why = _(
            "Someone, probably you, asked to set a new password for your Aidbridge account (%(email)s).",
            email=user.email,
        )
    lines = [
        _("Hello %(name)s,", name=user.name),
        "",
        why,
        _(
            "To choose a new password, open this link within %(minutes)d minutes. It works once:",
            minutes=RESET_LINK_MINUTES,
        ),
        "",
        url,
        "",
        _("When the new password is set, every browser and device signed in to your account is signed out."),
        _("If you did not ask for this, ignore this e-mail: your password stays as it is."),
        "",
        "— " + _("Aidbridge"),
    ]
    return _("Set a new password for your Aidbridge account"), "\n".join(lines) + "\n"


# --- using a link ----------------------------------------------------------------------------------------


def check_reset_link(token: str) -> PasswordResetToken:
    """The link this token names, if it can still set a password; else ResetLinkRefused saying why."""
    row = db.session.scalar(
        select(PasswordResetToken).where(PasswordResetToken.token_hash == _token_hash(token))
    )
    return _usable(row, utcnow())


def _usable(row: PasswordResetToken | None, now: datetime) -> PasswordResetToken:
    if row is None or not row.user.active:
        raise ResetLinkUnknown(
            _(
                "This link to set a new password is not valid. Check that you opened the whole link from the "
                "e-mail, or ask for a new one."
            )
        )
    if row.used_at is not None:
        raise ResetLinkRefused(
            _(
                "This link to set a new password was used already: each link works only once. Sign in with "
                "your new password, or ask for a new link."
            )
        )
    if row.revoked_at is not None:
        raise ResetLinkRefused(
            _(
                "This link to set a new password no longer works: the password was set with another link, "
                "or the account changed. Ask for a new link if you need one."
            )
        )
    if row.expires_at <= now:
        raise ResetLinkRefused(
            _(
                "This link to set a new password has expired: a link works for %(minutes)d minutes. Ask for "
                "a new one.",
                minutes=RESET_LINK_MINUTES,
            )
        )
    return row


def reset_password(token: str, new_password: str) -> User:
    """Set the account's password with a link: the link is used up, the account's other links stop working,
    every session of the account ends (a stolen cookie dies with the old password), and a sign-in lock is
    lifted (whoever holds the link holds the mailbox). The holder then signs in with the new password."""
    with unit_of_work():
        now = utcnow()
        # Locked until this unit commits (PostgreSQL; SQLite's transactions are serial already): a link opened
        # twice at once sets a password once, and the second finds it used.
        row = db.session.scalar(
            select(PasswordResetToken)
            .where(PasswordResetToken.token_hash == _token_hash(token))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        row = _usable(row, now)
        if len(new_password) < MIN_PASSWORD_LENGTH:
            message = _("Use at least %(n)d characters.", n=MIN_PASSWORD_LENGTH)
            raise ValidationFailed(message, fields={"password": [message]})
        user = row.user
        row.used_at = now
        user.password_hash = hash_password(new_password)
        user.failed_logins = 0
        user.failed_login_window_started_at = None
        user.locked_until = None
        audit.record("user.password_reset", "user", user.id, actor=user, after={"link": row.id})
        db.session.flush()
        revoke_reset_links(user, actor=user)
        end_sessions(user, "password_changed", keep=None, actor=user)
    return user

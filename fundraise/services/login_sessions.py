"""Server-side sign-in sessions: one row per signed-in browser, found by the hash of the random key its cookie
holds; started at sign-in, listed for their owner, ended one by one or all at once (a new password, a
deactivated account). Accounts and passwords are services.accounts'."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, or_, select, update

from fundraise import audit
from fundraise.extensions import db
from fundraise.models import LoginSession, User
from fundraise.models.columns import utcnow
from fundraise.unit_of_work import transactional

# How long ended and expired sessions stay listed in the database before a new sign-in drops them.
SESSION_HISTORY = timedelta(days=30)


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def start_session(user: User, *, remember: bool, user_agent: str, now: datetime) -> str:
    """A new server-side session for the account; its random key goes into the cookies (Flask-Login's
    `get_id`), only its hash into the database."""
    config = current_app.config
    lifetime = config["REMEMBER_COOKIE_DURATION"] if remember else config["PERMANENT_SESSION_LIFETIME"]
    if not isinstance(lifetime, timedelta):
        lifetime = timedelta(seconds=int(lifetime))
    key = secrets.token_urlsafe(32)
    row = LoginSession(
        user_id=user.id,
        key_hash=_key_hash(key),
        remember=remember,
        device=device_label(user_agent),
        created_at=now,
        expires_at=now + lifetime,
    )
    db.session.add(row)
    # Ended and expired sessions are kept a while for the owner's questions, then dropped.
    db.session.execute(
        delete(LoginSession).where(
            LoginSession.user_id == user.id,
            or_(
                LoginSession.ended_at < now - SESSION_HISTORY, LoginSession.expires_at < now - SESSION_HISTORY
            ),
        )
    )
    db.session.flush()
    audit.record("session.start", "login_session", row.id, actor=user, after={"remember": remember})
    user.use_login_session(key)
    return key


def user_for_session(key: str) -> User | None:
    """The active account whose session this key names, if that session is neither ended nor expired (one
    query); the account then acts in that session."""
    found = db.session.execute(
        select(User)
        .join(LoginSession, LoginSession.user_id == User.id)
        .where(
            LoginSession.key_hash == _key_hash(key),
            LoginSession.ended_at.is_(None),
            LoginSession.expires_at > utcnow(),
            User.active.is_(True),
        )
    ).scalar_one_or_none()
    if found is not None:
        found.use_login_session(key)
    return found


def session_for_key(key: str | None) -> LoginSession | None:
    """The session row a cookie's key names (ended or not)."""
    if not key:
        return None
    return db.session.scalar(select(LoginSession).where(LoginSession.key_hash == _key_hash(key)))


def active_sessions(user: User) -> list[LoginSession]:
    """The account's sessions that still sign someone in, newest first."""
    return list(
        db.session.scalars(
            select(LoginSession)
            .where(
                LoginSession.user_id == user.id,
                LoginSession.ended_at.is_(None),
                LoginSession.expires_at > utcnow(),
            )
            .order_by(LoginSession.created_at.desc(), LoginSession.id.desc())
        )
    )


@transactional
def end_session(key: str | None) -> None:
    """Sign out: the session this key names stops working, in this browser and wherever its cookies went."""
    row = session_for_key(key)
    if row is None or row.ended_at is not None:
        return
    row.ended_at = utcnow()
    row.ended_reason = "signed_out"
    audit.record("session.end", "login_session", row.id, actor=row.user, after={"reason": "signed_out"})


@transactional
def end_other_sessions(user: User, current_key: str | None) -> int:
    """Sign out of every other browser and device; returns how many sessions ended."""
    current = session_for_key(current_key)
    return end_sessions(user, "signed_out_elsewhere", keep=current.id if current else None, actor=user)


def end_sessions(user: User, reason: str, *, keep: int | None, actor: User | None) -> int:
    """End the account's open sessions (but `keep`) in the caller's unit of work, with one audit event."""
    query = select(LoginSession.id).where(LoginSession.user_id == user.id, LoginSession.ended_at.is_(None))
    if keep is not None:
        query = query.where(LoginSession.id != keep)
    ids = sorted(db.session.scalars(query))
    if not ids:
        return 0
    db.session.execute(
        update(LoginSession)
        .where(LoginSession.id.in_(ids))
        .values(ended_at=utcnow(), ended_reason=reason)
        .execution_options(synchronize_session="fetch")
    )
    audit.record("user.sessions_end", "user", user.id, actor=actor, after={"reason": reason, "sessions": ids})
    return len(ids)


# The browsers and systems a User-Agent names, most specific first (Edge and Opera also say "Chrome", every
# iPhone says "Mac OS X", Android says "Linux").
_BROWSERS = (
    ("MicroMessenger/", "WeChat"),
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("Windows", "Windows"),
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("CrOS", "ChromeOS"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
)


def device_label(user_agent: str) -> str:
    """A short label for the owner's list of sessions ("Firefox · Windows"); not the full User-Agent."""
    browser = next((name for marker, name in _BROWSERS if marker in user_agent), "")
    system = next((name for marker, name in _SYSTEMS if marker in user_agent), "")
    if not browser and not system:
        # A program rather than a browser ("curl/8.5.0"): its name.
        return user_agent.split("/", 1)[0].strip()[:32]
    return " · ".join(part for part in (browser, system) if part)

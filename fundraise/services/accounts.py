"""Accounts: self-registration for families and donors, staff accounts made by an admin, API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_babel import gettext as _
from sqlalchemy import func, select

from fundraise.errors import Forbidden, NotFound, ValidationFailed
from fundraise.extensions import db
from fundraise.models import ApiToken, Charity, Hospital, Region, Role, User
from fundraise.models.columns import utcnow
from fundraise.services import audit

_hasher = PasswordHasher()
# Hashing a throwaway password when the e-mail is unknown keeps the time of a failed login the same either way.
_DUMMY_HASH = _hasher.hash("not a real password")
SELF_REGISTERED_ROLES = (Role.FAMILY, Role.DONOR)
MIN_PASSWORD_LENGTH = 10
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TOKEN_PREFIX = "ab_"  # noqa: S105  (a marker, not a secret)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _check_new_account(email: str, name: str, password: str) -> str:
    errors: dict[str, list[str]] = {}
    email = email.strip().lower()
    if not EMAIL_PATTERN.match(email) or len(email) > 254:
        errors["email"] = [_("Enter a valid e-mail address.")]
    elif db.session.scalar(select(User.id).where(func.lower(User.email) == email)):
        errors["email"] = [_("An account with this e-mail already exists.")]
    if not name.strip() or len(name.strip()) > 64:
        errors["name"] = [_("Enter your name (up to 64 characters).")]
    if len(password) < MIN_PASSWORD_LENGTH:
        errors["password"] = [_("Use at least %(n)d characters.", n=MIN_PASSWORD_LENGTH)]
    if errors:
        raise ValidationFailed(_("Please correct the marked fields."), fields=errors)
    return email


def register(email: str, name: str, password: str, role: str, *, locale: str | None = None) -> User:
    """Self-registration: families and donors only; staff accounts are created by an admin."""
    if role not in SELF_REGISTERED_ROLES:
        raise Forbidden(_("Staff accounts are created by an administrator."))
    email = _check_new_account(email, name, password)
    user = User(
        email=email, name=name.strip(), password_hash=hash_password(password), role=role, locale=locale
    )
    db.session.add(user)
    db.session.flush()
    audit.record("user.register", "user", user.id, actor=user, after={"role": role})
    db.session.commit()
    return user


def create_account(
    email: str,
    name: str,
    password: str,
    role: str,
    *,
    hospital_code: str | None = None,
    charity_code: str | None = None,
    jurisdiction_code: str | None = None,
    actor: User | None = None,
) -> User:
    """Any role, for admins (the `flask users create` command and the admin page)."""
    if role not in Role._value2member_map_:
        raise ValidationFailed(_("Unknown role."), fields={"role": [_("Unknown role.")]})
    email = _check_new_account(email, name, password)
    user = User(email=email, name=name.strip(), password_hash=hash_password(password), role=role)
    errors: dict[str, list[str]] = {}
    if role == Role.SOCIAL_WORKER:
        hospital = db.session.scalar(select(Hospital).where(Hospital.code == (hospital_code or "")))
        if hospital is None:
            errors["hospital_code"] = [_("A social worker needs a registered hospital.")]
        else:
            user.hospital_id = hospital.id
    if role == Role.CHARITY_STAFF:
        charity = db.session.scalar(select(Charity).where(Charity.code == (charity_code or "")))
        if charity is None:
            errors["charity_code"] = [_("Charity staff need a charity.")]
        else:
            user.charity_id = charity.id
    if role == Role.CIVIL_AFFAIRS_OFFICER:
        if db.session.get(Region, jurisdiction_code or "") is None:
            errors["jurisdiction_code"] = [_("An officer needs a jurisdiction (a region code).")]
        else:
            user.jurisdiction_code = jurisdiction_code
    if errors:
        raise ValidationFailed(_("Please correct the marked fields."), fields=errors)
    db.session.add(user)
    db.session.flush()
    audit.record("user.create", "user", user.id, actor=actor, after={"role": role})
    db.session.commit()
    return user


def authenticate(email: str, password: str) -> User | None:
    user = db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    db.session.commit()
    return user


def create_token(user: User, name: str) -> tuple[ApiToken, str]:
    """Make a token; the plaintext is returned once and never stored."""
    name = name.strip()
    if not name or len(name) > 64:
        raise ValidationFailed(_("Give the token a name."), fields={"name": [_("Give the token a name.")]})
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name, token_hash=_token_hash(plaintext), prefix=plaintext[:10])
    db.session.add(token)
    db.session.flush()
    audit.record("token.create", "api_token", token.id, actor=user, after={"name": name})
    db.session.commit()
    return token, plaintext


def revoke_token(user: User, token_id: int) -> None:
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound(_("No such token."))
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record("token.revoke", "api_token", token.id, actor=user)
        db.session.commit()


def user_for_token(plaintext: str) -> User | None:
    if not plaintext.startswith(TOKEN_PREFIX):
        return None
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_hash(plaintext)))
    if token is None or token.revoked_at is not None or not token.user.active:
        return None
    token.last_used_at = utcnow()
    db.session.commit()
    return token.user


def _token_hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


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

"""Accounts: self-registration for families and donors, staff accounts made and edited by an admin, signing in
(with server-side sessions and a per-account lock after repeated failures), passwords and API tokens.
Password reset links are services.password_resets'."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select, update

from fundraise import audit, person_keys
from fundraise.errors import DomainError, Forbidden, NotFound, ValidationFailed, retry_moment, try_again_at
from fundraise.extensions import db
from fundraise.jobs.outbox import enqueue
from fundraise.models import ApiToken, Charity, Hospital, PasswordResetToken, Region, Role, User
from fundraise.models.columns import utcnow
from fundraise.services.login_sessions import end_sessions, session_for_key, start_session
from fundraise.text_input import text_problem
from fundraise.unit_of_work import transactional, unit_of_work

_hasher = PasswordHasher()
# Hashing a throwaway password when the e-mail is unknown keeps the time of a failed login the same either way.
_DUMMY_HASH = _hasher.hash("not a real password")
SELF_REGISTERED_ROLES = (Role.FAMILY, Role.DONOR)
MIN_PASSWORD_LENGTH = 10
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TOKEN_PREFIX = "ab_"  # noqa: S105  (a marker, not a secret)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _check_email(email: str, errors: dict[str, list[str]], *, account_id: int | None = None) -> str:
    """The address as stored (trimmed, lower case); a problem with it (malformed, or another account's, any
    account's but `account_id`) goes into `errors`."""
    email = email.strip().lower()
    if not EMAIL_PATTERN.match(email) or len(email) > 254:
        errors["email"] = [_("Enter a valid e-mail address.")]
        return email
    taken = select(User.id).where(func.lower(User.email) == email)
    if account_id is not None:
        taken = taken.where(User.id != account_id)
    if db.session.scalar(taken):
        errors["email"] = [_("An account with this e-mail already exists.")]
    return email


def _check_name(name: str, errors: dict[str, list[str]]) -> str:
    """The name as stored (trimmed); a problem with it goes into `errors`."""
    name = name.strip()
    if not name or len(name) > 64:
        errors["name"] = [_("Enter your name (up to 64 characters).")]
    elif problem := text_problem(name, one_line=True):
        errors["name"] = [problem]
    return name


def _check_new_account(email: str, name: str, password: str) -> str:
    errors: dict[str, list[str]] = {}
    email = _check_email(email, errors)
    _check_name(name, errors)
    if len(password) < MIN_PASSWORD_LENGTH:
        errors["password"] = [_("Use at least %(n)d characters.", n=MIN_PASSWORD_LENGTH)]
    if errors:
        raise ValidationFailed(_("Please correct the marked fields."), fields=errors)
    return email


@dataclass(frozen=True)
class Organisation:
    """What a staff account acts for: a social worker a hospital, charity staff a charity, an officer a
    jurisdiction (a region code). Every other role acts for none of them."""

    hospital_id: int | None = None
    charity_id: int | None = None
    jurisdiction_code: str | None = None


def _organisation_for(
    role: str,
    errors: dict[str, list[str]],
    *,
    hospital_code: str | None,
    charity_code: str | None,
    jurisdiction_code: str | None,
) -> Organisation:
    """The organisation the role needs, from the codes the admin chose (the others are ignored); a missing or
    unknown one goes into `errors`."""
    if role == Role.SOCIAL_WORKER:
        hospital = db.session.scalar(select(Hospital).where(Hospital.code == (hospital_code or "")))
        if hospital is None:
            errors["hospital_code"] = [_("A social worker needs a registered hospital.")]
            return Organisation()
        return Organisation(hospital_id=hospital.id)
    if role == Role.CHARITY_STAFF:
        charity = db.session.scalar(select(Charity).where(Charity.code == (charity_code or "")))
        if charity is None:
            errors["charity_code"] = [_("Charity staff need a charity.")]
            return Organisation()
        return Organisation(charity_id=charity.id)
    if role == Role.CIVIL_AFFAIRS_OFFICER:
        if db.session.get(Region, jurisdiction_code or "") is None:
            errors["jurisdiction_code"] = [_("An officer needs a jurisdiction (a region code).")]
            return Organisation()
        return Organisation(jurisdiction_code=jurisdiction_code)
    return Organisation()


@transactional
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
    return user


@transactional
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
    errors: dict[str, list[str]] = {}
    organisation = _organisation_for(
        role,
        errors,
        hospital_code=hospital_code,
        charity_code=charity_code,
        jurisdiction_code=jurisdiction_code,
    )
    if errors:
        raise ValidationFailed(_("Please correct the marked fields."), fields=errors)
    user = User(
        email=email,
        name=name.strip(),
        password_hash=hash_password(password),
        role=role,
        hospital_id=organisation.hospital_id,
        charity_id=organisation.charity_id,
        jurisdiction_code=organisation.jurisdiction_code,
    )
    db.session.add(user)
    db.session.flush()
    audit.record("user.create", "user", user.id, actor=actor, after={"role": role})
    return user


@transactional
def update_account(
    user_id: int,
    *,
    name: str,
    email: str,
    role: str,
    hospital_code: str | None = None,
    charity_code: str | None = None,
    jurisdiction_code: str | None = None,
    active: bool,
    actor: User,
    finance: bool | None = None,
) -> User:
    """An admin's edit of an account: name, e-mail, role with the organisation it needs (the rules of
    `create_account`), and whether it may sign in. Refused whole, with the fields to correct, when anything is
    wrong; audited with what changed, before and after.

    The platform always keeps an active administrator: nobody can demote or deactivate the last one, and an
    admin never deactivates their own account (as with `set_account_active`). Deactivating signs the account
    out everywhere; a new e-mail address voids the reset links sent to the old one."""
    _require_admin(actor)
    user = _account(user_id)
    errors: dict[str, list[str]] = {}
    if role not in Role._value2member_map_:
        errors["role"] = [_("Unknown role.")]
    email = _check_email(email, errors, account_id=user.id)
    name = _check_name(name, errors)
    organisation = _organisation_for(
        role,
        errors,
        hospital_code=hospital_code,
        charity_code=charity_code,
        jurisdiction_code=jurisdiction_code,
    )
    if not active and user.id == actor.id:
        errors["active"] = [_("You cannot deactivate your own account.")]
    if not errors and not _keeps_an_admin(user, role=role, active=active):
        message = _("This is the last active administrator. Make another account an administrator first.")
        errors["role" if role != Role.ADMIN else "active"] = [message]
    if errors:
        raise ValidationFailed(_("Please correct the marked fields."), fields=errors)
    before = _account_facts(user)
    was_active = user.active
    user.name = name
    user.email = email
    user.role = role
    user.hospital_id = organisation.hospital_id
    user.charity_id = organisation.charity_id
    user.jurisdiction_code = organisation.jurisdiction_code
    user.active = active
    # A finance member records disbursements' bank transfers: charity staff only (None leaves it as it is).
    user.finance = (user.finance if finance is None else finance) and role == Role.CHARITY_STAFF
    after = _account_facts(user)
    changed = sorted(key for key in after if after[key] != before[key])
    if not changed:
        return user
    audit.record(
        "user.update",
        "user",
        user.id,
        actor=actor,
        before=_sealed_facts(user, {key: before[key] for key in changed}),
        after=_sealed_facts(user, {key: after[key] for key in changed}),
    )
    if was_active and not active:
        # Signed out everywhere: reactivating the account later does not bring old sessions back.
        end_sessions(user, "deactivated", keep=None, actor=actor)
    if "email" in changed or not active:
        revoke_reset_links(user, actor=actor)
    return user


def _require_admin(actor: User) -> None:
    if actor.role != Role.ADMIN:
        raise Forbidden(_("Only an administrator can change accounts."))


def _account(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(_("We could not find that account."))
    return user


def _sealed_facts(user: User, facts: dict[str, Any]) -> dict[str, Any]:
    """The facts as the audit log keeps them: the name and e-mail sealed under the account's key (erasable),
    the rest in the clear."""
    personal = {key: facts[key] for key in PERSONAL_FACTS if key in facts}
    sealed = person_keys.seal_fields(person_keys.subject_for_user(user.id), personal)
    return {**facts, **sealed}


PERSONAL_FACTS = ("name", "email")


def _account_facts(user: User) -> dict[str, str | bool | None]:
    """What an admin's edit may change, as the audit log keeps it (never the password hash)."""
    # By id, not through the relationships, which still name the old organisation until the row is reloaded.
    hospital = db.session.get(Hospital, user.hospital_id) if user.hospital_id else None
    charity = db.session.get(Charity, user.charity_id) if user.charity_id else None
    return {
        "name": user.name,
        "email": user.email,
        "role": user.role,
        "hospital": hospital.code if hospital else None,
        "charity": charity.code if charity else None,
        "jurisdiction_code": user.jurisdiction_code,
        "active": user.active,
        "finance": user.finance,
    }


def _keeps_an_admin(user: User, *, role: str, active: bool) -> bool:
    """Whether some active administrator is left once `user` has this role and state."""
    if (role == Role.ADMIN and active) or not (user.role == Role.ADMIN and user.active):
        return True
    # The other active admins' rows are locked until this unit commits (PostgreSQL; SQLite's transactions are
    # serial already): two admins demoting each other at once cannot both see the other as the one left.
    others = db.session.scalars(
        select(User.id)
        .where(User.role == Role.ADMIN, User.active.is_(True), User.id != user.id)
        .with_for_update()
    ).all()
    return bool(others)


# --- signing in ------------------------------------------------------------------------------------------


class AccountLocked(DomainError):
    """Too many failed sign-ins to this account lately: every attempt is refused until `until`."""

    status = 429

    def __init__(self, until: datetime) -> None:
        super().__init__(
            _(
                "Too many failed sign-ins to this account. It is locked until %(time)s: please try again "
                "then. We have told the account's owner.",
                time=try_again_at(until),
            )
        )
        self.until = until


@dataclass(frozen=True)
class SignIn:
    """A session just started: the account, its key (for the cookies only), and whether the browser asked
    to stay signed in (the remember-me cookie)."""

    user: User
    session_key: str
    remember: bool


def authenticate(email: str, password: str) -> User | None:
    """The active account these credentials open, or None. Failures count towards the account's lock;
    raises AccountLocked while it is locked (or when this failure locks it)."""
    with unit_of_work():  # the failure's count (and a lock with its notice) stands, though we refuse
        user, locked_until = _check_credentials(email, password, utcnow())
    if locked_until is not None:
        raise AccountLocked(locked_until)
    return user


def sign_in(email: str, password: str, *, remember: bool, user_agent: str = "") -> SignIn | None:
    """Check the credentials and start a session for this browser, in one unit of work; None when they are
    wrong (the same answer for an unknown e-mail). Raises AccountLocked as `authenticate` does."""
    now = utcnow()
    with unit_of_work():
        user, locked_until = _check_credentials(email, password, now)
        key = start_session(user, remember=remember, user_agent=user_agent, now=now) if user else None
    if locked_until is not None:
        raise AccountLocked(locked_until)
    if user is None or key is None:
        return None
    return SignIn(user, key, remember)


@transactional
def start_login_session(user: User, *, remember: bool = False, user_agent: str = "") -> str:
    """A session for an account that has just proved who it is some other way (it has just registered);
    returns its key."""
    return start_session(user, remember=remember, user_agent=user_agent, now=utcnow())


def _check_credentials(email: str, password: str, now: datetime) -> tuple[User | None, datetime | None]:
    """(the account if the password is right, the time a lock ends if it is locked); a wrong password counts
    a failure in the caller's unit of work, which must stand even though the caller refuses."""
    user: User | None = db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if user is not None and user.active and _locked(user, now):
        assert user.locked_until is not None
        return None, user.locked_until
    if not _password_matches(user, password):
        if user is not None and user.active:
            return None, _count_failure(user, now)
        return None, None
    if user is None or not user.active:
        return None, None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.failed_login_window_started_at = None
    user.locked_until = None
    user.last_login_at = now
    return user, None


def _password_matches(user: User | None, password: str) -> bool:
    # Hashing a throwaway password for an unknown e-mail keeps a failure's time the same either way.
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return user is not None


def _locked(user: User, now: datetime) -> bool:
    return user.locked_until is not None and user.locked_until > now


def _count_failure(user: User, now: datetime) -> datetime | None:
    """Count a failed sign-in on the account; when it is the one too many, lock the account, audit it and
    queue the owner's notice. Returns the end of the lock in force, if any (this failure's, or one another
    attempt started while this one was checking the password)."""
    config = current_app.config
    # Counted under the row lock on PostgreSQL (SQLite's transactions are serial already), so concurrent
    # guesses cannot lose counts or each start a lock of their own.
    db.session.refresh(user, with_for_update=True)
    if _locked(user, now):
        return user.locked_until  # another attempt locked it a moment ago and told the owner
    window = timedelta(seconds=int(config["LOGIN_FAILURE_WINDOW_SECONDS"]))
    started = user.failed_login_window_started_at
    if started is None or now - started >= window:
        user.failed_login_window_started_at = now
        user.failed_logins = 1
    else:
        user.failed_logins += 1
    if user.failed_logins < int(config["LOGIN_MAX_FAILURES"]):
        return None
    failures = user.failed_logins
    until = retry_moment(now + timedelta(seconds=int(config["LOGIN_LOCK_SECONDS"])))
    user.locked_until = until
    user.failed_logins = 0
    user.failed_login_window_started_at = None
    audit.record(
        "user.sign_in_locked",
        "user",
        user.id,
        actor=None,
        after={"locked_until": until.isoformat(), "failures": failures},
    )
    enqueue("notify_sign_in_locked", user_id=user.id, locked_until=until.isoformat(), failures=failures)
    return until


def change_password(
    user: User, current_password: str, new_password: str, *, current_key: str | None, user_agent: str = ""
) -> SignIn:
    """Set a new password after checking the current one. Every session of the account ends, and this browser
    gets a fresh one (kept signed in if the current one was): a stolen cookie stops working with the old
    password.

    A wrong current password counts as a failed sign-in (a borrowed session cannot guess it for ever)."""
    now = utcnow()
    if _locked(user, now):
        assert user.locked_until is not None
        raise AccountLocked(user.locked_until)
    if not _password_matches(user, current_password):
        with unit_of_work():  # the failure counts, though the change is refused
            locked_until = _count_failure(user, now)
        if locked_until is not None:
            raise AccountLocked(locked_until)
        message = _("This is not your current password.")
        raise ValidationFailed(message, fields={"current_password": [message]})
    with unit_of_work():
        return _set_password(user, new_password, current_key=current_key, user_agent=user_agent, now=now)


def _set_password(
    user: User, new_password: str, *, current_key: str | None, user_agent: str, now: datetime
) -> SignIn:
    if len(new_password) < MIN_PASSWORD_LENGTH:
        message = _("Use at least %(n)d characters.", n=MIN_PASSWORD_LENGTH)
        raise ValidationFailed(message, fields={"new_password": [message]})
    current = session_for_key(current_key)
    remember = bool(current and current.user_id == user.id and current.remember)
    user.password_hash = hash_password(new_password)
    user.failed_logins = 0
    user.failed_login_window_started_at = None
    audit.record("user.password_change", "user", user.id, actor=user)
    end_sessions(user, "password_changed", keep=None, actor=user)
    key = start_session(user, remember=remember, user_agent=user_agent, now=now)
    return SignIn(user, key, remember)


@transactional
def create_token(user: User, name: str) -> tuple[ApiToken, str]:
    """Make a token; the plaintext is returned once and never stored."""
    name = name.strip()
    if not name or len(name) > 64:
        raise ValidationFailed(_("Give the token a name."), fields={"name": [_("Give the token a name.")]})
    if problem := text_problem(name, one_line=True):
        raise ValidationFailed(problem, fields={"name": [problem]})
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name, token_hash=_token_hash(plaintext), prefix=plaintext[:10])
    db.session.add(token)
    db.session.flush()
    audit.record(
        "token.create",
        "api_token",
        token.id,
        actor=user,
        after=person_keys.seal_fields(person_keys.subject_for_user(user.id), {"name": name}),
    )
    return token, plaintext


@transactional
def revoke_token(user: User, token_id: int) -> None:
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound(_("No such token."))
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record("token.revoke", "api_token", token.id, actor=user)


@transactional
def user_for_token(plaintext: str) -> User | None:
    if not plaintext.startswith(TOKEN_PREFIX):
        return None
    token: ApiToken | None = db.session.scalar(
        select(ApiToken).where(ApiToken.token_hash == _token_hash(plaintext))
    )
    if token is None or token.revoked_at is not None or not token.user.active:
        return None
    token.last_used_at = utcnow()
    return token.user


def _token_hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


@transactional
def set_account_active(user_id: int, active: bool, *, actor: User) -> User:
    """Deactivate (no more sign-in, API tokens refused) or reactivate an account; audited, commits.

    An admin cannot deactivate their own account, so the last admin cannot lock everyone out by accident.
    """
    _require_admin(actor)
    user = _account(user_id)
    if not active and user.id == actor.id:
        raise ValidationFailed(_("You cannot deactivate your own account."))
    if not _keeps_an_admin(user, role=user.role, active=active):
        raise ValidationFailed(
            _("This is the last active administrator. Make another account an administrator first.")
        )
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
    if not active:
        # Signed out everywhere: reactivating the account later does not bring old sessions back.
        end_sessions(user, "deactivated", keep=None, actor=actor)
        revoke_reset_links(user, actor=actor)
    return user


def revoke_reset_links(user: User, *, actor: User | None) -> int:
    """Void the account's password reset links not used yet, in the caller's unit of work; how many."""
    now = utcnow()
    ids = sorted(
        db.session.scalars(
            select(PasswordResetToken.id).where(
                PasswordResetToken.user_id == user.id,
                PasswordResetToken.used_at.is_(None),
                PasswordResetToken.revoked_at.is_(None),
                PasswordResetToken.expires_at > now,
            )
        )
    )
    if not ids:
        return 0
    db.session.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.id.in_(ids))
        .values(revoked_at=now)
        .execution_options(synchronize_session="fetch")
    )
    audit.record("user.password_reset_links_revoke", "user", user.id, actor=actor, after={"links": ids})
    return len(ids)


@transactional
def set_locale(user: User, locale: str) -> None:
    """The language the account reads pages and e-mails in."""
    user.locale = locale

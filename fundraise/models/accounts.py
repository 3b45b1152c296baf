"""People who sign in, the charities staff belong to, their sign-in sessions and per-account API tokens."""

from __future__ import annotations

import enum
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fundraise.extensions import db
from fundraise.models.columns import UTCDateTime, utcnow
from fundraise.models.reference import Hospital, Region


class Role(enum.StrEnum):
    FAMILY = "family"
    DONOR = "donor"
    SOCIAL_WORKER = "social_worker"
    CHARITY_STAFF = "charity_staff"
    CIVIL_AFFAIRS_OFFICER = "civil_affairs_officer"
    ADMIN = "admin"


ROLE_VALUES = ", ".join(f"'{role.value}'" for role in Role)


class Charity(db.Model):
    """A charity organisation; its staff review cases and run relief projects."""

    __tablename__ = "charities"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_zh: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(256))
    # 统一社会信用代码, the unified social credit code of the registered charity.
    credit_code: Mapped[str] = mapped_column(String(18), unique=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def name(self, locale: str) -> str:
        return self.name_zh if locale.startswith("zh") else self.name_en


class User(UserMixin, db.Model):
    """An account. Each has exactly one role; staff roles carry the organisation or area they act for."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(f"role IN ({ROLE_VALUES})", name="role"),
        CheckConstraint("role != 'social_worker' OR hospital_id IS NOT NULL", name="social_worker_hospital"),
        CheckConstraint("role != 'charity_staff' OR charity_id IS NOT NULL", name="charity_staff_charity"),
        CheckConstraint(
            "role != 'civil_affairs_officer' OR jurisdiction_code IS NOT NULL", name="officer_jurisdiction"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(32), index=True)
    hospital_id: Mapped[int | None] = mapped_column(ForeignKey("hospitals.id"), index=True)
    charity_id: Mapped[int | None] = mapped_column(ForeignKey("charities.id"), index=True)
    # A region-code prefix: "34" is all of Anhui, "3412" Fuyang, "341221" Linquan county.
    jurisdiction_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"))
    locale: Mapped[str | None] = mapped_column(String(8))
    active: Mapped[bool] = mapped_column(default=True)
    # A charity staff member of the finance team: records the bank transfers of approved disbursements.
    finance: Mapped[bool] = mapped_column(default=False, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Failed sign-ins in the current window (services.accounts counts them), and the lock they lead to.
    failed_logins: Mapped[int] = mapped_column(default=0, server_default="0")
    failed_login_window_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())

    hospital: Mapped[Hospital | None] = relationship()
    charity: Mapped[Charity | None] = relationship()
    jurisdiction: Mapped[Region | None] = relationship()

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive accounts
        return self.active

    def use_login_session(self, key: str) -> None:
        """Name the sign-in session this request acts in: Flask-Login stores `get_id()` in the session cookie
        and the remember-me cookie, so both cookies carry the session's random key, never the account id."""
        self.login_session_key: str | None = key

    def get_id(self) -> str:
        key: str | None = getattr(self, "login_session_key", None)
        if key is None:
            raise RuntimeError("sign in through services.accounts, which starts a LoginSession")
        return key

    # UserMixin compares get_id(), which is now a session key: two loads of one account are still one account.
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, User):
            return NotImplemented
        return self is other or (self.id is not None and self.id == other.id)

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = object.__hash__

    def has_role(self, *roles: Role | str) -> bool:
        return self.role in {str(role) for role in roles}

    @property
    def jurisdiction_prefix(self) -> str | None:
        """The region-code prefix this officer covers: trailing zero pairs of the code dropped."""
        code = self.jurisdiction_code
        if code is None:
            return None
        while code.endswith("00") and len(code) > 2:
            code = code[:-2]
        return code


LOGIN_SESSION_END_REASONS = ("signed_out", "password_changed", "signed_out_elsewhere", "deactivated")


class LoginSession(db.Model):
    """One sign-in on one browser. Both the session cookie and the remember-me cookie name it by a random key
    (only its SHA-256 is stored), so ending the row ends both cookies, wherever they are replayed from."""

    __tablename__ = "login_sessions"
    __table_args__ = (
        CheckConstraint(
            "ended_reason IS NULL OR ended_reason IN ("
            + ", ".join(f"'{reason}'" for reason in LOGIN_SESSION_END_REASONS)
            + ")",
            name="ended_reason",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Whether the browser was asked to keep the sign-in ("keep me signed in"): sets how long it lasts.
    remember: Mapped[bool] = mapped_column(default=False)
    # Browser and system read from the User-Agent ("Firefox · Windows"), for the owner's list of sessions.
    device: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_reason: Mapped[str | None] = mapped_column(String(32))

    user: Mapped[User] = relationship()


class ApiToken(db.Model):
    """A per-account bearer token for integrations. Only its SHA-256 is stored; it is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters, so the owner can tell tokens apart.
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()


class PasswordResetToken(db.Model):
    """A link to set a new password, e-mailed to the account (asked for on the sign-in page, or sent by an
    admin). Only the SHA-256 of its random token is stored; it works once, until `expires_at`, and stops
    working when another of the account's links is used (`revoked_at`)."""

    __tablename__ = "password_reset_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()

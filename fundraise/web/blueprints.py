"""The web pages: every blueprint registered on the app, the login manager and its loaders, /healthz."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, request, session
from flask_login import decode_cookie, user_loaded_from_cookie

from fundraise import consent_text, matching_text
from fundraise.access import public
from fundraise.admin.routes import bp as admin_bp
from fundraise.audit_viewer import bp as audit_viewer_bp
from fundraise.auth.routes import bp as auth_bp
from fundraise.documents.routes import bp as documents_bp
from fundraise.donate.routes import bp as donate_bp
from fundraise.extensions import login_manager
from fundraise.family.routes import bp as family_bp
from fundraise.hospital.routes import bp as hospital_bp
from fundraise.models import User
from fundraise.payouts import bp as payouts_bp
from fundraise.privacy_notice import NOTICE_VERSION
from fundraise.public.routes import bp as public_bp
from fundraise.register import bp as register_bp
from fundraise.relief.routes import bp as relief_bp
from fundraise.rights import bp as rights_bp
from fundraise.services import accounts, login_sessions, offers, vouching
from fundraise.staff import bp as staff_bp
from fundraise.verification_pages import init_app as init_verification_pages
from fundraise.verification_text import reason_text
from fundraise.web import templating


def init_app(app: Flask) -> None:
    from fundraise.payments.routes import bp as payments_bp  # also sets up app.extensions["payments"]

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"

    for blueprint in (
        public_bp,
        auth_bp,
        audit_viewer_bp,
        documents_bp,
        family_bp,
        hospital_bp,
        staff_bp,
        admin_bp,
        payments_bp,
        donate_bp,
        relief_bp,
        payouts_bp,
        register_bp,
        rights_bp,
    ):
        app.register_blueprint(blueprint)

    templating.init_app(app)
    app.jinja_env.globals.update(
        matching_text.template_globals(),
        relief_support=offers.support_for,
        reason_text=reason_text,
        privacy_notice_version=NOTICE_VERSION,
        consent_basis=consent_text.basis_text,
        voucher_relationship=lambda code: vouching.RELATIONSHIP_LABELS.get(code, code),
    )

    init_verification_pages(app)

    @app.route("/healthz")
    @public
    def healthz() -> str:
        """The trivial route: load balancers' liveness check and the benchmarks' baseline."""
        return "ok"


@login_manager.user_loader
def _load_user(session_key: str) -> User | None:
    """The account of the server-side session a cookie names (the session cookie's `_user_id`, or the
    remember-me cookie's value: both hold the session's random key, see `User.get_id`).

    An ended or expired session, or a deactivated account, signs nobody in; the browser is then told to
    forget the cookies that named it."""
    user = login_sessions.user_for_session(session_key)
    if user is None:
        _forget_session(session_key)
    return user


def _forget_session(session_key: str) -> None:
    if session.get("_user_id") == session_key:
        for name in ("_user_id", "_fresh", "_id", "_remember_seconds"):
            session.pop(name, None)
    cookie = request.cookies.get(current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token"))
    if cookie and decode_cookie(cookie) == session_key:
        session["_remember"] = "clear"  # Flask-Login deletes the remember-me cookie from the response


@user_loaded_from_cookie.connect
def _bind_restored_session(_app: Flask, user: User) -> None:
    """A sign-in restored from the remember-me cookie (a new browser session) is bound to this browser like
    a fresh one. Flask-Login leaves the identifier out, and "strong" session protection would otherwise
    drop the restored sign-in on the very next request."""
    session["_id"] = login_manager._session_identifier_generator()


@login_manager.request_loader
def _load_user_from_token(_request: Any) -> User | None:
    """API integrations send `Authorization: Bearer <token>`; tokens are accepted only under /api/."""
    header = request.headers.get("Authorization", "")
    if not request.path.startswith("/api/") or not header.startswith("Bearer "):
        return None
    return accounts.user_for_token(header.removeprefix("Bearer ").strip())

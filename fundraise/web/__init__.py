"""The web pages: blueprints, the login manager and template helpers."""

from __future__ import annotations

from typing import Any

from flask import Flask, request
from flask_login import current_user

from fundraise.access import public
from fundraise.extensions import db, login_manager
from fundraise.models import User


def init_app(app: Flask) -> None:
    from fundraise.admin.routes import bp as admin_bp
    from fundraise.auth.routes import bp as auth_bp
    from fundraise.documents.routes import bp as documents_bp
    from fundraise.donate.routes import bp as donate_bp
    from fundraise.family.routes import bp as family_bp
    from fundraise.hospital.routes import bp as hospital_bp
    from fundraise.payments.routes import bp as payments_bp  # also sets up app.extensions["payments"]
    from fundraise.public.routes import bp as public_bp
    from fundraise.staff.routes import bp as staff_bp

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"

    for blueprint in (
        public_bp,
        auth_bp,
        documents_bp,
        family_bp,
        hospital_bp,
        staff_bp,
        admin_bp,
        payments_bp,
        donate_bp,
    ):
        app.register_blueprint(blueprint)

    from fundraise.web import templating

    templating.init_app(app)

    from fundraise.verification_pages import init_app as init_verification_pages

    init_verification_pages(app)

    @app.route("/healthz")
    @public
    def healthz() -> str:
        """The trivial route: load balancers' liveness check and the benchmarks' baseline."""
        return "ok"


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    user = db.session.get(User, int(user_id))
    # A deactivated account loses its open sessions too, not only the ability to sign in again.
    return user if user is not None and user.active else None


@login_manager.request_loader
def _load_user_from_token(_request: Any) -> User | None:
    """API integrations send `Authorization: Bearer <token>`; tokens are accepted only under /api/."""
    header = request.headers.get("Authorization", "")
    if not request.path.startswith("/api/") or not header.startswith("Bearer "):
        return None
    from fundraise.services.accounts import user_for_token

    return user_for_token(header.removeprefix("Bearer ").strip())


def current_user_or_none() -> User | None:
    return current_user if current_user.is_authenticated else None  # type: ignore[return-value]

"""Sign-up, sign-in and the account page."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select

from fundraise.access import public, signed_in
from fundraise.auth.forms import ConfirmForm, LoginForm, RegisterForm, TokenForm
from fundraise.errors import ValidationFailed
from fundraise.extensions import db, limiter
from fundraise.models import ApiToken, Role
from fundraise.services import accounts

bp = Blueprint("auth", __name__)


def _safe_next(default: str) -> str:
    """Only redirect to a path on this site after login (no open redirects)."""
    target = request.args.get("next") or ""
    parts = urlsplit(target)
    if target.startswith("/") and not target.startswith("//") and not parts.netloc:
        return target
    return default


def home_for(role: str) -> str:
    return {
        Role.FAMILY: url_for("family.dashboard"),
        Role.SOCIAL_WORKER: url_for("hospital.dashboard"),
        Role.CHARITY_STAFF: url_for("staff.dashboard"),
        Role.ADMIN: url_for("staff.dashboard"),
        Role.CIVIL_AFFAIRS_OFFICER: url_for("staff.dashboard"),
    }.get(Role(role), url_for("public.browse"))


def apply_field_errors(form: Any, error: ValidationFailed) -> None:
    """Put a service's field errors onto the form's fields, so the page shows them next to the inputs."""
    for name, messages in error.fields.items():
        field = getattr(form, name.split(".")[0], None)
        if field is not None:
            field.errors = list(field.errors) + list(messages)
        else:
            for message in messages:
                flash(message, "error")


@bp.route("/register", methods=["GET", "POST"])
@public
def register() -> Any:
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            user = accounts.register(
                form.email.data or "",
                form.name.data or "",
                form.password.data or "",
                form.role.data or "",
                locale=session.get("locale"),
            )
        except ValidationFailed as error:
            apply_field_errors(form, error)
        else:
            login_user(user)
            flash(_("Welcome to Aidbridge, %(name)s.", name=user.name), "success")
            return redirect(home_for(user.role))
    status = 422 if form.errors else 200
    return render_template("auth/register.html", form=form), status


def _login_limit() -> str:
    return str(current_app.config["LOGIN_RATE_LIMIT"])


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@public
def login() -> Any:
    if current_user.is_authenticated:
        return redirect(home_for(current_user.role))
    form = LoginForm()
    if form.validate_on_submit():
        user = accounts.authenticate(form.email.data or "", form.password.data or "")
        if user is None:
            form.password.errors = [_("The e-mail or password is not right.")]
        else:
            session.clear()  # a fresh session on sign-in: no fixation
            login_user(user, remember=bool(form.remember.data))
            return redirect(_safe_next(home_for(user.role)))
    status = (
        401 if request.method == "POST" and not form.errors.get("email") and form.password.errors else 200
    )
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@signed_in
def logout() -> Any:
    logout_user()
    session.clear()
    flash(_("You are signed out."), "info")
    return redirect(url_for("public.home"))


@bp.route("/language/<code>")
@public
def language(code: str) -> Any:
    if code in current_app.config["LANGUAGES"]:
        session["locale"] = code
        if current_user.is_authenticated:
            current_user.locale = code
            db.session.commit()
    return redirect(_safe_next(url_for("public.home")))


@bp.route("/account", methods=["GET", "POST"])
@signed_in
def account() -> Any:
    form = TokenForm()
    new_token = None
    if form.validate_on_submit():
        try:
            _token, new_token = accounts.create_token(current_user, form.name.data or "")
        except ValidationFailed as error:
            apply_field_errors(form, error)
        else:
            form = TokenForm(formdata=None)
    tokens = db.session.scalars(
        select(ApiToken).where(ApiToken.user_id == current_user.id).order_by(ApiToken.created_at.desc())
    ).all()
    return render_template(
        "auth/account.html", form=form, tokens=tokens, new_token=new_token, revoke_form=ConfirmForm()
    )


@bp.route("/account/tokens/<int:token_id>/revoke", methods=["POST"])
@signed_in
def revoke_token(token_id: int) -> Any:
    if ConfirmForm().validate_on_submit():
        accounts.revoke_token(current_user, token_id)
        flash(_("The token was revoked."), "info")
    return redirect(url_for("auth.account"))

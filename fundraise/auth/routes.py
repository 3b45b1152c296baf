"""Sign-up, sign-in and the account page."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_limiter import RequestLimit
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select

from fundraise import mail
from fundraise.access import public, signed_in
from fundraise.auth.forms import (
    ConfirmForm,
    ForgotPasswordForm,
    LoginForm,
    PasswordForm,
    RegisterForm,
    ResetPasswordForm,
    TokenForm,
)
from fundraise.errors import ValidationFailed, retry_after_seconds, retry_moment, try_again_at
from fundraise.extensions import db, limiter
from fundraise.models import ApiToken, Notification, Role, User
from fundraise.notifications import render_notification
from fundraise.services import accounts, login_sessions, password_resets
from fundraise.web.forms import apply_field_errors
from fundraise.web.redirects import next_from_request

bp = Blueprint("auth", __name__)

# Notices about the account's own security, listed on the account page (other notices go to dashboards).
ACCOUNT_NOTICE_KINDS = ("sign_in_locked",)


def home_for(role: str) -> str:
    return {
        Role.FAMILY: url_for("family.dashboard"),
        Role.SOCIAL_WORKER: url_for("hospital.dashboard"),
        Role.CHARITY_STAFF: url_for("staff.dashboard"),
        Role.ADMIN: url_for("staff.dashboard"),
        Role.CIVIL_AFFAIRS_OFFICER: url_for("staff.dashboard"),
    }.get(Role(role), url_for("public.browse"))


def _user_agent() -> str:
    return request.headers.get("User-Agent", "")


def _current_session_key() -> str | None:
    """The key of the server-side session this browser is signed in with (Flask-Login keeps it as
    `_user_id`, from the session cookie or the remember-me cookie)."""
    key = session.get("_user_id")
    return str(key) if key else None


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
            accounts.start_login_session(user, user_agent=_user_agent())
            login_user(user)
            flash(_("Welcome to Aidbridge, %(name)s.", name=user.name), "success")
            return redirect(home_for(user.role))
    status = 422 if form.errors else 200
    return render_template("auth/register.html", form=form), status


# --- signing in ----------------------------------------------------------------------------------------


def _login_limit() -> str:
    return str(current_app.config["LOGIN_RATE_LIMIT"])


def sign_in_address() -> str:
    """Whom the per-address limit counts: the visitor's address as the trusted proxy reports it
    (TRUSTED_PROXY_COUNT), an IPv6 address by its /64, which one household or office is given whole."""
    address = request.remote_addr or "unknown"
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


def _sign_in_failed(_response: Any) -> bool:
    """Only refused sign-ins count towards the per-address limit: a shared office's staff signing in all
    day never reach it."""
    return bool(g.get("sign_in_failed"))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], key_func=sign_in_address, deduct_when=_sign_in_failed)
@public
def login() -> Any:
    if current_user.is_authenticated:
        return redirect(home_for(current_user.role))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            signed = accounts.sign_in(
                form.email.data or "",
                form.password.data or "",
                remember=bool(form.remember.data),
                user_agent=_user_agent(),
            )
        except accounts.AccountLocked as locked:
            g.sign_in_failed = True
            form.password.errors = [locked.message]
            headers = {"Retry-After": str(retry_after_seconds(locked.until))}
            return render_template("auth/login.html", form=form), 429, headers
        if signed is None:
            g.sign_in_failed = True
            form.password.errors = [_("The e-mail or password is not right.")]
        else:
            session.clear()  # nothing from before signing in is carried into the session
            login_user(signed.user, remember=signed.remember)
            return redirect(next_from_request(home_for(signed.user.role)))
    status = (
        401 if request.method == "POST" and not form.errors.get("email") and form.password.errors else 200
    )
    return render_template("auth/login.html", form=form), status


# --- a forgotten password --------------------------------------------------------------------------------


def _reset_request_limit() -> str:
    return str(current_app.config["PASSWORD_RESET_RATE_LIMIT"])


def _reset_email_limit() -> str:
    return str(current_app.config["PASSWORD_RESET_EMAIL_RATE_LIMIT"])


def reset_request_email() -> str:
    """Whom the per-account limit counts: the e-mail address asked about, as accounts are looked up."""
    return "email:" + (request.form.get("email") or "").strip().lower()


def _forgot_page(form: ForgotPasswordForm, status: int = 200) -> Any:
    return (
        render_template(
            "auth/forgot_password.html",
            form=form,
            minutes=password_resets.RESET_LINK_MINUTES,
            sends_mail=mail.configured(),
        ),
        status,
    )


def _ask_again_later(limit: RequestLimit) -> Response:
    """Past a limit on reset links: the form comes back with the address as typed, saying when every limit
    allows the next request."""
    resets = [other.reset_at for other in limiter.current_limits if other.breached] or [limit.reset_at]
    lifted = retry_moment(datetime.fromtimestamp(max(resets), UTC))
    form = ForgotPasswordForm()
    form.email.errors = [
        _(
            "Too many requests for a new password. Please try again after %(time)s.",
            time=try_again_at(lifted),
        )
    ]
    response = make_response(*_forgot_page(form, 429))
    response.headers["Retry-After"] = str(retry_after_seconds(lifted))
    return response


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(_reset_request_limit, methods=["POST"], key_func=sign_in_address, on_breach=_ask_again_later)
@limiter.limit(_reset_email_limit, methods=["POST"], key_func=reset_request_email, on_breach=_ask_again_later)
@public
def forgot_password() -> Any:
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        password_resets.ask_for_reset_link(form.email.data or "")
        # The same answer whether or not an account has this address.
        flash(
            _(
                "If an account uses this e-mail address, a link to set a new password is on its way. It works "
                "once, for %(minutes)d minutes. Nothing after a few minutes? Look in the spam folder, or ask "
                "again.",
                minutes=password_resets.RESET_LINK_MINUTES,
            ),
            "info",
        )
        return redirect(url_for("auth.forgot_password"))
    return _forgot_page(form, 422 if form.errors else 200)


def _private_page(page: Any, status: int) -> Response:
    # The link's token is in this page's address: no cache keeps it, no Referer carries it elsewhere.
    response = make_response(page, status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@public
def reset_password(token: str) -> Any:
    try:
        link = password_resets.check_reset_link(token)
    except password_resets.ResetLinkRefused as refused:
        return _private_page(
            render_template("auth/reset_link_refused.html", message=refused.message), refused.status
        )
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            password_resets.reset_password(token, form.password.data or "")
        except password_resets.ResetLinkRefused as refused:  # used or voided while the form was open
            page = render_template("auth/reset_link_refused.html", message=refused.message)
            return _private_page(page, refused.status)
        except ValidationFailed as error:
            apply_field_errors(form, error)
        else:
            # This browser is signed out too, whoever it was signed in as: the holder signs in afresh.
            if current_user.is_authenticated:
                login_sessions.end_session(_current_session_key())
            session.clear()
            logout_user()
            flash(
                _(
                    "Your new password is set, and every browser and device that was signed in to your "
                    "account is signed out. Please sign in with the new password."
                ),
                "success",
            )
            return redirect(url_for("auth.login"))
    page = render_template("auth/reset_password.html", form=form, email=link.user.email)
    return _private_page(page, 422 if form.errors else 200)


@bp.route("/logout", methods=["POST"])
@signed_in
def logout() -> Any:
    login_sessions.end_session(_current_session_key())
    session.clear()
    # After clearing: logout_user marks the remember-me cookie for deletion in the (now empty) session.
    logout_user()
    flash(_("You are signed out."), "info")
    return redirect(url_for("public.home"))


@bp.route("/language/<code>")
@public
def language(code: str) -> Any:
    if code in current_app.config["LANGUAGES"]:
        session["locale"] = code
        if current_user.is_authenticated:
            accounts.set_locale(current_user._get_current_object(), code)
    return redirect(next_from_request(url_for("public.home")))


# --- the account page ----------------------------------------------------------------------------------


def _account_page(
    *,
    token_form: TokenForm | None = None,
    password_form: PasswordForm | None = None,
    new_token: str | None = None,
    status: int = 200,
) -> Any:
    tokens = db.session.scalars(
        select(ApiToken).where(ApiToken.user_id == current_user.id).order_by(ApiToken.created_at.desc())
    ).all()
    current = login_sessions.session_for_key(_current_session_key())
    notices = db.session.scalars(
        select(Notification)
        .where(Notification.user_id == current_user.id, Notification.kind.in_(ACCOUNT_NOTICE_KINDS))
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(5)
    ).all()
    return render_template(
        "auth/account.html",
        form=token_form or TokenForm(formdata=None),
        password_form=password_form or PasswordForm(formdata=None),
        tokens=tokens,
        new_token=new_token,
        revoke_form=ConfirmForm(),
        sessions=login_sessions.active_sessions(current_user),
        current_session_id=current.id if current else None,
        notices=[(*render_notification(notice), notice.created_at) for notice in notices],
    ), status


@bp.route("/account", methods=["GET", "POST"])
@signed_in
def account() -> Any:
    form = TokenForm()
    if form.validate_on_submit():
        try:
            _token, new_token = accounts.create_token(current_user, form.name.data or "")
        except ValidationFailed as error:
            apply_field_errors(form, error)
        else:
            return _account_page(new_token=new_token)
    return _account_page(token_form=form, status=422 if form.errors else 200)


@bp.route("/account/tokens/<int:token_id>/revoke", methods=["POST"])
@signed_in
def revoke_token(token_id: int) -> Any:
    if ConfirmForm().validate_on_submit():
        accounts.revoke_token(current_user, token_id)
        flash(_("The token was revoked."), "info")
    return redirect(url_for("auth.account"))


@bp.route("/account/password", methods=["POST"])
@signed_in
def change_password() -> Any:
    form = PasswordForm()
    status = 422
    if form.validate_on_submit():
        user: User = current_user._get_current_object()
        try:
            signed = accounts.change_password(
                user,
                form.current_password.data or "",
                form.new_password.data or "",
                current_key=_current_session_key(),
                user_agent=_user_agent(),
            )
        except accounts.AccountLocked as locked:
            form.current_password.errors = [locked.message]
            status = 429
        except ValidationFailed as error:
            apply_field_errors(form, error)
        else:
            # This browser carries on in the fresh session the service started: the cookies are issued
            # again with its key.
            login_user(signed.user, remember=signed.remember)
            flash(_("Your password is changed. Every other browser and device is signed out."), "success")
            return redirect(url_for("auth.account"))
    return _account_page(password_form=form, status=status)


@bp.route("/account/sessions/end-others", methods=["POST"])
@signed_in
def end_other_sessions() -> Any:
    if ConfirmForm().validate_on_submit():
        ended = login_sessions.end_other_sessions(current_user, _current_session_key())
        flash(
            ngettext("Signed out of %(num)d other session.", "Signed out of %(num)d other sessions.", ended),
            "info",
        )
    return redirect(url_for("auth.account"))

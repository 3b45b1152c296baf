"""Administration: staff accounts and charities."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, make_response, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from fundraise.access import current_account, roles
from fundraise.admin.forms import AccountDetailsForm, AccountEditForm, AccountForm, CharityForm, ConfirmForm
from fundraise.errors import DomainError, ValidationFailed
from fundraise.extensions import db
from fundraise.i18n import locale_name
from fundraise.models import Hospital, Role, User
from fundraise.services import accounts, charities, password_resets
from fundraise.web.forms import apply_field_errors
from fundraise.web.templating import ROLE_LABELS

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _account_form() -> AccountForm:
    form = AccountForm()
    _organisation_choices(form)
    return form


def _organisation_choices(form: AccountDetailsForm) -> None:
    locale = locale_name()
    hospitals = db.session.scalars(select(Hospital).order_by(Hospital.code)).all()
    form.set_choices(
        [(h.code, f"{h.name(locale)} ({h.code})") for h in hospitals],
        [(c.code, f"{c.name(locale)} ({c.code})") for c in charities.list_charities()],
    )


@bp.route("/users", methods=["GET", "POST"])
@roles(Role.ADMIN)
def users() -> Any:
    form = _account_form()
    if form.validate_on_submit():
        try:
            user = accounts.create_account(
                form.email.data or "",
                form.name.data or "",
                form.password.data or "",
                form.role.data or "",
                hospital_code=form.hospital_code.data or None,
                charity_code=form.charity_code.data or None,
                jurisdiction_code=(form.jurisdiction_code.data or "").strip() or None,
                actor=current_user,
            )
        except ValidationFailed as error:
            apply_field_errors(form, error)
        else:
            flash(
                _("Account created for %(name)s (%(role)s).", name=user.name, role=_role(user.role)),
                "success",
            )
            return redirect(url_for("admin.users"))
    people = db.session.scalars(
        select(User)
        .options(selectinload(User.hospital), selectinload(User.charity), selectinload(User.jurisdiction))
        .order_by(User.role, User.name, User.id)
    ).all()
    status = 422 if form.errors else 200
    return render_template("admin/users.html", form=form, people=people, toggle_form=ConfirmForm()), status


def _role(role: str) -> str:
    return str(ROLE_LABELS.get(role, role))


def _set_active(user_id: int, active: bool) -> Any:
    if ConfirmForm().validate_on_submit():
        try:
            user = accounts.set_account_active(user_id, active, actor=current_user)
        except DomainError as error:
            flash(error.message, "error")
        else:
            if active:
                flash(_("%(name)s can sign in again.", name=user.name), "success")
            else:
                flash(_("%(name)s can no longer sign in.", name=user.name), "success")
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/deactivate", methods=["POST"])
@roles(Role.ADMIN)
def deactivate(user_id: int) -> Any:
    return _set_active(user_id, False)


@bp.route("/users/<int:user_id>/activate", methods=["POST"])
@roles(Role.ADMIN)
def activate(user_id: int) -> Any:
    return _set_active(user_id, True)


# --- editing an account ---------------------------------------------------------------------------------


def _person(user_id: int) -> User:
    person = db.session.get(User, user_id)
    if person is None:
        abort(404)
    return person


def _edit_page(
    person: User,
    form: AccountEditForm,
    *,
    reset_link: password_resets.ResetLinkSent | None = None,
    status: int = 200,
) -> Any:
    return (
        render_template(
            "admin/user_edit.html",
            person=person,
            form=form,
            confirm_form=ConfirmForm(),
            reset_link=reset_link,
            reset_minutes=password_resets.RESET_LINK_MINUTES,
        ),
        status,
    )


def _edit_form(person: User, *, posted: bool = True) -> AccountEditForm:
    """The form, filled from the account; a POST's own values take precedence unless `posted` is False (the
    request posted another form)."""
    form = AccountEditForm(
        **({} if posted else {"formdata": None}),
        data={
            "name": person.name,
            "email": person.email,
            "role": person.role,
            "hospital_code": person.hospital.code if person.hospital else "",
            "charity_code": person.charity.code if person.charity else "",
            "jurisdiction_code": person.jurisdiction_code or "",
            "active": person.active,
            "finance": person.finance,
        },
    )
    _organisation_choices(form)
    return form


@bp.route("/users/<int:user_id>/edit", methods=["GET", "POST"])
@roles(Role.ADMIN)
def edit_user(user_id: int) -> Any:
    person = _person(user_id)
    form = _edit_form(person)
    if form.validate_on_submit():
        admin = current_account()
        try:
            user = accounts.update_account(
                person.id,
                name=form.name.data or "",
                email=form.email.data or "",
                role=form.role.data or "",
                hospital_code=form.hospital_code.data or None,
                charity_code=form.charity_code.data or None,
                jurisdiction_code=(form.jurisdiction_code.data or "").strip() or None,
                active=bool(form.active.data),
                finance=bool(form.finance.data),
                actor=admin,
            )
        except ValidationFailed as error:
            apply_field_errors(form, error)
        else:
            flash(_("The account of %(name)s is saved.", name=user.name), "success")
            if user.id == admin.id and user.role != Role.ADMIN:
                return redirect(url_for("public.home"))  # no longer an admin: the admin pages are closed
            return redirect(url_for("admin.users"))
    return _edit_page(person, form, status=422 if form.errors else 200)


@bp.route("/users/<int:user_id>/password-reset", methods=["POST"])
@roles(Role.ADMIN)
def send_password_reset(user_id: int) -> Any:
    person = _person(user_id)
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for("admin.edit_user", user_id=person.id))
    try:
        sent = password_resets.send_reset_link(person.id, actor=current_account())
    except DomainError as error:
        flash(error.message, "error")
        return redirect(url_for("admin.edit_user", user_id=person.id))
    if sent.delivery == password_resets.Delivery.EMAILED:
        flash(
            _(
                "A link to set a new password was e-mailed to %(email)s. It works once, for %(minutes)d minutes.",
                email=sent.email,
                minutes=password_resets.RESET_LINK_MINUTES,
            ),
            "success",
        )
        return redirect(url_for("admin.edit_user", user_id=person.id))
    # No e-mail went out: the link is shown on this answer only, to the admin who asked, never kept in the
    # session or a flash message, and never cached.
    page, status = _edit_page(person, _edit_form(person, posted=False), reset_link=sent)
    response = make_response(page, status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.route("/charities", methods=["GET", "POST"])
@roles(Role.ADMIN)
def charity_list() -> Any:
    form = CharityForm()
    if form.validate_on_submit():
        try:
            charity = charities.create_charity(
                code=form.code.data or "",
                name_zh=form.name_zh.data or "",
                name_en=form.name_en.data or "",
                credit_code=form.credit_code.data or "",
                region_code=form.region_code.data or "",
                actor=current_user,
            )
        except ValidationFailed as error:
            apply_field_errors(form, error)
        else:
            flash(_("Charity %(name)s registered.", name=charity.name(locale_name())), "success")
            return redirect(url_for("admin.charity_list"))
    status = 422 if form.errors else 200
    return (
        render_template(
            "admin/charities.html",
            form=form,
            charities=charities.list_charities(),
            staff_counts=charities.staff_counts(),
        ),
        status,
    )

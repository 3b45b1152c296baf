"""Administration: staff accounts and charities."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from fundraise.access import roles
from fundraise.admin.forms import AccountForm, CharityForm, ConfirmForm
from fundraise.errors import DomainError, ValidationFailed
from fundraise.extensions import db
from fundraise.i18n import locale_name
from fundraise.models import Hospital, Role, User
from fundraise.services import accounts, charities
from fundraise.web.forms import apply_field_errors
from fundraise.web.templating import ROLE_LABELS

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _account_form() -> AccountForm:
    form = AccountForm()
    locale = locale_name()
    hospitals = db.session.scalars(select(Hospital).order_by(Hospital.code)).all()
    form.set_choices(
        [(h.code, f"{h.name(locale)} ({h.code})") for h in hospitals],
        [(c.code, f"{c.name(locale)} ({c.code})") for c in charities.list_charities()],
    )
    return form


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

"""Admin pages for hospitals' settlement accounts: one admin enters an account or a change, another confirms
it (fundraise/services/settlement_accounts.py holds the rules; the confirm button is only hidden here)."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from fundraise.access import current_account, roles
from fundraise.errors import DomainError, ValidationFailed
from fundraise.extensions import db
from fundraise.i18n import locale_name
from fundraise.models import Hospital, Role
from fundraise.payouts.forms import ButtonForm, SettlementAccountForm
from fundraise.payouts.routes import bp
from fundraise.services import settlement_accounts
from fundraise.web.forms import apply_field_errors


def _page(
    form: SettlementAccountForm | None = None, hospital: Hospital | None = None, status: int = 200
) -> Any:
    """Every hospital with its accounts; with `hospital`, the form to enter or change its account."""
    if hospital is None and (chosen := request.args.get("hospital_id", type=int)):
        hospital = db.session.get(Hospital, chosen)
    return render_template(
        "payouts/settlement_accounts.html",
        rows=settlement_accounts.accounts_by_hospital(),
        hospital=hospital,
        form=form or SettlementAccountForm(formdata=None),
        button=ButtonForm(),
        locale=locale_name(),
    ), status


@bp.route("/admin/settlement-accounts")
@roles(Role.ADMIN)
def settlement_accounts_page() -> Any:
    return _page()


@bp.route("/admin/settlement-accounts/<int:hospital_id>", methods=["POST"])
@roles(Role.ADMIN)
def propose_account(hospital_id: int) -> Any:
    hospital = db.session.get(Hospital, hospital_id)
    if hospital is None:
        return _page(status=404)
    form = SettlementAccountForm()
    if form.validate_on_submit():
        try:
            settlement_accounts.propose(
                hospital.id,
                current_account(),
                bank_name=form.bank_name.data or "",
                account_name=form.account_name.data or "",
                account_number=form.account_number.data or "",
            )
        except ValidationFailed as error:
            apply_field_errors(form, error)
        except DomainError as error:
            flash(error.message, "error")
            return redirect(url_for("payouts.settlement_accounts_page"))
        else:
            flash(
                _(
                    "The account for %(hospital)s is entered. Another admin must confirm it before anything is"
                    " paid to it.",
                    hospital=hospital.name(locale_name()),
                ),
                "success",
            )
            return redirect(url_for("payouts.settlement_accounts_page"))
    return _page(form, db.session.get(Hospital, hospital_id), 422)


def _button(account_id: int, act: Any, done: str) -> Any:
    if ButtonForm().validate_on_submit():
        try:
            act(account_id, current_account())
        except DomainError as error:
            flash(error.message, "error")
        else:
            flash(done, "success")
    return redirect(url_for("payouts.settlement_accounts_page"))


@bp.route("/admin/settlement-accounts/<int:account_id>/confirm", methods=["POST"])
@roles(Role.ADMIN)
def confirm_account(account_id: int) -> Any:
    return _button(
        account_id,
        settlement_accounts.confirm,
        _("The account is confirmed; disbursements to the hospital are paid there from now on."),
    )


@bp.route("/admin/settlement-accounts/<int:account_id>/withdraw", methods=["POST"])
@roles(Role.ADMIN)
def withdraw_account(account_id: int) -> Any:
    return _button(account_id, settlement_accounts.withdraw, _("The pending account change is withdrawn."))

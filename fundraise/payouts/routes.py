"""Disbursement pages: the request form, a disbursement's page with the decisions its viewer may take, the
charity staff's queue and the bank file. The service checks every rule; these pages only hide the buttons a
viewer may not use (approval_refusal, payment_refusal) and show the service's refusals."""

from __future__ import annotations

import uuid
from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from wtforms.fields.choices import SelectChoice

from fundraise.access import (
    STAFF_ROLES,
    can_see_private,
    current_account,
    is_applicant_side,
    is_staff,
    roles,
    signed_in,
)
from fundraise.downloads import csv_attachment
from fundraise.errors import DomainError, NotFound, ValidationFailed
from fundraise.extensions import db
from fundraise.i18n import locale_name
from fundraise.models import Campaign, Disbursement, DisbursementStatus, Role, User
from fundraise.money import format_yuan
from fundraise.payouts import export, phases
from fundraise.payouts.forms import (
    FUND,
    OFFER_PREFIX,
    ApproveForm,
    CancelForm,
    DisbursementRequestForm,
    PaymentForm,
    RejectForm,
)
from fundraise.services import disbursement_funds, disbursements, documents, settlement_accounts
from fundraise.services.disbursements import REQUESTABLE_STATES
from fundraise.services.documents import PreparedFile
from fundraise.web.forms import apply_field_errors
from fundraise.web.templating import content_language

bp = Blueprint("payouts", __name__)
STAFF = tuple(STAFF_ROLES)
REQUESTERS = (Role.FAMILY, Role.SOCIAL_WORKER, Role.CHARITY_STAFF, Role.ADMIN)
S = DisbursementStatus


@bp.context_processor
def _template_globals() -> dict[str, Any]:
    return phases.template_globals()


# --- request -------------------------------------------------------------------------------------------


def _requestable_campaign(campaign_id: int) -> Campaign:
    """The campaign, if the caller is on its applicant side or staff; 404 otherwise."""
    campaign = db.session.get(Campaign, campaign_id)
    actor = current_account()
    if campaign is None or not (is_applicant_side(actor, campaign) or is_staff(actor)):
        raise NotFound(_("We could not find that campaign."))
    return campaign


def _closed_reason(campaign: Campaign) -> str | None:
    """Why no disbursement can be requested from this campaign now, or None."""
    if campaign.state not in REQUESTABLE_STATES:
        return str(_("Disbursements are requested from a campaign that is raising money or closed."))
    return disbursements.frozen_reason(campaign)


def _source_choices(campaign: Campaign) -> dict[str, list[SelectChoice]]:
    """The campaign's fund, then each approved relief offer under its own heading: an offer is named by its
    project alone (what a charity wrote, in its own language: an option cannot mark part of its text)."""
    fund = SelectChoice(
        FUND,
        _(
            "Campaign fund (%(amount)s available)",
            amount=format_yuan(disbursement_funds.available_from_fund(campaign.id)),
        ),
    )
    choices = {str(_("Campaign fund")): [fund]}
    offers = [
        SelectChoice(
            f"{OFFER_PREFIX}{offer.id}",
            f"{offer.project.name} · {format_yuan(disbursement_funds.available_from_offer(offer))}",
            render_kw={"lang": language} if (language := content_language(offer.project.name)) else {},
        )
        for offer in disbursement_funds.approved_offers(campaign.id)
    ]
    if offers:
        choices[str(_("Relief offers (what is left of each)"))] = offers
    return choices


def _read_bill(form: DisbursementRequestForm) -> list[PreparedFile] | None:
    """The bill, checked by its content: [] when none was sent, None (with the error on the field) when it
    was refused."""
    storage = request.files.get("bill")
    if storage is None or not storage.filename:
        return []
    try:
        upload = documents.read_upload(storage.stream, storage.filename, "bill")
        return documents.prepare([("bill", upload)])
    except ValidationFailed as error:
        apply_field_errors(form, error)
        return None


def _every_problem(form: DisbursementRequestForm, campaign: Campaign, actor: User) -> None:
    """After the form itself refused something (an amount that does not read, a bad file), the service's
    problems with the other fields too, so everything is corrected in one round."""
    try:
        problems = disbursements.check_request(campaign, actor, form.service_form())
    except DomainError as error:
        flash(error.message, "error")
        return
    marked = {name for name, errors in form.errors.items() if errors}
    more = {
        name: messages
        for name, messages in problems.items()
        if DisbursementRequestForm.ALIASES.get(name, name) not in marked
    }
    if more:
        apply_field_errors(form, ValidationFailed("", fields=more), DisbursementRequestForm.ALIASES)


@bp.route("/campaigns/<int:campaign_id>/disbursements/new", methods=["GET", "POST"])
@roles(*REQUESTERS)
def new_disbursement(campaign_id: int) -> Any:
    actor = current_account()
    campaign = _requestable_campaign(campaign_id)
    closed = _closed_reason(campaign)
    form = DisbursementRequestForm()
    form.source.choices = _source_choices(campaign)
    if request.method == "GET" or not form.request_key.data:
        if request.method == "POST":
            flash(_("The form expired; please send it again."), "error")
        form.request_key.data = uuid.uuid4().hex
        form.source.data = form.source.data or FUND
    elif closed is None:
        existing = disbursements.find_by_key(form.request_key.data)
        if existing is not None and existing.requested_by_id == actor.id:
            flash(_("This request was sent already; here it is."), "success")
            return redirect(url_for("payouts.detail", disbursement_id=existing.id))
        valid = form.validate_on_submit()
        bill = _read_bill(form)
        if valid and bill is not None:
            try:
                made = disbursements.request(campaign, actor, form.service_form(), bill)
            except ValidationFailed as error:
                apply_field_errors(form, error, DisbursementRequestForm.ALIASES)
            except DomainError as error:
                flash(error.message, "error")
            else:
                flash(_("Disbursement requested. It is shown publicly during its notice period."), "success")
                return redirect(url_for("payouts.detail", disbursement_id=made.id))
        else:
            _every_problem(form, campaign, actor)
        if form.errors.get("csrf_token"):
            flash(_("The form expired; please send it again."), "error")
        if form.request_key.errors:
            form.request_key.data = uuid.uuid4().hex
    sent_back = request.method == "POST"
    hospital_id = campaign.hospital_id
    return render_template(
        "payouts/request.html",
        campaign=campaign,
        form=form,
        closed=closed,
        sent_back=sent_back,
        payee=settlement_accounts.payable_account(hospital_id) if hospital_id else None,
        unpayable=settlement_accounts.unpayable_reason(hospital_id) if hospital_id else None,
        available_fen=disbursement_funds.available_from_fund(campaign.id),
        notice_hours=_config("DISBURSEMENT_NOTICE_HOURS"),
        two_approvers_from_fen=_config("DISBURSEMENT_TWO_APPROVERS_FROM_FEN"),
    ), (422 if sent_back else 200)


def _config(name: str) -> int:
    return int(current_app.config[name])


# --- one disbursement ----------------------------------------------------------------------------------


def _visible(disbursement_id: int) -> Disbursement:
    """The disbursement, if the caller may see its campaign's private side; 404 otherwise."""
    found = disbursements.get(disbursement_id)
    if not can_see_private(current_account(), found.campaign):
        raise NotFound(_("No such disbursement."))
    return found


def _decides(actor: User, disbursement: Disbursement) -> bool:
    """Charity staff of the charity responsible for this money (the service checks it again)."""
    charity_id = disbursement_funds.responsible_charity_id(disbursement.source, disbursement.offer)
    return actor.has_role(Role.CHARITY_STAFF) and charity_id is not None and actor.charity_id == charity_id


def _detail_page(
    disbursement: Disbursement, posted: dict[str, FlaskForm] | None = None, status: int = 200
) -> Any:
    actor = current_account()
    forms: dict[str, Any] = {
        "approve": ApproveForm(prefix="approve", formdata=None),
        "reject": RejectForm(prefix="reject", formdata=None),
        "cancel": CancelForm(prefix="cancel", formdata=None),
        "pay": PaymentForm(prefix="pay", formdata=None),
    }
    forms.update(posted or {})
    held = bool(disbursements.held_ids([disbursement.id]))
    decides = _decides(actor, disbursement)
    requested = disbursement.status == S.REQUESTED
    own = disbursement.requested_by_id == actor.id
    account = disbursement.settlement_account or (
        settlement_accounts.payable_account(disbursement.hospital_id)
    )
    return render_template(
        "payouts/detail.html",
        d=disbursement,
        phase=disbursements.phase(disbursement, held=held),
        forms=forms,
        decides=decides,
        approval_refusal=disbursements.approval_refusal(actor, disbursement),
        payment_refusal=disbursements.payment_refusal(actor, disbursement),
        may_reject=requested and decides and not own,
        may_cancel=(requested and own) or (decides and disbursement.status in (S.REQUESTED, S.APPROVED)),
        account=account,
        unpayable=settlement_accounts.unpayable_reason(disbursement.hospital_id),
        frozen=disbursements.frozen_reason(disbursement.campaign),
        locale=locale_name(),
    ), status


@bp.route("/disbursements/<int:disbursement_id>")
@signed_in  # who may see it is the campaign's rule (can_see_private); anyone else gets a 404
def detail(disbursement_id: int) -> Any:
    return _detail_page(_visible(disbursement_id))


def _decision(disbursement_id: int, name: str, form: FlaskForm, act: Any, done: str) -> Any:
    """Run one decision through its service: field errors re-render the page with the form as typed, any
    other refusal is flashed at the top of the page."""
    found = _visible(disbursement_id)
    back = redirect(url_for("payouts.detail", disbursement_id=found.id))
    if not form.validate_on_submit():
        if not [errors for field, errors in form.errors.items() if field != "csrf_token" and errors]:
            flash(_("The form expired; please send it again."), "error")
            return back
        return _detail_page(found, {name: form}, 422)
    try:
        act(found)
    except ValidationFailed as error:
        if not error.fields:
            flash(error.message, "error")
            return back
        apply_field_errors(form, error)
        return _detail_page(disbursements.get(disbursement_id), {name: form}, 422)
    except DomainError as error:
        flash(error.message, "error")
        return back
    flash(done, "success")
    return back


@bp.route("/disbursements/<int:disbursement_id>/approve", methods=["POST"])
@roles(*STAFF)
def approve(disbursement_id: int) -> Any:
    form = ApproveForm(prefix="approve")
    actor = current_account()
    return _decision(
        disbursement_id,
        "approve",
        form,
        lambda d: disbursements.approve(d.id, actor, form.note.data or ""),
        _("Your approval is recorded."),
    )


@bp.route("/disbursements/<int:disbursement_id>/reject", methods=["POST"])
@roles(*STAFF)
def reject(disbursement_id: int) -> Any:
    form = RejectForm(prefix="reject")
    actor = current_account()
    return _decision(
        disbursement_id,
        "reject",
        form,
        lambda d: disbursements.reject(d.id, actor, form.note.data or ""),
        _("The request is rejected; the requester sees your reason."),
    )


@bp.route("/disbursements/<int:disbursement_id>/cancel", methods=["POST"])
@roles(*REQUESTERS)
def cancel(disbursement_id: int) -> Any:
    form = CancelForm(prefix="cancel")
    actor = current_account()
    return _decision(
        disbursement_id,
        "cancel",
        form,
        lambda d: disbursements.cancel(d.id, actor, form.note.data or ""),
        _("The disbursement is cancelled."),
    )


@bp.route("/disbursements/<int:disbursement_id>/pay", methods=["POST"])
@roles(*STAFF)
def pay(disbursement_id: int) -> Any:
    form = PaymentForm(prefix="pay")
    actor = current_account()
    return _decision(
        disbursement_id,
        "pay",
        form,
        lambda d: disbursements.record_payment(d.id, actor, form.reference.data or ""),
        _("The bank transfer is recorded; the disbursement is paid."),
    )


# --- the staff's queue and the bank file ---------------------------------------------------------------


@bp.route("/staff/disbursements")
@roles(*STAFF)
def queue() -> Any:
    actor = current_account()
    tab = request.args.get("tab", "waiting")
    if tab not in phases.QUEUE_TABS:
        tab = "waiting"
    rows = disbursement_funds.queue(actor, tab)
    held = disbursements.held_ids([row.id for row in rows]) if tab == "waiting" else set()
    return render_template(
        "payouts/queue.html",
        tab=tab,
        tabs=phases.QUEUE_TABS,
        rows=rows,
        row_phases={row.id: disbursements.phase(row, held=row.id in held) for row in rows},
        may_export=_may_export(actor),
        columns=export.COLUMNS,
        locale=locale_name(),
    )


def _may_export(actor: User) -> bool:
    return actor.has_role(Role.ADMIN) or (actor.has_role(Role.CHARITY_STAFF) and actor.finance)


@bp.route("/staff/disbursements/export.csv")
@roles(*STAFF)
def export_csv() -> Any:
    """The bank file (layout in fundraise/payouts/export.py), streamed."""
    actor = current_account()
    if not _may_export(actor):
        flash(_("Only finance members of the charity, and admins, download the bank file."), "error")
        return redirect(url_for("payouts.queue", tab="approved"))
    rows = export.transfers(actor)
    export.record_export(actor, rows)
    return csv_attachment(export.bank_file(rows), "aidbridge-transfers")

"""The close-out page, on the family blueprint: the family (their social worker, or charity staff) files the
final bill when treatment is over; the custodian charity's staff then settle what is left as each donor chose.

- /family/campaigns/<id>/close-out (GET, POST): what happens, what the fund holds, the upload form; after the
  request, where it stands and, for the custodian's staff, what settling would do.
- /family/campaigns/<id>/close-out/settle (POST): settle what is left (custodian staff).
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from fundraise.access import current_account, is_applicant_side, is_staff, roles
from fundraise.auth.forms import ConfirmForm
from fundraise.errors import DomainError, NotFound, ValidationFailed
from fundraise.family.forms import CloseOutForm
from fundraise.family.routes import bp
from fundraise.models import Campaign, DocumentKind, Role
from fundraise.money import format_yuan
from fundraise.services import campaigns as campaign_service
from fundraise.services import close_out, disbursement_funds, disbursements, documents
from fundraise.services.documents import PreparedFile
from fundraise.web.forms import apply_field_errors

CLOSERS = (Role.FAMILY, Role.SOCIAL_WORKER, Role.CHARITY_STAFF, Role.ADMIN)


def _campaign(campaign_id: int) -> Campaign:
    """The campaign, for its applicant side or staff; 404 for anyone else."""
    user = current_account()
    campaign = campaign_service.get_campaign(campaign_id, user)
    if not (is_applicant_side(user, campaign) or is_staff(user)):
        raise NotFound(_("We could not find that campaign."))
    return campaign


def _read_bill(form: CloseOutForm) -> PreparedFile | None:
    """The bill checked by its content, or None with the error on the field."""
    storage = request.files.get("bill")
    if storage is None or not storage.filename:
        form.bill.errors = [*form.bill.errors, _("Attach the hospital's final bill.")]
        return None
    try:
        upload = documents.read_upload(storage.stream, storage.filename, "bill")
        (prepared,) = documents.prepare([(DocumentKind.BILL.value, upload)])
    except ValidationFailed as error:
        apply_field_errors(form, error)
        return None
    return prepared


def _render(campaign: Campaign, form: CloseOutForm, status: int = 200) -> Any:
    actor = current_account()
    use = disbursement_funds.use_of_funds(campaign.id)
    settle_refusal = close_out.settlement_refusal(actor, campaign)
    custodian = close_out.is_custodian_staff(actor)
    return (
        render_template(
            "family/close_out.html",
            campaign=campaign,
            form=form,
            settle_form=ConfirmForm(formdata=None),
            may_request=close_out.may_request(actor, campaign),
            requested=campaign.ended_code == close_out.REQUESTED,
            closed_out=campaign.ended_code == close_out.CLOSED_OUT,
            use=use,
            pooled_fen=close_out.moved_to_pool_fen(campaign.id),
            unpaid=close_out.unpaid(campaign.id),
            frozen=disbursements.frozen_reason(campaign),
            preview=close_out.preview(campaign) if campaign.ended_code else None,
            custodian=custodian,
            settle_refusal=settle_refusal if custodian else None,
        ),
        status,
    )


@bp.route("/campaigns/<int:campaign_id>/close-out", methods=["GET", "POST"])
@roles(*CLOSERS)
def close_out_page(campaign_id: int) -> Any:
    campaign = _campaign(campaign_id)
    form = CloseOutForm()
    if request.method == "GET":
        return _render(campaign, form)
    valid = form.validate_on_submit()
    bill = _read_bill(form)
    if not valid or bill is None:
        return _render(campaign, form, 422)
    try:
        close_out.request_close_out(campaign, current_account(), bill, form.note.data or "")
    except ValidationFailed as error:
        apply_field_errors(form, error)
        return _render(campaign, form, 422)
    except DomainError as error:
        flash(error.message, "error")
        return _render(campaign, form, error.status)
    flash(
        _("Close-out asked for. The charity settles what is left of the fund as each donor chose."), "success"
    )
    return redirect(url_for("family.close_out_page", campaign_id=campaign.id))


@bp.route("/campaigns/<int:campaign_id>/close-out/settle", methods=["POST"])
@roles(Role.CHARITY_STAFF)
def settle_close_out(campaign_id: int) -> Any:
    campaign = _campaign(campaign_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        result = close_out.settle_surplus(campaign, current_account())
    except DomainError as error:  # said on the page, where the reason (what to finish first) is shown
        flash(error.message, "error")
        return redirect(url_for("family.close_out_page", campaign_id=campaign.id))
    flash(
        _(
            "Settled: %(refund)s asked back for %(refunds)d donors, %(pool)s moved to the relief pool for %(pooled)d.",
            refund=format_yuan(result.refund_fen),
            refunds=len(result.refunds_asked),
            pool=format_yuan(result.pool_fen),
            pooled=len(result.moved_to_pool),
        ),
        "success",
    )
    for donation_id, why in result.failures:
        flash(_("The refund of gift #%(id)d failed: %(why)s", id=donation_id, why=why), "error")
    return redirect(url_for("family.close_out_page", campaign_id=campaign.id))

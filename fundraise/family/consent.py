"""The family's consent pages: giving each consent from the campaign's page (before submission, or the page
consent again after withdrawing it), the patient's own consent once they turn 14, and the list of consents with
withdrawal, which first says what withdrawing will do."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from fundraise import consent_text
from fundraise.access import current_account, roles
from fundraise.auth.forms import ConfirmForm
from fundraise.errors import IllegalTransition, ValidationFailed
from fundraise.family.consent_panel import PURPOSES, consent_form
from fundraise.family.forms import OwnConsentForm
from fundraise.family.routes import APPLICANT_ROLES, _campaign_for_applicant, _refused, _render_review, bp
from fundraise.models import ConsentBasis, ConsentPurpose, Role
from fundraise.services import consents
from fundraise.services.consent_rules import in_force
from fundraise.web.forms import apply_field_errors


@bp.route("/campaigns/<int:campaign_id>/consent/<purpose>", methods=["GET", "POST"])
@roles(*APPLICANT_ROLES)
def give_consent(campaign_id: int, purpose: str) -> Any:
    if purpose not in PURPOSES:
        abort(404)
    campaign = _campaign_for_applicant(campaign_id)
    if request.method == "GET":
        return redirect(url_for("family.review", campaign_id=campaign.id, _anchor="consent"))
    form = consent_form(campaign, current_account(), purpose, formdata=request.form)
    if form.validate_on_submit():
        given = _input(campaign, purpose, form)
        try:
            consents.give(campaign, current_account(), given)
        except ValidationFailed as error:
            apply_field_errors(form, error)
        except IllegalTransition as error:
            return _refused(campaign, error)
        else:
            flash(_("Your consent is recorded."), "success")
            return redirect(url_for("family.review", campaign_id=campaign.id, _anchor="consent"))
    return _render_review(campaign, 422, consent_forms={purpose: form})


def _input(campaign: Any, purpose: str, form: Any) -> consents.ConsentInput:
    """The form's answers; the page consent is given on the same footing as the processing consent."""
    basis = form.basis.data or ""
    guardian = form.guardian_relationship.data or None
    reason_code = form.unable_reason_code.data or None
    reason_text = form.unable_reason_text.data or ""
    processing = in_force(campaign, ConsentPurpose.SENSITIVE_PROCESSING)
    if purpose == ConsentPurpose.PUBLIC_PAGE and processing is not None:
        basis, guardian = processing.basis, processing.guardian_relationship
        reason_code, reason_text = processing.unable_reason_code, processing.unable_reason_text
    return consents.ConsentInput(
        purpose=purpose,
        basis=basis,
        guardian_relationship=guardian,
        unable_reason_code=reason_code,
        unable_reason_text=reason_text,
        notice_version=form.notice_version.data or "",
    )


@bp.route("/campaigns/<int:campaign_id>/consent/own", methods=["GET", "POST"])
@roles(Role.FAMILY)
def own_consent(campaign_id: int) -> Any:
    campaign = _campaign_for_applicant(campaign_id)
    due = consents.own_consent_due(campaign)
    form = OwnConsentForm()
    status = 200
    if request.method == "POST":
        if due is None:
            flash(_("No consent is asked for this campaign now."), "info")
            return redirect(url_for("family.dashboard"))
        if form.validate_on_submit():
            basis = (
                ConsentBasis.OWN
                if campaign.relationship_to_patient == "self"
                else ConsentBasis.PATIENT_CONFIRMED
            )
            try:
                consents.give_own(
                    campaign,
                    current_account(),
                    basis=basis,
                    public_page=bool(form.agree_public.data),
                    notice_version=form.notice_version.data or "",
                )
            except ValidationFailed as error:
                apply_field_errors(form, error)
            except IllegalTransition as error:
                flash(error.message, "error")
                return redirect(url_for("family.dashboard"))
            else:
                flash(_("The patient's own consent is recorded."), "success")
                return redirect(url_for("family.dashboard"))
        status = 422
    return render_template("family/own_consent.html", campaign=campaign, form=form, due=due), status


@bp.route("/consents", endpoint="consents")
@roles(Role.FAMILY)
def consents_page() -> Any:
    return render_template(
        "family/consents.html",
        campaigns=consents.consents_of(current_account()),
        text=consent_text,
    )


@bp.route("/consents/<int:consent_id>/withdraw", methods=["GET", "POST"])
@roles(Role.FAMILY)
def withdraw_consent(consent_id: int) -> Any:
    consent = consents.consent_for_family(consent_id, current_account())
    form = ConfirmForm()
    if request.method == "POST" and consent.in_force:
        if not form.validate_on_submit():
            abort(400)
        try:
            consents.withdraw(consent, current_account())
        except IllegalTransition as error:
            flash(error.message, "error")
        else:
            flash(_("Your consent is withdrawn."), "success")
            return redirect(url_for("family.consents"))
    return render_template(
        "family/withdraw_consent.html",
        consent=consent,
        campaign_title=consents.campaign_title(consent),
        effects=[consent_text.EFFECTS[code] for code in consents.withdrawal_effects(consent)]
        if consent.in_force
        else [],
        text=consent_text,
        form=ConfirmForm(formdata=None),
        is_family=current_user.role == Role.FAMILY,
    )

"""The family's pages: the dashboard, filing a campaign step by step, and the campaign's later actions.

The filing steps and the campaign actions are shared with hospital social workers, who may file for a family
of their hospital (fundraise.access.is_applicant_side decides); the dashboard and starting a campaign are
the family's own. A campaign the caller may not act for answers 404, so its existence is not revealed.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from fundraise.access import current_account, is_applicant_side, roles
from fundraise.auth.forms import ConfirmForm
from fundraise.errors import DomainError, IllegalTransition, NotFound, ValidationFailed
from fundraise.extensions import db
from fundraise.family.consent_panel import consent_panel
from fundraise.family.forms import (
    EVIDENCE_KINDS,
    RELATIONSHIP_LABELS,
    SEX_LABELS,
    CancelForm,
    DocumentsForm,
    PatientForm,
    UpdateForm,
    disease_catalogue,
)
from fundraise.family.steps import (
    FIELD_STEPS,
    FORM_STEPS,
    STEPS,
    UPLOAD_FIELDS,
    check_against_stored_id,
    first_incomplete_step,
    missing_list,
    next_step,
    step_data,
    step_initial,
    step_nav,
    step_url,
)
from fundraise.models import Campaign, CampaignState, Document, DocumentKind, Notification, Role
from fundraise.notifications import render_notification
from fundraise.services import campaigns as campaign_service
from fundraise.services import inbox
from fundraise.services.consent_rules import missing_consents
from fundraise.services.consents import own_consent_due
from fundraise.services.documents import Upload, check_files_per_request, read_upload, remove
from fundraise.services.filing import create_draft, missing_items, save_step
from fundraise.services.transitions import available_transitions, transition
from fundraise.services.updates import can_post_update, post_update
from fundraise.web.forms import apply_field_errors

bp = Blueprint("family", __name__, url_prefix="/family")

S = CampaignState
APPLICANT_ROLES = (Role.FAMILY, Role.SOCIAL_WORKER)


# --- helpers -----------------------------------------------------------------------------------------


def _home() -> str:
    if current_user.role == Role.SOCIAL_WORKER:
        return url_for("hospital.dashboard")
    return url_for("family.dashboard")


def _campaign_for_applicant(campaign_id: int) -> Campaign:
    """The campaign, if the caller is its family or a social worker of its hospital; 404 otherwise."""
    campaign = campaign_service.get_campaign(campaign_id, current_account())
    if not is_applicant_side(current_account(), campaign):
        raise NotFound(_("We could not find that campaign."))
    return campaign


def _read_uploads(form: Any, kinds: tuple[str, ...]) -> tuple[list[tuple[str, Upload]], bool]:
    """The files sent for each kind; an oversize file, or more files than one request may send, puts an
    error on its field. Returns (files, ok). Too many files are refused before any is read."""
    sent = [
        (str(kind), storage)
        for kind in kinds
        for storage in request.files.getlist(str(kind))
        if storage and storage.filename  # an empty file input still sends an empty part
    ]
    try:
        check_files_per_request([kind for kind, _storage in sent])
    except ValidationFailed as error:
        apply_field_errors(form, error)
        return [], False
    files: list[tuple[str, Upload]] = []
    ok = True
    for kind, storage in sent:
        try:
            files.append((kind, read_upload(storage.stream, storage.filename or "upload", kind)))
        except ValidationFailed as error:
            apply_field_errors(form, error)
            ok = False
    return files, ok


def _step_form(step: str, campaign: Campaign | None) -> Any:
    form_class = FORM_STEPS.get(step, DocumentsForm)
    kwargs: dict[str, Any] = {}
    if step == "diagnosis" and current_user.role == Role.SOCIAL_WORKER:
        kwargs["fixed_hospital"] = current_user.hospital
    if request.method == "GET" and campaign is not None:
        kwargs["data"] = step_initial(campaign, step)
    form = form_class(**kwargs)
    if step == "diagnosis" and current_user.role == Role.SOCIAL_WORKER and request.method == "GET":
        form.hospital_code.data = current_user.hospital.code
    return form


def _render_step(step: str, campaign: Campaign | None, form: Any, status: int = 200) -> Any:
    context: dict[str, Any] = {
        "campaign": campaign,
        "form": form,
        "step": step,
        "nav": step_nav(campaign, step),
        "remove_form": ConfirmForm(formdata=None),
    }
    if step == "diagnosis":
        context["catalogue"] = disease_catalogue()
    return render_template(f"family/step_{step}.html", **context), status


# --- the dashboard -----------------------------------------------------------------------------------


@bp.route("/")
@roles(Role.FAMILY)
def dashboard() -> Any:
    campaigns = db.session.scalars(
        select(Campaign).where(Campaign.applicant_id == current_user.id).order_by(Campaign.updated_at.desc())
    ).all()
    return render_template(
        "family/dashboard.html",
        campaigns=campaigns,
        cards=[campaign_card(campaign) for campaign in campaigns],
        notifications=my_notifications(),
        action_form=ConfirmForm(formdata=None),
    )


def campaign_card(campaign: Campaign) -> dict[str, Any]:
    """What the dashboard says about a campaign: the next step and the actions open to the caller."""
    names = {t.name for t in available_transitions(campaign, current_account())}
    card: dict[str, Any] = {
        "campaign": campaign,
        "actions": names,
        "can_update": can_post_update(current_account(), campaign),
        # The patient turned 14 under a guardian's consent: their own is asked for (processing continues).
        "own_consent_due": own_consent_due(campaign) is not None,
    }
    if campaign.state == S.DRAFT:
        step = first_incomplete_step(campaign)
        card["next_url"] = step_url(campaign, step)
        card["next"] = (
            _("Everything is filled in. Review it and submit it for verification.")
            if step == "review"
            else _("Continue filing: %(step)s.", step=next(s.title for s in STEPS if s.slug == step))
        )
    else:
        card["next"] = {
            S.SUBMITTED: _("Nothing to do now: verification starts shortly. You will get a notification."),
            S.VERIFYING: _("Nothing to do now: we are checking the records. You will get a notification."),
            S.NEEDS_REVIEW: _(
                "A charity reviewer is checking the case by hand. You will be notified of the decision."
            ),
            S.VERIFIED: _("Open fundraising when you are ready; the campaign page then takes donations."),
            S.FUNDRAISING: _("Post updates so donors can follow the treatment."),
            S.CLOSED: _("You can still post updates on how the money was used."),
            S.SUSPENDED: _(
                "A report about this campaign is being looked into. Reply to the reviewer if asked."
            ),
            S.REJECTED: _("The case was not approved. The reason is shown below."),
            S.CANCELLED: _("This campaign was cancelled."),
        }.get(S(campaign.state), "")
    return card


def my_notifications(limit: int = 20) -> list[dict[str, Any]]:
    rows = db.session.scalars(
        select(Notification)
        .where(Notification.user_id == current_user.id)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(limit)
    ).all()
    items = []
    for row in rows:
        subject, body = render_notification(row)
        items.append({"notification": row, "subject": subject, "body": body, "unread": row.read_at is None})
    return items


@bp.route("/notifications/read", methods=["POST"])
@roles(Role.FAMILY, Role.SOCIAL_WORKER)
def mark_notifications_read() -> Any:
    if ConfirmForm().validate_on_submit():
        inbox.mark_all_read(current_account())
    return redirect(_home())


# --- filing ------------------------------------------------------------------------------------------


@bp.route("/campaigns/new", methods=["GET", "POST"])
@roles(Role.FAMILY)
def new_campaign() -> Any:
    form = PatientForm()
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                campaign = create_draft(current_account(), step_data(form, "patient", None))
            except ValidationFailed as error:
                apply_field_errors(form, error)
            else:
                flash(_("Your draft is saved. You can come back to it at any time."), "success")
                return _after_save(campaign, "patient")
        return _render_step("patient", None, form, 422)
    return _render_step("patient", None, form)


@bp.route("/campaigns/<int:campaign_id>/edit/<step>", methods=["GET", "POST"])
@roles(*APPLICANT_ROLES)
def edit_step(campaign_id: int, step: str) -> Any:
    if step not in FORM_STEPS and step != "documents":
        abort(404)
    campaign = _campaign_for_applicant(campaign_id)
    if campaign.state != S.DRAFT:
        error = IllegalTransition(_("Only a draft can be edited. This campaign has been submitted."))
        if request.method == "GET":
            flash(error.message, "error")
            return redirect(url_for("family.review", campaign_id=campaign.id))
        return _refused(campaign, error)
    form = _step_form(step, campaign)
    if request.method == "GET":
        return _render_step(step, campaign, form)

    valid = form.validate_on_submit()
    if step == "patient":
        valid = check_against_stored_id(form, campaign) and valid
    files, files_ok = _read_uploads(form, UPLOAD_FIELDS.get(step, ()))
    if valid and files_ok:
        try:
            save_step(campaign, current_account(), step_data(form, step, campaign), files)
        except ValidationFailed as error:
            apply_field_errors(form, error)
        except IllegalTransition as error:
            return _refused(campaign, error)
        else:
            flash(_("Saved."), "success")
            return _after_save(campaign, step)
    return _render_step(step, campaign, form, 422)


def _after_save(campaign: Campaign, step: str) -> Response:
    if request.form.get("go") == "later":
        flash(_("Your draft is saved. You can come back to it at any time."), "info")
        return redirect(_home())
    if request.form.get("go") == "stay":
        return redirect(step_url(campaign, step))
    return redirect(step_url(campaign, next_step(step)))


@bp.route("/campaigns/<int:campaign_id>/documents/<int:document_id>/remove", methods=["POST"])
@roles(*APPLICANT_ROLES)
def remove_document(campaign_id: int, document_id: int) -> Any:
    campaign = _campaign_for_applicant(campaign_id)
    document = db.session.get(Document, document_id)
    if document is None or document.campaign_id != campaign.id:
        raise NotFound(_("No such file."))
    back = "story" if document.kind == DocumentKind.PHOTO else "documents"
    if ConfirmForm().validate_on_submit():
        try:
            remove(campaign, current_account(), document_id)
        except IllegalTransition as error:
            return _refused(campaign, error)
        flash(_("The file was removed."), "info")
    return redirect(step_url(campaign, back))


# --- review, submit and the later actions -------------------------------------------------------------


def _render_review(
    campaign: Campaign,
    status: int = 200,
    missing: dict[str, list[str]] | None = None,
    consent_forms: dict[str, Any] | None = None,
) -> Any:
    if missing is None:
        missing = (
            {**missing_items(campaign), **missing_consents(campaign)} if campaign.state == S.DRAFT else {}
        )
    return (
        render_template(
            "family/review.html",
            campaign=campaign,
            nav=step_nav(campaign, "review") if campaign.state == S.DRAFT else [],
            missing=missing_list(missing),
            actions={t.name for t in available_transitions(campaign, current_account())},
            can_update=can_post_update(current_account(), campaign),
            action_form=ConfirmForm(formdata=None),
            relationship_labels=RELATIONSHIP_LABELS,
            sex_labels=SEX_LABELS,
            evidence_kinds=EVIDENCE_KINDS,
            field_steps=FIELD_STEPS,
            consent=consent_panel(campaign, current_account(), consent_forms),
        ),
        status,
    )


def _refused(campaign: Campaign, error: DomainError) -> Any:
    """An action the campaign's state does not allow: say so on the campaign's page (the service changed
    nothing)."""
    flash(error.message, "error")
    return _render_review(campaign, error.status)


@bp.route("/campaigns/<int:campaign_id>/review")
@roles(*APPLICANT_ROLES)
def review(campaign_id: int) -> Any:
    return _render_review(_campaign_for_applicant(campaign_id))


@bp.route("/campaigns/<int:campaign_id>/submit", methods=["POST"])
@roles(*APPLICANT_ROLES)
def submit(campaign_id: int) -> Any:
    campaign = _campaign_for_applicant(campaign_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        transition(campaign, "submit", actor=current_account())
    except ValidationFailed as error:
        flash(error.message, "error")
        return _render_review(campaign, 422, missing=error.fields)
    except IllegalTransition as error:
        return _refused(campaign, error)
    flash(
        _("Submitted. Verification has started; you will get a notification when the state changes."),
        "success",
    )
    return redirect(_home())


def _simple_transition(campaign_id: int, name: str, done: str) -> Any:
    campaign = _campaign_for_applicant(campaign_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        transition(campaign, name, actor=current_account())
    except (IllegalTransition, ValidationFailed) as error:
        return _refused(campaign, error)
    flash(done, "success")
    return redirect(_home())


@bp.route("/campaigns/<int:campaign_id>/open", methods=["POST"])
@roles(*APPLICANT_ROLES)
def open_fundraising(campaign_id: int) -> Any:
    return _simple_transition(
        campaign_id, "open_fundraising", _("Fundraising is open. The campaign takes donations now.")
    )


@bp.route("/campaigns/<int:campaign_id>/close", methods=["POST"])
@roles(*APPLICANT_ROLES)
def close(campaign_id: int) -> Any:
    return _simple_transition(campaign_id, "close", _("Fundraising is closed. No new donations are taken."))


@bp.route("/campaigns/<int:campaign_id>/cancel", methods=["GET", "POST"])
@roles(*APPLICANT_ROLES)
def cancel(campaign_id: int) -> Any:
    campaign = _campaign_for_applicant(campaign_id)
    form = CancelForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                transition(campaign, "cancel", actor=current_account(), reason=form.reason.data or "")
            except ValidationFailed as error:
                apply_field_errors(form, error)
            except IllegalTransition as error:
                return _refused(campaign, error)
            else:
                flash(_("The campaign was cancelled."), "info")
                return redirect(_home())
        status = 422
    allowed = any(t.name == "cancel" for t in available_transitions(campaign, current_account()))
    return render_template("family/cancel.html", campaign=campaign, form=form, allowed=allowed), status


@bp.route("/campaigns/<int:campaign_id>/updates", methods=["GET", "POST"])
@roles(*APPLICANT_ROLES)
def updates(campaign_id: int) -> Any:
    campaign = _campaign_for_applicant(campaign_id)
    form = UpdateForm()
    status = 200
    if request.method == "POST":
        valid = form.validate_on_submit()
        files, files_ok = _read_uploads(form, ("photos",))
        if valid and files_ok:
            try:
                post_update(
                    campaign, current_account(), form.body.data or "", [upload for _kind, upload in files]
                )
            except ValidationFailed as error:
                apply_field_errors(form, error)
            except IllegalTransition as error:
                return _refused(campaign, error)
            else:
                flash(_("Your update is posted."), "success")
                return redirect(url_for("family.updates", campaign_id=campaign.id))
        status = 422
    return (
        render_template(
            "family/updates.html",
            campaign=campaign,
            form=form,
            can_update=can_post_update(current_account(), campaign),
        ),
        status,
    )

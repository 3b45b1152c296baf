"""The hospital social worker's pages: the campaigns of their hospital, confirming a patient's stay, and
filing a campaign on behalf of a family (the filing steps themselves are the family pages, shared)."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from fundraise.access import current_account, roles
from fundraise.errors import IllegalTransition, ValidationFailed
from fundraise.extensions import db
from fundraise.family.routes import my_notifications
from fundraise.family.steps import step_url
from fundraise.hospital.forms import ConfirmStayForm, FamilyAccountForm
from fundraise.models import Campaign, CampaignState, Role, User
from fundraise.services.campaigns import get_campaign
from fundraise.services.filing import confirm_stay, open_case_for_family, treated_out_of_region
from fundraise.web.forms import apply_field_errors

bp = Blueprint("hospital", __name__, url_prefix="/hospital")

# Long enough to be safe, short enough to read out or write down for the family.
TEMPORARY_PASSWORD_BYTES = 9


@bp.route("/")
@roles(Role.SOCIAL_WORKER)
def dashboard() -> Any:
    campaigns = db.session.scalars(
        select(Campaign)
        .where(Campaign.hospital_id == current_user.hospital_id, Campaign.state != CampaignState.CANCELLED)
        .order_by(Campaign.updated_at.desc())
    ).all()
    return render_template(
        "hospital/dashboard.html",
        campaigns=campaigns,
        notifications=my_notifications(),
        action_form=ConfirmStayForm(formdata=None),
        ready_to_confirm=ready_to_confirm,
        needs_confirming=needs_confirming,
        treated_out_of_region=treated_out_of_region,
    )


def ready_to_confirm(campaign: Campaign) -> bool:
    """A worker confirms the stay and the cost estimate together, so both must be on file first."""
    return campaign.admitted_on is not None and bool(campaign.cost_total_fen)


def needs_confirming(campaign: Campaign) -> bool:
    """The stay is not confirmed yet, or the family's referral answer is (a changed answer, a new one)."""
    if campaign.state in (CampaignState.REJECTED, CampaignState.CLOSED):
        return False
    return campaign.stay_confirmed_at is None or (
        campaign.referral_filed is not None and campaign.referral_confirmed_at is None
    )


@bp.route("/campaigns/<int:campaign_id>/confirm-stay", methods=["POST"])
@roles(Role.SOCIAL_WORKER)
def confirm(campaign_id: int) -> Any:
    campaign = get_campaign(campaign_id, current_account())  # 404 for a draft the worker may not see
    form = ConfirmStayForm()
    if not form.validate_on_submit():
        for message in form.referral_filed.errors:
            flash(message, "error")
        return redirect(url_for(".dashboard"))
    if (
        campaign.hospital_id == current_user.hospital_id
        and campaign.stay_confirmed_at is None
        and not ready_to_confirm(campaign)
    ):
        flash(_("Confirm the stay once the admission date and the cost estimate are filed."), "error")
    else:
        answer = {"yes": True, "no": False}.get(form.referral_filed.data or "")
        try:
            confirm_stay(
                campaign, current_account(), referral_filed=answer
            )  # 403 for another hospital's patient
        except (IllegalTransition, ValidationFailed) as error:
            flash(error.message, "error")
        else:
            flash(
                _("You confirmed the stay of %(name)s.", name=campaign.patient_name or _("the patient")),
                "success",
            )
    return redirect(url_for(".dashboard"))


@bp.route("/families/new", methods=["GET", "POST"])
@roles(Role.SOCIAL_WORKER)
def new_family() -> Any:
    """Find the family's account by e-mail or open one, then start a draft at this worker's hospital."""
    form = FamilyAccountForm()
    if request.method == "POST":
        if form.validate_on_submit():
            email = (form.email.data or "").strip().lower()
            family = db.session.scalar(select(User).where(func.lower(User.email) == email))
            password = None
            if family is not None and family.role != Role.FAMILY:
                form.email.errors = [
                    _("This e-mail belongs to an account that is not a family account. Use another e-mail.")
                ]
            elif family is None and not (form.name.data or "").strip():
                form.name.errors = [_("No account uses this e-mail yet. Enter a name to open one.")]
            else:
                try:
                    new_password = secrets.token_urlsafe(TEMPORARY_PASSWORD_BYTES) if family is None else None
                    family, campaign = open_case_for_family(
                        current_account(),
                        family,
                        email=email,
                        name=form.name.data or "",
                        phone=form.phone.data,
                        password=new_password or "",
                    )
                    password = new_password
                except ValidationFailed as error:
                    apply_field_errors(form, error)
                else:
                    response = make_response(
                        render_template(
                            "hospital/family_ready.html",
                            family=family,
                            password=password,
                            campaign=campaign,
                            next_url=step_url(campaign, "patient"),
                        )
                    )
                    # The temporary password is on this page only: never cached, never shown again.
                    response.headers["Cache-Control"] = "no-store"
                    return response
        return render_template("hospital/new_family.html", form=form), 422
    return render_template("hospital/new_family.html", form=form)

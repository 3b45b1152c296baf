"""Work queues for charity staff (case reviews; reports are in staff/reports.py) and the civil-affairs
officer's regional list."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from fundraise.access import roles
from fundraise.errors import DomainError, NotFound, ValidationFailed
from fundraise.extensions import db
from fundraise.models import Campaign, CampaignState, Role
from fundraise.pagination import Page, parse_page
from fundraise.public.presenters import staff_timeline, template_helpers
from fundraise.services import access_log, campaign_reports
from fundraise.services.filing import reveal_id_number
from fundraise.services.transitions import transition
from fundraise.staff.forms import ConfirmForm, DecisionForm

bp = Blueprint("staff", __name__, url_prefix="/staff")
bp.context_processor(template_helpers)

S = CampaignState
REVIEWERS = (Role.CHARITY_STAFF, Role.ADMIN)
DECISIONS = {"approve": "verify", "reject": "reject"}
# States in which a reviewer can still decide a case.
DECIDABLE = (S.VERIFYING, S.NEEDS_REVIEW)
REGION_PAGE_SIZE = 50


@bp.route("/")
@roles(Role.CHARITY_STAFF, Role.ADMIN, Role.CIVIL_AFFAIRS_OFFICER)
def dashboard() -> Any:
    counts: dict[str, int] = {}
    region_counts: dict[str, int] = {}
    if current_user.role in REVIEWERS:
        by_state = _state_counts(None)
        counts = {
            "needs_review": by_state.get(S.NEEDS_REVIEW, 0),
            "open_reports": campaign_reports.open_report_count(),
            "suspended": by_state.get(S.SUSPENDED, 0),
            "fundraising": by_state.get(S.FUNDRAISING, 0),
        }
    if current_user.role == Role.CIVIL_AFFAIRS_OFFICER:
        region_counts = _state_counts(current_user.jurisdiction_prefix or "")
        region_counts.pop(S.DRAFT, None)
    return render_template("staff/dashboard.html", counts=counts, region_counts=region_counts)


def _state_counts(region_prefix: str | None) -> dict[str, int]:
    query = select(Campaign.state, func.count(Campaign.id)).group_by(Campaign.state)
    if region_prefix is not None:
        query = query.where(Campaign.patient_region_code.startswith(region_prefix, autoescape=True))
    return {state: count for state, count in db.session.execute(query).all()}


# --- case reviews ----------------------------------------------------------------------------------------


@bp.route("/reviews")
@roles(*REVIEWERS)
def reviews() -> Any:
    queue = db.session.scalars(
        select(Campaign)
        .where(Campaign.state == S.NEEDS_REVIEW)
        .options(selectinload(Campaign.hospital), selectinload(Campaign.disease))
        .order_by(Campaign.state_changed_at, Campaign.id)
    ).all()
    return render_template("staff/reviews.html", queue=queue)


def _case(campaign_id: int) -> Campaign:
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(_("We could not find that campaign."))
    return campaign


def _review_page(
    campaign: Campaign,
    form: DecisionForm | None = None,
    *,
    revealed_id: str | None = None,
    status: int = 200,
) -> Any:
    response = current_app.make_response(
        (
            render_template(
                "staff/review.html",
                campaign=campaign,
                form=form or DecisionForm(formdata=None),
                can_decide=campaign.state in DECIDABLE,
                reveal_form=ConfirmForm(formdata=None),
                revealed_id=revealed_id,
                timeline=staff_timeline(campaign),
                open_reports=campaign_reports.open_report_count(campaign.id),
            ),
            status,
        )
    )
    # The page carries personal data (and maybe the full ID number): keep it out of shared caches.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/reviews/<int:campaign_id>")
@roles(*REVIEWERS)
def review(campaign_id: int) -> Any:
    campaign = _case(campaign_id)
    response = _review_page(campaign)
    access_log.record_finances_view(campaign, current_user)  # the page shows the full finances
    return response


@bp.route("/reviews/<int:campaign_id>/decide", methods=["POST"])
@roles(*REVIEWERS)
def decide(campaign_id: int) -> Any:
    campaign = _case(campaign_id)
    form = DecisionForm()
    if not form.validate_on_submit():
        return _review_page(campaign, form, status=422)
    try:
        transition(
            campaign, DECISIONS[form.decision.data or ""], actor=current_user, reason=form.reason.data or ""
        )
    except ValidationFailed as error:
        for name, messages in error.fields.items():
            getattr(form, name, form.reason).errors = list(messages)
        return _review_page(campaign, form, status=422)
    except DomainError as error:
        # Deciding twice, or a case that moved on meanwhile: nothing was written.
        flash(error.message, "error")
        return redirect(url_for("staff.review", campaign_id=campaign.id))
    if campaign.state == S.VERIFIED:
        flash(_("The case is verified. The family can now open fundraising."), "success")
    else:
        flash(_("The case was not approved. The family has been told why."), "info")
    return redirect(url_for("staff.reviews"))


@bp.route("/reviews/<int:campaign_id>/reveal-id", methods=["POST"])
@roles(*REVIEWERS)
def reveal_id(campaign_id: int) -> Any:
    campaign = _case(campaign_id)
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for("staff.review", campaign_id=campaign.id))
    try:
        number = reveal_id_number(campaign, current_user)
    except DomainError as error:
        flash(error.message, "error")
        return redirect(url_for("staff.review", campaign_id=campaign.id))
    return _review_page(campaign, revealed_id=number)


# --- the civil-affairs officer's region ------------------------------------------------------------------


@bp.route("/region")
@roles(Role.CIVIL_AFFAIRS_OFFICER)
def region() -> Any:
    prefix = current_user.jurisdiction_prefix or ""
    query = select(Campaign).where(
        Campaign.state != S.DRAFT, Campaign.patient_region_code.startswith(prefix, autoescape=True)
    )
    state = request.args.get("state")
    if state in S._value2member_map_ and state != S.DRAFT:
        query = query.where(Campaign.state == state)
    else:
        state = None
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page: Page[Campaign] = Page(
        items=[], number=parse_page(request.args.get("page")), per_page=REGION_PAGE_SIZE, total=total
    )
    if page.number > page.pages:
        page.number = 1
    page.items = list(
        db.session.scalars(
            query.options(selectinload(Campaign.hospital), selectinload(Campaign.patient_region))
            .order_by(Campaign.state_changed_at.desc(), Campaign.id.desc())
            .limit(REGION_PAGE_SIZE)
            .offset((page.number - 1) * REGION_PAGE_SIZE)
        )
    )
    states = [s for s in S if s != S.DRAFT]
    return render_template("staff/region.html", page=page, state=state, states=states)

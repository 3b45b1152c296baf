"""Verification pages: the family's report, and the template globals that show reports on other pages.

The staff's tools (changed outcomes, running the checks again, acknowledging a change, the records import)
are in fundraise/staff/verification.py.

Civil-affairs officers read the report of a campaign whose patient is registered in their region, on a page
of its own: the same checks and records as the reviewer's panel, with nothing that changes anything.

The charity staff's review page (fundraise/staff/routes.py) and the public campaign page show the report
through the template globals registered by `init_app`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, render_template
from flask_babel import gettext as _

from fundraise.access import current_account, in_jurisdiction, is_applicant_side, roles
from fundraise.errors import Forbidden, NotFound
from fundraise.models import Role
from fundraise.public.presenters import template_helpers
from fundraise.services import access_log, verification_reports
from fundraise.services import campaigns as campaign_service
from fundraise.verification_pages.presenters import (
    latest_view,
    public_breakdown,
    report_view,
    snapshot_cards,
)
from fundraise.verification_text import DECISION_LABELS, DECISION_TONES, TRIGGER_LABELS

bp = Blueprint("verification", __name__)
bp.context_processor(template_helpers)

REVIEWERS = (Role.CHARITY_STAFF, Role.ADMIN)
IMPORTERS = (Role.CIVIL_AFFAIRS_OFFICER, Role.ADMIN)
# Row faults listed on the page; the downloadable report has them all.
SHOWN_ERRORS = 50


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.jinja_env.globals.update(
        verification_latest=latest_view,
        verification_public=public_breakdown,
        verification_snapshot=snapshot_cards,
        verification_history=verification_reports.report_history,
        verification_changed_count=verification_reports.changed_count,
        decision_label=lambda decision: DECISION_LABELS.get(decision, decision),
        decision_tone=lambda decision: DECISION_TONES.get(decision, "muted"),
        trigger_label=lambda trigger: TRIGGER_LABELS.get(trigger, trigger),
    )


# --- the family's report ---------------------------------------------------------------------------------


@bp.route("/family/campaigns/<int:campaign_id>/verification")
@roles(Role.FAMILY, Role.SOCIAL_WORKER)
def family_report(campaign_id: int) -> Any:
    campaign = campaign_service.get_campaign(campaign_id, current_account())
    if not is_applicant_side(current_account(), campaign):
        raise NotFound(_("We could not find that campaign."))
    reports = verification_reports.report_history(campaign.id)
    view = report_view(reports[0], campaign) if reports else None
    response = Response(
        render_template("verification/family_report.html", campaign=campaign, view=view, history=reports)
    )
    response.headers["Cache-Control"] = "no-store"
    return response


# --- the officer's reading of it -------------------------------------------------------------------------


@bp.route("/staff/region/campaigns/<int:campaign_id>/verification")
@roles(Role.CIVIL_AFFAIRS_OFFICER)
def officer_report(campaign_id: int) -> Any:
    """The latest report of a campaign in the officer's region, read-only: no decision, no acknowledging, no
    running the checks again (those stay with charity staff)."""
    officer = current_account()
    # A campaign the officer may not see at all is not found, as everywhere; a public one outside the region
    # is refused.
    campaign = campaign_service.get_campaign(campaign_id, officer)
    if not in_jurisdiction(officer, campaign):
        raise Forbidden(_("This campaign's patient is not registered in your region."))
    response = Response(
        render_template("verification/officer_report.html", campaign=campaign, read_only=True)
    )
    access_log.record_finances_view(campaign, officer)  # the checks show the disclosed finances
    # The page carries personal data (checks with ID details, household records): keep it out of shared caches.
    response.headers["Cache-Control"] = "no-store"
    return response

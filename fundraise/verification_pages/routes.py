"""Verification pages: the family's report, the records import for officers, and the staff's tools for
changed outcomes (the list, running the checks again, acknowledging a change).

The charity staff's review page (fundraise/staff/routes.py) and the public campaign page show the report
through the template globals registered by `init_app`.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from flask import Blueprint, Flask, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from fundraise.access import current_account, is_applicant_side, roles
from fundraise.auth.forms import ConfirmForm
from fundraise.errors import DomainError, NotFound
from fundraise.extensions import db
from fundraise.models import Role, VerificationReport, VerificationTrigger
from fundraise.public.presenters import template_helpers
from fundraise.services import campaigns as campaign_service
from fundraise.services import records_import, verification, verification_reports
from fundraise.verification_pages.forms import KIND_LABELS, RecordsImportForm
from fundraise.verification_pages.presenters import (
    latest_view,
    public_breakdown,
    report_view,
    snapshot_cards,
)
from fundraise.verification_text import DECISION_LABELS, DECISION_TONES, TRIGGER_LABELS
from fundraise.web.redirects import next_from_request

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


# --- staff: changed outcomes, checks run again -----------------------------------------------------------


@bp.route("/staff/verification/changed")
@roles(*REVIEWERS)
def changed() -> Any:
    return render_template("verification/changed.html", reports=verification_reports.changed_reports())


@bp.route("/staff/reviews/<int:campaign_id>/verify-again", methods=["POST"])
@roles(*REVIEWERS)
def verify_again(campaign_id: int) -> Any:

    if ConfirmForm().validate_on_submit():
        before = verification_reports.latest_report(campaign_id)
        try:
            report = verification.verify_campaign(
                campaign_id, trigger=VerificationTrigger.MANUAL, actor=current_account()
            )
        except DomainError as error:
            flash(error.message, "error")
        else:
            if before is None or report.id != before.id:
                flash(_("The checks ran again and a new report was stored."), "success")
            else:
                flash(_("The checks ran again and found nothing new; the latest report stands."), "info")
    return redirect(url_for("staff.review", campaign_id=campaign_id, _anchor="verification"))


@bp.route("/staff/verification/reports/<int:report_id>/acknowledge", methods=["POST"])
@roles(*REVIEWERS)
def acknowledge(report_id: int) -> Any:

    report = db.session.get(VerificationReport, report_id)
    if report is None:
        raise NotFound(_("No such report."))
    if ConfirmForm().validate_on_submit():
        verification_reports.acknowledge(report, current_account())
        flash(_("Marked as seen. The case leaves the list of changed outcomes."), "info")
    return redirect(next_from_request(url_for("verification.changed")))


# --- records import --------------------------------------------------------------------------------------


def _format(form: RecordsImportForm, filename: str) -> str | None:
    if form.file_format.data:
        return str(form.file_format.data)
    suffix = PurePath(filename).suffix.lower().lstrip(".")
    return suffix if suffix in records_import.FORMATS else None


@bp.route("/staff/records", methods=["GET", "POST"])
@roles(*IMPORTERS)
def records() -> Any:
    form = RecordsImportForm()
    result = None
    status = 200
    if request.method == "POST":
        status = 422
        if form.validate_on_submit():
            upload = form.file.data
            fmt = _format(form, upload.filename or "")
            if fmt is None:
                form.file_format.errors = [_("Say whether the file is CSV or JSON.")]
            else:
                try:
                    result = records_import.import_feed(
                        form.kind.data or "",
                        upload.read(),
                        fmt,
                        current_account(),
                        source_name=upload.filename or "upload",
                    )
                except DomainError as error:
                    flash(error.message, "error")
                else:
                    status = 200 if result.accepted else 422
    return (
        render_template(
            "verification/records.html",
            form=form,
            result=result,
            shown_errors=SHOWN_ERRORS,
            batches=records_import.recent_batches(current_account()),
            kind_labels={kind.value: label for kind, label in KIND_LABELS.items()},
        ),
        status,
    )


@bp.route("/staff/records/batches/<int:batch_id>/errors.csv")
@roles(*IMPORTERS)
def batch_errors(batch_id: int) -> Any:
    batch = records_import.batch_for(batch_id, current_account())
    # A BOM so spreadsheet programs read the UTF-8 (names, messages) correctly.
    body = "\ufeff" + records_import.error_report_csv(batch)
    return Response(
        body,
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="batch-{batch.id}-errors.csv"',
            "Cache-Control": "no-store",
        },
    )

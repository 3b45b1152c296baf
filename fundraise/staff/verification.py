"""Staff pages for verification, on the staff blueprint.

- /staff/verification/changed: cases whose automatic checks now give a different result (charity staff, admins).
- /staff/reviews/<id>/verify-again: run the checks again with the records and rules on file now.
- /staff/verification/reports/<id>/acknowledge: mark a changed outcome as seen.
- /staff/records, /staff/records/batches/<id>/errors.csv: the records import and a refused batch's faults
  (civil-affairs officers and admins).
"""

from __future__ import annotations

from typing import Any

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from fundraise.access import current_account, roles
from fundraise.auth.forms import ConfirmForm
from fundraise.errors import DomainError, NotFound
from fundraise.extensions import db
from fundraise.models import Role, VerificationReport, VerificationTrigger
from fundraise.records_text import read_as, row_error_message
from fundraise.services import records_import, verification, verification_reports
from fundraise.staff.forms import KIND_LABELS, RecordsImportForm
from fundraise.staff.routes import bp
from fundraise.web.redirects import next_from_request

VERIFICATION_REVIEWERS = (Role.CHARITY_STAFF, Role.ADMIN)
RECORDS_IMPORTERS = (Role.CIVIL_AFFAIRS_OFFICER, Role.ADMIN)
# Row faults listed on the page; the downloadable report has them all.
SHOWN_ERRORS = 50


@bp.route("/verification/changed")
@roles(*VERIFICATION_REVIEWERS)
def verification_changed() -> Any:
    return render_template("verification/changed.html", reports=verification_reports.changed_reports())


@bp.route("/reviews/<int:campaign_id>/verify-again", methods=["POST"])
@roles(*VERIFICATION_REVIEWERS)
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


@bp.route("/verification/reports/<int:report_id>/acknowledge", methods=["POST"])
@roles(*VERIFICATION_REVIEWERS)
def acknowledge_report(report_id: int) -> Any:

    report = db.session.get(VerificationReport, report_id)
    if report is None:
        raise NotFound(_("No such report."))
    if ConfirmForm().validate_on_submit():
        verification_reports.acknowledge(report, current_account())
        flash(_("Marked as seen. The case leaves the list of changed outcomes."), "info")
    return redirect(next_from_request(url_for("staff.verification_changed")))


# --- records import --------------------------------------------------------------------------------------


@bp.route("/records", methods=["GET", "POST"])
@roles(*RECORDS_IMPORTERS)
def records() -> Any:
    form = RecordsImportForm()
    result = None
    status = 200
    if request.method == "POST":
        status = 422
        if form.validate_on_submit():
            upload = form.file.data
            data = upload.read()
            fmt = records_import.feed_format(upload.filename or "", form.file_format.data or None, data)
            if fmt is None:
                form.file_format.errors = [_("Say whether the file is CSV, JSON or Excel (.xlsx).")]
            else:
                try:
                    result = records_import.import_feed(
                        form.kind.data or "",
                        data,
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
            row_error_message=row_error_message,
            read_as=read_as,
        ),
        status,
    )


@bp.route("/records/batches/<int:batch_id>/errors.csv")
@roles(*RECORDS_IMPORTERS)
def records_errors(batch_id: int) -> Any:
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

"""The family's answer when charity staff ask for more evidence about a report, on the family blueprint.

- /family/campaigns/<id>/reports/<report_id>/evidence: what staff ask, by when, a text box and files. The
  family (or its social worker) sees the request only, never who reported the campaign or what they wrote.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

from fundraise.access import current_account, roles
from fundraise.errors import DomainError, NotFound, ValidationFailed
from fundraise.family.routes import APPLICANT_ROLES, _campaign_for_applicant, _home, _read_uploads, bp
from fundraise.models import Campaign, CampaignReport, DocumentKind
from fundraise.services import campaign_reports
from fundraise.web.forms import apply_field_errors


class EvidenceAnswerForm(FlaskForm):  # type: ignore[misc]  # FlaskForm is untyped (Any), as in the forms modules
    response_text = TextAreaField(
        _l("Your answer"),
        validators=[
            DataRequired(_l("Write your answer.")),
            Length(
                min=campaign_reports.EVIDENCE_MIN,
                max=campaign_reports.EVIDENCE_MAX,
                message=_l("Write %(min)d to %(max)d characters."),
            ),
        ],
        description=_l("Only charity staff read this. Say what each file shows."),
    )
    files = MultipleFileField(
        _l("Files (optional)"),
        description=_l("PDF, JPEG or PNG: certificates, bills, statements."),
        render_kw={"accept": ".pdf,.jpg,.jpeg,.png,application/pdf,image/jpeg,image/png"},
    )


def _evidence_requests(campaign: Campaign) -> list[CampaignReport]:
    return campaign_reports.evidence_requests_for(campaign.id)


@bp.context_processor
def evidence_helpers() -> dict[str, Any]:
    """The dashboard links each campaign's open requests for evidence."""
    return {"evidence_requests": _evidence_requests}


def _report_for(campaign: Campaign, report_id: int) -> CampaignReport:
    """The campaign's report on which staff asked for evidence; 404 otherwise."""
    report = campaign_reports.get_report(report_id)
    if report.campaign_id != campaign.id or not report.evidence_request:
        raise NotFound(_("We could not find that request."))
    return report


@bp.route("/campaigns/<int:campaign_id>/reports/<int:report_id>/evidence", methods=["GET", "POST"])
@roles(*APPLICANT_ROLES)
def evidence(campaign_id: int, report_id: int) -> Any:
    campaign = _campaign_for_applicant(campaign_id)
    report = _report_for(campaign, report_id)
    form = EvidenceAnswerForm()
    status = 200
    if request.method == "POST":
        valid = form.validate_on_submit()
        files, files_ok = _read_uploads(form, ("files",))
        if valid and files_ok:
            try:
                campaign_reports.answer_evidence(
                    report, current_account(), form.response_text.data or "", [upload for _k, upload in files]
                )
            except ValidationFailed as error:
                apply_field_errors(form, error, {DocumentKind.REPORT_EVIDENCE.value: "files"})
            except DomainError as error:
                flash(error.message, "error")
                return redirect(url_for("family.evidence", campaign_id=campaign.id, report_id=report.id))
            else:
                flash(_("Thank you. Your answer was sent to charity staff."), "success")
                return redirect(_home())
        status = 422
    return (
        render_template(
            "family/evidence.html",
            campaign=campaign,
            report=report,
            form=form,
            open=report.status == "evidence_requested",
            overdue=campaign_reports.is_overdue(report),
        ),
        status,
    )

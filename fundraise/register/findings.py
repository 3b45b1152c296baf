"""Register pages for spot checks: reproducible random samples of an officer's recipients, findings about
recipients (open → resolved, with files), and the findings' CSV and the printable PDF summary for the file.

Officers draw samples and record and resolve findings in their jurisdiction only; charity staff and admins
read every sample and finding and change none. What another jurisdiction holds answers 404.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import IntegerField, RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from fundraise.access import current_account, roles
from fundraise.csv_export import csv_lines
from fundraise.downloads import csv_attachment
from fundraise.errors import IllegalTransition, ValidationFailed
from fundraise.extensions import db
from fundraise.models import Campaign, Finding, FindingStatus, RegisterSample, Role
from fundraise.pagination import parse_page
from fundraise.register.routes import bp
from fundraise.register.summary_pdf import summary_pdf
from fundraise.register_text import FINDING_STATUSES
from fundraise.services import findings, sampling
from fundraise.services.documents import read_upload
from fundraise.web.forms import apply_field_errors

OFFICER = Role.CIVIL_AFFAIRS_OFFICER
READERS = (Role.CIVIL_AFFAIRS_OFFICER, Role.CHARITY_STAFF, Role.ADMIN)
PER_PAGE = 50
BYTE_ORDER_MARK = "\ufeff"


class SampleForm(FlaskForm):  # type: ignore[misc]  # flask_wtf is untyped: FlaskForm is Any
    method = RadioField(
        _l("Draw"),
        choices=[
            SelectChoice("size", _l("A number of recipients")),
            SelectChoice("share", _l("A share of the recipients")),
        ],
        default="size",
        validators=[InputRequired()],
    )
    size = IntegerField(
        _l("How many recipients"),
        validators=[Optional(), NumberRange(min=1, max=sampling.MAX_SAMPLE_SIZE)],
    )
    share_percent = IntegerField(
        _l("Share, in per cent"), validators=[Optional(), NumberRange(min=1, max=100)]
    )
    seed = IntegerField(
        _l("Seed"),
        validators=[Optional(), NumberRange(min=0, max=sampling.MAX_SEED)],
        description=_l(
            "Leave empty for a random seed. The same seed over the same recipients draws the same sample."
        ),
    )


class FindingForm(FlaskForm):  # type: ignore[misc]  # flask_wtf is untyped: FlaskForm is Any
    title = StringField(_l("Title"), validators=[InputRequired(), Length(max=findings.TITLE_MAX)])
    note = TextAreaField(_l("What you found"), validators=[Optional(), Length(max=findings.NOTE_MAX)])
    files = MultipleFileField(
        _l("Files"), description=_l("PDF, JPEG or PNG: letters, records, photos of what you checked.")
    )


class ResolveForm(FlaskForm):  # type: ignore[misc]  # flask_wtf is untyped: FlaskForm is Any
    resolution = TextAreaField(
        _l("How it was resolved"),
        validators=[InputRequired(), Length(min=findings.RESOLUTION_MIN, max=findings.RESOLUTION_MAX)],
    )


def _context() -> dict[str, Any]:
    return {"finding_status_label": lambda status: FINDING_STATUSES.get(status, status)}


# --- samples ---------------------------------------------------------------------------------------------


@bp.route("/register/samples", methods=["GET"])
@roles(*READERS)
def samples() -> Any:
    return _samples_page(SampleForm(formdata=None))


def _samples_page(form: SampleForm, status: int = 200) -> Any:
    user = current_account()
    return (
        render_template(
            "register/sample.html",
            sample=None,
            form=form,
            may_draw=user.role == OFFICER,
            samples=sampling.recent_samples(user),
            **_context(),
        ),
        status,
    )


@bp.route("/register/samples", methods=["POST"])
@roles(OFFICER)
def draw_sample() -> Any:
    form = SampleForm()
    if not form.validate_on_submit():
        return _samples_page(form, 422)
    by_share = form.method.data == "share"
    try:
        sample = sampling.draw_sample(
            current_account(),
            size=None if by_share else form.size.data,
            share_percent=form.share_percent.data if by_share else None,
            seed=form.seed.data,
        )
    except ValidationFailed as error:
        apply_field_errors(form, error)
        return _samples_page(form, 422)
    flash(_("Sample drawn with seed %(seed)s.", seed=sample.seed), "success")
    return redirect(url_for("register.sample", sample_id=sample.id), 303)


@bp.route("/register/samples/<int:sample_id>")
@roles(*READERS)
def sample(sample_id: int) -> Any:
    user = current_account()
    found = sampling.get_sample(sample_id, user)
    campaigns = sampling.sampled_campaigns(found)
    finding_counts = _finding_counts(found)
    return render_template(
        "register/sample.html",
        sample=found,
        campaigns=campaigns,
        finding_counts=finding_counts,
        may_record=user.role == OFFICER,
        **_context(),
    )


def _finding_counts(sample: RegisterSample) -> dict[int, int]:
    counts: dict[int, int] = {}
    for finding in db.session.scalars(db.select(Finding).where(Finding.sample_id == sample.id)):
        counts[finding.campaign_id] = counts.get(finding.campaign_id, 0) + 1
    return counts


# --- findings --------------------------------------------------------------------------------------------


def _status_filter() -> str | None:
    status = request.args.get("status")
    return status if status in FINDING_STATUSES else None


@bp.route("/register/findings")
@roles(*READERS)
def findings_list() -> Any:
    user = current_account()
    status = _status_filter()
    page = findings.list_findings(
        user, status=status, page=parse_page(request.args.get("page")), per_page=PER_PAGE
    )
    return render_template(
        "register/findings.html",
        page=page,
        status=status,
        statuses=FINDING_STATUSES,
        counts=findings.status_counts(user),
        may_record=user.role == OFFICER,
        **_context(),
    )


def _new_finding_page(campaign: Campaign, sample_id: int | None, form: FindingForm, status: int = 200) -> Any:
    return (
        render_template(
            "register/finding.html",
            finding=None,
            campaign=campaign,
            sample_id=sample_id,
            form=form,
            **_context(),
        ),
        status,
    )


@bp.route("/register/findings/new", methods=["GET", "POST"])
@roles(OFFICER)
def new_finding() -> Any:
    actor = current_account()
    campaign_id = request.args.get("campaign_id", type=int)
    sample_id = request.args.get("sample_id", type=int)
    if campaign_id is None:
        flash(_("Choose the recipient first: open a finding from the register or a sample."), "info")
        return redirect(url_for("register.findings_list"))
    campaign = findings.recipient_for(campaign_id, actor)
    form = FindingForm()
    if not form.validate_on_submit():
        return _new_finding_page(campaign, sample_id, form, 422 if form.is_submitted() else 200)
    try:
        files = [
            read_upload(upload.stream, upload.filename or "upload", "files")
            for upload in request.files.getlist(form.files.name)
            if upload and upload.filename
        ]
        finding = findings.record_finding(
            campaign_id,
            actor,
            findings.FindingInput(
                title=form.title.data or "", note=form.note.data or "", sample_id=sample_id
            ),
            files,
        )
    except ValidationFailed as error:
        apply_field_errors(form, error, {"finding_attachment": "files"})
        return _new_finding_page(campaign, sample_id, form, 422)
    flash(_("Finding recorded."), "success")
    return redirect(url_for("register.finding", finding_id=finding.id), 303)


def _finding_page(finding: Finding, form: ResolveForm, status: int = 200) -> Any:
    user = current_account()
    return (
        render_template(
            "register/finding.html",
            finding=finding,
            campaign=finding.campaign,
            form=form,
            may_resolve=user.role == OFFICER and finding.status == FindingStatus.OPEN,
            **_context(),
        ),
        status,
    )


@bp.route("/register/findings/<int:finding_id>")
@roles(*READERS)
def finding(finding_id: int) -> Any:
    return _finding_page(findings.get_finding(finding_id, current_account()), ResolveForm(formdata=None))


@bp.route("/register/findings/<int:finding_id>/resolve", methods=["POST"])
@roles(OFFICER)
def resolve_finding(finding_id: int) -> Any:
    actor = current_account()
    found = findings.get_finding(finding_id, actor)
    form = ResolveForm()
    if not form.validate_on_submit():
        return _finding_page(found, form, 422)
    try:
        findings.resolve_finding(finding_id, actor, form.resolution.data or "")
    except ValidationFailed as error:
        apply_field_errors(form, error)
        return _finding_page(found, form, 422)
    except IllegalTransition as error:
        flash(error.message, "error")
        return redirect(url_for("register.finding", finding_id=finding_id), 303)
    flash(_("Finding resolved."), "success")
    return redirect(url_for("register.finding", finding_id=finding_id), 303)


# --- exports ---------------------------------------------------------------------------------------------


def _export_header() -> list[str]:
    return [
        _("Finding"),
        _("Campaign"),
        _("Patient region code"),
        _("Title"),
        _("Note"),
        _("Status"),
        _("Resolution"),
        _("Sample"),
        _("Recorded at"),
        _("Resolved at"),
    ]


def _export_cells(finding: Finding) -> list[Any]:
    return [
        finding.id,
        finding.campaign_id,
        finding.campaign.patient_region_code,
        finding.title,
        finding.note,
        str(FINDING_STATUSES.get(finding.status, finding.status)),
        finding.resolution,
        finding.sample_id or "",
        finding.created_at.isoformat(timespec="seconds"),
        finding.resolved_at.isoformat(timespec="seconds") if finding.resolved_at else "",
    ]


@bp.route("/register/findings/export.csv")
@roles(*READERS)
def findings_csv() -> Any:
    user = current_account()
    status = _status_filter()
    findings.record_export(user, "findings_csv", {"status": status})
    header = _export_header()

    def generate() -> Any:
        lines = csv_lines(header, (_export_cells(f) for f in findings.export_rows(user, status)))
        yield BYTE_ORDER_MARK + next(lines)
        yield from lines

    return csv_attachment(generate(), "findings")


@bp.route("/register/summary.pdf")
@roles(*READERS)
def summary() -> Any:
    user = current_account()
    findings.record_export(user, "summary_pdf", {"prefix": user.jurisdiction_prefix})
    response = Response(summary_pdf(user), mimetype="application/pdf")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="register-summary-{date.today().isoformat()}.pdf"'
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response

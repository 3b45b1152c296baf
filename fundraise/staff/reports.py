"""Staff pages for reports about campaigns, on the staff blueprint (charity staff and admins).

- /staff/reports: the unresolved reports (open, credible, evidence requested), oldest first.
- /staff/reports/<id>: one report with a form for each step it allows now: mark credible (freezes the
  campaign's disbursements), ask the family for evidence by a date, dismiss or uphold, confirm fraud (every
  donor refunded, the patient blocked), reinstate a suspended campaign, lift a patient's block (admins).
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select
from werkzeug.routing import BuildError

from fundraise import audit, person_keys
from fundraise.access import current_account, roles
from fundraise.errors import DomainError, ValidationFailed
from fundraise.extensions import db
from fundraise.models import (
    CampaignState,
    Disbursement,
    Donation,
    DonationRefund,
    RefundStatus,
    ReportStatus,
    Role,
)
from fundraise.models.campaigns import UNRESOLVED_REPORTS
from fundraise.public.presenters import actor_text
from fundraise.services import block_list, campaign_reports
from fundraise.staff.forms import (
    ConfirmFraudForm,
    CredibleForm,
    EvidenceRequestForm,
    LiftBlockForm,
    ReinstateForm,
    ResolveReportForm,
)
from fundraise.staff.routes import bp
from fundraise.web.forms import apply_field_errors

REVIEWERS = (Role.CHARITY_STAFF, Role.ADMIN)
R = ReportStatus
BADGES = {
    R.OPEN: "warn",
    R.CREDIBLE: "warn",
    R.EVIDENCE_REQUESTED: "warn",
    R.UPHELD: "bad",
    R.DISMISSED: "muted",
    R.FRAUD_CONFIRMED: "bad",
}
# What the report's history says for each audited step.
HISTORY = {
    "report.create": _l("Report received"),
    "report.credible": _l("Marked credible: disbursements frozen"),
    "report.evidence_request": _l("Evidence asked of the family"),
    "report.evidence_answer": _l("The family answered"),
    "report.dismiss": _l("Dismissed"),
    "report.uphold": _l("Upheld: campaign suspended"),
    "report.fraud_confirmed": _l("Fraud confirmed"),
}
REFUND_STATES = {
    RefundStatus.REQUESTED: _l("Asked of the provider"),
    RefundStatus.PENDING: _l("Under way"),
    RefundStatus.SUCCEEDED: _l("Refunded"),
    RefundStatus.FAILED: _l("Failed"),
    RefundStatus.CANCELED: _l("Cancelled by the provider"),
}


def disbursement_url(disbursement_id: int) -> str:
    """The disbursement's page (the payouts blueprint's, when it is registered)."""
    try:
        return url_for("payouts.detail", disbursement_id=disbursement_id)
    except BuildError:
        return f"/disbursements/{disbursement_id}"


@bp.route("/reports")
@roles(*REVIEWERS)
def report_queue() -> Any:
    queue = campaign_reports.open_reports()
    return render_template(
        "staff/reports.html",
        queue=queue,
        reasons=campaign_reports.REASONS,
        badges=BADGES,
        overdue={r.id for r in queue if campaign_reports.is_overdue(r)},
    )


def _history(report_id: int) -> list[dict[str, Any]]:
    items = []
    for event in audit.history("report", report_id):
        after = person_keys.open_fields(event.after) or {}
        items.append(
            {
                "when": event.created_at,
                "who": actor_text(event.actor_label),
                "what": HISTORY.get(event.action, event.action),
                "note": str(after.get("note") or ""),
            }
        )
    return items


def _refund_summary(campaign_id: int) -> dict[str, Any]:
    """The refunds of the campaign's donations by state, and the failed ones with the provider's reason."""
    counts = dict(
        db.session.execute(
            select(DonationRefund.status, func.count(DonationRefund.id))
            .join(Donation, DonationRefund.donation_id == Donation.id)
            .where(Donation.campaign_id == campaign_id)
            .group_by(DonationRefund.status)
        ).all()
    )
    failed = list(
        db.session.scalars(
            select(DonationRefund)
            .join(Donation, DonationRefund.donation_id == Donation.id)
            .where(Donation.campaign_id == campaign_id, DonationRefund.status == RefundStatus.FAILED)
            .order_by(DonationRefund.id)
        )
    )
    return {
        "rows": [(REFUND_STATES[RefundStatus(s)], n) for s, n in counts.items() if s in REFUND_STATES],
        "total": sum(counts.values()),
        "failed": failed,
    }


def _report_page(report_id: int, status: int = 200, **forms: Any) -> Any:
    report = campaign_reports.get_report(report_id)
    campaign = report.campaign
    others = [r for r in campaign_reports.reports_for(campaign.id) if r.id != report.id]
    open_count = campaign_reports.open_report_count(campaign.id)
    disbursement = db.session.get(Disbursement, report.disbursement_id) if report.disbursement_id else None
    block = block_list.block_for_campaign(campaign)
    empty = {
        "credible_form": CredibleForm,
        "evidence_form": EvidenceRequestForm,
        "resolve_form": ResolveReportForm,
        "fraud_form": ConfirmFraudForm,
        "reinstate_form": ReinstateForm,
        "lift_form": LiftBlockForm,
    }
    for name, form_class in empty.items():
        forms.setdefault(name, form_class(formdata=None))
    return (
        render_template(
            "staff/report.html",
            report=report,
            campaign=campaign,
            others=others,
            reasons=campaign_reports.REASONS,
            badges=BADGES,
            history=_history(report.id),
            disbursement=disbursement,
            disbursement_link=disbursement_url(disbursement.id) if disbursement else "",
            overdue=campaign_reports.is_overdue(report),
            evidence_documents=campaign_reports.evidence_documents(report),
            can_mark_credible=report.status == R.OPEN,
            can_request_evidence=report.status in (R.OPEN, R.CREDIBLE),
            can_resolve=report.status in UNRESOLVED_REPORTS,
            can_confirm_fraud=report.status in campaign_reports.FRAUD_CONFIRMABLE,
            refunds=_refund_summary(campaign.id) if report.status == R.FRAUD_CONFIRMED else None,
            block=block,
            can_lift_block=block is not None and current_user.has_role(Role.ADMIN),
            can_reinstate=campaign.state == CampaignState.SUSPENDED and open_count == 0,
            open_count=open_count,
            evidence_max_days=campaign_reports.EVIDENCE_MAX_DAYS,
            **forms,
        ),
        status,
    )


@bp.route("/reports/<int:report_id>")
@roles(*REVIEWERS)
def report(report_id: int) -> Any:
    return _report_page(report_id)


def _back(report_id: int, anchor: str = "") -> Any:
    return redirect(url_for("staff.report", report_id=report_id, _anchor=anchor or None))


def _refused(report_id: int, form_name: str, form: Any, error: DomainError) -> Any:
    """A refused step: field errors beside the form (422), anything else said at the top."""
    if isinstance(error, ValidationFailed):
        apply_field_errors(form, error)
        return _report_page(report_id, 422, **{form_name: form})
    flash(error.message, "error")
    return _back(report_id)


@bp.route("/reports/<int:report_id>/credible", methods=["POST"])
@roles(*REVIEWERS)
def mark_credible(report_id: int) -> Any:
    report = campaign_reports.get_report(report_id)
    form = CredibleForm()
    if not form.validate_on_submit():
        return _report_page(report_id, 422, credible_form=form)
    try:
        campaign_reports.mark_credible(report, current_account(), form.note.data or "")
    except DomainError as error:
        return _refused(report_id, "credible_form", form, error)
    flash(
        _("Marked credible. The campaign's disbursements are frozen until the report is resolved."), "success"
    )
    return _back(report_id)


@bp.route("/reports/<int:report_id>/evidence", methods=["POST"])
@roles(*REVIEWERS)
def request_evidence(report_id: int) -> Any:
    report = campaign_reports.get_report(report_id)
    form = EvidenceRequestForm()
    if not form.validate_on_submit() or form.due_on.data is None:
        return _report_page(report_id, 422, evidence_form=form)
    try:
        campaign_reports.request_evidence(
            report, current_account(), form.request_text.data or "", form.due_on.data
        )
    except DomainError as error:
        return _refused(report_id, "evidence_form", form, error)
    flash(_("The family has been asked for evidence and notified."), "success")
    return _back(report_id)


@bp.route("/reports/<int:report_id>/resolve", methods=["POST"])
@roles(*REVIEWERS)
def resolve_report(report_id: int) -> Any:
    report = campaign_reports.get_report(report_id)
    form = ResolveReportForm()
    if not form.validate_on_submit():
        return _report_page(report_id, 422, resolve_form=form)
    resolve = (
        campaign_reports.uphold_report if form.outcome.data == "uphold" else campaign_reports.dismiss_report
    )
    try:
        report = resolve(report, current_account(), form.resolution.data or "")
    except DomainError as error:
        return _refused(report_id, "resolve_form", form, error)
    if report.status == R.UPHELD:
        if report.campaign.state == CampaignState.SUSPENDED:
            flash(_("Report upheld. The campaign is suspended: donations and payouts are frozen."), "success")
        else:
            flash(_("Report upheld. The campaign was not raising money, so it was not suspended."), "info")
    else:
        flash(_("Report dismissed."), "info")
    return _back(report_id)


@bp.route("/reports/<int:report_id>/fraud", methods=["POST"])
@roles(*REVIEWERS)
def confirm_fraud(report_id: int) -> Any:
    report = campaign_reports.get_report(report_id)
    form = ConfirmFraudForm()
    if not form.validate_on_submit():
        return _report_page(report_id, 422, fraud_form=form)
    try:
        outcome = campaign_reports.confirm_fraud(report, current_account(), form.resolution.data or "")
    except DomainError as error:
        return _refused(report_id, "fraud_form", form, error)
    flash(
        _(
            "Fraud confirmed. %(cancelled)d unpaid disbursements were cancelled; %(asked)d refunds were asked of"
            " the payment provider.",
            cancelled=outcome.cancelled_disbursements,
            asked=len(outcome.refunds.requested),
        ),
        "success",
    )
    if outcome.refunds.failed:
        flash(
            _(
                "%(n)d refunds could not be asked for; they are listed below. Refund them from the donations page.",
                n=len(outcome.refunds.failed),
            ),
            "error",
        )
    return _back(report_id, "refunds")


@bp.route("/reports/<int:report_id>/reinstate", methods=["POST"])
@roles(*REVIEWERS)
def reinstate(report_id: int) -> Any:
    report = campaign_reports.get_report(report_id)
    form = ReinstateForm()
    if not form.validate_on_submit():
        return _report_page(report_id, 422, reinstate_form=form)
    try:
        campaign_reports.reinstate_campaign(report.campaign, current_account(), form.reason.data or "")
    except ValidationFailed as error:
        form.reason.errors = [m for messages in error.fields.values() for m in messages] or [error.message]
        return _report_page(report_id, 422, reinstate_form=form)
    except DomainError as error:
        flash(error.message, "error")
        return _back(report_id)
    flash(_("The campaign is reinstated."), "success")
    return _back(report_id)


@bp.route("/reports/<int:report_id>/lift-block", methods=["POST"])
@roles(Role.ADMIN)
def lift_block(report_id: int) -> Any:
    report = campaign_reports.get_report(report_id)
    form = LiftBlockForm()
    if not form.validate_on_submit():
        return _report_page(report_id, 422, lift_form=form)
    block = block_list.block_for_campaign(report.campaign)
    if block is None:
        flash(_("This patient is not blocked."), "info")
        return _back(report_id)
    try:
        block_list.lift_block(block.id, current_account(), form.reason.data or "")
    except DomainError as error:
        return _refused(report_id, "lift_form", form, error)
    flash(_("The block is lifted: a new campaign for this patient may be filed."), "success")
    return _back(report_id)

"""Reports from the public that a campaign may be false or misused, and how charity staff resolve them.

    file (anyone; or an objection to one disbursement in its notice, which holds that disbursement)
      → credible (staff: the campaign's disbursements freeze while they look into it)
      → evidence requested (staff ask the family for more by a date; the family answers on its dashboard)
      → dismissed (nothing found: the freeze lifts) · upheld (the campaign is suspended)
        · fraud confirmed (unpaid disbursements cancelled, the patient blocked, every donor refunded)

Each function checks who may act, writes the audit event with the change and owns the commit. A suspended
campaign is reinstated only once no report about it is unresolved.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from fundraise import audit, person_keys
from fundraise.access import can_view, is_applicant_side, is_staff
from fundraise.disbursement_text import FRAUD_CANCELLED
from fundraise.errors import Forbidden, IllegalTransition, NotFound, ValidationFailed
from fundraise.extensions import db
from fundraise.models import (
    Campaign,
    CampaignReport,
    CampaignState,
    Disbursement,
    DisbursementStatus,
    Document,
    DocumentKind,
    ReportStatus,
    User,
)
from fundraise.models.campaigns import UNRESOLVED_REPORTS
from fundraise.models.columns import utcnow
from fundraise.services import block_list, disbursements, documents
from fundraise.services.documents import Upload
from fundraise.services.donations.refunds import RefundAllResult, refund_all
from fundraise.services.notices import _store, email_once
from fundraise.services.transitions import TRANSITIONS, transition
from fundraise.text_input import text_problem
from fundraise.unit_of_work import transactional, unit_of_work

S = CampaignState
R = ReportStatus
REASONS = {
    "false_information": _l("The information is false"),
    "already_covered": _l("The cost is already covered"),
    "misuse": _l("The money is being misused"),
    "duplicate": _l("The same patient is raising money elsewhere or twice"),
    "disbursement_objection": _l("An objection to a disbursement in its notice period"),
    "other": _l("Something else"),
}
OBJECTION = "disbursement_objection"
DETAILS_MIN, DETAILS_MAX = 10, 2000
RESOLUTION_MIN, RESOLUTION_MAX = 10, 2000
NOTE_MIN, NOTE_MAX = 4, 2000
EVIDENCE_MIN, EVIDENCE_MAX = 10, 4000
# How long a family may be given to send more evidence: long enough to get papers from a hospital or a
# village committee, short enough that donors' money is not frozen for a season.
EVIDENCE_MAX_DAYS = 60
CONTACT_MAX = 254
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 \-]{5,22}[0-9]$")
# A campaign in these states can be suspended when a report is upheld (the state machine's "suspend").
SUSPENDABLE = (S.VERIFIED, S.FUNDRAISING)
# A report from which fraud may be confirmed: one being worked, or one upheld (the campaign suspended) when
# the investigation then proves fraud.
FRAUD_CONFIRMABLE = (*UNRESOLVED_REPORTS, R.UPHELD)


def is_contact(text: str) -> bool:
    """An e-mail address or a phone number (digits, spaces, dashes, an optional leading +)."""
    if _EMAIL.match(text):
        return True
    return bool(_PHONE.match(text)) and sum(ch.isdigit() for ch in text) >= 7


# --- filing ----------------------------------------------------------------------------------------------


@transactional
def file_report(
    campaign: Campaign,
    reporter: User | None,
    *,
    reason: str,
    details: str,
    contact: str = "",
    disbursement_id: int | None = None,
) -> CampaignReport:
    """Store a report about a public campaign; with `disbursement_id`, an objection to one of its
    disbursements still waiting for approval, which holds it until staff resolve the report. A guest must
    leave a way to be reached; commits."""
    if not can_view(reporter, campaign):
        raise NotFound(_("We could not find that campaign."))
    errors: dict[str, list[str]] = {}
    details = (details or "").strip()
    contact = (contact or "").strip()
    if reason not in REASONS:
        errors["reason"] = [_("Choose a reason from the list.")]
    elif reason == OBJECTION and disbursement_id is None:
        errors["reason"] = [
            _("To object to a disbursement, use the objection form on that disbursement's page.")
        ]
    if disbursement_id is not None:
        target = db.session.get(Disbursement, disbursement_id)
        if target is None or target.campaign_id != campaign.id:
            errors["disbursement_id"] = [_("Choose a disbursement of this campaign.")]
        elif target.status != DisbursementStatus.REQUESTED:
            errors["disbursement_id"] = [
                _("This disbursement is no longer waiting for approval; an objection can no longer hold it.")
            ]
    if not DETAILS_MIN <= len(details) <= DETAILS_MAX:
        errors["details"] = [
            _("Describe what you know in %(min)d to %(max)d characters.", min=DETAILS_MIN, max=DETAILS_MAX)
        ]
    elif problem := text_problem(details, one_line=False):
        errors["details"] = [problem]
    if reporter is None and not contact:
        errors["contact"] = [_("Leave an e-mail address or phone number so we can ask you more.")]
    elif contact and (len(contact) > CONTACT_MAX or not is_contact(contact)):
        errors["contact"] = [_("Enter an e-mail address or a phone number.")]
    if errors:
        raise ValidationFailed(_("Please correct the marked fields."), fields=errors)
    report = CampaignReport(
        campaign_id=campaign.id,
        reporter_id=reporter.id if reporter else None,
        reporter_contact=contact,
        reason=reason,
        details=details,
        status=R.OPEN,
        disbursement_id=disbursement_id,
    )
    db.session.add(report)
    db.session.flush()
    audit.record(
        "report.create",
        "report",
        report.id,
        actor=reporter,
        after={
            "campaign_id": campaign.id,
            "reason": reason,
            "anonymous": reporter is None,
            "disbursement_id": disbursement_id,
        },
    )
    return report


# --- reading ---------------------------------------------------------------------------------------------


def get_report(report_id: int) -> CampaignReport:
    report = db.session.get(CampaignReport, report_id)
    if report is None:
        raise NotFound(_("We could not find that report."))
    return report


def open_reports() -> list[CampaignReport]:
    """The queue: every unresolved report (open, credible, evidence requested), oldest first."""
    return list(
        db.session.scalars(
            select(CampaignReport)
            .where(CampaignReport.status.in_(UNRESOLVED_REPORTS))
            .order_by(CampaignReport.created_at, CampaignReport.id)
        )
    )


def open_report_count(campaign_id: int | None = None) -> int:
    """Unresolved reports (all, or about one campaign): a reinstatement waits for them."""
    query = select(func.count(CampaignReport.id)).where(CampaignReport.status.in_(UNRESOLVED_REPORTS))
    if campaign_id is not None:
        query = query.where(CampaignReport.campaign_id == campaign_id)
    return db.session.scalar(query) or 0


def reports_for(campaign_id: int) -> list[CampaignReport]:
    return list(
        db.session.scalars(
            select(CampaignReport)
            .where(CampaignReport.campaign_id == campaign_id)
            .order_by(CampaignReport.created_at.desc(), CampaignReport.id.desc())
        )
    )


def is_overdue(report: CampaignReport, today: date | None = None) -> bool:
    """Evidence was asked for, the date has passed and the family has not answered."""
    return (
        report.status == R.EVIDENCE_REQUESTED
        and report.evidence_responded_at is None
        and report.evidence_due_on is not None
        and report.evidence_due_on < (today or date.today())
    )


def evidence_requests_for(campaign_id: int) -> list[CampaignReport]:
    """The reports about a campaign on which staff wait for the family's evidence."""
    return list(
        db.session.scalars(
            select(CampaignReport)
            .where(CampaignReport.campaign_id == campaign_id, CampaignReport.status == R.EVIDENCE_REQUESTED)
            .order_by(CampaignReport.evidence_due_on, CampaignReport.id)
        )
    )


def evidence_documents(report: CampaignReport) -> list[Document]:
    """The files the family sent in answer to this report's request (the audit events name them)."""
    ids = [
        document_id
        for event in audit.history("report", report.id)
        if event.action == "report.evidence_answer"
        for document_id in (event.after or {}).get("document_ids", [])
    ]
    if not ids:
        return []
    return list(
        db.session.scalars(
            select(Document).where(Document.id.in_(ids), Document.kind == DocumentKind.REPORT_EVIDENCE)
        )
    )


# --- working a report ------------------------------------------------------------------------------------


def _require_staff(actor: User | None) -> User:
    if actor is None or not is_staff(actor):
        raise Forbidden(_("Only charity staff can work on reports."))
    return actor


def _locked(report: CampaignReport) -> CampaignReport:
    """The report row, locked and read again: two staff members acting at once act one after the other."""
    found = db.session.get(CampaignReport, report.id, with_for_update=True, populate_existing=True)
    if found is None:
        raise NotFound(_("We could not find that report."))
    return found


def _require_unresolved(report: CampaignReport, allowed: Sequence[str] = UNRESOLVED_REPORTS) -> None:
    if report.status not in allowed:
        raise IllegalTransition(_("This report has already been resolved."))


def _written(text: str, field: str, minimum: int, maximum: int) -> str:
    text = (text or "").strip()
    if not minimum <= len(text) <= maximum:
        message = _("Write %(min)d to %(max)d characters.", min=minimum, max=maximum)
        raise ValidationFailed(message, fields={field: [message]})
    if problem := text_problem(text, one_line=False):
        raise ValidationFailed(problem, fields={field: [problem]})
    return text


# What staff write about a case: kept in the audit log sealed for the case's person (erasable).
_TYPED = ("note", "request", "resolution")


def _sealed(report: CampaignReport, after: dict[str, object]) -> dict[str, object]:
    typed = {name: after[name] for name in _TYPED if name in after}
    return {**after, **person_keys.seal_for_campaign(report.campaign_id, typed)} if typed else after


def _record(report: CampaignReport, actor: User, action: str, before: str, **after: object) -> None:
    audit.record(
        f"report.{action}",
        "report",
        report.id,
        actor=actor,
        before={"status": before},
        after={"status": report.status, "campaign_id": report.campaign_id, **_sealed(report, after)},
    )


@transactional
def mark_credible(report: CampaignReport, actor: User, note: str) -> CampaignReport:
    """Staff find an open report credible: the campaign's disbursements freeze while they look into it.
    Commits."""
    actor = _require_staff(actor)
    report = _locked(report)
    if report.status != R.OPEN:
        raise IllegalTransition(_("Only an open report can be marked credible."))
    note = _written(note, "note", NOTE_MIN, NOTE_MAX)
    report.status = R.CREDIBLE
    _record(report, actor, "credible", R.OPEN, note=note)
    return report


def request_evidence(report: CampaignReport, actor: User, request_text: str, due_on: date) -> CampaignReport:
    """Ask the family for more evidence by a date (tomorrow at the earliest, EVIDENCE_MAX_DAYS at the
    latest); the campaign's disbursements stay frozen meanwhile and the family is notified. Commits, then
    e-mails the notice."""
    actor = _require_staff(actor)
    with unit_of_work():
        report = _locked(report)
        if report.status not in (R.OPEN, R.CREDIBLE):
            raise IllegalTransition(_("Evidence can be asked for only on an open or credible report."))
        request_text = _written(request_text, "request_text", RESOLUTION_MIN, RESOLUTION_MAX)
        today = date.today()
        if not isinstance(due_on, date) or not today < due_on <= today + timedelta(days=EVIDENCE_MAX_DAYS):
            message = _("Choose a date after today and at most %(days)d days away.", days=EVIDENCE_MAX_DAYS)
            raise ValidationFailed(message, fields={"due_on": [message]})
        before = report.status
        report.status = R.EVIDENCE_REQUESTED
        report.evidence_request = request_text
        report.evidence_due_on = due_on
        report.evidence_response = ""
        report.evidence_responded_at = None
        _record(report, actor, "evidence_request", before, request=request_text, due_on=due_on.isoformat())
        campaign = report.campaign
        recipients = sorted(
            {campaign.applicant_id, *([campaign.filed_by_id] if campaign.filed_by_id else [])}
        )
        params = {
            "campaign_id": campaign.id,
            "title": campaign.title,
            "report_id": report.id,
            "due_on": due_on.isoformat(),
            "request": request_text,
        }
        keys = [
            _store(f"evidence:{report.id}:{user_id}", user_id, "evidence_requested", params, campaign.id)
            for user_id in recipients
        ]
    for key, user_id in zip(keys, recipients, strict=True):
        email_once(key, user_id)
    return report


def answer_evidence(
    report: CampaignReport, actor: User, response_text: str, files: Sequence[Upload] = ()
) -> CampaignReport:
    """The family (or its social worker) answers a request for evidence, in writing and with files; the
    report stays with staff to decide. A later answer replaces the text and adds its files. Commits."""
    campaign = report.campaign
    if not is_applicant_side(actor, campaign):
        raise Forbidden(_("Only the family or their social worker can answer this request."))
    if report.status != R.EVIDENCE_REQUESTED:
        raise IllegalTransition(_("No evidence is being asked for on this report now."))
    response_text = _written(response_text, "response_text", EVIDENCE_MIN, EVIDENCE_MAX)
    kind = DocumentKind.REPORT_EVIDENCE.value
    # Files are checked and re-encoded with no transaction open; then stored with the answer, or not at all.
    prepared = documents.prepare_for(campaign, actor, [(kind, upload) for upload in files]) if files else []
    with unit_of_work():
        report = _locked(report)
        if report.status != R.EVIDENCE_REQUESTED:
            raise IllegalTransition(_("No evidence is being asked for on this report now."))
        stored = documents.store(campaign, actor, prepared) if prepared else []
        late = is_overdue(report)
        report.evidence_response = response_text
        report.evidence_responded_at = utcnow()
        _record(
            report,
            actor,
            "evidence_answer",
            R.EVIDENCE_REQUESTED,
            document_ids=[document.id for document in stored],
            late=late,
        )
    return report


def _check_resolution(actor: User, report: CampaignReport, resolution: str) -> str:
    if not is_staff(actor):
        raise Forbidden(_("Only charity staff can resolve reports."))
    _require_unresolved(report)
    resolution = (resolution or "").strip()
    if not RESOLUTION_MIN <= len(resolution) <= RESOLUTION_MAX:
        message = _(
            "Write the resolution in %(min)d to %(max)d characters.", min=RESOLUTION_MIN, max=RESOLUTION_MAX
        )
        raise ValidationFailed(message, fields={"resolution": [message]})
    return resolution


def _close(report: CampaignReport, actor: User, status: ReportStatus, resolution: str) -> None:
    before = report.status
    report.status = status
    report.resolution = resolution
    report.handled_by_id = actor.id
    report.handled_at = utcnow()
    action = {R.UPHELD: "uphold", R.DISMISSED: "dismiss", R.FRAUD_CONFIRMED: "fraud_confirmed"}[status]
    _record(report, actor, action, before, resolution=resolution)


@transactional
def dismiss_report(report: CampaignReport, actor: User, resolution: str) -> CampaignReport:
    """The report did not hold up: the campaign is left as it is and its disbursements are no longer frozen
    or held by it. Commits."""
    report = _locked(report)
    resolution = _check_resolution(actor, report, resolution)
    _close(report, actor, R.DISMISSED, resolution)
    return report


@transactional
def uphold_report(report: CampaignReport, actor: User, resolution: str) -> CampaignReport:
    """The report is credible: mark it upheld and suspend the campaign if it is verified or fundraising,
    with the resolution as the public reason. Both changes commit together or not at all."""
    report = _locked(report)
    resolution = _check_resolution(actor, report, resolution)
    _close(report, actor, R.UPHELD, resolution)
    campaign = report.campaign
    if campaign.state in SUSPENDABLE:
        # The suspension (audited by the state machine) joins this unit of work with the report's change.
        transition(campaign, "suspend", actor=actor, reason=resolution)
    return report


@dataclass(frozen=True)
class FraudOutcome:
    """What confirming fraud did: disbursements cancelled, whether the patient is now blocked, and the
    refunds asked of the provider (with those that failed)."""

    cancelled_disbursements: int
    blocked: bool
    refunds: RefundAllResult


def confirm_fraud(report: CampaignReport, actor: User, resolution: str) -> FraudOutcome:
    """Fraud is confirmed: in one unit of work every unpaid disbursement is cancelled (reservations back to
    the fund), the patient's ID number is blocked from new campaigns, the campaign is marked ended and every
    other unresolved report about it is closed with this one, and the campaign is cancelled where the state
    machine allows; then every donor is refunded (refund_all asks the provider for each refund, one by one,
    each its own unit, the platform covering what the fund no longer holds). Commits."""
    actor = _require_staff(actor)
    with unit_of_work():
        report = _locked(report)
        _require_unresolved(report, FRAUD_CONFIRMABLE)
        resolution = _written(resolution, "resolution", RESOLUTION_MIN, RESOLUTION_MAX)
        campaign = report.campaign
        cancelled = disbursements.cancel_unpaid(campaign, actor, f"{FRAUD_CANCELLED}{report.id}")
        blocked = block_list.block(campaign, report, actor)
        campaign.ended_code = "fraud_confirmed"
        campaign.ended_at = utcnow()
        if campaign.state in TRANSITIONS["cancel"].sources:
            # Cancelled here, with the rest, so nothing new is requested or given before the refunds start
            # (refund_all then finds it cancelled already).
            transition(campaign, "cancel", actor=actor, reason=resolution)
        _close(report, actor, R.FRAUD_CONFIRMED, resolution)
        others = db.session.scalars(
            select(CampaignReport)
            .where(
                CampaignReport.campaign_id == campaign.id,
                CampaignReport.id != report.id,
                CampaignReport.status.in_(UNRESOLVED_REPORTS),
            )
            .with_for_update()
        ).all()
        for other in others:
            _close(other, actor, R.FRAUD_CONFIRMED, resolution)
        audit.record(
            "campaign.fraud_confirmed",
            "campaign",
            campaign.id,
            actor=actor,
            after={"report_id": report.id, "cancelled_disbursements": cancelled, "blocked": blocked},
        )
    refunds = refund_all(campaign, actor, resolution)
    return FraudOutcome(cancelled, blocked, refunds)


def reinstate_campaign(campaign: Campaign, actor: User, reason: str) -> Campaign:
    """Lift a suspension once every report about the campaign has been resolved (the state machine's rule for
    "reinstate", which the API's transition route applies too). Commits."""
    if not is_staff(actor):
        raise Forbidden(_("Only charity staff can reinstate a campaign."))
    if campaign.state != S.SUSPENDED:
        raise IllegalTransition(_("Only a suspended campaign can be reinstated."))
    return transition(campaign, "reinstate", actor=actor, reason=reason)

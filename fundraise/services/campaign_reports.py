"""Reports from the public that a campaign may be false or misused, and how charity staff resolve them.

Each function checks who may act, writes the audit event with the change and owns the commit. Upholding a
report suspends the campaign (donations and payouts freeze); a suspended campaign is reinstated only once no
report about it is still open.
"""

from __future__ import annotations

import re

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from fundraise import audit
from fundraise.access import can_view, is_staff
from fundraise.errors import Forbidden, IllegalTransition, NotFound, ValidationFailed
from fundraise.extensions import db
from fundraise.models import Campaign, CampaignReport, CampaignState, ReportStatus, User
from fundraise.models.columns import utcnow
from fundraise.services.transitions import transition
from fundraise.text_input import text_problem
from fundraise.unit_of_work import transactional

S = CampaignState
REASONS = {
    "false_information": _l("The information is false"),
    "already_covered": _l("The cost is already covered"),
    "misuse": _l("The money is being misused"),
    "duplicate": _l("The same patient is raising money elsewhere or twice"),
    "other": _l("Something else"),
}
DETAILS_MIN, DETAILS_MAX = 10, 2000
RESOLUTION_MIN, RESOLUTION_MAX = 10, 2000
CONTACT_MAX = 254
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 \-]{5,22}[0-9]$")
# A campaign in these states can be suspended when a report is upheld (the state machine's "suspend").
SUSPENDABLE = (S.VERIFIED, S.FUNDRAISING)


def is_contact(text: str) -> bool:
    """An e-mail address or a phone number (digits, spaces, dashes, an optional leading +)."""
    if _EMAIL.match(text):
        return True
    return bool(_PHONE.match(text)) and sum(ch.isdigit() for ch in text) >= 7


@transactional
def file_report(
    campaign: Campaign, reporter: User | None, *, reason: str, details: str, contact: str = ""
) -> CampaignReport:
    """Store a report about a public campaign. A guest must leave a way to be reached; commits."""
    if not can_view(reporter, campaign):
        raise NotFound(_("We could not find that campaign."))
    errors: dict[str, list[str]] = {}
    details = (details or "").strip()
    contact = (contact or "").strip()
    if reason not in REASONS:
        errors["reason"] = [_("Choose a reason from the list.")]
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
        status=ReportStatus.OPEN,
    )
    db.session.add(report)
    db.session.flush()
    audit.record(
        "report.create",
        "report",
        report.id,
        actor=reporter,
        after={"campaign_id": campaign.id, "reason": reason, "anonymous": reporter is None},
    )
    return report


def get_report(report_id: int) -> CampaignReport:
    report = db.session.get(CampaignReport, report_id)
    if report is None:
        raise NotFound(_("We could not find that report."))
    return report


def open_reports() -> list[CampaignReport]:
    """The queue, oldest first."""
    return list(
        db.session.scalars(
            select(CampaignReport)
            .where(CampaignReport.status == ReportStatus.OPEN)
            .order_by(CampaignReport.created_at, CampaignReport.id)
        )
    )


def open_report_count(campaign_id: int | None = None) -> int:
    query = select(func.count(CampaignReport.id)).where(CampaignReport.status == ReportStatus.OPEN)
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


def _check_resolution(actor: User, report: CampaignReport, resolution: str) -> str:
    if not is_staff(actor):
        raise Forbidden(_("Only charity staff can resolve reports."))
    if report.status != ReportStatus.OPEN:
        raise IllegalTransition(_("This report has already been resolved."))
    resolution = (resolution or "").strip()
    if not RESOLUTION_MIN <= len(resolution) <= RESOLUTION_MAX:
        message = _(
            "Write the resolution in %(min)d to %(max)d characters.", min=RESOLUTION_MIN, max=RESOLUTION_MAX
        )
        raise ValidationFailed(message, fields={"resolution": [message]})
    return resolution


def _close(report: CampaignReport, actor: User, status: ReportStatus, resolution: str) -> None:
    report.status = status
    report.resolution = resolution
    report.handled_by_id = actor.id
    report.handled_at = utcnow()
    audit.record(
        f"report.{'uphold' if status == ReportStatus.UPHELD else 'dismiss'}",
        "report",
        report.id,
        actor=actor,
        before={"status": ReportStatus.OPEN.value},
        after={"status": status.value, "campaign_id": report.campaign_id, "resolution": resolution},
    )


@transactional
def dismiss_report(report: CampaignReport, actor: User, resolution: str) -> CampaignReport:
    """The report did not hold up; the campaign is left as it is. Commits."""
    resolution = _check_resolution(actor, report, resolution)
    _close(report, actor, ReportStatus.DISMISSED, resolution)
    return report


@transactional
def uphold_report(report: CampaignReport, actor: User, resolution: str) -> CampaignReport:
    """The report is credible: mark it upheld and suspend the campaign if it is verified or fundraising,
    with the resolution as the public reason. Both changes commit together or not at all."""
    resolution = _check_resolution(actor, report, resolution)
    _close(report, actor, ReportStatus.UPHELD, resolution)
    campaign = report.campaign
    if campaign.state in SUSPENDABLE:
        # The suspension (audited by the state machine) joins this unit of work with the report's change.
        transition(campaign, "suspend", actor=actor, reason=resolution)
    return report


def reinstate_campaign(campaign: Campaign, actor: User, reason: str) -> Campaign:
    """Lift a suspension once every report about the campaign has been resolved (the state machine's rule for
    "reinstate", which the API's transition route applies too). Commits."""
    if not is_staff(actor):
        raise Forbidden(_("Only charity staff can reinstate a campaign."))
    if campaign.state != S.SUSPENDED:
        raise IllegalTransition(_("Only a suspended campaign can be reinstated."))
    return transition(campaign, "reinstate", actor=actor, reason=reason)

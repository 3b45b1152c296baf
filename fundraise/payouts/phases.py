"""What the staff and requester pages say about a disbursement: its phase as a badge (fundraise/disbursement_text.py's
words, shared with the public page and the API) and a sentence with its particulars, and its source."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape

from fundraise.disbursement_text import decision_note_text, phase_label, phase_tone
from fundraise.models import Disbursement, DisbursementSource

QUEUE_TABS = {
    "waiting": _l("Waiting"),
    "approved": _l("To be paid"),
    "paid": _l("Paid"),
    "closed": _l("Rejected or cancelled"),
}


def format_when(moment: datetime | None) -> str:
    """A date and time in the reader's language and time zone."""
    return str(format_datetime(moment, "medium")) if moment is not None else ""


def phase_badge(phase: str) -> Markup:
    return Markup('<span class="badge badge-{}">{}</span>').format(
        phase_tone(phase), escape(phase_label(phase))
    )


def phase_sentence(disbursement: Disbursement, phase: str) -> str:
    """One sentence saying where the disbursement stands and what happens next."""
    approvals, required = len(disbursement.approvals), disbursement.required_approvals
    if phase == "notice":
        return str(
            _(
                "Shown publicly until %(ends)s, so anyone can object; staff can approve it after that.",
                ends=format_when(disbursement.notice_ends_at),
            )
        )
    if phase == "held":
        return str(
            _(
                "An objection to this request is being looked into; nothing is approved or paid until staff resolve it."
            )
        )
    if phase == "awaiting_approval" and required == 2:
        return str(
            _(
                "The notice period ended. It needs 2 approvals by two different charity staff members, neither of"
                " them the requester; %(n)d given.",
                n=approvals,
            )
        )
    if phase == "awaiting_approval":
        return str(
            _(
                "The notice period ended. It needs 1 approval by a charity staff member other than the requester."
            )
        )
    if phase == "awaiting_second_approval":
        return str(
            _(
                "Approved once (1 of 2). A second staff member, not the requester or the first approver, must approve it."
            )
        )
    if phase == "approved":
        return str(
            _(
                "The money is reserved. A finance member who did not approve it records the bank transfer to the"
                " hospital's settlement account."
            )
        )
    if phase == "paid":
        return str(
            _(
                "Paid to the hospital on %(date)s, bank transfer reference %(reference)s.",
                date=format_when(disbursement.paid_at),
                reference=disbursement.transfer_reference or "",
            )
        )
    if phase == "rejected":
        return str(_("Charity staff rejected this request; the reason is below."))
    if phase == "cancelled":
        return str(_("Cancelled before payment; any money reserved for it went back to its source."))
    return ""


def source_label(disbursement: Disbursement) -> str:
    if disbursement.source == DisbursementSource.RELIEF_COMMITMENT and disbursement.offer is not None:
        return str(_("Relief offer from %(project)s", project=disbursement.offer.project.name))
    return str(_("Campaign fund"))


def approvals_text(disbursement: Disbursement) -> str:
    return str(_("%(n)d of %(m)d", n=len(disbursement.approvals), m=disbursement.required_approvals))


def template_globals() -> dict[str, Any]:
    return {
        "phase_badge": phase_badge,
        "phase_sentence": phase_sentence,
        "phase_label": phase_label,
        "decision_note_text": decision_note_text,
        "source_label": source_label,
        "approvals_text": approvals_text,
    }

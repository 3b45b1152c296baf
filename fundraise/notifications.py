"""How a stored notification reads, in the reader's language."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask_babel import format_date
from flask_babel import gettext as _

from fundraise.disbursement_text import decision_note_text, phase_explanation, phase_label
from fundraise.errors import try_again_at
from fundraise.extensions import db
from fundraise.i18n import locale_name
from fundraise.models import Hospital, Notification
from fundraise.money import format_yuan
from fundraise.states import state_label
from fundraise.verification_text import reason_text


def render_notification(notification: Notification) -> tuple[str, str]:
    """(subject, body) for a notification, in the active locale."""
    params = notification.params
    if notification.kind == "state_change":
        subject = _(
            "Your campaign \u201c%(title)s\u201d is now: %(state)s",
            title=params.get("title") or _("(untitled)"),
            state=state_label(params.get("to_state")),
        )
        body = subject
        if params.get("reason"):
            body += "\n\n" + _("Reason: %(reason)s", reason=reason_text(params["reason"]))
        return subject, body
    if notification.kind == "relief_approved":
        subject = _(
            "A charity will support \u201c%(title)s\u201d with %(amount)s",
            title=params.get("title") or _("(untitled)"),
            amount=format_yuan(int(params.get("amount_fen") or 0)),
        )
        body = _(
            "The relief project \u201c%(project)s\u201d approved %(amount)s for the patient's treatment. The money"
            " is paid to the hospital against its bills, like donations; it counts toward your target, so the"
            " amount still needed went down by as much. Your dashboard shows every charity's support.",
            project=params.get("project") or "",
            amount=format_yuan(int(params.get("amount_fen") or 0)),
        )
        return subject, body
    if notification.kind == "sign_in_locked":
        subject = _("Sign-in to your Aidbridge account is locked for a while")
        body = _(
            "Someone tried to sign in to your account with a wrong password %(count)d times, so we have "
            "locked sign-in until %(time)s. None of these attempts got in.\n\n"
            "If it was you, please try again after that time. If it was not, you need not do anything now; "
            "to be safe, you can choose a longer password on your account page once you are signed in.",
            count=int(params.get("failures") or 0),
            time=try_again_at(datetime.fromisoformat(params["locked_until"])),
        )
        return subject, body
    if notification.kind == "evidence_requested":
        subject = _(
            "Charity staff ask for more evidence about \u201c%(title)s\u201d",
            title=params.get("title") or _("(untitled)"),
        )
        body = _(
            "A report about your campaign is being looked into. Please send what is asked by %(date)s: open"
            " your dashboard and choose \u201cAnswer the request for evidence\u201d.\n\nWhat is asked: %(request)s",
            date=format_date(date.fromisoformat(params["due_on"])),
            request=params.get("request") or "",
        )
        return subject, body
    if notification.kind == "disbursement":
        return _disbursement(params)
    if notification.kind == "consent_own_needed":
        subject = _(
            "The patient of \u201c%(title)s\u201d has turned 14: their own consent is needed",
            title=params.get("title") or _("(untitled)"),
        )
        body = _(
            "From 14, a patient gives consent to the processing of their personal information themselves. Please"
            " show the patient the privacy notice and record their consent on your dashboard. The campaign carries"
            " on meanwhile under the guardian's consent."
        )
        return subject, body
    return notification.kind, ""


def _disbursement(params: dict[str, Any]) -> tuple[str, str]:
    """A payment to the hospital approved, paid, rejected or cancelled: the same phase words as its page."""
    event = str(params.get("event") or "")
    amount = format_yuan(int(params.get("amount_fen") or 0))
    hospital = db.session.get(Hospital, params.get("hospital_id"))
    subject = _(
        "Payment of %(amount)s for “%(title)s”: %(phase)s",
        amount=amount,
        title=params.get("title") or _("(untitled)"),
        phase=phase_label(event),
    )
    body = _(
        "The payment of %(amount)s to %(hospital)s is now: %(phase)s. %(explanation)s",
        amount=amount,
        hospital=hospital.name(locale_name()) if hospital else "",
        phase=phase_label(event),
        explanation=phase_explanation(event),
    )
    if params.get("note"):
        body += "\n\n" + _("Reason: %(reason)s", reason=decision_note_text(params["note"]))
    if params.get("reference"):
        body += "\n\n" + _("Bank transfer reference: %(reference)s", reference=params["reference"])
    return subject, body

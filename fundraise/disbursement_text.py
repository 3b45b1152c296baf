"""How a disbursement's phase (services/disbursements.py `phase`) is worded on the public, donor and staff
pages: a short label and a sentence saying what it means, in the reader's language."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

PHASE_LABELS: dict[str, Any] = {
    "notice": _l("In public notice"),
    "held": _l("Held by an objection"),
    "awaiting_approval": _l("Awaiting approval"),
    "awaiting_second_approval": _l("Awaiting a second approval"),
    "approved": _l("Approved, to be paid"),
    "paid": _l("Paid to the hospital"),
    "rejected": _l("Rejected"),
    "cancelled": _l("Cancelled"),
}

PHASE_EXPLANATIONS: dict[str, Any] = {
    "notice": _l("Shown here before anyone can approve it, so anyone who knows it is wrong can object."),
    "held": _l("Someone objected to this payment; it waits until charity staff look into the objection."),
    "awaiting_approval": _l("The notice period is over; charity staff check the bill before approving it."),
    "awaiting_second_approval": _l(
        "A large payment: one approval is given, a second person must also approve."
    ),
    "approved": _l("The money is set aside; a finance member will record the bank transfer to the hospital."),
    "paid": _l("The bank transfer to the hospital's account is recorded."),
    "rejected": _l("Charity staff refused this request; no money was paid."),
    "cancelled": _l("The request was withdrawn or stopped before payment; no money was paid."),
}

# The badge colour of each phase (CSS class suffix, as the state badges use).
PHASE_TONES = {
    "notice": "info",
    "held": "warn",
    "awaiting_approval": "info",
    "awaiting_second_approval": "info",
    "approved": "ok",
    "paid": "ok",
    "rejected": "bad",
    "cancelled": "muted",
}


def phase_label(code: str) -> str:
    return str(PHASE_LABELS.get(code, code))


def phase_explanation(code: str) -> str:
    return str(PHASE_EXPLANATIONS.get(code, ""))


def phase_tone(code: str) -> str:
    return PHASE_TONES.get(code, "muted")


# A decision the system writes (not a person's words): stored as a code, read in the reader's language.
FRAUD_CANCELLED = "@fraud-confirmed:"  # + the report's id


def decision_note_text(note: str | None) -> str:
    """A rejection's or cancellation's note: a person's words as written, the system's code in words."""
    if note and note.startswith(FRAUD_CANCELLED):
        return str(
            _l("Cancelled: fraud was confirmed (report #%(id)s).", id=note.removeprefix(FRAUD_CANCELLED))
        )
    return note or ""

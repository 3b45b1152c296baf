"""Consents in words, in the reader's language: what each purpose covers, whose consent it is, why a patient
could not give it, and what withdrawing one does."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

PURPOSE_LABELS: dict[str, Any] = {
    "sensitive_processing": _l("Processing the patient's sensitive personal information"),
    "public_page": _l("Showing the campaign on a public page"),
}

# What the person agrees to, shown beside the checkbox.
PURPOSE_TERMS: dict[str, Any] = {
    "sensitive_processing": _l(
        "I agree that Aidbridge and the charity process the patient's medical information (diagnosis, treatment"
        " plan, cost estimate and bills), national ID number and the household's finances, for verifying the"
        " case, paying the hospital and matching relief projects, as the privacy notice describes. Only the"
        " family, the hospital's social worker, the charity's staff and the civil-affairs officer of the"
        " patient's region see them."
    ),
    "public_page": _l(
        "I agree that, once the case is verified, its page is public: the patient's name masked (only the"
        " surname and the last character shown), the story and photos, the diagnosis category (not the certificate) and the verified cost"
        " breakdown. Anyone can see and share it. The ID number, bills and finances are never shown."
    ),
}

BASIS_LABELS: dict[str, Any] = {
    "own": _l("The patient's own consent"),
    "guardian": _l("The consent of the guardian of a patient under 14"),
    "patient_confirmed": _l("The patient's consent, confirmed by the person filing"),
    "patient_unable": _l("The patient cannot consent now; the reason is documented"),
}

# The choice as the person filing makes it, in the first person.
BASIS_CHOICES: dict[str, Any] = {
    "own": _l("I am the patient and I agree."),
    "guardian": _l("I am the guardian of the patient, who is under 14, and I agree on the patient's behalf."),
    "patient_confirmed": _l("The patient has read this and agrees; I confirm it on the patient's behalf."),
    "patient_unable": _l("The patient cannot give consent now (I give the reason below)."),
}

GUARDIAN_LABELS: dict[str, Any] = {
    "parent": _l("Parent"),
    "legal_guardian": _l("Other legal guardian"),
}

UNABLE_LABELS: dict[str, Any] = {
    "unconscious": _l("Unconscious"),
    "intensive_care": _l("In intensive care and unable to communicate"),
    "cognitive_impairment": _l("Lacks the capacity to decide (cognitive impairment)"),
    "other": _l("Other reason"),
}

# What withdrawing does (fundraise.services.consents.withdrawal_effects).
EFFECTS: dict[str, Any] = {
    "draft_kept": _l(
        "The draft stays, but it cannot be submitted until consent is given again. To delete it, use"
        " “Your data” on your account page."
    ),
    "draft_page": _l("The draft cannot be submitted until consent to the public page is given again."),
    "unpublish": _l(
        "The campaign is taken off public view at once: it leaves the lists, and its page says only that the"
        " campaign is no longer public."
    ),
    "public_consent_too": _l("Your consent to the public page ends with it."),
    "close_fundraising": _l("Fundraising closes: no new gifts are taken."),
    "payments_continue": _l(
        "Money already given is still paid to the hospital against its bills, and what is left is settled at"
        " close-out as each donor chose (refunded or moved to the relief pool)."
    ),
    "cancel": _l("The campaign is cancelled: verification, matching and fundraising stop."),
    "payments_stop": _l(
        "Payments to the hospital not yet made are stopped: nothing more is paid from a cancelled campaign."
    ),
    "held_money_refunded": _l(
        "Money donors gave that has not been paid out stays in the charity's custody account until the"
        " charity's staff refund it to the donors through the refund process. It is not paid to the hospital."
    ),
    "ended_stays": _l(
        "Fundraising has already ended, so the campaign is not cancelled: approved payments and the settlement of"
        " money left over finish under the usual rules."
    ),
    "paid_stays_paid": _l("Payments already made to the hospital stay paid."),
    "accounting_kept": _l(
        "The accounting records of gifts and payments are kept for 30 years as the law requires; withdrawing"
        " consent does not delete them."
    ),
}


def basis_text(consent: Any) -> str:
    """Whose consent a recorded consent is, with the guardian's relationship or the reason the patient could
    not consent (its code; the filer's own words stay on the campaign's private pages)."""
    text = str(BASIS_LABELS.get(consent.basis, consent.basis))
    if consent.guardian_relationship:
        text += f" ({GUARDIAN_LABELS.get(consent.guardian_relationship, '')})"
    if consent.unable_reason_code:
        text += f" ({UNABLE_LABELS.get(consent.unable_reason_code, '')})"
    return text

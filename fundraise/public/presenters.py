"""How campaign facts are worded on the pages: ages, sexes, hospital tiers, document kinds, the timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask_babel import lazy_gettext as _l

from fundraise import audit, person_keys
from fundraise.disbursement_text import phase_explanation, phase_label, phase_tone
from fundraise.i18n import locale_name
from fundraise.models import AuditEvent, Campaign, Region
from fundraise.services import reference_cache
from fundraise.services.donations import raised_fen
from fundraise.services.search import category_label
from fundraise.states import ENDED_TONES, ended_text
from fundraise.verification_text import reason_text
from fundraise.web.templating import ROLE_LABELS

SEXES = {"M": _l("Male"), "F": _l("Female")}
HOSPITAL_TIERS = {
    "tertiary": _l("Tertiary hospital (grade III)"),
    "secondary": _l("Secondary hospital (grade II)"),
    "primary": _l("Primary hospital (grade I)"),
}
DOCUMENT_KINDS = {
    "photo": _l("Photo"),
    "diagnosis": _l("Diagnosis certificate"),
    "cost_estimate": _l("Cost estimate from the hospital"),
    "identity": _l("Identity document"),
    "household": _l("Household finances evidence"),
    "update_photo": _l("Update photo"),
    "bill": _l("Hospital bill"),
    "report_evidence": _l("Evidence about a report"),
}
RELATIONSHIPS = {
    "self": _l("The patient themself"),
    "parent": _l("Parent"),
    "child": _l("Child"),
    "spouse": _l("Spouse"),
    "sibling": _l("Sibling"),
    "grandparent": _l("Grandparent"),
    "other": _l("Other relative or carer"),
}
REPORT_STATUSES = {
    "open": _l("Open"),
    "credible": _l("Credible: payouts frozen"),
    "evidence_requested": _l("Evidence requested"),
    "upheld": _l("Upheld"),
    "dismissed": _l("Dismissed"),
    "fraud_confirmed": _l("Fraud confirmed"),
}
# What the public timeline says for each audited campaign event. Events not named here (edits, ID reveals)
# are internal and never shown to the public.
PUBLIC_EVENTS = {
    "campaign.create": _l("Campaign started"),
    "campaign.submit": _l("Submitted for verification"),
    "campaign.begin_verification": _l("Checks against insurance and civil-affairs records started"),
    "campaign.flag_for_review": _l("Sent to a charity reviewer"),
    "campaign.confirm_stay": _l("Hospital stay confirmed by the hospital's social worker"),
    "campaign.verify": _l("Verified"),
    "campaign.reject": _l("Not approved"),
    "campaign.open_fundraising": _l("Fundraising opened"),
    "campaign.close": _l("Fundraising closed"),
    "campaign.suspend": _l("Suspended while a report is investigated"),
    "campaign.reinstate": _l("Reinstated after the report was resolved"),
    "campaign.cancel": _l("Cancelled"),
    "campaign.post_update": _l("Update posted"),
    "campaign.target_reached": _l("Target reached"),
    "campaign.refund_all": _l("Donations refunded"),
}
STAFF_EVENTS = {
    **PUBLIC_EVENTS,
    "campaign.cap_target": _l("Target capped by verification"),
    "campaign.verification_changed": _l("Automatic checks changed their result"),
    "campaign.verification_acknowledged": _l("Changed result marked as seen"),
    "campaign.edit": _l("Draft edited"),
    "campaign.confirm_referral": _l("Referral and filing confirmed by the hospital's social worker"),
    "campaign.reveal_id": _l("Full ID number viewed"),
    "campaign.view_finances": _l("Household finances viewed"),
    "document.view": _l("Private document viewed"),
    "document.add": _l("Document uploaded"),
    "document.remove": _l("Document removed"),
    "voucher.create": _l("Someone who knows the family vouched for it"),
    "voucher.withdraw": _l("A voucher was withdrawn"),
}
# Who acted, as the audit log names them ("family:16", "system"): their role in words and their account number.
SYSTEM_ACTOR = _l("Aidbridge (automatic)")


@dataclass(frozen=True)
class TimelineEntry:
    label: str
    at: datetime
    actor: str | None = None  # only ever filled in for staff
    reason: str = ""


def age_years(birth_date: date | None, today: date | None = None) -> int | None:
    if birth_date is None:
        return None
    today = today or date.today()
    return today.year - birth_date.year - ((today.month, today.day) < (birth_date.month, birth_date.day))


def region_name(region: Region | str | None) -> str:
    """A region's full name (a Region or its code), from the reference cache: no query, no walk up parents."""
    code = region if region is None or isinstance(region, str) else region.code
    return reference_cache.region_full_name(code, locale_name())


def hospital_of(campaign: Campaign) -> reference_cache.HospitalRef | None:
    """The campaign's hospital from the reference cache (name, tier, region_code), without loading the row."""
    return reference_cache.hospital(campaign.hospital_id)


def disease_of(campaign: Campaign) -> reference_cache.DiseaseRef | None:
    """The campaign's catalogue range from the reference cache (name, category), without loading the row."""
    return reference_cache.disease(campaign.disease_range_id)


def disease_name(campaign: Campaign) -> str:
    disease = disease_of(campaign)
    return disease.name(locale_name()) if disease is not None else ""


def public_timeline(campaign: Campaign) -> list[TimelineEntry]:
    """The campaign's history for anyone who can see the page: what happened and when, never who did it."""
    return [
        TimelineEntry(label=str(PUBLIC_EVENTS[e.action]), at=e.created_at)
        for e in audit.history("campaign", campaign.id)
        if e.action in PUBLIC_EVENTS
    ]


def staff_timeline(campaign: Campaign) -> list[TimelineEntry]:
    """The full history with who acted and the reason given, for reviewers."""
    return [_staff_entry(e) for e in audit.history("campaign", campaign.id)]


def _staff_entry(event: AuditEvent) -> TimelineEntry:
    label = STAFF_EVENTS.get(event.action, event.action)
    # A person's reason as typed; the checks' reason (a report code) written out in the reader's language.
    # (A person's words are sealed in the event: opened here, or the erased notice once the key is gone.)
    reason = reason_text(str((person_keys.open_fields(event.after) or {}).get("reason") or ""))
    return TimelineEntry(
        label=str(label), at=event.created_at, actor=actor_text(event.actor_label), reason=reason
    )


def actor_text(actor_label: str | None) -> str:
    """ "family:16" as "Family #16", "system" as "Aidbridge (automatic)", in the reader's language."""
    role, _, account = (actor_label or "system").partition(":")
    if role == "system" or not account:
        return str(SYSTEM_ACTOR)
    return f"{ROLE_LABELS.get(role, role)} #{account}"


def template_helpers() -> dict[str, Any]:
    """Names the campaign templates use, added to their context by each blueprint that renders them."""
    return {
        "age_years": age_years,
        "sex_label": lambda code: SEXES.get(code or "", ""),
        "tier_label": lambda tier: HOSPITAL_TIERS.get(tier or "", tier or ""),
        "document_kind_label": lambda kind: DOCUMENT_KINDS.get(kind, kind),
        "relationship_label": lambda code: RELATIONSHIPS.get(code or "", code or ""),
        "region_name": region_name,
        "hospital_of": hospital_of,
        "disease_of": disease_of,
        "disease_name": disease_name,
        "category_label": lambda category: category_label(category, locale_name()),
        "raised_fen": raised_fen,
        "report_status_label": lambda status: REPORT_STATUSES.get(status, status),
        "phase_label": phase_label,
        "phase_explanation": phase_explanation,
        "phase_tone": phase_tone,
        "ended_text": ended_text,
        "ended_tone": lambda code: ENDED_TONES.get(code or "", "muted"),
    }

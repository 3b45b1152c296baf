"""Whose consent a campaign needs and whether it has it: the rules the state machine checks at submission and
the consent service applies when recording one (fundraise.services.consents)."""

from __future__ import annotations

from datetime import date

from flask_babel import gettext as _
from sqlalchemy import select

from fundraise.extensions import db
from fundraise.models import Campaign, Consent, ConsentBasis, ConsentPurpose, User

P = ConsentPurpose
B = ConsentBasis
# PIPL arts. 28 and 31: the personal information of a child under 14 is sensitive, and processing it needs the
# consent of a parent or other guardian; from 14 the person consents themselves.
AGE_OF_CONSENT = 14


def age_on(birth_date: date, day: date) -> int:
    """Whole years of age on `day`."""
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def turns_14_on(birth_date: date) -> date:
    try:
        return birth_date.replace(year=birth_date.year + AGE_OF_CONSENT)
    except ValueError:  # born on 29 February: the birthday falls on 1 March in a common year
        return date(birth_date.year + AGE_OF_CONSENT, 3, 1)


def is_child(campaign: Campaign, day: date | None = None) -> bool | None:
    """Whether the patient is under 14 on `day` (today); None while the birth date is not known."""
    if campaign.patient_birth_date is None:
        return None
    return age_on(campaign.patient_birth_date, day or date.today()) < AGE_OF_CONSENT


def allowed_bases(campaign: Campaign, giver: User, day: date | None = None) -> tuple[str, ...]:
    """Whose consent `giver` may record for this patient now: a guardian's for a child; the patient's own when
    the family's account holder is the patient; otherwise the patient's, confirmed by the filer, or a
    documented reason why the patient cannot give it. Empty while the patient's age is unknown."""
    child = is_child(campaign, day)
    if child is None:
        return ()
    if child:
        return (B.GUARDIAN,)
    if campaign.relationship_to_patient == "self" and giver.id == campaign.applicant_id:
        return (B.OWN,)
    return (B.PATIENT_CONFIRMED, B.PATIENT_UNABLE)


def in_force(campaign: Campaign, purpose: str) -> Consent | None:
    """The campaign's consent for `purpose` in force now, if there is one."""
    return db.session.scalar(
        select(Consent)
        .where(
            Consent.campaign_id == campaign.id,
            Consent.purpose == purpose,
            Consent.withdrawn_at.is_(None),
            Consent.superseded_at.is_(None),
        )
        .order_by(Consent.given_at.desc(), Consent.id.desc())
        .limit(1)
    )


def missing_consents(campaign: Campaign, day: date | None = None) -> dict[str, list[str]]:
    """The consents a submission still needs, as field errors (`consent.<purpose>`); empty when complete.

    A consent whose basis no longer fits the patient (the ID number was changed to an adult's after a
    guardian consented) counts as missing."""
    missing: dict[str, list[str]] = {}
    child = is_child(campaign, day)
    for purpose in (P.SENSITIVE_PROCESSING, P.PUBLIC_PAGE):
        consent = in_force(campaign, purpose)
        if consent is None:
            missing[f"consent.{purpose}"] = [_("Give this consent before you submit.")]
        elif child is not None and (consent.basis == B.GUARDIAN) != child:
            missing[f"consent.{purpose}"] = [
                _("The patient's age has changed since this consent was given. Give it again.")
            ]
    return missing

"""Consents to the privacy notice (PIPL): the separate consent to process a filing's sensitive data and the
separate consent to the public page, whose consent each must be (the patient's own from 14; a guardian's under
14; for a patient who cannot agree, a documented reason), withdrawing either, and the daily check that asks for
the patient's own consent once a child turns 14.

    give              records a consent under the current notice; a consent for the same purpose in force is
                      superseded (not withdrawn)
    withdraw          public page: the campaign leaves public view, fundraising closes; sensitive processing:
                      also the campaign is cancelled where the state machine allows (money follows the
                      existing rules: nothing more is paid from a cancelled campaign, paid stays paid)
    check_turned_14   daily: a guardian's consent whose patient is now 14 asks for the patient's own
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from fundraise import audit
from fundraise.access import is_applicant_side
from fundraise.database import insert_unless_present
from fundraise.errors import Forbidden, IllegalTransition, NotFound, ValidationFailed
from fundraise.extensions import db
from fundraise.models import (
    Campaign,
    CampaignState,
    Consent,
    ConsentBasis,
    ConsentPurpose,
    Notification,
    User,
)
from fundraise.models.columns import utcnow
from fundraise.models.consents import GUARDIAN_RELATIONSHIPS, UNABLE_REASONS
from fundraise.privacy_notice import NOTICE_VERSION
from fundraise.services.consent_rules import (
    AGE_OF_CONSENT,
    allowed_bases,
    in_force,
    turns_14_on,
)
from fundraise.services.filing import ACTIVE_STATES
from fundraise.services.transitions import TRANSITIONS, transition
from fundraise.unit_of_work import transactional
from fundraise.verification_text import CONSENT_WITHDRAWN_REASON

S = CampaignState
P = ConsentPurpose
B = ConsentBasis
UNABLE_TEXT_MAX = 500
# The reason stored on a campaign cancelled because its sensitive-processing consent was withdrawn (a code,
# rendered in the reader's language by fundraise.verification_text.reason_text).
WITHDRAWN_REASON = CONSENT_WITHDRAWN_REASON
# States in which a guardian's consent still matters for processing: the daily check looks at these.
WATCHED_STATES = (*ACTIVE_STATES, S.CLOSED)


@dataclass(frozen=True)
class ConsentInput:
    purpose: str
    basis: str
    guardian_relationship: str | None = None
    unable_reason_code: str | None = None
    unable_reason_text: str = ""
    notice_version: str = NOTICE_VERSION


@transactional
def give(campaign: Campaign, actor: User, given: ConsentInput, *, day: date | None = None) -> Consent:
    """Record a consent for the campaign under the current notice; commits. A consent in force for the same
    purpose is superseded by it."""
    if not is_applicant_side(actor, campaign):
        raise Forbidden(_("Only the family or their social worker can give this consent."))
    if campaign.state in (S.CANCELLED, S.REJECTED):
        raise IllegalTransition(_("This campaign has ended; there is nothing to consent to."))
    _check(campaign, actor, given, day)
    now = utcnow()
    previous = in_force(campaign, given.purpose)
    if previous is not None:
        previous.superseded_at = now
    consent = Consent(
        user_id=actor.id,
        campaign_id=campaign.id,
        purpose=given.purpose,
        basis=given.basis,
        guardian_relationship=given.guardian_relationship if given.basis == B.GUARDIAN else None,
        unable_reason_code=given.unable_reason_code if given.basis == B.PATIENT_UNABLE else None,
        unable_reason_text=(given.unable_reason_text or "").strip()
        if given.basis == B.PATIENT_UNABLE
        else "",
        notice_version=given.notice_version,
        given_at=now,
    )
    db.session.add(consent)
    if (
        given.purpose == P.PUBLIC_PAGE
        and campaign.unpublished_at is not None
        and in_force(campaign, P.SENSITIVE_PROCESSING) is not None
    ):
        # Consent to the page given again: the campaign may be shown again (fundraising reopens only if the
        # family opens it; a closed one stays closed).
        campaign.unpublished_at = None
    db.session.flush()
    audit.record(
        "consent.give",
        "consent",
        consent.id,
        actor=actor,
        after={
            "campaign_id": campaign.id,
            "purpose": consent.purpose,
            "basis": consent.basis,
            "guardian_relationship": consent.guardian_relationship,
            "unable_reason_code": consent.unable_reason_code,
            "notice_version": consent.notice_version,
            "superseded_id": previous.id if previous is not None else None,
        },
    )
    return consent


def _check(campaign: Campaign, actor: User, given: ConsentInput, day: date | None) -> None:
    errors: dict[str, list[str]] = {}
    if given.purpose not in P.__members__.values():
        errors["purpose"] = [_("Choose what the consent is for.")]
    if given.notice_version != NOTICE_VERSION:
        errors["notice_version"] = [
            _(
                "The privacy notice has changed since you opened this page. Read the current one and agree again."
            )
        ]
    bases = allowed_bases(campaign, actor, day)
    if not bases:
        errors["basis"] = [
            _("Enter the patient's ID number first: whose consent is needed depends on the age.")
        ]
    elif given.basis not in bases:
        errors["basis"] = [
            _("A patient under 14 needs a guardian's consent.")
            if bases == (B.GUARDIAN,)
            else _("Choose whose consent this is.")
        ]
    elif given.basis == B.GUARDIAN and given.guardian_relationship not in GUARDIAN_RELATIONSHIPS:
        errors["guardian_relationship"] = [_("Say how you are the child's guardian.")]
    elif given.basis == B.PATIENT_UNABLE:
        text = (given.unable_reason_text or "").strip()
        if given.unable_reason_code not in UNABLE_REASONS:
            errors["unable_reason_code"] = [_("Choose why the patient cannot give consent.")]
        if not text:
            errors["unable_reason_text"] = [_("Describe the patient's condition in a few words.")]
        elif len(text) > UNABLE_TEXT_MAX:
            errors["unable_reason_text"] = [_("At most %(n)d characters.", n=UNABLE_TEXT_MAX)]
    if errors:
        raise ValidationFailed(_("Please correct the marked fields."), fields=errors)


# --- withdrawing ---------------------------------------------------------------------------------------------


def consent_for_family(consent_id: int, user: User) -> Consent:
    """A consent of a campaign the caller acts for; NotFound otherwise, so others' consents are not revealed."""
    consent = db.session.get(Consent, consent_id)
    campaign = db.session.get(Campaign, consent.campaign_id) if consent and consent.campaign_id else None
    if consent is None or campaign is None or not is_applicant_side(user, campaign):
        raise NotFound(_("We could not find that consent."))
    return consent


def withdrawal_effects(consent: Consent) -> list[str]:
    """What withdrawing this consent would do, as codes the page explains (fundraise.consent_text)."""
    campaign = db.session.get(Campaign, consent.campaign_id)
    assert campaign is not None
    if campaign.state == S.DRAFT:
        return ["draft_kept"] if consent.purpose == P.SENSITIVE_PROCESSING else ["draft_page"]
    effects = ["unpublish"]
    if consent.purpose == P.SENSITIVE_PROCESSING:
        effects.append("public_consent_too")
    if _cancels(consent, campaign):
        effects.append("cancel")
        if campaign.state in (S.FUNDRAISING, S.SUSPENDED):
            effects += ["payments_stop", "held_money_refunded"]
    elif campaign.state == S.FUNDRAISING:
        effects.append("close_fundraising")
        effects.append("payments_continue")
    elif consent.purpose == P.SENSITIVE_PROCESSING:
        effects.append("ended_stays")
    effects += ["paid_stays_paid", "accounting_kept"]
    return effects


def _cancels(consent: Consent, campaign: Campaign) -> bool:
    """Withdrawing consent to processing cancels a submitted campaign where the state machine allows; a
    draft stays a draft (it cannot be submitted without consent)."""
    return (
        consent.purpose == P.SENSITIVE_PROCESSING
        and campaign.state != S.DRAFT
        and campaign.state in TRANSITIONS["cancel"].sources
    )


@transactional
def withdraw(consent: Consent, actor: User) -> Consent:
    """Withdraw a consent in force; commits. The effects are those `withdrawal_effects` lists."""
    campaign = db.session.get(Campaign, consent.campaign_id)
    if campaign is None or not is_applicant_side(actor, campaign):
        raise Forbidden(_("Only the family or their social worker can withdraw this consent."))
    if not consent.in_force:
        raise IllegalTransition(_("This consent is no longer in force."))
    now = utcnow()
    withdrawn = [consent]
    if consent.purpose == P.SENSITIVE_PROCESSING and (page := in_force(campaign, P.PUBLIC_PAGE)) is not None:
        withdrawn.append(page)  # without processing there is no page to show
    for row in withdrawn:
        row.withdrawn_at = now
        row.withdrawn_by_id = actor.id
        audit.record(
            "consent.withdraw",
            "consent",
            row.id,
            actor=actor,
            after={"campaign_id": campaign.id, "purpose": row.purpose},
        )
    if campaign.state == S.DRAFT:
        return consent
    state_before = campaign.state
    if _cancels(consent, campaign):
        transition(campaign, "cancel", actor=actor, reason=WITHDRAWN_REASON)
    elif campaign.state == S.FUNDRAISING:
        transition(campaign, "close", actor=actor)
    if campaign.unpublished_at is None:
        campaign.unpublished_at = now
        audit.record(
            "campaign.unpublish",
            "campaign",
            campaign.id,
            actor=actor,
            before={"state": state_before},
            after={"state": campaign.state, "consent_purpose": consent.purpose},
        )
    return consent


def consents_of(user: User) -> list[tuple[Campaign, list[Consent]]]:
    """The consents of the campaigns a family owns, newest campaign first, each campaign's newest first."""
    campaigns = db.session.scalars(
        select(Campaign).where(Campaign.applicant_id == user.id).order_by(Campaign.id.desc())
    ).all()
    out = []
    for campaign in campaigns:
        rows = db.session.scalars(
            select(Consent)
            .where(Consent.campaign_id == campaign.id)
            .order_by(Consent.given_at.desc(), Consent.id.desc())
        ).all()
        if rows:
            out.append((campaign, list(rows)))
    return out


# --- the patient turns 14 ------------------------------------------------------------------------------------


def own_consent_due(campaign: Campaign) -> Consent | None:
    """The guardian's consent whose patient has since turned 14 and whose own consent is asked for."""
    consent = in_force(campaign, P.SENSITIVE_PROCESSING)
    if consent is not None and consent.basis == B.GUARDIAN and consent.own_consent_requested_at is not None:
        return consent
    return None


@transactional
def give_own(
    campaign: Campaign, actor: User, *, basis: str, public_page: bool, notice_version: str
) -> Consent:
    """The patient, now 14, consents themselves: their consent to processing replaces the guardian's, and
    to the page too when `public_page` (otherwise the guardian's consent to the page stays in force)."""
    if own_consent_due(campaign) is None:
        raise IllegalTransition(_("No consent is asked for this campaign now."))
    consent = give(
        campaign, actor, ConsentInput(P.SENSITIVE_PROCESSING, basis, notice_version=notice_version)
    )
    if public_page and in_force(campaign, P.PUBLIC_PAGE) is not None:
        give(campaign, actor, ConsentInput(P.PUBLIC_PAGE, basis, notice_version=notice_version))
    return consent


def campaign_title(consent: Consent) -> str:
    campaign = db.session.get(Campaign, consent.campaign_id) if consent.campaign_id else None
    return campaign.title if campaign is not None else ""


@transactional
def check_turned_14(day: date | None = None) -> int:
    """Daily: every guardian's consent in force whose patient has turned 14 asks for the patient's own consent
    (once: the request is stamped on the consent) and notifies the family. Processing carries on meanwhile, as
    the notice says. Safe to run twice. Returns how many were asked."""
    today = day or date.today()
    # Born on or before this day fourteen years ago (29 February counts as 28 here; `turns_14_on` decides).
    try:
        latest_birth_date = today.replace(year=today.year - AGE_OF_CONSENT)
    except ValueError:
        latest_birth_date = date(today.year - AGE_OF_CONSENT, 2, 28)
    rows = db.session.execute(
        select(Consent, Campaign)
        .join(Campaign, Campaign.id == Consent.campaign_id)
        .where(
            Consent.purpose == P.SENSITIVE_PROCESSING,
            Consent.basis == B.GUARDIAN,
            Consent.withdrawn_at.is_(None),
            Consent.superseded_at.is_(None),
            Consent.own_consent_requested_at.is_(None),
            Campaign.state.in_(WATCHED_STATES),
            Campaign.patient_birth_date <= latest_birth_date,
        )
        .order_by(Consent.id)
    ).all()
    asked = 0
    now = utcnow()
    for consent, campaign in rows:
        if campaign.patient_birth_date is None or turns_14_on(campaign.patient_birth_date) > today:
            continue
        consent.own_consent_requested_at = now
        _notify(campaign, consent)
        audit.record(
            "consent.own_requested",
            "consent",
            consent.id,
            actor=None,
            after={"campaign_id": campaign.id, "purpose": consent.purpose},
        )
        asked += 1
    return asked


def _notify(campaign: Campaign, consent: Consent) -> None:
    params: dict[str, Any] = {"campaign_id": campaign.id, "title": campaign.title}
    for user_id in sorted({campaign.applicant_id, *([campaign.filed_by_id] if campaign.filed_by_id else [])}):
        insert_unless_present(
            Notification.__table__,
            {
                "user_id": user_id,
                "dedupe_key": f"consent_own:{consent.id}:{user_id}",
                "kind": "consent_own_needed",
                "campaign_id": campaign.id,
                "params": params,
                "created_at": utcnow(),
            },
            ["dedupe_key"],
        )

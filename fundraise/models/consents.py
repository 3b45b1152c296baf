"""Consents under the Personal Information Protection Law (PIPL): who agreed, for which campaign, to what, under
which version of the privacy notice, and when it ended (withdrawn, or replaced by a newer consent)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fundraise.extensions import db
from fundraise.models.accounts import User
from fundraise.models.campaigns import Campaign
from fundraise.models.columns import UTCDateTime


class ConsentPurpose(enum.StrEnum):
    # Separate consent (单独同意, PIPL art. 29) to process the sensitive data a filing holds: diagnosis and
    # bills, the ID number, the household's finances; given before submission.
    SENSITIVE_PROCESSING = "sensitive_processing"
    # Separate consent to make personal information public (PIPL art. 25): the campaign's public page.
    PUBLIC_PAGE = "public_page"


class ConsentBasis(enum.StrEnum):
    """Whose consent it is."""

    OWN = "own"  # the patient, 14 or older, filing for themselves
    GUARDIAN = "guardian"  # a parent or other legal guardian, for a patient under 14 (PIPL art. 31)
    PATIENT_CONFIRMED = "patient_confirmed"  # the filer confirms the patient (14 or older) agreed
    PATIENT_UNABLE = "patient_unable"  # the patient cannot agree now; the reason is documented


GUARDIAN_RELATIONSHIPS = ("parent", "legal_guardian")
UNABLE_REASONS = ("unconscious", "intensive_care", "cognitive_impairment", "other")


def _values(values: object) -> str:
    return ", ".join(f"'{value}'" for value in values)  # type: ignore[attr-defined]  # an enum or a tuple


class Consent(db.Model):
    __tablename__ = "consents"
    __table_args__ = (
        CheckConstraint(f"purpose IN ({_values(ConsentPurpose)})", name="purpose"),
        CheckConstraint(f"basis IN ({_values(ConsentBasis)})", name="basis"),
        CheckConstraint(
            f"guardian_relationship IS NULL OR guardian_relationship IN ({_values(GUARDIAN_RELATIONSHIPS)})",
            name="guardian_relationship",
        ),
        CheckConstraint(
            f"unable_reason_code IS NULL OR unable_reason_code IN ({_values(UNABLE_REASONS)})",
            name="unable_reason_code",
        ),
        # A guardian's consent names the relationship; a patient unable to agree has a documented reason.
        CheckConstraint(
            "(basis = 'guardian') = (guardian_relationship IS NOT NULL)", name="guardian_names_relationship"
        ),
        CheckConstraint(
            "(basis = 'patient_unable') = (unable_reason_code IS NOT NULL)", name="unable_has_reason"
        ),
        # The campaign's consents for one purpose, newest last: what is in force now is read off this.
        Index("ix_consents_campaign_purpose", "campaign_id", "purpose", "given_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Who gave it: the family's account holder or the hospital social worker filing for them.
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # None for a consent not tied to a campaign (none yet; kept open for account-level purposes).
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    purpose: Mapped[str] = mapped_column(String(32))
    basis: Mapped[str] = mapped_column(String(24))
    guardian_relationship: Mapped[str | None] = mapped_column(String(16))
    unable_reason_code: Mapped[str | None] = mapped_column(String(24))
    unable_reason_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    # The privacy notice the person was shown (fundraise.privacy_notice.NOTICE_VERSION).
    notice_version: Mapped[str] = mapped_column(String(16))
    given_at: Mapped[datetime] = mapped_column(UTCDateTime())
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    withdrawn_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Replaced by a newer consent for the same purpose (a new notice version, or the patient's own consent
    # after turning 14): no longer in force, but not withdrawn.
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A guardian's consent whose patient has turned 14: when the daily check asked for the patient's own.
    own_consent_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    campaign: Mapped[Campaign | None] = relationship()

    @property
    def in_force(self) -> bool:
        return self.withdrawn_at is None and self.superseded_at is None

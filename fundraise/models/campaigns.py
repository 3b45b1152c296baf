"""Campaigns: a patient's case, its evidence, its updates and the reports made about it."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fundraise.extensions import db
from fundraise.models.accounts import User
from fundraise.models.columns import UTCDateTime, utcnow
from fundraise.models.reference import DiseaseRange, Hospital, Region


class CampaignState(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    VERIFYING = "verifying"
    NEEDS_REVIEW = "needs_review"
    VERIFIED = "verified"
    REJECTED = "rejected"
    FUNDRAISING = "fundraising"
    CLOSED = "closed"
    SUSPENDED = "suspended"
    CANCELLED = "cancelled"


class DocumentKind(enum.StrEnum):
    PHOTO = "photo"
    DIAGNOSIS = "diagnosis"
    COST_ESTIMATE = "cost_estimate"
    IDENTITY = "identity"
    HOUSEHOLD = "household"
    UPDATE_PHOTO = "update_photo"
    # A hospital bill a disbursement pays (the public sees it only blurred), and the final bill of a close-out.
    BILL = "bill"
    # What a family sends when staff ask for more evidence about a report.
    REPORT_EVIDENCE = "report_evidence"
    # A file a civil-affairs officer attaches to a finding about the recipient (fundraise/models/register.py).
    FINDING_ATTACHMENT = "finding_attachment"


# What the filing asks for as evidence.
FILING_EVIDENCE = (
    DocumentKind.DIAGNOSIS,
    DocumentKind.COST_ESTIMATE,
    DocumentKind.IDENTITY,
    DocumentKind.HOUSEHOLD,
)


class ReportStatus(enum.StrEnum):
    OPEN = "open"  # not yet looked at
    CREDIBLE = (
        "credible"  # staff found it credible: the campaign's disbursements freeze while they look into it
    )
    EVIDENCE_REQUESTED = "evidence_requested"  # the family was asked for more evidence by a deadline (frozen)
    DISMISSED = "dismissed"
    UPHELD = "upheld"  # the campaign was suspended
    FRAUD_CONFIRMED = "fraud_confirmed"  # every donor refunded, the patient blocked, the campaign ended


# Reports still being worked: a reinstatement waits for them.
UNRESOLVED_REPORTS = (ReportStatus.OPEN, ReportStatus.CREDIBLE, ReportStatus.EVIDENCE_REQUESTED)
# Reports that freeze the campaign's disbursements (an untriaged report does not: anyone can file one).
FREEZING_REPORTS = (ReportStatus.CREDIBLE, ReportStatus.EVIDENCE_REQUESTED)


def _values(kind: type[enum.StrEnum]) -> str:
    return ", ".join(f"'{member.value}'" for member in kind)


class Campaign(db.Model):
    """A family's request for help with one patient's treatment."""

    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint(f"state IN ({_values(CampaignState)})", name="state"),
        CheckConstraint("patient_sex IS NULL OR patient_sex IN ('M', 'F')", name="patient_sex"),
        CheckConstraint(
            "cost_total_fen >= 0 AND cost_in_policy_fen >= 0 AND cost_in_policy_fen <= cost_total_fen",
            name="costs",
        ),
        CheckConstraint("target_fen >= 0", name="target"),
        CheckConstraint("admissions >= 1 AND admissions <= 60", name="admissions"),
        CheckConstraint(
            "next_year_admissions >= 0 AND next_year_admissions <= admissions"
            " AND next_year_cost_fen >= 0 AND next_year_cost_fen <= cost_total_fen",
            name="next_year",
        ),
        CheckConstraint(
            "household_income_fen >= 0 AND savings_fen >= 0 AND commercial_insurance_fen >= 0"
            " AND other_fundraising_fen >= 0",
            name="finances",
        ),
        Index("ix_campaigns_state_region", "state", "patient_region_code"),
        # The register's default order (newest submission first): a page is read off this index, the region
        # and state checked in the index itself on PostgreSQL (benchmarks/register.py).
        Index(
            "ix_campaigns_submitted",
            "submitted_at",
            "id",
            postgresql_include=["patient_region_code", "state", "ended_code"],
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default=CampaignState.DRAFT, index=True)
    applicant_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # The social worker who filed on the family's behalf, if one did.
    filed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    title: Mapped[str] = mapped_column(String(80), default="")
    story: Mapped[str] = mapped_column(Text, default="")

    patient_name: Mapped[str] = mapped_column(String(64), default="")
    # AES-GCM ciphertext of the national ID number, and its keyed blind index for look-ups.
    patient_id_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    patient_id_index: Mapped[str | None] = mapped_column(String(64), index=True)
    patient_id_masked: Mapped[str | None] = mapped_column(String(18))
    patient_birth_date: Mapped[date | None] = mapped_column(Date)
    patient_sex: Mapped[str | None] = mapped_column(String(1))
    patient_region_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"), index=True)
    relationship_to_patient: Mapped[str | None] = mapped_column(String(16))

    diagnosis_icd10: Mapped[str | None] = mapped_column(String(8))
    diagnosis_text: Mapped[str] = mapped_column(String(200), default="")
    disease_range_id: Mapped[int | None] = mapped_column(ForeignKey("disease_ranges.id"), index=True)
    hospital_id: Mapped[int | None] = mapped_column(ForeignKey("hospitals.id"), index=True)
    admitted_on: Mapped[date | None] = mapped_column(Date)
    treatment_plan: Mapped[str] = mapped_column(Text, default="")
    cost_total_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_in_policy_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    # Admissions the treatment plan needs in all, and the part of the plan (admissions and cost, included in
    # the totals) that falls in the next calendar year, when deductibles and caps start again.
    admissions: Mapped[int] = mapped_column(default=1, server_default="1")
    next_year_admissions: Mapped[int] = mapped_column(default=0, server_default="0")
    next_year_cost_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    target_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    # What the family asked for, kept once verification has capped `target_fen` to the gap or the limit.
    requested_target_fen: Mapped[int | None] = mapped_column(BigInteger)

    household_income_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # a year, all members
    household_size: Mapped[int | None] = mapped_column()
    owns_house: Mapped[bool | None] = mapped_column()
    house_note: Mapped[str] = mapped_column(String(200), default="")
    owns_car: Mapped[bool | None] = mapped_column()
    car_note: Mapped[str] = mapped_column(String(200), default="")
    savings_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    commercial_insurance_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    other_fundraising_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    # The family says they have already claimed the medical assistance (医疗救助) their civil-affairs class
    # entitles them to; unclaimed assistance is to be claimed before fundraising opens ("assistance first").
    assistance_claimed: Mapped[bool] = mapped_column(default=False)

    stay_confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    stay_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # For treatment outside the patient's pooling region: whether it was referred and filed with the medical
    # insurance (转诊/异地就医备案). None: the family did not say. The hospital's social worker confirms the
    # answer with the stay; changing the answer drops the confirmation.
    referral_filed: Mapped[bool | None] = mapped_column()
    referral_confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    referral_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_reason: Mapped[str] = mapped_column(Text, default="")
    # Where a suspended campaign returns to once a report is resolved.
    state_before_suspension: Mapped[str | None] = mapped_column(String(16))
    # Why a campaign that took money ended, when its public page stays to say so: 'fraud_confirmed' or
    # 'closed_out' (treatment over, surplus handled).
    ended_code: Mapped[str | None] = mapped_column(String(32))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The family withdrew its consent to the public page (fundraise.services.consents): the page and the lists
    # no longer show the campaign, whatever its state.
    unpublished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    state_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    applicant: Mapped[User] = relationship(foreign_keys=[applicant_id])
    filed_by: Mapped[User | None] = relationship(foreign_keys=[filed_by_id])
    stay_confirmed_by: Mapped[User | None] = relationship(foreign_keys=[stay_confirmed_by_id])
    referral_confirmed_by: Mapped[User | None] = relationship(foreign_keys=[referral_confirmed_by_id])
    hospital: Mapped[Hospital | None] = relationship()
    patient_region: Mapped[Region | None] = relationship()
    disease: Mapped[DiseaseRange | None] = relationship()
    documents: Mapped[list[Document]] = relationship(
        back_populates="campaign", order_by="Document.id", cascade="all, delete-orphan"
    )
    updates: Mapped[list[CampaignUpdate]] = relationship(
        back_populates="campaign", order_by="CampaignUpdate.created_at.desc()", cascade="all, delete-orphan"
    )

    @property
    def photos(self) -> list[Document]:
        return [d for d in self.documents if d.kind == DocumentKind.PHOTO and d.update_id is None]

    @property
    def evidence(self) -> list[Document]:
        """The documents filed with the case (not photos, nor the bills and report evidence sent later)."""
        return [d for d in self.documents if d.kind in FILING_EVIDENCE]


class Document(db.Model):
    """An uploaded file: stored under a random name outside static/, served only to those allowed."""

    __tablename__ = "documents"
    __table_args__ = (CheckConstraint(f"kind IN ({_values(DocumentKind)})", name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    update_id: Mapped[int | None] = mapped_column(ForeignKey("campaign_updates.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    original_name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column()
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    campaign: Mapped[Campaign] = relationship(back_populates="documents")

    @property
    def is_public(self) -> bool:
        """Photos are shown to everyone; evidence documents only to those who review the case."""
        return self.kind in (DocumentKind.PHOTO, DocumentKind.UPDATE_PHOTO)


class CampaignUpdate(db.Model):
    """A progress post by the family or social worker, with optional photos."""

    __tablename__ = "campaign_updates"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    campaign: Mapped[Campaign] = relationship(back_populates="updates")
    author: Mapped[User] = relationship()
    photos: Mapped[list[Document]] = relationship(order_by="Document.id", viewonly=True)


class CampaignReport(db.Model):
    """A report from the public that a campaign may be false or misused; staff work the queue."""

    __tablename__ = "campaign_reports"
    __table_args__ = (CheckConstraint(f"status IN ({_values(ReportStatus)})", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reporter_contact: Mapped[str] = mapped_column(String(254), default="")
    reason: Mapped[str] = mapped_column(String(32))
    details: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(24), default=ReportStatus.OPEN, index=True)
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolution: Mapped[str] = mapped_column(Text, default="")
    # An objection to one disbursement in its notice period: that disbursement is held while this is unresolved.
    disbursement_id: Mapped[int | None] = mapped_column(ForeignKey("disbursements.id"), index=True)
    # Staff asked the family for more evidence: what, by when, and the family's answer.
    evidence_request: Mapped[str] = mapped_column(Text, default="", server_default="")
    evidence_due_on: Mapped[date | None] = mapped_column(Date)
    evidence_response: Mapped[str] = mapped_column(Text, default="", server_default="")
    evidence_responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    campaign: Mapped[Campaign] = relationship()
    reporter: Mapped[User | None] = relationship(foreign_keys=[reporter_id])
    handled_by: Mapped[User | None] = relationship(foreign_keys=[handled_by_id])

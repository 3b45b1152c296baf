"""Typed SQLAlchemy models; every table is made by the migrations in migrations/."""

from fundraise.models.accounts import ApiToken, Charity, LoginSession, Role, User
from fundraise.models.audit import AuditCheckpoint, AuditEvent
from fundraise.models.campaigns import (
    Campaign,
    CampaignReport,
    CampaignState,
    CampaignUpdate,
    Document,
    DocumentKind,
    ReportStatus,
)
from fundraise.models.donations import (
    DisputeStatus,
    Donation,
    DonationRefund,
    DonationStatus,
    PaymentEvent,
    RefundStatus,
    SandboxPayment,
    SandboxRefund,
    SurplusChoice,
)
from fundraise.models.jobs import Notification, OutboxMessage
from fundraise.models.ledger import (
    AccountKind,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    TransactionKind,
)
from fundraise.models.records import (
    AssistanceClass,
    BasicEnrolmentRecord,
    CivilAffairsRecord,
    CriticalIllnessRecord,
    ImportBatch,
    ImportStatus,
    InsuranceScheme,
    RecordKind,
)
from fundraise.models.reference import DiseaseRange, Hospital, Region
from fundraise.models.verification import (
    VerificationDecision,
    VerificationProblem,
    VerificationReport,
    VerificationTrigger,
)

__all__ = [
    "AccountKind",
    "ApiToken",
    "AssistanceClass",
    "AuditCheckpoint",
    "AuditEvent",
    "BasicEnrolmentRecord",
    "Campaign",
    "CampaignReport",
    "CampaignState",
    "CampaignUpdate",
    "Charity",
    "CivilAffairsRecord",
    "CriticalIllnessRecord",
    "DiseaseRange",
    "DisputeStatus",
    "Document",
    "DocumentKind",
    "Donation",
    "DonationRefund",
    "DonationStatus",
    "Hospital",
    "ImportBatch",
    "ImportStatus",
    "InsuranceScheme",
    "LedgerAccount",
    "LedgerEntry",
    "LedgerTransaction",
    "LoginSession",
    "Notification",
    "OutboxMessage",
    "PaymentEvent",
    "RecordKind",
    "RefundStatus",
    "Region",
    "ReportStatus",
    "Role",
    "SandboxPayment",
    "SandboxRefund",
    "SurplusChoice",
    "TransactionKind",
    "User",
    "VerificationDecision",
    "VerificationProblem",
    "VerificationReport",
    "VerificationTrigger",
]

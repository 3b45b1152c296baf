"""Typed SQLAlchemy models; every table is made by the migrations in migrations/."""

from fundraise.models.accounts import ApiToken, Charity, Role, User
from fundraise.models.audit import AuditEvent
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
from fundraise.models.reference import DiseaseRange, Hospital, Region

__all__ = [
    "AccountKind",
    "ApiToken",
    "AuditEvent",
    "Campaign",
    "CampaignReport",
    "CampaignState",
    "CampaignUpdate",
    "Charity",
    "DiseaseRange",
    "DisputeStatus",
    "Document",
    "DocumentKind",
    "Donation",
    "DonationRefund",
    "DonationStatus",
    "Hospital",
    "LedgerAccount",
    "LedgerEntry",
    "LedgerTransaction",
    "Notification",
    "OutboxMessage",
    "PaymentEvent",
    "RefundStatus",
    "Region",
    "ReportStatus",
    "Role",
    "SandboxPayment",
    "SandboxRefund",
    "SurplusChoice",
    "TransactionKind",
    "User",
]

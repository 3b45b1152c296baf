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
from fundraise.models.jobs import Notification, OutboxMessage
from fundraise.models.reference import DiseaseRange, Hospital, Region

__all__ = [
    "ApiToken",
    "AuditEvent",
    "Campaign",
    "CampaignReport",
    "CampaignState",
    "CampaignUpdate",
    "Charity",
    "DiseaseRange",
    "Document",
    "DocumentKind",
    "Hospital",
    "Notification",
    "OutboxMessage",
    "Region",
    "ReportStatus",
    "Role",
    "User",
]

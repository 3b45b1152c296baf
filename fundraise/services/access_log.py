"""Who looked at a recipient's private data: every view of the full ID number, of a private document (evidence,
bills, report evidence, finding attachments) and of the household's full finances is an audit event about the
campaign, and `views_of` lists them with the viewer's role and organisation, never their name or e-mail.

The events are written by `record_document_view` and `record_finances_view` here, and by
`fundraise.services.filing.reveal_id_number` for the ID number. `views_of` knows nothing of pages: the staff's
views page, the register's recipient page and (later) the person themself all read it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from fundraise import audit
from fundraise.access import in_jurisdiction, is_staff
from fundraise.extensions import db
from fundraise.models import AuditEvent, Campaign, Document, User
from fundraise.services.audit_events import Actor, described
from fundraise.unit_of_work import transactional

REVEAL_ID = "campaign.reveal_id"
DOCUMENT_VIEW = "document.view"
FINANCES_VIEW = "campaign.view_finances"
VIEW_ACTIONS = (REVEAL_ID, DOCUMENT_VIEW, FINANCES_VIEW)
# What each event says was seen.
WHAT = {REVEAL_ID: "id_number", DOCUMENT_VIEW: "document", FINANCES_VIEW: "finances"}
MAX_VIEWS = 500


@dataclass(frozen=True)
class View:
    """One look at a recipient's private data."""

    id: int  # the audit event's id
    at: datetime
    actor: Actor
    what: str  # "id_number" | "document" | "finances"
    document_id: int | None = None
    document_kind: str = ""


@transactional
def record_document_view(document: Document, viewer: User) -> None:
    """A private document was opened (public photos are not logged)."""
    if document.is_public:
        return
    audit.record(
        DOCUMENT_VIEW,
        "campaign",
        document.campaign_id,
        actor=viewer,
        after={"document_id": document.id, "kind": document.kind},
    )


def views_finances_as_reviewer(viewer: User | None, campaign: Campaign) -> bool:
    """Whether this viewer sees the campaign's full finances as a reviewer or auditor (charity staff, admins,
    officers of the patient's region), which is logged; the family's own look is not."""
    return viewer is not None and (is_staff(viewer) or in_jurisdiction(viewer, campaign))


def record_finances_view(campaign: Campaign, viewer: User | None) -> None:
    """A page showed the household's full finances: one event per page view by a reviewer or auditor, and
    nothing at all (not even a transaction) for anyone else."""
    if viewer is not None and views_finances_as_reviewer(viewer, campaign):
        _record_finances_view(campaign.id, viewer)


@transactional
def _record_finances_view(campaign_id: int, viewer: User) -> None:
    audit.record(FINANCES_VIEW, "campaign", campaign_id, actor=viewer)


def views_of(
    campaign_id: int, *, before: int | None = None, limit: int = MAX_VIEWS, locale: str = "zh_CN"
) -> list[View]:
    """Every recorded look at this campaign's private data, newest first, at most `limit` (≤ 500) of them from
    just below event id `before`. Uses the (object_type, object_id) index."""
    query = select(AuditEvent).where(
        AuditEvent.object_type == "campaign",
        AuditEvent.object_id == str(campaign_id),
        AuditEvent.action.in_(VIEW_ACTIONS),
    )
    if before is not None:
        query = query.where(AuditEvent.id < before)
    rows = db.session.scalars(query.order_by(AuditEvent.id.desc()).limit(max(1, min(limit, MAX_VIEWS))))
    views = []
    for event in described(rows, locale):
        after = event.after or {}
        document_id = after.get("document_id")
        views.append(
            View(
                id=event.id,
                at=event.at,
                actor=event.actor,
                what=WHAT[event.action],
                document_id=document_id if isinstance(document_id, int) else None,
                document_kind=str(after.get("kind") or ""),
            )
        )
    return views

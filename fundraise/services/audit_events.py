"""Reading the audit log for people: events filtered by object, actor, action and date, newest first, a page at a
time by event id (keyset, never OFFSET), each actor described by role and organisation rather than by name or
e-mail. Officers read only the events about campaigns of their jurisdiction (and those campaigns' disbursements
and reports); charity staff and admins read everything. Personal details sealed in an event
(fundraise/person_keys.py) are opened for whoever may read the event. The audit-log viewer, its API and the access log
(fundraise/services/access_log.py) read through here."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, String, and_, cast, false, or_, select

from fundraise import person_keys
from fundraise.access import STAFF_ROLES
from fundraise.extensions import db
from fundraise.models import AuditEvent, Campaign, CampaignReport, Charity, Disbursement, Role, User
from fundraise.services import reference_cache

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
SYSTEM = "system"  # the actor_label of events no person caused
# The kinds of object an officer may filter by: the ones their scope reaches.
OFFICER_OBJECT_TYPES = ("campaign", "disbursement", "report")


@dataclass(frozen=True)
class Actor:
    """Who acted, as far as an audit reader is told: the role, and the organisation the person acts for (a
    charity, a hospital, a jurisdiction) in the reader's language. Never a name or an e-mail address."""

    id: int | None
    role: str  # a Role value, or "system"
    organisation_kind: str = ""  # "charity" | "hospital" | "jurisdiction" | ""
    organisation: str = ""


SYSTEM_ACTOR = Actor(id=None, role=SYSTEM)


@dataclass(frozen=True)
class EventFilter:
    """What to narrow the log to; every part is optional."""

    object_type: str = ""
    object_id: str = ""
    actor_id: int | None = None
    actor_role: str = ""  # a Role value, or "system"
    action_prefix: str = ""
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


@dataclass(frozen=True)
class LoggedEvent:
    id: int
    seq: int | None
    at: datetime
    actor: Actor
    action: str
    object_type: str
    object_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@dataclass
class EventPage:
    """One page of events, newest first; `next_before` continues after the last of them (None at the end)."""

    items: list[LoggedEvent] = field(default_factory=list)
    next_before: int | None = None


def may_read_log(user: User | None) -> bool:
    return user is not None and user.role in (*STAFF_ROLES, Role.CIVIL_AFFAIRS_OFFICER)


def officer_scope(prefix: str) -> ColumnElement[bool]:
    """Events about campaigns whose patient is registered under `prefix`, and about their disbursements and
    reports: three indexed sub-queries on (object_type, object_id)."""
    in_region = Campaign.patient_region_code.startswith(prefix, autoescape=True)
    campaigns = select(cast(Campaign.id, String)).where(in_region)
    disbursements = (
        select(cast(Disbursement.id, String))
        .join(Campaign, Campaign.id == Disbursement.campaign_id)
        .where(in_region)
    )
    reports = (
        select(cast(CampaignReport.id, String))
        .join(Campaign, Campaign.id == CampaignReport.campaign_id)
        .where(in_region)
    )
    return or_(
        and_(AuditEvent.object_type == "campaign", AuditEvent.object_id.in_(campaigns)),
        and_(AuditEvent.object_type == "disbursement", AuditEvent.object_id.in_(disbursements)),
        and_(AuditEvent.object_type == "report", AuditEvent.object_id.in_(reports)),
    )


def reader_scope(reader: User) -> ColumnElement[bool] | None:
    """What of the log this reader may see: None for everything, a condition for an officer, nothing at all
    for anyone else."""
    if reader.role in STAFF_ROLES:
        return None
    if reader.role == Role.CIVIL_AFFAIRS_OFFICER:
        return officer_scope(reader.jurisdiction_prefix or "")
    return false()


def _conditions(filters: EventFilter) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if filters.object_type:
        found.append(AuditEvent.object_type == filters.object_type)
    if filters.object_id:
        found.append(AuditEvent.object_id == filters.object_id)
    if filters.actor_id is not None:
        found.append(AuditEvent.actor_id == filters.actor_id)
    if filters.actor_role == SYSTEM:
        found.append(AuditEvent.actor_label == SYSTEM)
    elif filters.actor_role:
        found.append(AuditEvent.actor_label.startswith(f"{filters.actor_role}:", autoescape=True))
    if filters.action_prefix:
        found.append(AuditEvent.action.startswith(filters.action_prefix, autoescape=True))
    if filters.since is not None:
        found.append(AuditEvent.created_at >= filters.since)
    if filters.until is not None:
        found.append(AuditEvent.created_at < filters.until)
    return found


def events(
    reader: User,
    filters: EventFilter,
    *,
    before: int | None = None,
    limit: int = PAGE_SIZE,
    locale: str = "zh_CN",
) -> EventPage:
    """One page of the events this reader may see that match `filters`, newest first, from just below event
    id `before` (the previous page's `next_before`)."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    query = select(AuditEvent).where(*_conditions(filters))
    scope = reader_scope(reader)
    if scope is not None:
        query = query.where(scope)
    if before is not None:
        query = query.where(AuditEvent.id < before)
    rows = list(db.session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return EventPage(items=described(rows, locale), next_before=rows[-1].id if more else None)


def described(rows: Iterable[AuditEvent], locale: str) -> list[LoggedEvent]:
    """Events with their actors described, two queries for the whole lot."""
    rows = list(rows)
    actors = actors_by_id({row.actor_id for row in rows if row.actor_id is not None}, locale)
    return [
        LoggedEvent(
            id=row.id,
            seq=row.seq,
            at=row.created_at,
            actor=_actor_of(row, actors),
            action=row.action,
            object_type=row.object_type,
            object_id=row.object_id,
            # Sealed personal details opened for whoever may read the event (the scope above decides that),
            # or a marker that writes out "erased" once the person's key is gone.
            before=person_keys.open_fields(row.before),
            after=person_keys.open_fields(row.after),
        )
        for row in rows
    ]


def _actor_of(row: AuditEvent, actors: dict[int, Actor]) -> Actor:
    if row.actor_id is None:
        return SYSTEM_ACTOR
    known = actors.get(row.actor_id)
    if known is not None:
        return known
    # The account is gone: the label written with the event still names the role it acted in.
    return Actor(id=row.actor_id, role=row.actor_label.partition(":")[0])


def actors_by_id(ids: set[int], locale: str) -> dict[int, Actor]:
    """Each account's role and organisation: its charity, its hospital, or (an officer) its jurisdiction."""
    if not ids:
        return {}
    users = db.session.execute(
        select(User.id, User.role, User.charity_id, User.hospital_id, User.jurisdiction_code).where(
            User.id.in_(ids)
        )
    ).all()
    charity_ids = {user.charity_id for user in users if user.charity_id is not None}
    charities = {
        charity.id: charity.name(locale)
        for charity in (
            db.session.scalars(select(Charity).where(Charity.id.in_(charity_ids))) if charity_ids else ()
        )
    }
    found: dict[int, Actor] = {}
    for user in users:
        kind, name = "", ""
        if user.charity_id is not None:
            kind, name = "charity", charities.get(user.charity_id, "")
        elif user.hospital_id is not None:
            hospital = reference_cache.hospital(user.hospital_id)
            kind, name = "hospital", hospital.name(locale) if hospital is not None else ""
        elif user.jurisdiction_code:
            kind = "jurisdiction"
            name = reference_cache.region_full_name(user.jurisdiction_code, locale) or user.jurisdiction_code
        found[user.id] = Actor(id=user.id, role=user.role, organisation_kind=kind, organisation=name)
    return found

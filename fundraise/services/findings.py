"""Findings: what a civil-affairs officer found about a recipient of their jurisdiction, recorded with a
title, a note and files, open until an officer resolves it with a note saying how.

Officers record and resolve findings about campaigns under their prefix and see only those; charity staff and
admins read every finding and change none. Every change is audit-logged.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVarTuple

from flask_babel import gettext as _
from sqlalchemy import Select, false, func, select
from sqlalchemy.orm import selectinload

from fundraise import audit, person_keys
from fundraise.access import in_jurisdiction, is_staff
from fundraise.errors import IllegalTransition, NotFound, ValidationFailed
from fundraise.extensions import db
from fundraise.models import Campaign, DocumentKind, Finding, FindingStatus, RegisterSample, Role, User
from fundraise.models.columns import utcnow
from fundraise.pagination import Page, paginate
from fundraise.services import documents, register, sampling
from fundraise.services.documents import Upload
from fundraise.unit_of_work import unit_of_work

TITLE_MAX = 200
NOTE_MAX = 4000
RESOLUTION_MIN = 5
RESOLUTION_MAX = 4000
EXPORT_BATCH = 500
Columns = TypeVarTuple("Columns")


@dataclass(frozen=True)
class FindingInput:
    """What an officer writes: a title, a note and, optionally, the sample the recipient was drawn in."""

    title: str
    note: str = ""
    sample_id: int | None = None


def _officer(actor: User | None) -> User:
    if actor is None or actor.role != Role.CIVIL_AFFAIRS_OFFICER:
        raise NotFound(_("Only civil-affairs officers record findings."))
    return actor


def recipient_for(campaign_id: int, actor: User) -> Campaign:
    """A recipient in the officer's jurisdiction; NotFound for any other campaign (existence not revealed)."""
    campaign = db.session.get(Campaign, campaign_id)
    if (
        campaign is None
        or not in_jurisdiction(actor, campaign)
        or db.session.scalar(select(Campaign.id).where(Campaign.id == campaign_id, register.is_recipient()))
        is None
    ):
        raise NotFound(_("We could not find that recipient in your jurisdiction."))
    return campaign


def _text(value: str, field: str, minimum: int, maximum: int, errors: dict[str, list[str]]) -> str:
    value = (value or "").strip()
    if not minimum <= len(value) <= maximum:
        if minimum:
            errors[field] = [_("Write %(min)d to %(max)d characters.", min=minimum, max=maximum)]
        else:
            errors[field] = [_("At most %(n)s characters.", n=format(maximum, ","))]
    return value


def record_finding(
    campaign_id: int, actor: User | None, data: FindingInput, files: Sequence[Upload] = ()
) -> Finding:
    """Record an open finding about a recipient in the officer's jurisdiction, with its files (PDF, JPEG or
    PNG, checked by content), all or nothing. Audit-logged."""
    officer = _officer(actor)
    campaign = recipient_for(campaign_id, officer)
    errors: dict[str, list[str]] = {}
    title = _text(data.title, "title", 1, TITLE_MAX, errors)
    note = _text(data.note, "note", 0, NOTE_MAX, errors)
    if data.sample_id is not None:
        sample = db.session.get(RegisterSample, data.sample_id)
        if sample is None or not sampling.visible_to(sample, officer):
            errors["sample_id"] = [_("No such sample in your jurisdiction.")]
        elif campaign.id not in [int(i) for i in sample.campaign_ids]:
            errors["sample_id"] = [_("This recipient was not drawn in that sample.")]
    if errors:
        raise ValidationFailed(_("Please correct the marked fields."), fields=errors)
    kind = DocumentKind.FINDING_ATTACHMENT.value
    # Files are checked and re-encoded with no transaction open; then stored with the finding, or not at all.
    prepared = documents.prepare_for(campaign, officer, [(kind, upload) for upload in files]) if files else []
    with unit_of_work():
        finding = Finding(
            campaign_id=campaign.id,
            sample_id=data.sample_id,
            title=title,
            note=note,
            status=FindingStatus.OPEN,
            resolution="",
            recorded_by_id=officer.id,
        )
        db.session.add(finding)
        stored = documents.store(campaign, officer, prepared) if prepared else []
        finding.attachments.extend(stored)
        db.session.flush()
        audit.record(
            "finding.record",
            "finding",
            finding.id,
            actor=officer,
            after={
                "campaign_id": campaign.id,
                "sample_id": data.sample_id,
                **person_keys.seal_for_campaign(campaign.id, {"title": title, "note": note}),
                "document_ids": [document.id for document in stored],
            },
        )
    return finding


def resolve_finding(finding_id: int, actor: User | None, resolution: str) -> Finding:
    """Close an open finding with a note saying how it was resolved. Audit-logged."""
    officer = _officer(actor)
    with unit_of_work():
        finding = db.session.get(Finding, finding_id, with_for_update=True, populate_existing=True)
        if finding is None or not in_jurisdiction(officer, finding.campaign):
            raise NotFound(_("We could not find that finding."))
        errors: dict[str, list[str]] = {}
        resolution = _text(resolution, "resolution", RESOLUTION_MIN, RESOLUTION_MAX, errors)
        if errors:
            raise ValidationFailed(_("Please correct the marked fields."), fields=errors)
        if finding.status != FindingStatus.OPEN:
            raise IllegalTransition(_("This finding has already been resolved."))
        finding.status = FindingStatus.RESOLVED
        finding.resolution = resolution
        finding.resolved_by_id = officer.id
        finding.resolved_at = utcnow()
        audit.record(
            "finding.resolve",
            "finding",
            finding.id,
            actor=officer,
            before={"status": FindingStatus.OPEN},
            after={
                "status": FindingStatus.RESOLVED,
                **person_keys.seal_for_campaign(finding.campaign_id, {"resolution": resolution}),
            },
        )
    return finding


# --- reading ---------------------------------------------------------------------------------------------


def may_read_findings(user: User | None) -> bool:
    return user is not None and (is_staff(user) or user.role == Role.CIVIL_AFFAIRS_OFFICER)


def _visible(query: Select[*Columns], user: User) -> Select[*Columns]:
    if is_staff(user):
        return query
    if user.role != Role.CIVIL_AFFAIRS_OFFICER:
        return query.where(false())
    return query.join(Campaign, Campaign.id == Finding.campaign_id).where(
        sampling.in_prefix(user.jurisdiction_prefix or "")
    )


def findings_query(user: User, status: str | None = None, campaign_id: int | None = None) -> Select[Any]:
    """The findings this user may read, newest first, optionally only open or resolved ones or one campaign's."""
    query = _visible(select(Finding), user)
    if status in (FindingStatus.OPEN, FindingStatus.RESOLVED):
        query = query.where(Finding.status == status)
    if campaign_id is not None:
        query = query.where(Finding.campaign_id == campaign_id)
    return query.order_by(Finding.created_at.desc(), Finding.id.desc())


def list_findings(
    user: User,
    *,
    status: str | None = None,
    campaign_id: int | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page[Finding]:
    query = findings_query(user, status, campaign_id).options(
        selectinload(Finding.campaign), selectinload(Finding.recorded_by)
    )
    return paginate(query, page, per_page)


def status_counts(user: User) -> dict[str, int]:
    """How many open and resolved findings this user may read."""
    query = _visible(select(Finding.status, func.count(Finding.id)), user).group_by(Finding.status)
    counts = {status.value: 0 for status in FindingStatus}
    counts.update({status: count for status, count in db.session.execute(query).all()})
    return counts


def get_finding(finding_id: int, user: User) -> Finding:
    """The finding, if this user may read it; NotFound otherwise (existence is not revealed)."""
    finding = db.session.get(Finding, finding_id)
    if finding is None or not (is_staff(user) or in_jurisdiction(user, finding.campaign)):
        raise NotFound(_("We could not find that finding."))
    return finding


def export_rows(user: User, status: str | None = None) -> Iterator[Finding]:
    """Every finding the user may read, in batches (streamed into the CSV without holding them all)."""
    last_id: int | None = None
    while True:
        query = _visible(select(Finding), user).options(selectinload(Finding.campaign))
        if status in (FindingStatus.OPEN, FindingStatus.RESOLVED):
            query = query.where(Finding.status == status)
        if last_id is not None:
            query = query.where(Finding.id > last_id)
        batch = list(db.session.scalars(query.order_by(Finding.id).limit(EXPORT_BATCH)))
        yield from batch
        if len(batch) < EXPORT_BATCH:
            return
        last_id = batch[-1].id


def record_export(actor: User, what: str, details: dict[str, object]) -> None:
    """Write a download of the register's findings or summary to the audit log. Commits."""
    with unit_of_work():
        audit.record(
            f"register.export_{what}",
            "jurisdiction",
            actor.jurisdiction_code or "all",
            actor=actor,
            after=dict(details),
        )

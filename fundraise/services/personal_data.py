"""A person's own data (PIPL arts. 45 and 44): the archive of everything held about an account, streamed as a
ZIP, and the list of who looked at their case's private data.

The archive is made in two steps. `start_export` is the unit of work: it audits the download and every ID
number the archive shows in full (as any full-ID view is logged), and decrypts those numbers. `archive_chunks`
then writes the ZIP as a generator, a JSON file or an uploaded file at a time, reading each file in small
pieces, so a case with many large files never sits in memory whole (zipfile writes to a stream that cannot
seek by adding data descriptors after each member)."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import inspect, or_, select

from fundraise import audit, pii
from fundraise.extensions import db
from fundraise.models import (
    ApiToken,
    AuditEvent,
    Campaign,
    CampaignUpdate,
    DeletionRequest,
    Document,
    Donation,
    LoginSession,
    Notification,
    User,
    VerificationReport,
)
from fundraise.services import access_log
from fundraise.services.audit_events import described
from fundraise.services.documents import upload_dir
from fundraise.unit_of_work import transactional

EXPORT_ACTION = "personal_data.export"
FILE_CHUNK_BYTES = 64 * 1024
WHO_LOOKED_PAGE = 20

# Columns never put in an archive: secrets, and ciphertexts shown decrypted instead.
_WITHHELD = {"password_hash", "patient_id_ciphertext", "token_hash", "key_hash", "patient_id_index"}


@dataclass
class Export:
    """What one download is to contain: the account and its campaigns, with the ID numbers it may show."""

    user_id: int
    campaign_ids: list[int]
    id_numbers: dict[int, str] = field(default_factory=dict)


def campaigns_of(user: User) -> list[int]:
    """The campaigns this account filed (the patient's data is reached through the family's account)."""
    return list(
        db.session.scalars(select(Campaign.id).where(Campaign.applicant_id == user.id).order_by(Campaign.id))
    )


@transactional
def start_export(user: User) -> Export:
    """Audit the download (counts only) and each full ID number it shows; the numbers, decrypted."""
    export = Export(user_id=user.id, campaign_ids=campaigns_of(user))
    for campaign in db.session.scalars(select(Campaign).where(Campaign.id.in_(export.campaign_ids))):
        if campaign.patient_id_ciphertext is not None:
            audit.record(access_log.REVEAL_ID, "campaign", campaign.id, actor=user, after={"by": "export"})
            export.id_numbers[campaign.id] = pii.decrypt_id(campaign.patient_id_ciphertext)
    documents = _documents(export.campaign_ids)
    audit.record(
        EXPORT_ACTION,
        "user",
        user.id,
        actor=user,
        after={"campaigns": len(export.campaign_ids), "files": len(documents)},
    )
    return export


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return None
    return value


def row(model: Any, *, withheld: Iterable[str] = ()) -> dict[str, Any]:
    """A row's columns as JSON values, without secrets."""
    skip = _WITHHELD | set(withheld)
    return {
        column.key: _plain(getattr(model, column.key))
        for column in inspect(type(model)).columns
        if column.key not in skip
    }


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True).encode()


def _documents(campaign_ids: list[int]) -> list[Document]:
    if not campaign_ids:
        return []
    return list(
        db.session.scalars(
            select(Document).where(Document.campaign_id.in_(campaign_ids)).order_by(Document.id)
        )
    )


def _rows(model: Any, *conditions: Any) -> list[dict[str, Any]]:
    return [row(item) for item in db.session.scalars(select(model).where(*conditions).order_by(model.id))]


def _json_members(export: Export) -> Iterator[tuple[str, bytes]]:
    user = db.session.get(User, export.user_id)
    assert user is not None
    yield "account.json", _json(row(user))
    yield "sign_ins.json", _json(_rows(LoginSession, LoginSession.user_id == user.id))
    yield "api_tokens.json", _json(_rows(ApiToken, ApiToken.user_id == user.id))
    for campaign_id in export.campaign_ids:
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign is not None
        facts = row(campaign)
        facts["patient_id_number"] = export.id_numbers.get(campaign_id)
        folder = f"campaigns/{campaign_id}"
        yield f"{folder}/campaign.json", _json(facts)
        yield (
            f"{folder}/verification_reports.json",
            _json(_rows(VerificationReport, VerificationReport.campaign_id == campaign_id)),
        )
        yield f"{folder}/documents.json", _json(_rows(Document, Document.campaign_id == campaign_id))
        yield (
            f"{folder}/updates.json",
            _json(_rows(CampaignUpdate, CampaignUpdate.campaign_id == campaign_id)),
        )
        yield f"{folder}/donations_received.json", _json(_received(campaign_id))
    gifts = list(
        db.session.scalars(select(Donation).where(Donation.donor_id == user.id).order_by(Donation.id))
    )
    yield "donations_given.json", _json([row(gift, withheld={"idempotency_key"}) for gift in gifts])
    yield (
        "receipts.json",
        _json(
            [
                {
                    "receipt_number": gift.receipt_number,
                    "amount_fen": gift.amount_fen,
                    "currency": gift.currency,
                    "confirmed_at": _plain(gift.confirmed_at),
                    "campaign_id": gift.campaign_id,
                }
                for gift in gifts
                if gift.receipt_number
            ]
        ),
    )
    yield "notifications.json", _json(_rows(Notification, Notification.user_id == user.id))
    consents = _consents(user.id)
    if consents is not None:
        yield "consents.json", _json(consents)
    yield "deletion_requests.json", _json(_rows(DeletionRequest, DeletionRequest.user_id == user.id))
    yield "who_looked.json", _json(_looks(export.campaign_ids, export.user_id))
    yield "README.txt", readme()


def readme() -> bytes:
    """What the archive holds, in the reader's language."""
    return "\n".join(
        [
            _("Aidbridge: everything we hold about your account, as of the time of download."),
            _(
                "Each .json file is UTF-8 JSON. Amounts are whole fen (100 fen = 1 yuan); times are UTC, "
                "written as ISO 8601."
            ),
            _("campaigns/<number>/files/ holds the files uploaded to each campaign, as they were uploaded."),
            _(
                "who_looked.json lists who (by role and organisation) viewed your case's private data, and when."
            ),
            "",
        ]
    ).encode()


def _received(campaign_id: int) -> list[dict[str, Any]]:
    """Gifts to the family's campaign: amounts and dates only (the donors' details are theirs)."""
    return [
        {"id": gift.id, "amount_fen": gift.amount_fen, "status": gift.status, "at": _plain(gift.confirmed_at)}
        for gift in db.session.scalars(
            select(Donation).where(Donation.campaign_id == campaign_id).order_by(Donation.id)
        )
    ]


def _consents(user_id: int) -> list[dict[str, Any]] | None:
    """The account's consent records, once the consent part's model exists."""
    from fundraise import models

    model = getattr(models, "ConsentRecord", None) or getattr(models, "Consent", None)
    if model is None or not hasattr(model, "user_id"):
        return None
    return _rows(model, model.user_id == user_id)


def _looks(campaign_ids: list[int], user_id: int) -> list[dict[str, Any]]:
    looks: list[dict[str, Any]] = []
    before = None
    while True:
        page = views_of_campaigns(
            campaign_ids, before=before, limit=access_log.MAX_VIEWS, except_actor_id=user_id
        )
        looks.extend(
            {
                "at": view.at.isoformat(),
                "campaign_id": view.campaign_id,
                "what": view.what,
                "role": view.actor.role,
                "organisation": view.actor.organisation,
            }
            for view in page.views
        )
        if page.next_before is None:
            return looks
        before = page.next_before


class _Sink:
    """A write-only stream that hands what zipfile wrote to the generator, chunk by chunk."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.written = 0

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.written += len(data)
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def drain(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        return data


def archive_chunks(export: Export) -> Iterator[bytes]:
    """The ZIP, a piece at a time (JSON files first, then each uploaded file in FILE_CHUNK_BYTES pieces)."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in _json_members(export):
            archive.writestr(name, data)
            yield sink.drain()
        for document in _documents(export.campaign_ids):
            path = upload_dir() / document.stored_name
            if not path.is_file():
                continue
            name = f"campaigns/{document.campaign_id}/files/{document.id}-{Path(document.original_name).name}"
            with archive.open(name, "w", force_zip64=True) as member, path.open("rb") as source:
                while piece := source.read(FILE_CHUNK_BYTES):
                    member.write(piece)
                    yield sink.drain()
            yield sink.drain()
    yield sink.drain()


# --- who looked ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Look:
    """One look at the person's case: when, what, and who by role and organisation."""

    id: int
    at: datetime
    campaign_id: int
    what: str
    actor: Any
    document_id: int | None = None
    document_kind: str = ""


@dataclass(frozen=True)
class LookPage:
    views: list[Look]
    next_before: int | None


def views_of_campaigns(
    campaign_ids: list[int],
    *,
    before: int | None = None,
    limit: int = WHO_LOOKED_PAGE,
    locale: str = "zh_CN",
    except_actor_id: int | None = None,
) -> LookPage:
    """The recorded looks at these campaigns' private data, newest first, a page at a time by event id;
    `except_actor_id` leaves out the person's own looks (their archive shows them their own ID number)."""
    if not campaign_ids:
        return LookPage([], None)
    limit = max(1, min(limit, access_log.MAX_VIEWS))
    query = select(AuditEvent).where(
        AuditEvent.object_type == "campaign",
        AuditEvent.object_id.in_([str(campaign_id) for campaign_id in campaign_ids]),
        AuditEvent.action.in_(access_log.VIEW_ACTIONS),
    )
    if before is not None:
        query = query.where(AuditEvent.id < before)
    if except_actor_id is not None:
        query = query.where(or_(AuditEvent.actor_id.is_(None), AuditEvent.actor_id != except_actor_id))
    rows = list(db.session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    views = [
        Look(
            id=event.id,
            at=event.at,
            campaign_id=int(event.object_id),
            what=access_log.WHAT[event.action],
            actor=event.actor,
            document_id=_document_id(event.after),
            document_kind=str((event.after or {}).get("kind") or ""),
        )
        for event in described(rows[:limit], locale)
    ]
    return LookPage(views, views[-1].id if more and views else None)


def _document_id(after: dict[str, Any] | None) -> int | None:
    value = (after or {}).get("document_id")
    return value if isinstance(value, int) else None

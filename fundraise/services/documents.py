"""Uploaded evidence and photos: checked by content and size, stripped of metadata, stored under random
names outside static/, and served only to those allowed to see them."""

from __future__ import annotations

import hashlib
import io
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from flask import current_app
from flask_babel import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from fundraise.errors import Forbidden, IllegalTransition, NotFound, ValidationFailed
from fundraise.extensions import db
from fundraise.models import Campaign, CampaignState, Document, DocumentKind, User
from fundraise.services import audit
from fundraise.services.campaigns import can_see_private, can_view, is_applicant_side

# What a file's first bytes must be; the name's extension is never trusted.
SIGNATURES = {
    "application/pdf": (b"%PDF-", ".pdf"),
    "image/jpeg": (b"\xff\xd8\xff", ".jpg"),
    "image/png": (b"\x89PNG\r\n\x1a\n", ".png"),
}
IMAGE_TYPES = ("image/jpeg", "image/png")
PHOTO_KINDS = (DocumentKind.PHOTO, DocumentKind.UPDATE_PHOTO)
# Large enough for a phone photo, small enough that a crafted image cannot exhaust memory.
MAX_IMAGE_PIXELS = 50_000_000
MAX_IMAGE_SIDE = 4096


@dataclass(frozen=True)
class Upload:
    """A file as received: its name as the sender gave it, and its bytes."""

    filename: str
    data: bytes


def read_upload(stream: BinaryIO, filename: str, field: str) -> Upload:
    """Read at most one byte over the limit, so an oversize upload is refused without reading it all."""
    limit = current_app.config["MAX_UPLOAD_BYTES"]
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise ValidationFailed(
            _("The file is too large."),
            fields={field: [_("%(name)s is larger than %(size)s.", name=filename, size=size_label(limit))]},
        )
    return Upload(filename=os.path.basename(filename or "upload")[:200], data=data)


def size_label(size_bytes: int) -> str:
    """10485760 -> '10 MB', 300000 -> '292 KB'."""
    if size_bytes >= 1024 * 1024:
        return f"{size_bytes // (1024 * 1024)} MB"
    return f"{max(size_bytes // 1024, 1)} KB"


def detect_type(data: bytes) -> str | None:
    for content_type, (signature, _extension) in SIGNATURES.items():
        if data.startswith(signature):
            return content_type
    return None


def _checked(upload: Upload, kind: str, field: str) -> tuple[str, bytes]:
    """The content type and the bytes to store (images re-encoded without metadata), or a field error."""
    if not upload.data:
        raise ValidationFailed(
            _("The file is empty."), fields={field: [_("%(name)s is empty.", name=upload.filename)]}
        )
    if len(upload.data) > current_app.config["MAX_UPLOAD_BYTES"]:
        raise ValidationFailed(
            _("The file is too large."), fields={field: [_("%(name)s is too large.", name=upload.filename)]}
        )
    content_type = detect_type(upload.data)
    if content_type is None:
        raise ValidationFailed(
            _("Unsupported file type."),
            fields={
                field: [
                    _(
                        "%(name)s is not a PDF, JPEG or PNG file (checked by its content, not its name).",
                        name=upload.filename,
                    )
                ]
            },
        )
    if kind in PHOTO_KINDS and content_type not in IMAGE_TYPES:
        raise ValidationFailed(
            _("Photos must be images."),
            fields={field: [_("%(name)s is not a JPEG or PNG image.", name=upload.filename)]},
        )
    if content_type in IMAGE_TYPES:
        return content_type, _strip_image(upload, content_type, field)
    if b"%%EOF" not in upload.data[-2048:]:
        raise ValidationFailed(
            _("The PDF is incomplete."),
            fields={field: [_("%(name)s is not a complete PDF file.", name=upload.filename)]},
        )
    return content_type, upload.data


def _strip_image(upload: Upload, content_type: str, field: str) -> bytes:
    """Decode and re-encode the pixels only: EXIF (GPS position, phone serial), comments and any payload
    appended to the file are dropped. Orientation is applied first, so the photo still stands upright."""
    bad = ValidationFailed(
        _("The image could not be read."),
        fields={field: [_("%(name)s is not a readable image.", name=upload.filename)]},
    )
    try:
        with Image.open(io.BytesIO(upload.data)) as probe:
            if probe.width * probe.height > MAX_IMAGE_PIXELS:
                raise bad
            probe.verify()
        with Image.open(io.BytesIO(upload.data)) as image:
            image.load()
            upright = ImageOps.exif_transpose(image)
            upright.thumbnail((MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))
            if upright.mode not in ("RGB", "RGBA", "L", "LA"):
                upright = upright.convert("RGBA" if "transparency" in upright.info else "RGB")
            # Pixels only: a new image from the raw bytes carries no info dict, EXIF, ICC or comments.
            clean = Image.frombytes(upright.mode, upright.size, upright.tobytes())
            if content_type == "image/jpeg" and clean.mode not in ("RGB", "L"):
                clean = clean.convert("RGB")
            out = io.BytesIO()
            clean.save(
                out, format="JPEG" if content_type == "image/jpeg" else "PNG", quality=88, optimize=True
            )
            return out.getvalue()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise bad from error


def upload_dir() -> Path:
    path = Path(current_app.config["UPLOAD_DIR"])
    path.mkdir(parents=True, exist_ok=True)
    return path


def attach(
    campaign: Campaign,
    actor: User,
    files: list[tuple[str, Upload]],
    *,
    update_id: int | None = None,
    commit: bool = True,
) -> list[Document]:
    """Check every (kind, upload) pair first; store none unless all are good. Evidence only on drafts."""
    if not is_applicant_side(actor, campaign):
        raise Forbidden(_("You may not add files to this campaign."))
    errors: dict[str, list[str]] = {}
    checked: list[tuple[str, Upload, str, bytes]] = []
    for kind, upload in files:
        if kind not in DocumentKind._value2member_map_:
            errors.setdefault(kind, []).append(_("Unknown document kind."))
            continue
        if kind != DocumentKind.UPDATE_PHOTO and campaign.state != CampaignState.DRAFT:
            raise IllegalTransition(_("Files can be added only while the campaign is a draft."))
        try:
            content_type, data = _checked(upload, kind, kind)
        except ValidationFailed as error:
            for field, messages in error.fields.items():
                errors.setdefault(field, []).extend(messages)
            continue
        checked.append((kind, upload, content_type, data))
    if errors:
        raise ValidationFailed(_("Some files were not accepted. Nothing was saved."), fields=errors)

    written: list[Path] = []
    documents = []
    try:
        for kind, upload, content_type, data in checked:
            stored_name = secrets.token_hex(16) + SIGNATURES[content_type][1]
            path = upload_dir() / stored_name
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as handle:
                handle.write(data)
            written.append(path)
            document = Document(
                campaign_id=campaign.id,
                update_id=update_id,
                kind=kind,
                stored_name=stored_name,
                original_name=upload.filename,
                content_type=content_type,
                size_bytes=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                uploaded_by_id=actor.id,
            )
            db.session.add(document)
            documents.append(document)
        db.session.flush()
        for document in documents:
            audit.record(
                "document.add",
                "campaign",
                campaign.id,
                actor=actor,
                after={"document_id": document.id, "kind": document.kind, "sha256": document.sha256},
            )
        if commit:
            db.session.commit()
    except Exception:
        db.session.rollback()
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return documents


def remove(campaign: Campaign, actor: User, document_id: int) -> None:
    """Take a file off a draft (the stored bytes are deleted too)."""
    document = db.session.get(Document, document_id)
    if document is None or document.campaign_id != campaign.id:
        raise NotFound(_("No such file."))
    if not is_applicant_side(actor, campaign):
        raise Forbidden(_("You may not remove files from this campaign."))
    if campaign.state != CampaignState.DRAFT:
        raise IllegalTransition(_("Files can be removed only while the campaign is a draft."))
    audit.record(
        "document.remove",
        "campaign",
        campaign.id,
        actor=actor,
        before={"document_id": document.id, "kind": document.kind, "sha256": document.sha256},
    )
    db.session.delete(document)
    db.session.commit()
    (upload_dir() / document.stored_name).unlink(missing_ok=True)


def open_for(document_id: int, user: User | None) -> tuple[Document, Path]:
    """The document and its file, if this user may see it; NotFound otherwise (existence is not revealed)."""
    document = db.session.get(Document, document_id)
    if document is None:
        raise NotFound(_("No such file."))
    campaign = document.campaign
    allowed = can_view(user, campaign) if document.is_public else can_see_private(user, campaign)
    if not allowed:
        raise NotFound(_("No such file."))
    path = upload_dir() / document.stored_name
    if not path.is_file():
        raise NotFound(_("The file is missing from storage."))
    return document, path

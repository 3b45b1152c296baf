"""Uploaded evidence and photos: checked by content and size, stripped of metadata, stored under random
names outside static/, and served only to those allowed to see them.

Adding files has two phases. `prepare` checks each file by its content and re-encodes images: CPU work only,
with no database access, so it runs after the request's read-only transaction has been released and holds no
lock meanwhile (on SQLite every transaction holds the write lock). `store` then writes the files, their rows
and audit events in one transaction. `attach` does both, all or nothing.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import secrets
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from flask import current_app
from flask_babel import gettext as _
from PIL import Image, ImageFile, ImageOps, JpegImagePlugin, PngImagePlugin, UnidentifiedImageError
from sqlalchemy import func, select

from fundraise import audit
from fundraise.access import can_see_private, can_view, in_jurisdiction, is_applicant_side, is_staff
from fundraise.database import release_read_transaction
from fundraise.errors import Forbidden, IllegalTransition, NotFound, ValidationFailed
from fundraise.extensions import db
from fundraise.models import Campaign, CampaignState, Document, DocumentKind, User
from fundraise.services import access_log
from fundraise.unit_of_work import on_rollback, unit_of_work

# What a file's first bytes must be; the name's extension is never trusted.
SIGNATURES = {
    "application/pdf": (b"%PDF-", ".pdf"),
    "image/jpeg": (b"\xff\xd8\xff", ".jpg"),
    "image/png": (b"\x89PNG\r\n\x1a\n", ".png"),
}
IMAGE_TYPES = ("image/jpeg", "image/png")
PHOTO_KINDS = (DocumentKind.PHOTO, DocumentKind.UPDATE_PHOTO)
# Files added after the draft: progress photos, the bills disbursements pay, evidence asked for about a report.
LATE_KINDS = (
    DocumentKind.UPDATE_PHOTO,
    DocumentKind.BILL,
    DocumentKind.REPORT_EVIDENCE,
    DocumentKind.FINDING_ATTACHMENT,
)

# An image declaring a larger side is refused before any pixel is decoded: no photo or scan is larger (a
# 108-megapixel phone sensor is 12,000 x 9,000), while a crafted 50,000,000 x 1 PNG is 200 KB.
MAX_IMAGE_SIDE = 12_000
# At most this many pixels of one image are decoded into memory: 4096 x 4096, 64 MB as RGBA, far below
# Pillow's own decompression-bomb limit (89 MP). A scanned A4 page at 300 dpi is 2480 x 3508 (8.7 MP). A PNG
# can only be decoded whole, so a larger one is refused; a JPEG is decoded at 1/2, 1/4 or 1/8 of its size
# (libjpeg's DCT scaling, Pillow's draft()) until it fits.
MAX_DECODED_PIXELS = 4096 * 4096
# A progressive JPEG (or one whose colours come in separate scans) is decoded by holding every DCT
# coefficient of the whole image in memory whatever the output scale, some 6 bytes a pixel for a colour image
# (851 MB for a crafted 12,000 x 12,000 one): its declared size must fit MAX_DECODED_PIXELS itself. Each scan
# is a pass over the whole image and a crafted file can hold thousands; libjpeg writes 10 for a progressive
# colour JPEG.
MAX_JPEG_SCANS = 100
# The frame types (SOFn markers) accepted: baseline, extended sequential and progressive Huffman coding,
# which is every JPEG a phone, scanner or image editor writes by default.
JPEG_FRAMES = (0xC0, 0xC1, 0xC2)
# Stored images are at most this on their longer side.
STORED_IMAGE_SIDE = 4096

# Which setting caps how many files of a kind one campaign holds (config/settings.py); the evidence kinds
# count together.
CAMPAIGN_LIMITS = {
    DocumentKind.PHOTO.value: "MAX_CAMPAIGN_PHOTOS",
    DocumentKind.UPDATE_PHOTO.value: "MAX_UPDATE_PHOTOS",
    DocumentKind.BILL.value: "MAX_BILL_DOCUMENTS",
    DocumentKind.REPORT_EVIDENCE.value: "MAX_BILL_DOCUMENTS",
    DocumentKind.FINDING_ATTACHMENT.value: "MAX_FINDING_ATTACHMENTS",
    **{
        kind.value: "MAX_EVIDENCE_DOCUMENTS"
        for kind in DocumentKind
        if kind not in (*PHOTO_KINDS, *LATE_KINDS)
    },
}


@dataclass(frozen=True)
class Upload:
    """A file as received: its name as the sender gave it, and its bytes."""

    filename: str
    data: bytes


@dataclass(frozen=True)
class PreparedFile:
    """A file checked by its content and ready to store: images re-encoded without metadata."""

    kind: str
    original_name: str
    content_type: str
    data: bytes


def read_upload(stream: IO[bytes], filename: str, field: str) -> Upload:
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


# --- limits ------------------------------------------------------------------------------------------


def check_files_per_request(fields: Sequence[str]) -> None:
    """Refuse more than MAX_FILES_PER_REQUEST files at once, before any is read or decoded; the error goes on
    every field that sent a file. `fields` names each file's field (a field sending three is named thrice)."""
    limit = current_app.config["MAX_FILES_PER_REQUEST"]
    if len(fields) > limit:
        message = _(
            "You sent %(count)d files; send at most %(limit)d at a time.", count=len(fields), limit=limit
        )
        raise ValidationFailed(
            _("Too many files. Nothing was saved."),
            fields={field: [message] for field in dict.fromkeys(fields)},
        )


def _campaign_limit_message(setting: str, limit: int, count: int) -> str:
    message: str
    if setting == "MAX_CAMPAIGN_PHOTOS":
        message = _(
            "A campaign can have at most %(limit)d photos (it has %(count)d).", limit=limit, count=count
        )
    elif setting == "MAX_BILL_DOCUMENTS":
        message = _(
            "A campaign can have at most %(limit)d bills and evidence files sent after filing (it has %(count)d).",
            limit=limit,
            count=count,
        )
    elif setting == "MAX_UPDATE_PHOTOS":
        message = _(
            "A campaign's updates can carry at most %(limit)d photos in all (they have %(count)d).",
            limit=limit,
            count=count,
        )
    else:
        message = _(
            "A campaign can have at most %(limit)d evidence documents (it has %(count)d).",
            limit=limit,
            count=count,
        )
    return message


def _check_campaign_limits(campaign_id: int, kinds: Sequence[str]) -> None:
    """Refuse files that would take the campaign over its limit for their kind."""
    adding = Counter(CAMPAIGN_LIMITS[kind] for kind in kinds)
    if not adding:
        return
    held: Counter[str] = Counter()
    rows = db.session.execute(
        select(Document.kind, func.count()).where(Document.campaign_id == campaign_id).group_by(Document.kind)
    )
    for kind, count in rows:
        held[CAMPAIGN_LIMITS[kind]] += count
    errors: dict[str, list[str]] = {}
    for setting, count in adding.items():
        limit = current_app.config[setting]
        if held[setting] + count > limit:
            message = _campaign_limit_message(setting, limit, held[setting])
            for kind in kinds:
                if CAMPAIGN_LIMITS[kind] == setting:
                    errors[kind] = [message]
    if errors:
        raise ValidationFailed(_("Too many files. Nothing was saved."), fields=errors)


def _check_may_attach(campaign: Campaign, actor: User, kinds: Sequence[str], state: str) -> None:
    """Who may add files, which kinds exist, that only update photos, bills and report evidence go on a campaign
    past its draft, and the campaign's limits. Charity staff may add a bill (a disbursement they request)."""
    staff_bill = is_staff(actor) and all(kind == DocumentKind.BILL for kind in kinds)
    # Officers of the patient's region attach files to their findings, and nobody else does.
    officer_files = in_jurisdiction(actor, campaign) and all(
        kind == DocumentKind.FINDING_ATTACHMENT for kind in kinds
    )
    not_officer = DocumentKind.FINDING_ATTACHMENT in kinds and not officer_files
    if not_officer or not (is_applicant_side(actor, campaign) or staff_bill or officer_files):
        raise Forbidden(_("You may not add files to this campaign."))
    unknown = [kind for kind in kinds if kind not in CAMPAIGN_LIMITS]
    if unknown:
        raise ValidationFailed(
            _("Some files were not accepted. Nothing was saved."),
            fields={kind: [_("Unknown document kind.")] for kind in unknown},
        )
    if state != CampaignState.DRAFT and any(kind not in LATE_KINDS for kind in kinds):
        raise IllegalTransition(_("Files can be added only while the campaign is a draft."))
    _check_campaign_limits(campaign.id, kinds)


# --- prepare: by content, CPU only -------------------------------------------------------------------


def prepare_for(campaign: Campaign, actor: User, files: Sequence[tuple[str, Upload]]) -> list[PreparedFile]:
    """Check that these files may be added to the campaign (refusing early, before any is decoded), then
    release the session's read-only transaction and prepare them, so no lock is held while images decode.
    Objects loaded earlier in the request load again on their next use."""
    kinds = [kind for kind, _upload in files]
    check_files_per_request(kinds)
    _check_may_attach(campaign, actor, kinds, campaign.state)
    release_read_transaction()
    return prepare(files)


def prepare(files: Sequence[tuple[str, Upload]]) -> list[PreparedFile]:
    """Check every (kind, upload) pair by its content and re-encode the images, without touching the database.
    All or nothing: one bad file refuses them all, with an error for each bad file under its kind."""
    check_files_per_request([kind for kind, _upload in files])
    errors: dict[str, list[str]] = {}
    prepared = []
    for kind, upload in files:
        if kind not in CAMPAIGN_LIMITS:
            errors.setdefault(kind, []).append(_("Unknown document kind."))
            continue
        try:
            content_type, data = _checked(upload, kind, kind)
        except ValidationFailed as error:
            for field, messages in error.fields.items():
                errors.setdefault(field, []).extend(messages)
            continue
        prepared.append(PreparedFile(kind, upload.filename, content_type, data))
    if errors:
        raise ValidationFailed(_("Some files were not accepted. Nothing was saved."), fields=errors)
    return prepared


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
        return content_type, _reencoded_image(upload, content_type, field)
    if b"%%EOF" not in upload.data[-2048:]:
        raise ValidationFailed(
            _("The PDF is incomplete."),
            fields={field: [_("%(name)s is not a complete PDF file.", name=upload.filename)]},
        )
    return content_type, upload.data


def _reencoded_image(upload: Upload, content_type: str, field: str) -> bytes:
    """Decode and re-encode the pixels only: EXIF (GPS position, phone serial), comments and any payload
    appended to the file are dropped. Orientation is applied, so the photo still stands upright. The declared
    size is checked before any pixel is decoded, and at most MAX_DECODED_PIXELS are ever decoded."""
    unreadable = ValidationFailed(
        _("The image could not be read."),
        fields={field: [_("%(name)s is not a readable image.", name=upload.filename)]},
    )
    try:
        image = _opened(upload.data, content_type)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as error:
        raise unreadable from error
    with image:
        refusal = _decoding_refusal(image, upload, content_type, field)
        if refusal is not None:
            raise refusal
        try:
            image.load()
            # Each step replaces the pixels in place instead of keeping the image before it alive.
            image.thumbnail((STORED_IMAGE_SIDE, STORED_IMAGE_SIDE))
            ImageOps.exif_transpose(image, in_place=True)
            clean: Image.Image = image
            if clean.mode not in ("RGB", "RGBA", "L", "LA"):
                clean = clean.convert("RGBA" if "transparency" in clean.info else "RGB")
            if content_type == "image/jpeg" and clean.mode not in ("RGB", "L"):
                clean = clean.convert("RGB")
            # Pixels only: the encoders write EXIF, ICC profiles and comments only from the info dict (or
            # from save() arguments, of which none are given).
            clean.info = {}
            out = io.BytesIO()
            if content_type == "image/jpeg":
                clean.save(out, format="JPEG", quality=88, optimize=True)
            else:
                # zlib's fastest level: a 16 MP photo-like PNG (9.5 MB) re-encodes in 1.3 s, against 2.1 s at
                # level 3 and 5.3 s at the default 6, whose files are about a quarter smaller (`optimize`
                # took 68 s). Disk is cheaper than a web worker's time.
                clean.save(out, format="PNG", compress_level=1)
            return out.getvalue()
        except (OSError, SyntaxError, ValueError, EOFError) as error:
            raise unreadable from error


def _opened(data: bytes, content_type: str) -> ImageFile.ImageFile:
    """The image's header, read by the decoder its content names; no pixel is decoded yet. Not Image.open:
    its decompression-bomb check warns from 89 MP (an error under the tests' warning filter) and refuses only
    from 179 MP, while we refuse far smaller images ourselves, with a message."""
    if content_type == "image/jpeg":
        return JpegImagePlugin.jpeg_factory(io.BytesIO(data))
    return PngImagePlugin.PngImageFile(io.BytesIO(data))


def _decoding_refusal(
    image: ImageFile.ImageFile, upload: Upload, content_type: str, field: str
) -> ValidationFailed | None:
    """Why this image may not be decoded, judged by its header alone; for a JPEG too large to decode whole,
    set it to decode at the least reduced scale that fits MAX_DECODED_PIXELS."""
    width, height = image.size

    def too_large(message: str) -> ValidationFailed:
        return ValidationFailed(_("The image is too large."), fields={field: [message]})

    if max(width, height) > MAX_IMAGE_SIDE:
        return too_large(
            _(
                "%(name)s is %(width)d × %(height)d pixels; images may be at most %(side)d pixels on a side.",
                name=upload.filename,
                width=width,
                height=height,
                side=MAX_IMAGE_SIDE,
            )
        )
    whole_too_large = too_large(
        _(
            "%(name)s is %(width)d × %(height)d pixels; a PNG or progressive JPEG may have at most "
            "%(megapixels)d megapixels. Save it smaller, or as an ordinary JPEG.",
            name=upload.filename,
            width=width,
            height=height,
            megapixels=MAX_DECODED_PIXELS // 1_000_000,
        )
    )
    if content_type == "image/png":
        return whole_too_large if width * height > MAX_DECODED_PIXELS else None

    frame, scans = jpeg_structure(upload.data)
    if frame not in JPEG_FRAMES:
        return ValidationFailed(
            _("The image could not be read."),
            fields={field: [_("%(name)s is not a readable image.", name=upload.filename)]},
        )
    if scans > MAX_JPEG_SCANS:
        return too_large(
            _(
                "%(name)s is a JPEG in %(scans)d scans; at most %(limit)d are accepted. "
                "Save it again as an ordinary JPEG.",
                name=upload.filename,
                scans=scans,
                limit=MAX_JPEG_SCANS,
            )
        )
    if scans > 1 and width * height > MAX_DECODED_PIXELS:
        return whole_too_large
    scale = next(s for s in (1, 2, 4, 8) if -(-width // s) * -(-height // s) <= MAX_DECODED_PIXELS)
    if scale > 1:
        # draft() picks the largest scale s with width // size[0] >= s on both sides: this size gives `scale`.
        image.draft(None, (max(width // scale, 1), max(height // scale, 1)))
    if image.width * image.height > MAX_DECODED_PIXELS:
        return whole_too_large
    return None


def jpeg_structure(data: bytes) -> tuple[int | None, int]:
    """The main image's frame type (its first SOFn marker) and number of scans, read from the JPEG's
    markers as a decoder reads them: segments are skipped by their length (so an EXIF thumbnail does not
    count), entropy-coded data up to the next real marker, bytes between segments are passed over, and
    reading stops at the end of the image (so a second picture after it does not count)."""
    frame: int | None = None
    scans = 0
    position = 2  # after SOI
    while True:
        position = data.find(b"\xff", position)
        if position < 0 or position + 1 >= len(data):
            break
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
            continue
        if marker in (0x00, 0x01) or 0xD0 <= marker <= 0xD7:  # stuffed 0xFF in scan data, TEM, restart
            position += 2
            continue
        if marker == 0xD9:  # end of image
            break
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC) and frame is None:
            frame = marker
        if marker == 0xDA:
            scans += 1
        position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")
    return frame, scans


# --- store: files, rows and audit in one transaction -------------------------------------------------


def upload_dir() -> Path:
    path = Path(current_app.config["UPLOAD_DIR"])
    path.mkdir(parents=True, exist_ok=True)
    return path


def store(
    campaign: Campaign,
    actor: User,
    prepared: Sequence[PreparedFile],
    *,
    update_id: int | None = None,
) -> list[Document]:
    """Write prepared files and their rows and audit events, as one unit of work (or part of the caller's).
    Permission, the draft rule and the campaign's limits are checked again here, in the writing transaction
    and (on PostgreSQL) with the campaign row locked, since the campaign may have changed while the files
    were prepared. A file written is removed again if the unit is rolled back."""
    documents = []
    with unit_of_work():
        query = select(Campaign.state).where(Campaign.id == campaign.id)
        if db.session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update()
        state = db.session.scalar(query)
        if state is None:
            raise NotFound(_("We could not find that campaign."))
        _check_may_attach(campaign, actor, [file.kind for file in prepared], state)
        for file in prepared:
            stored_name = secrets.token_hex(16) + SIGNATURES[file.content_type][1]
            path = upload_dir() / stored_name
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as handle:
                handle.write(file.data)
            on_rollback(functools.partial(path.unlink, missing_ok=True))
            document = Document(
                campaign_id=campaign.id,
                update_id=update_id,
                kind=file.kind,
                stored_name=stored_name,
                original_name=file.original_name,
                content_type=file.content_type,
                size_bytes=len(file.data),
                sha256=hashlib.sha256(file.data).hexdigest(),
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
    return documents


def attach(
    campaign: Campaign,
    actor: User,
    files: Sequence[tuple[str, Upload]],
    *,
    update_id: int | None = None,
) -> list[Document]:
    """Add (kind, upload) pairs to a campaign, none unless all are good: checked and prepared with no
    transaction open, then stored. Evidence only on drafts."""
    prepared = prepare_for(campaign, actor, files)
    return store(campaign, actor, prepared, update_id=update_id)


def remove(campaign: Campaign, actor: User, document_id: int) -> None:
    """Take a file off a draft (the stored bytes are deleted too)."""
    document = db.session.get(Document, document_id)
    if document is None or document.campaign_id != campaign.id:
        raise NotFound(_("No such file."))
    if not is_applicant_side(actor, campaign):
        raise Forbidden(_("You may not remove files from this campaign."))
    if campaign.state != CampaignState.DRAFT:
        raise IllegalTransition(_("Files can be removed only while the campaign is a draft."))
    with unit_of_work():
        audit.record(
            "document.remove",
            "campaign",
            campaign.id,
            actor=actor,
            before={"document_id": document.id, "kind": document.kind, "sha256": document.sha256},
        )
        db.session.delete(document)
    (upload_dir() / document.stored_name).unlink(missing_ok=True)  # once the row is gone for good


def open_for(document_id: int, user: User | None) -> tuple[Document, Path]:
    """The document and its file, if this user may see it; NotFound otherwise (existence is not revealed)."""
    document = db.session.get(Document, document_id)
    if document is None:
        raise NotFound(_("No such file."))
    campaign = document.campaign
    allowed = can_view(user, campaign) if document.is_public else can_see_private(user, campaign)
    if document.kind == DocumentKind.FINDING_ATTACHMENT:  # an officer's working file: not for the family
        allowed = is_staff(user) or in_jurisdiction(user, campaign)
    if not allowed:
        raise NotFound(_("No such file."))
    path = upload_dir() / document.stored_name
    if not path.is_file():
        raise NotFound(_("The file is missing from storage."))
    if not document.is_public and user is not None:
        access_log.record_document_view(document, user)  # who looked at a recipient's evidence, by anyone
    return document, path

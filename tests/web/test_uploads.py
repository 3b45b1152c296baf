"""Uploads through the filing pages (and the API): checked by content and size, decoded within a pixel budget,
stored without metadata, all or nothing, limited in number, and served only to those allowed to see them.
No database lock is held while files are decoded."""

from __future__ import annotations

import functools
import html
import io
import sqlite3
import struct
import threading
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import ExifTags, Image, ImageFile, PngImagePlugin
from sqlalchemy import select, update
from sqlalchemy.engine import make_url
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from fundraise.database import release_read_transaction
from fundraise.errors import ValidationFailed
from fundraise.extensions import db
from fundraise.family import routes as family_routes
from fundraise.models import Campaign, CampaignUpdate, Document, User
from fundraise.services import documents
from fundraise.services.accounts import create_token
from fundraise.services.documents import Upload
from tests.api.helpers import assert_problem, forget_request_globals
from tests.factories import CampaignFactory, DocumentFactory, UserFactory
from tests.web.test_filing import (
    new_draft,
    pdf_bytes,
    png_bytes,
    snapshot,
    story_form,
    text_of,
    upload,
)

LIMIT = 1024 * 1024


@pytest.fixture
def app_settings() -> dict[str, Any]:
    return {"MAX_UPLOAD_BYTES": LIMIT}


@pytest.fixture
def family(app, login):
    user = UserFactory()
    db.session.commit()
    return login(user)


def jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (64, 48), (200, 40, 40))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    exif[ExifTags.Base.Model] = "Serial-123456"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (31.0, 52.0, 12.5)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (117.0, 17.0, 3.25)
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    data = out.getvalue()
    with Image.open(io.BytesIO(data)) as check:  # the test file really carries a position
        assert check.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    return data


def status(client, path: str) -> int:
    """GET a file and close the response (it holds the file open)."""
    with client.get(path) as response:
        return response.status_code


def stored(app, document: Document) -> bytes:
    return (Path(app.config["UPLOAD_DIR"]) / document.stored_name).read_bytes()


def test_exif_and_gps_are_stripped_from_a_photo(app, client, family):
    campaign_id = new_draft(client)
    response = client.post(
        f"/family/campaigns/{campaign_id}/edit/story",
        data={**story_form(), "photo": [upload(jpeg_with_gps(), "IMG_0001.JPG")]},
    )
    assert response.status_code == 302, text_of(response)[:2000]
    document = db.session.scalars(select(Document)).one()
    assert document.kind == "photo"
    assert document.content_type == "image/jpeg"
    assert document.original_name == "IMG_0001.JPG"
    assert document.stored_name != "IMG_0001.JPG"
    data = stored(app, document)
    assert b"Exif" not in data
    assert b"PhoneMaker" not in data
    assert b"Serial-123456" not in data
    with Image.open(io.BytesIO(data)) as image:
        assert not image.getexif()
        assert "exif" not in image.info
        assert image.size == (64, 48)


def test_a_pdf_disguised_as_a_png_photo_is_refused_with_the_text(app, client, family):
    campaign_id = new_draft(client)
    before = snapshot(app)
    response = client.post(
        f"/family/campaigns/{campaign_id}/edit/story",
        data={
            **story_form(title="A new title"),
            "photo": [upload(png_bytes(), "good.png"), upload(pdf_bytes(), "holiday.png")],
        },
    )
    assert response.status_code == 422
    page = text_of(response)
    assert "holiday.png is not a JPEG or PNG image." in page
    assert 'value="A new title"' in page  # the typed title is kept on the page ...
    assert snapshot(app) == before  # ... but neither it nor the good photo was stored


def test_an_exe_renamed_pdf_is_refused(app, client, family):
    campaign_id = new_draft(client)
    before = snapshot(app)
    exe = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 200 + b"This program cannot be run in DOS mode."
    response = client.post(
        f"/family/campaigns/{campaign_id}/edit/documents",
        data={
            "diagnosis": [upload(exe, "诊断证明.pdf")],
            "cost_estimate": [upload(pdf_bytes(), "estimate.pdf")],
            "go": "stay",
        },
    )
    assert response.status_code == 422
    assert "诊断证明.pdf is not a PDF, JPEG or PNG file (checked by its content, not its name)." in text_of(
        response
    )
    assert snapshot(app) == before


def test_an_oversize_upload_is_refused(app, client, family):
    campaign_id = new_draft(client)
    before = snapshot(app)
    big = pdf_bytes() + b"%" + b"0" * LIMIT + b"\n%%EOF\n"
    # Encoded in memory: the test client would spool a body this large to a temporary file it never closes.
    boundary, body = encode_multipart(
        MultiDict(
            [
                ("identity", FileStorage(io.BytesIO(big), "scan.pdf")),
                ("diagnosis", FileStorage(io.BytesIO(pdf_bytes()), "ok.pdf")),
                ("go", "stay"),
            ]
        )
    )
    response = client.post(
        f"/family/campaigns/{campaign_id}/edit/documents",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    assert response.status_code == 422
    assert "scan.pdf is larger than 1 MB." in text_of(response)
    assert snapshot(app) == before


def test_an_incomplete_pdf_is_refused(app, client, family):
    campaign_id = new_draft(client)
    before = snapshot(app)
    response = client.post(
        f"/family/campaigns/{campaign_id}/edit/documents",
        data={"diagnosis": [upload(pdf_bytes()[:30], "cut.pdf")], "go": "stay"},
    )
    assert response.status_code == 422
    assert "cut.pdf is not a complete PDF file." in text_of(response)
    assert snapshot(app) == before


def test_documents_are_listed_and_can_be_removed(app, client, family):
    campaign_id = new_draft(client)
    response = client.post(
        f"/family/campaigns/{campaign_id}/edit/documents",
        data={
            "household": [upload(pdf_bytes(), "户口本.pdf"), upload(png_bytes(), "低保证.png")],
            "go": "stay",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/family/campaigns/{campaign_id}/edit/documents")
    page = text_of(client.get(f"/family/campaigns/{campaign_id}/edit/documents"))
    assert "户口本.pdf" in page
    assert "低保证.png" in page
    first, second = db.session.scalars(select(Document).order_by(Document.id)).all()
    path = Path(app.config["UPLOAD_DIR"]) / first.stored_name
    assert path.is_file()

    response = client.post(f"/family/campaigns/{campaign_id}/documents/{first.id}/remove")
    assert response.status_code == 302
    db.session.expire_all()
    assert [d.id for d in db.session.scalars(select(Document))] == [second.id]
    assert not path.exists()


def test_a_stranger_sees_photos_of_a_fundraising_campaign_but_never_evidence(app, client, family, login):
    campaign_id = new_draft(client)
    client.post(
        f"/family/campaigns/{campaign_id}/edit/story",
        data={**story_form(), "photo": [upload(png_bytes(), "xiaoming.png")]},
    )
    client.post(
        f"/family/campaigns/{campaign_id}/edit/documents",
        data={"diagnosis": [upload(pdf_bytes(), "诊断证明.pdf")], "go": "stay"},
    )
    campaign = db.session.get(Campaign, campaign_id)
    photo, evidence = campaign.photos[0], campaign.evidence[0]
    assert status(client, f"/documents/{evidence.id}") == 200  # the family itself

    stranger = app.test_client()
    # While it is a draft, even the photo is private.
    assert status(stranger, f"/documents/{photo.id}") == 404
    campaign.state = "fundraising"
    db.session.commit()
    with stranger.get(f"/documents/{photo.id}") as response:
        assert response.status_code == 200
        assert response.mimetype == "image/png"
    assert status(stranger, f"/documents/{evidence.id}") == 404

    other_family = UserFactory()
    db.session.commit()
    client.post("/logout")
    login(other_family)
    assert status(client, f"/documents/{photo.id}") == 200
    assert status(client, f"/documents/{evidence.id}") == 404


def test_a_bad_photo_on_an_update_stores_nothing(app, client, family):
    campaign = CampaignFactory(applicant=family, state="fundraising", with_evidence=True)
    db.session.commit()
    before = snapshot(app)
    response = client.post(
        f"/family/campaigns/{campaign.id}/updates",
        data={
            "body": "Chemotherapy round two is done.",
            "photos": [upload(png_bytes(), "ok.png"), upload(pdf_bytes(), "bill.png")],
        },
    )
    assert response.status_code == 422
    assert "bill.png is not a JPEG or PNG image." in text_of(response)
    assert snapshot(app) == before
    assert db.session.scalars(select(CampaignUpdate)).first() is None


# --- images are judged by their header before any pixel is decoded (security issue 5) ----------------


def crafted_png(width: int, height: int) -> bytes:
    """A valid RGBA PNG of one flat colour: a few hundred KB at most on the wire, width x height decoded."""
    return _crafted_png(width, height)


@functools.cache
def _crafted_png(width: int, height: int) -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    row = b"\x00" * (1 + 4 * width)  # filter byte, then transparent black
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def jpeg_bytes(size: tuple[int, int], *, mode: str = "RGB", **options: Any) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, 120).save(out, format="JPEG", **options)
    return out.getvalue()


@pytest.fixture
def decoded(monkeypatch) -> list[tuple[int, int]]:
    """The size of every image decoded (Pillow's ImageFile.load) during the test."""
    sizes: list[tuple[int, int]] = []
    load = ImageFile.ImageFile.load

    def recording_load(self: ImageFile.ImageFile) -> Any:
        result = load(self)
        sizes.append(self.size)
        return result

    monkeypatch.setattr(ImageFile.ImageFile, "load", recording_load)
    return sizes


@pytest.fixture
def no_decoding(monkeypatch) -> None:
    """Fail the test if any image is decoded: a crafted one must be refused by its header alone."""

    def refuse(self: ImageFile.ImageFile) -> Any:
        raise AssertionError(f"decoded a {self.size[0]} x {self.size[1]} image")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


def api_client(app, user) -> Any:
    """A client without a session cookie, calling the API with a bearer token."""
    _token, plaintext = create_token(user, "test")
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {plaintext}"
    return client


def api_upload(client, campaign_id: int, files: list[tuple[str, bytes, str]]) -> Any:
    """POST one or more (kind, bytes, name) files to the API, in the fields `kind` and `file`."""
    data = MultiDict(
        [("kind", files[0][0])] + [("file", upload(content, name)) for _kind, content, name in files]
    )
    forget_request_globals()
    return client.post(f"/api/v1/campaigns/{campaign_id}/documents", data=data)


def post_in_memory(client, path: str, fields: list[tuple[str, Any]]) -> Any:
    """POST multipart form data encoded in memory: for a body over 500 KB the test client would spool it to a
    temporary file it never closes. A field's value is a string, or (bytes, filename) for a file."""
    parts = MultiDict(
        [
            (name, FileStorage(io.BytesIO(value[0]), value[1]) if isinstance(value, tuple) else value)
            for name, value in fields
        ]
    )
    boundary, body = encode_multipart(parts)
    return client.post(path, data=body, content_type=f"multipart/form-data; boundary={boundary}")


@pytest.mark.parametrize(
    ("size", "message"),
    [
        # 190 KB on the wire, 196 MB decoded: it took 3-4 s and 730 MB before.
        ((7000, 7000), "a PNG or progressive JPEG may have at most 16 megapixels."),
        # 200 KB on the wire: 12 s and 2 GB before.
        ((50_000_000, 1), "images may be at most 12000 pixels on a side."),
    ],
)
def test_a_crafted_png_is_refused_by_its_header_without_decoding(
    app, client, family, no_decoding, size, message
):
    campaign_id = new_draft(client)
    api = api_client(app, family)
    before = snapshot(app)
    response = client.post(
        f"/family/campaigns/{campaign_id}/edit/story",
        data={**story_form(), "photo": [upload(crafted_png(*size), "bomb.png")]},
    )
    assert response.status_code == 422
    assert f"bomb.png is {size[0]} × {size[1]} pixels; {message}" in text_of(response)
    assert snapshot(app) == before

    response = api_upload(api, campaign_id, [("photo", crafted_png(*size), "bomb.png")])
    body = assert_problem(response, 422, "file")
    assert f"bomb.png is {size[0]} × {size[1]} pixels; {message}" in body["errors"]["file"][0]
    assert snapshot(app) == before


def test_a_crafted_update_photo_is_refused_without_decoding(app, client, family, no_decoding):
    campaign = CampaignFactory(applicant=family, state="fundraising", with_evidence=True)
    db.session.commit()
    before = snapshot(app)
    response = client.post(
        f"/family/campaigns/{campaign.id}/updates",
        data={
            "body": "Chemotherapy round two is done.",
            "photos": [upload(crafted_png(7000, 7000), "b.png")],
        },
    )
    assert response.status_code == 422
    assert "b.png is 7000 × 7000 pixels" in text_of(response)
    assert snapshot(app) == before


def test_a_phone_photo_is_kept_whole_and_a_larger_jpeg_is_decoded_reduced(app, client, family, decoded):
    campaign_id = new_draft(client)
    phone = jpeg_bytes((4000, 3000))  # 12 MP, as a phone takes it
    large = jpeg_bytes((6000, 4500))  # 27 MP: decoded at half size, never whole
    fields = [*story_form().items(), ("photo", (phone, "phone.jpg")), ("photo", (large, "camera.jpg"))]
    response = post_in_memory(client, f"/family/campaigns/{campaign_id}/edit/story", fields)
    assert response.status_code == 302, text_of(response)[:2000]
    assert decoded
    assert max(width * height for width, height in decoded) <= documents.MAX_DECODED_PIXELS
    first, second = db.session.scalars(select(Document).order_by(Document.id)).all()
    with Image.open(io.BytesIO(stored(app, first))) as image:
        assert image.format == "JPEG"
        assert image.size == (4000, 3000)
    with Image.open(io.BytesIO(stored(app, second))) as image:
        assert image.format == "JPEG"
        assert image.size == (3000, 2250)


def test_a_progressive_jpeg_is_decoded_whole_so_its_declared_size_must_fit(
    app, client, family, monkeypatch, decoded
):
    # A smaller budget keeps the test light; the rule is the same at 16 MP.
    monkeypatch.setattr(documents, "MAX_DECODED_PIXELS", 1_000_000)
    campaign_id = new_draft(client)
    before = snapshot(app)
    response = client.post(
        f"/family/campaigns/{campaign_id}/edit/story",
        data={**story_form(), "photo": [upload(jpeg_bytes((1200, 1000), progressive=True), "web.jpg")]},
    )
    assert response.status_code == 422
    assert (
        "web.jpg is 1200 × 1000 pixels; a PNG or progressive JPEG may have at most 1 megapixels."
        in text_of(response)
    )
    assert snapshot(app) == before
    assert decoded == []

    response = client.post(
        f"/family/campaigns/{campaign_id}/edit/story",
        data={**story_form(), "photo": [upload(jpeg_bytes((1200, 1000)), "baseline.jpg")]},
    )
    assert response.status_code == 302
    assert set(decoded) == {(600, 500)}  # the same size in baseline coding decodes at 1/2
    with Image.open(io.BytesIO(stored(app, db.session.scalars(select(Document)).one()))) as image:
        assert image.size == (600, 500)


def many_scans_jpeg(repeats: int) -> bytes:
    """A small progressive JPEG whose last scan is repeated: every scan is a pass over the whole image."""
    data = jpeg_bytes((64, 64), progressive=True)
    last_scan = data.rindex(b"\xff\xda")
    return data[:-2] + data[last_scan:-2] * repeats + b"\xff\xd9"


def test_a_jpeg_of_too_many_scans_is_refused_without_decoding(app, client, family, no_decoding):
    campaign_id = new_draft(client)
    before = snapshot(app)
    crafted = many_scans_jpeg(200)
    frame, scans = documents.jpeg_structure(crafted)
    assert frame == 0xC2
    assert scans > documents.MAX_JPEG_SCANS
    response = client.post(
        f"/family/campaigns/{campaign_id}/edit/story",
        data={**story_form(), "photo": [upload(crafted, "scans.jpg")]},
    )
    assert response.status_code == 422
    assert f"scans.jpg is a JPEG in {scans} scans; at most 100 are accepted." in text_of(response)
    assert snapshot(app) == before


def test_jpeg_scans_are_counted_in_the_main_image_only():
    baseline = jpeg_bytes((16, 16))
    assert documents.jpeg_structure(baseline) == (0xC0, 1)
    assert documents.jpeg_structure(jpeg_bytes((16, 16), progressive=True))[0] == 0xC2
    # A thumbnail inside an APP segment, and a second picture after the end of the image, are not scans of it.
    thumbnail = b"Exif\x00\x00" + baseline
    app1 = b"\xff\xe1" + struct.pack(">H", len(thumbnail) + 2) + thumbnail
    wrapped = baseline[:2] + app1 + baseline[2:] + baseline
    assert documents.jpeg_structure(wrapped) == (0xC0, 1)


def test_a_jpeg_is_turned_upright_and_png_metadata_is_dropped(app, client, family):
    campaign_id = new_draft(client)
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # the camera was turned: display rotated 90° clockwise
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 200, 10)).save(out, format="JPEG", exif=exif, comment=b"phone-comment")
    sideways = out.getvalue()
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "secret-author")
    info.add_text("Location", "secret-place", zip=True)
    out = io.BytesIO()
    Image.new("RGBA", (40, 30), (1, 2, 3, 4)).save(out, format="PNG", pnginfo=info, icc_profile=b"secret-icc")
    tagged = out.getvalue()
    response = client.post(
        f"/family/campaigns/{campaign_id}/edit/story",
        data={**story_form(), "photo": [upload(sideways, "turned.jpg"), upload(tagged, "tagged.png")]},
    )
    assert response.status_code == 302, text_of(response)[:2000]
    jpeg, png = (stored(app, d) for d in db.session.scalars(select(Document).order_by(Document.id)))
    assert b"phone-comment" not in jpeg
    assert b"Exif" not in jpeg
    with Image.open(io.BytesIO(jpeg)) as image:
        assert image.size == (48, 64)
        assert not image.getexif()
    for secret in (b"secret-author", b"secret-place", b"secret-icc", b"tEXt", b"zTXt", b"iCCP"):
        assert secret not in png
    with Image.open(io.BytesIO(png)) as image:
        assert image.size == (40, 30)
        assert image.mode == "RGBA"


# --- how many files: per request and per campaign -----------------------------------------------------


def test_too_many_files_in_one_request_are_refused_before_any_is_read(app, client, family, monkeypatch):
    campaign_id = new_draft(client)
    before = snapshot(app)
    read: list[str] = []
    monkeypatch.setattr(family_routes, "read_upload", lambda *args: read.append(args[1]))
    photos = [upload(png_bytes(), f"p{n}.png") for n in range(11)]
    response = client.post(
        f"/family/campaigns/{campaign_id}/edit/story", data={**story_form(), "photo": photos}
    )
    assert response.status_code == 422
    assert "You sent 11 files; send at most 10 at a time." in text_of(response)
    # Spread over several fields, the files still count together; each field shows the error.
    response = client.post(
        f"/family/campaigns/{campaign_id}/edit/documents",
        data={
            "diagnosis": [upload(pdf_bytes(), f"d{n}.pdf") for n in range(6)],
            "identity": [upload(pdf_bytes(), f"i{n}.pdf") for n in range(5)],
            "go": "stay",
        },
    )
    assert response.status_code == 422
    assert text_of(response).count("You sent 11 files; send at most 10 at a time.") == 2
    assert read == []
    assert snapshot(app) == before


def test_too_many_files_in_one_request_are_refused_by_the_service(app, family):
    campaign = CampaignFactory(applicant=family)
    db.session.commit()
    files = [("photo", Upload(f"p{n}.png", png_bytes())) for n in range(11)]
    with pytest.raises(ValidationFailed) as refused:
        documents.attach(campaign, family, files)
    assert refused.value.fields == {"photo": ["You sent 11 files; send at most 10 at a time."]}
    assert db.session.scalars(select(Document)).first() is None


def test_the_api_takes_one_file_per_request(app, family):
    campaign = CampaignFactory(applicant=family)
    db.session.commit()
    api = api_client(app, family)
    before = snapshot(app)
    response = api_upload(
        api,
        campaign.id,
        [("photo", png_bytes(), "a.png"), ("photo", png_bytes(), "b.png")],
    )
    body = assert_problem(response, 422, "file")
    assert body["errors"]["file"] == ["Send one file per request; this request sent 2."]
    assert snapshot(app) == before


def test_a_campaign_holds_at_most_12_photos_and_30_evidence_documents(app, client, family):
    assert (app.config["MAX_CAMPAIGN_PHOTOS"], app.config["MAX_EVIDENCE_DOCUMENTS"]) == (12, 30)
    campaign_id = new_draft(client)
    campaign = db.session.get(Campaign, campaign_id)
    DocumentFactory.create_batch(11, campaign=campaign, kind="photo", content_type="image/png")
    DocumentFactory.create_batch(29, campaign=campaign, kind="household")
    db.session.commit()
    before = snapshot(app)

    response = client.post(
        f"/family/campaigns/{campaign_id}/edit/story",
        data={**story_form(), "photo": [upload(png_bytes(), "a.png"), upload(png_bytes(), "b.png")]},
    )
    assert response.status_code == 422
    assert "A campaign can have at most 12 photos (it has 11)." in text_of(response)
    response = client.post(
        f"/family/campaigns/{campaign_id}/edit/documents",
        data={
            "diagnosis": [upload(pdf_bytes(), "d.pdf")],
            "identity": [upload(pdf_bytes(), "i.pdf")],
            "go": "stay",
        },
    )
    assert response.status_code == 422
    assert text_of(response).count("A campaign can have at most 30 evidence documents (it has 29).") == 2
    assert snapshot(app) == before

    api = api_client(app, family)
    assert api_upload(api, campaign_id, [("photo", png_bytes(), "a.png")]).status_code == 201
    assert api_upload(api, campaign_id, [("diagnosis", pdf_bytes(), "d.pdf")]).status_code == 201
    body = assert_problem(api_upload(api, campaign_id, [("photo", png_bytes(), "b.png")]), 422, "file")
    assert body["errors"]["file"] == ["A campaign can have at most 12 photos (it has 12)."]
    body = assert_problem(api_upload(api, campaign_id, [("identity", pdf_bytes(), "i.pdf")]), 422, "file")
    assert body["errors"]["file"] == ["A campaign can have at most 30 evidence documents (it has 30)."]

    # Taking a file off the draft makes room again.
    photo = db.session.scalars(select(Document).where(Document.kind == "photo")).first()
    assert client.post(f"/family/campaigns/{campaign_id}/documents/{photo.id}/remove").status_code == 302
    response = client.post(
        f"/family/campaigns/{campaign_id}/edit/story",
        data={**story_form(), "photo": [upload(png_bytes(), "c.png")]},
    )
    assert response.status_code == 302


def test_update_photos_are_limited_per_campaign(app, client, family):
    app.config["MAX_UPDATE_PHOTOS"] = 3
    campaign = CampaignFactory(applicant=family, state="fundraising", with_evidence=True)
    db.session.commit()
    photos = [upload(png_bytes(), f"u{n}.png") for n in range(2)]
    response = client.post(
        f"/family/campaigns/{campaign.id}/updates", data={"body": "Round one is done.", "photos": photos}
    )
    assert response.status_code == 302
    before = snapshot(app)
    photos = [upload(png_bytes(), f"v{n}.png") for n in range(2)]
    response = client.post(
        f"/family/campaigns/{campaign.id}/updates", data={"body": "Round two is done.", "photos": photos}
    )
    assert response.status_code == 422
    assert "updates can carry at most 3 photos in all (they have 2)." in html.unescape(text_of(response))
    assert snapshot(app) == before


# --- no database lock is held while files are prepared -----------------------------------------------


def another_connection_can_write(app) -> bool:
    """Whether, right now, the session holds no transaction and (on SQLite) a second connection can take the
    write lock at once, without waiting."""
    if db.session().in_transaction():
        return False
    if db.engine.dialect.name != "sqlite":
        return True
    path = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).database
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:  # "database is locked"
        return False
    finally:
        other.close()


@pytest.fixture
def writable_while_checked(app, monkeypatch) -> list[bool]:
    """For each file checked (and decoded) during the test, whether another connection could write then."""
    seen: list[bool] = []
    checked = documents._checked

    def checking(upload: Upload, kind: str, field: str) -> tuple[str, bytes]:
        seen.append(another_connection_can_write(app))
        return checked(upload, kind, field)

    monkeypatch.setattr(documents, "_checked", checking)
    return seen


def test_no_lock_is_held_while_a_filing_step_decodes_its_files(app, client, family, writable_while_checked):
    campaign_id = new_draft(client)
    response = client.post(
        f"/family/campaigns/{campaign_id}/edit/story",
        data={**story_form(title="A new title"), "photo": [upload(png_bytes(), "a.png")]},
    )
    assert response.status_code == 302
    response = client.post(
        f"/family/campaigns/{campaign_id}/edit/documents",
        data={"diagnosis": [upload(pdf_bytes(), "d.pdf")], "go": "stay"},
    )
    assert response.status_code == 302
    assert writable_while_checked == [True, True]
    db.session.expire_all()
    campaign = db.session.get(Campaign, campaign_id)
    assert campaign.title == "A new title"
    assert len(campaign.documents) == 2


def test_no_lock_is_held_while_update_photos_decode(app, client, family, writable_while_checked):
    campaign = CampaignFactory(applicant=family, state="fundraising", with_evidence=True)
    db.session.commit()
    response = client.post(
        f"/family/campaigns/{campaign.id}/updates",
        data={"body": "Chemotherapy round two is done.", "photos": [upload(png_bytes(), "ward.png")]},
    )
    assert response.status_code == 302
    assert writable_while_checked == [True]
    assert len(db.session.scalars(select(CampaignUpdate)).one().photos) == 1


def test_no_lock_is_held_while_an_api_upload_decodes(app, family, writable_while_checked):
    campaign = CampaignFactory(applicant=family)
    db.session.commit()
    response = api_upload(api_client(app, family), campaign.id, [("photo", png_bytes(), "a.png")])
    assert response.status_code == 201
    assert writable_while_checked == [True]


def test_a_read_only_transaction_is_released_and_one_with_writes_is_kept(app, family):
    db.session.commit()
    assert db.session.get(User, family.id) is not None  # a read opens a transaction
    assert db.session().in_transaction()
    assert release_read_transaction()
    assert not db.session().in_transaction()
    assert family.name  # loads again

    family.name = "Changed"  # pending, not flushed
    assert not release_read_transaction()
    db.session.flush()  # flushed, not committed
    assert not release_read_transaction()
    assert db.session().in_transaction()
    db.session.rollback()

    db.session.execute(update(User).where(User.id == family.id).values(name="Bulk"))
    assert not release_read_transaction()
    db.session.rollback()
    assert db.session.get(User, family.id).name != "Bulk"
    assert release_read_transaction()
    assert not db.session().in_transaction()


def test_two_uploads_at_once_cannot_take_a_campaign_over_its_limit(app, monkeypatch):
    """Each upload alone fits; together they do not. Both are checked before decoding, then meet after it and
    store at the same moment: the campaign lock (row lock on PostgreSQL, the write lock on SQLite) lets the
    second see the first's photos, so exactly one is stored."""
    campaign = CampaignFactory()
    campaign_id, applicant_id = campaign.id, campaign.applicant_id
    db.session.commit()  # and read nothing more here until the threads end: on SQLite a read takes the lock
    together = threading.Barrier(2, timeout=30)
    prepare = documents.prepare

    def prepare_then_meet(files: Any) -> Any:
        prepared = prepare(files)
        together.wait()
        return prepared

    monkeypatch.setattr(documents, "prepare", prepare_then_meet)
    outcomes: list[Any] = []

    def add_seven_photos() -> None:
        with app.app_context():
            try:
                campaign = db.session.get(Campaign, campaign_id)
                applicant = db.session.get(User, applicant_id)
                files = [("photo", Upload(f"p{n}.png", png_bytes())) for n in range(7)]
                outcomes.append(len(documents.attach(campaign, applicant, files)))
            except ValidationFailed as error:
                outcomes.append(error.fields)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=add_seven_photos) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes, key=str) == [7, {"photo": ["A campaign can have at most 12 photos (it has 7)."]}]
    db.session.expire_all()
    assert len(db.session.get(Campaign, campaign_id).photos) == 7

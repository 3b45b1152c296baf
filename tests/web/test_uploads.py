"""Uploads through the filing pages: checked by content and size, stored without metadata, all or nothing,
and served only to those allowed to see them. Crafted images and decoding limits are in
test_upload_decoding.py, limits on the number of files in test_upload_limits.py, database locks in
test_upload_locks.py."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import ExifTags, Image, PngImagePlugin
from sqlalchemy import select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from fundraise.extensions import db
from fundraise.models import Campaign, CampaignUpdate, Document
from tests.factories import CampaignFactory, UserFactory
from tests.web import uploads
from tests.web.test_filing import (
    new_draft,
    pdf_bytes,
    png_bytes,
    snapshot,
    story_form,
    text_of,
    upload,
)
from tests.web.uploads import (
    LIMIT,
    stored,
)

app_settings = uploads.app_settings  # the fixture
family = uploads.family  # the fixture


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

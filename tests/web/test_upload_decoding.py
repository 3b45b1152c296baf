"""Images are judged by their header before any pixel is decoded (security issue 5): crafted PNGs, large and
progressive JPEGs, JPEGs of too many scans."""

from __future__ import annotations

import functools
import io
import struct
import zlib
from typing import Any

import pytest
from PIL import Image, ImageFile
from sqlalchemy import select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from fundraise.extensions import db
from fundraise.models import Document
from fundraise.services import documents
from tests.api.helpers import assert_problem
from tests.factories import CampaignFactory
from tests.web import uploads
from tests.web.test_filing import (
    new_draft,
    snapshot,
    story_form,
    text_of,
    upload,
)
from tests.web.uploads import (
    api_client,
    api_upload,
    stored,
)

app_settings = uploads.app_settings  # the fixture
family = uploads.family  # the fixture


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

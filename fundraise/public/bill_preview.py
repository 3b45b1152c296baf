"""The redacted bill the public sees beside a disbursement: the photo of the bill downscaled and blurred so
heavily that its layout (a hospital's printed statement, a table of items, a stamp) shows but no name or
number can be read. PDF bills get no preview; the page names their size and fingerprint instead."""

from __future__ import annotations

import io

from PIL import Image, ImageFilter

MAX_SIDE = 480  # pixels, the longer side of the preview
BLUR_RADIUS = 8  # pixels at that size: wider than any printed character


def blurred_png(data: bytes) -> bytes:
    """A small, blurred PNG of an image bill. The stored file was checked and re-encoded at upload, so it
    decodes within the upload limits; a JPEG is decoded at a reduced scale straight away."""
    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", (MAX_SIDE, MAX_SIDE))
        small = image.convert("RGB")
    small.thumbnail((MAX_SIDE, MAX_SIDE))
    blurred = small.filter(ImageFilter.GaussianBlur(BLUR_RADIUS))
    out = io.BytesIO()
    blurred.save(out, format="PNG", optimize=True)
    return out.getvalue()

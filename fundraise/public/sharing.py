"""Sharing a campaign the way families do: a short link, its QR code, and a poster image for WeChat groups.

Everything is made here, on the server, with no outside service: the QR code by segno (SVG on the page, PNG in
the poster), the poster by Pillow. The poster shows only what the public page shows (the masked patient name,
the title, the hospital, raised of target) and the short link's QR code. Chinese needs a CJK font: Debian's
fonts-noto-cjk (installed by .ci/run and named in the README); without it the poster says so in Latin text
rather than drawing empty boxes.
"""

from __future__ import annotations

import io
import textwrap
from functools import cache
from pathlib import Path

import segno
from PIL import Image, ImageDraw, ImageFont

from fundraise.money import format_yuan

POSTER_SIZE = (750, 1200)  # portrait, the width WeChat shows an image at full resolution
CJK_FONTS = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"),
)
INK = (31, 42, 48)
BRAND = (29, 111, 95)
MUTED = (93, 107, 115)
TRACK = (221, 227, 230)


def qr_svg(url: str) -> str:
    """The link's QR code as an inline SVG (scales crisply, no image request)."""
    return str(segno.make(url, error="m").svg_inline(scale=4, dark="#1f2a30", light="#ffffff", border=2))


@cache
def _font_path(bold: bool) -> Path | None:
    path = CJK_FONTS[1 if bold else 0]
    return path if path.exists() else None


def _font(size: int, *, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = _font_path(bold)
    if path is None:
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(str(path), size=size)


def has_cjk_font() -> bool:
    return _font_path(False) is not None


def _wrap(text: str, width: int) -> list[str]:
    """Lines of at most `width` characters (Chinese has no spaces to break at, so by character)."""
    return textwrap.wrap(text, width=width, break_long_words=True) or [""]


def poster_png(
    *,
    url: str,
    title: str,
    patient: str,
    hospital: str,
    raised_fen: int,
    target_fen: int,
    lines: dict[str, str],
) -> bytes:
    """The share poster as PNG bytes. `lines` holds the poster's fixed words in the reader's language
    ("raised", "of", "scan", "footer", "no_font")."""
    image = Image.new("RGB", POSTER_SIZE, (246, 247, 245))
    draw = ImageDraw.Draw(image)
    width = POSTER_SIZE[0]
    draw.rectangle((0, 0, width, 120), fill=BRAND)
    draw.text((48, 38), "Aidbridge", font=_font(40, bold=True), fill=(255, 255, 255))

    cjk = has_cjk_font()
    shown_title = title if cjk else lines["no_font"]
    y = 170
    for line in _wrap(shown_title, 15 if cjk else 30)[:4]:
        draw.text((48, y), line, font=_font(44, bold=True), fill=INK)
        y += 62
    y += 16
    for line in (patient, hospital):
        if line and cjk:
            draw.text((48, y), line, font=_font(30), fill=MUTED)
            y += 44

    y += 24
    share = 0 if target_fen <= 0 else min(raised_fen * 654 // target_fen, 654)
    draw.rounded_rectangle((48, y, 702, y + 22), radius=11, fill=TRACK)
    if share:
        draw.rounded_rectangle((48, y, 48 + share, y + 22), radius=11, fill=BRAND)
    y += 40
    draw.text((48, y), f"{lines['raised']} {format_yuan(raised_fen)}", font=_font(32, bold=True), fill=INK)
    y += 46
    draw.text((48, y), f"{lines['of']} {format_yuan(target_fen)}", font=_font(28), fill=MUTED)

    qr = segno.make(url, error="m")
    buffer = io.BytesIO()
    qr.save(buffer, kind="png", scale=9, border=2, dark="#1f2a30", light="#ffffff")
    code = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    left = (width - code.width) // 2
    top = POSTER_SIZE[1] - code.height - 150
    image.paste(code, (left, top))
    scan = lines["scan"] if cjk else url
    draw.text((width // 2, top + code.height + 20), scan, font=_font(28), fill=INK, anchor="ma")
    draw.text(
        (width // 2, POSTER_SIZE[1] - 60),
        lines["footer"] if cjk else url,
        font=_font(24),
        fill=MUTED,
        anchor="ma",
    )

    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()

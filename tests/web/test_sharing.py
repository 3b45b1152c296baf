"""Sharing a campaign: a short link, its QR code on the page, a poster image, and link-preview tags; nothing
of a campaign that is not public."""

from __future__ import annotations

import io

from flask import Flask
from PIL import Image

from fundraise.public import sharing
from tests.web.donations import fundraising, pay_directly


def test_short_link_qr_code_poster_and_preview_tags(app: Flask) -> None:
    campaign = fundraising(
        title="请帮助小明战胜白血病", story="小明今年七岁，确诊白血病。", target_fen=1_000_000
    )
    pay_directly(campaign, 250_000)
    client = app.test_client()

    short = client.get(f"/c/{campaign.id}")
    assert short.status_code == 301
    assert short.headers["Location"].endswith(f"/campaigns/{campaign.id}")

    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert f'value="http://localhost/c/{campaign.id}"' in page
    assert "<svg" in page  # the QR code, drawn inline: no outside service
    assert '<meta property="og:title" content="请帮助小明战胜白血病">' in page
    assert f'<meta property="og:image" content="http://localhost/campaigns/{campaign.id}/poster.png">' in page

    poster = client.get(f"/campaigns/{campaign.id}/poster.png")
    assert poster.status_code == 200
    assert poster.mimetype == "image/png"
    image = Image.open(io.BytesIO(poster.data))
    assert image.size == sharing.POSTER_SIZE


def test_nothing_is_shared_of_a_campaign_that_is_not_public(app: Flask) -> None:
    draft = fundraising(state="draft", patient_id_sequence=3)
    client = app.test_client()
    assert client.get(f"/c/{draft.id}").status_code == 404
    assert client.get(f"/campaigns/{draft.id}/poster.png").status_code == 404

"""What the public and donors see of disbursements: the use of funds on the campaign page, the redacted bill,
an objection that holds a payment, the page of a campaign ended by confirmed fraud, and what each gift paid for.
"""

from __future__ import annotations

import io
import re
import uuid
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from PIL import Image, ImageDraw

from fundraise.extensions import db
from fundraise.models import Campaign, Disbursement, Donation, User
from fundraise.models.columns import utcnow
from fundraise.money import format_yuan
from fundraise.payments import get_provider
from fundraise.public import use_of_funds
from fundraise.services import disbursement_funds, disbursements, documents, gift_allocations
from fundraise.services import donations as donation_service
from fundraise.services.disbursements import RequestForm
from fundraise.services.documents import Upload
from tests.disbursements.world import World, world
from tests.factories import CampaignFactory, UserFactory


def english(client: FlaskClient) -> FlaskClient:
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def page(client: FlaskClient, url: str, status: int = 200) -> str:
    db.session.remove()  # a fresh session, as every production request starts
    response = english(client).get(url)
    assert response.status_code == status, url
    return response.get_data(as_text=True)


def end_notice(disbursement_id: int) -> None:
    d = disbursements.get(disbursement_id)
    d.notice_ends_at = d.notice_ends_at - timedelta(days=2)
    db.session.commit()


def pay(w: World, amount_fen: int, reference: str) -> Disbursement:
    d = w.request(amount_fen)
    end_notice(d.id)
    disbursements.approve(d.id, w.approver)
    return disbursements.record_payment(d.id, w.finance, reference)


def bill_png() -> bytes:
    """A bill-like image: black text lines on white, sharp enough to read before blurring."""
    image = Image.new("RGB", (900, 1200), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    for row in range(40, 1160, 28):
        draw.text((40, row), "Zhang San 340104199001011234  CNY 12,345.67", fill=(0, 0, 0))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def request_with_image(w: World, amount_fen: int) -> Disbursement:
    bill = documents.prepare([("bill", Upload("bill.png", bill_png()))])
    form = RequestForm(
        source="campaign_fund",
        amount_fen=amount_fen,
        bill_total_fen=amount_fen,
        purpose="化疗费用（第二疗程）",
        request_key=uuid.uuid4().hex,
    )
    return disbursements.request(w.campaign, w.family, form, bill)


def test_the_public_page_shows_the_use_of_funds_and_every_visible_payment(
    app: Flask, client: FlaskClient
) -> None:
    w = world(app, gifts=(100_000, 100_000))
    paid = pay(w, 60_000, "HX20261203101")
    waiting = w.request(30_000)
    refused = w.request(20_000)
    end_notice(refused.id)
    disbursements.reject(refused.id, w.approver, "票据与诊断不符")

    money = use_of_funds.campaign_money(w.campaign.id)
    assert money.totals == disbursement_funds.use_of_funds(w.campaign.id)
    assert [row.id for row in money.rows] == [waiting.id, paid.id]
    sha, approver = paid.bill.sha256[:12], w.approver.name
    waiting_id, paid_id = waiting.id, paid.id
    html = page(client, f"/campaigns/{w.campaign.id}")
    assert "Use of funds" in html
    for amount in (money.totals.raised_fen, money.totals.paid_fen, money.totals.held_fen, 30_000):
        assert format_yuan(amount) in html
    assert "Paid to the hospital" in html
    assert "In public notice" in html
    assert "The notice ends" in html
    assert "Object to this payment" in html
    assert f"disbursement={waiting_id}" in html
    assert f"disbursement={paid_id}" not in html
    assert "PDF bill" in html
    assert sha in html
    assert format_yuan(20_000) not in html  # the rejected request left the public list
    # Nothing private: no transfer reference, account number, bill file name or approver's note.
    for private in ("HX20261203101", "5678", "住院费用清单.pdf", "票据与诊断不符", approver):
        assert private not in html


def test_the_bill_preview_is_a_small_blurred_png_and_only_for_visible_image_bills(
    app: Flask, client: FlaskClient
) -> None:
    w = world(app, gifts=(200_000,))
    shown = request_with_image(w, 40_000)
    refused = request_with_image(w, 30_000)
    end_notice(refused.id)
    disbursements.reject(refused.id, w.approver, "票据模糊无法核对")
    pdf = w.request(20_000)
    shown_id, refused_id, pdf_id, campaign_id = shown.id, refused.id, pdf.id, w.campaign.id

    response = client.get(f"/disbursements/{shown_id}/bill-preview")
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert "max-age" in response.headers["Cache-Control"]
    preview = Image.open(io.BytesIO(response.data)).convert("L")
    assert max(preview.size) <= 480
    # The sharp black-on-white text is gone: no dark pixel and little contrast left.
    low, high = preview.getextrema()
    assert low > 100
    assert high - low < 120
    assert f"/disbursements/{shown_id}/bill-preview" in page(client, f"/campaigns/{campaign_id}")

    assert client.get(f"/disbursements/{refused_id}/bill-preview").status_code == 404
    assert client.get(f"/disbursements/{pdf_id}/bill-preview").status_code == 404
    assert client.get("/disbursements/999999/bill-preview").status_code == 404


def test_an_objection_from_the_link_holds_that_payment(app: Flask, client: FlaskClient) -> None:
    w = world(app, gifts=(100_000,))
    d = w.request(40_000)
    campaign_id, d_id = w.campaign.id, d.id
    html = page(client, f"/campaigns/{campaign_id}?disbursement={d_id}")
    assert "The payment you object to" in html
    assert format_yuan(40_000) in html
    assert f'name="disbursement" type="hidden" value="{d_id}"' in html

    response = english(client).post(
        f"/campaigns/{campaign_id}/report",
        data={
            "reason": "disbursement_objection",
            "details": "这张账单的日期早于入院日期，请核实。",
            "contact": "neighbour@example.cn",
            "disbursement": str(d_id),
        },
    )
    assert response.status_code == 302
    assert disbursements.held_ids([d_id]) == {d_id}
    assert "Held by an objection" in page(client, f"/campaigns/{campaign_id}")
    # A payment no longer in notice cannot be objected to from the form.
    html = page(client, f"/campaigns/{campaign_id}?disbursement={d_id}")
    assert "The payment you object to" not in html


def test_a_campaign_ended_by_confirmed_fraud_stays_public_with_its_banner(
    app: Flask, client: FlaskClient
) -> None:
    w = world(app, gifts=(100_000,))
    campaign = db.session.get(Campaign, w.campaign.id)
    assert campaign is not None
    campaign.state, campaign.ended_code, campaign.ended_at = "cancelled", "fraud_confirmed", utcnow()
    ordinary = CampaignFactory(state="cancelled", title="普通取消的筹款")
    db.session.commit()
    ended_id, ordinary_id = campaign.id, ordinary.id

    html = page(client, f"/campaigns/{ended_id}")
    assert "confirmed this campaign was fraudulent" in html
    assert "Every donor is being refunded" in html
    assert "Use of funds" in html
    page(client, f"/campaigns/{ordinary_id}", status=404)
    browse = page(client, "/campaigns")
    assert f'/campaigns/{ended_id}"' not in browse


def test_a_donor_sees_what_each_gift_paid_for(app: Flask, client: FlaskClient, login) -> None:  # type: ignore[no-untyped-def]
    w = world(app, gifts=(50_000,))
    donor = UserFactory()
    db.session.commit()
    started, _url = donation_service.start_donation(w.campaign, donor, 100_000)
    get_provider().pay(started.provider_payment_id)
    db.session.commit()
    gift_id = started.id
    pay(w, 120_000, "HX20261203201")  # takes the first gift whole, then part of the donor's

    gift = db.session.get(Donation, gift_id)
    assert gift is not None
    part = gift_allocations.breakdowns([gift])[gift.id]
    paid = sum(amount for _d, amount in part.payouts)
    assert paid > 0
    assert part.held_fen > 0
    assert paid + part.fee_fen + part.held_fen + part.refunded_fen + part.relief_pool_fen == gift.amount_fen

    login(donor)
    html = page(client, "/me/donations")
    # Each part a line, its words without markup (a hospital's Chinese name is marked lang="zh-CN").
    lines = [re.sub(r"<[^>]+>", "", line) for line in re.findall(r"<li>(.*?)</li>", html)]
    assert any(f"{format_yuan(paid)} paid to" in line for line in lines), lines
    assert any("still held for the patient" in line for line in lines)
    if part.fee_fen:
        assert any("kept by the payment provider" in line for line in lines)
    receipt = page(client, f"/donations/{gift_id}")
    assert f"{format_yuan(paid)} paid to" in receipt


def test_the_cached_page_moves_on_when_a_notice_ends_or_a_payment_is_made(
    app: Flask, client: FlaskClient
) -> None:
    w = world(app, gifts=(100_000,))
    d = w.request(40_000)
    campaign_id, d_id, approver_id, finance_id = w.campaign.id, d.id, w.approver.id, w.finance.id
    assert "In public notice" in page(client, f"/campaigns/{campaign_id}")
    assert "In public notice" in page(client, f"/campaigns/{campaign_id}")  # from the page cache
    end_notice(d_id)
    assert "Awaiting approval" in page(client, f"/campaigns/{campaign_id}")
    disbursements.approve(d_id, db.session.get(User, approver_id))
    disbursements.record_payment(d_id, db.session.get(User, finance_id), "HX20261203301")
    assert "Paid to the hospital" in page(client, f"/campaigns/{campaign_id}")

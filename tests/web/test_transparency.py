"""The public transparency page's money: platform totals that agree with the ledger and the donations, only
public campaigns counted, charts that escape every word, and the page in both languages."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from fundraise import ledger
from fundraise.extensions import db
from fundraise.models import AccountKind, Donation
from fundraise.public import charts
from fundraise.public.charts import Row
from fundraise.services import disbursements, platform_totals
from fundraise.services import donations as donation_service
from fundraise.services.donations import raised_fen
from fundraise.services.platform_totals import month_starts
from tests.disbursements.test_disbursement_flow import _end_notice
from tests.disbursements.world import World, give, world
from tests.factories import CampaignFactory, _disease_code_for
from tests.statements import counting


@pytest.fixture
def app_settings() -> dict[str, Any]:
    return {"PLATFORM_TOTALS_MAX_AGE": 0}


def _paid_and_reserved(w: World) -> tuple[int, int]:
    """A disbursement paid (150,000 fen) and one approved but not yet paid (30,000 fen): their ids."""
    paid = w.request(150_000)
    _end_notice(paid.id)
    disbursements.approve(paid.id, w.approver)
    disbursements.record_payment(paid.id, w.finance, "HX20261203001")
    reserved = w.request(30_000)
    _end_notice(reserved.id)
    disbursements.approve(reserved.id, w.approver)
    return paid.id, reserved.id


def test_the_totals_are_what_the_ledger_and_the_donations_say(app: Flask) -> None:
    w = world(app, gifts=(100_000, 250_000))
    _paid_id, reserved_id = _paid_and_reserved(w)
    first = db.session.scalars(select(Donation).order_by(Donation.id)).first()
    assert first is not None
    donation_service.refund_donation(first, 20_000, w.approver, "捐赠人要求部分退款")

    totals = platform_totals.platform_totals("en")
    assert totals.raised_fen == raised_fen(w.campaign) == 350_000 - 20_000
    assert totals.refunded_fen == 20_000
    assert totals.paid_fen == 150_000
    assert totals.relief_paid_fen == 0
    fund = ledger.balance(ledger.campaign_fund(w.campaign.id))
    reserved = ledger.balance(ledger.account(AccountKind.PAYOUT_RESERVED, reserved_id))
    assert reserved == 30_000
    assert totals.held_fen == fund + reserved
    assert totals.campaigns == 1
    # One province (Anhui, from Linquan county's code) and one category (leukaemia).
    assert [(s.key, s.label, s.raised_fen, s.paid_fen) for s in totals.by_region] == [
        ("34", "Anhui", 330_000, 150_000)
    ]
    assert [(s.key, s.raised_fen, s.paid_fen) for s in totals.by_disease] == [("leukemia", 330_000, 150_000)]
    assert platform_totals.platform_totals("zh_CN").by_region[0].label == "安徽省"
    # The gifts and the payment were all made this month: the last of the twelve.
    assert len(totals.by_month) == 12
    assert totals.by_month[-1].raised_fen == 330_000
    assert totals.by_month[-1].paid_fen == 150_000
    assert sum(m.raised_fen for m in totals.by_month[:-1]) == 0
    assert ledger.verify()[1] == []


def test_months_are_china_calendar_months_and_older_gifts_fall_outside(app: Flask) -> None:
    w = world(app, gifts=(10_000, 20_000, 40_000))
    gifts = list(db.session.scalars(select(Donation).order_by(Donation.id)))
    now = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
    # 30 November 17:00 UTC is already 1 December in China; a gift 13 months ago is not in the chart.
    gifts[0].confirmed_at = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
    gifts[1].confirmed_at = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
    gifts[2].confirmed_at = now - timedelta(days=400)
    db.session.commit()
    totals = platform_totals.platform_totals("en", now=now)
    assert [m.month.isoformat() for m in totals.by_month][:1] == ["2026-01-01"]
    assert totals.by_month[-1].raised_fen == 10_000
    assert totals.by_month[-2].raised_fen == 20_000
    assert sum(m.raised_fen for m in totals.by_month) == 30_000
    assert totals.raised_fen == 70_000 == raised_fen(w.campaign)
    bounds = month_starts(now)
    assert len(bounds) == 13
    assert bounds[-1] == datetime(2026, 12, 31, 16, 0, tzinfo=UTC)


def test_campaigns_the_public_cannot_see_do_not_count(app: Flask) -> None:
    w = world(app, gifts=(100_000,))
    hidden = CampaignFactory(state="fundraising", patient_region_code="440000")
    ended = CampaignFactory(state="fundraising", patient_region_code="110000")
    db.session.commit()
    give(hidden, 70_000)
    give(ended, 5_000)
    hidden.state = "suspended"
    ended.state = "cancelled"
    ended.ended_code = "fraud_confirmed"
    db.session.commit()
    counted = platform_totals.platform_totals("en")
    assert counted.raised_fen == 175_000
    assert {s.key for s in counted.by_region} == {"34", "44", "11"}

    hidden.state = "rejected"  # as after a report upheld before it went public: never shown
    ended.ended_code = None  # cancelled without a public reason: its page is private
    db.session.commit()
    counted = platform_totals.platform_totals("en")
    assert counted.raised_fen == 100_000 == raised_fen(w.campaign)
    assert counted.campaigns == 1
    assert {s.key for s in counted.by_region} == {"34"}


def test_the_figures_are_kept_for_a_minute(app: Flask) -> None:
    app.config["PLATFORM_TOTALS_MAX_AGE"] = 60
    w = world(app, gifts=(100_000,))
    assert platform_totals.platform_totals("en").raised_fen == 100_000
    give(w.campaign, 50_000)
    assert platform_totals.platform_totals("zh_CN").raised_fen == 100_000
    platform_totals.forget()
    assert platform_totals.platform_totals("en").raised_fen == 150_000


HOSTILE = '<script>alert("x")</script>&<b onmouseover=1>'


def test_a_chart_escapes_every_word() -> None:
    kinds = charts.series(HOSTILE, "Paid")
    rows = [Row(HOSTILE, (12_345_600, 100)), Row("浙江省", (0, 0), note=HOSTILE)]
    for draw in (charts.bar_chart, charts.column_chart):
        svg = str(draw('chart"x', HOSTILE, rows, kinds))
        assert "<script" not in svg
        assert "<b " not in svg
        assert 'chart"x' not in svg
        assert "&lt;script&gt;" in svg
        assert svg.count("<svg") == svg.count("</svg>")
        assert 'role="img"' in svg
        assert "<title>&lt;script&gt;" in svg
        assert "¥123,456" in svg
    bars = str(charts.bar_chart("c", "t", rows, kinds))
    assert 'aria-describedby="c-table"' in bars
    assert "62%" in bars  # the longest bar; the rest of the width is for its amount
    assert 'viewBox="0 0 720 300"' in str(charts.column_chart("c", "t", rows, kinds))


def test_a_chart_of_nothing_draws_no_bar_and_divides_by_nothing() -> None:
    kinds = charts.series("Raised", "Paid")
    assert '<rect x="0" y="50"' not in str(charts.bar_chart("c", "t", [Row("a", (0, 0))], kinds))
    assert "¥1" in str(charts.column_chart("c", "t", [Row("a", (0, 0))], kinds))
    assert charts.nice_ceiling(0) == 100
    assert charts.nice_ceiling(330_000) == 500_000
    assert charts.nice_ceiling(150_000) == 200_000
    assert charts.nice_ceiling(2_000_001) == 2_500_000


def _page(client: FlaskClient, language: str) -> str:
    response = client.get("/transparency", headers={"Accept-Language": language})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_page_shows_the_money_in_both_languages_without_codes(app: Flask, client: FlaskClient) -> None:
    w = world(app, gifts=(100_000, 250_000))
    _paid_and_reserved(w)
    other = CampaignFactory(
        state="fundraising",
        patient_region_code="440000",
        diagnosis_icd10="C71",
        disease_range_id=_disease_code_for("C71"),
    )
    db.session.commit()
    give(other, 12_300)

    en = _page(client, "en")
    assert "Where the money went" in en
    assert "¥3,623" in en  # 3,500 yuan and 123 yuan
    assert "¥1,500" in en
    assert "flask ledger check" in en
    assert "Signed checkpoints" in en  # the audit-log section is still there
    assert "Anhui" in en
    assert "Guangdong" in en
    assert "Leukaemia" in en
    assert en.count('role="img"') >= 4  # three charts, the month chart drawn twice (wide and narrow)
    assert en.count("<details") >= 3
    for code in ("leukemia", "brain_tumor", ">34<", ">44<", "campaign_fund", "payout_reserved"):
        assert code not in en, code
    assert not re.search(r"src=\"https?://|href=\"https?://(?!localhost)", en)

    zh = _page(client, "zh-CN")
    assert "安徽省" in zh
    assert "广东省" in zh
    assert "白血病" in zh
    assert "Where the money went" not in zh
    assert "Raised from donors" not in zh
    assert "Signed checkpoints" not in zh
    for code in ("leukemia", "brain_tumor", "campaign_fund"):
        assert code not in zh, code


def test_the_page_with_no_money_yet_says_so(client: FlaskClient) -> None:
    page = _page(client, "en")
    assert "No money has been given or paid out yet" in page
    assert "¥0" in page


def test_the_totals_take_the_same_few_queries_however_many_campaigns(app: Flask) -> None:
    world(app, gifts=(10_000,))
    platform_totals.platform_totals("en")  # the reference cache is loaded once, not counted
    with counting() as few:
        platform_totals.platform_totals("en")
    for region in ("440000", "110000", "650000"):
        campaign = CampaignFactory(state="fundraising", patient_region_code=region)
        db.session.commit()
        give(campaign, 5_000)
    with counting() as more:
        platform_totals.platform_totals("en")
    assert len(few) == len(more) == 7

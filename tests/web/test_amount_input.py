"""Amounts as people and feeds type them: thousands separators are read only where they belong.

Security issue item 14: commas used to be dropped wherever they stood, so "10,50" became ¥1,050 and "20，5"
¥205. The form field refuses such an amount with a message saying how to write it, the donation page shows
it and creates nothing, and a records feed reports the value as a row fault.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_wtf import FlaskForm
from sqlalchemy import func, select

from fundraise.extensions import db
from fundraise.models import Donation, RecordKind
from fundraise.records.feeds import FeedValueError, parse_row, yuan
from fundraise.web.fields import AMOUNT_MESSAGES, YuanField
from tests.factories import CampaignFactory
from verification.identity import make_resident_id

MISPLACED = "Use commas only between groups of three digits, like 12,000.50."
BADLY_SEPARATED = ["10,50", "20，5", "1,2345", ",100", "100,"]


class AmountForm(FlaskForm):
    amount = YuanField("Amount")


def submitted(app: Flask, typed: str) -> AmountForm:
    with app.test_request_context(
        "/", method="POST", data={"amount": typed}, headers={"Accept-Language": "en"}
    ):
        form = AmountForm()
        form.validate()
        return form


# --- the form field ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", BADLY_SEPARATED)
def test_the_field_refuses_a_misplaced_comma_and_says_how_to_write_it(app: Flask, typed: str) -> None:
    form = submitted(app, typed)
    assert form.amount.data is None
    assert [str(error) for error in form.amount.errors] == [MISPLACED]
    assert str(AMOUNT_MESSAGES["misplaced separator"]) == MISPLACED


@pytest.mark.parametrize(
    ("typed", "fen"),
    [("12,000.50", 1_200_050), ("1,234,567", 123_456_700), ("１２，０００", 1_200_000), ("¥3,000", 300_000)],
)
def test_the_field_reads_thousands_separators_in_their_places(app: Flask, typed: str, fen: int) -> None:
    form = submitted(app, typed)
    assert form.amount.errors == []
    assert form.amount.data == fen


# --- a page that takes an amount --------------------------------------------------------------------------


def donate(client: FlaskClient, campaign_id: int, typed: str) -> Any:
    return client.post(
        f"/campaigns/{campaign_id}/donate",
        data={
            "custom_amount": typed,
            "display_name": "张三",
            "surplus_choice": "refund",
            "email": "zhang.san@example.cn",
        },
        headers={"Accept-Language": "en"},
    )


def donation_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Donation)) or 0


@pytest.mark.parametrize("typed", ["10,50", "20，5"])
def test_the_donation_page_refuses_a_misplaced_comma_and_creates_nothing(
    client: FlaskClient, typed: str
) -> None:
    campaign = CampaignFactory(state="fundraising", target_fen=100_000_000)
    db.session.commit()
    response = donate(client, campaign.id, typed)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert MISPLACED in page
    assert f'value="{typed}"' in page  # what was typed is shown back to be corrected
    assert donation_count() == 0


def test_the_donation_page_takes_an_amount_with_thousands_separators(client: FlaskClient) -> None:
    campaign = CampaignFactory(state="fundraising", target_fen=100_000_000)
    db.session.commit()
    response = donate(client, campaign.id, "12,000.50")
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    donation = db.session.scalar(select(Donation))
    assert donation is not None
    assert donation.amount_fen == 1_200_050


# --- records feeds ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", BADLY_SEPARATED)
def test_a_feed_amount_with_a_misplaced_comma_is_a_fault(value: str) -> None:
    with pytest.raises(FeedValueError, match="has a comma that is not a thousands separator"):
        yuan(value)


def test_a_feed_reads_thousands_separators_in_their_places() -> None:
    assert yuan("12,000.50") == 1_200_050
    assert yuan("１２，０００") == 1_200_000


def test_a_feed_row_names_the_column_with_the_misplaced_comma() -> None:
    row = {
        "source_record_id": "MZ-1",
        "id_number": make_resident_id("341221", date(1980, 1, 2), "M", 5),
        "name": "李四",
        "assistance_class": "dibao",
        "valid_from": "2025-01-01",
        "valid_to": "",
        "household_size": "3",
        "monthly_household_income_yuan": "1,050",
        "region_code": "341221",
        "ytd_assistance_paid_yuan": "20，5",
    }
    values, faults = parse_row(RecordKind.CIVIL_AFFAIRS, row)
    assert values["monthly_household_income_fen"] == 105_000
    assert [(fault.column, fault.message) for fault in faults] == [
        (
            "ytd_assistance_paid_yuan",
            "has a comma that is not a thousands separator (write 1234.5 or 1,234.5)",
        )
    ]

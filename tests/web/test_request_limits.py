"""Input no person sends gets a clear 4xx (or the last page of a list), never a 500: ids past the database's
integer range, page numbers past any list, JSON nested deeper than the parser can go."""

from __future__ import annotations

import pytest
from flask import Flask

from fundraise.extensions import db
from fundraise.pagination import MAX_PAGE, parse_page
from fundraise.request_limits import MAX_ID
from tests.factories import CampaignFactory

HUGE = "158373425249293508280320"


@pytest.mark.parametrize(
    "url",
    [
        "/campaigns/99999999999999999999",
        f"/campaigns/{HUGE}/donate",
        f"/api/v1/campaigns/{HUGE}",
        f"/api/v1/campaigns/{HUGE}/donations",
        f"/api/v1/campaigns/{MAX_ID + 1}/ledger",
        f"/documents/{HUGE}",
    ],
)
def test_ids_past_the_integer_range_are_not_found(client, url):
    assert client.get(url).status_code == 404


def test_the_largest_id_is_still_an_ordinary_miss(client):
    assert client.get(f"/api/v1/campaigns/{MAX_ID}").status_code == 404


@pytest.mark.parametrize("url", ["/", "/campaigns"])
def test_a_page_number_past_any_list_shows_a_page(client, url):
    assert client.get(f"{url}?page=9223372036854775807").status_code == 200


def test_page_numbers_are_read_kindly():
    assert [parse_page(v) for v in (None, "", "0", "-3", "abc", "٣", "2", " 7 ")] == [1, 1, 1, 1, 1, 1, 2, 7]
    assert parse_page("9223372036854775807") == parse_page("9" * 5000) == MAX_PAGE


def test_json_nested_too_deeply_is_a_bad_request(app: Flask, client):
    campaign = CampaignFactory(state="fundraising", target_fen=1_000_000)
    db.session.commit()
    response = client.post(
        f"/api/v1/campaigns/{campaign.id}/donations", data="[" * 200_000, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"

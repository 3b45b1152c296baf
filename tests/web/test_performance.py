"""The public pages stay fast: how many SQL statements a page costs (it must not grow with the number of cards,
updates or photos), and names read from the reference cache, which follows a reload of the reference data.

Statements are counted with SQLAlchemy's `before_cursor_execute` event on every engine. Nothing here times
anything.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event
from sqlalchemy.engine import Engine

from config.settings import REFERENCE_DIR
from fundraise.extensions import db
from fundraise.models import Campaign, CampaignUpdate, Donation
from fundraise.payments import get_provider
from fundraise.services import donations, reference_cache
from fundraise.services.reference_data import load_all
from tests.factories import CampaignFactory, DocumentFactory

# What a page may cost, whatever the number of cards, updates and photos:
# campaign page: the campaign, its documents, its updates and their photos, the audit timeline, the donation
# panel (raised, donors, recent gifts: count and rows), the verified breakdown (when that partial is in).
CAMPAIGN_PAGE_MAX = 11
# browse: count, the page of campaigns, their photos, province and category options, the raised amounts.
BROWSE_MAX = 7
# home: featured campaigns (fundraising, else verified), their photos, the raised amounts.
HOME_MAX = 5


# --- helpers ---------------------------------------------------------------------------------------------


@contextmanager
def counting() -> Iterator[list[str]]:
    """The SQL statements run (on any engine) inside the block."""
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.startswith(
            "BEGIN"
        ):  # SQLite's BEGIN IMMEDIATE starts a transaction, queries nothing
            statements.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def fresh_get(client: FlaskClient, url: str) -> Any:
    """A request with an empty session, as every production request starts (the tests share one session)."""
    db.session.remove()
    return client.get(url)


def statements_for(client: FlaskClient, url: str) -> list[str]:
    with counting() as statements:
        response = fresh_get(client, url)
    assert response.status_code == 200, url
    return statements


def text(response: Any) -> str:
    return response.get_data(as_text=True)


def english(client: FlaskClient) -> FlaskClient:
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def fundraising(**fields: Any) -> Campaign:
    fields.setdefault("target_fen", 10_000_000)
    made = CampaignFactory(state=fields.pop("state", "fundraising"), **fields)
    db.session.commit()
    return made


def with_photos_and_updates(photos: int, updates: int, photos_per_update: int) -> Campaign:
    made = fundraising()
    for n in range(photos):
        DocumentFactory(campaign=made, kind="photo", content_type="image/jpeg", original_name=f"p{n}.jpg")
    for n in range(updates):
        update = CampaignUpdate(campaign_id=made.id, author_id=made.applicant_id, body=f"第{n + 1}次化疗结束")
        db.session.add(update)
        db.session.flush()
        for _ in range(photos_per_update):
            DocumentFactory(campaign=made, kind="update_photo", update_id=update.id, content_type="image/png")
    db.session.commit()
    return made


def give(campaign: Campaign, amount_fen: int, **fields: Any) -> Donation:
    """A donation paid through the sandbox provider, recorded from its event as in production."""
    donation, _url = donations.start_donation(campaign, None, amount_fen, **fields)
    get_provider().pay(donation.provider_payment_id)
    db.session.commit()
    return donation


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return english(app.test_client())


# --- statements per page --------------------------------------------------------------


def test_campaign_page_statements_do_not_grow_with_updates_and_photos(client: FlaskClient) -> None:
    small = with_photos_and_updates(photos=1, updates=1, photos_per_update=0).id
    large = with_photos_and_updates(photos=4, updates=5, photos_per_update=3).id
    give(db.session.get(Campaign, large), 5_000, display_name="李四")
    fresh_get(client, f"/campaigns/{small}")  # the reference data is read once per process

    few = statements_for(client, f"/campaigns/{small}")
    many = statements_for(client, f"/campaigns/{large}")
    assert len(few) == len(many), many
    assert len(many) <= CAMPAIGN_PAGE_MAX, many
    # Names come from the reference cache, never from a query per region, hospital or disease.
    assert not [s for s in many if re.search(r"\bFROM (regions|hospitals|disease_ranges)\b", s)], many


def test_browse_and_home_statements_do_not_grow_with_cards(app: Flask, client: FlaskClient) -> None:
    fundraising(title="第一个")
    fresh_get(client, "/campaigns")
    few_browse = statements_for(client, "/campaigns")
    few_home = statements_for(client, "/")

    for n in range(app.config["CAMPAIGNS_PER_PAGE"] + 2):
        made = with_photos_and_updates(photos=2, updates=0, photos_per_update=0)
        if n % 3 == 0:
            give(made, 1_000 * (n + 1))
    many_browse = statements_for(client, "/campaigns")
    many_home = statements_for(client, "/")
    filtered = statements_for(
        client, "/campaigns?category=leukemia&province=34&state=fundraising&q=%E5%B0%8F"
    )

    assert len(few_browse) == len(many_browse) == len(filtered), many_browse
    assert len(many_browse) <= BROWSE_MAX, many_browse
    assert len(few_home) == len(many_home), many_home
    assert len(many_home) <= HOME_MAX, many_home
    assert not [s for s in many_browse if re.search(r"\bFROM (regions|hospitals|disease_ranges)\b", s)]


# --- reference data --------------------------------------------------------------------------------------


def test_names_come_from_the_reference_cache_and_follow_a_reload(client: FlaskClient, tmp_path: Path) -> None:
    shown = fundraising()
    url = f"/campaigns/{shown.id}"
    assert "Anhui Provincial Hospital" in text(fresh_get(client, url))
    changed = tmp_path / "reference"
    shutil.copytree(REFERENCE_DIR, changed)
    hospitals = changed / "hospitals.csv"
    hospitals.write_text(
        hospitals.read_text(encoding="utf-8").replace("Anhui Provincial Hospital", "Anhui Provincial Hosp."),
        encoding="utf-8",
    )
    try:
        before = reference_cache.version()
        load_all(changed)
        assert reference_cache.version() != before
        page = text(fresh_get(client, url))
        assert "Anhui Provincial Hosp." in page and "Anhui Provincial Hospital" not in page
    finally:
        load_all()
    assert "Anhui Provincial Hospital" in text(fresh_get(client, url))


def test_region_full_names_match_the_models(app: Flask) -> None:
    from fundraise.models import Region

    for code in ("341221", "110101", "440106"):
        region = db.session.get(Region, code)
        if region is None:
            continue
        for locale in ("zh_CN", "en"):
            assert reference_cache.region_full_name(code, locale) == region.full_name(locale)

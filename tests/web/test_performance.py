"""The public pages stay fast and stay right: how many SQL statements a page costs (it must not grow with the
number of cards, updates or photos), and the page cache for visitors who are not signed in: a change shows on
the next request, and no visitor ever gets another's CSRF token, name or flashed message.

Statements are counted with SQLAlchemy's `before_cursor_execute` event on every engine. Nothing here times
anything.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from config.settings import REFERENCE_DIR
from fundraise import models
from fundraise.extensions import db
from fundraise.models import Campaign, CampaignUpdate, Donation, User
from fundraise.payments import get_provider
from fundraise.public import content_version
from fundraise.services import campaign_reports, donations, reference_cache
from fundraise.services.reference_data import load_all
from fundraise.services.transitions import transition
from fundraise.services.updates import post_update
from fundraise.web import page_cache
from tests.factories import PASSWORD, CampaignFactory, DocumentFactory, user_of_role
from tests.statements import counting

# What a page may cost with the page cache off (a visitor's first look, or a signed-in user), whatever the
# number of cards, updates and photos:
# campaign page: the campaign, its documents, its updates and their photos, the audit timeline, the donation
# panel (raised and relief support in one, donors, recent gifts: count and rows), the charities' support, the
# vouchers with their names, the verified breakdown (when that partial is in), and the use of funds: its
# totals (one statement), the visible disbursements with bills and approvals (one), and which of those in
# their notice an objection holds (one, only when some are waiting).
CAMPAIGN_PAGE_MAX = 15
# browse: count, the page of campaigns, their photos, province and category options, the raised amounts.
BROWSE_MAX = 7
# home: featured campaigns (fundraising, else verified), their photos, the raised amounts.
HOME_MAX = 5
# With the cache: the page's version (one query), and for a list the raised amounts of its cards.
CACHED_CAMPAIGN_PAGE_MAX = 1
CACHED_LIST_MAX = 2


# --- helpers ---------------------------------------------------------------------------------------------


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


def cache_hits() -> int:
    return page_cache.cache().hits


def csrf_token(page: str) -> str:
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
        r'name="csrf_token" value="([^"]+)"', page
    )
    assert found, "no CSRF token on the page"
    return found.group(1)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return english(app.test_client())


# --- statements per page, without the cache --------------------------------------------------------------


@pytest.fixture
def no_page_cache(app: Flask) -> None:
    app.config["PAGE_CACHE_ENABLED"] = False


@pytest.mark.usefixtures("no_page_cache")
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


@pytest.mark.usefixtures("no_page_cache")
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


# --- statements per page, with the cache -----------------------------------------------------------------


def test_a_stored_page_costs_one_query(client: FlaskClient) -> None:
    shown = with_photos_and_updates(photos=2, updates=2, photos_per_update=1).id
    fundraising(title="另一个")
    for url in (f"/campaigns/{shown}", "/campaigns", "/"):
        fresh_get(client, url)  # rendered and stored

    hits = cache_hits()
    assert len(statements_for(client, f"/campaigns/{shown}")) <= CACHED_CAMPAIGN_PAGE_MAX
    assert len(statements_for(client, "/campaigns")) <= CACHED_LIST_MAX
    assert len(statements_for(client, "/")) <= CACHED_LIST_MAX
    assert cache_hits() == hits + 3


# --- the cache is never stale ----------------------------------------------------------------------------


def raised_shown(page: str) -> str:
    """The raised amount in the campaign page's donation panel."""
    found = re.search(r"<strong>([^<]+)</strong> raised", page)
    assert found, "no raised amount on the page"
    return found.group(1)


def get(model: type[Any], ident: int) -> Any:
    """A row by id in the current session (the requests above started sessions of their own)."""
    found = db.session.get(model, ident)
    assert found is not None
    return found


def test_every_change_shows_on_the_next_request(client: FlaskClient) -> None:
    made = fundraising(title="帮小明", target_fen=1_000_000)
    shown, family_id = made.id, made.applicant_id
    staff_id = user_of_role("charity_staff").id
    db.session.commit()
    url = f"/campaigns/{shown}"
    assert raised_shown(text(fresh_get(client, url))) == "¥0"
    hits = cache_hits()
    assert raised_shown(text(fresh_get(client, url))) == "¥0"
    assert cache_hits() == hits + 1  # the second look came from the cache

    give(get(Campaign, shown), 12_345, display_name="王五")
    page = text(fresh_get(client, url))
    assert raised_shown(page) == "¥123.45"
    assert "王*" in page

    post_update(get(Campaign, shown), get(User, family_id), "第一次化疗顺利结束，谢谢大家。", [])
    assert "第一次化疗顺利结束" in text(fresh_get(client, url))

    donation = db.session.scalar(select(Donation).where(Donation.campaign_id == shown))
    assert donation is not None
    donations.refund_donation(donation, 2_345, get(User, staff_id), "捐赠人要求部分退款")  # sandbox: settled
    db.session.commit()
    assert raised_shown(text(fresh_get(client, url))) == "¥100"

    transition(get(Campaign, shown), "suspend", actor=get(User, staff_id), reason="收到可信举报，正在调查。")
    assert "收到可信举报，正在调查。" in text(fresh_get(client, url))

    transition(get(Campaign, shown), "cancel", actor=get(User, staff_id), reason="家属撤回。")
    assert fresh_get(client, url).status_code == 404  # no longer public: not served from the cache


def test_browse_follows_donations_new_campaigns_and_state_changes(client: FlaskClient) -> None:
    first = fundraising(title="第一个筹款", target_fen=1_000_000).id
    assert "第一个筹款" in text(fresh_get(client, "/campaigns"))
    hits = cache_hits()
    fresh_get(client, "/campaigns")
    assert cache_hits() == hits + 1

    give(get(Campaign, first), 50_000)
    assert "Raised ¥500" in text(fresh_get(client, "/campaigns"))
    assert "Raised ¥500" in text(fresh_get(client, "/"))

    fundraising(title="第二个筹款")
    page = text(fresh_get(client, "/campaigns"))
    assert "第一个筹款" in page
    assert "第二个筹款" in page

    campaign = get(Campaign, first)
    transition(campaign, "cancel", actor=campaign.applicant, reason="已经治愈。")
    page = text(fresh_get(client, "/campaigns"))
    assert "第一个筹款" not in page
    assert "第二个筹款" in page
    assert "第一个筹款" not in text(fresh_get(client, "/"))


@pytest.mark.usefixtures("app")
def test_the_raised_check_of_a_stored_list_agrees_with_the_donation_service() -> None:
    staff_id = user_of_role("charity_staff").id
    made = [fundraising(target_fen=1_000_000) for _ in range(3)]
    ids = [campaign.id for campaign in made]
    gifts = [give(made[0], 10_000), give(made[0], 2_500), give(made[1], 7_000)]
    donations.refund_donation(gifts[0], 3_000, get(User, staff_id), "部分退款")
    db.session.commit()
    assert (
        content_version.raised_of(ids)
        == donations.raised_by_campaign(ids)
        == {
            ids[0]: 9_500,
            ids[1]: 7_000,
            ids[2]: 0,
        }
    )
    assert content_version.raised_of([]) == {}


def test_the_version_follows_everything_the_campaign_page_shows(app: Flask) -> None:
    shown = fundraising()
    versions = [content_version.campaign_version(shown.id)]

    def changed() -> None:
        db.session.commit()
        versions.append(content_version.campaign_version(shown.id))
        assert versions[-1] != versions[-2]

    DocumentFactory(campaign=shown, kind="photo", content_type="image/jpeg")
    changed()
    db.session.add(CampaignUpdate(campaign_id=shown.id, author_id=shown.applicant_id, body="进展"))
    changed()
    donation, _url = donations.start_donation(shown, None, 1_000)
    changed()  # a gift started (not yet shown, but counted)
    get_provider().pay(donation.provider_payment_id)
    changed()  # paid: raised, donors, recent gifts, the fund's ledger
    campaign_reports.file_report(
        shown, None, reason="already_covered", details="费用已经报销完毕了。", contact="a@b.cn"
    )
    changed()
    campaign = db.session.get(Campaign, shown.id)
    assert campaign is not None
    campaign.story = campaign.story + "（补充）"
    changed()
    report_model = getattr(models, "VerificationReport", None)
    if report_model is not None:
        db.session.add(
            report_model(
                campaign_id=shown.id,
                trigger="manual",
                decision="needs_review",
                problem="no_policy",
                policy_region_code="341221",
                policy_year=2026,
            )
        )
        changed()
    assert content_version.campaign_version(999_999) is None


# --- nothing leaks between visitors ----------------------------------------------------------------------


class TestWithCsrf:
    @pytest.fixture
    def app_settings(self) -> dict[str, Any]:
        return {"WTF_CSRF_ENABLED": True}

    def test_each_visitor_gets_their_own_csrf_token(self, app: Flask) -> None:
        shown = fundraising()
        url = f"/campaigns/{shown.id}"
        first, second = english(app.test_client()), english(app.test_client())

        first_page = text(fresh_get(first, url))
        hits = cache_hits()
        second_page = text(fresh_get(second, url))
        assert cache_hits() == hits + 1  # the second visitor got the stored page
        first_token, second_token = csrf_token(first_page), csrf_token(second_page)
        assert first_token != second_token
        assert page_cache.cache().marker not in second_page
        assert second_page.replace(second_token, "") == first_page.replace(first_token, "")

        report = {"reason": "already_covered", "details": "这家人的费用已经报销完毕了。", "contact": "x@y.cn"}
        # Another visitor's token is refused; each visitor's own is accepted.
        assert second.post(f"{url}/report", data={**report, "csrf_token": first_token}).status_code == 400
        assert second.post(f"{url}/report", data={**report, "csrf_token": second_token}).status_code == 302
        # A third visitor, served from the cache, gets a token of their own again.
        third_page = text(fresh_get(english(app.test_client()), url))
        assert csrf_token(third_page) not in (first_token, second_token)


def test_signed_in_users_never_get_or_leave_a_stored_page(app: Flask, client: FlaskClient) -> None:
    made = fundraising()
    url, masked = f"/campaigns/{made.id}", made.patient_id_masked
    family = made.applicant
    family.name, email = "王家长", family.email
    db.session.commit()
    assert masked
    fresh_get(client, url)  # stored for visitors

    signed_in = english(app.test_client())
    assert signed_in.post("/login", data={"email": email, "password": PASSWORD}).status_code == 302
    hits = cache_hits()
    page = text(fresh_get(signed_in, url))
    assert "王家长" in page
    assert masked in page
    assert cache_hits() == hits

    for anonymous_url in (url, "/campaigns", "/"):
        anonymous = text(fresh_get(client, anonymous_url))
        assert "王家长" not in anonymous
        assert "Sign in" in anonymous
        assert masked not in anonymous


def test_a_flashed_message_is_shown_once_to_its_visitor(app: Flask, client: FlaskClient) -> None:
    shown = fundraising()
    url = f"/campaigns/{shown.id}"
    fresh_get(client, url)
    sent = client.post(
        f"{url}/report",
        data={"reason": "already_covered", "details": "这家人的费用已经报销完毕了。", "contact": "w@x.cn"},
    )
    assert sent.status_code == 302
    assert "Thank you" in text(fresh_get(client, url))
    assert "Thank you" not in text(fresh_get(client, url))
    assert "Thank you" not in text(fresh_get(english(app.test_client()), url))


def test_each_language_has_its_own_stored_page(app: Flask) -> None:
    shown = fundraising()
    url = f"/campaigns/{shown.id}"
    chinese = app.test_client()
    chinese.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    for _ in range(2):
        assert 'lang="en"' in text(fresh_get(english(app.test_client()), url))
        assert 'lang="zh-CN"' in text(fresh_get(chinese, url))


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
        assert "Anhui Provincial Hosp." in page
        assert "Anhui Provincial Hospital" not in page
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

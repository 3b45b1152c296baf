"""The platform's money in a few numbers, for the public transparency page: what donors gave, what went to
hospitals, what was refunded and what is held, with breakdowns by province, disease category and month.

Only campaigns the public may see count (a public state, or cancelled with the reason it ended). Seven
grouped queries, whatever the number of campaigns; the figures are kept for `MAX_AGE_SECONDS` in this process
(per app), locale-free, and named in the viewer's language when read.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute

from fundraise.extensions import db
from fundraise.models import (
    AccountKind,
    Campaign,
    CampaignState,
    Disbursement,
    DisbursementSource,
    DisbursementStatus,
    Donation,
    DonationStatus,
    LedgerAccount,
    Offer,
    OfferStatus,
)
from fundraise.services import reference_cache
from fundraise.services.search import category_label
from fundraise.states import PUBLIC_STATES

# A minute: the page is public and cheap to recompute, but a burst of visitors should not each run the queries.
MAX_AGE_SECONDS = 60.0
MONTHS_SHOWN = 12
# Months are the calendar months of China, where the donors and hospitals are (config BABEL_DEFAULT_TIMEZONE).
CHINA_TIME = ZoneInfo("Asia/Shanghai")
UNKNOWN = ""  # the key of a campaign with no region or disease recorded


@dataclass(frozen=True)
class Share:
    """Raised and paid for one province or disease category (key: two-digit prefix or category code)."""

    key: str
    label: str
    raised_fen: int
    paid_fen: int


@dataclass(frozen=True)
class MonthTotal:
    """Raised (gifts confirmed) and paid (transfers recorded) in one calendar month, China time."""

    month: date  # its first day
    raised_fen: int
    paid_fen: int


@dataclass(frozen=True)
class PlatformTotals:
    raised_fen: int  # succeeded gifts, net of refunds and of money disputes withdrew
    refunded_fen: int
    paid_fen: int  # every disbursement paid to a hospital, from donations and from relief commitments
    relief_paid_fen: int  # the part of paid_fen that relief commitments paid
    held_fen: int  # in campaign funds, or reserved for approved disbursements from them
    relief_committed_fen: int  # relief offers approved for public campaigns
    campaigns: int  # public campaigns that received a gift
    by_region: list[Share]
    by_disease: list[Share]
    by_month: list[MonthTotal]


@dataclass(frozen=True)
class _Figures:
    """What the queries found, before anything is named in a language."""

    raised_fen: int
    refunded_fen: int
    paid_fen: int
    relief_paid_fen: int
    held_fen: int
    relief_committed_fen: int
    campaigns: int
    region: dict[str, tuple[int, int]]
    disease: dict[str, tuple[int, int]]
    months: list[MonthTotal]


# The app's cached figures live in app.extensions (one per app, gone with it), read and written under a lock.
_CACHE = "aidbridge.platform_totals"
_cache_lock = threading.Lock()


def platform_totals(locale: str, *, now: datetime | None = None) -> PlatformTotals:
    """The totals and breakdowns, named in this locale; from the cache when it is less than a minute old."""
    if now is not None:
        return _named(_compute(now), locale)
    max_age = float(current_app.config.get("PLATFORM_TOTALS_MAX_AGE", MAX_AGE_SECONDS))
    with _cache_lock:
        cached: tuple[float, _Figures] | None = current_app.extensions.get(_CACHE)
    if cached is None or time.monotonic() - cached[0] >= max_age:
        cached = (time.monotonic(), _compute(datetime.now(UTC)))
        with _cache_lock:
            current_app.extensions[_CACHE] = cached
    return _named(cached[1], locale)


def forget() -> None:
    """Drop the cached figures (tests, or after a correction an operator wants seen at once)."""
    with _cache_lock:
        current_app.extensions.pop(_CACHE, None)


def is_public() -> ColumnElement[bool]:
    """Campaigns whose pages anyone may open (fundraise.states.is_public, as SQL)."""
    return or_(
        Campaign.state.in_(sorted(PUBLIC_STATES)),
        and_(Campaign.state == CampaignState.CANCELLED, Campaign.ended_code.is_not(None)),
    )


def month_starts(now: datetime, count: int = MONTHS_SHOWN) -> list[datetime]:
    """The first instants (UTC) of the last `count` calendar months in China, oldest first, and the start of
    the next month after them (count + 1 boundaries)."""
    local = now.astimezone(CHINA_TIME)
    year, month = local.year, local.month
    firsts = []
    for back in range(count - 1, -2, -1):
        y, m = divmod((year * 12 + month - 1) - back, 12)
        firsts.append(datetime(y, m + 1, 1, tzinfo=CHINA_TIME).astimezone(UTC))
    return firsts


def _month_index(
    column: InstrumentedAttribute[datetime | None], bounds: list[datetime]
) -> ColumnElement[int]:
    """Which month of `bounds` a timestamp falls in (0 = oldest), NULL outside: portable SQL, no date functions."""
    return case(
        *((and_(column >= bounds[i], column < bounds[i + 1]), i) for i in range(len(bounds) - 1)),
        else_=None,
    )


def _compute(now: datetime) -> _Figures:
    province = func.substr(Campaign.patient_region_code, 1, 2)
    net = Donation.amount_fen - Donation.refunded_fen - Donation.disputed_fen
    succeeded = and_(Donation.status == DonationStatus.SUCCEEDED, is_public())

    gifts = db.session.execute(
        select(
            province,
            Campaign.disease_range_id,
            func.sum(net),
            func.sum(Donation.refunded_fen),
            func.count(func.distinct(Campaign.id)),
        )
        .join(Campaign, Campaign.id == Donation.campaign_id)
        .where(succeeded)
        .group_by(province, Campaign.disease_range_id)
    ).all()
    payouts = db.session.execute(
        select(province, Campaign.disease_range_id, Disbursement.source, func.sum(Disbursement.amount_fen))
        .join(Campaign, Campaign.id == Disbursement.campaign_id)
        .where(Disbursement.status == DisbursementStatus.PAID, is_public())
        .group_by(province, Campaign.disease_range_id, Disbursement.source)
    ).all()

    bounds = month_starts(now)
    gift_month = _month_index(Donation.confirmed_at, bounds)
    gift_months = db.session.execute(
        select(gift_month, func.sum(net))
        .join(Campaign, Campaign.id == Donation.campaign_id)
        .where(succeeded, Donation.confirmed_at >= bounds[0], Donation.confirmed_at < bounds[-1])
        .group_by(gift_month)
    ).all()
    paid_month = _month_index(Disbursement.paid_at, bounds)
    paid_months = db.session.execute(
        select(paid_month, func.sum(Disbursement.amount_fen))
        .join(Campaign, Campaign.id == Disbursement.campaign_id)
        .where(
            Disbursement.status == DisbursementStatus.PAID,
            is_public(),
            Disbursement.paid_at >= bounds[0],
            Disbursement.paid_at < bounds[-1],
        )
        .group_by(paid_month)
    ).all()

    # Guarded accounts keep their balance on the row (fundraise/ledger.py), so these are plain sums.
    in_funds = db.session.scalar(
        select(func.coalesce(func.sum(LedgerAccount.balance_fen), 0))
        .join(Campaign, Campaign.id == LedgerAccount.owner_id)
        .where(LedgerAccount.kind == AccountKind.CAMPAIGN_FUND, is_public())
    )
    # Reservations of donated money only: a relief commitment's reservation is the charity's money.
    reserved = db.session.scalar(
        select(func.coalesce(func.sum(LedgerAccount.balance_fen), 0))
        .join(Disbursement, Disbursement.id == LedgerAccount.owner_id)
        .join(Campaign, Campaign.id == Disbursement.campaign_id)
        .where(
            LedgerAccount.kind == AccountKind.PAYOUT_RESERVED,
            Disbursement.source == DisbursementSource.CAMPAIGN_FUND,
            is_public(),
        )
    )
    committed = db.session.scalar(
        select(func.coalesce(func.sum(Offer.amount_fen), 0))
        .join(Campaign, Campaign.id == Offer.campaign_id)
        .where(Offer.status == OfferStatus.APPROVED, is_public())
    )

    region: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    disease: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    raised = refunded = campaigns = 0
    for prefix, disease_id, net_fen, refunded_fen, count in gifts:
        raised += int(net_fen or 0)
        refunded += int(refunded_fen or 0)
        campaigns += int(count or 0)  # a campaign has one region and one disease: groups never share one
        region[prefix or UNKNOWN][0] += int(net_fen or 0)
        disease[_category(disease_id)][0] += int(net_fen or 0)
    paid = relief_paid = 0
    for prefix, disease_id, source, amount in payouts:
        paid += int(amount or 0)
        if source == DisbursementSource.RELIEF_COMMITMENT:
            relief_paid += int(amount or 0)
        region[prefix or UNKNOWN][1] += int(amount or 0)
        disease[_category(disease_id)][1] += int(amount or 0)

    raised_by_month = _by_index(gift_months)
    paid_by_month = _by_index(paid_months)
    months = [
        MonthTotal(
            bounds[i].astimezone(CHINA_TIME).date(), raised_by_month.get(i, 0), paid_by_month.get(i, 0)
        )
        for i in range(len(bounds) - 1)
    ]
    return _Figures(
        raised_fen=raised,
        refunded_fen=refunded,
        paid_fen=paid,
        relief_paid_fen=relief_paid,
        held_fen=int(in_funds or 0) + int(reserved or 0),
        relief_committed_fen=int(committed or 0),
        campaigns=campaigns,
        region={k: (v[0], v[1]) for k, v in region.items()},
        disease={k: (v[0], v[1]) for k, v in disease.items()},
        months=months,
    )


def _category(disease_id: int | None) -> str:
    found = reference_cache.disease(disease_id) if disease_id is not None else None
    return found.category if found is not None else UNKNOWN


def _by_index(rows: Iterable[tuple[int | None, int | None]]) -> dict[int, int]:
    return {int(index): int(total or 0) for index, total in rows if index is not None}


def _named(figures: _Figures, locale: str) -> PlatformTotals:
    return PlatformTotals(
        raised_fen=figures.raised_fen,
        refunded_fen=figures.refunded_fen,
        paid_fen=figures.paid_fen,
        relief_paid_fen=figures.relief_paid_fen,
        held_fen=figures.held_fen,
        relief_committed_fen=figures.relief_committed_fen,
        campaigns=figures.campaigns,
        by_region=_shares(figures.region, lambda key: _province_name(key, locale)),
        by_disease=_shares(figures.disease, lambda key: category_label(key, locale) if key else ""),
        by_month=figures.months,
    )


def _province_name(prefix: str, locale: str) -> str:
    found = reference_cache.region(f"{prefix}0000") if prefix else None
    return found.name(locale) if found is not None else ""


def _shares(found: dict[str, tuple[int, int]], name: Callable[[str], str]) -> list[Share]:
    """Shares largest first (by raised, then paid); an empty label means "not recorded" to the page."""
    shares = [Share(key, name(key), raised, paid) for key, (raised, paid) in found.items()]
    return sorted(shares, key=lambda s: (-s.raised_fen, -s.paid_fen, s.label))

"""Finding public campaigns: text search, filters by province, disease category and state, pagination."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.interfaces import LoaderOption

from fundraise.extensions import db
from fundraise.models import Campaign, CampaignState, DiseaseRange
from fundraise.pagination import Page, last_page
from fundraise.services import reference_cache
from fundraise.states import PUBLIC_STATES

S = CampaignState
# The order states are listed in when no state is chosen: those that take money first.
PUBLIC_STATE_ORDER = (S.FUNDRAISING, S.VERIFIED, S.SUSPENDED, S.CLOSED)
MAX_QUERY_LENGTH = 100

# Categories whose catalogue ranges carry different names need a name of their own; a category with a single
# range (or ranges of one name) is called by that range's name.
CATEGORY_NAMES = {
    "leukemia": ("白血病", "Leukaemia"),
    "brain_tumor": ("脑肿瘤", "Brain tumour"),
    "severe_mental_illness": ("严重精神障碍", "Severe mental illness"),
    "hydrocephalus": ("脑积水", "Hydrocephalus"),
}


@dataclass(frozen=True)
class BrowseFilters:
    """What a visitor asked for; every value has already been checked (unknown values become None)."""

    query: str = ""
    province: str | None = None  # two digits, the first two of a region code
    category: str | None = None
    state: str | None = None


def clean_filters(
    query: str | None, province: str | None, category: str | None, state: str | None
) -> BrowseFilters:
    """Keep what is valid, drop the rest: a crafted URL gets a wider list, never an error or a private state."""
    text = " ".join((query or "").split())[:MAX_QUERY_LENGTH]
    province = province if province and len(province) == 2 and province.isdigit() else None
    known_category = bool(category) and bool(reference_cache.category_ranges(category or ""))
    return BrowseFilters(
        query=text,
        province=province,
        category=category if known_category else None,
        state=state if state in PUBLIC_STATES else None,
    )


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def public_campaigns_query(filters: BrowseFilters) -> Select[Campaign]:
    states = [filters.state] if filters.state else sorted(PUBLIC_STATES)
    # A campaign the family took off public view (consent withdrawn) is listed nowhere.
    query = select(Campaign).where(Campaign.state.in_(states), Campaign.unpublished_at.is_(None))
    if filters.query:
        pattern = _like_pattern(filters.query)
        query = query.where(
            or_(
                Campaign.title.ilike(pattern, escape="\\"),
                Campaign.story.ilike(pattern, escape="\\"),
                Campaign.diagnosis_text.ilike(pattern, escape="\\"),
            )
        )
    if filters.province:
        query = query.where(Campaign.patient_region_code.startswith(filters.province, autoescape=True))
    if filters.category:
        query = query.where(
            Campaign.disease_range_id.in_(
                select(DiseaseRange.id).where(DiseaseRange.category == filters.category)
            )
        )
    return query


def search_public(filters: BrowseFilters, page: int, per_page: int) -> Page[Campaign]:
    """One page of public campaigns matching the filters; a page past the end gives page 1."""
    query = public_campaigns_query(filters)
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    if page > last_page(total, per_page):
        page = 1
    state_rank = case(
        {state.value: rank for rank, state in enumerate(PUBLIC_STATE_ORDER)}, value=Campaign.state
    )
    items = db.session.scalars(
        query.options(*card_loader_options())
        .order_by(state_rank, Campaign.state_changed_at.desc(), Campaign.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return Page(items=list(items), number=page, per_page=per_page, total=total)


def card_loader_options() -> list[LoaderOption]:
    """Load what a campaign card shows in one query for all cards (its photos). Hospital and region names come
    from the reference cache, the raised amounts from `donations.raised_by_campaign`."""
    return [selectinload(Campaign.documents)]


def featured_campaigns(limit: int = 3) -> list[Campaign]:
    """A few campaigns raising money now, newest first (verified ones when none is fundraising)."""
    for state in (S.FUNDRAISING, S.VERIFIED):
        found = db.session.scalars(
            select(Campaign)
            .where(Campaign.state == state, Campaign.unpublished_at.is_(None))
            .options(*card_loader_options())
            .order_by(Campaign.state_changed_at.desc(), Campaign.id.desc())
            .limit(limit)
        ).all()
        if found:
            return list(found)
    return []


def province_options(locale: str) -> list[tuple[str, str]]:
    """(two-digit prefix, province name) for provinces that have public campaigns, sorted by name."""
    prefixes = db.session.scalars(
        select(func.substr(Campaign.patient_region_code, 1, 2))
        .where(
            Campaign.state.in_(sorted(PUBLIC_STATES)),
            Campaign.unpublished_at.is_(None),
            Campaign.patient_region_code.is_not(None),
        )
        .distinct()
    ).all()
    provinces = [reference_cache.region(f"{prefix}0000") for prefix in prefixes]
    return sorted(
        ((r.code[:2], r.name(locale)) for r in provinces if r is not None), key=lambda option: option[1]
    )


def category_label(category: str, locale: str) -> str:
    """The name of a disease category in the given locale."""
    zh_en = CATEGORY_NAMES.get(category)
    if zh_en:
        return zh_en[0] if locale.startswith("zh") else zh_en[1]
    names = list(dict.fromkeys(r.name(locale) for r in reference_cache.category_ranges(category)))
    return " / ".join(names) if names else category


def category_options(locale: str) -> list[tuple[str, str]]:
    """(category, name) for disease categories that have public campaigns, sorted by name."""
    disease_ids = db.session.scalars(
        select(Campaign.disease_range_id)
        .where(
            Campaign.state.in_(sorted(PUBLIC_STATES)),
            Campaign.unpublished_at.is_(None),
            Campaign.disease_range_id.is_not(None),
        )
        .distinct()
    ).all()
    categories = {d.category for d in map(reference_cache.disease, disease_ids) if d is not None}
    return sorted(((c, category_label(c, locale)) for c in categories), key=lambda option: option[1])

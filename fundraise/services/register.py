"""The officers' register (DESIGN §5, Audit): every recipient of a jurisdiction with the aid from each source.

One row per campaign past submission whose patient is registered under the region prefix. The aid columns
come from grouped sub-queries joined to the campaign rows (the latest verification report's insurance and
assistance, approved relief commitments, donations raised, disbursements paid), so a page is a fixed number
of queries: the rows, their count, and the anomaly flags of the page's ids in one batch
(services/anomalies.py). The totals are one aggregate query over the whole filter. The export reads the
filter in keyset-paged chunks, so memory stays flat whatever the region's size.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Callable, Collection, Hashable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar, cast

from flask import current_app
from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.sql import ColumnElement

from fundraise import audit
from fundraise.database import any_of
from fundraise.extensions import db
from fundraise.models import (
    Campaign,
    CampaignState,
    Disbursement,
    DisbursementStatus,
    Donation,
    DonationStatus,
    Hospital,
    Offer,
    OfferStatus,
    Role,
    User,
    VerificationReport,
)
from fundraise.models.records import AssistanceClass, CivilAffairsRecord
from fundraise.pagination import Page, last_page
from fundraise.services.anomalies import CODES, Flag, Subject, candidate_ids, flagged_ids, flags_of
from fundraise.unit_of_work import transactional
from verification.anomalies import Aid, total_aid

S = CampaignState
# The aid a row shows, each from its own source.
AID_COLUMNS = (
    "basic_fen",
    "critical_illness_fen",
    "assistance_fen",
    "committed_fen",
    "raised_fen",
    "paid_fen",
)
# Campaigns past submission that stay on the register; a cancelled one only if it took money.
LISTED_STATES = (
    S.SUBMITTED,
    S.VERIFYING,
    S.NEEDS_REVIEW,
    S.VERIFIED,
    S.FUNDRAISING,
    S.CLOSED,
    S.SUSPENDED,
)
FILTER_STATES = (*LISTED_STATES, S.CANCELLED)
SORTS = ("newest", "total_cost", "total_aid", "donations")
PER_PAGE = 50
# Rows per query of the export.
EXPORT_CHUNK = 2000


@dataclass(frozen=True)
class RegisterFilters:
    """What the reader narrowed the register to; empty fields filter nothing."""

    state: str | None = None
    assistance_class: str | None = None
    hospital_id: int | None = None
    flagged_only: bool = False
    flag: str | None = None


@dataclass
class RegisterRow:
    """One recipient with the aid from every source (fen) and the anomaly flags."""

    campaign_id: int
    state: str
    patient_name: str
    patient_id_masked: str
    patient_region_code: str
    assistance_class: str | None
    hospital: Hospital | None
    total_cost_fen: int
    basic_fen: int
    critical_illness_fen: int
    assistance_fen: int
    committed_fen: int
    raised_fen: int
    paid_fen: int
    submitted_at: datetime | None
    report_id: int | None
    flags: list[Flag] = field(default_factory=list)

    @property
    def total_aid_fen(self) -> int:
        return total_aid(self)


@dataclass(frozen=True)
class RegisterTotals:
    recipients: int
    total_cost_fen: int
    basic_fen: int
    critical_illness_fen: int
    assistance_fen: int
    committed_fen: int
    raised_fen: int
    paid_fen: int

    @property
    def total_aid_fen(self) -> int:
        return total_aid(self)


def prefix_for(reader: User) -> str:
    """The region prefix a reader's register covers: an officer's jurisdiction; every region ('') for the
    charity staff and admins who also read it."""
    if reader.role == Role.CIVIL_AFFAIRS_OFFICER:
        return reader.jurisdiction_prefix or ""
    return ""


def filters_from(args: Mapping[str, Any]) -> RegisterFilters:
    """The filters in a query string (a page's or the API's); anything not understood filters nothing."""
    state = str(args.get("state") or "")
    assistance_class = str(args.get("class") or "")
    hospital = str(args.get("hospital") or "").strip()
    flag = str(args.get("flag") or "")
    return RegisterFilters(
        state=state if state in FILTER_STATES else None,
        assistance_class=assistance_class if assistance_class in AssistanceClass._value2member_map_ else None,
        hospital_id=int(hospital)
        if hospital.isascii() and hospital.isdigit() and len(hospital) < 10
        else None,
        flagged_only=str(args.get("flagged") or "") in ("1", "true", "on", "yes"),
        flag=flag if flag in CODES else None,
    )


def query_args(filters: RegisterFilters, sort: str = "newest") -> dict[str, Any]:
    """The filters back as query-string arguments (the pager's and the export's links)."""
    values: dict[str, Any] = {
        "state": filters.state,
        "class": filters.assistance_class,
        "hospital": filters.hospital_id,
        "flagged": "1" if filters.flagged_only else None,
        "flag": filters.flag,
        "sort": sort if sort != "newest" else None,
    }
    return {key: value for key, value in values.items() if value is not None}


# --- the query -------------------------------------------------------------------------------------------


def _latest_report(column: Any) -> Any:
    """One column of the campaign's latest verification report, for the row at hand (an index lookup on
    verification_reports (campaign_id, id))."""
    return (
        select(column)
        .where(VerificationReport.campaign_id == Campaign.id)
        .order_by(VerificationReport.id.desc())
        .limit(1)
        .correlate(Campaign)
        .scalar_subquery()
    )


def _sum_of(amount: Any, *where: Any) -> Any:
    """A sum over the rows of one campaign (correlated), 0 when there are none."""
    return func.coalesce(select(func.sum(amount)).where(*where).correlate(Campaign).scalar_subquery(), 0)


def _current_class() -> Any:
    """The civil-affairs class on record now: the person's newest record still valid today."""
    today = date.today()
    return (
        select(CivilAffairsRecord.assistance_class)
        .where(
            CivilAffairsRecord.person_index == Campaign.patient_id_index,
            CivilAffairsRecord.valid_from <= today,
            or_(CivilAffairsRecord.valid_to.is_(None), CivilAffairsRecord.valid_to >= today),
        )
        .order_by(CivilAffairsRecord.id.desc())
        .limit(1)
        .correlate(Campaign)
        .scalar_subquery()
    )


def _base(prefix: str) -> tuple[Select[Any], dict[str, ColumnElement[Any]]]:
    """The register's select (every column a row shows) for a region prefix, and its named amounts.

    The aid columns are correlated sub-queries, each an index lookup for one campaign, so a page costs its 50
    rows' lookups whatever the region's size: PostgreSQL evaluates them after ORDER BY ... LIMIT (a sort by
    aid, or a filter on it, evaluates them for the whole filter). The totals are summed by grouped joins
    instead (`register_totals`)."""
    amounts: dict[str, ColumnElement[Any]] = {
        "basic_fen": func.coalesce(_latest_report(VerificationReport.basic_fen), 0),
        "critical_illness_fen": func.coalesce(_latest_report(VerificationReport.critical_illness_fen), 0),
        "assistance_fen": func.coalesce(_latest_report(VerificationReport.assistance_fen), 0),
        "committed_fen": _sum_of(
            Offer.amount_fen, Offer.campaign_id == Campaign.id, Offer.status == OfferStatus.APPROVED
        ),
        "raised_fen": _sum_of(
            Donation.amount_fen - Donation.refunded_fen - Donation.disputed_fen,
            Donation.campaign_id == Campaign.id,
            Donation.status == DonationStatus.SUCCEEDED,
        ),
        "paid_fen": _sum_of(
            Disbursement.amount_fen,
            Disbursement.campaign_id == Campaign.id,
            Disbursement.status == DisbursementStatus.PAID,
        ),
    }
    amounts["total_aid_fen"] = (
        amounts["basic_fen"]
        + amounts["critical_illness_fen"]
        + amounts["assistance_fen"]
        + amounts["committed_fen"]
        + amounts["raised_fen"]
    )
    amounts["assistance_class"] = _current_class()
    query = select(
        Campaign.id,
        Campaign.state,
        Campaign.patient_name,
        Campaign.patient_id_masked,
        Campaign.patient_region_code,
        Campaign.patient_id_index,
        Campaign.hospital_id,
        Campaign.cost_total_fen,
        Campaign.submitted_at,
        amounts["assistance_class"].label("assistance_class"),
        _latest_report(VerificationReport.id).label("report_id"),
        *(amounts[name].label(name) for name in AID_COLUMNS),
    ).where(Campaign.patient_region_code.startswith(prefix, autoescape=True), is_recipient())
    return query, amounts


def is_recipient() -> ColumnElement[bool]:
    """A campaign on the register: past submission, or cancelled after it took money."""
    took_money = exists().where(
        Donation.campaign_id == Campaign.id, Donation.status == DonationStatus.SUCCEEDED
    )
    return or_(
        Campaign.state.in_(LISTED_STATES),
        and_(Campaign.state == S.CANCELLED, or_(Campaign.ended_code.is_not(None), took_money)),
    )


def scope(prefix: str) -> Select[Any]:
    """The campaigns of the register for a prefix, without the aid columns (the flag candidates, the
    population a sample is drawn from)."""
    return select(Campaign.id).where(
        Campaign.patient_region_code.startswith(prefix, autoescape=True), is_recipient()
    )


def _scope_of(prefix: str, filters: RegisterFilters) -> Select[Any]:
    """`scope` narrowed by the filters on the campaign's own columns (where flag candidates are looked for)."""
    candidates = scope(prefix)
    if filters.state in FILTER_STATES:
        candidates = candidates.where(Campaign.state == filters.state)
    if filters.hospital_id is not None:
        candidates = candidates.where(Campaign.hospital_id == filters.hospital_id)
    return candidates


def _filtered(prefix: str, filters: RegisterFilters) -> tuple[Select[Any], dict[str, ColumnElement[Any]]]:
    query, amounts = _base(prefix)
    candidates = _scope_of(prefix, filters)
    if filters.state in FILTER_STATES:
        query = query.where(Campaign.state == filters.state)
    if filters.assistance_class:
        query = query.where(amounts["assistance_class"] == filters.assistance_class)
    if filters.hospital_id is not None:
        query = query.where(Campaign.hospital_id == filters.hospital_id)
    above_cost = amounts["total_aid_fen"] > Campaign.cost_total_fen
    if filters.flag in CODES:
        if filters.flag == "aid_above_cost":
            query = query.where(above_cost)
        else:
            query = query.where(Campaign.id.in_(sorted(flagged_ids(candidates, [filters.flag]))))
    elif filters.flagged_only:
        others = [code for code in CODES if code != "aid_above_cost"]
        query = query.where(or_(above_cost, Campaign.id.in_(sorted(flagged_ids(candidates, others)))))
    return query, amounts


_Kept = TypeVar("_Kept")
# Any select, whatever its columns (the rows, or the page's ids with the count).
_AnySelect = TypeVar("_AnySelect", bound=Select[*tuple[Any, ...]])


def _order(query: _AnySelect, amounts: dict[str, ColumnElement[Any]], sort: str) -> _AnySelect:
    if sort == "total_cost":
        return query.order_by(Campaign.cost_total_fen.desc(), Campaign.id.desc())
    if sort == "total_aid":
        return query.order_by(amounts["total_aid_fen"].desc(), Campaign.id.desc())
    if sort == "donations":
        return query.order_by(amounts["raised_fen"].desc(), Campaign.id.desc())
    return query.order_by(Campaign.submitted_at.desc(), Campaign.id.desc())


def _rows(result: Any, *, staff_links: bool, candidates: Collection[int] | None = None) -> list[RegisterRow]:
    fetched = list(result)
    hospital_ids = {row.hospital_id for row in fetched if row.hospital_id}
    hospitals = (
        {h.id: h for h in db.session.scalars(select(Hospital).where(Hospital.id.in_(hospital_ids)))}
        if hospital_ids
        else {}
    )
    # The rules read what the rows already hold (the aid, the latest report), not a second time.
    flags = flags_of(
        [
            Subject(
                campaign_id=row.id,
                hospital_id=row.hospital_id,
                patient_id_index=row.patient_id_index,
                aid=Aid(
                    campaign_id=row.id,
                    total_cost_fen=row.cost_total_fen,
                    basic_fen=int(row.basic_fen),
                    critical_illness_fen=int(row.critical_illness_fen),
                    assistance_fen=int(row.assistance_fen),
                    committed_fen=int(row.committed_fen),
                    raised_fen=int(row.raised_fen),
                ),
                report_id=row.report_id,
            )
            for row in fetched
        ],
        staff_links=staff_links,
        candidates=candidates,
    )
    return [
        RegisterRow(
            campaign_id=row.id,
            state=row.state,
            patient_name=row.patient_name,
            patient_id_masked=row.patient_id_masked or "",
            patient_region_code=row.patient_region_code or "",
            assistance_class=row.assistance_class,
            hospital=hospitals.get(row.hospital_id),
            total_cost_fen=row.cost_total_fen,
            basic_fen=int(row.basic_fen),
            critical_illness_fen=int(row.critical_illness_fen),
            assistance_fen=int(row.assistance_fen),
            committed_fen=int(row.committed_fen),
            raised_fen=int(row.raised_fen),
            paid_fen=int(row.paid_fen),
            submitted_at=row.submitted_at,
            report_id=row.report_id,
            flags=flags.get(row.id, []),
        )
        for row in fetched
    ]


# --- what the pages, the API and the export call ---------------------------------------------------------


def register_rows(
    prefix: str,
    filters: RegisterFilters,
    sort: str = "newest",
    page: int = 1,
    per_page: int = PER_PAGE,
    *,
    staff_links: bool = False,
) -> Page[RegisterRow]:
    """One page of the register for a region prefix ('' for every region: staff and admins)."""
    query, amounts = _filtered(prefix, filters)
    sort = sort if sort in SORTS else "newest"
    # The order of the whole filter, kept (`_kept`): officers page through a region of a hundred thousand
    # recipients, and an OFFSET deep into it scans what lies before each page, while a sort by aid sums the
    # aid of the whole filter. The rows of the page are then read afresh, filter applied again, so their
    # amounts are live and a recipient that left the filter since is not shown.
    order = _kept(
        "order",
        (prefix, filters, sort),
        lambda: array("q", db.session.scalars(_order(query.with_only_columns(Campaign.id), amounts, sort))),
    )
    total = len(order)
    number = min(max(page, 1), last_page(total, per_page))
    ids = list(order[(number - 1) * per_page : number * per_page])
    if not ids:
        return Page([], number, per_page, total)
    position = {campaign_id: n for n, campaign_id in enumerate(ids)}
    fetched = sorted(
        db.session.execute(query.where(any_of(Campaign.id, ids))), key=lambda row: position[row.id]
    )
    return Page(_rows(fetched, staff_links=staff_links), number, per_page, total)


def _kept(kind: str, key: Hashable, compute: Callable[[], _Kept]) -> _Kept:
    """A value about a whole region (its order, totals, hospitals) computed once per REGISTER_CACHE_SECONDS in
    this process per region and filter, so officers paging through the register do not each read the region
    again (0 computes it every time: the tests). At most KEPT_ENTRIES per kind; the oldest goes first."""
    seconds = current_app.config["REGISTER_CACHE_SECONDS"]
    store: dict[Hashable, tuple[float, Any]] = current_app.extensions.setdefault(
        f"aidbridge.register_{kind}", {}
    )
    now = time.monotonic()
    hit = store.get(key)
    if hit is not None and now - hit[0] < seconds:
        return cast(_Kept, hit[1])
    value = compute()
    if seconds > 0:
        store.pop(key, None)
        while len(store) >= KEPT_ENTRIES:
            store.pop(next(iter(store)))
        store[key] = (now, value)
    return value


def register_totals(prefix: str, filters: RegisterFilters) -> RegisterTotals:
    """Sums over the whole filter: grouped joins on the filter's campaign ids (one pass over each source,
    not a lookup per row), kept like the order (`_kept`)."""
    return _kept("totals", (prefix, filters), lambda: _summed(prefix, filters))


def _summed(prefix: str, filters: RegisterFilters) -> RegisterTotals:
    query, _amounts = _filtered(prefix, filters)
    ids = query.with_only_columns(Campaign.id).order_by(None).subquery()
    cost = db.session.execute(
        select(func.count(), func.coalesce(func.sum(Campaign.cost_total_fen), 0)).where(
            Campaign.id.in_(select(ids.c.id))
        )
    ).one()
    latest = (
        select(func.max(VerificationReport.id))
        .where(VerificationReport.campaign_id.in_(select(ids.c.id)))
        .group_by(VerificationReport.campaign_id)
    )
    reports = db.session.execute(
        select(
            func.coalesce(func.sum(VerificationReport.basic_fen), 0),
            func.coalesce(func.sum(VerificationReport.critical_illness_fen), 0),
            func.coalesce(func.sum(VerificationReport.assistance_fen), 0),
        ).where(VerificationReport.id.in_(latest))
    ).one()

    def total(amount: Any, *where: Any) -> int:
        return int(db.session.scalar(select(func.coalesce(func.sum(amount), 0)).where(*where)) or 0)

    committed = total(
        Offer.amount_fen, Offer.campaign_id.in_(select(ids.c.id)), Offer.status == OfferStatus.APPROVED
    )
    raised = total(
        Donation.amount_fen - Donation.refunded_fen - Donation.disputed_fen,
        Donation.campaign_id.in_(select(ids.c.id)),
        Donation.status == DonationStatus.SUCCEEDED,
    )
    paid = total(
        Disbursement.amount_fen,
        Disbursement.campaign_id.in_(select(ids.c.id)),
        Disbursement.status == DisbursementStatus.PAID,
    )
    return RegisterTotals(
        recipients=int(cost[0]),
        total_cost_fen=int(cost[1]),
        basic_fen=int(reports[0] or 0),
        critical_illness_fen=int(reports[1] or 0),
        assistance_fen=int(reports[2] or 0),
        committed_fen=committed,
        raised_fen=raised,
        paid_fen=paid,
    )


# How many orders, totals or hospital lists are kept at most (an order of 100,000 recipients is 800 kB).
KEPT_ENTRIES = 16


def register_row(prefix: str, campaign_id: int, *, staff_links: bool = False) -> RegisterRow | None:
    """One recipient's row, None when it is not on the register of that prefix."""
    query, _amounts = _base(prefix)
    return next(
        iter(_rows(db.session.execute(query.where(Campaign.id == campaign_id)), staff_links=staff_links)),
        None,
    )


def stream_rows(prefix: str, filters: RegisterFilters, *, staff_links: bool = False) -> Iterator[RegisterRow]:
    """Every row of the filter, by campaign id, read EXPORT_CHUNK at a time (keyset paging: memory stays
    flat and no chunk repeats or skips a row). The flag candidates are the filter's as the export starts; a
    recipient that becomes one during a long export shows its flags in the next."""
    query, _amounts = _filtered(prefix, filters)
    # Which rows the rules beyond aid need to look at, found for the whole filter at once.
    candidates = candidate_ids(_scope_of(prefix, filters))
    after = 0
    while True:
        result = db.session.execute(
            query.where(Campaign.id > after).order_by(Campaign.id).limit(EXPORT_CHUNK)
        )
        chunk = _rows(result, staff_links=staff_links, candidates=candidates)
        if not chunk:
            return
        yield from chunk
        after = chunk[-1].campaign_id


@transactional
def record_export(actor: User, prefix: str, filters: RegisterFilters) -> None:
    """An export of the register is itself audited: who took which region's data, with which filter. Commits."""
    audit.record(
        "register.exported",
        "register",
        prefix or "*",
        actor=actor,
        after={
            "prefix": prefix,
            "filters": {k: v for k, v in asdict(filters).items() if v not in (None, False)},
        },
    )


def hospitals_in(prefix: str) -> list[Hospital]:
    """The hospitals treating the register's recipients, for the filter (kept like the order: it reads every
    recipient of the region)."""

    def treating() -> list[int]:
        used = scope(prefix).with_only_columns(Campaign.hospital_id).where(Campaign.hospital_id.is_not(None))
        return list(db.session.scalars(select(Hospital.id).where(Hospital.id.in_(used))))

    known = _kept("hospitals", prefix, treating)
    if not known:
        return []
    return list(db.session.scalars(select(Hospital).where(Hospital.id.in_(known)).order_by(Hospital.name_zh)))


__all__ = [
    "FILTER_STATES",
    "PER_PAGE",
    "SORTS",
    "RegisterFilters",
    "RegisterRow",
    "RegisterTotals",
    "filters_from",
    "hospitals_in",
    "prefix_for",
    "query_args",
    "record_export",
    "register_row",
    "register_rows",
    "register_totals",
    "stream_rows",
]

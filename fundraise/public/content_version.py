"""Content versions of the public pages: one cheap query whose answer changes whenever anything a page shows
changes. They key the page cache (fundraise.web.page_cache); they are compared for equality only, never ordered.

How each kind of row is followed:
- a row that is updated in place has `updated_at` (set by the ORM on every UPDATE, Core updates included). On
  PostgreSQL the version carries the *sum* of those timestamps as epoch seconds (exact numerics), not their
  maximum: a transaction that commits after a later-stamped one still changes the sum, so commit order cannot
  hide a change. SQLite (one writer at a time; development and tests) carries the maximum and a millisecond sum.
- rows that are only ever added (documents, updates, audit events, ledger entries, verification reports,
  reports) carry count and maximum id: a late commit of an earlier id still changes the count.
- columns filled in later on such rows (a report handled, a verification report acknowledged) carry their
  count of non-null values.

The campaign page follows the campaign row and everything of that campaign: documents, updates, the audit
timeline, donations (the panel shows raised, donors and recent gifts), the campaign fund's ledger entries,
reports, relief offers (support approved by charities), vouchers, and verification reports (the verified breakdown; taken in only when fundraise.models has the model).
Reference data (names) is keyed separately by the reference cache's version. A new partial on the campaign page
that shows rows of another table must add that table here.
"""

from __future__ import annotations

import enum
import os
import threading
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    String,
    bindparam,
    case,
    cast,
    create_engine,
    extract,
    func,
    literal,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect, Engine

from fundraise import models
from fundraise.extensions import db
from fundraise.models import (
    AuditEvent,
    Campaign,
    CampaignReport,
    CampaignUpdate,
    Disbursement,
    Document,
    Donation,
    DonationStatus,
    Offer,
    Voucher,
)
from fundraise.models.columns import UTCDateTime, utcnow
from fundraise.models.ledger import AccountKind, LedgerAccount, LedgerEntry
from fundraise.services.donations import raised_by_campaign
from fundraise.states import PUBLIC_STATES


def _timestamps(column: Any, postgresql: bool) -> list[ColumnElement[Any]]:
    """Aggregates over a timestamp column that change whenever any row's value changes."""
    if postgresql:
        return [func.sum(extract("epoch", column))]
    milliseconds = cast((func.julianday(column) - 2440587.5) * 86400000, BigInteger)
    return [func.max(column), func.sum(milliseconds)]


def _signature(postgresql: bool, *aggregates: ColumnElement[Any]) -> ColumnElement[str]:
    """The aggregates as one string, so each table costs one subquery."""
    parts: list[ColumnElement[Any]] = []
    for aggregate in aggregates:
        if parts:
            parts.append(literal("|"))
        parts.append(func.coalesce(cast(aggregate, String), ""))
    if postgresql:
        return func.concat(*parts)
    joined = parts[0]
    for part in parts[1:]:
        joined = joined.op("||")(part)
    return joined


def _added_rows(
    postgresql: bool, model: Any, *where: Any, filled_in: tuple[Any, ...] = ()
) -> ColumnElement[str]:
    aggregates = [func.count(), func.max(model.id), *(func.count(column) for column in filled_in)]
    return select(_signature(postgresql, *aggregates)).where(*where).scalar_subquery()


CAMPAIGN_ID = bindparam("campaign_id", type_=Integer)
CAMPAIGN_KEY = bindparam("campaign_key", type_=String)  # the id as audit_events.object_id stores it
NOW = bindparam("now", type_=UTCDateTime())


def _campaign_statement(postgresql: bool) -> Select[*tuple[Any, ...]]:
    net = Donation.amount_fen - Donation.refunded_fen - Donation.disputed_fen
    fund = (
        select(LedgerAccount.id)
        .where(LedgerAccount.kind == AccountKind.CAMPAIGN_FUND, LedgerAccount.owner_id == CAMPAIGN_ID)
        .scalar_subquery()
    )
    columns: list[Any] = [
        Campaign.state,
        cast(Campaign.updated_at, String),
        _added_rows(postgresql, Document, Document.campaign_id == CAMPAIGN_ID),
        _added_rows(postgresql, CampaignUpdate, CampaignUpdate.campaign_id == CAMPAIGN_ID),
        _added_rows(
            postgresql, AuditEvent, AuditEvent.object_type == "campaign", AuditEvent.object_id == CAMPAIGN_KEY
        ),
        select(
            _signature(
                postgresql,
                func.count(),
                func.sum(case((Donation.status == DonationStatus.SUCCEEDED, net), else_=0)),
                *_timestamps(Donation.updated_at, postgresql),
            )
        )
        .where(Donation.campaign_id == CAMPAIGN_ID)
        .scalar_subquery(),
        _added_rows(postgresql, LedgerEntry, LedgerEntry.account_id == fund),
        _added_rows(
            postgresql,
            CampaignReport,
            CampaignReport.campaign_id == CAMPAIGN_ID,
            filled_in=(CampaignReport.handled_at,),
        ),
        # Relief support (the panel counts approved commitments; the page names the charities).
        _added_rows(postgresql, Offer, Offer.campaign_id == CAMPAIGN_ID, filled_in=(Offer.decided_at,)),
        # Disbursements (the use-of-funds block): requested, approved, paid, rejected or cancelled, and how
        # many have left their public notice (the `now` parameter; the phase shown changes then).
        _added_rows(
            postgresql,
            Disbursement,
            Disbursement.campaign_id == CAMPAIGN_ID,
            filled_in=(
                Disbursement.approved_at,
                Disbursement.decided_at,
                Disbursement.paid_at,
                case((Disbursement.notice_ends_at <= NOW, 1)),
            ),
        ),
        # Vouchers (亲友证实), and their withdrawals.
        _added_rows(
            postgresql, Voucher, Voucher.campaign_id == CAMPAIGN_ID, filled_in=(Voucher.withdrawn_at,)
        ),
    ]
    # Verification reports (the campaign page's breakdown), once that model is part of the app.
    report = getattr(models, "VerificationReport", None)
    if report is not None:
        columns.append(
            _added_rows(
                postgresql, report, report.campaign_id == CAMPAIGN_ID, filled_in=(report.acknowledged_at,)
            )
        )
    return select(*columns).where(Campaign.id == CAMPAIGN_ID)


def _listing_statement(postgresql: bool) -> Select[*tuple[Any, ...]]:
    public_campaigns = (
        select(_signature(postgresql, func.count(), *_timestamps(Campaign.updated_at, postgresql)))
        .where(Campaign.state.in_(sorted(PUBLIC_STATES)))
        .scalar_subquery()
    )
    newest_document = select(func.max(Document.id)).scalar_subquery()
    return select(public_campaigns, newest_document)


@dataclass(frozen=True)
class _Compiled:
    sql: str
    constants: dict[str, Any]  # the statement's own bound values
    order: tuple[str, ...] | None  # the parameters' order, for dialects with positional parameters


# Compiled once per dialect and run as SQL text: building and compiling these statements, or even computing
# their cache key, costs more than running them.
_compiled: dict[tuple[str, str], _Compiled] = {}


def _compile(build: Callable[[bool], Select[*tuple[Any, ...]]], dialect: Dialect) -> _Compiled:
    compiled = build(dialect.name == "postgresql").compile(
        dialect=dialect, compile_kwargs={"render_postcompile": True}
    )
    constants = {
        name: value.value if isinstance(value, enum.Enum) else value
        for name, value in compiled.params.items()
    }
    order = tuple(compiled.positiontup or ()) if dialect.positional else None
    return _Compiled(str(compiled), constants, order)


def _run(
    name: str,
    build: Callable[[bool], Select[*tuple[Any, ...]]],
    params: dict[str, Any],
    *,
    many: bool = False,
) -> Any:
    """The first row as a tuple (None when there is none), or with `many` all rows as tuples."""
    engine = db.engine
    key = (name, engine.dialect.name)
    compiled = _compiled.get(key)
    if compiled is None:
        compiled = _compiled.setdefault(key, _compile(build, engine.dialect))
    values = {**compiled.constants, **params}
    arguments = tuple(values[n] for n in compiled.order) if compiled.order is not None else values
    reader = _reader(engine)
    if reader is None:
        # SQLite (development, tests): in the request's session, one writer at a time anyway.
        result = db.session.connection().exec_driver_sql(compiled.sql, arguments)
        rows = [tuple(row) for row in (result.all() if many else result.fetchmany(1))]
    elif reader.dispatch.before_cursor_execute:
        # Someone listens to statements (the query-count tests): run it where they see it.
        with reader.connect() as connection:
            result = connection.exec_driver_sql(compiled.sql, arguments)
            rows = [tuple(row) for row in (result.all() if many else result.fetchmany(1))]
    else:
        rows = _fetch_raw(reader, compiled.sql, arguments)
    if many:
        return rows
    return rows[0] if rows else None


# PostgreSQL: version queries run on a small engine of their own in each process, in autocommit mode and
# without a ping before each use. A cached page then costs one round trip: no ping, no BEGIN or ROLLBACK, and the
# request's session is never touched. A connection found broken is dropped and the query tried once more.
_readers: dict[str, Engine] = {}
_reader_of: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()
_readers_lock = threading.Lock()


def _reader(engine: Engine) -> Engine | None:
    if engine.dialect.name != "postgresql":
        return None
    reader = _reader_of.get(engine)
    if reader is None:
        url = engine.url.render_as_string(hide_password=False)
        with _readers_lock:
            reader = _readers.get(url)
            if reader is None:
                options = current_app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {}
                reader = create_engine(
                    engine.url,
                    isolation_level="AUTOCOMMIT",
                    pool_size=2,
                    max_overflow=8,
                    pool_pre_ping=False,
                    pool_recycle=1800,
                    connect_args=dict(options.get("connect_args") or {}),
                )
                _readers[url] = reader
            _reader_of[engine] = reader
    return reader


def _fetch_raw(reader: Engine, sql: str, arguments: Any) -> list[tuple[Any, ...]]:
    disconnected = reader.dialect.loaded_dbapi.OperationalError
    for attempt in (1, 2):
        connection = reader.raw_connection()
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(sql, arguments)
                return [tuple(row) for row in cursor.fetchall()]
            finally:
                cursor.close()
        except disconnected:
            connection.invalidate()
            if attempt == 2:
                raise
        finally:
            connection.close()
    return []


def _forget_readers() -> None:
    """In a forked child (a web worker): leave the parent's connections to the parent."""
    for reader in _readers.values():
        reader.dispose(close=False)
    _readers.clear()
    _reader_of.clear()


os.register_at_fork(after_in_child=_forget_readers)


def campaign_version(campaign_id: int) -> tuple[Any, ...] | None:
    """The version of a campaign's public page, with its state first; None when there is no such campaign."""
    version: tuple[Any, ...] | None = _run(
        "campaign",
        _campaign_statement,
        {"campaign_id": campaign_id, "campaign_key": str(campaign_id), "now": _now_parameter()},
    )
    return version


def _now_parameter() -> Any:
    """The current time as the driver takes it (the statement runs as SQL text, past the column types):
    SQLite compares the text SQLAlchemy stores, PostgreSQL takes the aware datetime."""
    now = utcnow()
    if db.engine.dialect.name == "sqlite":
        return now.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    return now


def is_public(version: tuple[Any, ...]) -> bool:
    return version[0] in PUBLIC_STATES


def listing_version() -> tuple[Any, ...]:
    """The version of the pages that list public campaigns (browse, home): the set of public campaigns and
    every change to one of them, and the newest document. The raised amounts on the cards are checked apart
    (donations.raised_by_campaign for the cards of the stored page)."""
    return _run("listing", _listing_statement, {}) or ()


def _raised_statement(postgresql: bool) -> Select[*tuple[Any, ...]]:
    # The same sum as donations.raised_by_campaign (tested to agree), for an array of campaign ids.
    campaign_ids = bindparam("campaign_ids", type_=ARRAY(Integer))
    return (
        select(
            Donation.campaign_id,
            func.sum(Donation.amount_fen - Donation.refunded_fen - Donation.disputed_fen),
        )
        .where(Donation.campaign_id == func.any(campaign_ids), Donation.status == DonationStatus.SUCCEEDED)
        .group_by(Donation.campaign_id)
    )


def raised_of(campaign_ids: Iterable[int]) -> dict[int, int]:
    """`donations.raised_by_campaign`, checked for the cards of a stored list page: on PostgreSQL through the
    version queries' connection (one round trip, the session untouched)."""
    ids = sorted(set(campaign_ids))
    if not ids:
        return {}
    if db.engine.dialect.name != "postgresql":
        return raised_by_campaign(ids)
    raised = dict.fromkeys(ids, 0)
    raised.update(
        {
            campaign_id: int(total or 0)
            for campaign_id, total in _run("raised", _raised_statement, {"campaign_ids": ids}, many=True)
        }
    )
    return raised

"""Import government records feeds: validate every row, then upsert them all or nothing.

Feeds
-----
Three kinds, each a CSV file (comma-separated, a header row naming the columns in any order), a JSON file (a
list of objects, or {"records": [...]}, keyed by the same column names) or an Excel workbook (.xlsx: the first
worksheet, its first row that holds anything naming the columns, as in a CSV file). Text files are UTF-8 (a
BOM allowed) or GB18030/GBK, as Chinese Excel and WPS save CSV by default: a file that is valid UTF-8 is read
as UTF-8, any other as GB18030, and one that is neither is refused; the result says which was read. In a
workbook, cells Excel typed are read as the text a CSV would hold: a whole number as its digits, a date as
YYYY-MM-DD, a boolean as true/false (an identity number Excel turned into a number of more than 15 digits has
lost its last digits, and is a fault that says so).
Dates are YYYY-MM-DD; amounts are yuan with at most two decimals, e.g. 1234.5 (read by
fundraise.money.parse_yuan, so a thousands separator or a ¥ sign is tolerated, a minus sign is not); an
empty `valid_to` (or JSON null) means open-ended. Columns not listed are ignored and reported back.

``basic_enrolment`` (basic medical insurance enrolment, one row per person and year)::

    source_record_id,id_number,name,scheme,pooling_region_code,valid_from,valid_to,year,ytd_reimbursed_yuan
    [,ytd_in_policy_self_pay_yuan][,ytd_as_of]

    scheme: employee | resident; year: the insurance year the year-to-date figures belong to;
    ytd_in_policy_self_pay_yuan: the in-policy cost the person paid that year after basic insurance (empty
    or absent: not stated, and verification derives a floor from the reimbursement).

``critical_illness`` (critical-illness insurance entitlement)::

    source_record_id,id_number,name,entitled,pooling_region_code,valid_from,valid_to,ytd_paid_yuan[,ytd_as_of]

    entitled: true | false (also 1/0, yes/no, 是/否).

``civil_affairs`` (civil-affairs assistance status)::

    source_record_id,id_number,name,assistance_class,valid_from,valid_to,household_size,
    monthly_household_income_yuan,region_code[,ytd_assistance_paid_yuan][,ytd_as_of]

    assistance_class: tekun (特困) | dibao (低保) | dibao_edge (低保边缘) | monitored (防止返贫监测) |
    illness_impoverished (因病致贫重病患者) | returned_to_poverty (返贫致贫人口); household_size 1-50;
    ytd_assistance_paid_yuan is optional (0 when absent).

``ytd_as_of`` (every kind, optional): the date the row's year-to-date figures stand at. Empty or absent:
undated, taken as standing before any treatment being checked. A date in the future, or before the record's
year (an enrolment's ``year``, otherwise the year of ``valid_from``), is a row fault. Verification uses
dated figures only for a treatment on or after that date in the same year (fundraise/records/CONTRACT.md).

Every kind: ``source_record_id`` is the record's id in the sending system (at most 64 characters, unique
within the file; a later file with the same id and the same issuing region updates the record — the issuing
region is ``pooling_region_code`` for the insurance feeds and ``region_code`` for civil affairs, so two
regions' systems may use the same ids without ever touching each other's records), ``id_number`` a GB 11643 resident
identity number (check digit verified), ``name`` the person's name, region codes six GB/T 2260 digits.

Rules
-----
- Every row is checked before anything is written. Any fault (missing columns, a bad date, an unknown class
  or scheme, a bad ID number, a negative or non-numeric amount, a duplicate source_record_id in the file, a
  row with too few fields as when a file is cut short, JSON that does not parse) rejects the whole file:
  no record is written, and an `ImportBatch` with status 'rejected' keeps the row-level report (row, column,
  value with ID numbers masked, the fault's code and parameters, and its English message), which
  `error_report_csv` renders for download. fundraise/records_text.py words each fault in the reader's
  language. Rows are numbered from 1 = the first record after the CSV header (line 2 of the file) or the
  first object of a JSON list; in a workbook, as the worksheet numbers them.
- An accepted file is upserted by (issuing region, source_record_id) in one transaction. A row whose values are unchanged is
  not touched, so importing the same file twice changes nothing (inserted=0, updated=0, unchanged=N).
- Civil-affairs officers may import records of their jurisdiction only (region_code, or the pooling region
  for insurance feeds, must start with their jurisdiction prefix; a row outside is a row fault); admins any.
  Since a record is keyed by its issuing region, the stored record a row would update lies in the same
  region as the row, so an officer can neither add nor change a record outside their jurisdiction.
  Every batch, accepted or rejected, is written to the audit log.
- After an accepted import commits, `after_import` is called with the blind indexes of every person whose
  records were inserted or changed.

Where the work is done: fundraise/records/reading.py reads a file into raw rows, fundraise/records/feeds.py
checks each row's values, fundraise/records/writer.py writes the accepted rows in chunks (and explains how
the import is fast: one streaming pass, only new and changed rows encrypted and written, COPY on
PostgreSQL). This module holds the rules above together: who may import, the all-or-nothing unit of work,
the row-level report and the batches.

API views call `import_feed(kind, data, fmt, actor)`, with the format from `feed_format`; the CLI is
fundraise/cli/records.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from sqlalchemy import select, text

from fundraise import audit
from fundraise.csv_export import csv_text
from fundraise.errors import Forbidden, NotFound, ValidationFailed
from fundraise.extensions import db
from fundraise.models import Role, User
from fundraise.models.columns import utcnow
from fundraise.models.records import ImportBatch, ImportStatus, RecordKind
from fundraise.records.feeds import (
    JURISDICTION_FIELD,
    SOURCE_ID_COLUMN,
    china_today,
    fault_english,
    mask_value,
    parse_row,
)
from fundraise.records.reading import Feed, FileFault, csv_feed, json_feed, sniffed_format, xlsx_feed
from fundraise.records.writer import MODELS, RecordWriter
from fundraise.records_text import row_error_message
from fundraise.services.reverification import enqueue_reverification
from fundraise.unit_of_work import unit_of_work

__all__ = [
    "CHUNK_ROWS",
    "FORMATS",
    "MAX_REPORTED_ERRORS",
    "MODELS",
    "POSTGRESQL_CHUNK_ROWS",
    "ImportResult",
    "Progress",
    "RowError",
    "after_import",
    "batch_for",
    "error_report_csv",
    "feed_format",
    "import_feed",
    "recent_batches",
]

FORMATS = ("csv", "json", "xlsx")
_READERS: dict[str, Callable[[RecordKind, bytes], Feed]] = {
    "csv": csv_feed,
    "json": json_feed,
    "xlsx": xlsx_feed,
}
# Rows per read-compare-write round trip. SQLite: 14 columns x 2,000 rows stays under its 32,766
# parameters. PostgreSQL: COPY has no such limit, and bigger chunks mean fewer round trips.
CHUNK_ROWS = 2_000
POSTGRESQL_CHUNK_ROWS = 10_000
# A report longer than this helps nobody; the count of the rest is given.
MAX_REPORTED_ERRORS = 10_000
# Any fixed numbers: advisory locks that serialise imports of one kind on PostgreSQL, so the counts of
# inserted / updated / unchanged read before writing stay true until commit.
_IMPORT_LOCK_KEYS = {kind: 7_201_300 + position for position, kind in enumerate(RecordKind)}

Progress = Callable[[int], None]


@dataclass(frozen=True)
class RowError:
    """One fault of a rejected feed. `row` None: the file as a whole (e.g. missing columns).

    `code` and `params` say what is wrong (fundraise.records.feeds.FAULTS); `message` is that in English, for
    logs and for readers of the stored report that know no codes. fundraise.records_text words it for a
    reader."""

    row: int | None
    column: str | None
    value: str
    code: str
    params: Mapping[str, str | int] = field(default_factory=dict)

    @property
    def message(self) -> str:
        words = fault_english(self.code, self.params)
        if self.column is not None:
            return f"{self.column} {words}"
        return words if self.row is None else f"row {words}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "column": self.column,
            "value": self.value,
            "code": self.code,
            "params": dict(self.params),
            "message": self.message,
        }


@dataclass(frozen=True)
class ImportResult:
    batch_id: int
    kind: RecordKind
    status: ImportStatus
    rows_total: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    errors: tuple[RowError, ...] = ()
    # Blind indexes of the persons whose records were inserted or changed (both persons, should a changed
    # record have moved from one ID number to another): whose active campaigns need re-verifying.
    affected_person_indexes: frozenset[str] = frozenset()
    ignored_columns: tuple[str, ...] = ()
    file_format: str = "csv"
    # How the file was read: "utf-8" or "gb18030" (its text encoding), "xlsx" (a workbook's first worksheet);
    # None when it could not be read at all.
    read_as: str | None = None

    @property
    def encoding(self) -> str | None:
        """The text encoding the file was read in, None for a workbook or a file that was not text."""
        return self.read_as if self.read_as in ("utf-8", "gb18030") else None

    @property
    def accepted(self) -> bool:
        return self.status == ImportStatus.IMPORTED


def after_import(person_indexes: frozenset[str]) -> None:
    """Called once after every accepted import has committed, with `ImportResult.affected_person_indexes`.

    Enqueues re-verification of the active campaigns of those persons (jobs, not inline: one import can touch
    a million persons); the verification service flags changed outcomes. It runs outside the import's
    transaction, so a failure here cannot undo the import.
    """
    if not person_indexes:
        return

    enqueue_reverification(person_indexes)


# --- access ----------------------------------------------------------------------------------------------


def _jurisdiction_prefix(actor: User | None) -> str | None:
    """'' for callers who may import anything, the region prefix for officers; Forbidden for everyone else.

    `actor=None` is an operator on the server (`flask records import` without --as); web and API callers
    always pass the signed-in user.
    """
    if actor is None or actor.role == Role.ADMIN:
        return ""
    if actor.role == Role.CIVIL_AFFAIRS_OFFICER and actor.jurisdiction_prefix:
        return actor.jurisdiction_prefix
    raise Forbidden("Only civil-affairs officers and administrators may import records.")


# --- the import ------------------------------------------------------------------------------------------


class _Rejected(Exception):
    """A fault was found: the attempt's unit of work is rolled back."""


class _Faults:
    """The row-level report, capped at MAX_REPORTED_ERRORS entries."""

    def __init__(self) -> None:
        self.errors: list[RowError] = []
        self.count = 0
        self.rows: set[int] = set()

    def add(
        self, row: int | None, column: str | None, value: Any, code: str, params: Mapping[str, str | int]
    ) -> None:
        self.count += 1
        if row is not None:
            self.rows.add(row)
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(RowError(row, column, mask_value(column, value), code, params))

    def report(self) -> list[RowError]:
        if self.count > len(self.errors):
            more = self.count - len(self.errors)
            return [*self.errors, RowError(None, None, "", "more_faults", {"count": more})]
        return list(self.errors)


def feed_format(filename: str, declared: str | None, data: bytes) -> str | None:
    """The format to read an upload in: a workbook by its content whatever it is called or said to be (a
    zip is no CSV), else the format the sender chose, else the file name's extension; None if none tells."""
    if sniffed_format(data):
        return "xlsx"
    if declared:
        return declared
    suffix = PurePath(filename).suffix.lower().lstrip(".")
    return suffix if suffix in FORMATS else None


def import_feed(
    kind: RecordKind | str,
    data: bytes,
    fmt: str,
    actor: User | None,
    *,
    source_name: str = "upload",
    progress: Progress | None = None,
) -> ImportResult:
    """Import one feed file (see the module docstring for formats and rules) and return what became of it.

    Raises Forbidden for callers who may not import, ValidationFailed for an unknown kind or format; a
    faulty file is not an exception but a rejected batch (`result.accepted` is False, `result.errors` says
    why). The session is committed (or rolled back) here: call it with no unsaved work of your own.
    `progress`, if given, is called with the number of rows read so far, every CHUNK_ROWS rows and at the end.
    """
    try:
        kind = RecordKind(kind)
    except ValueError:
        raise ValidationFailed(
            "Unknown records kind.", fields={"kind": [f"choose one of {', '.join(RecordKind)}"]}
        ) from None
    if fmt not in FORMATS:
        raise ValidationFailed("Unknown feed format.", fields={"format": ["choose csv, json or xlsx"]})
    # A workbook is read as one whatever the caller took it for: its bytes say so, and no CSV begins so.
    fmt = sniffed_format(data) or fmt
    prefix = _jurisdiction_prefix(actor)
    actor_id = actor.id if actor is not None else None
    started_at = utcnow()
    batch_fields = {
        "kind": kind.value,
        "source_name": source_name[:255] or "upload",
        "file_format": fmt,
        "file_sha256": hashlib.sha256(data).hexdigest(),
        "actor_id": actor_id,
        "started_at": started_at,
    }

    faults = _Faults()
    rows_total = 0
    ignored: list[str] = []
    read_as: str | None = None
    feed: Feed | None
    try:
        feed = _READERS[fmt](kind, data)
    except FileFault as error:
        faults.add(None, None, "", error.code, error.params)
        feed = None
    if feed is not None:
        read_as = feed.encoding or fmt
        if feed.missing:
            faults.add(None, None, "", "missing_columns", {"columns": ", ".join(feed.missing)})
            feed.release()
            feed = None

    # The attempt is one unit of work: a fault anywhere rolls back every row already written, and the
    # rejected batch with its report is then recorded in a unit of its own.
    try:
        with unit_of_work():
            writer: RecordWriter | None = None
            if feed is not None:
                on_postgresql = db.session.get_bind().dialect.name == "postgresql"
                if on_postgresql:
                    db.session.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": _IMPORT_LOCK_KEYS[kind]}
                    )
                batch = ImportBatch(status=ImportStatus.IMPORTED, **batch_fields)
                db.session.add(batch)
                db.session.flush()
                writer = RecordWriter(kind, batch.id, POSTGRESQL_CHUNK_ROWS if on_postgresql else CHUNK_ROWS)
                region_field = JURISDICTION_FIELD[kind]
                first_seen: dict[str, int] = {}
                today = china_today()
                try:
                    # Row numbers are the file's (a worksheet's start below its header, and skip empty
                    # rows); rows_total counts the records read.
                    for number, raw, row_faults in feed.rows:
                        rows_total += 1
                        if progress is not None and rows_total % CHUNK_ROWS == 0:
                            progress(rows_total)
                        for fault in row_faults:
                            faults.add(
                                number,
                                fault.column,
                                raw.get(fault.column or "") if raw else "",
                                fault.code,
                                fault.params,
                            )
                        if raw is None:
                            continue
                        values, value_faults = parse_row(kind, raw, today=today)
                        for fault in value_faults:
                            # A value the reading already faulted (a rounded ID number) is reported once.
                            if row_faults and any(f.column == fault.column for f in row_faults):
                                continue
                            faults.add(
                                number, fault.column, raw.get(fault.column or ""), fault.code, fault.params
                            )
                        source_id = values.get("source_record_id")
                        if source_id is not None:
                            earlier = first_seen.setdefault(source_id, number)
                            if earlier != number:
                                faults.add(
                                    number, SOURCE_ID_COLUMN, source_id, "repeated_id", {"first_row": earlier}
                                )
                        region = values.get(region_field)
                        if prefix and region is not None and not region.startswith(prefix):
                            faults.add(
                                number, region_field, region, "outside_jurisdiction", {"prefix": prefix}
                            )
                        if faults.count == 0:
                            writer.add(values)
                    if faults.count == 0:
                        writer.finish()
                    else:
                        writer.abandon()
                except BaseException:
                    writer.abandon()
                    raise
                finally:
                    feed.release()
                ignored = list(feed.ignored)
            if progress is not None:
                progress(rows_total)
            if faults.count:
                raise _Rejected
            assert writer is not None
            batch.rows_total = rows_total
            batch.rows_inserted = writer.inserted
            batch.rows_updated = writer.updated
            batch.rows_unchanged = writer.unchanged
            batch.finished_at = utcnow()
            _audit(batch, actor, read_as=read_as)
    except _Rejected:
        with unit_of_work():
            report = faults.report()
            batch = ImportBatch(
                status=ImportStatus.REJECTED,
                rows_total=rows_total,
                rows_rejected=len(faults.rows),
                error_report=[error.as_dict() for error in report],
                finished_at=utcnow(),
                **batch_fields,
            )
            db.session.add(batch)
            db.session.flush()
            _audit(batch, actor, faults=faults.count, read_as=read_as)
        return ImportResult(
            batch_id=batch.id,
            kind=kind,
            status=ImportStatus.REJECTED,
            rows_total=rows_total,
            inserted=0,
            updated=0,
            unchanged=0,
            rejected=batch.rows_rejected,
            errors=tuple(report),
            ignored_columns=tuple(ignored),
            file_format=fmt,
            read_as=read_as,
        )
    result = ImportResult(
        batch_id=batch.id,
        kind=kind,
        status=ImportStatus.IMPORTED,
        rows_total=rows_total,
        inserted=writer.inserted,
        updated=writer.updated,
        unchanged=writer.unchanged,
        rejected=0,
        affected_person_indexes=frozenset(writer.affected),
        ignored_columns=tuple(ignored),
        file_format=fmt,
        read_as=read_as,
    )
    after_import(result.affected_person_indexes)
    return result


def _audit(batch: ImportBatch, actor: User | None, faults: int = 0, read_as: str | None = None) -> None:

    after = {
        "kind": batch.kind,
        "source_name": batch.source_name,
        "file_format": batch.file_format,
        "file_sha256": batch.file_sha256,
        "status": batch.status,
        "rows_total": batch.rows_total,
        "rows_inserted": batch.rows_inserted,
        "rows_updated": batch.rows_updated,
        "rows_unchanged": batch.rows_unchanged,
        "rows_rejected": batch.rows_rejected,
    }
    if faults:
        after["faults"] = faults
    if read_as is not None:
        after["read_as"] = read_as  # kept only here: the batch has no column for it
    action = "records.import" if batch.status == ImportStatus.IMPORTED else "records.import_rejected"
    audit.record(action, "import_batch", batch.id, actor=actor, after=after)


# --- batches and their reports ---------------------------------------------------------------------------


def recent_batches(actor: User | None, limit: int = 20) -> list[ImportBatch]:
    """The latest batches the caller may see: all for admins and operators, their own for officers."""
    _jurisdiction_prefix(actor)
    query = select(ImportBatch).order_by(ImportBatch.id.desc()).limit(limit)
    if actor is not None and actor.role != Role.ADMIN:
        query = query.where(ImportBatch.actor_id == actor.id)
    return list(db.session.scalars(query))


def batch_for(batch_id: int, actor: User | None) -> ImportBatch:
    """One batch, if the caller may see it (admins and operators: any; officers: their own)."""
    _jurisdiction_prefix(actor)
    batch = db.session.get(ImportBatch, batch_id)
    if batch is None or (actor is not None and actor.role != Role.ADMIN and batch.actor_id != actor.id):
        raise NotFound("No such import batch.")
    return batch


def error_report_csv(batch: ImportBatch) -> str:
    """The batch's faults as CSV (row,column,value,message), the messages in the reader's language, ready to
    download; empty but for the header when it had none."""
    # Values come from the sender's file; csv_text escapes every cell so a spreadsheet runs none as a formula.
    return csv_text(
        ["row", "column", "value", "message"],
        (
            [
                "" if error.get("row") is None else error["row"],
                error.get("column") or "",
                error.get("value"),
                row_error_message(error),
            ]
            for error in batch.error_report or []
        ),
    )

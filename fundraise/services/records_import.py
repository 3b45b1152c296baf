"""Import government records feeds: validate every row, then upsert them all or nothing.

Feeds
-----
Three kinds, each a CSV file (UTF-8, a BOM allowed, comma-separated, a header row naming the columns in any
order) or a JSON file (UTF-8: a list of objects, or {"records": [...]}, keyed by the same column names).
Dates are YYYY-MM-DD; amounts are yuan with at most two decimals, e.g. 1234.5 (read by
fundraise.money.parse_yuan, so a thousands separator or a ¥ sign is tolerated, a minus sign is not); an
empty `valid_to` (or JSON null) means open-ended. Columns not listed are ignored and reported back.

``basic_enrolment`` (basic medical insurance enrolment, one row per person and year)::

    source_record_id,id_number,name,scheme,pooling_region_code,valid_from,valid_to,year,ytd_reimbursed_yuan

    scheme: employee | resident; year: the insurance year the year-to-date reimbursement belongs to.

``critical_illness`` (critical-illness insurance entitlement)::

    source_record_id,id_number,name,entitled,pooling_region_code,valid_from,valid_to,ytd_paid_yuan

    entitled: true | false (also 1/0, yes/no, 是/否).

``civil_affairs`` (civil-affairs assistance status)::

    source_record_id,id_number,name,assistance_class,valid_from,valid_to,household_size,
    monthly_household_income_yuan,region_code[,ytd_assistance_paid_yuan]

    assistance_class: tekun (特困) | dibao (低保) | dibao_edge (低保边缘) | monitored (防止返贫监测) |
    illness_impoverished (因病致贫重病患者); household_size 1-50; ytd_assistance_paid_yuan is optional
    (0 when absent).

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
  value with ID numbers masked, message), which `error_report_csv` renders for download. Rows are numbered
  from 1 = the first record after the CSV header (line 2 of the file) or the first object of a JSON list.
- An accepted file is upserted by (issuing region, source_record_id) in one transaction. A row whose values are unchanged is
  not touched, so importing the same file twice changes nothing (inserted=0, updated=0, unchanged=N).
- Civil-affairs officers may import records of their jurisdiction only (region_code, or the pooling region
  for insurance feeds, must start with their jurisdiction prefix; a row outside is a row fault); admins any.
  Since a record is keyed by its issuing region, the stored record a row would update lies in the same
  region as the row, so an officer can neither add nor change a record outside their jurisdiction.
  Every batch, accepted or rejected, is written to the audit log.
- After an accepted import commits, `after_import` is called with the blind indexes of every person whose
  records were inserted or changed.

How it is fast: one streaming pass reads and validates rows and, while no fault has been seen, writes them
in chunks inside the still-open transaction (a later fault rolls it all back, so "nothing written" holds
without a second pass). Per chunk, the stored content hashes are read first, so only new and changed rows
pay for AES-GCM encryption and a write. On PostgreSQL the writes run in a background thread while the next
chunk is read, new rows go in by COPY and changed ones by COPY into a staging table and
INSERT ... SELECT ... ON CONFLICT (region, source_record_id) DO UPDATE ... WHERE the content hash differs; on SQLite
the same upsert is a multi-row INSERT. benchmarks/verify_import.py measures it.

API views call `import_feed(kind, data, fmt, actor)`; the CLI is fundraise/cli/records.py.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import operator
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from sqlalchemy import Table, select, text, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from fundraise import pii
from fundraise.errors import Forbidden, NotFound, ValidationFailed
from fundraise.extensions import db
from fundraise.models import Role, User
from fundraise.models.columns import utcnow
from fundraise.models.records import (
    BasicEnrolmentRecord,
    CivilAffairsRecord,
    CriticalIllnessRecord,
    ImportBatch,
    ImportStatus,
    RecordKind,
)
from fundraise.records.feeds import (
    COLUMNS,
    ID_COLUMN,
    JURISDICTION_FIELD,
    SOURCE_ID_COLUMN,
    Fault,
    column_names,
    mask_value,
    parse_row,
)
from fundraise.unit_of_work import unit_of_work

FORMATS = ("csv", "json")
MODELS: dict[RecordKind, Any] = {
    RecordKind.BASIC_ENROLMENT: BasicEnrolmentRecord,
    RecordKind.CRITICAL_ILLNESS: CriticalIllnessRecord,
    RecordKind.CIVIL_AFFAIRS: CivilAffairsRecord,
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
    """One fault of a rejected feed. `row` None: the file as a whole (e.g. missing columns)."""

    row: int | None
    column: str | None
    value: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "value": self.value, "message": self.message}


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
    from fundraise.services.verification import enqueue_reverification

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


# --- reading feeds ---------------------------------------------------------------------------------------


class _Rejected(Exception):
    """A fault was found: the attempt's unit of work is rolled back."""


class _FileFault(Exception):
    """The file cannot be read as a feed at all."""


@dataclass
class _Feed:
    """Rows of a feed as (row number, raw mapping or None when the row could not be read, faults)."""

    header: list[str]
    rows: Iterator[tuple[int, dict[str, Any] | None, list[Fault]]]
    missing: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise _FileFault(
            f"the file is not UTF-8 text (byte {error.start} cannot be decoded); save it as UTF-8"
        ) from None


def _csv_feed(kind: RecordKind, data: bytes) -> _Feed:
    reader = csv.reader(io.StringIO(_decode(data), newline=""), strict=True)
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        raise _FileFault("the file is empty: expected a header row") from None
    except csv.Error as error:
        raise _FileFault(f"the header row cannot be read: {error}") from None
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise _FileFault(f"the header names these columns more than once: {', '.join(duplicated)}")
    known = set(column_names(kind))
    width = len(header)

    def rows() -> Iterator[tuple[int, dict[str, Any] | None, list[Fault]]]:
        number = 0
        while True:
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                number += 1
                yield number, None, [Fault(None, f"cannot be read ({error}); is the file cut short?")]
                return
            if not record:  # a blank line
                continue
            number += 1
            if len(record) != width:
                shortfall = "too few" if len(record) < width else "too many"
                hint = "; is the file cut short?" if len(record) < width else ""
                yield (
                    number,
                    None,
                    [
                        Fault(
                            None,
                            f"has {len(record)} fields, {shortfall} for the {width} columns of the header{hint}",
                        )
                    ],
                )
                continue
            yield number, dict(zip(header, record, strict=True)), []

    return _Feed(
        header=header,
        rows=rows(),
        missing=[name for name in column_names(kind, required_only=True) if name not in header],
        ignored=[name for name in header if name not in known],
    )


def _json_feed(kind: RecordKind, data: bytes) -> _Feed:
    try:
        document = json.loads(_decode(data))
    except json.JSONDecodeError as error:
        raise _FileFault(
            f"not valid JSON at line {error.lineno} column {error.colno} ({error.msg}); is the file cut short?"
        ) from None
    except RecursionError:
        raise _FileFault("the JSON is nested too deeply to be a records feed") from None
    except ValueError as error:  # e.g. a number of thousands of digits, past what int() reads
        raise _FileFault(f"not a records feed: {error}") from None
    if isinstance(document, dict) and isinstance(document.get("records"), list):
        items = document["records"]
    elif isinstance(document, list):
        items = document
    else:
        raise _FileFault('expected a JSON list of records or an object {"records": [...]}')
    required = column_names(kind, required_only=True)
    known = set(column_names(kind))
    ignored: list[str] = []  # filled while reading, read once all rows are

    def rows() -> Iterator[tuple[int, dict[str, Any] | None, list[Fault]]]:
        for number, item in enumerate(items, start=1):
            if not isinstance(item, dict):
                yield number, None, [Fault(None, "is not a JSON object")]
                continue
            for key in item:
                if key not in known and key not in ignored:
                    ignored.append(key)
            missing = [Fault(name, "is missing") for name in required if name not in item]
            yield number, (None if missing else item), missing

    return _Feed(header=sorted(known), rows=rows(), ignored=ignored)


# --- the import ------------------------------------------------------------------------------------------


def _content_fields(kind: RecordKind) -> list[str]:
    return ["person_index"] + [c.field for c in COLUMNS[kind] if c.name not in (SOURCE_ID_COLUMN, ID_COLUMN)]


def _upsert_statement(table: Table, issuer: str, write_columns: list[str]) -> Any:
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table)
    key = (issuer, "source_record_id")
    return statement.on_conflict_do_update(
        index_elements=[table.c[name] for name in key],
        set_={name: statement.excluded[name] for name in write_columns if name not in key},
        where=table.c.content_hash != statement.excluded.content_hash,
    )


class _Writer:
    """Writes validated rows in chunks: compares content hashes, encrypts and writes only what changed.

    SQLite: a multi-row INSERT ... ON CONFLICT through SQLAlchemy, in the calling thread. PostgreSQL: a
    background thread takes each chunk while the caller reads the next, on the session's own connection (so
    it is all one transaction; the caller does not touch the connection until `finish` or `abandon` has
    joined the thread). New rows are streamed with COPY straight into the table; changed rows with COPY into
    a temporary staging table and moved with INSERT ... SELECT ... ON CONFLICT DO UPDATE. Row-by-row
    statements would cost more than everything else put together.
    """

    def __init__(self, kind: RecordKind, batch_id: int) -> None:
        self.table: Table = MODELS[kind].__table__
        # A record is the same record only within the region that issued it (its unique key).
        self.issuer: str = MODELS[kind].issuer_field
        self.content_fields = _content_fields(kind)
        fields = [c.field for c in COLUMNS[kind] if c.name != ID_COLUMN]
        self.write_columns = [
            *fields,
            "person_index",
            "person_id_ciphertext",
            "content_hash",
            "batch_id",
            "imported_at",
        ]
        self.content_values = operator.itemgetter(*self.content_fields)
        self.row_values = operator.itemgetter(*self.write_columns)
        self.postgresql = db.session.get_bind().dialect.name == "postgresql"
        self.chunk_rows = POSTGRESQL_CHUNK_ROWS if self.postgresql else CHUNK_ROWS
        self.batch_id = batch_id
        self.imported_at = utcnow()
        self.pending: list[dict[str, Any]] = []
        self.inserted = self.updated = self.unchanged = 0
        self.affected: set[str] = set()
        self.failure: BaseException | None = None
        if self.postgresql:
            self.connection: Any = db.session.connection().connection.dbapi_connection
            self.app = current_app._get_current_object()  # type: ignore[attr-defined]  # current_app is typed as Flask, not as the proxy it is
            self._prepare_staging()
            self.chunks: queue.Queue[list[dict[str, Any]] | None] = queue.Queue(maxsize=2)
            self.thread = threading.Thread(target=self._drain, name="records-import-writer", daemon=True)
            self.thread.start()
        else:
            self.statement = _upsert_statement(self.table, self.issuer, self.write_columns)

    def add(self, values: dict[str, Any]) -> None:
        values["person_index"] = pii.blind_index(values["id_number"])
        content = "\x1f".join(map(str, self.content_values(values)))
        values["content_hash"] = hashlib.sha256(content.encode()).hexdigest()
        self.pending.append(values)
        if len(self.pending) >= self.chunk_rows:
            chunk, self.pending = self.pending, []
            self._submit(chunk)

    def finish(self) -> None:
        """Write what is left and wait until everything is written; re-raises a failure of the writer."""
        if self.pending:
            chunk, self.pending = self.pending, []
            self._submit(chunk)
        self._stop()
        if self.failure is not None:
            raise self.failure

    def abandon(self) -> None:
        """Stop writing (the caller rolls the transaction back)."""
        self.pending = []
        self._stop()

    def _submit(self, chunk: list[dict[str, Any]]) -> None:
        if not self.postgresql:
            self._write(chunk)
            return
        if self.failure is not None:
            raise self.failure
        self.chunks.put(chunk)

    def _stop(self) -> None:
        if self.postgresql and self.thread.is_alive():
            self.chunks.put(None)
            self.thread.join()

    def _drain(self) -> None:
        # An app context for the PII key; this thread never uses db.session, only self.connection.
        with self.app.app_context():
            while (chunk := self.chunks.get()) is not None:
                if self.failure is None:
                    try:
                        self._write(chunk)
                    except BaseException as error:  # handed to the caller's thread by finish()
                        self.failure = error

    def _write(self, chunk: list[dict[str, Any]]) -> None:
        stored = self._stored([(values[self.issuer], values["source_record_id"]) for values in chunk])
        new, changed = [], []
        for values in chunk:
            previous = stored.get((values[self.issuer], values["source_record_id"]))
            if previous is None:
                self.inserted += 1
                new.append(values)
            elif previous[0] == values["content_hash"]:
                self.unchanged += 1
                continue
            else:
                self.updated += 1
                self.affected.add(previous[1])
                changed.append(values)
            self.affected.add(values["person_index"])
            values["person_id_ciphertext"] = pii.encrypt_id(values["id_number"])
            values["batch_id"] = self.batch_id
            values["imported_at"] = self.imported_at
        if self.postgresql:
            self._copy(new, changed)
        elif new or changed:
            columns = self.write_columns
            db.session.execute(self.statement, [{name: v[name] for name in columns} for v in new + changed])

    def _stored(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, str]]:
        """(issuing region, source_record_id) -> (content_hash, person_index) of the rows already stored."""
        table, issuer = self.table, self.issuer
        if self.postgresql:
            with self.connection.cursor() as cursor:
                # Two arrays joined as pairs: the lookup walks the unique (region, id) index.
                cursor.execute(
                    f"SELECT t.{issuer}, t.source_record_id, t.content_hash, t.person_index"  # noqa: S608
                    f" FROM {table.name} t JOIN unnest(%s::text[], %s::text[]) AS k(issuer, id)"
                    f" ON t.{issuer} = k.issuer AND t.source_record_id = k.id",
                    ([key[0] for key in keys], [key[1] for key in keys]),
                )
                return {(region, source_id): (digest, index) for region, source_id, digest, index in cursor}
        query = select(
            table.c[issuer], table.c.source_record_id, table.c.content_hash, table.c.person_index
        ).where(tuple_(table.c[issuer], table.c.source_record_id).in_(keys))
        return {
            (region, source_id): (digest, index)
            for region, source_id, digest, index in db.session.execute(query)
        }

    def _prepare_staging(self) -> None:
        table, columns = self.table.name, ", ".join(self.write_columns)
        self.staging = f"import_staging_{table}"
        assignments = ", ".join(f"{name} = EXCLUDED.{name}" for name in self.write_columns)
        self.copy_new_sql = f"COPY {table} ({columns}) FROM STDIN"
        self.copy_changed_sql = f"COPY {self.staging} ({columns}) FROM STDIN"
        self.move_sql = (
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {self.staging}"  # noqa: S608
            f" ON CONFLICT ({self.issuer}, source_record_id) DO UPDATE SET {assignments}"
            f" WHERE {table}.content_hash <> EXCLUDED.content_hash"
        )
        with self.connection.cursor() as cursor:
            # Same column types, none of the constraints or defaults; dropped when the transaction ends.
            cursor.execute(
                f"CREATE TEMPORARY TABLE {self.staging} ON COMMIT DROP AS"  # noqa: S608
                f" SELECT {columns} FROM {table} WITH NO DATA"
            )

    def _copy(self, new: list[dict[str, Any]], changed: list[dict[str, Any]]) -> None:
        # New rows go straight in: the advisory lock keeps other imports of this kind out until commit, so
        # nothing can have inserted them since _stored looked (were it so, the unique index would refuse
        # them and the whole import would roll back).
        with self.connection.cursor() as cursor:
            for rows, sql in ((new, self.copy_new_sql), (changed, self.copy_changed_sql)):
                if rows:
                    with cursor.copy(sql) as copy:
                        for values in rows:
                            copy.write_row(self.row_values(values))
            if changed:
                cursor.execute(self.move_sql)
                cursor.execute(f"TRUNCATE {self.staging}")


class _Faults:
    """The row-level report, capped at MAX_REPORTED_ERRORS entries."""

    def __init__(self) -> None:
        self.errors: list[RowError] = []
        self.count = 0
        self.rows: set[int] = set()

    def add(self, row: int | None, column: str | None, value: Any, message: str) -> None:
        self.count += 1
        if row is not None:
            self.rows.add(row)
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(RowError(row, column, mask_value(column, value), message))

    def report(self) -> list[RowError]:
        if self.count > len(self.errors):
            more = self.count - len(self.errors)
            return [*self.errors, RowError(None, None, "", f"{more} more faults are not listed")]
        return list(self.errors)


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
        raise ValidationFailed("Unknown feed format.", fields={"format": ["choose csv or json"]})
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
    try:
        feed = (_csv_feed if fmt == "csv" else _json_feed)(kind, data)
    except _FileFault as error:
        faults.add(None, None, "", str(error))
        feed = None
    if feed is not None and feed.missing:
        faults.add(None, None, "", f"the file lacks required columns: {', '.join(feed.missing)}")
        feed = None

    # The attempt is one unit of work: a fault anywhere rolls back every row already written, and the
    # rejected batch with its report is then recorded in a unit of its own.
    try:
        with unit_of_work():
            writer: _Writer | None = None
            if feed is not None:
                if db.session.get_bind().dialect.name == "postgresql":
                    db.session.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": _IMPORT_LOCK_KEYS[kind]}
                    )
                batch = ImportBatch(status=ImportStatus.IMPORTED, **batch_fields)
                db.session.add(batch)
                db.session.flush()
                writer = _Writer(kind, batch.id)
                region_field = JURISDICTION_FIELD[kind]
                first_seen: dict[str, int] = {}
                try:
                    for number, raw, row_faults in feed.rows:
                        rows_total = number
                        if progress is not None and number % CHUNK_ROWS == 0:
                            progress(number)
                        for fault in row_faults:
                            faults.add(
                                number,
                                fault.column,
                                raw.get(fault.column or "") if raw else "",
                                f"{fault.column or 'row'} {fault.message}",
                            )
                        if raw is None:
                            continue
                        values, row_faults = parse_row(kind, raw)
                        for fault in row_faults:
                            faults.add(
                                number,
                                fault.column,
                                raw.get(fault.column or ""),
                                f"{fault.column or 'row'} {fault.message}",
                            )
                        source_id = values.get("source_record_id")
                        if source_id is not None:
                            earlier = first_seen.setdefault(source_id, number)
                            if earlier != number:
                                faults.add(
                                    number,
                                    SOURCE_ID_COLUMN,
                                    source_id,
                                    f"{SOURCE_ID_COLUMN} repeats row {earlier}",
                                )
                        region = values.get(region_field)
                        if prefix and region is not None and not region.startswith(prefix):
                            faults.add(
                                number,
                                region_field,
                                region,
                                f"{region_field} is outside your jurisdiction ({prefix})",
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
            _audit(batch, actor)
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
            _audit(batch, actor, faults=faults.count)
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
    )
    after_import(result.affected_person_indexes)
    return result


def _audit(batch: ImportBatch, actor: User | None, faults: int = 0) -> None:
    from fundraise import audit

    after = {
        "kind": batch.kind,
        "source_name": batch.source_name,
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


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    # Values come from the sender's file; a spreadsheet must not run one as a formula.
    text_value = "" if value is None else str(value)
    return "'" + text_value if text_value.startswith(_FORMULA_STARTS) else text_value


def error_report_csv(batch: ImportBatch) -> str:
    """The batch's faults as CSV (row,column,value,message), ready to download; empty but for the header
    when it had none."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["row", "column", "value", "message"])
    for error in batch.error_report or []:
        writer.writerow(
            [
                "" if error.get("row") is None else error["row"],
                _cell(error.get("column") or ""),
                _cell(error.get("value")),
                _cell(error.get("message")),
            ]
        )
    return out.getvalue()

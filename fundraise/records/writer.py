"""Writing validated records rows in chunks, inside the import's own transaction.

How it is fast: one streaming pass reads and validates rows and, while no fault has been seen, writes them
in chunks inside the still-open transaction (a later fault rolls it all back, so "nothing written" holds
without a second pass). Per chunk, the stored content hashes are read first, so only new and changed rows
pay for AES-GCM encryption and a write. On PostgreSQL the writes run in a background thread while the next
chunk is read, new rows go in by COPY and changed ones by COPY into a staging table and
INSERT ... SELECT ... ON CONFLICT (region, source_record_id) DO UPDATE ... WHERE the content hash differs; on SQLite
the same upsert is a multi-row INSERT. benchmarks/verify_import.py measures it.

The import service (fundraise/services/records_import.py) validates the rows and owns the transaction; this
module only writes, and says how many rows were inserted, updated or left unchanged.
"""

from __future__ import annotations

import hashlib
import operator
import queue
import threading
from typing import Any

from flask import current_app
from sqlalchemy import Table, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from fundraise import pii
from fundraise.extensions import db
from fundraise.models.columns import utcnow
from fundraise.models.records import (
    BasicEnrolmentRecord,
    CivilAffairsRecord,
    CriticalIllnessRecord,
    RecordKind,
)
from fundraise.records.feeds import COLUMNS, ID_COLUMN, SOURCE_ID_COLUMN

# The model (and so the table) each kind of record is stored in.
MODELS: dict[RecordKind, Any] = {
    RecordKind.BASIC_ENROLMENT: BasicEnrolmentRecord,
    RecordKind.CRITICAL_ILLNESS: CriticalIllnessRecord,
    RecordKind.CIVIL_AFFAIRS: CivilAffairsRecord,
}


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


class RecordWriter:
    """Writes validated rows in chunks: compares content hashes, encrypts and writes only what changed.

    SQLite: a multi-row INSERT ... ON CONFLICT through SQLAlchemy, in the calling thread. PostgreSQL: a
    background thread takes each chunk while the caller reads the next, on the session's own connection (so
    it is all one transaction; the caller does not touch the connection until `finish` or `abandon` has
    joined the thread). New rows are streamed with COPY straight into the table; changed rows with COPY into
    a temporary staging table and moved with INSERT ... SELECT ... ON CONFLICT DO UPDATE. Row-by-row
    statements would cost more than everything else put together.
    """

    def __init__(self, kind: RecordKind, batch_id: int, chunk_rows: int) -> None:
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
        self.chunk_rows = chunk_rows  # rows per read-compare-write round trip, chosen by the caller
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

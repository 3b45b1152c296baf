"""Binds SQLAlchemy to the app and makes SQLite behave like a database that enforces its rules."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any, cast

from flask import Flask
from sqlalchemy import (
    JSON,
    ColumnDefault,
    ColumnElement,
    Table,
    Text,
    any_,
    bindparam,
    event,
    insert,
    text,
    update,
)
from sqlalchemy import cast as cast_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import QueryableAttribute

from fundraise.extensions import db
from fundraise.models.columns import UTCDateTime

if TYPE_CHECKING:
    import psycopg


def init_app(app: Flask) -> None:
    uri = app.config["SQLALCHEMY_DATABASE_URI"] or ""
    if uri.startswith("sqlite:///"):
        # Settings may size the pool (a race test's fifty threads); the busy timeout is always this one's.
        options = {
            key: value
            for key, value in app.config["SQLALCHEMY_ENGINE_OPTIONS"].items()
            if key == "pool_size" or key == "max_overflow"
        }
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {**options, "connect_args": {"timeout": 30}}
        from pathlib import Path

        path = uri.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    elif uri.startswith("postgresql://"):
        # psycopg 3 is the driver; accept the usual postgresql:// URLs.
        app.config["SQLALCHEMY_DATABASE_URI"] = uri.replace("postgresql://", "postgresql+psycopg://", 1)
    if uri.startswith("postgresql"):
        # No JIT: it pays off for long analytical queries, and a page's queries are short. A register page's
        # correlated look-ups are costed high enough to trigger it, and compiling them took 400 ms of a
        # 650 ms query (benchmarks/register.py).
        options = dict(app.config["SQLALCHEMY_ENGINE_OPTIONS"])
        connect_args = dict(options.get("connect_args", {}))
        connect_args["options"] = (str(connect_args.get("options", "")) + " -c jit=off").strip()
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {**options, "connect_args": connect_args}
    db.init_app(app)


def is_sqlite() -> bool:
    return db.engine.dialect.name == "sqlite"


@event.listens_for(Engine, "connect")
def _sqlite_on_connect(dbapi_connection: Any, connection_record: Any) -> None:
    import sqlite3

    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    # Let SQLAlchemy issue BEGIN itself, so we can make it BEGIN IMMEDIATE (below).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin_immediate(conn: Any) -> None:
    # Take the write lock when the transaction starts, so read-then-write sequences (the audit chain,
    # ledger balances) cannot interleave: SQLite's stand-in for PostgreSQL's row locks.
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def insert_rows(table: Table, rows: Sequence[dict[str, Any]], *, want_ids: bool = True) -> list[int]:
    """Insert many rows into a table with an integer `id` in the session's transaction; their ids, in order
    (or none with `want_ids=False`: the database numbers the rows itself, one round trip per row fewer).

    For batch work (thousands of rows). Columns a row leaves out get their Python-side default. On PostgreSQL
    the ids are drawn from the table's sequence and the rows go in by COPY: an INSERT ... RETURNING of
    thousands of rows costs the driver more to prepare than the server to run, and COPY is the cheapest way
    in for the server too. Elsewhere one INSERT ... RETURNING. Values are written as given: no type
    decorators run (timestamps must already be timezone-aware) and JSON columns take dicts or lists.
    """
    if not rows:
        return []
    if db.session.get_bind().dialect.name != "postgresql":
        if not want_ids:
            db.session.execute(insert(table), list(rows))
            return []
        inserted = db.session.execute(
            insert(table).returning(table.c.id, sort_by_parameter_order=True), list(rows)
        )
        return list(inserted.scalars())
    from psycopg.types.json import Json

    ids: list[int | None] = [None] * len(rows)
    if want_ids:
        ids = sorted(
            db.session.scalars(
                text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"),
                {"table": table.name, "n": len(rows)},
            )
        )
    columns = [column for column in table.columns if column.name != "id"]
    defaults = {column.name: column.default for column in columns if column.default is not None}
    json_columns = {column.name for column in columns if isinstance(column.type, JSON)}
    names = [column.name for column in columns]
    # PostgreSQL is reached through psycopg 3 (see init_app), whose cursors are context managers with copy().
    connection = cast("psycopg.Connection[Any]", db.session.connection().connection.dbapi_connection)
    with (
        connection.cursor() as cursor,
        cursor.copy(f"COPY {table.name} ({'id, ' if want_ids else ''}{', '.join(names)}) FROM STDIN") as copy,
    ):
        for id_, row in zip(ids, rows, strict=True):
            values: list[Any] = [id_] if want_ids else []
            for name in names:
                if name in row:
                    value = row[name]
                elif name in defaults:
                    # A Python-side default (`mapped_column(default=...)`) is a ColumnDefault, which holds .arg.
                    default = cast(ColumnDefault, defaults[name])
                    value = default.arg(None) if default.is_callable else default.arg
                else:
                    value = None
                values.append(Json(value) if name in json_columns and value is not None else value)
            copy.write_row(values)
    return [id_ for id_ in ids if id_ is not None]


def update_rows(table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Update many rows by `id` in the session's transaction; every row names the same columns.

    For batch work, and as `insert_rows` writes values as given. On PostgreSQL the rows go by COPY into a
    temporary table and one UPDATE ... FROM it; elsewhere an executemany UPDATE.
    """
    if not rows:
        return
    names = [name for name in rows[0] if name != "id"]
    if db.session.get_bind().dialect.name != "postgresql":
        statement = (
            update(table)
            .where(table.c.id == bindparam("row_id"))
            .values({name: bindparam(name) for name in names})
        )
        db.session.execute(statement, [{**row, "row_id": row["id"]} for row in rows])
        return
    staging = f"bulk_update_{table.name}"
    columns = ", ".join(["id", *names])
    # PostgreSQL is reached through psycopg 3 (see init_app), whose cursors are context managers with copy().
    connection = cast("psycopg.Connection[Any]", db.session.connection().connection.dbapi_connection)
    with connection.cursor() as cursor:
        # Same column types, no constraints; dropped at commit, emptied here in case of a second use.
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} ON COMMIT DROP AS"  # noqa: S608
            f" SELECT {columns} FROM {table.name} WITH NO DATA"
        )
        cursor.execute(f"TRUNCATE {staging}")
        with cursor.copy(f"COPY {staging} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row["id"], *(row[name] for name in names)])
        assignments = ", ".join(f"{name} = {staging}.{name}" for name in names)
        cursor.execute(
            f"UPDATE {table.name} SET {assignments} FROM {staging}"  # noqa: S608
            f" WHERE {table.name}.id = {staging}.id"
        )


def any_of(
    column: ColumnElement[Any] | QueryableAttribute[Any], values: Collection[Any]
) -> ColumnElement[bool]:
    """`column IN values`, written as `column = ANY(:array)` on PostgreSQL: one parameter instead of one per
    value, because a statement with a thousand parameters costs the driver more to prepare than the server to
    run (batch work reads by lists of ids and blind indexes)."""
    if db.session.get_bind().dialect.name == "postgresql":
        # Sent as one text literal ('{1,2,3}') and cast by the server: psycopg dumps a list of a few thousand
        # values element by element in Python, which cost more than the query itself (the register's export).
        literal = bindparam(None, array_literal(values), type_=Text)
        return column == any_(cast_(literal, postgresql.ARRAY(column.type)))
    return column.in_(list(values))


def array_literal(values: Collection[Any]) -> str:
    """A PostgreSQL array literal of ints or strings: '{1,2}', '{"a","b\\"c"}' (each string quoted, its
    backslashes and double quotes escaped, so no value can end the element or the array)."""
    if all(isinstance(value, int) and not isinstance(value, bool) for value in values):
        return "{" + ",".join(str(value) for value in values) + "}"
    # Joined first, so the common case (blind indexes: hex digits) is checked and quoted in C, not per value.
    joined = "\x00".join(str(value) for value in values)
    if "\\" in joined or '"' in joined:
        joined = joined.replace("\\", "\\\\").replace('"', '\\"')
    return '{"' + joined.replace("\x00", '","') + '"}' if values else "{}"


def insert_unless_present(table: Table, values: dict[str, Any], unique_columns: Sequence[str]) -> bool:
    """Insert one row unless a row with the same unique columns exists (or is being inserted by a concurrent
    transaction, which this waits for); whether this call inserted it. `INSERT ... ON CONFLICT DO NOTHING`,
    so two processes doing the same de-duplicated work never collide on the unique index."""
    dialect = db.session.get_bind().dialect.name
    insert_ = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert_(table).values(values).on_conflict_do_nothing(index_elements=list(unique_columns))
    result = db.session.execute(statement)
    return bool(result.rowcount)  # type: ignore[attr-defined]  # Session.execute is typed Result; DML gives a CursorResult


def render_migration_type(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Write our UTC column type into migrations as a plain timezone-aware DateTime, so migrations never
    import application code."""

    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


# Whether the session's transaction has written: set by a flush or by any statement but a SELECT, forgotten
# when the transaction ends. release_read_transaction() lets go only of transactions that have not.
_WROTE = "aidbridge.wrote"


@event.listens_for(db.session, "after_flush")
def _note_flush(session: Any, flush_context: Any) -> None:
    session.info[_WROTE] = True


@event.listens_for(db.session, "do_orm_execute")
def _note_statement(orm_execute_state: Any) -> None:
    if not orm_execute_state.is_select:
        orm_execute_state.session.info[_WROTE] = True


@event.listens_for(db.session, "after_transaction_end")
def _forget_writes(session: Any, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop(_WROTE, None)


def release_read_transaction() -> bool:
    """End the session's transaction if it has only read, so that slow work needing no database (decoding
    an upload) holds no lock meanwhile: on SQLite every transaction holds the write lock from its start (see
    BEGIN IMMEDIATE above), and on PostgreSQL an idle transaction holds its snapshot. Objects already loaded
    are expired and load again on their next use. A transaction with writes, pending or flushed, or inside a
    savepoint is left as it is. Whether the session is now outside a transaction."""
    session = db.session()
    if not session.in_transaction():
        return True
    if session.in_nested_transaction() or session.new or session.dirty or session.deleted:
        return False
    if session.info.get(_WROTE):
        return False
    session.rollback()
    return True

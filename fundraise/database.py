"""Binds SQLAlchemy to the app and makes SQLite behave like a database that enforces its rules."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from fundraise.extensions import db


def init_app(app: Flask) -> None:
    uri = app.config["SQLALCHEMY_DATABASE_URI"] or ""
    if uri.startswith("sqlite:///"):
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"timeout": 30}}
        from pathlib import Path

        path = uri.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    elif uri.startswith("postgresql://"):
        # psycopg 3 is the driver; accept the usual postgresql:// URLs.
        app.config["SQLALCHEMY_DATABASE_URI"] = uri.replace("postgresql://", "postgresql+psycopg://", 1)
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


def render_migration_type(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Write our UTC column type into migrations as a plain timezone-aware DateTime, so migrations never
    import application code."""
    from fundraise.models.columns import UTCDateTime

    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False

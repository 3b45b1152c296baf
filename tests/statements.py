"""Counting SQL statements, for the tests that hold a path to a number of them (never to a time)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


@contextmanager
def counting() -> Iterator[list[str]]:
    """The SQL statements run (on any engine) inside the block."""
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.startswith(
            "BEGIN"
        ):  # SQLite's BEGIN IMMEDIATE starts a transaction, queries nothing
            statements.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(Engine, "before_cursor_execute", record)

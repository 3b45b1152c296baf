"""`any_of` matches exactly the values given, whatever characters they hold (on PostgreSQL the list travels as
one array literal, so a quote, a backslash, a comma or a brace must not end an element)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask

from fundraise.database import any_of
from fundraise.extensions import db

TRICKY = ["plain", 'with "quotes"', "back\\slash", "逗号,{braces}", "", "NULL", " spaced ", "0f3a"]


def _rows(values: list[object], type_: sa.types.TypeEngine[object]) -> sa.Subquery:
    """The values as a one-column table (a UNION of literal selects: SQLite has no aliased VALUES)."""
    return sa.union_all(*(sa.select(sa.literal(value, type_).label("v")) for value in values)).subquery()


def test_strings_match_exactly(app: Flask) -> None:
    table = _rows([*TRICKY, "other", "NULL2"], sa.String())
    found = db.session.scalars(sa.select(table.c.v).where(any_of(table.c.v, TRICKY))).all()
    assert sorted(found) == sorted(TRICKY)


def test_integers_and_an_empty_list(app: Flask) -> None:
    table = _rows(list(range(-3, 10)), sa.Integer())
    assert sorted(db.session.scalars(sa.select(table.c.v).where(any_of(table.c.v, [-2, 0, 7])))) == [-2, 0, 7]
    assert db.session.scalars(sa.select(table.c.v).where(any_of(table.c.v, []))).all() == []

"""Column helpers shared by the models: UTC timestamps, and the clock they are read from."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator

# How far the clock is set back: zero except while the demo plays a story that took days (a disbursement's
# public notice) in the minutes it takes to seed. Never set while serving people.
_set_back: ContextVar[timedelta] = ContextVar("clock_set_back", default=timedelta(0))


def utcnow() -> datetime:
    return datetime.now(UTC) - _set_back.get()


@contextmanager
def clock_set_back(by: timedelta) -> Iterator[None]:
    """Inside, every timestamp the application writes is `by` earlier than now (the demo's past); leaving it,
    the clock is back at now, so what follows is dated after everything done inside."""
    token = _set_back.set(by)
    try:
        yield
    finally:
        _set_back.reset(token)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every database (SQLite forgets the zone; this puts it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

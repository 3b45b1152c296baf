"""One page of a list, and the page number a visitor asked for: what every paged list of the site and the API
uses (donor history, a campaign's gifts and fund ledger, staff donations, browsing, an officer's region)."""

from __future__ import annotations

from dataclasses import dataclass, field
from math import ceil
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select

from fundraise.extensions import db

T = TypeVar("T")

# No list has a millionth page; a larger number would overflow the database's OFFSET arithmetic.
MAX_PAGE = 1_000_000


@dataclass
class Page(Generic[T]):
    """One page of a list, numbered from 1."""

    items: list[T]
    number: int
    per_page: int
    total: int
    pages: int = field(init=False)

    def __post_init__(self) -> None:
        self.pages = last_page(self.total, self.per_page)

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def last_page(total: int, per_page: int) -> int:
    """The number of the last page of `total` items (1 for an empty list)."""
    return max(1, ceil(total / per_page)) if per_page else 1


def parse_page(value: object) -> int:
    """A page number from the query string: anything that is not a positive integer is page 1, a number past
    MAX_PAGE is MAX_PAGE (each list then shows its last page)."""
    text = str(value or "1").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 7:
        return MAX_PAGE if text.isascii() and text.isdigit() else 1
    return min(max(int(text), 1), MAX_PAGE)


def paginate(query: Select[Any], page: int, per_page: int) -> Page[Any]:
    """One page of a select of model rows: the total counted in the database, a page past the end shown as
    the last."""
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    number = min(page, last_page(total, per_page))
    items = db.session.scalars(query.limit(per_page).offset((number - 1) * per_page)).all()
    return Page(list(items), number, per_page, total)

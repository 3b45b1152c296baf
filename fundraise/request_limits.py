"""Limits on what a request can ask for, so that input no person would send gets a clear 4xx, never a 500.

- `<int:...>` in a route matches only ids a database integer can hold: `/campaigns/99999999999999999999` is a
  404 like any other id that names nothing, instead of an overflow in the database driver.
- JSON nested deeper than Python's recursion limit (`[[[[...`) is a malformed body (400), not a RecursionError.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from werkzeug.routing import IntegerConverter

# Every id column is a 32-bit integer (PostgreSQL `integer`); the largest id a route can name.
MAX_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    """`int` in routes: a non-negative integer no larger than MAX_ID, unless a rule says otherwise.

    Longer digit strings do not match the rule at all (a plain 404); werkzeug would otherwise answer a
    converter's refusal with 405 when another rule of the same path takes other methods.
    """

    regex = r"\d{1,10}"

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:  # noqa: A002  (werkzeug's name)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, with a body nested too deeply for the parser refused as invalid JSON (Flask answers a
    ValueError while reading a request body with 400 Bad Request)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("the JSON is nested too deeply") from None


def init_app(app: Flask) -> None:
    """Before any route is added: the converter is read when a rule is compiled."""
    app.url_map.converters["int"] = IdConverter
    app.json = BoundedJSONProvider(app)

"""Limits on what a request can ask for, so that input no person would send gets a clear 4xx, never a 500.

- `<int:...>` in a route matches only ids a database integer can hold: `/campaigns/99999999999999999999` is a
  404 like any other id that names nothing, instead of an overflow in the database driver.
- JSON nested deeper than Python's recursion limit (`[[[[...`) is a malformed body (400), not a RecursionError.
- A form field or JSON string holding a control character other than a line break or a tab (NUL, escape
  codes) is refused whole with a 400 before any view runs: nobody types one, PostgreSQL cannot store NUL, and
  a page or an e-mail header must never receive one. Which fields must also stay on one line is each
  service's rule (fundraise.text_input).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, abort, request
from flask.json.provider import DefaultJSONProvider
from flask_babel import gettext as _
from werkzeug.routing import IntegerConverter

from fundraise.text_input import fits_text

# Every id column is a 32-bit integer (PostgreSQL `integer`); the largest id a route can name.
MAX_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    """`int` in routes: 0 to MAX_ID, by the pattern itself, so a larger number matches no rule (a plain 404).
    Checked in the pattern rather than by the converter's `max`, which werkzeug answers with 405 when another
    rule of the same path takes other methods; and not left to the view, where PostgreSQL refuses to compare
    an integer column with a larger number ("integer out of range")."""

    regex = (
        r"(?:[0-9]{1,9}|1[0-9]{9}|20[0-9]{8}|21[0-3][0-9]{7}|214[0-6][0-9]{6}|2147[0-3][0-9]{5}"
        r"|21474[0-7][0-9]{4}|214748[0-2][0-9]{3}|2147483[0-5][0-9]{2}|21474836[0-3][0-9]|214748364[0-7])"
    )


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, with a body nested too deeply for the parser refused as invalid JSON (Flask answers a
    ValueError while reading a request body with 400 Bad Request)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("the JSON is nested too deeply") from None


def _holds_control_characters(value: Any) -> bool:
    if isinstance(value, str):
        return not fits_text(value)
    if isinstance(value, dict):
        return any(_holds_control_characters(k) or _holds_control_characters(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_control_characters(item) for item in value)
    return False


def refuse_control_characters() -> None:
    # Webhook bodies are the provider's, verified by signature over the raw bytes, and never read as a form.
    if request.method in ("GET", "HEAD", "OPTIONS") or request.path.startswith("/payments/webhooks/"):
        return
    values: list[Any] = list(request.form.listvalues())
    if request.is_json:
        values.append(request.get_json(silent=True))
    if _holds_control_characters(values):
        abort(
            400,
            description=_("The text sent holds control characters that cannot be stored. Please retype it."),
        )


def init_app(app: Flask) -> None:
    """Before any route is added: the converter is read when a rule is compiled."""
    app.url_map.converters["int"] = IdConverter
    app.json = BoundedJSONProvider(app)
    app.before_request(refuse_control_characters)

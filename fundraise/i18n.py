"""Language choice (zh_CN or en): the user's choice, then their account, then the browser's language."""

from __future__ import annotations

import functools

from babel import Locale
from flask import Flask, current_app, request, session
from flask_babel import get_locale
from flask_login import current_user

from fundraise.extensions import babel


@functools.cache
def _parsed(identifier: str) -> Locale:
    """Babel's Locale for an identifier, made once per process: parsing looks the name up among all of Babel's
    locales, which costs more than the rest of choosing it."""
    return Locale.parse(identifier)


def select_locale() -> Locale:
    """The request's locale (Flask-Babel's selector), as a shared, already parsed Locale."""
    return _parsed(choose_locale())


def choose_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    chosen = session.get("locale") if request else None
    if chosen in languages:
        return str(chosen)
    if current_user and getattr(current_user, "is_authenticated", False) and current_user.locale in languages:
        return str(current_user.locale)
    if request:
        match = request.accept_languages.best_match(["zh_CN", "zh", "en"])
        if match == "en":
            return "en"
        if match in ("zh_CN", "zh"):
            return "zh_CN"
    return str(current_app.config["BABEL_DEFAULT_LOCALE"])


def locale_name() -> str:
    """The active locale as a string, for picking zh/en names from reference data."""
    locale = get_locale()
    return _identifier(locale) if locale is not None else "zh_CN"


@functools.cache
def _identifier(locale: Locale) -> str:
    return str(locale)


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.globals["locale_name"] = locale_name

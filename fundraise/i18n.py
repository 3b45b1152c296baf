"""Language choice (zh_CN or en): the user's choice, then their account, then the browser's language."""

from __future__ import annotations

from flask import Flask, current_app, request, session
from flask_babel import get_locale
from flask_login import current_user

from fundraise.extensions import babel


def select_locale() -> str:
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
    return str(get_locale() or "zh_CN")


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.globals["locale_name"] = locale_name

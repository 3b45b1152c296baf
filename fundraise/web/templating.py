"""Filters and globals the templates use: money, dates, states, masked names, the language of what people wrote."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from flask import Flask, request, url_for
from flask_babel import format_date, format_datetime
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from fundraise.i18n import locale_name
from fundraise.money import format_yuan
from fundraise.pii import mask_name
from fundraise.states import EXPLANATIONS, LABELS, TONES

ROLE_LABELS = {
    "family": _l("Family"),
    "donor": _l("Donor"),
    "social_worker": _l("Hospital social worker"),
    "charity_staff": _l("Charity staff"),
    "civil_affairs_officer": _l("Civil-affairs officer"),
    "admin": _l("Administrator"),
}


def percent(part: int, whole: int) -> int:
    """Whole percent for progress bars, integer arithmetic only."""
    if whole <= 0:
        return 0
    return min(100, part * 100 // whole)


_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")


def content_language(text: object) -> str:
    """The language of what people wrote when it is not the page's ("zh-CN" or "en"), else "": Chinese for
    text with Chinese characters, English for Latin letters and no Chinese. For a `lang` attribute set from
    Python (a select's options, which cannot hold markup)."""
    value = str(text or "")
    page_is_zh = locale_name().startswith("zh")
    if _CJK.search(value):
        return "" if page_is_zh else "zh-CN"
    if page_is_zh and _LATIN.search(value):
        return "en"
    return ""


def lang_of(text: object) -> Markup:
    """A `lang` attribute for what people wrote (a title, a story, a donor's message) when its language is not
    the page's, so a screen reader reads Chinese with a Chinese voice on an English page, and the other way
    round."""
    language = content_language(text)
    return Markup(f' lang="{language}"') if language else Markup("")  # noqa: S704  (one of two fixed values)


# A run of Chinese: from its first to its last Chinese character or full-width mark, with the digits, Latin
# letters and spaces between them ("7岁浩宇", "B细胞型"), and digits just before it ("7岁").
_CJK_CHARS = "\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff01-\uff5e"
_CJK_RUN = re.compile(rf"\d*[{_CJK_CHARS}](?:[{_CJK_CHARS}\w .·*-]*[{_CJK_CHARS}*])?")
_TAG = re.compile(r"(<[^>]*>)")


def mark_chinese(text: object) -> Markup:
    """Text the system wrote around what people wrote ("Your campaign “…” is now: Verified"), with each run of
    Chinese in it marked lang="zh-CN" on an English page, so a screen reader switches voice for just that part.
    Plain text is escaped first; markup (a translated string) is marked between its tags only."""
    markup = text if isinstance(text, Markup) else Markup.escape(str(text or ""))
    if locale_name().startswith("zh") or not _CJK.search(markup):
        return markup
    parts = _TAG.split(str(markup))
    marked = [
        part
        if part.startswith("<")
        else _CJK_RUN.sub(lambda m: f'<span lang="zh-CN">{m.group(0)}</span>', part)
        for part in parts
    ]
    return Markup("".join(marked))  # noqa: S704  (the parts were escaped or were markup already)


def url_with(**changes: Any) -> str:
    """The current URL with some query arguments changed (for filters and pagination)."""
    args: dict[str, Any] = request.args.to_dict()
    for key, value in changes.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = value
    return url_for(request.endpoint or "public.home", **(request.view_args or {}), **args)


def init_app(app: Flask) -> None:
    app.jinja_env.filters["yuan"] = format_yuan
    app.jinja_env.filters["mask_name"] = mask_name
    app.jinja_env.filters["mark_chinese"] = mark_chinese

    def _date(value: date | datetime | None, fmt: str = "medium") -> str:
        if value is None:
            return ""
        return str(format_datetime(value, fmt) if isinstance(value, datetime) else format_date(value, fmt))

    app.jinja_env.filters["date"] = _date
    app.jinja_env.globals.update(
        state_label=lambda s: LABELS.get(s, s),
        state_explanation=lambda s: EXPLANATIONS.get(s, ""),
        state_tone=lambda s: TONES.get(s, "muted"),
        percent=percent,
        role_label=lambda r: ROLE_LABELS.get(r, r),
        url_with=url_with,
        lang_of=lang_of,
    )

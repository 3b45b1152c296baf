"""Form fields shared by the web pages."""

from __future__ import annotations

import re
from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import StringField
from wtforms.validators import StopValidation

from fundraise.money import AmountError, parse_yuan, yuan_input

# What a person types for an amount: digits (half- or full-width), separators, a decimal point, a sign and
# the yuan symbol or character. Exponents ("1e12") are refused here: nobody types them, and a huge exponent
# would make parse_yuan build an enormous integer.
_AMOUNT_CHARACTERS = re.compile(r"[\s0-9０-９,，.．¥￥元+\-]*")
_MAX_AMOUNT_LENGTH = 24

AMOUNT_MESSAGES = {
    "not a number": _l("Enter an amount in yuan, like 12000 or 12000.50."),
    "misplaced separator": _l("Use commas only between groups of three digits, like 12,000.50."),
    "negative": _l("The amount cannot be negative."),
    "more than two decimals": _l("Use at most two decimals (yuan and fen), like 12000.50."),
}


class YuanField(StringField):
    """An amount of money typed in yuan. `data` is whole fen (an int), or None when left empty.

    A value that cannot be read is refused with a message saying why; what was typed is shown back as typed,
    a stored value as plain yuan ("12000.5" style, via money.yuan_input).
    """

    def __init__(self, label: Any = None, validators: Any = None, **kwargs: Any) -> None:
        render_kw = {"inputmode": "decimal", "autocomplete": "off", "spellcheck": "false"}
        render_kw.update(kwargs.pop("render_kw", None) or {})
        super().__init__(label, validators, render_kw=render_kw, **kwargs)

    def process_data(self, value: Any) -> None:
        self.data = value if isinstance(value, int) and not isinstance(value, bool) else None

    def process_formdata(self, valuelist: list[Any]) -> None:
        if not valuelist:
            return
        text = str(valuelist[0] or "").strip()
        self.data = None
        if not text:
            return
        if len(text) > _MAX_AMOUNT_LENGTH:
            raise ValueError(_l("That amount is too large to be right. Please check it."))
        if not _AMOUNT_CHARACTERS.fullmatch(text):
            raise ValueError(AMOUNT_MESSAGES["not a number"])
        try:
            self.data = parse_yuan(text.replace("￥", "¥"))
        except AmountError as error:
            raise ValueError(AMOUNT_MESSAGES.get(str(error), AMOUNT_MESSAGES["not a number"])) from error

    def pre_validate(self, form: Any) -> None:
        # An amount that could not be read already carries the reason ("cannot be negative"). Stop here so the
        # validators do not replace it: DataRequired finds no data, clears the errors and adds its own, which
        # turned "-1" on the refund form into "Enter the amount.".
        if self.process_errors:
            raise StopValidation()

    def _value(self) -> str:
        if self.raw_data:
            return str(self.raw_data[0])
        return yuan_input(self.data)

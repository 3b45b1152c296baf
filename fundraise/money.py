"""Money is an integer number of fen. This turns what people type into fen and fen into what people read."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

FEN_PER_YUAN = 100

# Full-width digits, point and comma, as a Chinese input method types them, read as their ASCII forms.
_HALF_WIDTH = str.maketrans("０１２３４５６７８９．，", "0123456789.,")
# Thousands separators only between groups of three digits of the whole yuan: "12,000.50", "1,234,567".
# Anything else is refused rather than dropped, since "10,50" may mean 10.50 (a decimal comma) and
# "20，5" a slip of the keyboard: removing the comma would read them as 1,050 and 205 yuan.
_GROUPED = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?")


class AmountError(ValueError):
    """The text is not an amount of money in yuan; the message is a code ("empty", "not a number",
    "misplaced separator", "negative", "more than two decimals") that callers turn into words."""


def parse_yuan(text: str) -> int:
    """'12,000.50' or '１２，０００' -> fen (1200050, 1200000). Refuses negatives, more than two decimals,
    commas anywhere but between groups of three digits ('10,50'), and non-numbers."""
    cleaned = (text or "").strip().replace("¥", "").replace("￥", "").replace("元", "").translate(_HALF_WIDTH)
    if not cleaned:
        raise AmountError("empty")
    # Digits, separators and one point only: no exponents ("1e999999999" would build an enormous number),
    # no words.
    if not all(ch.isdigit() or ch in ".-+," for ch in cleaned):
        raise AmountError("not a number")
    if "," in cleaned:
        if not _GROUPED.fullmatch(cleaned):
            raise AmountError("misplaced separator")
        cleaned = cleaned.replace(",", "")
    if len(cleaned) > 20:
        raise AmountError("not a number")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation as error:
        raise AmountError("not a number") from error
    if not amount.is_finite():
        raise AmountError("not a number")
    if amount < 0:
        raise AmountError("negative")
    fen = amount * FEN_PER_YUAN
    if fen != fen.to_integral_value():
        raise AmountError("more than two decimals")
    return int(fen)


def format_yuan(fen: int | None, *, symbol: bool = True) -> str:
    """1200050 -> '¥12,000.50'; whole yuan are shown without decimals."""
    if fen is None:
        return ""
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(int(fen)), FEN_PER_YUAN)
    text = f"{yuan:,}" if cents == 0 else f"{yuan:,}.{cents:02d}"
    return f"{sign}{'¥' if symbol else ''}{text}"


def yuan_input(fen: int | None) -> str:
    """The value put back into an input box: '12000.5' style, no symbol or separators."""
    if fen is None:
        return ""
    yuan, cents = divmod(int(fen), FEN_PER_YUAN)
    return str(yuan) if cents == 0 else f"{yuan}.{cents:02d}"

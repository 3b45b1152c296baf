"""Money is an integer number of fen. This turns what people type into fen and fen into what people read."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

FEN_PER_YUAN = 100


class AmountError(ValueError):
    """The text is not an amount of money in yuan."""


def parse_yuan(text: str) -> int:
    """'12,000.50' or '１２０００' -> 1200050 fen. Refuses negatives, more than two decimals and non-numbers."""
    cleaned = (text or "").strip().replace(",", "").replace("，", "").replace("¥", "").replace("元", "")
    cleaned = cleaned.translate(str.maketrans("０１２３４５６７８９．", "0123456789."))
    if not cleaned:
        raise AmountError("empty")
    # Digits and one point only: no exponents ("1e999999999" would build an enormous number), no words.
    if len(cleaned) > 20 or not all(ch.isdigit() or ch in ".-+" for ch in cleaned):
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

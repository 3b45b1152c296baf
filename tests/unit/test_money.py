"""Turning what people type into fen, and fen into what they read."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fundraise.money import AmountError, format_yuan, parse_yuan, yuan_input


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("12000", 1_200_000),
        ("12,000.50", 1_200_050),
        ("¥3.07", 307),
        ("１２０００", 1_200_000),
        ("0", 0),
        ("15万", None),
    ],
)
def test_parse_yuan(text, fen):
    if fen is None:
        with pytest.raises(AmountError):
            parse_yuan(text)
    else:
        assert parse_yuan(text) == fen


@pytest.mark.parametrize(
    "text", ["", "-5", "abc", "1.234", "1e999999999", "NaN", "Infinity", "1" * 30, "1,2.3.4"]
)
def test_parse_yuan_refuses(text):
    with pytest.raises(AmountError):
        parse_yuan(text)


@given(st.integers(min_value=0, max_value=10**15))
def test_round_trip_through_the_input_box(fen):
    assert parse_yuan(yuan_input(fen)) == fen
    assert format_yuan(fen).startswith("¥")

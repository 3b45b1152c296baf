"""The reference data in config/reference/ is well-formed and consistent with itself."""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

import pytest

from verification.diseases import disease_ranges_from_rows, normalize_icd10

REFERENCE = Path(__file__).resolve().parents[2] / "config" / "reference"

REGION_COLUMNS = ["code", "name_zh", "name_en", "level", "parent_code"]
HOSPITAL_COLUMNS = [
    "code",
    "name_zh",
    "name_en",
    "tier",
    "region_code",
    "bank_name",
    "bank_account_name",
    "bank_account_number",
    "social_work",
]
DISEASE_COLUMNS = ["code_from", "code_to", "category", "name_zh", "name_en", "cost_min_yuan", "cost_max_yuan"]

PROVINCE_PREFIXES = [
    *range(11, 16),
    *range(21, 24),
    *range(31, 38),
    *range(41, 47),
    *range(50, 55),
    *range(61, 66),
    71,
    81,
    82,
]


def read(name: str, columns: list[str]) -> list[dict[str, str]]:
    with (REFERENCE / name).open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == columns
        rows = list(reader)
    for number, row in enumerate(rows, start=2):
        # A short row gives None, a long one an extra None key; a stray space hides a mismatch later.
        assert None not in row, f"{name} line {number} has too many fields"
        for column in columns:
            value = row[column]
            assert value is not None, f"{name} line {number} has no {column}"
            assert value == value.strip(), f"{name} line {number}: {column} has surrounding spaces"
    return rows


@pytest.fixture(scope="module")
def regions() -> list[dict[str, str]]:
    return read("regions.csv", REGION_COLUMNS)


@pytest.fixture(scope="module")
def hospitals() -> list[dict[str, str]]:
    return read("hospitals.csv", HOSPITAL_COLUMNS)


@pytest.fixture(scope="module")
def diseases() -> list[dict[str, str]]:
    return read("diseases.csv", DISEASE_COLUMNS)


def duplicates(values: list[str]) -> list[str]:
    return [value for value, count in Counter(values).items() if count > 1]


def test_files_have_no_comment_lines_and_end_with_a_newline() -> None:
    for name in ("regions.csv", "hospitals.csv", "diseases.csv"):
        text = (REFERENCE / name).read_text(encoding="utf-8")
        assert text.endswith("\n")
        assert not text.startswith("\ufeff")
        assert not [line for line in text.splitlines() if line.startswith("#") or not line.strip()], name


def test_region_codes_are_unique_six_digit_codes(regions: list[dict[str, str]]) -> None:
    codes = [row["code"] for row in regions]
    assert duplicates(codes) == []
    assert all(re.fullmatch(r"[0-9]{6}", code) for code in codes)


def test_every_provincial_level_division_is_listed(regions: list[dict[str, str]]) -> None:
    provinces = {row["code"] for row in regions if row["level"] == "province"}
    assert provinces == {f"{prefix}0000" for prefix in PROVINCE_PREFIXES}
    assert len(provinces) == 34


def test_region_levels_match_their_codes_and_parents(regions: list[dict[str, str]]) -> None:
    by_code = {row["code"]: row for row in regions}
    for row in regions:
        code, level, parent_code = row["code"], row["level"], row["parent_code"]
        assert row["name_zh"], code
        assert row["name_en"], code
        if level == "province":
            assert code.endswith("0000"), code
            assert parent_code == "", code
            continue
        assert parent_code in by_code, f"{code} has unknown parent {parent_code}"
        parent = by_code[parent_code]
        if level == "prefecture":
            assert code.endswith("00"), code
            assert not code.endswith("0000"), code
            assert parent["level"] == "province", code
            assert parent_code[:2] == code[:2], code
        else:
            assert level == "county", f"{code} has level {level!r}"
            assert not code.endswith("00"), code
            assert parent["level"] == "prefecture", code
            assert parent_code[:4] == code[:4], code


@pytest.mark.parametrize(
    ("code", "name_zh", "parent_code"),
    [
        ("110100", "市辖区", "110000"),
        ("110102", "西城区", "110100"),
        ("310115", "浦东新区", "310100"),
        ("340103", "庐阳区", "340100"),
        ("341221", "临泉县", "341200"),
        ("411525", "固始县", "411500"),
        ("510107", "武侯区", "510100"),
        ("621121", "通渭县", "621100"),
        ("440106", "天河区", "440100"),
    ],
)
def test_regions_the_demo_relies_on(
    regions: list[dict[str, str]], code: str, name_zh: str, parent_code: str
) -> None:
    row = next(row for row in regions if row["code"] == code)
    assert (row["name_zh"], row["parent_code"]) == (name_zh, parent_code)


def test_hospitals_are_the_thirteen_registered(hospitals: list[dict[str, str]]) -> None:
    codes = [row["code"] for row in hospitals]
    assert duplicates(codes) == []
    assert set(codes) == {
        "BJ-FUWAI",
        "BJ-BCH",
        "SH-CHFU",
        "SH-RUIJIN",
        "AH-PROV",
        "FY-PEOPLE",
        "LQ-PEOPLE",
        "LQ-YANGQIAO",
        "SC-WCH",
        "GS-PROV",
        "TW-PEOPLE",
        "XY-CENTRAL",
        "GS-GUSHI",
    }


def test_hospital_fields_are_well_formed(
    hospitals: list[dict[str, str]], regions: list[dict[str, str]]
) -> None:
    counties = {row["code"] for row in regions if row["level"] == "county"}
    for row in hospitals:
        code = row["code"]
        assert row["region_code"] in counties, f"{code} is in unknown county {row['region_code']}"
        assert row["tier"] in {"tertiary", "secondary", "primary"}, code
        assert row["social_work"] in {"yes", "no"}, code
        assert re.fullmatch(r"[0-9]{19}", row["bank_account_number"]), code
        for column in ("name_zh", "name_en", "bank_name", "bank_account_name"):
            assert row[column], (code, column)
    assert duplicates([row["bank_account_number"] for row in hospitals]) == []


def test_disease_codes_are_in_normal_form(diseases: list[dict[str, str]]) -> None:
    for row in diseases:
        for column in ("code_from", "code_to"):
            assert normalize_icd10(row[column]) == row[column]
            # The catalogue uses WHO ICD-10 granularity: a category, or one subcategory digit.
            assert re.fullmatch(r"[A-Z][0-9]{2}(\.[0-9])?", row[column]), row[column]


def test_disease_ranges_are_well_formed_and_do_not_overlap(diseases: list[dict[str, str]]) -> None:
    ranges = disease_ranges_from_rows(diseases)
    assert len(ranges) == len(diseases)
    assert duplicates([row["code_from"] for row in diseases]) == []
    for row in diseases:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", row["category"]), row
        assert row["name_zh"], row
        assert row["name_en"], row
        assert 0 < int(row["cost_min_yuan"]) < int(row["cost_max_yuan"]), row
        # The self-regulation cap on a single request is 500,000 yuan; a cost range far past it is a typo.
        assert int(row["cost_max_yuan"]) <= 2_000_000, row
    # Checked pairwise as well, so the test does not rest only on the loader's neighbour check.
    for i, first in enumerate(ranges):
        for second in ranges[i + 1 :]:
            assert not first.overlaps(second), (first.code_from, second.code_from)


def test_disease_categories_the_platform_names(diseases: list[dict[str, str]]) -> None:
    categories = {row["category"] for row in diseases}
    assert {
        "leukemia",
        "congenital_heart_disease",
        "end_stage_renal_disease",
        "hydrocephalus",
        "lymphoma",
        "severe_burns",
    } <= categories

"""ICD-10 codes and the critical-illness catalogue: normal form, range membership and loading rows."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from verification.diseases import DiseaseRange, disease_ranges_from_rows, find_category, normalize_icd10


def make_range(code_from: str, code_to: str, category: str = "leukemia") -> DiseaseRange:
    return DiseaseRange(
        code_from=code_from,
        code_to=code_to,
        category=category,
        name_zh="示例",
        name_en="Example",
        cost_min_fen=1_000_000,
        cost_max_fen=5_000_000,
    )


CATALOGUE = [
    make_range("C91.0", "C91.0", "leukemia"),
    make_range("C91.1", "C91.9", "leukemia"),
    make_range("C92", "C95", "leukemia"),
    make_range("N18.5", "N18.5", "end_stage_renal_disease"),
    make_range("Q20", "Q26", "congenital_heart_disease"),
]


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("C91.0", "C91.0"),
        (" c91.0\n", "C91.0"),
        ("q20", "Q20"),
        ("C91.00", "C91.00"),
        ("u07.1", "U07.1"),
        ("S06.a", "S06.A"),
    ],
)
def test_normalize_accepts_well_shaped_codes(text: str, normal: str) -> None:
    assert normalize_icd10(text) == normal


@pytest.mark.parametrize(
    "text", ["", "C9", "C910", "C91.", "C91.000", "91.0", "CC1.0", "C91-0", "C91.0\nC92", "Ｃ91"]
)
def test_normalize_refuses_anything_else_with_a_clear_message(text: str) -> None:
    with pytest.raises(ValueError, match="is not an ICD-10 code"):
        normalize_icd10(text)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("C91.0", ("C91.0", "C91.0")),
        ("C91.00", ("C91.0", "C91.0")),
        ("c91.01", ("C91.0", "C91.0")),
        ("C91.1", ("C91.1", "C91.9")),
        ("C91.9", ("C91.1", "C91.9")),
        ("C91.95", ("C91.1", "C91.9")),
        ("C92", ("C92", "C95")),
        ("C93.1", ("C92", "C95")),
        ("C95.9", ("C92", "C95")),
        ("Q20", ("Q20", "Q26")),
        ("Q23.4", ("Q20", "Q26")),
        ("Q26.9", ("Q20", "Q26")),
        ("N18.5", ("N18.5", "N18.5")),
    ],
)
def test_find_category_places_a_code_inside_its_range(code: str, expected: tuple[str, str]) -> None:
    found = find_category(code, CATALOGUE)
    assert found is not None
    assert (found.code_from, found.code_to) == expected


@pytest.mark.parametrize("code", ["C90.0", "C96", "Q19.9", "Q27", "N18", "N18.4", "A00"])
def test_find_category_returns_none_outside_the_catalogue(code: str) -> None:
    assert find_category(code, CATALOGUE) is None


def test_a_bare_category_is_placed_only_when_a_range_holds_all_of_it() -> None:
    # C91 could be C91.0 or C91.5: two rows with different costs, so no single answer.
    assert find_category("C91", CATALOGUE) is None
    assert find_category("C93", CATALOGUE) == CATALOGUE[2]


def test_find_category_refuses_a_malformed_code() -> None:
    with pytest.raises(ValueError, match="'leukaemia' is not an ICD-10 code"):
        find_category("leukaemia", CATALOGUE)


@pytest.mark.parametrize(
    ("first", "second", "overlap"),
    [
        (("C91.0", "C91.0"), ("C91.1", "C91.9"), False),
        (("C91", "C91"), ("C91.0", "C91.0"), True),
        (("C90", "C92"), ("C91.5", "C91.5"), True),
        (("Q20", "Q26"), ("Q26.9", "Q28"), True),
        (("Q20", "Q26"), ("Q27", "Q28"), False),
        (("C91.0", "C91.0"), ("C91.00", "C91.09"), True),
    ],
)
def test_overlaps_is_symmetric_and_respects_subtrees(
    first: tuple[str, str], second: tuple[str, str], overlap: bool
) -> None:
    a, b = make_range(*first), make_range(*second)
    assert a.overlaps(b) is overlap
    assert b.overlaps(a) is overlap


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"code_from": "c91.0"}, "must be given in normal form"),
        ({"code_from": "C92", "code_to": "C91"}, "ends before it starts"),
        ({"code_from": "C91.1", "code_to": "C91"}, "ends before it starts"),
        ({"code_from": "C91", "code_to": "C91.0"}, "must hold all of C91"),
        ({"category": "Leukemia"}, "must be a lower-case slug"),
        ({"cost_min_fen": 5_000_000}, "is empty or negative"),
        ({"cost_min_fen": -1}, "is empty or negative"),
    ],
)
def test_disease_range_refuses_an_impossible_row(kwargs: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {
        "code_from": "C91",
        "code_to": "C92",
        "category": "leukemia",
        "name_zh": "白血病",
        "name_en": "Leukaemia",
        "cost_min_fen": 1,
        "cost_max_fen": 5_000_000,
    } | kwargs
    with pytest.raises(ValueError, match=message):
        DiseaseRange(**fields)  # type: ignore[arg-type]


def row(code_from: str, code_to: str, cost_min: str = "100000", cost_max: str = "500000") -> dict[str, str]:
    return {
        "code_from": code_from,
        "code_to": code_to,
        "category": "leukemia",
        "name_zh": "白血病",
        "name_en": "Leukaemia",
        "cost_min_yuan": cost_min,
        "cost_max_yuan": cost_max,
    }


def test_rows_become_sorted_ranges_in_fen() -> None:
    ranges = disease_ranges_from_rows([row("C92", "C95"), row("C91.0", "C91.0", "100000", "500000")])
    assert [(r.code_from, r.cost_min_fen, r.cost_max_fen) for r in ranges] == [
        ("C91.0", 10_000_000, 50_000_000),
        ("C92", 10_000_000, 50_000_000),
    ]


def test_rows_that_overlap_are_refused() -> None:
    with pytest.raises(ValueError, match="overlap"):
        disease_ranges_from_rows([row("C91", "C92"), row("C92.1", "C92.1")])


@pytest.mark.parametrize("cost", ["", "1_000", " 100", "+100", "1.5", "-1"])
def test_rows_with_a_cost_that_is_not_plain_digits_are_refused(cost: str) -> None:
    with pytest.raises(ValueError, match="row 1: cost_min_yuan"):
        disease_ranges_from_rows([row("C91", "C91", cost_min=cost)])


def test_a_short_row_names_the_missing_column() -> None:
    short: dict[str, str | None] = {**row("C91", "C91"), "cost_max_yuan": None}
    with pytest.raises(ValueError, match="row 1: missing column 'cost_max_yuan'"):
        disease_ranges_from_rows([short])


codes = st.from_regex(r"\A[A-Z][0-9]{2}(\.[0-9A-Z]{1,2})?\Z")


@given(code=codes)
def test_normal_form_is_stable(code: str) -> None:
    assert normalize_icd10(code) == code
    assert normalize_icd10(f"  {code.lower()} ") == code


def as_range(pair: tuple[str, str]) -> DiseaseRange | None:
    """The range between two codes, or None where the pair cannot form one (e.g. C91..C91.0)."""
    low, high = sorted(pair, key=lambda c: c.partition(".")[::2])
    try:
        return make_range(low, high)
    except ValueError:
        return None


@given(code=codes, first=st.tuples(codes, codes), second=st.tuples(codes, codes))
def test_a_code_in_two_ranges_means_the_ranges_overlap(
    code: str, first: tuple[str, str], second: tuple[str, str]
) -> None:
    a, b = as_range(first), as_range(second)
    assume(a is not None and b is not None)
    assert a is not None
    assert b is not None
    if a.contains(code) and b.contains(code):
        assert a.overlaps(b)
    assert a.contains(a.code_from)
    assert a.contains(a.code_to)
    assert a.overlaps(a)

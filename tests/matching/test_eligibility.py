"""A rule applied to a case: one check per condition, each with its code, and unknown facts failing."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.eligibility import CHECK_MESSAGES, CaseProfile, RuleCheck, evaluate, is_eligible
from matching.rules import ASSISTANCE_CLASSES, HOSPITAL_TIERS, Rules

CASE = CaseProfile(
    case_id=7,
    need_fen=12_000_000,
    icd10="C91.00",
    disease_category="leukemia",
    age=9,
    region_code="510104",
    assistance_class="dibao",
    income_per_capita_fen=800_000,
    hospital_tier="tertiary",
    treatment_date=date(2026, 6, 10),
    waiting_since=date(2026, 5, 1),
)
EVERYTHING = Rules(
    icd10_prefixes=("C92",),
    disease_categories=("leukemia",),
    min_age=0,
    max_age=14,
    region_prefixes=("51",),
    assistance_classes=("tekun", "dibao"),
    max_income_per_capita_fen=1_000_000,
    hospital_tiers=("secondary", "tertiary"),
)


def case(**changes: object) -> CaseProfile:
    return dataclasses.replace(CASE, **changes)  # type: ignore[arg-type]  # test data, fields by name


def only(rules: Rules, profile: CaseProfile) -> RuleCheck:
    [check] = evaluate(rules, profile)
    assert check.message == CHECK_MESSAGES[check.code].format_map(check.params)
    assert is_eligible(rules, profile) is check.passed
    return check


def test_a_check_per_condition_in_a_fixed_order() -> None:
    checks = evaluate(EVERYTHING, CASE)
    assert [c.rule for c in checks] == [
        "diagnosis",
        "age",
        "region",
        "assistance_class",
        "income",
        "hospital_tier",
    ]
    assert all(c.passed for c in checks)
    assert is_eligible(EVERYTHING, CASE)
    assert [c.code for c in evaluate(Rules(hospital_tiers=("tertiary",), min_age=3), CASE)] == [
        "age_in_range",
        "tier_in",
    ]


@pytest.mark.parametrize(
    ("rules", "profile", "passed", "code", "params"),
    [
        (Rules(min_age=3, max_age=14), CASE, True, "age_in_range", {"age": 9, "min_age": 3, "max_age": 14}),
        (Rules(min_age=10), CASE, False, "age_outside_range", {"age": 9, "min_age": 10, "max_age": 120}),
        (Rules(max_age=9), CASE, True, "age_in_range", {"age": 9, "min_age": 0, "max_age": 9}),
        (Rules(max_age=8), CASE, False, "age_outside_range", {"age": 9, "min_age": 0, "max_age": 8}),
        (Rules(min_age=3), case(age=None), False, "age_unknown", {"min_age": 3, "max_age": 120}),
        (Rules(region_prefixes=("51", "3101")), CASE, True, "region_in", {"region_code": "510104", "prefixes": "51,3101"}),
        (Rules(region_prefixes=("5101",)), CASE, True, "region_in", {"region_code": "510104", "prefixes": "5101"}),
        (Rules(region_prefixes=("510105",)), CASE, False, "region_outside", {"region_code": "510104", "prefixes": "510105"}),
        (Rules(region_prefixes=("34",)), case(region_code=None), False, "region_unknown", {"prefixes": "34"}),
        (Rules(assistance_classes=("dibao",)), CASE, True, "class_in", {"assistance_class": "dibao", "classes": "dibao"}),
        (Rules(assistance_classes=("tekun", "monitored")), CASE, False, "class_outside", {"assistance_class": "dibao", "classes": "tekun,monitored"}),
        (Rules(assistance_classes=("tekun",)), case(assistance_class=None), False, "class_none", {"classes": "tekun"}),
        (Rules(max_income_per_capita_fen=800_000), CASE, True, "income_within", {"income_per_capita_fen": 800_000, "max_income_per_capita_fen": 800_000}),
        (Rules(max_income_per_capita_fen=799_999), CASE, False, "income_above", {"income_per_capita_fen": 800_000, "max_income_per_capita_fen": 799_999}),
        (Rules(max_income_per_capita_fen=10**9), case(income_per_capita_fen=None), False, "income_undisclosed", {"max_income_per_capita_fen": 10**9}),
        (Rules(hospital_tiers=("tertiary",)), CASE, True, "tier_in", {"hospital_tier": "tertiary", "tiers": "tertiary"}),
        (Rules(hospital_tiers=("primary", "secondary")), CASE, False, "tier_outside", {"hospital_tier": "tertiary", "tiers": "primary,secondary"}),
        (Rules(hospital_tiers=("primary",)), case(hospital_tier=None), False, "tier_unknown", {"tiers": "primary"}),
    ],
)  # fmt: skip
def test_each_condition_passes_or_fails_with_its_code(
    rules: Rules, profile: CaseProfile, passed: bool, code: str, params: dict[str, object]
) -> None:
    check = only(rules, profile)
    assert (check.passed, check.code, check.params) == (passed, code, params)


@pytest.mark.parametrize(
    ("prefix", "code", "matches"),
    [
        ("C91", "C91.00", True),
        ("C91.0", "C91.00", True),
        ("C91.0", "C9100", True),  # a code written without its dot
        ("C91.0", "c91.0", True),  # and in lower case
        ("C91.1", "C91.00", False),
        ("C9", "C92.1", True),
        ("Q2", "Q21.0", True),
        ("Q2", "Q30", False),
        ("C91.00", "C91.0", False),  # a finer prefix does not admit the coarser code
        ("C91", "C9", False),
    ],
)
def test_icd10_prefixes_match_with_or_without_the_dot(prefix: str, code: str, matches: bool) -> None:
    check = only(Rules(icd10_prefixes=(prefix,)), case(icd10=code))
    assert check.passed is matches
    assert check.code == ("icd10_in" if matches else "icd10_outside")
    assert check.params == {"icd10": code, "prefixes": prefix}


def test_diagnosis_codes_when_only_one_list_is_given() -> None:
    assert only(Rules(icd10_prefixes=("C9",)), case(icd10=None)).code == "icd10_unknown"
    categories = Rules(disease_categories=("leukemia", "lymphoma"))
    assert only(categories, CASE).params == {
        "disease_category": "leukemia",
        "categories": "leukemia,lymphoma",
    }
    outside = only(categories, case(disease_category="congenital_heart_disease"))
    assert (outside.passed, outside.code) == (False, "category_outside")
    unknown = only(categories, case(disease_category=None))
    assert (unknown.code, unknown.params) == ("category_unknown", {"categories": "leukemia,lymphoma"})


def test_categories_or_icd10_prefixes_either_one_is_enough() -> None:
    """ "Leukaemia, or any C9x code": a project naming both serves the union."""
    rules = Rules(disease_categories=("leukemia",), icd10_prefixes=("C9",))
    by_category = only(rules, case(icd10="D61.0", disease_category="leukemia"))
    assert (by_category.passed, by_category.code) == (True, "category_in")
    by_code = only(rules, case(icd10="C92.0", disease_category="lymphoma"))
    assert (by_code.passed, by_code.code) == (True, "icd10_in")
    by_code_alone = only(rules, case(icd10="C92.0", disease_category=None))
    assert by_code_alone.passed
    neither = only(rules, case(icd10="Q21.0", disease_category="congenital_heart_disease"))
    assert (neither.passed, neither.code) == (False, "diagnosis_outside")
    assert neither.params == {
        "icd10": "Q21.0",
        "disease_category": "congenital_heart_disease",
        "prefixes": "C9",
        "categories": "leukemia",
    }
    nothing_known = only(rules, case(icd10=None, disease_category=None))
    assert (nothing_known.passed, nothing_known.params["icd10"]) == (False, "")


def test_one_failing_condition_makes_the_case_ineligible_and_says_which() -> None:
    checks = evaluate(EVERYTHING, case(region_code="340100", income_per_capita_fen=None))
    failed = [(c.rule, c.code) for c in checks if not c.passed]
    assert failed == [("region", "region_outside"), ("income", "income_undisclosed")]
    assert not is_eligible(EVERYTHING, case(region_code="340100"))


profiles = st.builds(
    CaseProfile,
    case_id=st.integers(1, 1000),
    need_fen=st.integers(0, 10**8),
    icd10=st.none() | st.sampled_from(["C91.00", "C92.1", "Q21.0", "D61", "c910"]),
    disease_category=st.none() | st.sampled_from(["leukemia", "lymphoma", "congenital_heart_disease"]),
    age=st.none() | st.integers(0, 120),
    region_code=st.none() | st.sampled_from(["510104", "511100", "340100", "341200", "110101"]),
    assistance_class=st.none() | st.sampled_from(ASSISTANCE_CLASSES),
    income_per_capita_fen=st.none() | st.integers(0, 5_000_000),
    hospital_tier=st.none() | st.sampled_from(HOSPITAL_TIERS),
    treatment_date=st.none() | st.dates(),
    waiting_since=st.dates(),
)


def subset(values: tuple[str, ...] | list[str]) -> st.SearchStrategy[tuple[str, ...]]:
    return st.lists(st.sampled_from(list(values)), unique=True, max_size=3).map(tuple)


rule_sets = st.builds(
    Rules,
    icd10_prefixes=subset(["C9", "C91", "C91.0", "Q2", "D6"]),
    disease_categories=subset(["leukemia", "lymphoma"]),
    min_age=st.none() | st.integers(0, 60),
    max_age=st.none() | st.integers(60, 120),
    region_prefixes=subset(["51", "5101", "341200", "11"]),
    assistance_classes=subset(ASSISTANCE_CLASSES),
    max_income_per_capita_fen=st.none() | st.integers(0, 5_000_000),
    hospital_tiers=subset(HOSPITAL_TIERS),
)


@settings(max_examples=400, derandomize=True)
@given(rule_sets, profiles)
def test_is_eligible_agrees_with_evaluate(rules: Rules, profile: CaseProfile) -> None:
    checks = evaluate(rules, profile)
    assert is_eligible(rules, profile) is all(check.passed for check in checks)
    for check in checks:
        assert check.code in CHECK_MESSAGES
        assert check.message
        assert all(isinstance(value, str | int) for value in check.params.values())

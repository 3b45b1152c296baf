"""Eligibility rules as data: every kind of bad rule refused with its code, and the stored form read back exactly."""

from __future__ import annotations

import json
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.rules import (
    ASSISTANCE_CLASSES,
    HOSPITAL_TIERS,
    PROBLEM_MESSAGES,
    RULE_FIELDS,
    Problem,
    RuleError,
    Rules,
    rules_from_dict,
    rules_to_dict,
    validate_project_terms,
)


def problems_of(data: dict[str, object]) -> list[Problem]:
    with pytest.raises(RuleError) as caught:
        rules_from_dict(data)
    for problem in caught.value.problems:
        assert problem.message  # every code has an English default that its params fill
    return caught.value.problems


@pytest.mark.parametrize(
    ("data", "field", "code"),
    [
        ({"min_age": 3, "colour": "red"}, "colour", "field_unknown"),
        ({"icd10_prefixes": "C91"}, "icd10_prefixes", "wrong_type"),
        ({"icd10_prefixes": [91]}, "icd10_prefixes", "wrong_type"),
        ({"min_age": True}, "min_age", "wrong_type"),
        ({"max_age": 3.5}, "max_age", "wrong_type"),
        ({"max_income_per_capita_fen": "1000"}, "max_income_per_capita_fen", "wrong_type"),
        ({"icd10_prefixes": ["c91"]}, "icd10_prefixes", "icd10_prefix_invalid"),
        ({"icd10_prefixes": ["C"]}, "icd10_prefixes", "icd10_prefix_invalid"),
        ({"icd10_prefixes": ["C912"]}, "icd10_prefixes", "icd10_prefix_invalid"),
        ({"icd10_prefixes": ["C91."]}, "icd10_prefixes", "icd10_prefix_invalid"),
        ({"icd10_prefixes": ["C9.1"]}, "icd10_prefixes", "icd10_prefix_invalid"),
        ({"icd10_prefixes": ["91"]}, "icd10_prefixes", "icd10_prefix_invalid"),
        ({"disease_categories": ["Leukemia"]}, "disease_categories", "category_invalid"),
        ({"disease_categories": ["heart-disease"]}, "disease_categories", "category_invalid"),
        ({"region_prefixes": ["5"]}, "region_prefixes", "region_prefix_invalid"),
        ({"region_prefixes": ["511"]}, "region_prefixes", "region_prefix_invalid"),
        ({"region_prefixes": ["5101011"]}, "region_prefixes", "region_prefix_invalid"),
        ({"region_prefixes": ["51a1"]}, "region_prefixes", "region_prefix_invalid"),
        ({"assistance_classes": ["poor"]}, "assistance_classes", "assistance_class_unknown"),
        ({"hospital_tiers": ["quaternary"]}, "hospital_tiers", "hospital_tier_unknown"),
        ({"min_age": -1}, "min_age", "age_negative"),
        ({"max_age": 121}, "max_age", "age_too_high"),
        ({"min_age": 18, "max_age": 10}, "min_age", "age_range_contradictory"),
        ({"max_income_per_capita_fen": -1}, "max_income_per_capita_fen", "income_ceiling_negative"),
        ({"hospital_tiers": ["tertiary", "tertiary"]}, "hospital_tiers", "duplicate"),
        ({"region_prefixes": ["51", "3101", "51"]}, "region_prefixes", "duplicate"),
        ({}, "rules", "rule_empty"),
        ({"icd10_prefixes": [], "min_age": None, "hospital_tiers": []}, "rules", "rule_empty"),
    ],
)
def test_each_kind_of_bad_rule_is_refused_with_its_code(
    data: dict[str, object], field: str, code: str
) -> None:
    assert [(problem.field, problem.code) for problem in problems_of(data)] == [(field, code)]


def test_every_problem_is_reported_at_once() -> None:
    problems = problems_of(
        {
            "icd10_prefixes": ["C91", "x"],
            "min_age": 30,
            "max_age": 200,
            "region_prefixes": ["5"],
            "assistance_classes": ["dibao", "rich"],
            "shoe_size": 42,
        }
    )
    assert [(p.field, p.code) for p in problems] == [
        ("shoe_size", "field_unknown"),
        ("icd10_prefixes", "icd10_prefix_invalid"),
        ("region_prefixes", "region_prefix_invalid"),
        ("assistance_classes", "assistance_class_unknown"),
        ("max_age", "age_too_high"),
    ]
    assert problems[1].params == {"value": "x"}
    assert problems[4].params == {"value": 200, "max_age": 120}


def test_problem_params_name_the_values() -> None:
    [contradiction] = problems_of({"min_age": 18, "max_age": 10})
    assert contradiction.params == {"min_age": 18, "max_age": 10}
    [ceiling] = problems_of({"max_income_per_capita_fen": -5})
    assert ceiling.params == {"value_fen": -5}
    [wrong] = problems_of({"hospital_tiers": ["tertiary", 3]})
    assert wrong.params == {"expected": "list_of_strings", "index": 1}


def test_an_unknown_category_slug_is_accepted_since_the_shell_knows_the_catalogue() -> None:
    assert rules_from_dict({"disease_categories": ["some_new_disease2"]}).disease_categories == (
        "some_new_disease2",
    )


def test_edges_of_the_allowed_values_are_accepted() -> None:
    rules = rules_from_dict(
        {
            "icd10_prefixes": ["Q2", "C91", "C91.0", "C91.00", "D6"],
            "min_age": 0,
            "max_age": 120,
            "region_prefixes": ["51", "3101", "510104"],
            "max_income_per_capita_fen": 0,
        }
    )
    assert rules.icd10_prefixes == ("Q2", "C91", "C91.0", "C91.00", "D6")
    assert rules.min_age == 0
    assert rules.max_income_per_capita_fen == 0
    assert rules_from_dict({"min_age": 7, "max_age": 7}).max_age == 7


slugs = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True)
icd10_prefixes = st.from_regex(r"[A-Z][0-9]{1,2}|[A-Z][0-9]{2}\.[0-9A-Z]{1,2}", fullmatch=True)
region_prefixes = st.from_regex(r"[0-9]{2}|[0-9]{4}|[0-9]{6}", fullmatch=True)


def distinct(elements: st.SearchStrategy[str], most: int = 4) -> st.SearchStrategy[tuple[str, ...]]:
    return st.lists(elements, max_size=most, unique=True).map(tuple)


@st.composite
def valid_rules(draw: st.DrawFn) -> Rules:
    low = draw(st.none() | st.integers(0, 120))
    high = draw(st.none() | st.integers(low or 0, 120))
    rules = Rules(
        icd10_prefixes=draw(distinct(icd10_prefixes)),
        disease_categories=draw(distinct(slugs)),
        min_age=low,
        max_age=high,
        region_prefixes=draw(distinct(region_prefixes)),
        assistance_classes=draw(distinct(st.sampled_from(ASSISTANCE_CLASSES))),
        max_income_per_capita_fen=draw(st.none() | st.integers(0, 10**9)),
        hospital_tiers=draw(distinct(st.sampled_from(HOSPITAL_TIERS))),
    )
    return rules if not rules.is_empty() else Rules(min_age=0)


@settings(max_examples=200, derandomize=True)
@given(valid_rules())
def test_the_stored_form_reads_back_exactly(rules: Rules) -> None:
    stored = rules_to_dict(rules)
    assert list(stored) == list(RULE_FIELDS)  # every field, in a stable order
    as_json = json.loads(json.dumps(stored))
    assert as_json == stored
    assert rules_from_dict(as_json) == rules
    assert rules_to_dict(rules_from_dict(as_json)) == stored


def test_a_partial_dict_fills_the_rest_with_no_condition() -> None:
    rules = rules_from_dict({"region_prefixes": ["51"]})
    assert rules == Rules(region_prefixes=("51",))
    assert rules_to_dict(rules) == {
        "icd10_prefixes": [],
        "disease_categories": [],
        "min_age": None,
        "max_age": None,
        "region_prefixes": ["51"],
        "assistance_classes": [],
        "max_income_per_capita_fen": None,
        "hospital_tiers": [],
    }


@pytest.mark.parametrize(
    ("budget", "cap", "opens", "closes", "expected"),
    [
        (1_000_000, 100_000, date(2026, 1, 1), date(2026, 12, 31), []),
        (1_000_000, 1_000_000, None, None, []),
        (0, 100, None, None, [("budget_fen", "budget_not_positive")]),
        (-5, 100, None, None, [("budget_fen", "budget_not_positive")]),
        (1_000, 0, None, None, [("per_case_cap_fen", "cap_not_positive")]),
        (1_000, -1, None, None, [("per_case_cap_fen", "cap_not_positive")]),
        (1_000, 1_001, None, None, [("per_case_cap_fen", "cap_above_budget")]),
        (1_000, 100, date(2026, 2, 1), date(2026, 1, 31), [("closes_on", "window_reversed")]),
        (1_000, 100, date(2026, 2, 1), date(2026, 2, 1), []),
        (
            0,
            0,
            date(2026, 2, 1),
            date(2026, 1, 1),
            [
                ("budget_fen", "budget_not_positive"),
                ("per_case_cap_fen", "cap_not_positive"),
                ("closes_on", "window_reversed"),
            ],
        ),
    ],
)
def test_project_terms(
    budget: int, cap: int, opens: date | None, closes: date | None, expected: list[tuple[str, str]]
) -> None:
    problems = validate_project_terms(budget, cap, opens, closes)
    assert [(p.field, p.code) for p in problems] == expected
    assert all(p.message for p in problems)


def test_term_problems_carry_money_in_fen_and_dates_as_iso() -> None:
    [above] = validate_project_terms(1_000, 1_001, None, None)
    assert above.params == {"per_case_cap_fen": 1_001, "budget_fen": 1_000}
    [window] = validate_project_terms(1_000, 100, date(2026, 2, 1), date(2026, 1, 31))
    assert window.params == {"opens_on": "2026-02-01", "closes_on": "2026-01-31"}


def test_every_problem_code_has_a_message() -> None:
    assert all(isinstance(text, str) and text for text in PROBLEM_MESSAGES.values())

"""A case's priority: integer parts that add up, move the right way, and weights checked before use."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.eligibility import CaseProfile
from matching.priority import (
    DEFAULT_WEIGHTS,
    MAX_TOTAL,
    NO_CLASS,
    PART_NAMES,
    WeightsError,
    priority,
    weights_from_dict,
    weights_to_dict,
)
from matching.rules import ASSISTANCE_CLASSES

TODAY = date(2026, 6, 1)
CASE = CaseProfile(
    case_id=3,
    need_fen=20_000_000,
    icd10="C91.00",
    disease_category="leukemia",
    age=9,
    region_code="510104",
    assistance_class=None,
    income_per_capita_fen=2_000_000,
    hospital_tier="tertiary",
    treatment_date=TODAY + timedelta(days=30),
    waiting_since=TODAY - timedelta(days=21),
)
# Strongest protection first; equal pairs as verification/policy.py CLASS_STRENGTH ranks them.
CLASS_ORDER = [
    "tekun",
    "dibao",
    "returned_to_poverty",
    "dibao_edge",
    "monitored",
    "illness_impoverished",
    None,
]


def case(**changes: object) -> CaseProfile:
    return dataclasses.replace(CASE, **changes)  # type: ignore[arg-type]  # test data, fields by name


profiles = st.builds(
    CaseProfile,
    case_id=st.integers(1, 10**6),
    need_fen=st.integers(0, 10**9),
    icd10=st.none(),
    disease_category=st.none(),
    age=st.none(),
    region_code=st.none(),
    assistance_class=st.none() | st.sampled_from(ASSISTANCE_CLASSES),
    income_per_capita_fen=st.none() | st.integers(0, 10**8),
    hospital_tier=st.none(),
    treatment_date=st.none() | st.dates(TODAY - timedelta(days=400), TODAY + timedelta(days=400)),
    waiting_since=st.dates(TODAY - timedelta(days=1000), TODAY + timedelta(days=10)),
)


@settings(max_examples=300, derandomize=True)
@given(profiles)
def test_parts_are_integers_that_add_up_within_bounds(profile: CaseProfile) -> None:
    result = priority(profile, TODAY)
    assert result.case_id == profile.case_id
    assert tuple(result.parts) == PART_NAMES
    assert all(type(points) is int and points >= 0 for points in result.parts.values())
    assert result.total == sum(result.parts.values())
    assert DEFAULT_WEIGHTS.base <= result.total <= DEFAULT_WEIGHTS.max_total() == 1000


def test_a_worked_example() -> None:
    # need 200,000 yuan against 20,000 yuan a person a year = 10 years, past the 4 that score full;
    # treatment in 30 of 90 days: 200 × 60 // 90 = 133; 3 weeks waiting: 15.
    assert priority(CASE, TODAY).parts == {
        "base": 100,
        "civil_affairs_class": 0,
        "need_to_income": 300,
        "urgency": 133,
        "waiting": 15,
    }
    # 30,000 yuan against 20,000 a year: 1.5 years of 4, 300 × 3,000,000 // 8,000,000 = 112.
    assert priority(case(need_fen=3_000_000), TODAY).parts["need_to_income"] == 112


def test_stronger_civil_affairs_classes_never_score_less() -> None:
    points = [priority(case(assistance_class=c), TODAY).parts["civil_affairs_class"] for c in CLASS_ORDER]
    assert points == sorted(points, reverse=True)
    assert points[1] == points[2]
    assert points[3] == points[4]
    assert points[-1] == DEFAULT_WEIGHTS.class_points[NO_CLASS] == 0


@settings(max_examples=200, derandomize=True)
@given(profiles, st.integers(-400, 400), st.integers(0, 400))
def test_sooner_treatment_and_longer_waiting_never_score_less(
    profile: CaseProfile, days: int, more: int
) -> None:
    sooner = priority(case(treatment_date=TODAY + timedelta(days=days)), TODAY).parts["urgency"]
    later = priority(case(treatment_date=TODAY + timedelta(days=days + more)), TODAY).parts["urgency"]
    assert sooner >= later
    waited = priority(dataclasses.replace(profile, waiting_since=TODAY - timedelta(days=days + more)), TODAY)
    newer = priority(dataclasses.replace(profile, waiting_since=TODAY - timedelta(days=days)), TODAY)
    assert waited.parts["waiting"] >= newer.parts["waiting"]


@settings(max_examples=200, derandomize=True)
@given(st.integers(0, 10**9), st.integers(0, 10**9), st.integers(1, 10**8))
def test_a_larger_need_or_a_smaller_income_never_scores_less(need: int, extra: int, income: int) -> None:
    small = priority(case(need_fen=need, income_per_capita_fen=income), TODAY).parts["need_to_income"]
    large = priority(case(need_fen=need + extra, income_per_capita_fen=income), TODAY).parts["need_to_income"]
    poorer = priority(case(need_fen=need, income_per_capita_fen=income // 2), TODAY).parts["need_to_income"]
    assert small <= large
    assert small <= poorer


def test_the_documented_edges_of_each_part() -> None:
    def part(name: str, **changes: object) -> int:
        return priority(case(**changes), TODAY).parts[name]

    assert part("need_to_income", income_per_capita_fen=None) == 150  # undisclosed: the middle value
    assert part("need_to_income", income_per_capita_fen=0) == 300  # no income: any need is overwhelming
    assert part("need_to_income", need_fen=0) == 0
    assert part("urgency", treatment_date=TODAY) == 200
    assert part("urgency", treatment_date=TODAY - timedelta(days=100)) == 200  # in hospital: bills due now
    assert part("urgency", treatment_date=TODAY + timedelta(days=90)) == 0
    assert part("urgency", treatment_date=None) == 0
    assert part("waiting", waiting_since=TODAY + timedelta(days=3)) == 0
    assert part("waiting", waiting_since=TODAY - timedelta(days=6)) == 0  # whole weeks only
    assert part("waiting", waiting_since=TODAY - timedelta(days=7)) == 5
    assert part("waiting", waiting_since=TODAY - timedelta(days=2000)) == 100


def test_weights_round_trip_and_configure_the_score() -> None:
    stored = weights_to_dict(DEFAULT_WEIGHTS)
    assert json.loads(json.dumps(stored)) == stored
    assert weights_from_dict(stored) == DEFAULT_WEIGHTS
    assert weights_from_dict({}) == DEFAULT_WEIGHTS
    doubled = weights_from_dict({"base": 200, "waiting_points_per_week": 10})
    assert doubled.base == 200
    assert doubled.need_points_max == DEFAULT_WEIGHTS.need_points_max
    assert priority(CASE, TODAY, doubled).parts["waiting"] == 30
    assert priority(CASE, TODAY, doubled).total == priority(CASE, TODAY).total + 100 + 15


def weight_problems(data: dict[str, object]) -> list[tuple[str, str]]:
    with pytest.raises(WeightsError) as caught:
        weights_from_dict(data)
    assert all(problem.message for problem in caught.value.problems)
    return [(problem.field, problem.code) for problem in caught.value.problems]


def test_bad_weights_are_refused_with_every_problem() -> None:
    classes = dict(DEFAULT_WEIGHTS.class_points)
    assert weight_problems({"base": -1}) == [("base", "weight_negative")]
    assert weight_problems({"base": 0}) == [("base", "weight_not_positive")]
    assert weight_problems({"urgency_window_days": 0}) == [("urgency_window_days", "weight_not_positive")]
    assert weight_problems({"need_points_max": True}) == [("need_points_max", "wrong_type")]
    assert weight_problems({"need_points_max": 2.5}) == [("need_points_max", "wrong_type")]
    assert weight_problems({"bonus": 3}) == [("bonus", "field_unknown")]
    assert weight_problems({"class_points": [1, 2]}) == [("class_points", "wrong_type")]
    assert weight_problems({"class_points": {**classes, "rich": 5}}) == [
        ("class_points", "assistance_class_unknown")
    ]
    without_tekun = {key: value for key, value in classes.items() if key != "tekun"}
    assert weight_problems({"class_points": without_tekun}) == [("class_points", "class_points_missing")]
    assert weight_problems({"class_points": {**classes, "dibao": -3}, "waiting_points_max": -1}) == [
        ("class_points.dibao", "weight_negative"),
        ("waiting_points_max", "weight_negative"),
    ]
    assert weight_problems({"need_points_max": MAX_TOTAL}) == [("weights", "total_too_high")]

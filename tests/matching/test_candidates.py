"""The candidate index only narrows: every project a case is eligible for is among its candidates, so a run
that checks candidates in full finds exactly the eligible pairs a check of every pair would find."""

from __future__ import annotations

import dataclasses
import random
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from matching.candidates import CandidateIndex
from matching.eligibility import CaseProfile, is_eligible
from matching.rules import Rules

REGIONS = ["510104", "510107", "341221", "341202", "620102", "110105"]
CATEGORIES = ["leukemia", "lymphoma", "congenital_heart_disease", "uremia"]
CODES = ["C91.0", "C92.1", "C83.3", "Q21.3", "N18.5", None]


def random_rules(rng: random.Random) -> Rules:
    return Rules(
        icd10_prefixes=tuple(
            sorted(set(rng.sample(["C9", "C91", "C91.0", "Q21", "N18", "C8"], rng.randint(0, 2))))
        ),
        disease_categories=tuple(sorted(set(rng.sample(CATEGORIES, rng.randint(0, 2))))),
        min_age=rng.choice([None, None, 0, 10]),
        max_age=rng.choice([None, None, 14, 60]),
        region_prefixes=tuple(
            sorted(set(rng.sample(["51", "5101", "341221", "34", "62"], rng.randint(0, 2))))
        ),
    )


def random_case(rng: random.Random, case_id: int) -> CaseProfile:
    return CaseProfile(
        case_id=case_id,
        need_fen=1_000_000,
        icd10=rng.choice(CODES),
        disease_category=rng.choice([*CATEGORIES, None]),
        age=rng.choice([None, 5, 30, 70]),
        region_code=rng.choice([*REGIONS, None]),
        assistance_class=None,
        income_per_capita_fen=None,
        hospital_tier="tertiary",
        treatment_date=None,
        waiting_since=date(2026, 1, 1),
    )


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=10**6))
def test_candidates_include_every_eligible_project(seed: int) -> None:
    rng = random.Random(seed)
    rules = {project_id: random_rules(rng) for project_id in range(1, 30)}
    index = CandidateIndex(rules)
    for case_id in range(40):
        case = random_case(rng, case_id)
        eligible = [pid for pid, rule in sorted(rules.items()) if is_eligible(rule, case)]
        candidates = index.candidates(case)
        assert set(eligible) <= set(candidates)
        assert index.eligible(case) == eligible


def test_a_project_limited_by_region_and_disease_is_not_a_candidate_elsewhere() -> None:
    rules = {1: Rules(region_prefixes=("51",), disease_categories=("leukemia",)), 2: Rules(max_age=14)}
    index = CandidateIndex(rules)
    sichuan = dataclasses.replace(
        random_case(random.Random(1), 1), region_code="510104", disease_category="leukemia", icd10="C91.0"
    )
    assert index.candidates(sichuan) == [1, 2]
    assert index.candidates(dataclasses.replace(sichuan, region_code="341221")) == [2]
    assert index.candidates(dataclasses.replace(sichuan, disease_category="lymphoma", icd10="C83.3")) == [2]

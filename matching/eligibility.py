"""Whether a verified case meets a project's rules, one check per condition, each with its reason.

A fact the case does not show (no birth date, income not disclosed, no diagnosis code) fails the condition
that needs it, with its own code: a project's money must not go to a case it cannot show is eligible. A case
with no civil-affairs class fails a rule that lists classes for the same reason.

Checks come in a fixed order: diagnosis, age, region, assistance_class, income, hospital_tier. Lists in
params are comma-joined; a fact not on record is shown as "" where a failing diagnosis check names both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from matching.rules import MAX_AGE, Params, Rules, icd10_key

# English defaults, keyed by check code. Placeholders are the check's params.
CHECK_MESSAGES: Mapping[str, str] = {
    "icd10_in": "The diagnosis {icd10} is under one of {prefixes}.",
    "icd10_outside": "The diagnosis {icd10} is not under any of {prefixes}.",
    "icd10_unknown": "The case has no diagnosis code to compare with {prefixes}.",
    "category_in": "The disease category {disease_category} is one of {categories}.",
    "category_outside": "The disease category {disease_category} is not one of {categories}.",
    "category_unknown": "The case has no disease category to compare with {categories}.",
    "diagnosis_outside": (
        "The diagnosis ({icd10}, {disease_category}) is neither under {prefixes} nor in {categories}."
    ),
    "age_in_range": "The patient's age {age} is between {min_age} and {max_age}.",
    "age_outside_range": "The patient's age {age} is not between {min_age} and {max_age}.",
    "age_unknown": "The patient's age is not known, so it cannot be shown to be between {min_age} and {max_age}.",
    "region_in": "The region {region_code} is within {prefixes}.",
    "region_outside": "The region {region_code} is not within {prefixes}.",
    "region_unknown": "The case has no region to compare with {prefixes}.",
    "class_in": "The household's civil-affairs class {assistance_class} is one of {classes}.",
    "class_outside": "The household's civil-affairs class {assistance_class} is not one of {classes}.",
    "class_none": "The household has no civil-affairs class on record; the project serves {classes}.",
    "income_within": (
        "The household income per person {income_per_capita_fen} is at most {max_income_per_capita_fen}."
    ),
    "income_above": (
        "The household income per person {income_per_capita_fen} is above {max_income_per_capita_fen}."
    ),
    "income_undisclosed": (
        "The household income was not disclosed, so it cannot be shown to be at most"
        " {max_income_per_capita_fen} per person."
    ),
    "tier_in": "The hospital tier {hospital_tier} is one of {tiers}.",
    "tier_outside": "The hospital tier {hospital_tier} is not one of {tiers}.",
    "tier_unknown": "The case has no hospital tier to compare with {tiers}.",
}


@dataclass(frozen=True, slots=True)
class CaseProfile:
    """What the shell knows of a verified case: the facts rules and priority look at."""

    case_id: int
    need_fen: int  # remaining need now (>= 0)
    icd10: str | None
    disease_category: str | None
    age: int | None  # whole years at the reference date; None: birth date unknown
    region_code: str | None  # GB/T 2260, 6 digits
    assistance_class: str | None  # None: no civil-affairs class on record
    income_per_capita_fen: int | None  # yearly household income per person; None: not disclosed
    hospital_tier: str | None
    treatment_date: date | None  # admission or planned treatment
    waiting_since: date  # when the case became eligible for support (verified)


@dataclass(frozen=True, slots=True)
class RuleCheck:
    """One condition of a rule applied to one case."""

    rule: str
    passed: bool
    code: str
    params: Params

    @property
    def message(self) -> str:
        """The English default text of the reason."""
        return CHECK_MESSAGES[self.code].format_map(self.params)


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A rule in the form cheapest to test: ICD-10 prefixes without dots, lists as sets."""

    icd10_keys: tuple[str, ...]
    categories: frozenset[str]
    min_age: int
    max_age: int
    ages: bool
    regions: tuple[str, ...]
    classes: frozenset[str]
    income_ceiling: int | None
    tiers: frozenset[str]


# Rules are frozen and hashable; a run tests the same few hundred rules against thousands of cases.
@lru_cache(maxsize=4096)
def _compile(rules: Rules) -> _Compiled:
    return _Compiled(
        icd10_keys=tuple(icd10_key(prefix) for prefix in rules.icd10_prefixes),
        categories=frozenset(rules.disease_categories),
        # An open bound is the edge of the ages a rule may name, so one range check serves all shapes.
        min_age=0 if rules.min_age is None else rules.min_age,
        max_age=MAX_AGE if rules.max_age is None else rules.max_age,
        ages=rules.min_age is not None or rules.max_age is not None,
        regions=rules.region_prefixes,
        classes=frozenset(rules.assistance_classes),
        income_ceiling=rules.max_income_per_capita_fen,
        tiers=frozenset(rules.hospital_tiers),
    )


def _icd10_matches(compiled: _Compiled, case: CaseProfile) -> bool:
    if not case.icd10:
        return False
    code = icd10_key(case.icd10)
    return any(code.startswith(key) for key in compiled.icd10_keys)


def is_eligible(rules: Rules, case: CaseProfile) -> bool:
    """True when the case meets every condition of the rule (the same answer as `evaluate`, faster)."""
    compiled = _compile(rules)
    if compiled.icd10_keys or compiled.categories:
        by_category = case.disease_category is not None and case.disease_category in compiled.categories
        if not by_category and not _icd10_matches(compiled, case):
            return False
    if compiled.ages and (case.age is None or not compiled.min_age <= case.age <= compiled.max_age):
        return False
    if compiled.regions and (
        case.region_code is None or not any(case.region_code.startswith(p) for p in compiled.regions)
    ):
        return False
    if compiled.classes and case.assistance_class not in compiled.classes:
        return False
    ceiling = compiled.income_ceiling
    if ceiling is not None and (case.income_per_capita_fen is None or case.income_per_capita_fen > ceiling):
        return False
    return not compiled.tiers or case.hospital_tier in compiled.tiers


def _diagnosis_check(rules: Rules, compiled: _Compiled, case: CaseProfile) -> RuleCheck:
    prefixes = ",".join(rules.icd10_prefixes)
    categories = ",".join(rules.disease_categories)
    if compiled.icd10_keys and _icd10_matches(compiled, case):
        return RuleCheck("diagnosis", True, "icd10_in", {"icd10": case.icd10 or "", "prefixes": prefixes})
    if case.disease_category is not None and case.disease_category in compiled.categories:
        return RuleCheck(
            "diagnosis",
            True,
            "category_in",
            {"disease_category": case.disease_category, "categories": categories},
        )
    if compiled.icd10_keys and compiled.categories:
        params: Params = {
            "icd10": case.icd10 or "",
            "disease_category": case.disease_category or "",
            "prefixes": prefixes,
            "categories": categories,
        }
        return RuleCheck("diagnosis", False, "diagnosis_outside", params)
    if compiled.icd10_keys:
        if not case.icd10:
            return RuleCheck("diagnosis", False, "icd10_unknown", {"prefixes": prefixes})
        return RuleCheck("diagnosis", False, "icd10_outside", {"icd10": case.icd10, "prefixes": prefixes})
    if case.disease_category is None:
        return RuleCheck("diagnosis", False, "category_unknown", {"categories": categories})
    return RuleCheck(
        "diagnosis",
        False,
        "category_outside",
        {"disease_category": case.disease_category, "categories": categories},
    )


def _age_check(compiled: _Compiled, case: CaseProfile) -> RuleCheck:
    bounds: Params = {"min_age": compiled.min_age, "max_age": compiled.max_age}
    if case.age is None:
        return RuleCheck("age", False, "age_unknown", bounds)
    passed = compiled.min_age <= case.age <= compiled.max_age
    return RuleCheck(
        "age", passed, "age_in_range" if passed else "age_outside_range", {"age": case.age, **bounds}
    )


def _region_check(rules: Rules, case: CaseProfile) -> RuleCheck:
    prefixes = ",".join(rules.region_prefixes)
    if case.region_code is None:
        return RuleCheck("region", False, "region_unknown", {"prefixes": prefixes})
    passed = any(case.region_code.startswith(prefix) for prefix in rules.region_prefixes)
    code = "region_in" if passed else "region_outside"
    return RuleCheck("region", passed, code, {"region_code": case.region_code, "prefixes": prefixes})


def _class_check(rules: Rules, case: CaseProfile) -> RuleCheck:
    classes = ",".join(rules.assistance_classes)
    if case.assistance_class is None:
        return RuleCheck("assistance_class", False, "class_none", {"classes": classes})
    passed = case.assistance_class in rules.assistance_classes
    params: Params = {"assistance_class": case.assistance_class, "classes": classes}
    return RuleCheck("assistance_class", passed, "class_in" if passed else "class_outside", params)


def _income_check(ceiling: int, case: CaseProfile) -> RuleCheck:
    if case.income_per_capita_fen is None:
        return RuleCheck("income", False, "income_undisclosed", {"max_income_per_capita_fen": ceiling})
    passed = case.income_per_capita_fen <= ceiling
    params: Params = {
        "income_per_capita_fen": case.income_per_capita_fen,
        "max_income_per_capita_fen": ceiling,
    }
    return RuleCheck("income", passed, "income_within" if passed else "income_above", params)


def _tier_check(rules: Rules, case: CaseProfile) -> RuleCheck:
    tiers = ",".join(rules.hospital_tiers)
    if case.hospital_tier is None:
        return RuleCheck("hospital_tier", False, "tier_unknown", {"tiers": tiers})
    passed = case.hospital_tier in rules.hospital_tiers
    params: Params = {"hospital_tier": case.hospital_tier, "tiers": tiers}
    return RuleCheck("hospital_tier", passed, "tier_in" if passed else "tier_outside", params)


def evaluate(rules: Rules, case: CaseProfile) -> list[RuleCheck]:
    """One check per condition the rule sets, in a fixed order, each passed or failed with its reason."""
    compiled = _compile(rules)
    checks: list[RuleCheck] = []
    if rules.icd10_prefixes or rules.disease_categories:
        checks.append(_diagnosis_check(rules, compiled, case))
    if compiled.ages:
        checks.append(_age_check(compiled, case))
    if rules.region_prefixes:
        checks.append(_region_check(rules, case))
    if rules.assistance_classes:
        checks.append(_class_check(rules, case))
    if rules.max_income_per_capita_fen is not None:
        checks.append(_income_check(rules.max_income_per_capita_fen, case))
    if rules.hospital_tiers:
        checks.append(_tier_check(rules, case))
    return checks

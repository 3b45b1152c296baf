"""A relief project's eligibility rules, held as data: whom a project serves and on what terms.

A rule is a set of conditions on a verified case. Every condition that is set must hold (AND), except the two
diagnosis conditions: when a rule lists both disease categories and ICD-10 prefixes, a case qualifies if
EITHER matches, because a charity writes "leukaemia, or any C9x code" to mean the union of the two. An empty
list or ``None`` means the rule does not look at that fact; a rule that looks at nothing is refused
(``rule_empty``): a project must say whom it serves.

Problems are codes with parameters so the web layer can translate them; `message` gives the English default.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import date

Params = dict[str, str | int]

ASSISTANCE_CLASSES: tuple[str, ...] = (
    "tekun",
    "dibao",
    "returned_to_poverty",
    "dibao_edge",
    "monitored",
    "illness_impoverished",
)
HOSPITAL_TIERS: tuple[str, ...] = ("primary", "secondary", "tertiary")
# The oldest age a rule may name; a bound left open is shown as 0 or this in reasons.
MAX_AGE = 120

# A letter and one or two digits ("Q2", "C91"), or a full category with a dot and a subcategory ("C91.0").
_ICD10_PREFIX = re.compile(r"[A-Z][0-9]{1,2}|[A-Z][0-9]{2}\.[0-9A-Z]{1,2}")
_CATEGORY_SLUG = re.compile(r"[a-z][a-z0-9_]*")
# GB/T 2260: a province (2 digits), a prefecture (4) or a county (6).
_REGION_PREFIX = re.compile(r"[0-9]{2}|[0-9]{4}|[0-9]{6}")

# English defaults, keyed by problem code. Placeholders are the problem's params; `field` is always there.
PROBLEM_MESSAGES: Mapping[str, str] = {
    "field_unknown": "{field} is not a rule field.",
    # `expected` is a type token: list_of_strings, integer_or_null, integer or mapping.
    "wrong_type": "{field} must be of type {expected}.",
    "icd10_prefix_invalid": "{value} is not an ICD-10 prefix such as C91, Q2 or C91.0.",
    "category_invalid": "{value} is not a disease category slug such as leukemia.",
    "region_prefix_invalid": "{value} is not a region-code prefix of 2, 4 or 6 digits such as 51 or 3101.",
    "assistance_class_unknown": "{value} is not a civil-affairs assistance class.",
    "hospital_tier_unknown": "{value} is not a hospital tier.",
    "age_negative": "{field} cannot be negative ({value}).",
    "age_too_high": "{field} cannot be above {max_age} ({value}).",
    "age_range_contradictory": "The minimum age {min_age} is above the maximum age {max_age}.",
    "income_ceiling_negative": "The income ceiling cannot be negative ({value_fen}).",
    "duplicate": "{value} is listed more than once in {field}.",
    "rule_empty": "The rule sets no condition; a project must say whom it serves.",
    "budget_not_positive": "The budget must be more than zero ({budget_fen}).",
    "cap_not_positive": "The per-case cap must be more than zero ({per_case_cap_fen}).",
    "cap_above_budget": "The per-case cap {per_case_cap_fen} is above the budget {budget_fen}.",
    "window_reversed": "The project closes on {closes_on}, before it opens on {opens_on}.",
    # priority weights (priority.py)
    "weight_negative": "{field} cannot be negative ({value}).",
    "weight_not_positive": "{field} must be at least 1 ({value}).",
    "class_points_missing": "class_points must give points for {value}.",
    "total_too_high": "The weights can add up to {value}, above the limit of {limit}.",
}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a rule or a project's terms: the field, a code and its parameters."""

    field: str
    code: str
    params: Params

    @property
    def message(self) -> str:
        """The English default text of the problem."""
        return PROBLEM_MESSAGES[self.code].format_map({"field": self.field, **self.params})


class RuleError(ValueError):
    """A rule that cannot be used, with every problem found in it."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(problem.message for problem in problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Rules:
    """Whom a relief project serves. Empty tuples and ``None`` leave a fact unchecked."""

    icd10_prefixes: tuple[str, ...] = ()
    disease_categories: tuple[str, ...] = ()
    min_age: int | None = None
    max_age: int | None = None
    region_prefixes: tuple[str, ...] = ()
    assistance_classes: tuple[str, ...] = ()
    max_income_per_capita_fen: int | None = None
    hospital_tiers: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        """True when the rule sets no condition at all."""
        return all(getattr(self, name) in ((), None) for name in RULE_FIELDS)


RULE_FIELDS: tuple[str, ...] = tuple(item.name for item in fields(Rules))


def icd10_key(code: str) -> str:
    """A code or prefix in the form prefixes are compared in: upper case, no dot, no spaces."""
    return code.strip().upper().replace(".", "")


# What each list field accepts, and the code for an entry it refuses.
_ITEM_CHECKS: Mapping[str, tuple[Callable[[str], bool], str]] = {
    "icd10_prefixes": (lambda item: bool(_ICD10_PREFIX.fullmatch(item)), "icd10_prefix_invalid"),
    "disease_categories": (lambda item: bool(_CATEGORY_SLUG.fullmatch(item)), "category_invalid"),
    "region_prefixes": (lambda item: bool(_REGION_PREFIX.fullmatch(item)), "region_prefix_invalid"),
    "assistance_classes": (lambda item: item in ASSISTANCE_CLASSES, "assistance_class_unknown"),
    "hospital_tiers": (lambda item: item in HOSPITAL_TIERS, "hospital_tier_unknown"),
}


def _read_list(field: str, value: object, problems: list[Problem]) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        problems.append(Problem(field, "wrong_type", {"expected": "list_of_strings"}))
        return ()
    items: list[str] = []
    for index, item in enumerate(value):
        if not isinstance(item, str):
            problems.append(Problem(field, "wrong_type", {"expected": "list_of_strings", "index": index}))
            continue
        accepts, code = _ITEM_CHECKS[field]
        if not accepts(item):
            problems.append(Problem(field, code, {"value": item}))
        elif item in items:
            problems.append(Problem(field, "duplicate", {"value": item}))
        else:
            items.append(item)
    return tuple(items)


def _read_int(field: str, value: object, problems: list[Problem]) -> int | None:
    if value is None:
        return None
    # bool is a subclass of int, but `true` is not an age.
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(Problem(field, "wrong_type", {"expected": "integer_or_null"}))
        return None
    return value


def _bound_problems(rules: Rules) -> list[Problem]:
    problems: list[Problem] = []
    for field in ("min_age", "max_age"):
        age = getattr(rules, field)
        if age is not None and age < 0:
            problems.append(Problem(field, "age_negative", {"value": age}))
        elif age is not None and age > MAX_AGE:
            problems.append(Problem(field, "age_too_high", {"value": age, "max_age": MAX_AGE}))
    if rules.min_age is not None and rules.max_age is not None and rules.min_age > rules.max_age:
        problems.append(
            Problem(
                "min_age", "age_range_contradictory", {"min_age": rules.min_age, "max_age": rules.max_age}
            )
        )
    ceiling = rules.max_income_per_capita_fen
    if ceiling is not None and ceiling < 0:
        problems.append(
            Problem("max_income_per_capita_fen", "income_ceiling_negative", {"value_fen": ceiling})
        )
    return problems


def rules_from_dict(data: Mapping[str, object]) -> Rules:
    """The rule a stored or submitted mapping describes, or `RuleError` listing every problem in it."""
    problems: list[Problem] = []
    for key in data:
        if key not in RULE_FIELDS:
            problems.append(Problem(str(key), "field_unknown", {}))

    def listed(field: str) -> tuple[str, ...]:
        return _read_list(field, data[field], problems) if field in data else ()

    def number(field: str) -> int | None:
        return _read_int(field, data.get(field), problems)

    # Read in declaration order so the problems come out in the order the form shows the fields.
    rules = Rules(
        icd10_prefixes=listed("icd10_prefixes"),
        disease_categories=listed("disease_categories"),
        min_age=number("min_age"),
        max_age=number("max_age"),
        region_prefixes=listed("region_prefixes"),
        assistance_classes=listed("assistance_classes"),
        max_income_per_capita_fen=number("max_income_per_capita_fen"),
        hospital_tiers=listed("hospital_tiers"),
    )
    problems.extend(_bound_problems(rules))
    if not problems and rules.is_empty():
        problems.append(Problem("rules", "rule_empty", {}))
    if problems:
        raise RuleError(problems)
    return rules


def rules_to_dict(rules: Rules) -> dict[str, list[str] | int | None]:
    """The rule as JSON-safe data, every field present in declaration order; `rules_from_dict` reads it back."""
    return {
        field: list(value) if isinstance(value, tuple) else value
        for field in RULE_FIELDS
        for value in (getattr(rules, field),)
    }


def validate_project_terms(
    budget_fen: int, per_case_cap_fen: int, opens_on: date | None, closes_on: date | None
) -> list[Problem]:
    """What is wrong with a project's money and dates; empty when they can be used."""
    problems: list[Problem] = []
    if budget_fen <= 0:
        problems.append(Problem("budget_fen", "budget_not_positive", {"budget_fen": budget_fen}))
    if per_case_cap_fen <= 0:
        problems.append(
            Problem("per_case_cap_fen", "cap_not_positive", {"per_case_cap_fen": per_case_cap_fen})
        )
    elif budget_fen > 0 and per_case_cap_fen > budget_fen:
        problems.append(
            Problem(
                "per_case_cap_fen",
                "cap_above_budget",
                {"per_case_cap_fen": per_case_cap_fen, "budget_fen": budget_fen},
            )
        )
    if opens_on is not None and closes_on is not None and closes_on < opens_on:
        problems.append(
            Problem(
                "closes_on",
                "window_reversed",
                {"opens_on": opens_on.isoformat(), "closes_on": closes_on.isoformat()},
            )
        )
    return problems

"""How much a case's next yuan matters, as one bounded integer weight made of named parts.

total = base + civil_affairs_class + need_to_income + urgency + waiting, every part an integer:

- base: every case gets it, so every weight is positive and any eligible case can be funded.
- civil_affairs_class: the household's civil-affairs class, in the order of protection the state itself
  gives (verification/policy.py CLASS_STRENGTH): 特困 > 低保 = 返贫致贫 > 低保边缘 = 监测对象 > 因病致贫 > none.
- need_to_income: the need measured in years of the household's income per person,
  ``min(max, max * need_fen // (income_per_capita_fen * need_full_at_years))``; a need of
  `need_full_at_years` years of income or more scores the maximum. No income scores the maximum; income not
  disclosed scores half of it (a middle value: privacy is not punished, but it cannot claim the most).
- urgency: treatment on or before today scores the maximum (bills are due now); a planned date scores less the
  further away it is, linearly to 0 at `urgency_window_days`; no date scores 0 (nothing shows when it is needed).
- waiting: points per whole week since the case became eligible for support, up to a ceiling, so nobody
  waits forever behind newer cases.

The defaults keep totals within 100..1000, so a weight times a slice factor stays far inside the solver's
integer bounds and the flow costs stay small.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date
from types import MappingProxyType

from matching.eligibility import CaseProfile
from matching.rules import ASSISTANCE_CLASSES, Problem

NO_CLASS = "none"
PART_NAMES: tuple[str, ...] = ("base", "civil_affairs_class", "need_to_income", "urgency", "waiting")
# Totals above this would make flow costs needlessly large; the defaults reach 1000.
MAX_TOTAL = 10_000


@dataclass(frozen=True, slots=True)
class PriorityWeights:
    """The points each part of a priority can give; all whole numbers, none negative."""

    class_points: Mapping[str, int]  # every class of ASSISTANCE_CLASSES and "none"
    need_points_max: int
    need_full_at_years: int  # need of this many years of income per person scores need_points_max
    urgency_points_max: int
    urgency_window_days: int  # a treatment this many days away or more scores no urgency
    waiting_points_per_week: int
    waiting_points_max: int
    base: int

    def max_total(self) -> int:
        """The largest total these weights can give."""
        return (
            self.base
            + max(self.class_points.values())
            + self.need_points_max
            + self.urgency_points_max
            + self.waiting_points_max
        )


DEFAULT_WEIGHTS = PriorityWeights(
    # Steps follow CLASS_STRENGTH (verification/policy.py); pairs the state ranks equal score equal
    # (医保发〔2021〕20号 for 返贫致贫 with 低保, 国办发〔2021〕42号 for 低保边缘 with 监测对象). The class is
    # the largest part: it is the state's own verified finding of hardship.
    class_points=MappingProxyType(
        {
            "tekun": 300,
            "dibao": 250,
            "returned_to_poverty": 250,
            "dibao_edge": 180,
            "monitored": 180,
            "illness_impoverished": 150,
            NO_CLASS: 0,
        }
    ),
    need_points_max=300,
    # Out-of-pocket cost above 40% of a household's capacity to pay is catastrophic (WHO); four years of
    # income per person is far past that for any household size, so the scale saturates there.
    need_full_at_years=4,
    urgency_points_max=200,
    # About one course of chemotherapy or a scheduled surgery's waiting list: money pledged further ahead
    # than that can wait for the next run.
    urgency_window_days=90,
    waiting_points_per_week=5,
    waiting_points_max=100,  # reached after 20 weeks
    base=100,
)


@dataclass(frozen=True, slots=True)
class Priority:
    """A case's weight and the parts it is made of (keys PART_NAMES); total == sum(parts.values())."""

    case_id: int
    total: int
    parts: dict[str, int]


def _need_points(case: CaseProfile, weights: PriorityWeights) -> int:
    top = weights.need_points_max
    if case.need_fen <= 0:
        return 0
    income = case.income_per_capita_fen
    if income is None:
        return top // 2
    if income <= 0:
        return top
    return min(top, case.need_fen * top // (income * weights.need_full_at_years))


def _urgency_points(case: CaseProfile, today: date, weights: PriorityWeights) -> int:
    if case.treatment_date is None:
        return 0
    days = (case.treatment_date - today).days
    window = weights.urgency_window_days
    if days <= 0:
        return weights.urgency_points_max
    if days >= window:
        return 0
    return weights.urgency_points_max * (window - days) // window


def _waiting_points(case: CaseProfile, today: date, weights: PriorityWeights) -> int:
    weeks = max((today - case.waiting_since).days, 0) // 7
    return min(weights.waiting_points_max, weeks * weights.waiting_points_per_week)


def priority(case: CaseProfile, today: date, weights: PriorityWeights = DEFAULT_WEIGHTS) -> Priority:
    """The case's weight on `today`, with its parts."""
    parts = {
        "base": weights.base,
        "civil_affairs_class": weights.class_points.get(case.assistance_class or NO_CLASS, 0),
        "need_to_income": _need_points(case, weights),
        "urgency": _urgency_points(case, today, weights),
        "waiting": _waiting_points(case, today, weights),
    }
    return Priority(case.case_id, sum(parts.values()), parts)


class WeightsError(ValueError):
    """Priority weights that cannot be used, with every problem found in them."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(problem.message for problem in problems))
        self.problems = problems


WEIGHT_FIELDS: tuple[str, ...] = tuple(item.name for item in fields(PriorityWeights))
# Divisors in the formulas above, and the part that keeps every weight positive.
_AT_LEAST_ONE = ("need_full_at_years", "urgency_window_days", "base")


def _read_points(field: str, value: object, problems: list[Problem]) -> int | None:
    # bool is a subclass of int, but `true` is not a number of points.
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(Problem(field, "wrong_type", {"expected": "integer"}))
        return None
    if value < 0:
        problems.append(Problem(field, "weight_negative", {"value": value}))
        return None
    if field in _AT_LEAST_ONE and value < 1:
        problems.append(Problem(field, "weight_not_positive", {"value": value}))
        return None
    return value


def _read_class_points(value: object, problems: list[Problem]) -> Mapping[str, int] | None:
    if not isinstance(value, Mapping):
        problems.append(Problem("class_points", "wrong_type", {"expected": "mapping"}))
        return None
    expected = (*ASSISTANCE_CLASSES, NO_CLASS)
    points: dict[str, int] = {}
    for key, item in value.items():
        if key not in expected:
            problems.append(Problem("class_points", "assistance_class_unknown", {"value": str(key)}))
            continue
        read = _read_points(f"class_points.{key}", item, problems)
        if read is not None:
            points[key] = read
    # Every class must be named: a class left out would silently score like a household with none.
    for key in expected:
        if key not in value:
            problems.append(Problem("class_points", "class_points_missing", {"value": key}))
    return MappingProxyType({key: points[key] for key in expected if key in points})


def weights_from_dict(data: Mapping[str, object]) -> PriorityWeights:
    """Weights from settings: fields left out keep their default; `WeightsError` lists every problem."""
    problems: list[Problem] = []
    for key in data:
        if key not in WEIGHT_FIELDS:
            problems.append(Problem(str(key), "field_unknown", {}))
    class_points: Mapping[str, int] | None = DEFAULT_WEIGHTS.class_points
    if "class_points" in data:
        class_points = _read_class_points(data["class_points"], problems)
    numbers: dict[str, int] = {}
    for field in WEIGHT_FIELDS:
        if field == "class_points":
            continue
        number = (
            _read_points(field, data[field], problems) if field in data else getattr(DEFAULT_WEIGHTS, field)
        )
        if number is not None:
            numbers[field] = number
    if problems or class_points is None:
        raise WeightsError(problems)
    weights = PriorityWeights(
        class_points=class_points,
        need_points_max=numbers["need_points_max"],
        need_full_at_years=numbers["need_full_at_years"],
        urgency_points_max=numbers["urgency_points_max"],
        urgency_window_days=numbers["urgency_window_days"],
        waiting_points_per_week=numbers["waiting_points_per_week"],
        waiting_points_max=numbers["waiting_points_max"],
        base=numbers["base"],
    )
    if weights.max_total() > MAX_TOTAL:
        problem = Problem("weights", "total_too_high", {"value": weights.max_total(), "limit": MAX_TOTAL})
        raise WeightsError([problem])
    return weights


def weights_to_dict(weights: PriorityWeights) -> dict[str, int | dict[str, int]]:
    """The weights as JSON-safe data in declaration order; `weights_from_dict` reads them back."""
    data: dict[str, int | dict[str, int]] = {}
    for field in WEIGHT_FIELDS:
        value = getattr(weights, field)
        data[field] = dict(value) if field == "class_points" else value
    return data

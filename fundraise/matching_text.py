"""Matching in plain words, in the reader's language.

The pure core (matching/) gives every rule problem, rule check and binding constraint as a code with
parameters, with English defaults for tests and logs. This module holds the translatable text for each code
and fills in the parameters the way people read them: money in yuan, classes, tiers and disease categories
by name. Offer and project states, run stages and the withdrawal reasons a run writes are here too, so the
pages, the API's labels and the e-mails say the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flask_babel import format_date
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape

from fundraise.i18n import locale_name
from fundraise.money import format_yuan
from fundraise.services.search import category_label
from fundraise.verification_text import ASSISTANCE_CLASSES
from matching.eligibility import RuleCheck
from matching.rules import MAX_AGE, Problem

TIER_NAMES = {"tertiary": _l("tertiary"), "secondary": _l("secondary"), "primary": _l("primary")}

FIELD_NAMES = {
    "icd10_prefixes": _l("ICD-10 codes"),
    "disease_categories": _l("Diseases"),
    "min_age": _l("Youngest age"),
    "max_age": _l("Oldest age"),
    "region_prefixes": _l("Regions"),
    "assistance_classes": _l("Civil-affairs classes"),
    "max_income_per_capita_fen": _l("Highest yearly household income per person"),
    "hospital_tiers": _l("Hospital tiers"),
}

PROBLEMS = {
    "field_unknown": _l("This is not a rule condition."),
    "wrong_type": _l("This value has the wrong form."),
    "icd10_prefix_invalid": _l("%(value)s is not an ICD-10 code prefix such as C91, Q2 or C91.0."),
    "category_invalid": _l("%(value)s is not a disease in the catalogue."),
    "region_prefix_invalid": _l(
        "%(value)s is not a region-code prefix of 2, 4 or 6 digits such as 51 or 3401."
    ),
    "assistance_class_unknown": _l("%(value)s is not a civil-affairs class."),
    "hospital_tier_unknown": _l("%(value)s is not a hospital tier."),
    "age_negative": _l("An age cannot be negative."),
    "age_too_high": _l("An age above %(max_age)s is not a real bound."),
    "age_range_contradictory": _l(
        "The youngest age %(min_age)s is above the oldest age %(max_age)s: nobody qualifies."
    ),
    "income_ceiling_negative": _l("The income ceiling cannot be negative."),
    "duplicate": _l("%(value)s is listed twice."),
    "rule_empty": _l("Set at least one condition: a project must say whom it helps."),
    "budget_not_positive": _l("The budget must be more than zero."),
    "cap_not_positive": _l("The most for one case must be more than zero."),
    "cap_above_budget": _l(
        "The most for one case (%(per_case_cap)s) is more than the whole budget (%(budget)s)."
    ),
    "window_reversed": _l("The project would close before it opens."),
}

CHECKS = {
    "icd10_in": _l("The diagnosis %(icd10)s is under %(prefixes)s."),
    "icd10_outside": _l("The diagnosis %(icd10)s is not under %(prefixes)s."),
    "icd10_unknown": _l("The case has no diagnosis code to compare with %(prefixes)s."),
    "category_in": _l("The disease (%(disease_category)s) is one the project covers: %(categories)s."),
    "category_outside": _l(
        "The disease (%(disease_category)s) is not one the project covers: %(categories)s."
    ),
    "category_unknown": _l("The case's disease is not in the catalogue; the project covers %(categories)s."),
    "diagnosis_outside": _l(
        "The diagnosis (%(icd10)s, %(disease_category)s) is neither under %(prefixes)s nor one of %(categories)s."
    ),
    "age_in_range": _l("The patient is %(age)s, within the ages %(ages)s."),
    "age_outside_range": _l("The patient is %(age)s, outside the ages %(ages)s."),
    "age_unknown": _l("The patient's age is not known, so it cannot be shown to be within %(ages)s."),
    "region_in": _l("The patient lives in %(region_code)s, within %(prefixes)s."),
    "region_outside": _l("The patient lives in %(region_code)s, outside %(prefixes)s."),
    "region_unknown": _l("The case has no region to compare with %(prefixes)s."),
    "class_in": _l("The household's civil-affairs class (%(assistance_class)s) is one the project serves."),
    "class_outside": _l(
        "The household's civil-affairs class (%(assistance_class)s) is not one the project serves: %(classes)s."
    ),
    "class_none": _l("The household has no civil-affairs class on record; the project serves %(classes)s."),
    "income_within": _l(
        "Household income per person (%(income_per_capita)s a year) is at most %(max_income_per_capita)s."
    ),
    "income_above": _l(
        "Household income per person (%(income_per_capita)s a year) is above %(max_income_per_capita)s."
    ),
    "income_undisclosed": _l(
        "The household's income was not disclosed, so it cannot be shown to be at most %(max_income_per_capita)s per person."
    ),
    "tier_in": _l("The hospital is %(hospital_tier)s, a tier the project covers."),
    "tier_outside": _l("The hospital is %(hospital_tier)s; the project covers %(tiers)s hospitals."),
    "tier_unknown": _l("The case has no hospital to compare with %(tiers)s."),
}

# Why an offer (or the run's allocation for a pair) is this amount and not more.
BOUNDS = {
    "need_filled": _l("The case's remaining need (%(need)s) is fully covered."),
    "per_case_cap": _l("This is the most for one case (%(cap)s)."),
    "no_budget": _l("The project had no free budget left."),
    "budget_exhausted": _l(
        "The project's budget (%(budget)s) is all given, to uses that weigh as much as this case's need or more."
    ),
    "spread": _l(
        "Part of this case's need is covered; the rest of the budget went to the first part of other families' need, which weighs more, so a small budget helps more families."
    ),
    "higher_priority": _l("The project's budget (%(budget)s) went to cases with a higher priority."),
}

PRIORITY_PARTS = {
    "base": _l("Every case"),
    "civil_affairs_class": _l("Civil-affairs class"),
    "need_to_income": _l("Need against income"),
    "urgency": _l("Urgency of treatment"),
    "waiting": _l("Time waiting"),
}

OFFER_STATUSES = {
    "pending": _l("Waiting for approval"),
    "approved": _l("Approved"),
    "declined": _l("Declined"),
    "expired": _l("Expired"),
    "withdrawn": _l("Withdrawn"),
}
OFFER_TONES = {
    "pending": "warn",
    "approved": "ok",
    "declined": "bad",
    "expired": "muted",
    "withdrawn": "muted",
}
PROJECT_STATUSES = {"open": _l("Open to new cases"), "paused": _l("Paused"), "closed": _l("Closed for good")}
PROJECT_TONES = {"open": "ok", "paused": "warn", "closed": "muted"}
RUN_STATUSES = {
    "queued": _l("Queued"),
    "running": _l("Running"),
    "succeeded": _l("Done"),
    "failed": _l("Failed"),
}
RUN_TONES = {"queued": "info", "running": "info", "succeeded": "ok", "failed": "bad"}
RUN_STAGES = {
    "queued": _l("Waiting to start"),
    "loading": _l("Reading cases and projects"),
    "solving": _l("Finding the best allocation"),
    "writing": _l("Writing offers"),
    "done": _l("Done"),
    "failed": _l("Failed"),
}
WITHDRAWN = {
    "project_not_open": _l("The project is no longer open."),
    "project_paused": _l("The project was paused."),
    "project_closed": _l("The project was closed."),
    "case_not_matchable": _l("The case no longer takes support (its need is met or it left fundraising)."),
    "no_longer_eligible": _l("The case no longer meets the project's rules."),
    "need_fell": _l("Donations covered part of the need, so the offers were worked out again."),
}
NOT_MATCHABLE = {
    "need_met": _l("Donations and approved support already cover this case's target."),
    "not_verified": _l("Only verified cases that are raising money are matched."),
}
CHANGES = {"new": _l("New offer"), "withdrawn": _l("Withdrawn"), "expired": _l("Expired")}
BUDGET_MOVEMENTS = {
    "relief project deposit": _l("Deposit from the charity"),
    "relief offer approved": _l("Committed to a case"),
    "relief project closed: budget returned": _l("Returned to the charity"),
}


def _join(items: Iterable[object]) -> str:
    """A list as the reader writes one: 甲、乙 in Chinese, "a, b" in English."""
    return ("、" if locale_name().startswith("zh") else ", ").join(str(item) for item in items)


def _items(joined: object) -> list[str]:
    return [item.strip() for item in str(joined or "").split(",") if item.strip()]


def _names(joined: object, names: Mapping[str, Any]) -> str:
    """A comma-joined list of codes as names in the reader's language."""
    return _join(names.get(item, item) for item in _items(joined))


def _categories(joined: object) -> str:
    return _join(category_label(item, locale_name()) for item in _items(joined))


def _ages(params: Mapping[str, Any]) -> str:
    low, high = int(params.get("min_age") or 0), int(params.get("max_age") or MAX_AGE)
    if high >= MAX_AGE:
        return str(_l("%(low)d and over", low=low))
    if low <= 0:
        return str(_l("up to %(high)d", high=high))
    return str(_l("%(low)d to %(high)d", low=low, high=high))


def _readable(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters as people read them."""
    out = dict(params)
    if "categories" in params:
        out["categories"] = _categories(params["categories"])
    if params.get("disease_category"):
        out["disease_category"] = category_label(str(params["disease_category"]), locale_name())
    if "classes" in params:
        out["classes"] = _names(params["classes"], ASSISTANCE_CLASSES)
    if params.get("assistance_class"):
        out["assistance_class"] = ASSISTANCE_CLASSES.get(
            str(params["assistance_class"]), params["assistance_class"]
        )
    if "tiers" in params:
        out["tiers"] = _names(params["tiers"], TIER_NAMES)
    if params.get("hospital_tier"):
        out["hospital_tier"] = TIER_NAMES.get(str(params["hospital_tier"]), params["hospital_tier"])
    if "prefixes" in params:
        out["prefixes"] = _join(_items(params["prefixes"]))
    if "min_age" in params or "max_age" in params:
        out["ages"] = _ages(params)
    for key, value in params.items():
        # Money: `need_fen` is also there as `need`, in yuan.
        if key.endswith("_fen") and isinstance(value, int) and not isinstance(value, bool):
            out[key.removesuffix("_fen")] = format_yuan(value)
    return out


def _fill(template: Any, params: Mapping[str, Any]) -> str:
    try:
        return str(template % _readable(params)) if params else str(template)
    except (KeyError, TypeError, ValueError):
        return str(template)


def problem_text(problem: Problem) -> str:
    return _fill(PROBLEMS.get(problem.code, problem.code), {"value": "", **problem.params})


def problem_fields(problems: Iterable[Problem], prefix: str = "") -> dict[str, list[str]]:
    """Problems as a service's field errors (the field name with `prefix`), in the reader's language."""
    fields: dict[str, list[str]] = {}
    for problem in problems:
        # A problem with the rule as a whole is already named `rules`.
        name = problem.field if f"{problem.field}." == prefix else f"{prefix}{problem.field}"
        fields.setdefault(name, []).append(problem_text(problem))
    return fields


def rule_check_text(check: RuleCheck) -> str:
    return _fill(CHECKS.get(check.code, check.code), check.params)


def bound_text(code: str | None, params: Mapping[str, Any] | None = None) -> str:
    return _fill(BOUNDS.get(code or "", code or ""), params or {}) if code else ""


def rule_summary(rule: Mapping[str, Any]) -> list[str]:
    """A stored rule as the lines a person reads on the project's page."""
    lines = []
    diseases = _join(category_label(c, locale_name()) for c in rule.get("disease_categories", []))
    codes = _join(rule.get("icd10_prefixes", []))
    if diseases and codes:
        lines.append(
            str(
                _l(
                    "Diseases: %(diseases)s, or ICD-10 codes under %(codes)s",
                    diseases=diseases,
                    codes=codes,
                )
            )
        )
    elif diseases:
        lines.append(str(_l("Diseases: %(diseases)s", diseases=diseases)))
    elif codes:
        lines.append(str(_l("ICD-10 codes under %(codes)s", codes=codes)))
    if rule.get("min_age") is not None or rule.get("max_age") is not None:
        lines.append(str(_l("Ages %(ages)s", ages=_ages(rule))))
    if rule.get("region_prefixes"):
        lines.append(str(_l("Regions %(prefixes)s", prefixes=_join(rule["region_prefixes"]))))
    if rule.get("assistance_classes"):
        lines.append(
            str(
                _l(
                    "Households in %(classes)s",
                    classes=_names(",".join(rule["assistance_classes"]), ASSISTANCE_CLASSES),
                )
            )
        )
    if rule.get("max_income_per_capita_fen") is not None:
        lines.append(
            str(
                _l(
                    "Household income at most %(amount)s a year per person",
                    amount=format_yuan(rule["max_income_per_capita_fen"]),
                )
            )
        )
    if rule.get("hospital_tiers"):
        lines.append(
            str(_l("At %(tiers)s hospitals", tiers=_names(",".join(rule["hospital_tiers"]), TIER_NAMES)))
        )
    return lines


def _badge(label: Any, tone: str) -> Markup:
    return Markup('<span class="badge badge-{}">{}</span>').format(tone, escape(str(label)))


def template_globals() -> dict[str, Any]:
    """What the relief, family and campaign pages call."""
    return {
        "rule_check_text": rule_check_text,
        "bound_text": bound_text,
        "rule_summary": rule_summary,
        "priority_part_label": lambda name: PRIORITY_PARTS.get(name, name),
        "offer_status_label": lambda status: OFFER_STATUSES.get(status, status),
        "offer_status_badge": lambda status: _badge(
            OFFER_STATUSES.get(status, status), OFFER_TONES.get(status, "muted")
        ),
        "project_status_badge": lambda status: _badge(
            PROJECT_STATUSES.get(status, status), PROJECT_TONES.get(status, "muted")
        ),
        "run_status_badge": lambda run: _badge(
            RUN_STATUSES.get(run.status, run.status), RUN_TONES.get(run.status, "muted")
        ),
        "run_stage_label": lambda stage: RUN_STAGES.get(stage, stage),
        "withdrawn_text": lambda code: WITHDRAWN.get(code, code),
        "not_matchable_text": lambda code: NOT_MATCHABLE.get(code, code),
        "change_label": lambda change: CHANGES.get(change.get("change"), change.get("change")),
        "budget_movement_label": lambda line: BUDGET_MOVEMENTS.get(
            line.transaction.memo, line.transaction.memo
        ),
        "project_window": _window,
    }


def _window(project: Any) -> str:
    if project.opens_on and project.closes_on:
        return str(
            _l(
                "open %(start)s to %(end)s",
                start=format_date(project.opens_on),
                end=format_date(project.closes_on),
            )
        )
    if project.opens_on:
        return str(_l("open from %(start)s", start=format_date(project.opens_on)))
    return str(_l("open until %(end)s", end=format_date(project.closes_on)))

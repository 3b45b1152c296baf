"""The verification report in plain words, in the reader's language.

The pure core (verification/report.py, verification/coverage.py) gives every check result and cascade step a
reason code with parameters, and English defaults for tests and logs. This module holds the translatable text
for each code (English source, translated through Flask-Babel like every other page string) and fills in the
parameters the way people read them: money in yuan, rates in percent, classes and schemes by name, dates in
the reader's format.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from flask_babel import format_date
from flask_babel import lazy_gettext as _l

from fundraise.extensions import db
from fundraise.i18n import locale_name
from fundraise.models import VerificationReport
from fundraise.money import format_yuan
from fundraise.services.search import category_label
from verification.coverage import CascadeStep, format_rate
from verification.report import Assumption, CheckResult, report_from_dict
from verification.report import VerificationReport as CoreReport

# What each check is about, as a heading.
CHECK_NAMES = {
    "identity_number": _l("Identity number"),
    "identity_records": _l("Identity in the records"),
    "enrolment": _l("Basic medical insurance"),
    "civil_affairs": _l("Civil-affairs assistance"),
    "duplicate_campaign": _l("Other campaigns for the patient"),
    "hospital": _l("Hospital and stay"),
    "referral": _l("Referral and filing for treatment elsewhere"),
    "cost": _l("Cost of treatment"),
    "disclosure": _l("Disclosed household finances"),
    "need": _l("Remaining need"),
    "target": _l("Target"),
}

STATUS_LABELS = {
    "pass": _l("Passed"),
    "fail": _l("Failed"),
    "needs_review": _l("Needs review"),
    "not_checked": _l("Not checked"),
}
# Not checked is neither good nor bad news: it is shown neutrally.
STATUS_TONES = {"pass": "ok", "fail": "bad", "needs_review": "warn", "not_checked": "muted"}
DECISION_LABELS = {
    "verified": _l("Verified"),
    "needs_review": _l("Needs a reviewer"),
    "rejected": _l("Not approved"),
    # A case the checks sent to review, once the reviewer has decided it (the campaign's state says which).
    "reviewer_approved": _l("Approved by a reviewer"),
    "reviewer_rejected": _l("Not approved by a reviewer"),
}
DECISION_TONES = {
    "verified": "ok",
    "needs_review": "warn",
    "rejected": "bad",
    "reviewer_approved": "ok",
    "reviewer_rejected": "bad",
}
# The campaign's state says what a reviewer made of a case the checks sent to review: the state machine is
# the one source of truth for where a case stands, and a report never contradicts it.
REVIEWED_STATES = {
    "verified": "approved",
    "fundraising": "approved",
    "closed": "approved",
    "suspended": "approved",
    "rejected": "rejected",
}


def reviewer_decision(report_decision: str, campaign_state: str) -> str | None:
    """What a reviewer made of a case the checks sent to review ("approved", "rejected"), or None."""
    if report_decision != "needs_review":
        return None
    return REVIEWED_STATES.get(str(campaign_state))


TRIGGER_LABELS = {
    "submission": _l("On submission"),
    "records_import": _l("After a records import"),
    "manual": _l("Run again by hand"),
}

ASSISTANCE_CLASSES = {
    "tekun": _l("extreme-poverty support (tekun)"),
    "dibao": _l("minimum living allowance (dibao)"),
    "returned_to_poverty": _l("fell back into poverty"),
    "dibao_edge": _l("low-income marginal household (dibao bianyuan)"),
    "monitored": _l("household monitored against returning to poverty"),
    "illness_impoverished": _l("impoverished by serious illness"),
}
SCHEMES = {"employee": _l("employee"), "resident": _l("urban-rural resident")}
ID_RULES = {
    "length": _l("length"),
    "characters": _l("characters"),
    "region": _l("region code"),
    "birth_date": _l("birth date"),
    "check_digit": _l("check digit"),
}
MISMATCHES = {
    "birth date": _l("birth date"),
    "sex": _l("sex"),
    "birth date and sex": _l("birth date and sex"),
}
DISCLOSURE_FIELDS = {"household_size": _l("household size"), "income": _l("income")}
LOCATIONS = {
    "in_region": _l("in the patient's own pooling region"),
    "in_province": _l("another city of the same province"),
    "out_of_province": _l("another province"),
}
FILED_WORDS: dict[int, Any] = {1: _l("made"), 0: _l("not made")}
CONFIRMED_WORDS: dict[int, Any] = {1: _l(", confirmed by the hospital"), 0: _l(", as the family says")}

# One message per reason code of verification/report.py (CHECK_MESSAGES), with the same parameters.
CHECK_TEXTS = {
    "id_valid": _l("The identity number is well-formed and agrees with the declared birth date and sex."),
    "id_malformed": _l("The identity number is not well-formed (its %(error)s is wrong)."),
    "id_inconsistent": _l("The identity number does not agree with the declared %(mismatch)s."),
    "records_match": _l(
        "The insurance and civil-affairs records for this identity number carry the patient's name."
    ),
    "records_not_found": _l(
        "No insurance or civil-affairs record was found for this identity number; a reviewer must confirm who"
        " the patient is."
    ),
    "name_mismatch": _l(
        "Record %(source_record_id)s for this identity number is in the name of %(record_name)s, not"
        " %(patient_name)s; a reviewer must confirm who the patient is."
    ),
    "enrolment_active": _l(
        "Basic medical insurance (%(scheme)s scheme, pooling region %(pooling_region)s) was active on the"
        " treatment date."
    ),
    "enrolment_lapsed": _l(
        "The patient's basic medical insurance was not active on the treatment date %(treatment_date)s; the gap"
        " is computed without insurance until a reviewer confirms."
    ),
    "enrolment_not_found": _l(
        "No basic medical insurance enrolment was found; the gap is computed without insurance until a reviewer"
        " confirms."
    ),
    "enrolment_other_region": _l(
        "The active enrolment is in pooling region %(pooling_region)s, but the rules applied are those of"
        " %(policy_region)s; a reviewer must check which rules apply."
    ),
    "no_status": _l("No civil-affairs assistance status was found; the gap assumes no medical assistance."),
    "status_not_valid": _l(
        "The civil-affairs status (%(assistance_class)s) was not valid on the treatment date"
        " %(treatment_date)s; the gap assumes no medical assistance."
    ),
    "class_valid": _l(
        "The civil-affairs status (%(assistance_class)s) was valid on the treatment date; medical assistance"
        " is counted in the gap."
    ),
    "assistance_first": _l(
        "The patient's civil-affairs status (%(assistance_class)s) entitles the family to about %(assistance)s"
        " of medical assistance that has not been claimed. Please claim it first, from the civil-affairs office"
        " or through the hospital's one-stop settlement. The gap and the target already leave it out, so donors"
        " are not asked for money the family is entitled to."
    ),
    "referral_not_needed": _l(
        "The hospital is in the patient's pooling region, so no referral or filing is needed."
    ),
    "referral_not_stated": _l(
        "The hospital is outside the patient's pooling region and the filing form does not say whether the"
        " referral/filing (转诊/异地就医备案) was made; the gap assumes it was not until a reviewer checks."
    ),
    "referral_unconfirmed": _l(
        "The hospital is outside the patient's pooling region; the family says the referral/filing was"
        " %(filed_word)s, which the hospital's social worker has not confirmed, so a reviewer must check it."
    ),
    "referral_confirmed": _l(
        "The hospital is outside the patient's pooling region; the hospital's social worker confirmed the"
        " referral/filing was %(filed_word)s."
    ),
    "no_other_campaign": _l("The patient has no other active campaign."),
    "other_active_campaigns": _l("The patient already has %(count)s other active campaign(s)."),
    "hospital_confirmed": _l(
        "The hospital is registered and its social worker confirmed the stay and the cost."
    ),
    "hospital_not_registered": _l(
        "The hospital is not in the registry, so no payout could be made to it; choose a registered hospital"
        " or ask us to add it."
    ),
    "stay_not_confirmed": _l(
        "The hospital's social worker has not confirmed the stay and the cost; a reviewer must check them with"
        " the hospital."
    ),
    "cost_plausible": _l(
        "The cost %(total_cost)s is within the usual range for %(category)s (%(cost_min)s to %(cost_max)s)."
    ),
    "cost_above_range": _l(
        "The cost %(total_cost)s is above the usual range for %(category)s (%(cost_min)s to %(cost_max)s); a"
        " reviewer must check the treatment plan."
    ),
    "cost_far_below_range": _l(
        "The cost %(total_cost)s is far below the usual range for %(category)s (%(cost_min)s to"
        " %(cost_max)s); a reviewer must check the treatment plan."
    ),
    "disease_not_in_catalogue": _l(
        "The diagnosis is not in the critical-illness catalogue, so the cost cannot be compared; a reviewer"
        " must check it."
    ),
    "disclosure_consistent": _l(
        "The disclosed household size and income agree with the civil-affairs record."
    ),
    "disclosure_no_record": _l(
        "There is no valid civil-affairs record to compare the disclosed finances with."
    ),
    "disclosure_mismatch": _l(
        "The disclosed finances differ from the civil-affairs record (%(fields)s): a household of"
        " %(disclosed_household_size)s disclosed, %(record_household_size)s on record; a yearly income of"
        " %(disclosed_income)s disclosed, %(record_income)s on record."
    ),
    "remaining_need": _l(
        "Savings, commercial insurance and other fundraising (%(resources)s) leave %(remaining)s of the"
        " %(gap)s gap to raise."
    ),
    "no_remaining_need": _l(
        "Savings, commercial insurance and other fundraising (%(resources)s) already cover the %(gap)s gap,"
        " so there is no remaining need to raise."
    ),
    "target_within_limits": _l("The target %(target)s is within the gap and the platform's limit."),
    "target_capped_to_gap": _l("The target was lowered from %(from)s to %(to)s, the verified gap."),
    "target_capped_to_platform_limit": _l(
        "The target was lowered from %(from)s to %(to)s, the 500,000-yuan limit for a single request."
    ),
}

STEP_NAMES = {
    "out_of_policy": _l("Outside the insurance catalogue"),
    "basic": _l("Basic medical insurance"),
    "critical_illness": _l("Critical-illness insurance"),
    "assistance": _l("Medical assistance"),
}
# Messages for the cascade steps, by (step, reason) with "*" for any step; the parameters are the step's.
STEP_TEXTS = {
    ("out_of_policy", "never_covered"): _l(
        "%(applies_to)s of the cost is outside the insurance catalogue; no public tier pays it, so all of it"
        " is in the gap."
    ),
    ("basic", "not_enrolled"): _l(
        "No active basic medical insurance enrolment, so basic insurance pays nothing."
    ),
    ("critical_illness", "not_enrolled"): _l(
        "Critical-illness insurance needs an active basic insurance enrolment, so it pays nothing."
    ),
    ("critical_illness", "not_entitled"): _l(
        "No critical-illness insurance entitlement was found, so it pays nothing."
    ),
    ("assistance", "no_assistance_class"): _l(
        "The patient has no valid civil-affairs assistance class, so medical assistance pays nothing."
    ),
    ("basic", "paid"): _l(
        "Basic medical insurance pays %(rate)s of %(base)s (the in-policy cost %(applies_to)s above the"
        " %(deductible)s deductible): %(paid)s."
    ),
    ("critical_illness", "paid"): _l(
        "Critical-illness insurance pays banded rates on %(base)s (the %(applies_to)s left after basic"
        " insurance, above the %(deductible)s still left of its yearly deductible): %(paid)s."
    ),
    ("assistance", "paid"): _l(
        "Medical assistance pays %(rate)s of %(base)s (the %(applies_to)s still self-paid, above the"
        " %(deductible)s still left of its yearly deductible): %(paid)s."
    ),
    ("assistance", "unfiled_out_of_region"): _l(
        "The treatment is outside the pooling region without referral/filing, which medical assistance does"
        " not cover under the region's rules, so it pays nothing."
    ),
    ("*", "capped"): _l("%(step)s reaches its annual cap and pays what is left of it: %(paid)s."),
    ("*", "cap_exhausted"): _l(
        "%(step)s has already paid up to its annual cap this year, so it pays nothing more."
    ),
    ("*", "below_deductible"): _l(
        "%(step)s pays nothing: the %(applies_to)s it considers does not exceed its %(deductible)s deductible."
    ),
}

# What the figures rest on, one message per assumption code of verification/report.py (ASSUMPTION_MESSAGES).
ASSUMPTION_TEXTS = {
    "in_region": _l(
        "The hospital is in the patient's pooling region (%(policy_region)s); its in-region rates apply."
    ),
    "referral_filed": _l(
        "Treated outside the pooling region (%(location_word)s) with referral/filing%(confirmed_word)s;"
        " medical assistance pays %(assistance_share)s of its usual amount."
    ),
    "referral_not_filed": _l(
        "Treated outside the pooling region (%(location_word)s) without referral/filing%(confirmed_word)s;"
        " medical assistance pays %(assistance_share)s of its usual amount."
    ),
    "referral_assumed_not_filed": _l(
        "Treated outside the pooling region (%(location_word)s); nobody has said whether the referral/filing"
        " was made, so the figures assume it was not, and medical assistance pays %(assistance_share)s of its"
        " usual amount."
    ),
    "basic_rate_filed": _l("Basic insurance pays its out-of-region rate for a filed stay: %(basic_rate)s."),
    "basic_rate_not_filed": _l(
        "Basic insurance pays its lower out-of-region rate for a stay without filing: %(basic_rate)s."
    ),
    "ytd_none": _l(
        "No payment or self-pay earlier this year is on record, so every yearly deductible is counted in full."
    ),
    "ytd_recorded": _l(
        "Earlier this year, on record: basic insurance paid %(basic_paid)s, critical-illness insurance"
        " %(critical_illness_paid)s, medical assistance %(assistance_paid)s, and the patient's in-policy"
        " self-pay after basic insurance was %(self_pay)s; the yearly deductibles and bands continue from"
        " there."
    ),
    "ytd_self_pay_floor": _l(
        "Earlier this year, on record: basic insurance paid %(basic_paid)s, critical-illness insurance"
        " %(critical_illness_paid)s, medical assistance %(assistance_paid)s. The records do not state the"
        " self-pay, so at least %(self_pay)s is assumed (the least those payments imply); the yearly"
        " deductibles and bands continue from there."
    ),
    "ytd_dated_after_treatment": _l(
        "Some year-to-date figures on record are dated %(as_of)s, after the treatment began"
        " (%(treatment_date)s), so they may include this treatment and were not used."
    ),
    "ytd_earlier_year": _l(
        "Some year-to-date figures on record are of an earlier year (dated %(as_of)s), so they do not count"
        " towards %(year)s's deductibles and were not used."
    ),
    "deductible_per_admission": _l(
        "Basic insurance charges its deductible of %(deductible)s for each of the %(admissions)s admission(s)"
        " planned this year."
    ),
    "deductible_per_year": _l(
        "Basic insurance charges its deductible of %(deductible)s once a year; what earlier stays this year"
        " met is counted."
    ),
    "year_split": _l(
        "The plan runs into %(next_year)s: %(next_year_cost)s of the cost (%(next_year_in_policy)s in-policy,"
        " in the same proportion) and %(next_year_admissions)s admission(s) fall in %(next_year)s, when the"
        " yearly deductibles and caps start again. The patient is assumed to stay enrolled and keep the same"
        " civil-affairs class."
    ),
    "next_year_rules_missing": _l(
        "The rules for %(next_year)s are not published yet, so those of %(year)s are applied to the part in"
        " %(next_year)s."
    ),
}

CAP_REASONS = {
    "gap": _l("the verified gap"),
    "platform_limit": _l("the 500,000-yuan limit for a single request"),
}

PROBLEM_TEXTS = {
    "no_policy": _l(
        "There are no benefit rules on file for the patient's region (%(region)s) in %(year)s, so the gap"
        " cannot be computed automatically; a reviewer will check the case."
    ),
    "records_unavailable": _l(
        "The insurance and civil-affairs records service could not be reached, so the records could not be"
        " checked; a reviewer will check the case or run the checks again."
    ),
}


CAP_TEXT = _l("The target was lowered from %(from)s to %(to)s: %(reason)s.")
SUMMARY_VERIFIED = _l(
    "Verified automatically: every check that could be made against the insurance and civil-affairs records"
    " passed."
)
SUMMARY_NOT_CHECKED = _l("Not checked, because there was nothing on file to check against: %(checks)s.")
SUMMARY_REJECTED = _l("Not approved by the automatic checks: %(reasons)s")
SUMMARY_TO_REVIEW = _l("A charity reviewer will look at the case: %(reasons)s")

# Translations of the messages above, by (locale, message): verifying a batch formats thousands of messages,
# and a Flask-Babel lookup costs more than the formatting. The messages are module constants, so their ids
# are stable for the life of the process.
_TRANSLATED: dict[tuple[str, int], str] = {}


def _text(message: Any) -> str:
    """A message of this module (a lazy string) in the active locale."""
    key = (locale_name(), id(message))
    found = _TRANSLATED.get(key)
    if found is None:
        found = _TRANSLATED[key] = str(message)
    return found


class _Shown(dict[str, Any]):
    """Parameters for a message; a parameter a stored report lacks shows as a dash instead of failing."""

    def __missing__(self, key: str) -> str:
        return "—"


def _day(value: str) -> str:
    try:
        return str(format_date(date.fromisoformat(value), "medium"))
    except ValueError:
        return value


def shown_params(params: Mapping[str, str | int]) -> _Shown:
    """A result's parameters as people read them: yuan, percent, names of classes, schemes and categories."""

    shown = _Shown(params)
    for key, value in params.items():
        if isinstance(value, int) and not isinstance(value, bool):
            if key.endswith("_fen"):
                shown[key.removesuffix("_fen")] = format_yuan(value)
            elif key.endswith("_bp"):
                shown[key.removesuffix("_bp")] = format_rate(value)
    words = {
        "assistance_class": ASSISTANCE_CLASSES,
        "scheme": SCHEMES,
        "error": ID_RULES,
        "mismatch": MISMATCHES,
    }
    for key, labels in words.items():
        if isinstance(params.get(key), str):
            label = labels.get(str(params[key]))
            shown[key] = _text(label) if label is not None else params[key]
    if isinstance(params.get("fields"), str):
        shown["fields"] = ", ".join(
            _text(DISCLOSURE_FIELDS[name]) if name in DISCLOSURE_FIELDS else name
            for name in str(params["fields"]).split(",")
        )
    if isinstance(params.get("category"), str):
        shown["category"] = category_label(str(params["category"]), locale_name())
    for key in ("treatment_date", "as_of"):
        if isinstance(params.get(key), str):
            shown[key] = _day(str(params[key]))
    if isinstance(params.get("location"), str):
        location = LOCATIONS.get(str(params["location"]))
        shown["location_word"] = _text(location) if location is not None else params["location"]
    for name, flags in (("filed", FILED_WORDS), ("confirmed", CONFIRMED_WORDS)):
        flag = params.get(name)
        if isinstance(flag, int) and flag in flags:
            shown[f"{name}_word"] = _text(flags[flag])
    return shown


def check_name(code: str) -> str:
    return _text(CHECK_NAMES[code]) if code in CHECK_NAMES else code


def check_message(result: CheckResult) -> str:
    """The reason of a check result in the reader's language."""
    text = CHECK_TEXTS.get(result.reason_code)
    if text is None:  # a code newer than this catalogue: the core's English default
        return result.message
    return _text(text) % shown_params(result.params)


def step_message(step: CascadeStep, *, with_year: bool = False) -> str:
    """A cascade step in words; `with_year` prefixes the year, for a plan split by year."""
    text = STEP_TEXTS.get((step.code, step.reason_code)) or STEP_TEXTS.get(("*", step.reason_code))
    if text is None:
        message = step.message
    else:
        shown = shown_params(step.params)
        shown["step"] = _text(STEP_NAMES[step.code]) if step.code in STEP_NAMES else step.code
        message = _text(text) % shown
    if with_year and step.year is not None:
        return _text(YEAR_PREFIX) % {"year": step.year, "message": message}
    return message


YEAR_PREFIX = _l("%(year)s: %(message)s")


def assumption_message(assumption: Assumption) -> str:
    """What the figures rest on, in the reader's language."""
    text = ASSUMPTION_TEXTS.get(assumption.code)
    if text is None:  # a code newer than this catalogue: the core's English default
        return assumption.message
    return _text(text) % shown_params(assumption.params)


def problem_message(problem: str, region: str, year: int) -> str:
    text = PROBLEM_TEXTS.get(problem)
    return _text(text) % {"region": region, "year": year} if text else problem


def cap_message(from_fen: int, to_fen: int, reason: str) -> str:
    return _text(CAP_TEXT) % {
        "from": format_yuan(from_fen),
        "to": format_yuan(to_fen),
        "reason": _text(CAP_REASONS[reason]) if reason in CAP_REASONS else reason,
    }


def summary(report: CoreReport) -> str:
    """The plain-words reason a system decision carries into the campaign's history and notifications."""
    if report.decision == "verified":
        text = _text(SUMMARY_VERIFIED)
    else:
        status = "fail" if report.decision == "rejected" else "needs_review"
        reasons = " ".join(check_message(result) for result in report.checks if result.status == status)
        summary_text = SUMMARY_REJECTED if report.decision == "rejected" else SUMMARY_TO_REVIEW
        text = _text(summary_text) % {"reasons": reasons}
    unchecked = [check_name(result.code) for result in report.checks if result.status == "not_checked"]
    if unchecked:
        text += " " + _text(SUMMARY_NOT_CHECKED) % {"checks": ", ".join(unchecked)}
    target = report.check("target")
    if report.cap_reason is not None and report.decision != "rejected":
        text += " " + check_message(target)
    return text


def problem_summary(problem: str, region: str, year: int) -> str:
    return _text(SUMMARY_TO_REVIEW) % {"reasons": problem_message(problem, region, year)}


# A state change the checks made carries this reason, and the report's summary is written out when someone
# reads it, in their language (the page, the e-mail, the API): what the system says is stored as a code.
REPORT_REASON = "@verification-report:"
# The reason a close-out closes fundraising with, when the family left no note.
CLOSE_OUT_REASON = "@close-out"
# A campaign cancelled because the family withdrew consent to processing (fundraise.services.consents).
CONSENT_WITHDRAWN_REASON = "@consent-withdrawn"


def report_reason(report_id: int) -> str:
    """The stored reason of a state change the checks decided: a reference to their report."""
    return f"{REPORT_REASON}{report_id}"


def reason_text(reason: str | None) -> str:
    """A state change's reason as the reader reads it: a person's words as written; the checks' reason as the
    summary of their report, in the reader's language."""
    if reason == CLOSE_OUT_REASON:
        return str(_l("Treatment is over: the final bill was sent and fundraising closed."))
    if reason == CONSENT_WITHDRAWN_REASON:
        return str(_l("The family withdrew consent to the processing of the patient's information."))
    if not reason or not reason.startswith(REPORT_REASON):
        return reason or ""
    report_id = reason.removeprefix(REPORT_REASON)
    stored = db.session.get(VerificationReport, int(report_id)) if report_id.isdigit() else None
    if stored is None:
        return ""
    if stored.report is not None:
        return summary(report_from_dict({**stored.report, "records_snapshot": {}}))
    return problem_summary(stored.problem or "", stored.policy_region_code, stored.policy_year)

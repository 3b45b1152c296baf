"""The verification report: check results, the coverage cascade and the decision, and their stored form.

Reasons are codes with parameters so the web layer can translate them; `message` gives the English default.
Money parameters end in ``_fen`` and rates in ``_bp``; a message template may also use the name without the
suffix (``{gap}`` for ``gap_fen``) to get the formatted yuan or percentage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, TypeAlias, cast

from verification.coverage import BandShare, Cascade, CascadeStep, YearPart, display_params

# not_checked: there was nothing to check against (no record on file); it neither passes nor blocks.
Status = Literal["pass", "fail", "needs_review", "not_checked"]
Decision = Literal["verified", "needs_review", "rejected"]
CapReason = Literal["gap", "platform_limit"]
JsonValue: TypeAlias = str | int | bool | list["JsonValue"] | dict[str, "JsonValue"] | None
Params = dict[str, str | int]

STATUSES: tuple[Status, ...] = ("pass", "fail", "needs_review", "not_checked")
DECISIONS: tuple[Decision, ...] = ("verified", "needs_review", "rejected")
REPORT_FORMAT = 1
ARITHMETIC_CHECKS = ("need", "target")

# English defaults, keyed by reason code (unique across checks). Placeholders are the result's params.
CHECK_MESSAGES: Mapping[str, str] = {
    # identity_number
    "id_valid": "The identity number is well-formed and agrees with the declared birth date and sex.",
    "id_malformed": "The identity number is not well-formed (it fails the {error} rule).",
    "id_inconsistent": "The identity number does not agree with the declared {mismatch}.",
    # identity_records
    "records_match": "The insurance and civil-affairs records for this identity number carry the patient's name.",
    "records_not_found": (
        "No insurance or civil-affairs record was found for this identity number; a reviewer must confirm who"
        " the patient is."
    ),
    "name_mismatch": (
        "Record {source_record_id} for this identity number is in the name of {record_name}, not"
        " {patient_name}; a reviewer must confirm who the patient is."
    ),
    # enrolment
    "enrolment_active": (
        "Basic medical insurance ({scheme} scheme, pooling region {pooling_region}) was active on the treatment"
        " date."
    ),
    "enrolment_lapsed": (
        "The patient's basic medical insurance was not active on the treatment date {treatment_date}; the gap"
        " is computed without insurance until a reviewer confirms."
    ),
    "enrolment_not_found": (
        "No basic medical insurance enrolment was found; the gap is computed without insurance until a reviewer"
        " confirms."
    ),
    "enrolment_other_region": (
        "The active enrolment is in pooling region {pooling_region}, but the rules applied are those of"
        " {policy_region}; a reviewer must check which rules apply."
    ),
    # civil_affairs
    "no_status": "No civil-affairs assistance status was found; the gap assumes no medical assistance.",
    "status_not_valid": (
        "The civil-affairs status ({assistance_class}) was not valid on the treatment date {treatment_date};"
        " the gap assumes no medical assistance."
    ),
    "class_valid": (
        "The civil-affairs status ({assistance_class}) was valid on the treatment date; medical assistance is"
        " counted in the gap."
    ),
    "assistance_first": (
        "The patient's civil-affairs status ({assistance_class}) entitles them to about {assistance} of medical"
        " assistance that has not been claimed. Please claim it first (from civil affairs, or through the"
        " hospital's one-stop settlement). The gap and the target already leave it out, so donors are not asked"
        " for money the family is entitled to."
    ),
    # referral
    "referral_not_needed": "The hospital is in the patient's pooling region, so no referral or filing is needed.",
    "referral_not_stated": (
        "The hospital is outside the patient's pooling region and the filing form does not say whether the"
        " referral/filing (转诊/异地就医备案) was made; the gap assumes it was not until a reviewer checks."
    ),
    "referral_unconfirmed": (
        "The hospital is outside the patient's pooling region; the family says the referral/filing was"
        " {filed_word}, which the hospital's social worker has not confirmed, so a reviewer must check it."
    ),
    "referral_confirmed": (
        "The hospital is outside the patient's pooling region; the hospital's social worker confirmed the"
        " referral/filing was {filed_word}."
    ),
    # duplicate_campaign
    "no_other_campaign": "The patient has no other active campaign.",
    "other_active_campaigns": "The patient already has {count} other active campaign(s).",
    # hospital
    "hospital_confirmed": "The hospital is registered and its social worker confirmed the stay and the cost.",
    "hospital_not_registered": (
        "The hospital is not in the registry, so no payout could be made to it; choose a registered hospital or"
        " ask us to add it."
    ),
    "stay_not_confirmed": (
        "The hospital's social worker has not confirmed the stay and the cost; a reviewer must check them with"
        " the hospital."
    ),
    # cost
    "cost_plausible": "The cost {total_cost} is within the usual range for {category} ({cost_min} to {cost_max}).",
    "cost_above_range": (
        "The cost {total_cost} is above the usual range for {category} ({cost_min} to {cost_max}); a reviewer"
        " must check the treatment plan."
    ),
    "cost_far_below_range": (
        "The cost {total_cost} is far below the usual range for {category} ({cost_min} to {cost_max}); a"
        " reviewer must check the treatment plan."
    ),
    "disease_not_in_catalogue": (
        "The diagnosis is not in the critical-illness catalogue, so the cost cannot be compared; a reviewer must"
        " check it."
    ),
    # disclosure
    "disclosure_consistent": "The disclosed household size and income agree with the civil-affairs record.",
    "disclosure_no_record": "There is no valid civil-affairs record to compare the disclosed finances with.",
    "disclosure_mismatch": (
        "The disclosed finances differ from the civil-affairs record ({fields}): household of"
        " {disclosed_household_size} disclosed, {record_household_size} on record; yearly income of"
        " {disclosed_income} disclosed, {record_income} on record."
    ),
    # need
    "remaining_need": (
        "Savings, commercial insurance and other fundraising ({resources}) leave {remaining} of the {gap} gap"
        " to raise."
    ),
    "no_remaining_need": (
        "Savings, commercial insurance and other fundraising ({resources}) already cover the {gap} gap, so"
        " there is no remaining need to raise."
    ),
    # target
    "target_within_limits": "The target {target} is within the gap and the platform's limit.",
    "target_capped_to_gap": "The target was lowered from {from} to {to}, the verified gap.",
    "target_capped_to_platform_limit": (
        "The target was lowered from {from} to {to}, the 500,000-yuan limit for a single request."
    ),
}


# What the figures rest on, keyed by assumption code. Placeholders are the assumption's params.
ASSUMPTION_MESSAGES: Mapping[str, str] = {
    "in_region": "The hospital is in the patient's pooling region ({policy_region}); its in-region rates apply.",
    "referral_filed": (
        "Treated outside the pooling region ({location_word}) with referral/filing{confirmed_word}; medical"
        " assistance pays {assistance_share} of its usual amount."
    ),
    "referral_not_filed": (
        "Treated outside the pooling region ({location_word}) without referral/filing{confirmed_word}; medical"
        " assistance pays {assistance_share} of its usual amount."
    ),
    "referral_assumed_not_filed": (
        "Treated outside the pooling region ({location_word}); nobody has said whether the referral/filing was"
        " made, so the figures assume it was not, and medical assistance pays {assistance_share} of its usual"
        " amount."
    ),
    "basic_rate_filed": "Basic insurance pays its out-of-region rate for a filed stay: {basic_rate}.",
    "basic_rate_not_filed": (
        "Basic insurance pays its lower out-of-region rate for a stay without filing: {basic_rate}."
    ),
    "ytd_none": (
        "No payment or self-pay earlier this year is on record, so every annual deductible is counted in full."
    ),
    "ytd_recorded": (
        "Earlier this year, on record: basic insurance paid {basic_paid}, critical-illness insurance"
        " {critical_illness_paid}, medical assistance {assistance_paid}, and the patient's in-policy self-pay"
        " after basic insurance was {self_pay}; the annual deductibles and bands continue from there."
    ),
    "ytd_self_pay_floor": (
        "Earlier this year, on record: basic insurance paid {basic_paid}, critical-illness insurance"
        " {critical_illness_paid}, medical assistance {assistance_paid}. The records do not state the"
        " self-pay, so at least {self_pay} is assumed (the least those payments imply); the annual deductibles"
        " and bands continue from there."
    ),
    "ytd_dated_after_treatment": (
        "Some year-to-date figures on record are dated {as_of}, after the treatment began ({treatment_date}),"
        " so they may include this treatment and were not used."
    ),
    "ytd_earlier_year": (
        "Some year-to-date figures on record are of an earlier year (dated {as_of}), so they do not count"
        " towards {year}'s deductibles and were not used."
    ),
    "deductible_per_admission": (
        "Basic insurance charges its deductible of {deductible} for each of the {admissions} admission(s)"
        " planned this year."
    ),
    "deductible_per_year": (
        "Basic insurance charges its deductible of {deductible} once a year; what earlier stays this year met"
        " is counted."
    ),
    "year_split": (
        "The plan runs into {next_year}: {next_year_cost} of the cost ({next_year_in_policy} in-policy, in the"
        " same proportion) and {next_year_admissions} admission(s) fall in {next_year}, where the annual"
        " deductibles and caps start again. The patient is assumed to stay enrolled and keep the same"
        " civil-affairs class."
    ),
    "next_year_rules_missing": (
        "The rules for {next_year} are not published yet, so those of {year} are applied to the part in"
        " {next_year}."
    ),
}
_LOCATION_WORDS = {
    "in_province": "another city of the same province",
    "out_of_province": "another province",
}


def _shown(params: Mapping[str, str | int]) -> dict[str, str | int]:
    shown = display_params(dict(params))
    if "filed" in params:
        shown["filed_word"] = "made" if params["filed"] else "not made"
    if "location" in params:
        shown["location_word"] = _LOCATION_WORDS.get(str(params["location"]), str(params["location"]))
    if "confirmed" in params:
        shown["confirmed_word"] = (
            ", confirmed by the hospital" if params["confirmed"] else ", as the family says"
        )
    return shown


@dataclass(frozen=True, slots=True)
class Assumption:
    """Something the figures rest on (the referral answer, the year-to-date figures, a year split), as a code
    with parameters, so every page can say it in the reader's language."""

    code: str
    params: Params

    @property
    def message(self) -> str:
        return ASSUMPTION_MESSAGES[self.code].format_map(_shown(self.params))


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one check: status, a reason code with its parameters, and the evidence it used."""

    code: str
    status: Status
    reason_code: str
    params: Params
    evidence: Params

    @property
    def message(self) -> str:
        """The English default text of the reason."""
        return CHECK_MESSAGES[self.reason_code].format_map(_shown(self.params))


@dataclass(frozen=True, slots=True)
class VerificationReport:
    """Everything verification decided for one case, stored as it was so later changes do not rewrite it."""

    checks: tuple[CheckResult, ...]
    cascade: Cascade
    decision: Decision
    capped_target_fen: int
    cap_reason: CapReason | None
    policy_version: str
    records_snapshot: dict[str, JsonValue]
    assumptions: tuple[Assumption, ...] = ()

    @property
    def gap_fen(self) -> int:
        return self.cascade.gap_fen

    def checks_made(self) -> dict[str, list[str]]:
        """The codes of the checks made against records ("checked"), left to a reviewer ("reviewed") and not
        made because nothing was on file ("not_checked"): what a "verified" mark covers. The need and the
        target are arithmetic on the gap, not checks against records, so they are left out."""
        shown = [result for result in self.checks if result.code not in ARITHMETIC_CHECKS]
        return {
            key: [result.code for result in shown if result.status == status]
            for key, status in (
                ("checked", "pass"),
                ("reviewed", "needs_review"),
                ("not_checked", "not_checked"),
            )
        }

    def check(self, code: str) -> CheckResult:
        """The result of the check named `code`."""
        for result in self.checks:
            if result.code == code:
                return result
        raise KeyError(code)


def decide(checks: tuple[CheckResult, ...]) -> Decision:
    """Any fail rejects; otherwise any needs_review sends the case to a person; otherwise it is verified.
    A check that was not checked neither blocks nor counts as passed; pages say so."""
    statuses = {result.status for result in checks}
    if "fail" in statuses:
        return "rejected"
    if "needs_review" in statuses:
        return "needs_review"
    return "verified"


# ---------------------------------------------------------------------------------------------------------
# Stored form


def _step_to_dict(step: CascadeStep) -> dict[str, JsonValue]:
    return {
        "code": step.code,
        "paid_fen": step.paid_fen,
        "applies_to_fen": step.applies_to_fen,
        "deductible_fen": step.deductible_fen,
        "base_fen": step.base_fen,
        "rate_bp": step.rate_bp,
        "cap_left_fen": step.cap_left_fen,
        "remaining_fen": step.remaining_fen,
        "reason_code": step.reason_code,
        "bands": [
            {
                "from_fen": band.from_fen,
                "up_to_fen": band.up_to_fen,
                "rate_bp": band.rate_bp,
                "amount_fen": band.amount_fen,
            }
            for band in step.bands
        ],
        "year": step.year,
    }


def cascade_to_dict(cascade: Cascade) -> dict[str, JsonValue]:
    return {
        "total_cost_fen": cascade.total_cost_fen,
        "in_policy_cost_fen": cascade.in_policy_cost_fen,
        "basic_fen": cascade.basic_fen,
        "critical_illness_fen": cascade.critical_illness_fen,
        "assistance_fen": cascade.assistance_fen,
        "gap_fen": cascade.gap_fen,
        "steps": [_step_to_dict(step) for step in cascade.steps],
        "years": [
            {
                "year": part.year,
                "policy_version": part.policy_version,
                "total_cost_fen": part.total_cost_fen,
                "in_policy_cost_fen": part.in_policy_cost_fen,
                "basic_fen": part.basic_fen,
                "critical_illness_fen": part.critical_illness_fen,
                "assistance_fen": part.assistance_fen,
                "gap_fen": part.gap_fen,
            }
            for part in cascade.years
        ],
    }


def report_to_dict(report: VerificationReport) -> dict[str, JsonValue]:
    """A JSON-serialisable dict of the report, for storage and the API."""
    return {
        "format": REPORT_FORMAT,
        "decision": report.decision,
        "capped_target_fen": report.capped_target_fen,
        "cap_reason": report.cap_reason,
        "policy_version": report.policy_version,
        "checks": [
            {
                "code": result.code,
                "status": result.status,
                "reason_code": result.reason_code,
                "params": dict(result.params),
                "evidence": dict(result.evidence),
            }
            for result in report.checks
        ],
        "cascade": cascade_to_dict(report.cascade),
        "records_snapshot": report.records_snapshot,
        "assumptions": [{"code": item.code, "params": dict(item.params)} for item in report.assumptions],
    }


class _Fields:
    """Typed reads from a stored dict; any fault becomes a ValueError naming the field."""

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, dict):
            raise ValueError(f"{where} must be an object")
        self.data = cast(dict[str, object], data)
        self.where = where

    def get(self, key: str) -> object:
        if key not in self.data:
            raise ValueError(f"{self.where}.{key} is missing")
        return self.data[key]

    def integer(self, key: str) -> int:
        value = self.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{self.where}.{key} must be an integer")
        return value

    def optional_integer(self, key: str) -> int | None:
        return None if self.data.get(key) is None else self.integer(key)

    def text(self, key: str) -> str:
        value = self.get(key)
        if not isinstance(value, str):
            raise ValueError(f"{self.where}.{key} must be a string")
        return value

    def array(self, key: str) -> list[object]:
        value = self.get(key)
        if not isinstance(value, list):
            raise ValueError(f"{self.where}.{key} must be a list")
        return cast(list[object], value)

    def params(self, key: str) -> Params:
        value = self.get(key)
        if not isinstance(value, dict):
            raise ValueError(f"{self.where}.{key} must be an object")
        params: Params = {}
        for name, item in cast(dict[object, object], value).items():
            if not isinstance(name, str) or isinstance(item, bool) or not isinstance(item, str | int):
                raise ValueError(f"{self.where}.{key} must map names to strings or integers")
            params[name] = item
        return params


def _step_from_dict(data: object, where: str) -> CascadeStep:
    fields = _Fields(data, where)
    return CascadeStep(
        code=fields.text("code"),
        paid_fen=fields.integer("paid_fen"),
        applies_to_fen=fields.integer("applies_to_fen"),
        deductible_fen=fields.integer("deductible_fen"),
        base_fen=fields.integer("base_fen"),
        rate_bp=fields.integer("rate_bp"),
        cap_left_fen=fields.optional_integer("cap_left_fen"),
        remaining_fen=fields.integer("remaining_fen"),
        reason_code=fields.text("reason_code"),
        bands=tuple(
            BandShare(
                from_fen=band.integer("from_fen"),
                up_to_fen=band.optional_integer("up_to_fen"),
                rate_bp=band.integer("rate_bp"),
                amount_fen=band.integer("amount_fen"),
            )
            for band in (
                _Fields(item, f"{where}.bands[{index}]") for index, item in enumerate(fields.array("bands"))
            )
        ),
        year=fields.optional_integer("year"),
    )


def cascade_from_dict(data: object) -> Cascade:
    fields = _Fields(data, "cascade")
    return Cascade(
        total_cost_fen=fields.integer("total_cost_fen"),
        in_policy_cost_fen=fields.integer("in_policy_cost_fen"),
        basic_fen=fields.integer("basic_fen"),
        critical_illness_fen=fields.integer("critical_illness_fen"),
        assistance_fen=fields.integer("assistance_fen"),
        gap_fen=fields.integer("gap_fen"),
        steps=tuple(
            _step_from_dict(item, f"cascade.steps[{index}]")
            for index, item in enumerate(fields.array("steps"))
        ),
        # Reports stored before plans could be split by year have no "years".
        years=tuple(
            YearPart(
                year=part.integer("year"),
                policy_version=part.text("policy_version"),
                total_cost_fen=part.integer("total_cost_fen"),
                in_policy_cost_fen=part.integer("in_policy_cost_fen"),
                basic_fen=part.integer("basic_fen"),
                critical_illness_fen=part.integer("critical_illness_fen"),
                assistance_fen=part.integer("assistance_fen"),
                gap_fen=part.integer("gap_fen"),
            )
            for part in (
                _Fields(item, f"cascade.years[{index}]")
                for index, item in enumerate(fields.array("years") if "years" in fields.data else [])
            )
        ),
    )


def _check_from_dict(data: object, where: str) -> CheckResult:
    fields = _Fields(data, where)
    status = fields.text("status")
    if status not in STATUSES:
        raise ValueError(f"{where}.status {status!r} is not one of {', '.join(STATUSES)}")
    return CheckResult(
        code=fields.text("code"),
        status=status,
        reason_code=fields.text("reason_code"),
        params=fields.params("params"),
        evidence=fields.params("evidence"),
    )


def report_from_dict(data: Mapping[str, object]) -> VerificationReport:
    """Rebuild a report stored by `report_to_dict`; raises ValueError when the data is not such a report."""
    fields = _Fields(dict(data), "report")
    if fields.get("format") != REPORT_FORMAT:
        raise ValueError(f"report.format must be {REPORT_FORMAT}")
    decision = fields.text("decision")
    if decision not in DECISIONS:
        raise ValueError(f"report.decision {decision!r} is not one of {', '.join(DECISIONS)}")
    cap_reason = fields.get("cap_reason")
    if cap_reason not in (None, "gap", "platform_limit"):
        raise ValueError(f"report.cap_reason {cap_reason!r} is not gap, platform_limit or null")
    snapshot = fields.get("records_snapshot")
    if not isinstance(snapshot, dict):
        raise ValueError("report.records_snapshot must be an object")
    return VerificationReport(
        checks=tuple(
            _check_from_dict(item, f"report.checks[{index}]")
            for index, item in enumerate(fields.array("checks"))
        ),
        cascade=cascade_from_dict(fields.get("cascade")),
        decision=decision,
        capped_target_fen=fields.integer("capped_target_fen"),
        cap_reason=cap_reason,
        policy_version=fields.text("policy_version"),
        records_snapshot=cast(dict[str, JsonValue], snapshot),
        # Reports stored before assumptions were recorded have none.
        assumptions=tuple(
            Assumption(code=item.text("code"), params=item.params("params"))
            for item in (
                _Fields(entry, f"report.assumptions[{index}]")
                for index, entry in enumerate(
                    fields.array("assumptions") if "assumptions" in fields.data else []
                )
            )
        ),
    )

"""The eligibility checks of DESIGN §5, each on its own; verification/case.py runs them with the coverage cascade.

Input is plain data: `CaseFacts` (what the campaign says), `Records` (the insurance and civil-affairs records the
shell found for the patient's identity number) and the `Policy` of the patient's pooling region for the
treatment year. Output is a `VerificationReport`. Nothing here reads the clock, the database or the network.

Each check returns a `CheckResult`: ``pass``, ``fail`` or ``needs_review`` (a person decides), a reason code with
parameters, and the evidence it looked at. The decision: any fail → rejected; else any needs_review →
needs_review; else verified. "Assistance first" (a valid civil-affairs class whose medical assistance has not
been claimed) is a needs_review, not a fail: the family is told to claim it before fundraising opens.
"""

from __future__ import annotations

import datetime
import unicodedata
from dataclasses import dataclass

from verification.coverage import Cascade
from verification.identity import IdNumberError, ResidentId, consistency_errors, mask_id, parse_resident_id
from verification.policy import HospitalTier, Location, Policy
from verification.records import (
    BasicEnrolment,
    CivilAffairsStatus,
    Records,
)
from verification.report import (
    CapReason,
    CheckResult,
    Params,
    VerificationReport,
    report_from_dict,
    report_to_dict,
)

__all__ = [
    "PLATFORM_LIMIT_FEN",
    "CaseFacts",
    "CheckResult",
    "VerificationReport",
    "cap_target",
    "check_civil_affairs",
    "check_cost",
    "check_disclosure",
    "check_duplicate_campaign",
    "check_enrolment",
    "check_hospital",
    "check_identity_number",
    "check_identity_records",
    "check_need",
    "check_referral",
    "check_target",
    "normalize_name",
    "report_from_dict",
    "report_to_dict",
]

# Self-regulation convention 2.0 for personal help platforms (2020): at most 500,000 yuan per request.
PLATFORM_LIMIT_FEN = 50_000_000
# A cost below half the catalogue minimum is "far below": the catalogue ranges are rough (config/reference/
# SOURCES.md), so only a large shortfall is worth a person's time.
FAR_BELOW_MIN_BP = 5_000
# Disclosed yearly household income may differ from 12 × the recorded monthly income by 20% or 6,000 yuan,
# whichever is larger, before a person looks: incomes of rural households vary month to month and records lag.
INCOME_TOLERANCE_BP = 2_000
INCOME_TOLERANCE_MIN_FEN = 600_000
# Household size is a count the civil-affairs record states exactly; any difference is worth a look.
HOUSEHOLD_SIZE_TOLERANCE = 0


# ---------------------------------------------------------------------------------------------------------
# Input


@dataclass(frozen=True, slots=True)
class CaseFacts:
    """What the campaign states, with the hospital and catalogue facts the shell looked up.

    `resident_id` is the identity number already parsed by the shell, if it did so; otherwise the identity
    check parses `id_number`. Disease cost bounds are None when the diagnosis is not in the catalogue.
    Incomes are yearly; money is fen.
    """

    patient_name: str
    id_number: str
    birth_date: datetime.date
    sex: str
    patient_region_code: str
    treatment_date: datetime.date
    hospital_registered: bool
    hospital_tier: HospitalTier
    hospital_region_code: str
    stay_confirmed: bool
    disease_category: str | None
    disease_cost_min_fen: int | None
    disease_cost_max_fen: int | None
    total_cost_fen: int
    in_policy_cost_fen: int
    disclosed_household_size: int
    disclosed_annual_income_fen: int
    savings_fen: int
    commercial_insurance_fen: int
    other_fundraising_fen: int
    target_fen: int
    other_active_campaigns: int
    assistance_claimed: bool = False
    resident_id: ResidentId | None = None
    # Whether the out-of-region treatment was referred/filed (转诊/异地就医备案): None when the family did not
    # say; `referral_confirmed` when the hospital's social worker confirmed the answer.
    referral_filed: bool | None = None
    referral_confirmed: bool = False
    # Admissions the plan needs in all, and how many of them and how much of the total cost fall in the next
    # calendar year (0: the plan ends this year).
    admissions: int = 1
    next_year_admissions: int = 0
    next_year_cost_fen: int = 0

    def __post_init__(self) -> None:
        for name in (
            "total_cost_fen",
            "in_policy_cost_fen",
            "disclosed_household_size",
            "disclosed_annual_income_fen",
            "savings_fen",
            "commercial_insurance_fen",
            "other_fundraising_fen",
            "target_fen",
            "other_active_campaigns",
            "next_year_admissions",
            "next_year_cost_fen",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.in_policy_cost_fen > self.total_cost_fen:
            raise ValueError("in_policy_cost_fen must not exceed total_cost_fen")
        if self.next_year_cost_fen > self.total_cost_fen:
            raise ValueError("next_year_cost_fen must not exceed total_cost_fen")
        if self.admissions < 1:
            raise ValueError("admissions must be at least 1")


# ---------------------------------------------------------------------------------------------------------
# Checks


def _passed(
    code: str, reason: str, params: Params | None = None, evidence: Params | None = None
) -> CheckResult:
    return CheckResult(code, "pass", reason, params or {}, evidence or {})


def _failed(
    code: str, reason: str, params: Params | None = None, evidence: Params | None = None
) -> CheckResult:
    return CheckResult(code, "fail", reason, params or {}, evidence or {})


def _review(
    code: str, reason: str, params: Params | None = None, evidence: Params | None = None
) -> CheckResult:
    return CheckResult(code, "needs_review", reason, params or {}, evidence or {})


def _not_checked(
    code: str, reason: str, params: Params | None = None, evidence: Params | None = None
) -> CheckResult:
    return CheckResult(code, "not_checked", reason, params or {}, evidence or {})


def _masked(number: str) -> str:
    try:
        return mask_id(number)
    except IdNumberError:
        return "(malformed)"


def check_identity_number(facts: CaseFacts) -> CheckResult:
    """The identity number is well-formed (GB 11643) and agrees with the declared birth date and sex."""
    code = "identity_number"
    resident_id = facts.resident_id
    if resident_id is None:
        try:
            # Judged as of the treatment date: nobody is treated before they are born.
            resident_id = parse_resident_id(facts.id_number, today=facts.treatment_date)
        except IdNumberError as error:
            return _failed(
                code, "id_malformed", {"error": error.code}, {"id_number": _masked(facts.id_number)}
            )
    evidence: Params = {
        "id_number": mask_id(resident_id.number),
        "id_region_code": resident_id.region_code,
        "id_birth_date": resident_id.birth_date.isoformat(),
        "id_sex": resident_id.sex,
        "declared_birth_date": facts.birth_date.isoformat(),
        "declared_sex": facts.sex,
    }
    mismatches = consistency_errors(resident_id, facts.birth_date, facts.sex)
    if mismatches:
        fields = " and ".join(m.removesuffix("_mismatch").replace("_", " ") for m in mismatches)
        return _failed(code, "id_inconsistent", {"mismatch": fields}, evidence)
    return _passed(code, "id_valid", {}, evidence)


_NAME_DOTS = str.maketrans({"•": "·", "．": "·", "・": "·", "‧": "·", "∙": "·"})


def normalize_name(name: str) -> str:
    """A name as compared with records: NFKC, no spaces, one kind of middle dot (as in 买买提·艾力)."""
    return "".join(unicodedata.normalize("NFKC", name).translate(_NAME_DOTS).split())


def check_identity_records(facts: CaseFacts, records: Records) -> CheckResult:
    """Records exist for the identity number and every one carries the patient's name."""
    code = "identity_records"
    named: list[tuple[str, str]] = [
        *((r.person_name, r.source_record_id) for r in records.enrolments),
        *((r.person_name, r.source_record_id) for r in records.critical_illness),
        *((r.person_name, r.source_record_id) for r in records.civil_affairs),
    ]
    if not named:
        return _review(code, "records_not_found")
    evidence: Params = {"records_checked": len(named)}
    patient = normalize_name(facts.patient_name)
    for name, record_id in named:
        if normalize_name(name) != patient:
            params: Params = {
                "source_record_id": record_id,
                "record_name": name,
                "patient_name": facts.patient_name,
            }
            return _review(code, "name_mismatch", params, evidence)
    return _passed(code, "records_match", {}, evidence)


def check_enrolment(
    facts: CaseFacts, records: Records, enrolment: BasicEnrolment | None, policy: Policy
) -> CheckResult:
    """Basic insurance was active on the treatment date, in the pooling region whose rules are applied."""
    code = "enrolment"
    treatment_date = facts.treatment_date.isoformat()
    if enrolment is None:
        if records.enrolments:
            latest = max(records.enrolments, key=lambda e: e.valid_from)
            evidence: Params = {
                "source_record_id": latest.source_record_id,
                "valid_from": latest.valid_from.isoformat(),
                "valid_to": latest.valid_to.isoformat() if latest.valid_to else "",
            }
            return _review(code, "enrolment_lapsed", {"treatment_date": treatment_date}, evidence)
        return _review(code, "enrolment_not_found", {"treatment_date": treatment_date})
    evidence = {
        "source_record_id": enrolment.source_record_id,
        "scheme": enrolment.scheme,
        "pooling_region": enrolment.pooling_region,
        "valid_from": enrolment.valid_from.isoformat(),
        "valid_to": enrolment.valid_to.isoformat() if enrolment.valid_to else "",
        "ytd_reimbursed_fen": enrolment.ytd_reimbursed_fen,
    }
    params: Params = {"scheme": enrolment.scheme, "pooling_region": enrolment.pooling_region}
    if not policy.covers(enrolment.pooling_region):
        params["policy_region"] = policy.region_code
        return _review(code, "enrolment_other_region", params, evidence)
    return _passed(code, "enrolment_active", params, evidence)


def check_civil_affairs(
    facts: CaseFacts, records: Records, status: CivilAffairsStatus | None, cascade: Cascade
) -> CheckResult:
    """The civil-affairs class valid at treatment; assistance it entitles to must be claimed first."""
    code = "civil_affairs"
    if status is None:
        if records.civil_affairs:
            latest = max(records.civil_affairs, key=lambda s: s.valid_from)
            evidence: Params = {
                "source_record_id": latest.source_record_id,
                "valid_from": latest.valid_from.isoformat(),
                "valid_to": latest.valid_to.isoformat() if latest.valid_to else "",
            }
            params: Params = {
                "assistance_class": latest.assistance_class,
                "treatment_date": facts.treatment_date.isoformat(),
            }
            return _not_checked(code, "status_not_valid", params, evidence)
        return _not_checked(code, "no_status")
    evidence = {
        "source_record_id": status.source_record_id,
        "assistance_class": status.assistance_class,
        "valid_from": status.valid_from.isoformat(),
        "valid_to": status.valid_to.isoformat() if status.valid_to else "",
        "region_code": status.region_code,
    }
    params = {"assistance_class": status.assistance_class, "assistance_fen": cascade.assistance_fen}
    if cascade.assistance_fen > 0 and not facts.assistance_claimed:
        return _review(code, "assistance_first", params, evidence)
    return _passed(code, "class_valid", params, evidence)


def check_referral(facts: CaseFacts, location: Location) -> CheckResult:
    """For a hospital outside the pooling region, whether the referral/filing was made, as the family said
    and the hospital's social worker confirmed. The answer moves the basic rate and medical assistance both
    ways, so an unconfirmed answer goes to a person; until then the gap assumes no filing."""
    code = "referral"
    evidence: Params = {"hospital_region_code": facts.hospital_region_code, "location": location}
    if location == "in_region":
        return _passed(code, "referral_not_needed", {}, evidence)
    params: Params = {"location": location}
    if facts.referral_filed is None:
        return _review(code, "referral_not_stated", params, evidence)
    params["filed"] = int(facts.referral_filed)
    if not facts.referral_confirmed:
        return _review(code, "referral_unconfirmed", params, evidence)
    return _passed(code, "referral_confirmed", params, evidence)


def check_duplicate_campaign(facts: CaseFacts) -> CheckResult:
    """No other active campaign for the same patient (found by the identity number's blind index)."""
    if facts.other_active_campaigns > 0:
        return _failed(
            "duplicate_campaign", "other_active_campaigns", {"count": facts.other_active_campaigns}
        )
    return _passed("duplicate_campaign", "no_other_campaign", {"count": 0})


def check_hospital(facts: CaseFacts) -> CheckResult:
    """The hospital is in the registry and its social worker confirmed the stay."""
    code = "hospital"
    evidence: Params = {
        "hospital_tier": facts.hospital_tier,
        "hospital_region_code": facts.hospital_region_code,
        "stay_confirmed": int(facts.stay_confirmed),
    }
    if not facts.hospital_registered:
        return _failed(code, "hospital_not_registered", {}, evidence)
    if not facts.stay_confirmed:
        return _review(code, "stay_not_confirmed", {}, evidence)
    return _passed(code, "hospital_confirmed", {}, evidence)


def check_cost(facts: CaseFacts) -> CheckResult:
    """The total cost is within the plausible range of the disease category (catalogue ranges are rough)."""
    code = "cost"
    low, high = facts.disease_cost_min_fen, facts.disease_cost_max_fen
    if facts.disease_category is None or low is None or high is None:
        return _review(code, "disease_not_in_catalogue", {"total_cost_fen": facts.total_cost_fen})
    params: Params = {
        "total_cost_fen": facts.total_cost_fen,
        "category": facts.disease_category,
        "cost_min_fen": low,
        "cost_max_fen": high,
    }
    if facts.total_cost_fen > high:
        return _review(code, "cost_above_range", params)
    if facts.total_cost_fen * 10_000 < low * FAR_BELOW_MIN_BP:
        return _review(code, "cost_far_below_range", params)
    return _passed(code, "cost_plausible", params)


def check_disclosure(facts: CaseFacts, status: CivilAffairsStatus | None) -> CheckResult:
    """Disclosed household size and yearly income agree with the civil-affairs record, within tolerance."""
    code = "disclosure"
    if status is None:
        return _not_checked(code, "disclosure_no_record")
    record_income = status.monthly_household_income_fen * 12
    params: Params = {
        "disclosed_household_size": facts.disclosed_household_size,
        "record_household_size": status.household_size,
        "disclosed_income_fen": facts.disclosed_annual_income_fen,
        "record_income_fen": record_income,
    }
    evidence: Params = {"source_record_id": status.source_record_id}
    mismatched: list[str] = []
    if abs(facts.disclosed_household_size - status.household_size) > HOUSEHOLD_SIZE_TOLERANCE:
        mismatched.append("household_size")
    tolerance = max(record_income * INCOME_TOLERANCE_BP // 10_000, INCOME_TOLERANCE_MIN_FEN)
    if abs(facts.disclosed_annual_income_fen - record_income) > tolerance:
        mismatched.append("income")
    if mismatched:
        params["fields"] = ",".join(mismatched)
        return _review(code, "disclosure_mismatch", params, evidence)
    return _passed(code, "disclosure_consistent", params, evidence)


def check_need(facts: CaseFacts, gap_fen: int) -> CheckResult:
    """Savings, commercial insurance and other fundraising do not already cover the gap."""
    resources = facts.savings_fen + facts.commercial_insurance_fen + facts.other_fundraising_fen
    params: Params = {"resources_fen": resources, "gap_fen": gap_fen}
    evidence: Params = {
        "savings_fen": facts.savings_fen,
        "commercial_insurance_fen": facts.commercial_insurance_fen,
        "other_fundraising_fen": facts.other_fundraising_fen,
    }
    if resources >= gap_fen:
        return _failed("need", "no_remaining_need", params, evidence)
    params["remaining_fen"] = gap_fen - resources
    return _passed("need", "remaining_need", params, evidence)


def cap_target(target_fen: int, gap_fen: int) -> tuple[int, CapReason | None]:
    """The target lowered to the gap and to the 500,000-yuan platform limit, and which bound was hit."""
    if gap_fen <= PLATFORM_LIMIT_FEN:
        return (gap_fen, "gap") if target_fen > gap_fen else (target_fen, None)
    if target_fen > PLATFORM_LIMIT_FEN:
        return PLATFORM_LIMIT_FEN, "platform_limit"
    return target_fen, None


def check_target(facts: CaseFacts, gap_fen: int) -> CheckResult:
    """The target is at most the gap and the platform limit; a larger one is capped (and still passes)."""
    capped, reason = cap_target(facts.target_fen, gap_fen)
    params: Params = {"gap_fen": gap_fen, "limit_fen": PLATFORM_LIMIT_FEN}
    if reason is None:
        params["target_fen"] = facts.target_fen
        return _passed("target", "target_within_limits", params)
    params.update({"from_fen": facts.target_fen, "to_fen": capped, "cap_reason": reason})
    return _passed("target", f"target_capped_to_{reason}", params)

"""Eligibility checks, the year-to-date figures and the verification report for one case, against the shipped
阜阳 policy."""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from verification.case import coverage_input, verify_case, year_to_date
from verification.checks import (
    PLATFORM_LIMIT_FEN,
    CaseFacts,
    VerificationReport,
    cap_target,
    check_referral,
    normalize_name,
    report_from_dict,
    report_to_dict,
)
from verification.coverage import YearToDate
from verification.identity import make_resident_id, mask_id, parse_resident_id
from verification.policy import FULL_RATE_BP, Policy
from verification.policy_files import PolicyError, load_policy, policy_from_data
from verification.records import BasicEnrolment, CivilAffairsStatus, CriticalIllnessEntitlement, Records
from verification.report import ASSUMPTION_MESSAGES, CHECK_MESSAGES, Assumption, CheckResult

POLICY = load_policy(Path(__file__).resolve().parents[2] / "config" / "policies" / "341200-2026.toml")
YUAN = 100
JAN_1 = datetime.date(2026, 1, 1)
DEC_31 = datetime.date(2026, 12, 31)
PATIENT_ID = make_resident_id("341221", datetime.date(2019, 3, 14), "M", 1)

# A child from 临泉县 (阜阳) treated for leukaemia at 安徽省立医院 in 合肥 (another pooling region of the same
# province), with the filing made and confirmed by the hospital's social worker.
FACTS = CaseFacts(
    patient_name="王浩宇",
    id_number=PATIENT_ID,
    birth_date=datetime.date(2019, 3, 14),
    sex="M",
    patient_region_code="341221",
    treatment_date=datetime.date(2026, 4, 8),
    hospital_registered=True,
    hospital_tier="tertiary",
    hospital_region_code="340103",
    stay_confirmed=True,
    referral_filed=True,
    referral_confirmed=True,
    disease_category="leukemia",
    disease_cost_min_fen=100_000 * YUAN,
    disease_cost_max_fen=500_000 * YUAN,
    total_cost_fen=380_000 * YUAN,
    in_policy_cost_fen=300_000 * YUAN,
    disclosed_household_size=4,
    disclosed_annual_income_fen=72_000 * YUAN,
    savings_fen=5_000 * YUAN,
    commercial_insurance_fen=20_000 * YUAN,
    other_fundraising_fen=0,
    target_fen=120_000 * YUAN,
    other_active_campaigns=0,
)
ENROLMENT = BasicEnrolment("王浩宇", "resident", "341200", JAN_1, DEC_31, 0, "BE-1")
ENTITLEMENT = CriticalIllnessEntitlement("王浩宇", "341200", JAN_1, DEC_31, 0, "CI-1")
DIBAO = CivilAffairsStatus(
    "王浩宇", "dibao", datetime.date(2025, 7, 1), None, 4, 6_000 * YUAN, "341221", "CA-1"
)
RECORDS = Records(enrolments=[ENROLMENT], critical_illness=[ENTITLEMENT])
# See test_coverage.test_fuyang_child_treated_in_hefei_with_filing for this gap, worked by hand.
GAP = 131_120 * YUAN


def run(records: Records = RECORDS, **changes: Any) -> VerificationReport:
    return verify_case(dataclasses.replace(FACTS, **changes), records, POLICY)


def outcome(report: VerificationReport, code: str) -> tuple[str, str]:
    result = report.check(code)
    return result.status, result.reason_code


def with_records(**changes: Any) -> Records:
    return dataclasses.replace(RECORDS, **changes)


def test_a_genuine_case_is_verified() -> None:
    report = run()
    assert report.decision == "verified"
    # No civil-affairs record: nothing to check the class and the disclosure against, which does not block.
    assert {result.code for result in report.checks if result.status != "pass"} == {
        "civil_affairs",
        "disclosure",
    }
    assert outcome(report, "civil_affairs") == ("not_checked", "no_status")
    assert outcome(report, "disclosure") == ("not_checked", "disclosure_no_record")
    assert [result.code for result in report.checks] == [
        "identity_number",
        "identity_records",
        "enrolment",
        "civil_affairs",
        "duplicate_campaign",
        "hospital",
        "referral",
        "cost",
        "disclosure",
        "need",
        "target",
    ]
    assert report.gap_fen == GAP
    assert (report.capped_target_fen, report.cap_reason) == (120_000 * YUAN, None)
    assert report.policy_version == POLICY.version
    assert report.check("identity_number").evidence["id_number"] == mask_id(PATIENT_ID)
    assert report.check("need").params["remaining_fen"] == GAP - 25_000 * YUAN


# ---- identity


def test_a_malformed_identity_number_rejects() -> None:
    broken = PATIENT_ID[:-1] + ("0" if PATIENT_ID[-1] != "0" else "1")
    report = run(id_number=broken)
    assert outcome(report, "identity_number") == ("fail", "id_malformed")
    assert report.check("identity_number").params == {"error": "check_digit"}
    assert report.decision == "rejected"


def test_an_identity_number_that_disagrees_with_birth_date_and_sex_rejects() -> None:
    report = run(sex="F", birth_date=datetime.date(2019, 3, 15))
    assert outcome(report, "identity_number") == ("fail", "id_inconsistent")
    assert report.check("identity_number").params == {"mismatch": "birth date and sex"}
    assert report.decision == "rejected"


def test_a_number_parsed_by_the_shell_is_used_as_given() -> None:
    report = run(id_number="not read", resident_id=parse_resident_id(PATIENT_ID, today=JAN_1))
    assert outcome(report, "identity_number") == ("pass", "id_valid")


def test_without_any_record_a_person_must_confirm_the_identity() -> None:
    report = run(Records())
    assert outcome(report, "identity_records") == ("needs_review", "records_not_found")
    assert outcome(report, "enrolment") == ("needs_review", "enrolment_not_found")
    assert report.cascade.basic_fen == 0
    assert report.cascade.critical_illness_fen == 0
    assert report.decision == "needs_review"


def test_a_record_in_another_name_needs_review() -> None:
    other = dataclasses.replace(ENTITLEMENT, person_name="王浩")
    report = run(with_records(critical_illness=[other]))
    assert outcome(report, "identity_records") == ("needs_review", "name_mismatch")
    assert report.check("identity_records").params["source_record_id"] == "CI-1"


def test_names_compare_without_spacing_and_dot_variants() -> None:
    assert normalize_name("王　浩宇 ") == normalize_name("王浩宇")
    assert normalize_name("买买提•艾力") == normalize_name("买买提·艾力")
    spaced = dataclasses.replace(ENROLMENT, person_name="王 浩宇")
    assert outcome(run(with_records(enrolments=[spaced])), "identity_records") == ("pass", "records_match")


# ---- enrolment


def test_a_lapsed_enrolment_needs_review_and_basic_insurance_pays_nothing() -> None:
    lapsed = dataclasses.replace(
        ENROLMENT, valid_from=datetime.date(2025, 1, 1), valid_to=datetime.date(2025, 12, 31)
    )
    report = run(with_records(enrolments=[lapsed]))
    assert outcome(report, "enrolment") == ("needs_review", "enrolment_lapsed")
    assert report.cascade.basic_fen == 0
    assert report.records_snapshot["used"] == {
        "enrolment": None,
        "critical_illness": "CI-1",
        "civil_affairs": None,
    }


def test_an_enrolment_in_another_pooling_region_needs_review() -> None:
    elsewhere = dataclasses.replace(ENROLMENT, pooling_region="411500")
    assert outcome(run(with_records(enrolments=[elsewhere])), "enrolment") == (
        "needs_review",
        "enrolment_other_region",
    )


def test_the_enrolment_in_the_policy_region_is_preferred() -> None:
    elsewhere = BasicEnrolment("王浩宇", "employee", "411500", JAN_1, None, 0, "BE-2")
    report = run(with_records(enrolments=[elsewhere, ENROLMENT]))
    assert outcome(report, "enrolment") == ("pass", "enrolment_active")
    assert report.check("enrolment").evidence["source_record_id"] == "BE-1"


def test_year_to_date_reimbursements_count_against_the_cap() -> None:
    # 阜阳 resident basic cap 300,000 yuan; 250,000 already reimbursed this year leaves 50,000.
    used = dataclasses.replace(ENROLMENT, ytd_reimbursed_fen=250_000 * YUAN)
    assert run(with_records(enrolments=[used])).cascade.basic_fen == 50_000 * YUAN


def test_a_hospital_inside_the_pooling_region_is_paid_at_the_in_region_rate() -> None:
    # In-region tertiary 70% instead of filed out-of-region 60%: (300,000 − 1,000) × 70% = 209,300.
    assert run(hospital_region_code="341202").cascade.basic_fen == 209_300 * YUAN


# ---- civil affairs


def test_unclaimed_assistance_must_be_claimed_first() -> None:
    report = run(with_records(civil_affairs=[DIBAO]))
    assert outcome(report, "civil_affairs") == ("needs_review", "assistance_first")
    assert report.decision == "needs_review"
    # Worked by hand: basic 179,400 (as without a class), leaving 120,600. CI with the 低保 tilt: deductible
    # 7,500, rates 65/75/85%: 50,000 × 65% + 50,000 × 75% + 13,100 × 85% = 32,500 + 37,500 + 11,135 = 81,135,
    # leaving 39,465. Assistance for 低保: 75% of 39,465 = 29,598.75. Gap: 80,000 + 9,866.25 = 89,866.25.
    assert report.cascade.assistance_fen == 2_959_875
    assert report.check("civil_affairs").params["assistance_fen"] == 2_959_875
    assert "claim it first" in report.check("civil_affairs").message
    assert report.gap_fen == 8_986_625
    assert (report.capped_target_fen, report.cap_reason) == (8_986_625, "gap")


def test_claimed_assistance_passes() -> None:
    report = run(with_records(civil_affairs=[DIBAO]), assistance_claimed=True)
    assert outcome(report, "civil_affairs") == ("pass", "class_valid")
    assert report.decision == "verified"


def test_a_status_expired_before_treatment_is_not_counted() -> None:
    expired = dataclasses.replace(DIBAO, valid_to=datetime.date(2026, 3, 31))
    report = run(with_records(civil_affairs=[expired]))
    assert outcome(report, "civil_affairs") == ("not_checked", "status_not_valid")
    assert report.check("civil_affairs").params == {
        "assistance_class": "dibao",
        "treatment_date": "2026-04-08",
    }
    assert report.cascade.assistance_fen == 0
    assert outcome(report, "disclosure") == ("not_checked", "disclosure_no_record")
    assert report.decision == "verified"


def test_the_strongest_valid_status_is_used() -> None:
    tekun = dataclasses.replace(DIBAO, assistance_class="tekun", source_record_id="CA-2")
    report = run(with_records(civil_affairs=[DIBAO, tekun]), assistance_claimed=True)
    assert report.check("civil_affairs").params["assistance_class"] == "tekun"
    assert report.records_snapshot["used"] == {
        "enrolment": "BE-1",
        "critical_illness": "CI-1",
        "civil_affairs": "CA-2",
    }


# ---- duplicate, hospital, cost


def test_another_active_campaign_rejects() -> None:
    report = run(other_active_campaigns=1)
    assert outcome(report, "duplicate_campaign") == ("fail", "other_active_campaigns")
    assert report.decision == "rejected"


def test_an_unregistered_hospital_rejects() -> None:
    assert outcome(run(hospital_registered=False), "hospital") == ("fail", "hospital_not_registered")


def test_an_unconfirmed_stay_needs_review() -> None:
    report = run(stay_confirmed=False)
    assert outcome(report, "hospital") == ("needs_review", "stay_not_confirmed")
    assert report.decision == "needs_review"


@pytest.mark.parametrize(
    ("total_yuan", "in_policy_yuan", "expected"),
    [
        (600_000, 300_000, ("needs_review", "cost_above_range")),
        (500_000, 300_000, ("pass", "cost_plausible")),  # the maximum itself is plausible
        (60_000, 40_000, ("pass", "cost_plausible")),  # below the minimum, but not far below
        (49_999, 40_000, ("needs_review", "cost_far_below_range")),  # under half the minimum
    ],
)
def test_cost_is_compared_with_the_disease_range(
    total_yuan: int, in_policy_yuan: int, expected: tuple[str, str]
) -> None:
    report = run(total_cost_fen=total_yuan * YUAN, in_policy_cost_fen=in_policy_yuan * YUAN, target_fen=0)
    assert outcome(report, "cost") == expected


def test_a_diagnosis_outside_the_catalogue_needs_review() -> None:
    report = run(disease_category=None, disease_cost_min_fen=None, disease_cost_max_fen=None)
    assert outcome(report, "cost") == ("needs_review", "disease_not_in_catalogue")


# ---- finances


def test_disclosure_matching_the_record_passes() -> None:
    # Record: 5,500 a month = 66,000 a year; disclosed 72,000 differs by 6,000, within max(20%, 6,000 yuan).
    record = dataclasses.replace(DIBAO, monthly_household_income_fen=5_500 * YUAN)
    report = run(with_records(civil_affairs=[record]), assistance_claimed=True)
    assert outcome(report, "disclosure") == ("pass", "disclosure_consistent")


def test_disclosure_out_of_line_with_the_record_needs_review() -> None:
    record = dataclasses.replace(DIBAO, household_size=3, monthly_household_income_fen=4_000 * YUAN)
    report = run(with_records(civil_affairs=[record]), assistance_claimed=True)
    assert outcome(report, "disclosure") == ("needs_review", "disclosure_mismatch")
    params = report.check("disclosure").params
    assert params["fields"] == "household_size,income"
    assert params["record_income_fen"] == 48_000 * YUAN
    assert report.decision == "needs_review"


def test_resources_that_cover_the_gap_leave_no_need() -> None:
    report = run(savings_fen=GAP - 20_000 * YUAN)
    assert outcome(report, "need") == ("fail", "no_remaining_need")
    assert report.decision == "rejected"
    assert outcome(run(savings_fen=GAP - 20_000 * YUAN - 1), "need") == ("pass", "remaining_need")


# ---- target


def test_a_target_above_the_gap_is_capped_to_the_gap() -> None:
    report = run(target_fen=200_000 * YUAN)
    assert outcome(report, "target") == ("pass", "target_capped_to_gap")
    assert report.check("target").params["from_fen"] == 200_000 * YUAN
    assert report.check("target").params["to_fen"] == GAP
    assert (report.capped_target_fen, report.cap_reason) == (GAP, "gap")
    assert report.decision == "verified"
    assert (
        report.check("target").message
        == "The target was lowered from ¥200,000.00 to ¥131,120.00, the verified gap."
    )


def test_a_target_above_the_platform_limit_is_capped_to_it() -> None:
    # Out of policy 700,000 + 51,120 in-policy remainder: the gap is 751,120 yuan, above the 500,000 limit.
    report = run(total_cost_fen=1_000_000 * YUAN, target_fen=600_000 * YUAN)
    assert report.gap_fen == 751_120 * YUAN
    assert outcome(report, "target") == ("pass", "target_capped_to_platform_limit")
    assert (report.capped_target_fen, report.cap_reason) == (PLATFORM_LIMIT_FEN, "platform_limit")


def test_cap_target() -> None:
    assert cap_target(100, 200) == (100, None)
    assert cap_target(300, 200) == (200, "gap")
    assert cap_target(PLATFORM_LIMIT_FEN + 1, PLATFORM_LIMIT_FEN * 2) == (
        PLATFORM_LIMIT_FEN,
        "platform_limit",
    )
    assert cap_target(PLATFORM_LIMIT_FEN, PLATFORM_LIMIT_FEN * 2) == (PLATFORM_LIMIT_FEN, None)


# ---- the report


def test_the_report_survives_storage_unchanged() -> None:
    report = run(with_records(civil_affairs=[DIBAO]), target_fen=200_000 * YUAN)
    stored = json.loads(json.dumps(report_to_dict(report), ensure_ascii=False))
    assert report_from_dict(stored) == report


def test_the_snapshot_does_not_follow_later_changes_to_the_records() -> None:
    enrolments = [ENROLMENT]
    report = run(with_records(enrolments=enrolments))
    before = json.dumps(report.records_snapshot, sort_keys=True)
    enrolments.append(BasicEnrolment("someone", "employee", "110000", JAN_1, None, 5, "BE-9"))
    assert json.dumps(report.records_snapshot, sort_keys=True) == before
    assert report.records_snapshot["enrolments"] == [
        {
            "source_record_id": "BE-1",
            "person_name": "王浩宇",
            "scheme": "resident",
            "pooling_region": "341200",
            "valid_from": "2026-01-01",
            "valid_to": "2026-12-31",
            "ytd_reimbursed_fen": 0,
            "ytd_in_policy_self_pay_fen": None,
            "ytd_as_of": None,
        }
    ]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({}, "report.format is missing"),
        ({"format": 2}, "report.format must be 1"),
        ({"format": 1, "decision": "maybe"}, "report.decision 'maybe' is not one of"),
    ],
)
def test_report_from_dict_refuses_what_is_not_a_report(bad: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        report_from_dict(bad)


def test_a_policy_for_another_year_is_refused() -> None:
    with pytest.raises(ValueError, match="2026"):
        run(treatment_date=datetime.date(2027, 2, 1))


def test_bad_facts_are_refused() -> None:
    with pytest.raises(ValueError, match="in_policy_cost_fen must not exceed total_cost_fen"):
        dataclasses.replace(FACTS, in_policy_cost_fen=FACTS.total_cost_fen + 1)
    with pytest.raises(ValueError, match="target_fen must not be negative"):
        dataclasses.replace(FACTS, target_fen=-1)


def _all_scenarios() -> list[VerificationReport]:
    expired = dataclasses.replace(DIBAO, valid_to=datetime.date(2026, 3, 31))
    mismatch = dataclasses.replace(DIBAO, household_size=3)
    return [
        run(),
        run(id_number="123"),
        run(sex="F"),
        run(Records()),
        run(with_records(critical_illness=[dataclasses.replace(ENTITLEMENT, person_name="李四")])),
        run(with_records(enrolments=[dataclasses.replace(ENROLMENT, valid_to=datetime.date(2026, 1, 31))])),
        run(with_records(enrolments=[dataclasses.replace(ENROLMENT, pooling_region="110000")])),
        run(with_records(civil_affairs=[DIBAO])),
        run(with_records(civil_affairs=[DIBAO]), assistance_claimed=True),
        run(with_records(civil_affairs=[expired])),
        run(with_records(civil_affairs=[mismatch]), assistance_claimed=True),
        run(other_active_campaigns=2, hospital_registered=False),
        run(stay_confirmed=False, total_cost_fen=600_000 * YUAN),
        run(total_cost_fen=45_000 * YUAN, in_policy_cost_fen=40_000 * YUAN, savings_fen=10**9),
        run(disease_category=None, total_cost_fen=1_000_000 * YUAN, target_fen=600_000 * YUAN),
        run(target_fen=10**9),
        run(hospital_region_code="341202"),
        run(referral_filed=None),
        run(referral_confirmed=False),
        run(referral_filed=False, referral_confirmed=False),
    ]


def test_every_reason_has_an_english_message_that_formats() -> None:
    seen: set[str] = set()
    results: list[CheckResult] = [result for report in _all_scenarios() for result in report.checks]
    for result in results:
        seen.add(result.reason_code)
        message = result.message
        assert message, result
        assert "{" not in message, result
    assert seen == set(CHECK_MESSAGES), set(CHECK_MESSAGES) ^ seen


# ---- referral / filing


def test_a_hospital_in_the_region_needs_no_referral() -> None:
    report = run(hospital_region_code="341202", referral_filed=None, referral_confirmed=False)
    assert outcome(report, "referral") == ("pass", "referral_not_needed")
    assert report.check("referral").evidence == {"hospital_region_code": "341202", "location": "in_region"}
    assert report.decision == "verified"


@pytest.mark.parametrize(
    ("filed", "confirmed", "expected", "params"),
    [
        (None, False, ("needs_review", "referral_not_stated"), {"location": "in_province"}),
        (True, False, ("needs_review", "referral_unconfirmed"), {"location": "in_province", "filed": 1}),
        (False, False, ("needs_review", "referral_unconfirmed"), {"location": "in_province", "filed": 0}),
        (True, True, ("pass", "referral_confirmed"), {"location": "in_province", "filed": 1}),
        (False, True, ("pass", "referral_confirmed"), {"location": "in_province", "filed": 0}),
    ],
)
def test_the_referral_outside_the_region_is_stated_and_confirmed(
    filed: bool | None, confirmed: bool, expected: tuple[str, str], params: dict[str, object]
) -> None:
    facts = dataclasses.replace(FACTS, referral_filed=filed, referral_confirmed=confirmed)
    result = check_referral(facts, "in_province")
    assert (result.status, result.reason_code) == expected
    assert result.params == params
    assert "{" not in result.message


def test_a_referral_nobody_stated_counts_as_not_filed() -> None:
    # The gap assumes no filing (see test_coverage.test_without_filing_the_same_stay_leaves_a_wider_gap:
    # 140,090 yuan) until a reviewer checks.
    unstated = run(referral_filed=None, referral_confirmed=False)
    assert unstated.gap_fen == run(referral_filed=False).gap_fen == 140_090 * YUAN
    assert unstated.decision == "needs_review"
    assert unstated.assumptions[:2] == (
        Assumption("referral_assumed_not_filed", {"location": "in_province", "assistance_share_bp": 0}),
        Assumption("basic_rate_not_filed", {"basic_rate_bp": 4500}),
    )
    facts = dataclasses.replace(FACTS, referral_filed=None)
    assert coverage_input(facts, POLICY, ENROLMENT, ENTITLEMENT, None, YearToDate()).referral_filed is False


def test_the_referral_answer_is_an_assumption_of_the_figures() -> None:
    assert run().assumptions[:2] == (
        Assumption(
            "referral_filed", {"location": "in_province", "assistance_share_bp": FULL_RATE_BP, "confirmed": 1}
        ),
        Assumption("basic_rate_filed", {"basic_rate_bp": 6000}),
    )
    unfiled = run(referral_filed=False, referral_confirmed=False, hospital_region_code="110105")
    assert unfiled.assumptions[:2] == (
        Assumption(
            "referral_not_filed", {"location": "out_of_province", "assistance_share_bp": 0, "confirmed": 0}
        ),
        Assumption("basic_rate_not_filed", {"basic_rate_bp": 4500}),
    )
    assert "45%" in unfiled.assumptions[1].message
    assert "as the family says" in unfiled.assumptions[0].message
    assert run(hospital_region_code="341202").assumptions[0] == Assumption(
        "in_region", {"policy_region": "阜阳市"}
    )


# ---- year to date


def ytd_of(
    enrolment: BasicEnrolment | None = ENROLMENT,
    entitlement: CriticalIllnessEntitlement | None = ENTITLEMENT,
    status: CivilAffairsStatus | None = None,
) -> tuple[YearToDate, tuple[Assumption, ...]]:
    return year_to_date(FACTS, POLICY, enrolment, entitlement, status)


def codes(assumptions: tuple[Assumption, ...]) -> list[str]:
    return [item.code for item in assumptions]


def test_nothing_earlier_this_year_is_said_as_such() -> None:
    ytd, assumptions = ytd_of()
    assert ytd == YearToDate()
    assert assumptions == (Assumption("ytd_none", {}),)
    ytd, assumptions = ytd_of(None, None, None)
    assert (ytd, codes(assumptions)) == (YearToDate(), ["ytd_none"])


def test_a_recorded_self_pay_is_used_as_it_is() -> None:
    enrolment = dataclasses.replace(
        ENROLMENT, ytd_reimbursed_fen=50_000 * YUAN, ytd_in_policy_self_pay_fen=12_345 * YUAN
    )
    entitlement = dataclasses.replace(ENTITLEMENT, ytd_reimbursed_fen=1_000 * YUAN)
    status = dataclasses.replace(DIBAO, ytd_assistance_fen=700 * YUAN)
    ytd, assumptions = ytd_of(enrolment, entitlement, status)
    assert ytd == YearToDate(
        basic_paid_fen=50_000 * YUAN,
        critical_illness_paid_fen=1_000 * YUAN,
        assistance_paid_fen=700 * YUAN,
        in_policy_self_pay_fen=12_345 * YUAN,
    )
    assert assumptions == (
        Assumption(
            "ytd_recorded",
            {
                "basic_paid_fen": 50_000 * YUAN,
                "critical_illness_paid_fen": 1_000 * YUAN,
                "assistance_paid_fen": 700 * YUAN,
                "self_pay_fen": 12_345 * YUAN,
            },
        ),
    )
    # A recorded self-pay of 0 is a figure too: it is not replaced by a floor.
    zero = dataclasses.replace(enrolment, ytd_in_policy_self_pay_fen=0)
    assert ytd_of(zero)[0].in_policy_self_pay_fen == 0


def test_without_a_recorded_self_pay_a_floor_is_derived_from_the_reimbursement() -> None:
    # 阜阳 resident: highest rate 85% (primary), smallest deductible 200 yuan = 20,000 fen. R = 1,000,001 fen:
    #   1,000,001 × (10000 − 8500) // 8500 = 1,500,001,500 // 8500 = 176,470 (176,470.76 rounded down)
    #   + 20,000 = 196,470 fen.
    terms = POLICY.basic("resident")
    assert (terms.highest_rate_bp(), min(terms.deductible_fen.values())) == (8500, 20_000)
    reimbursed = 1_000_001
    enrolment = dataclasses.replace(ENROLMENT, ytd_reimbursed_fen=reimbursed)
    ytd, assumptions = ytd_of(enrolment)
    assert ytd.in_policy_self_pay_fen == 196_470
    assert ytd.in_policy_self_pay_fen == reimbursed * (10_000 - 8500) // 8500 + 20_000
    assert ytd.basic_paid_fen == reimbursed
    assert codes(assumptions) == ["ytd_self_pay_floor"]
    assert assumptions[0].params["self_pay_fen"] == 196_470
    assert "at least ¥1,964.70 is assumed" in assumptions[0].message


def test_the_floor_is_at_least_what_critical_illness_and_assistance_paid() -> None:
    enrolment = dataclasses.replace(ENROLMENT, ytd_reimbursed_fen=1_000_001)  # floor 196,470 (above)
    entitlement = dataclasses.replace(ENTITLEMENT, ytd_reimbursed_fen=3_000_000)
    status = dataclasses.replace(DIBAO, ytd_assistance_fen=500_000)
    # max(196,470, 3,000,000 + 500,000) = 3,500,000.
    assert ytd_of(enrolment, entitlement, status)[0].in_policy_self_pay_fen == 3_500_000
    # And the derived floor wins when it is the larger: max(196,470, 100 + 0).
    small = dataclasses.replace(ENTITLEMENT, ytd_reimbursed_fen=100)
    assert ytd_of(enrolment, small)[0].in_policy_self_pay_fen == 196_470
    # Without any basic reimbursement, only what the other two paid: 3,000,000 + 500,000.
    ytd, assumptions = ytd_of(ENROLMENT, entitlement, status)
    assert ytd.in_policy_self_pay_fen == 3_500_000
    assert codes(assumptions) == ["ytd_self_pay_floor"]


def test_figures_dated_after_the_treatment_are_not_used() -> None:
    later = datetime.date(2026, 5, 1)  # the treatment is on 2026-04-08
    enrolment = dataclasses.replace(
        ENROLMENT, ytd_reimbursed_fen=50_000 * YUAN, ytd_in_policy_self_pay_fen=20_000 * YUAN, ytd_as_of=later
    )
    entitlement = dataclasses.replace(ENTITLEMENT, ytd_reimbursed_fen=9_000 * YUAN, ytd_as_of=later)
    status = dataclasses.replace(DIBAO, ytd_assistance_fen=8_000 * YUAN, ytd_as_of=datetime.date(2026, 4, 9))
    ytd, assumptions = ytd_of(enrolment, entitlement, status)
    assert ytd == YearToDate()
    assert assumptions == (
        Assumption("ytd_dated_after_treatment", {"as_of": "2026-05-01", "treatment_date": "2026-04-08"}),
        Assumption("ytd_none", {}),
    )
    assert "dated 2026-05-01, after the treatment began (2026-04-08)" in assumptions[0].message
    # Only the late record is dropped; figures dated on the treatment day itself are used.
    on_the_day = dataclasses.replace(
        ENTITLEMENT, ytd_reimbursed_fen=9_000 * YUAN, ytd_as_of=FACTS.treatment_date
    )
    ytd, assumptions = ytd_of(enrolment, on_the_day)
    assert ytd == YearToDate(critical_illness_paid_fen=9_000 * YUAN, in_policy_self_pay_fen=9_000 * YUAN)
    assert codes(assumptions) == ["ytd_dated_after_treatment", "ytd_self_pay_floor"]


def test_figures_of_an_earlier_year_are_not_used() -> None:
    last_year = dataclasses.replace(
        ENROLMENT, ytd_reimbursed_fen=50_000 * YUAN, ytd_as_of=datetime.date(2025, 12, 31)
    )
    ytd, _assumptions = ytd_of(last_year)
    assert ytd == YearToDate()


def test_figures_of_an_earlier_year_are_said_to_be_of_an_earlier_year() -> None:
    last_year = dataclasses.replace(
        ENROLMENT, ytd_reimbursed_fen=50_000 * YUAN, ytd_as_of=datetime.date(2025, 12, 31)
    )
    _ytd, assumptions = ytd_of(last_year)
    assert codes(assumptions) == ["ytd_earlier_year", "ytd_none"]
    assert assumptions[0].params == {"as_of": "2025-12-31", "year": 2026}
    assert "of an earlier year (dated 2025-12-31)" in assumptions[0].message


def test_the_years_self_pay_moves_the_critical_illness_deductible_in_the_report() -> None:
    # 15,000 yuan of in-policy self-pay earlier this year meets 阜阳's 15,000-yuan deductible: the CI step of
    # the FACTS case (filed, 120,600 left after basic) has no deductible and pays
    #   50,000 × 60% + 50,000 × 70% + 20,600 × 80% = 30,000 + 35,000 + 16,480 = 81,480,
    # 12,000 more than the 69,480 of a fresh year.
    enrolment = dataclasses.replace(
        ENROLMENT, ytd_reimbursed_fen=35_000 * YUAN, ytd_in_policy_self_pay_fen=15_000 * YUAN
    )
    report = run(with_records(enrolments=[enrolment]))
    assert report.cascade.steps[2].deductible_fen == 0
    assert report.cascade.critical_illness_fen == 81_480 * YUAN
    assert report.gap_fen == GAP - 12_000 * YUAN
    assert "ytd_recorded" in codes(report.assumptions)


# ---- admissions and plans across two years


def _fuyang_data() -> dict[str, Any]:
    with (Path(__file__).resolve().parents[2] / "config" / "policies" / "341200-2026.toml").open("rb") as f:
        return tomllib.load(f)


def _next_year_policy() -> Policy:
    data = _fuyang_data()
    data["year"] = 2027
    data["version"] = "341200-2027.test"
    return policy_from_data(data, "341200-2027 (test copy)")


def _yearly_policy() -> Policy:
    data = _fuyang_data()
    for scheme in ("resident", "employee"):
        data["basic"][scheme]["deductible_per"] = "year"
    data["version"] = "341200-2026.yearly-test"
    return policy_from_data(data, "341200-2026 (yearly deductible)")


NEXT_POLICY = _next_year_policy()
YEARLY_POLICY = _yearly_policy()


def test_several_admissions_are_said_and_charged() -> None:
    # Two admissions: deductible 2 × 1,000; (300,000 − 2,000) × 60% = 178,800, 600 less than one admission;
    # the 600 left after basic is paid by CI at 80% (its top band): gap rises by 600 − 480 = 120 yuan.
    report = run(admissions=2)
    assert report.cascade.basic_fen == 178_800 * YUAN
    assert report.gap_fen == GAP + 120 * YUAN
    assert Assumption("deductible_per_admission", {"admissions": 2, "deductible_fen": 100_000}) in (
        report.assumptions
    )
    assert "deductible_per_admission" not in codes(run().assumptions)


def test_a_yearly_deductible_is_said_even_for_one_admission() -> None:
    report = verify_case(dataclasses.replace(FACTS, admissions=3), RECORDS, YEARLY_POLICY)
    assert report.cascade.basic_fen == 179_400 * YUAN  # one deductible, as for one admission
    assert (
        Assumption("deductible_per_year", {"admissions": 3, "deductible_fen": 100_000}) in report.assumptions
    )


def test_a_plan_into_next_year_is_split_and_said() -> None:
    # 95,000 of the 380,000 yuan (a quarter) falls in 2027: 75,000 of the 300,000 in-policy, 1 of 3 admissions.
    # 2026: in-policy 225,000, 2 admissions: basic (225,000 − 2 × 1,000) × 60% = 133,800, left 91,200;
    #   CI 91,200 − 15,000 = 76,200: 50,000 × 60% + 26,200 × 70% = 30,000 + 18,340 = 48,340, left 42,860;
    #   gap 60,000 + 42,860 = 102,860.
    # 2027, a fresh year: in-policy 75,000, 1 admission: basic (75,000 − 1,000) × 60% = 44,400, left 30,600;
    #   CI (30,600 − 15,000) × 60% = 9,360, left 21,240; gap 20,000 + 21,240 = 41,240.
    # Whole plan: gap 144,100 yuan.
    facts = dataclasses.replace(FACTS, admissions=3, next_year_admissions=1, next_year_cost_fen=95_000 * YUAN)
    with_rules = verify_case(facts, RECORDS, POLICY, NEXT_POLICY)
    without = verify_case(facts, RECORDS, POLICY)
    money = [
        (
            y.total_cost_fen,
            y.in_policy_cost_fen,
            y.basic_fen,
            y.critical_illness_fen,
            y.assistance_fen,
            y.gap_fen,
        )
        for y in with_rules.cascade.years
    ]
    assert money == [
        (285_000 * YUAN, 225_000 * YUAN, 133_800 * YUAN, 48_340 * YUAN, 0, 102_860 * YUAN),
        (95_000 * YUAN, 75_000 * YUAN, 44_400 * YUAN, 9_360 * YUAN, 0, 41_240 * YUAN),
    ]
    assert with_rules.gap_fen == 144_100 * YUAN
    # The 2027 test copy has the same figures, so this year's rules give the same money.
    assert without.gap_fen == with_rules.gap_fen
    assert [(y.year, y.policy_version) for y in with_rules.cascade.years] == [
        (2026, POLICY.version),
        (2027, NEXT_POLICY.version),
    ]
    assert [y.policy_version for y in without.cascade.years] == [POLICY.version, POLICY.version]
    split = Assumption(
        "year_split",
        {
            "next_year": 2027,
            "next_year_cost_fen": 95_000 * YUAN,
            "next_year_in_policy_fen": 75_000 * YUAN,
            "next_year_admissions": 1,
        },
    )
    assert split in with_rules.assumptions
    assert split in without.assumptions
    assert "next_year_rules_missing" not in codes(with_rules.assumptions)
    assert Assumption("next_year_rules_missing", {"next_year": 2027, "year": 2026}) in without.assumptions
    assert [step.year for step in with_rules.cascade.steps] == [2026] * 4 + [2027] * 4


def test_next_years_part_is_labelled_next_year_even_under_this_years_rules() -> None:
    facts = dataclasses.replace(FACTS, admissions=3, next_year_admissions=1, next_year_cost_fen=95_000 * YUAN)
    without = verify_case(facts, RECORDS, POLICY)
    assert [y.year for y in without.cascade.years] == [2026, 2027]
    assert [step.year for step in without.cascade.steps] == [2026] * 4 + [2027] * 4


def test_a_next_policy_for_the_wrong_year_is_refused() -> None:
    with pytest.raises(ValueError, match="is not for 2027"):
        verify_case(FACTS, RECORDS, POLICY, POLICY)


def test_every_assumption_has_an_english_message_that_formats() -> None:
    later = datetime.date(2026, 6, 1)
    reports = [
        run(),
        run(hospital_region_code="341202"),
        run(referral_filed=False),
        run(referral_filed=None),
        run(admissions=2),
        run(next_year_cost_fen=1_000 * YUAN),
        run(with_records(enrolments=[dataclasses.replace(ENROLMENT, ytd_reimbursed_fen=1)])),
        run(with_records(enrolments=[dataclasses.replace(ENROLMENT, ytd_in_policy_self_pay_fen=5)])),
        run(with_records(enrolments=[dataclasses.replace(ENROLMENT, ytd_reimbursed_fen=1, ytd_as_of=later)])),
        run(
            with_records(
                enrolments=[
                    dataclasses.replace(
                        ENROLMENT, ytd_reimbursed_fen=1, ytd_as_of=datetime.date(2025, 12, 31)
                    )
                ]
            )
        ),
        verify_case(FACTS, RECORDS, YEARLY_POLICY),
    ]
    seen: set[str] = set()
    for report in reports:
        for item in report.assumptions:
            seen.add(item.code)
            assert item.message
            assert "{" not in item.message, item
    assert seen == set(ASSUMPTION_MESSAGES), set(ASSUMPTION_MESSAGES) ^ seen


# ---- the stored report, with assumptions and years


def test_a_split_report_with_assumptions_survives_storage() -> None:
    facts = dataclasses.replace(FACTS, admissions=2, next_year_admissions=1, next_year_cost_fen=95_000 * YUAN)
    report = verify_case(facts, with_records(civil_affairs=[DIBAO]), POLICY, NEXT_POLICY)
    assert report.assumptions
    assert len(report.cascade.years) == 2
    stored = json.loads(json.dumps(report_to_dict(report), ensure_ascii=False))
    loaded = report_from_dict(stored)
    assert loaded == report
    assert loaded.assumptions == report.assumptions
    assert loaded.cascade.years == report.cascade.years
    assert [step.year for step in loaded.cascade.steps] == [2026] * 4 + [2027] * 4


def test_a_report_stored_before_assumptions_and_years_still_loads() -> None:
    report = run(with_records(civil_affairs=[DIBAO]))
    stored = json.loads(json.dumps(report_to_dict(report), ensure_ascii=False))
    del stored["assumptions"]
    del stored["cascade"]["years"]
    for step in stored["cascade"]["steps"]:
        del step["year"]
    loaded = report_from_dict(stored)
    assert loaded.assumptions == ()
    assert loaded.cascade.years == ()
    assert {step.year for step in loaded.cascade.steps} == {None}
    assert loaded.gap_fen == report.gap_fen
    assert loaded.checks == report.checks
    # A stored check with the status "not_checked" reads back as such.
    assert loaded.check("disclosure").status == report.check("disclosure").status


def test_a_stored_report_with_an_unknown_status_is_refused() -> None:
    stored = report_to_dict(run())
    checks = stored["checks"]
    assert isinstance(checks, list)
    first = checks[0]
    assert isinstance(first, dict)
    first["status"] = "skipped"
    with pytest.raises(ValueError, match=re.escape("report.checks[0].status 'skipped' is not one of")):
        report_from_dict(stored)


# ---- edge cases found in review


def test_the_referral_assumption_formats_without_an_enrolment() -> None:
    report = run(Records())  # no enrolment; the hospital in 合肥 is outside 阜阳
    assert report.assumptions[0].code == "referral_filed"
    assert "{" not in report.assumptions[0].message
    assert not any(item.code.startswith("basic_rate_") for item in report.assumptions)


def test_an_unfiled_rate_above_the_filed_one_is_refused() -> None:
    data = _fuyang_data()
    data["basic"]["resident"]["in_province_unfiled_rate_bp"]["primary"] = 9900
    with pytest.raises(PolicyError, match=re.escape("in_province_unfiled_rate_bp.primary")):
        policy_from_data(data, "341200-2026 (swapped tables)")


def test_the_derived_floor_uses_the_highest_rate_any_stay_could_be_paid_at() -> None:
    data = _fuyang_data()
    data["basic"]["resident"]["out_of_province_filed_rate_bp"]["primary"] = 9500  # above every in-region rate
    policy = policy_from_data(data, "341200-2026 (out-of-region rate above in-region)")
    enrolment = dataclasses.replace(ENROLMENT, ytd_reimbursed_fen=950_000)
    ytd, _assumptions = year_to_date(FACTS, policy, enrolment, None, None)
    # A primary stay out of province at 95%: 1,000,000 fen above the 20,000 deductible gives R = 950,000 with a
    # self-pay of 20,000 + 50,000 = 70,000 fen. The floor must not exceed it:
    #   950,000 × 500 // 9500 + 20,000 = 70,000 (got 950,000 × 1500 // 8500 + 20,000 = 187,647).
    assert ytd.in_policy_self_pay_fen <= 70_000

"""Eligibility checks and the verification report for one case, against the shipped 阜阳 policy."""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
from pathlib import Path
from typing import Any

import pytest

from verification.checks import (
    PLATFORM_LIMIT_FEN,
    CaseFacts,
    VerificationReport,
    cap_target,
    normalize_name,
    report_from_dict,
    report_to_dict,
    verify_case,
)
from verification.identity import make_resident_id, mask_id, parse_resident_id
from verification.policy_files import load_policy
from verification.records import BasicEnrolment, CivilAffairsStatus, CriticalIllnessEntitlement, Records
from verification.report import CHECK_MESSAGES, CheckResult

POLICY = load_policy(Path(__file__).resolve().parents[2] / "config" / "policies" / "341200-2026.toml")
YUAN = 100
JAN_1 = datetime.date(2026, 1, 1)
DEC_31 = datetime.date(2026, 12, 31)
PATIENT_ID = make_resident_id("341221", datetime.date(2019, 3, 14), "M", 1)

# A child from 临泉县 (阜阳) treated for leukaemia at 安徽省立医院 in 合肥, with the filing made.
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
    assert {result.status for result in report.checks} == {"pass"}
    assert [result.code for result in report.checks] == [
        "identity_number",
        "identity_records",
        "enrolment",
        "civil_affairs",
        "duplicate_campaign",
        "hospital",
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
    assert outcome(report, "civil_affairs") == ("pass", "status_not_valid")
    assert report.cascade.assistance_fen == 0
    assert outcome(report, "disclosure") == ("pass", "disclosure_no_record")


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

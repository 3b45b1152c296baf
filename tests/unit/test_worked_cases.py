"""Worked cases: one row per rule of the coverage cascade, each worked by hand in the comments above it.

The rows run on a small synthetic policy with round figures (`synthetic_data` below), so the arithmetic is
easy to follow and the rows do not move when the illustrative figures in config/policies change. Two rows pin
the demo case with the shipped 阜阳 file.

Each expected value is (basic insurance, critical illness, medical assistance, gap) in fen. In the comments,
amounts are yuan; "left" is the in-policy amount still unpaid after that tier.

The synthetic policy 990100 (2026), resident scheme:
    basic: deductible per admission primary 100 / secondary 500 / tertiary 1,000; annual cap 500,000;
        tertiary rates: in region 70%; in province filed 60%, unfiled 50%; out of province filed 50%,
        unfiled 40%.
    critical illness: deductible 10,000 a year; bands 60% to 50,000, 70% to 100,000, 80% beyond; cap 300,000.
        tilt: tekun/dibao/returned_to_poverty: deductible −50%, +5 points, cap lifted;
              dibao_edge/monitored: deductible −20%, +2 points; illness_impoverished: −10%, +1 point.
    assistance (deductible, rate, cap): tekun 0, 90%, 100,000; dibao and returned_to_poverty 0, 80%, 80,000;
        dibao_edge and monitored 2,000, 70%, 50,000; illness_impoverished 5,000, 60%, 30,000.
    assistance outside the region: 80% of its usual amount when filed, nothing when not filed.

The standard stay: total 200,000, in-policy 150,000, resident, tertiary, critical-illness entitled.
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Callable
from functools import cache, partial
from pathlib import Path
from typing import Any

import pytest

from verification.case import verify_case
from verification.checks import CaseFacts
from verification.coverage import (
    Cascade,
    CoverageInput,
    YearToDate,
    compute_cascade,
    compute_plan,
    split_by_year,
)
from verification.identity import make_resident_id
from verification.policy import (
    ASSISTANCE_CLASSES,
    AssistanceClass,
    HospitalTier,
    Location,
    Policy,
    class_order_violations,
    class_strength,
    national_floor_violations,
)
from verification.policy_files import load_policies, policy_from_data
from verification.records import BasicEnrolment, CivilAffairsStatus, CriticalIllnessEntitlement, Records

YUAN = 100
POLICY_DIR = Path(__file__).resolve().parents[2] / "config" / "policies"

# ---- the synthetic policy


def _per_tier(primary: int, secondary: int, tertiary: int) -> dict[str, int]:
    return {"primary": primary, "secondary": secondary, "tertiary": tertiary}


def _basic() -> dict[str, Any]:
    return {
        "annual_cap_fen": 500_000 * YUAN,
        "deductible_per": "admission",
        "deductible_fen": _per_tier(100 * YUAN, 500 * YUAN, 1_000 * YUAN),
        "rate_bp": _per_tier(9000, 8000, 7000),
        "in_province_filed_rate_bp": _per_tier(8000, 7000, 6000),
        "in_province_unfiled_rate_bp": _per_tier(7000, 6000, 5000),
        "out_of_province_filed_rate_bp": _per_tier(7000, 6000, 5000),
        "out_of_province_unfiled_rate_bp": _per_tier(6000, 5000, 4000),
    }


def _tilt(reduction_bp: int, increase_bp: int, lifted: bool) -> dict[str, Any]:
    return {"deductible_reduction_bp": reduction_bp, "rate_increase_bp": increase_bp, "cap_lifted": lifted}


def _assistance(deductible_yuan: int, rate_bp: int, cap_yuan: int) -> dict[str, Any]:
    return {
        "base": "in_policy_self_pay",
        "deductible_fen": deductible_yuan * YUAN,
        "rate_bp": rate_bp,
        "annual_cap_fen": cap_yuan * YUAN,
    }


def synthetic_data() -> dict[str, Any]:
    """The policy file (as parsed TOML) of the synthetic region 990100 for 2026; see the module docstring."""
    full, half = _tilt(5000, 500, True), _tilt(2000, 200, False)
    return {
        "region_code": "990100",
        "region_name": "样例市 (synthetic)",
        "year": 2026,
        "version": "990100-2026.test",
        "per_capita_disposable_income_fen": 40_000 * YUAN,
        "basic": {"resident": _basic(), "employee": _basic()},
        "critical_illness": {
            "resident": {
                "deductible_fen": 10_000 * YUAN,
                "annual_cap_fen": 300_000 * YUAN,
                "bands": [
                    {"up_to_fen": 50_000 * YUAN, "rate_bp": 6000},
                    {"up_to_fen": 100_000 * YUAN, "rate_bp": 7000},
                    {"up_to_fen": "none", "rate_bp": 8000},
                ],
                "tilt": {
                    "tekun": full,
                    "dibao": full,
                    "returned_to_poverty": full,
                    "dibao_edge": half,
                    "monitored": half,
                    "illness_impoverished": _tilt(1000, 100, False),
                },
            },
            "employee": {
                "deductible_fen": 10_000 * YUAN,
                "annual_cap_fen": 400_000 * YUAN,
                "bands": [
                    {"up_to_fen": 100_000 * YUAN, "rate_bp": 8000},
                    {"up_to_fen": "none", "rate_bp": 9000},
                ],
            },
        },
        "assistance": {
            "tekun": _assistance(0, 9000, 100_000),
            "dibao": _assistance(0, 8000, 80_000),
            "returned_to_poverty": _assistance(0, 8000, 80_000),
            "dibao_edge": _assistance(2_000, 7000, 50_000),
            "monitored": _assistance(2_000, 7000, 50_000),
            "illness_impoverished": _assistance(5_000, 6000, 30_000),
        },
        "assistance_out_of_region": {"filed_share_bp": 8000, "unfiled_share_bp": 0},
    }


def _variant(change: Callable[[dict[str, Any]], None], source: str) -> Policy:
    data = copy.deepcopy(synthetic_data())
    change(data)
    return policy_from_data(data, source)


def _yearly(data: dict[str, Any]) -> None:
    for scheme in ("resident", "employee"):
        data["basic"][scheme]["deductible_per"] = "year"
    data["version"] = "990100-2026.yearly"


def _next_year(data: dict[str, Any]) -> None:
    # 2027: tertiary in-region rate 80% (was 70%), critical-illness deductible 8,000 (was 10,000).
    data["year"] = 2027
    data["version"] = "990100-2027.test"
    data["basic"]["resident"]["rate_bp"]["tertiary"] = 8000
    data["critical_illness"]["resident"]["deductible_fen"] = 8_000 * YUAN


POLICY = policy_from_data(synthetic_data(), "990100-2026 (synthetic)")
YEARLY = _variant(_yearly, "990100-2026 (synthetic, deductible once a year)")
NEXT_YEAR = _variant(_next_year, "990100-2027 (synthetic)")

IN_REGION = "990102"
IN_PROVINCE = "990200"  # another pooling region of province 99
OUT_OF_PROVINCE = "980100"


def test_the_synthetic_policies_are_valid_and_placed_as_the_rows_say() -> None:
    for policy in (POLICY, YEARLY, NEXT_YEAR):
        assert class_order_violations(policy) == []
        assert national_floor_violations(policy) == []
    assert [POLICY.location_of(code) for code in (IN_REGION, IN_PROVINCE, OUT_OF_PROVINCE)] == [
        "in_region",
        "in_province",
        "out_of_province",
    ]
    assert (YEARLY.basic("resident").deductible_per, NEXT_YEAR.year) == ("year", 2027)


# ---- how a row runs


def stay(
    *,
    policy: Policy = POLICY,
    total_yuan: int = 200_000,
    in_policy_yuan: int = 150_000,
    tier: HospitalTier = "tertiary",
    location: Location = "in_region",
    filed: bool = False,
    assistance_class: AssistanceClass | None = None,
    ytd: YearToDate | None = None,
    admissions: int = 1,
) -> Cascade:
    """The cascade of one stay (the standard one unless told otherwise) under `policy`."""
    case = CoverageInput(
        total_cost_fen=total_yuan * YUAN,
        in_policy_cost_fen=in_policy_yuan * YUAN,
        scheme="resident",
        hospital_tier=tier,
        location=location,
        referral_filed=filed,
        assistance_class=assistance_class,
        critical_illness_entitled=True,
        year_to_date=ytd or YearToDate(),
        admissions=admissions,
    )
    return compute_cascade(case, policy)


JAN_1 = datetime.date(2026, 1, 1)
SYNTHETIC_FACTS = CaseFacts(
    patient_name="李明",
    id_number=make_resident_id(
        "341221", datetime.date(2015, 6, 1), "M", 7
    ),  # any valid number: only the cascade is read
    birth_date=datetime.date(2015, 6, 1),
    sex="M",
    patient_region_code="990102",
    treatment_date=datetime.date(2026, 10, 12),
    hospital_registered=True,
    hospital_tier="tertiary",
    hospital_region_code=IN_REGION,
    stay_confirmed=True,
    disease_category=None,
    disease_cost_min_fen=None,
    disease_cost_max_fen=None,
    total_cost_fen=200_000 * YUAN,
    in_policy_cost_fen=150_000 * YUAN,
    disclosed_household_size=3,
    disclosed_annual_income_fen=40_000 * YUAN,
    savings_fen=0,
    commercial_insurance_fen=0,
    other_fundraising_fen=0,
    target_fen=50_000 * YUAN,
    other_active_campaigns=0,
    # 3 admissions, the last of them and 80,000 of the 200,000 in 2027.
    admissions=3,
    next_year_admissions=1,
    next_year_cost_fen=80_000 * YUAN,
)
SYNTHETIC_RECORDS = Records(
    enrolments=[BasicEnrolment("李明", "resident", "990100", JAN_1, None, 0, "BE-S")],
    critical_illness=[CriticalIllnessEntitlement("李明", "990100", JAN_1, None, 0, "CI-S")],
)


def plan_via_verify_case(*, with_next_policy: bool) -> Cascade:
    return verify_case(
        SYNTHETIC_FACTS, SYNTHETIC_RECORDS, POLICY, NEXT_YEAR if with_next_policy else None
    ).cascade


def plan_via_compute_plan() -> Cascade:
    (this_total, this_in), (next_total, next_in) = split_by_year(
        200_000 * YUAN, 150_000 * YUAN, 80_000 * YUAN
    )

    def part(total: int, in_policy: int, admissions: int) -> CoverageInput:
        return CoverageInput(
            total, in_policy, "resident", "tertiary", "in_region", False, None, True, admissions=admissions
        )

    return compute_plan([(part(this_total, this_in, 2), POLICY), (part(next_total, next_in, 1), NEXT_YEAR)])


# The demo case: a 低保 child from 临泉县 (341221, 阜阳) treated at 安徽省立医院 (340103, 合肥: same province,
# another pooling region), resident scheme, critical-illness entitled, nothing paid earlier this year.
DEMO_ID = make_resident_id("341221", datetime.date(2019, 3, 14), "M", 1)


@cache
def fuyang() -> Policy:
    return load_policies(POLICY_DIR)[("341200", 2026)]


def demo_case(*, filed: bool) -> Cascade:
    facts = CaseFacts(
        patient_name="王浩宇",
        id_number=DEMO_ID,
        birth_date=datetime.date(2019, 3, 14),
        sex="M",
        patient_region_code="341221",
        treatment_date=datetime.date(2026, 4, 8),
        hospital_registered=True,
        hospital_tier="tertiary",
        hospital_region_code="340103",
        stay_confirmed=True,
        referral_filed=filed,
        referral_confirmed=True,
        disease_category="leukemia",
        disease_cost_min_fen=100_000 * YUAN,
        disease_cost_max_fen=500_000 * YUAN,
        total_cost_fen=380_000 * YUAN,
        in_policy_cost_fen=300_000 * YUAN,
        disclosed_household_size=4,
        disclosed_annual_income_fen=72_000 * YUAN,
        savings_fen=0,
        commercial_insurance_fen=0,
        other_fundraising_fen=0,
        target_fen=120_000 * YUAN,
        other_active_campaigns=0,
    )
    records = Records(
        enrolments=[BasicEnrolment("王浩宇", "resident", "341200", JAN_1, None, 0, "BE-1")],
        critical_illness=[CriticalIllnessEntitlement("王浩宇", "341200", JAN_1, None, 0, "CI-1")],
        civil_affairs=[
            CivilAffairsStatus(
                "王浩宇", "dibao", datetime.date(2025, 7, 1), None, 4, 6_000 * YUAN, "341221", "CA-1"
            )
        ],
    )
    return verify_case(facts, records, fuyang()).cascade


# ---- the table

WORKED: list[Any] = [
    # ---- where the hospital is
    #
    # In region, no class:
    #   basic: deductible 1,000; base 150,000 − 1,000 = 149,000; × 70% = 104,300.           left 45,700
    #   CI: deductible 10,000; base 35,700, all in band 1: × 60% = 21,420.                   left 24,280
    #   assistance: no class.                 gap = 50,000 out of policy + 24,280 = 74,280
    pytest.param(partial(stay), (104_300 * YUAN, 21_420 * YUAN, 0, 74_280 * YUAN), id="in_region"),
    # Another province, filed:
    #   basic: 149,000 × 50% = 74,500.                                                       left 75,500
    #   CI: base 75,500 − 10,000 = 65,500: band 1 50,000 × 60% = 30,000;
    #       band 2 15,500 × 70% = 10,850 → 40,850.                                           left 34,650
    #                                         gap = 50,000 + 34,650 = 84,650
    pytest.param(
        partial(stay, location="out_of_province", filed=True),
        (74_500 * YUAN, 40_850 * YUAN, 0, 84_650 * YUAN),
        id="out_of_province_filed",
    ),
    # Another province, not filed:
    #   basic: 149,000 × 40% = 59,600.                                                       left 90,400
    #   CI: base 80,400: 50,000 × 60% = 30,000; 30,400 × 70% = 21,280 → 51,280.              left 39,120
    #                                         gap = 50,000 + 39,120 = 89,120
    pytest.param(
        partial(stay, location="out_of_province", filed=False),
        (59_600 * YUAN, 51_280 * YUAN, 0, 89_120 * YUAN),
        id="out_of_province_unfiled",
    ),
    # Another province, filed, 低保:
    #   basic: 149,000 × 50% = 74,500.                                                       left 75,500
    #   CI, 低保 tilt: deductible 10,000 × 50% = 5,000; rates 65/75/85%; base 70,500:
    #       50,000 × 65% = 32,500; 20,500 × 75% = 15,375 → 47,875.                           left 27,625
    #   assistance: deductible 0; rate 80% × filed share 80% = 64%; 27,625 × 64% = 17,680.   left  9,945
    #                                         gap = 50,000 + 9,945 = 59,945
    pytest.param(
        partial(stay, location="out_of_province", filed=True, assistance_class="dibao"),
        (74_500 * YUAN, 47_875 * YUAN, 17_680 * YUAN, 59_945 * YUAN),
        id="out_of_province_filed_dibao",
    ),
    # Same province, another prefecture, filed, 低保:
    #   basic: 149,000 × 60% = 89,400.                                                       left 60,600
    #   CI, 低保 tilt: deductible 5,000; base 55,600: 50,000 × 65% = 32,500;
    #       5,600 × 75% = 4,200 → 36,700.                                                    left 23,900
    #   assistance: 80% × 80% share = 64%; 23,900 × 64% = 15,296.                            left  8,604
    #                                         gap = 50,000 + 8,604 = 58,604
    pytest.param(
        partial(stay, location="in_province", filed=True, assistance_class="dibao"),
        (89_400 * YUAN, 36_700 * YUAN, 15_296 * YUAN, 58_604 * YUAN),
        id="in_province_filed_dibao",
    ),
    # Same province, another prefecture, not filed, 低保:
    #   basic: 149,000 × 50% = 74,500.                                                       left 75,500
    #   CI, 低保 tilt: base 70,500: 32,500 + 20,500 × 75% = 15,375 → 47,875.                  left 27,625
    #   assistance: unfiled share 0 → 0.      gap = 50,000 + 27,625 = 77,625
    pytest.param(
        partial(stay, location="in_province", filed=False, assistance_class="dibao"),
        (74_500 * YUAN, 47_875 * YUAN, 0, 77_625 * YUAN),
        id="in_province_unfiled_dibao",
    ),
    # ---- year to date
    #
    # 4,000 self-paid earlier this year, below the CI deductible:
    #   basic: 104,300 (the deductible is per admission, earlier self-pay does not touch it). left 45,700
    #   CI: deductible left 10,000 − 4,000 = 6,000; base 39,700, bands from 0: × 60% = 23,820. left 21,880
    #                                         gap = 50,000 + 21,880 = 71,880
    pytest.param(
        partial(stay, ytd=YearToDate(in_policy_self_pay_fen=4_000 * YUAN)),
        (104_300 * YUAN, 23_820 * YUAN, 0, 71_880 * YUAN),
        id="ytd_below_ci_deductible",
    ),
    # 12,000 self-paid earlier, above the CI deductible: the deductible is gone and the bands resume at
    # 12,000 − 10,000 = 2,000.
    #   CI: base 45,700, from 2,000 to 47,700, all in band 1: × 60% = 27,420.                 left 18,280
    #                                         gap = 50,000 + 18,280 = 68,280
    pytest.param(
        partial(stay, ytd=YearToDate(in_policy_self_pay_fen=12_000 * YUAN)),
        (104_300 * YUAN, 27_420 * YUAN, 0, 68_280 * YUAN),
        id="ytd_above_ci_deductible",
    ),
    # 70,000 self-paid earlier: the bands resume at 60,000, in the 2nd band.
    #   CI: base 45,700, from 60,000 to 105,700: 40,000 (to 100,000) × 70% = 28,000;
    #       5,700 × 80% = 4,560 → 32,560.                                                    left 13,140
    #                                         gap = 50,000 + 13,140 = 63,140
    pytest.param(
        partial(stay, ytd=YearToDate(in_policy_self_pay_fen=70_000 * YUAN)),
        (104_300 * YUAN, 32_560 * YUAN, 0, 63_140 * YUAN),
        id="ytd_bands_resume_in_2nd_band",
    ),
    # 因病致贫, 8,000 self-paid earlier this year (none of it paid back by CI):
    #   basic 104,300.                                                                       left 45,700
    #   CI, tilt −10%/+1: deductible 9,000 − 8,000 = 1,000 left; base 44,700 × 61% = 27,267. left 18,433
    #   assistance: the year's 8,000 ≥ its 5,000 deductible → none left;
    #       18,433 × 60% = 11,059.80.                                                        left  7,373.20
    #                                         gap = 50,000 + 7,373.20 = 57,373.20
    pytest.param(
        partial(
            stay, assistance_class="illness_impoverished", ytd=YearToDate(in_policy_self_pay_fen=8_000 * YUAN)
        ),
        (104_300 * YUAN, 27_267 * YUAN, 1_105_980, 5_737_320),
        id="ytd_above_assistance_deductible_illness_impoverished",
    ),
    # 因病致贫, 6,000 self-paid earlier, 2,000 of which critical illness paid back: only 4,000 meets
    # assistance's deductible (the rule in isolation; the figures need not come from one real year).
    #   CI: deductible 9,000 − 6,000 = 3,000; base 42,700 × 61% = 26,047.                     left 19,653
    #   assistance: deductible 5,000 − (6,000 − 2,000) = 1,000; base 18,653 × 60% = 11,191.80. left 8,461.20
    #                                         gap = 50,000 + 8,461.20 = 58,461.20
    pytest.param(
        partial(
            stay,
            assistance_class="illness_impoverished",
            ytd=YearToDate(critical_illness_paid_fen=2_000 * YUAN, in_policy_self_pay_fen=6_000 * YUAN),
        ),
        (104_300 * YUAN, 26_047 * YUAN, 1_119_180, 5_846_120),
        id="ytd_ci_payments_do_not_meet_assistance_deductible",
    ),
    # ---- a plan across two years: total 200,000, in-policy 150,000, 3 admissions; 80,000 and 1 admission
    # in 2027. split: 2027 in-policy 150,000 × 80,000 / 200,000 = 60,000; 2026 keeps 120,000 (90,000).
    #
    # 2026 part (2 admissions):
    #   basic: deductible 2 × 1,000 = 2,000; base 88,000 × 70% = 61,600.                      left 28,400
    #   CI: base 28,400 − 10,000 = 18,400 × 60% = 11,040.                                     left 17,360
    #   gap 30,000 + 17,360 = 47,360.
    # 2027 part under the 2027 policy (1 admission, a fresh year):
    #   basic: 60,000 − 1,000 = 59,000 × 80% = 47,200.                                        left 12,800
    #   CI: deductible 8,000; 4,800 × 60% = 2,880.                                             left  9,920
    #   gap 20,000 + 9,920 = 29,920.
    # Plan: basic 61,600 + 47,200 = 108,800; CI 11,040 + 2,880 = 13,920; gap 47,360 + 29,920 = 77,280.
    pytest.param(
        partial(plan_via_verify_case, with_next_policy=True),
        (108_800 * YUAN, 13_920 * YUAN, 0, 77_280 * YUAN),
        id="plan_two_years_two_policies",
    ),
    pytest.param(
        plan_via_compute_plan,
        (108_800 * YUAN, 13_920 * YUAN, 0, 77_280 * YUAN),
        id="plan_two_years_compute_plan",
    ),
    # 2027 part under the 2026 policy (2027's not published):
    #   basic: 59,000 × 70% = 41,300.                                                          left 18,700
    #   CI: deductible 10,000; 8,700 × 60% = 5,220.                                            left 13,480
    #   gap 20,000 + 13,480 = 33,480.
    # Plan: basic 61,600 + 41,300 = 102,900; CI 11,040 + 5,220 = 16,260; gap 47,360 + 33,480 = 80,840.
    pytest.param(
        partial(plan_via_verify_case, with_next_policy=False),
        (102_900 * YUAN, 16_260 * YUAN, 0, 80_840 * YUAN),
        id="plan_two_years_next_rules_missing",
    ),
    # ---- several admissions
    #
    # 3 admissions, deductible per admission:
    #   basic: deductible 3 × 1,000 = 3,000; base 147,000 × 70% = 102,900.                    left 47,100
    #   CI: base 37,100 × 60% = 22,260.                                                        left 24,840
    #                                         gap = 50,000 + 24,840 = 74,840
    pytest.param(
        partial(stay, admissions=3),
        (102_900 * YUAN, 22_260 * YUAN, 0, 74_840 * YUAN),
        id="three_admissions_deductible_each",
    ),
    # 3 admissions, deductible once a year, nothing earlier this year: one deductible of 1,000, as in_region.
    pytest.param(
        partial(stay, policy=YEARLY, admissions=3),
        (104_300 * YUAN, 21_420 * YUAN, 0, 74_280 * YUAN),
        id="yearly_deductible_charged_once",
    ),
    # Deductible once a year, 400 self-paid earlier and nothing reimbursed yet:
    #   basic: deductible 1,000 − 400 = 600; base 149,400 × 70% = 104,580.                     left 45,420
    #   CI: deductible 10,000 − 400 = 9,600; base 35,820 × 60% = 21,492.                       left 23,928
    #                                         gap = 50,000 + 23,928 = 73,928
    pytest.param(
        partial(stay, policy=YEARLY, ytd=YearToDate(in_policy_self_pay_fen=400 * YUAN)),
        (104_580 * YUAN, 21_492 * YUAN, 0, 73_928 * YUAN),
        id="yearly_deductible_partly_met",
    ),
    # Deductible once a year, basic already reimbursed 5,000 this year: the deductible was met.
    #   basic: deductible 0; 150,000 × 70% = 105,000.                                          left 45,000
    #   CI: base 35,000 × 60% = 21,000.                                                        left 24,000
    #                                         gap = 50,000 + 24,000 = 74,000
    pytest.param(
        partial(stay, policy=YEARLY, ytd=YearToDate(basic_paid_fen=5_000 * YUAN)),
        (105_000 * YUAN, 21_000 * YUAN, 0, 74_000 * YUAN),
        id="yearly_deductible_met_by_earlier_reimbursement",
    ),
    # ---- each class, in region. Basic is always 104,300, leaving 45,700.
    #
    # 特困: CI deductible 5,000; base 40,700 × 65% = 26,455.                                    left 19,245
    #   assistance: 19,245 × 90% = 17,320.50.                                                  left  1,924.50
    #                                         gap = 50,000 + 1,924.50 = 51,924.50
    pytest.param(
        partial(stay, assistance_class="tekun"),
        (104_300 * YUAN, 26_455 * YUAN, 1_732_050, 5_192_450),
        id="class_tekun",
    ),
    # 低保: CI as 特困, 26,455.                                                                 left 19,245
    #   assistance: 19,245 × 80% = 15,396.                                                     left  3,849
    #                                         gap = 50,000 + 3,849 = 53,849
    pytest.param(
        partial(stay, assistance_class="dibao"),
        (104_300 * YUAN, 26_455 * YUAN, 15_396 * YUAN, 53_849 * YUAN),
        id="class_dibao",
    ),
    # 返贫致贫人口: the 低保 tilt and assistance, so the 低保 figures.
    pytest.param(
        partial(stay, assistance_class="returned_to_poverty"),
        (104_300 * YUAN, 26_455 * YUAN, 15_396 * YUAN, 53_849 * YUAN),
        id="class_returned_to_poverty",
    ),
    # 低保边缘: CI deductible 10,000 × 80% = 8,000; rate 62%; base 37,700 × 62% = 23,374.        left 22,326
    #   assistance: deductible 2,000; 20,326 × 70% = 14,228.20.                                left  8,097.80
    #                                         gap = 50,000 + 8,097.80 = 58,097.80
    pytest.param(
        partial(stay, assistance_class="dibao_edge"),
        (104_300 * YUAN, 23_374 * YUAN, 1_422_820, 5_809_780),
        id="class_dibao_edge",
    ),
    # 监测对象: the 低保边缘 figures.
    pytest.param(
        partial(stay, assistance_class="monitored"),
        (104_300 * YUAN, 23_374 * YUAN, 1_422_820, 5_809_780),
        id="class_monitored",
    ),
    # 因病致贫: CI deductible 10,000 × 90% = 9,000; rate 61%; base 36,700 × 61% = 22,387.       left 23,313
    #   assistance: deductible 5,000; 18,313 × 60% = 10,987.80.                                left 12,325.20
    #                                         gap = 50,000 + 12,325.20 = 62,325.20
    pytest.param(
        partial(stay, assistance_class="illness_impoverished"),
        (104_300 * YUAN, 22_387 * YUAN, 1_098_780, 6_232_520),
        id="class_illness_impoverished",
    ),
    # No class: as in_region.
    pytest.param(partial(stay), (104_300 * YUAN, 21_420 * YUAN, 0, 74_280 * YUAN), id="class_none"),
    # ---- the demo case, with the shipped 阜阳 file: total 380,000, in-policy 300,000, 低保, tertiary in 合肥.
    #
    # Filed:
    #   basic: in-province filed tertiary 60%; (300,000 − 1,000) × 60% = 179,400.              left 120,600
    #   CI, 低保 tilt: deductible 15,000 × 50% = 7,500; rates 65/75/85%; base 113,100:
    #       50,000 × 65% = 32,500; 50,000 × 75% = 37,500; 13,100 × 85% = 11,135 → 81,135.      left  39,465
    #   assistance: 低保 75%, no deductible, filed share 100%; 39,465 × 75% = 29,598.75.       left   9,866.25
    #                                         gap = 80,000 + 9,866.25 = 89,866.25 = 8,986,625 fen
    pytest.param(
        partial(demo_case, filed=True),
        (179_400 * YUAN, 81_135 * YUAN, 2_959_875, 8_986_625),
        id="demo_fuyang_dibao_filed",
    ),
    # Not filed:
    #   basic: in-province unfiled tertiary 45%; 299,000 × 45% = 134,550.                      left 165,450
    #   CI: base 165,450 − 7,500 = 157,950: 32,500 + 37,500 + 57,950 × 85% = 49,257.50
    #       → 119,257.50.                                                                      left  46,192.50
    #   assistance: unfiled share 0 → 0.      gap = 80,000 + 46,192.50 = 126,192.50 = 12,619,250 fen
    pytest.param(
        partial(demo_case, filed=False),
        (134_550 * YUAN, 11_925_750, 0, 12_619_250),
        id="demo_fuyang_dibao_not_filed",
    ),
]


@pytest.mark.parametrize(("run", "expected"), WORKED)
def test_worked_case(run: Callable[[], Cascade], expected: tuple[int, int, int, int]) -> None:
    cascade = run()
    assert (
        cascade.basic_fen,
        cascade.critical_illness_fen,
        cascade.assistance_fen,
        cascade.gap_fen,
    ) == expected
    assert cascade.covered_fen + cascade.gap_fen == cascade.total_cost_fen


# ---- what the rows say beyond the four sums


def test_the_plans_parts_are_each_years_own() -> None:
    # The parts worked above: 2026 (basic 61,600, CI 11,040, gap 47,360) and 2027 (47,200, 2,880, 29,920).
    for cascade in (plan_via_verify_case(with_next_policy=True), plan_via_compute_plan()):
        assert [
            (
                y.year,
                y.policy_version,
                y.total_cost_fen,
                y.in_policy_cost_fen,
                y.basic_fen,
                y.critical_illness_fen,
                y.gap_fen,
            )
            for y in cascade.years
        ] == [
            (
                2026,
                "990100-2026.test",
                120_000 * YUAN,
                90_000 * YUAN,
                61_600 * YUAN,
                11_040 * YUAN,
                47_360 * YUAN,
            ),
            (
                2027,
                "990100-2027.test",
                80_000 * YUAN,
                60_000 * YUAN,
                47_200 * YUAN,
                2_880 * YUAN,
                29_920 * YUAN,
            ),
        ]
        assert [step.year for step in cascade.steps] == [2026] * 4 + [2027] * 4
        # 2026's basic step: 2 admissions' deductibles; 2027's: one, and 2027's CI deductible of 8,000.
        assert (cascade.steps[1].deductible_fen, cascade.steps[5].deductible_fen) == (
            2_000 * YUAN,
            1_000 * YUAN,
        )
        assert cascade.steps[6].deductible_fen == 8_000 * YUAN


def test_the_bands_resume_where_the_year_left_them() -> None:
    # ytd_bands_resume_in_2nd_band: the CI base 45,700 runs from 60,000 to 105,700.
    ci = stay(ytd=YearToDate(in_policy_self_pay_fen=70_000 * YUAN)).steps[2]
    assert (ci.deductible_fen, ci.base_fen) == (0, 45_700 * YUAN)
    assert [(b.from_fen, b.up_to_fen, b.rate_bp, b.amount_fen) for b in ci.bands] == [
        (60_000 * YUAN, 100_000 * YUAN, 7000, 40_000 * YUAN),
        (100_000 * YUAN, None, 8000, 5_700 * YUAN),
    ]


def test_assistance_outside_the_region_pays_its_share_or_nothing() -> None:
    filed = stay(location="in_province", filed=True, assistance_class="dibao").steps[3]
    assert (filed.reason_code, filed.rate_bp) == ("paid", 6400)  # 80% × the 80% share
    unfiled = stay(location="in_province", filed=False, assistance_class="dibao").steps[3]
    assert (unfiled.reason_code, unfiled.paid_fen) == ("unfiled_out_of_region", 0)
    assert demo_case(filed=False).steps[3].reason_code == "unfiled_out_of_region"


def test_the_class_rows_are_in_the_order_of_the_classes() -> None:
    gaps = {c: stay(assistance_class=c).gap_fen for c in (None, *ASSISTANCE_CLASSES)}
    for stronger in gaps:
        for weaker in gaps:
            if class_strength(stronger) > class_strength(weaker):
                assert gaps[stronger] <= gaps[weaker], (stronger, weaker)
            if class_strength(stronger) == class_strength(weaker):
                assert gaps[stronger] == gaps[weaker], (stronger, weaker)

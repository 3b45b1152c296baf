"""The coverage cascade: worked examples by hand, and properties over random cases with every shipped policy."""

from __future__ import annotations

import dataclasses
import tomllib
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verification.coverage import (
    Cascade,
    CoverageInput,
    YearToDate,
    basic_deductible_fen,
    compute_cascade,
    compute_plan,
    format_rate,
    format_yuan,
    split_by_year,
)
from verification.policy import (
    ASSISTANCE_CLASSES,
    LOCATIONS,
    AssistanceClass,
    HospitalTier,
    Location,
    Policy,
    Scheme,
    class_strength,
)
from verification.policy_files import load_policies, policy_from_data

POLICY_DIR = Path(__file__).resolve().parents[2] / "config" / "policies"
POLICIES = load_policies(POLICY_DIR)
FUYANG = POLICIES[("341200", 2026)]
DINGXI = POLICIES[("621100", 2026)]
BEIJING = POLICIES[("110000", 2026)]
YUAN = 100


def _fuyang_variant() -> Policy:
    """阜阳's figures with what no shipped file has yet: a deductible charged once a year, and medical
    assistance paying a partial share outside the region (50% filed, 20% not filed)."""
    with (POLICY_DIR / "341200-2026.toml").open("rb") as handle:
        data: dict[str, Any] = tomllib.load(handle)
    for scheme in ("resident", "employee"):
        data["basic"][scheme]["deductible_per"] = "year"
    data["assistance_out_of_region"] = {"filed_share_bp": 5000, "unfiled_share_bp": 2000}
    data["version"] = "341200-2026-yearly-partial-share"
    return policy_from_data(data, "341200-2026 variant")


YEARLY = _fuyang_variant()


def case(
    total_yuan: int,
    in_policy_yuan: int,
    *,
    scheme: Scheme | None = "resident",
    tier: HospitalTier = "tertiary",
    location: Location = "in_region",
    referral_filed: bool = False,
    assistance_class: AssistanceClass | None = None,
    entitled: bool = True,
    ytd: YearToDate | None = None,
    admissions: int = 1,
) -> CoverageInput:
    return CoverageInput(
        total_cost_fen=total_yuan * YUAN,
        in_policy_cost_fen=in_policy_yuan * YUAN,
        scheme=scheme,
        hospital_tier=tier,
        location=location,
        referral_filed=referral_filed,
        assistance_class=assistance_class,
        critical_illness_entitled=entitled,
        year_to_date=ytd or YearToDate(),
        admissions=admissions,
    )


def parts(cascade: Cascade) -> tuple[int, int, int, int]:
    return (cascade.basic_fen, cascade.critical_illness_fen, cascade.assistance_fen, cascade.gap_fen)


# ---- worked examples (figures from config/policies, arithmetic by hand; test_worked_cases.py has the table of
# rules on a synthetic policy)


def test_fuyang_child_treated_in_hefei_with_filing() -> None:
    # Resident scheme, tertiary hospital in 合肥 (same province, another pooling region) with filing: total
    # 380,000, in-policy 300,000 yuan.
    # Basic: (300,000 − 1,000 deductible) × 60% (in-province filed tertiary) = 179,400.  left: 120,600
    # Critical illness: 120,600 − 15,000 deductible = 105,600 above it;
    #   first 50,000 at 60% = 30,000; next 50,000 at 70% = 35,000; last 5,600 at 80% = 4,480 → 69,480.
    #                                                                                   left:  51,120
    # No assistance class. Gap = 80,000 out of policy + 51,120 = 131,120.
    cascade = compute_cascade(case(380_000, 300_000, location="in_province", referral_filed=True), FUYANG)
    assert parts(cascade) == (179_400 * YUAN, 69_480 * YUAN, 0, 131_120 * YUAN)
    ci = cascade.steps[2]
    assert [(b.rate_bp, b.amount_fen) for b in ci.bands] == [
        (6000, 50_000 * YUAN),
        (7000, 50_000 * YUAN),
        (8000, 5_600 * YUAN),
    ]
    assert [(b.from_fen, b.up_to_fen) for b in ci.bands] == [
        (0, 50_000 * YUAN),
        (50_000 * YUAN, 100_000 * YUAN),
        (100_000 * YUAN, None),
    ]


def test_without_filing_the_same_stay_leaves_a_wider_gap() -> None:
    # Unfiled tertiary in another pooling region: (300,000 − 1,000) × 45% = 134,550.  left: 165,450
    # CI: 150,450 above 15,000: 30,000 + 35,000 + 50,450 × 80% = 40,360 → 105,360.      left:  60,090
    # Gap = 80,000 + 60,090 = 140,090 (9,000 more than with filing).
    cascade = compute_cascade(case(380_000, 300_000, location="in_province", referral_filed=False), FUYANG)
    assert parts(cascade) == (134_550 * YUAN, 105_360 * YUAN, 0, 140_090 * YUAN)


def test_without_filing_assistance_pays_nothing_outside_the_region() -> None:
    # 阜阳 pays no assistance for unfiled treatment outside the region (share 0): same as above with 低保,
    # but the assistance step says why it paid nothing.
    cascade = compute_cascade(
        case(380_000, 300_000, location="out_of_province", assistance_class="dibao"), FUYANG
    )
    assert cascade.assistance_fen == 0
    assert cascade.steps[3].reason_code == "unfiled_out_of_region"
    assert "does not cover" in cascade.steps[3].message


def test_tekun_patient_in_region_gets_the_tilt_and_assistance() -> None:
    # Resident, in-region tertiary, 特困: total 200,000, in-policy 150,000 yuan.
    # Basic: (150,000 − 1,000) × 70% = 104,300.                                          left: 45,700
    # CI with the tilt: deductible 15,000 × 50% = 7,500; rate 60% + 5 = 65%;
    #   (45,700 − 7,500) × 65% = 38,200 × 65% = 24,830.                                   left: 20,870
    # Assistance, 特困: no deductible, 90%: 20,870 × 90% = 18,783.                         left:  2,087
    # Gap = 50,000 + 2,087 = 52,087.
    cascade = compute_cascade(case(200_000, 150_000, assistance_class="tekun"), FUYANG)
    assert parts(cascade) == (104_300 * YUAN, 24_830 * YUAN, 18_783 * YUAN, 52_087 * YUAN)
    assert cascade.steps[2].deductible_fen == 7_500 * YUAN


def test_marginal_household_pays_the_assistance_deductible() -> None:
    # 定西, resident, secondary in region, 低保边缘: total 60,000, in-policy 50,000 yuan.
    # Basic: (50,000 − 500) × 75% = 37,125.                                              left: 12,875
    # CI tilt for 低保边缘: deductible 5,000 × 75% = 3,750; rate 60% + 3 = 63%;
    #   (12,875 − 3,750) × 63% = 9,125 × 63% = 5,748.75 → 5,748.75 yuan = 574,875 fen.    left: 7,126.25
    # Assistance: deductible 10% of 18,000 = 1,800; 65% of 5,326.25 = 3,462.0625 → 346,206 fen (down).
    # Gap = 10,000 + 7,126.25 − 3,462.06 = 13,664.19 yuan.
    cascade = compute_cascade(case(60_000, 50_000, tier="secondary", assistance_class="dibao_edge"), DINGXI)
    assert parts(cascade) == (3_712_500, 574_875, 346_206, 1_366_419)


def test_payers_round_down_to_the_fen() -> None:
    # 阜阳 primary, resident: in-policy 1,000.01 yuan = 100,001 fen; deductible 20,000 fen;
    # 80,001 × 85% = 68,000.85 fen → 68,000 fen. The remaining 32,001 fen is below the CI deductible.
    cascade = compute_cascade(
        CoverageInput(100_001, 100_001, "resident", "primary", "in_region", False, None, True), FUYANG
    )
    assert parts(cascade) == (68_000, 0, 0, 32_001)
    assert cascade.steps[2].reason_code == "below_deductible"


def test_annual_cap_counts_what_was_paid_earlier_this_year() -> None:
    # 阜阳 resident basic cap is 300,000 yuan; 299,900 already paid → this stay gets at most 100.
    nearly = compute_cascade(case(50_000, 40_000, ytd=YearToDate(basic_paid_fen=299_900 * YUAN)), FUYANG)
    assert nearly.basic_fen == 100 * YUAN
    assert nearly.steps[1].reason_code == "capped"
    used_up = compute_cascade(case(50_000, 40_000, ytd=YearToDate(basic_paid_fen=400_000 * YUAN)), FUYANG)
    assert used_up.basic_fen == 0
    assert used_up.steps[1].reason_code == "cap_exhausted"


def test_a_yearly_deductible_already_met_this_year_is_not_charged_again() -> None:
    # 阜阳 with the deductible once a year: resident tertiary, 1,000 deductible, 600 self-paid earlier this year
    # and nothing reimbursed yet: (10,000 − 400) × 70% = 6,720.
    partly = compute_cascade(case(10_000, 10_000, ytd=YearToDate(in_policy_self_pay_fen=600 * YUAN)), YEARLY)
    assert partly.basic_fen == 6_720 * YUAN
    assert partly.steps[1].deductible_fen == 400 * YUAN
    # Any reimbursement this year means it was met: 10,000 × 70% = 7,000.
    met = compute_cascade(case(10_000, 10_000, ytd=YearToDate(basic_paid_fen=1)), YEARLY)
    assert met.basic_fen == 7_000 * YUAN
    # Charged per admission, earlier self-pay does not reduce it: (10,000 − 1,000) × 70% = 6,300.
    per_admission = compute_cascade(
        case(10_000, 10_000, ytd=YearToDate(in_policy_self_pay_fen=600 * YUAN)), FUYANG
    )
    assert per_admission.basic_fen == 6_300 * YUAN


def test_the_deductible_is_charged_for_every_admission_or_once_a_year() -> None:
    three = case(10_000, 10_000, admissions=3)
    assert basic_deductible_fen(three, FUYANG) == 3 * 1_000 * YUAN
    assert basic_deductible_fen(three, YEARLY) == 1_000 * YUAN
    # (10,000 − 3,000) × 70% = 4,900 against (10,000 − 1,000) × 70% = 6,300.
    assert compute_cascade(three, FUYANG).basic_fen == 4_900 * YUAN
    assert compute_cascade(three, YEARLY).basic_fen == 6_300 * YUAN


def test_critical_illness_counts_the_years_self_pay() -> None:
    # 阜阳 resident, 20,000 yuan in-policy self-pay earlier this year: the 15,000 deductible is met and the
    # bands resume at 5,000. This stay: (150,000 − 1,000) × 70% = 104,300 basic, 45,700 left, all above the
    # deductible, from 5,000 to 50,700: 45,000 at 60% = 27,000 and 700 at 70% = 490 → 27,490.
    cascade = compute_cascade(
        case(150_000, 150_000, ytd=YearToDate(in_policy_self_pay_fen=20_000 * YUAN)), FUYANG
    )
    assert cascade.critical_illness_fen == 27_490 * YUAN
    ci = cascade.steps[2]
    assert ci.deductible_fen == 0
    assert [(b.from_fen, b.rate_bp, b.amount_fen) for b in ci.bands] == [
        (5_000 * YUAN, 6000, 45_000 * YUAN),
        (50_000 * YUAN, 7000, 700 * YUAN),
    ]


def test_without_enrolment_only_assistance_pays() -> None:
    # 北京, no enrolment, 低保: in-policy 10,000 yuan, no deductible, 80% → 8,000; gap 2,000 + 5,000.
    cascade = compute_cascade(case(15_000, 10_000, scheme=None, assistance_class="dibao"), BEIJING)
    assert parts(cascade) == (0, 0, 8_000 * YUAN, 7_000 * YUAN)
    assert [step.reason_code for step in cascade.steps[:3]] == [
        "never_covered",
        "not_enrolled",
        "not_enrolled",
    ]


def test_critical_illness_needs_an_entitlement() -> None:
    cascade = compute_cascade(case(380_000, 300_000, entitled=False), FUYANG)
    assert cascade.critical_illness_fen == 0
    assert cascade.steps[2].reason_code == "not_entitled"


def test_every_step_explains_itself_in_plain_words() -> None:
    cascade = compute_cascade(case(200_000, 150_000, assistance_class="tekun"), FUYANG)
    lines = cascade.explanation()
    assert lines[0].startswith("¥50,000.00 of the cost is outside the insurance catalogue")
    assert "70%" in lines[1]
    assert "¥104,300.00" in lines[1]
    assert lines[-1] == "That leaves a gap of ¥52,087.00 out of a total cost of ¥200,000.00."
    reasons: set[tuple[str, str]] = set()
    for ytd in (YearToDate(basic_paid_fen=10**10, critical_illness_paid_fen=10**10), YearToDate()):
        for scheme in (None, "resident"):
            for assistance_class in (None, "dibao"):
                for location in LOCATIONS:
                    for total, entitled in ((50, False), (380_000, True)):
                        cascade = compute_cascade(
                            case(
                                total,
                                total * 3 // 4,
                                scheme=scheme,
                                assistance_class=assistance_class,
                                entitled=entitled,
                                ytd=ytd,
                                location=location,
                            ),
                            FUYANG,
                        )
                        reasons.update((step.code, step.reason_code) for step in cascade.steps)
                        for line in cascade.explanation():
                            assert "{" not in line
    assert {reason for _code, reason in reasons} >= {
        "never_covered",
        "not_enrolled",
        "not_entitled",
        "no_assistance_class",
        "unfiled_out_of_region",
        "paid",
        "cap_exhausted",
        "below_deductible",
    }


def test_formatting_helpers() -> None:
    assert format_yuan(123_456_789) == "¥1,234,567.89"
    assert format_yuan(5) == "¥0.05"
    assert format_yuan(-5) == "-¥0.05"
    assert format_rate(6250) == "62.5%"
    assert format_rate(7000) == "70%"
    assert format_rate(1) == "0.01%"


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="total_cost_fen must be at least in_policy_cost_fen"):
        CoverageInput(100, 200, "resident", "primary", "in_region", False, None, True)
    with pytest.raises(ValueError, match="in_policy_cost_fen must not be negative"):
        CoverageInput(100, -1, "resident", "primary", "in_region", False, None, True)
    with pytest.raises(ValueError, match="admissions must be at least 1"):
        CoverageInput(100, 100, "resident", "primary", "in_region", False, None, True, admissions=0)
    with pytest.raises(ValueError, match="basic_paid_fen must not be negative"):
        YearToDate(basic_paid_fen=-1)
    with pytest.raises(ValueError, match="in_policy_self_pay_fen must not be negative"):
        YearToDate(in_policy_self_pay_fen=-1)
    with pytest.raises(ValueError, match="a plan has at least one part"):
        compute_plan([])
    with pytest.raises(ValueError, match="next_year_fen must be between 0 and the total cost"):
        split_by_year(100, 50, 101)


def test_split_by_year_splits_the_in_policy_cost_in_proportion() -> None:
    # 80,000 of 200,000 next year → 40% of the 150,000 in-policy = 60,000 next year.
    assert split_by_year(200_000, 150_000, 80_000) == ((120_000, 90_000), (80_000, 60_000))
    # 1 of 3 fen next year: next year's in-policy 2 × 1 // 3 = 0 (rounds down), this year keeps 2.
    assert split_by_year(3, 2, 1) == ((2, 2), (1, 0))
    assert split_by_year(0, 0, 0) == ((0, 0), (0, 0))


def test_a_plan_of_one_part_is_the_plain_cascade() -> None:
    one = case(200_000, 150_000, assistance_class="tekun")
    assert compute_plan([(one, FUYANG)]) == compute_cascade(one, FUYANG)


# ---- properties


def exact_gap(case: CoverageInput, policy: Policy) -> Fraction:
    """The gap in exact rational arithmetic, written from the rules and the raw policy terms (no rounding)."""
    ytd = case.year_to_date
    remaining = Fraction(case.in_policy_cost_fen)
    location, filed = case.location, case.referral_filed

    def capped(amount: Fraction, cap: int | None, used: int) -> Fraction:
        return amount if cap is None else min(amount, Fraction(max(0, cap - used)))

    critical_paid = Fraction(0)
    if case.scheme is not None:
        basic = policy.schemes[case.scheme].basic
        per_stay = basic.deductible_fen[case.hospital_tier]
        if basic.deductible_per == "admission":
            deductible = per_stay * case.admissions
        elif ytd.basic_paid_fen > 0:
            deductible = 0
        else:
            deductible = max(0, per_stay - ytd.in_policy_self_pay_fen)
        if location == "in_region" or (location == "in_province" and basic.in_province is None):
            rate_bp = basic.rate_bp[case.hospital_tier]
        else:
            rates = basic.in_province if location == "in_province" else basic.out_of_province
            assert rates is not None
            rate_bp = (rates.filed_rate_bp if filed else rates.unfiled_rate_bp)[case.hospital_tier]
        remaining -= capped(
            max(Fraction(0), remaining - deductible) * Fraction(rate_bp, 10_000),
            basic.annual_cap_fen,
            ytd.basic_paid_fen,
        )
        if case.critical_illness_entitled:
            terms = policy.schemes[case.scheme].critical_illness
            tilt = terms.tilt_for(case.assistance_class)
            full = Fraction(terms.deductible_fen) * (10_000 - tilt.deductible_reduction_bp) / 10_000
            # The year counts as one: the earlier self-pay meets the deductible first, then fills the bands.
            earlier = Fraction(ytd.in_policy_self_pay_fen)
            start = max(Fraction(0), earlier - full)
            end = start + max(Fraction(0), remaining - max(Fraction(0), full - earlier))
            paid, lower = Fraction(0), Fraction(0)
            for band in terms.bands:
                upper = end if band.up_to_fen is None else min(end, Fraction(band.up_to_fen))
                if upper > max(lower, start):
                    paid += (upper - max(lower, start)) * Fraction(
                        min(10_000, band.rate_bp + tilt.rate_increase_bp), 10_000
                    )
                if band.up_to_fen is not None:
                    lower = Fraction(band.up_to_fen)
            cap = None if tilt.cap_lifted else terms.annual_cap_fen
            critical_paid = capped(paid, cap, ytd.critical_illness_paid_fen)
            remaining -= critical_paid
    if case.assistance_class is not None:
        assistance = policy.assistance[case.assistance_class]
        out = policy.assistance_out_of_region
        share = 10_000 if location == "in_region" else out.filed_share_bp if filed else out.unfiled_share_bp
        # Assistance's deductible is met by the year's self-pay that critical illness did not pay back.
        met = max(0, ytd.in_policy_self_pay_fen - ytd.critical_illness_paid_fen)
        deductible = max(0, assistance.deductible_fen - met)
        paid = max(Fraction(0), remaining - deductible) * Fraction(
            assistance.rate_bp * share, 10_000 * 10_000
        )
        remaining -= capped(paid, assistance.annual_cap_fen, ytd.assistance_paid_fen)
    return case.total_cost_fen - case.in_policy_cost_fen + remaining


POLICY_LIST = [*(POLICIES[key] for key in sorted(POLICIES)), YEARLY]
POLICY_IDS = [f"{p.region_code}-{p.basic('resident').deductible_per}" for p in POLICY_LIST]
policies = st.sampled_from(POLICY_LIST)
# Up to 1.5 million yuan in policy and 1 million outside it, with small amounts drawn often.
in_policy_amounts = st.one_of(st.integers(0, 5_000_000), st.integers(0, 150_000_000))
out_of_policy_amounts = st.one_of(st.just(0), st.integers(0, 100_000_000))
ytd_amounts = st.one_of(st.just(0), st.integers(0, 60_000_000))
# Self-pay earlier this year: around the deductibles (a few thousand yuan) and well into the bands.
self_pay_amounts = st.one_of(st.just(0), st.integers(0, 3_000_000), st.integers(0, 30_000_000))
classes: st.SearchStrategy[AssistanceClass | None] = st.sampled_from([None, *ASSISTANCE_CLASSES])


@st.composite
def years_to_date(draw: st.DrawFn) -> YearToDate:
    return YearToDate(
        basic_paid_fen=draw(ytd_amounts),
        critical_illness_paid_fen=draw(ytd_amounts),
        assistance_paid_fen=draw(ytd_amounts),
        in_policy_self_pay_fen=draw(self_pay_amounts),
    )


@st.composite
def coverage_inputs(draw: st.DrawFn) -> CoverageInput:
    in_policy = draw(in_policy_amounts)
    return CoverageInput(
        total_cost_fen=in_policy + draw(out_of_policy_amounts),
        in_policy_cost_fen=in_policy,
        scheme=draw(st.sampled_from([None, "employee", "resident"])),
        hospital_tier=draw(st.sampled_from(["primary", "secondary", "tertiary"])),
        location=draw(st.sampled_from(LOCATIONS)),
        referral_filed=draw(st.booleans()),
        assistance_class=draw(classes),
        critical_illness_entitled=draw(st.booleans()),
        year_to_date=draw(st.one_of(st.just(YearToDate()), years_to_date())),
        admissions=draw(st.one_of(st.just(1), st.integers(1, 6))),
    )


@given(coverage_inputs(), policies)
def test_the_parts_sum_to_the_total_and_none_is_negative(case: CoverageInput, policy: Policy) -> None:
    cascade = compute_cascade(case, policy)
    assert cascade.basic_fen + cascade.critical_illness_fen + cascade.assistance_fen + cascade.gap_fen == (
        case.total_cost_fen
    )
    assert min(cascade.basic_fen, cascade.critical_illness_fen, cascade.assistance_fen) >= 0
    # Never more than the in-policy cost between them: the out-of-policy cost is all in the gap.
    assert cascade.covered_fen <= case.in_policy_cost_fen
    assert cascade.gap_fen >= case.total_cost_fen - case.in_policy_cost_fen
    assert [step.paid_fen for step in cascade.steps[1:]] == [
        cascade.basic_fen,
        cascade.critical_illness_fen,
        cascade.assistance_fen,
    ]
    assert cascade.steps[-1].remaining_fen == cascade.gap_fen - cascade.out_of_policy_fen
    assert {step.year for step in cascade.steps} == {policy.year}
    for step in cascade.steps[1:]:
        assert 0 <= step.paid_fen <= step.applies_to_fen
        assert sum(band.amount_fen for band in step.bands) == (step.base_fen if step.bands else 0)


@given(coverage_inputs(), policies, st.integers(1, 50_000_000))
def test_the_gap_never_decreases_when_the_cost_rises(case: CoverageInput, policy: Policy, more: int) -> None:
    gap = compute_cascade(case, policy).gap_fen
    both = dataclasses.replace(
        case, total_cost_fen=case.total_cost_fen + more, in_policy_cost_fen=case.in_policy_cost_fen + more
    )
    assert compute_cascade(both, policy).gap_fen >= gap
    outside = dataclasses.replace(case, total_cost_fen=case.total_cost_fen + more)
    assert compute_cascade(outside, policy).gap_fen == gap + more


@pytest.mark.parametrize("policy", POLICY_LIST, ids=POLICY_IDS)
@settings(max_examples=150)
@given(case=coverage_inputs())
def test_a_stronger_assistance_class_never_raises_the_gap(policy: Policy, case: CoverageInput) -> None:
    gaps = {
        assistance_class: compute_cascade(
            dataclasses.replace(case, assistance_class=assistance_class), policy
        ).gap_fen
        for assistance_class in (None, *ASSISTANCE_CLASSES)
    }
    for stronger, stronger_gap in gaps.items():
        for weaker, weaker_gap in gaps.items():
            if class_strength(stronger) > class_strength(weaker):
                assert stronger_gap <= weaker_gap, (stronger, weaker)


@pytest.mark.parametrize("policy", POLICY_LIST, ids=POLICY_IDS)
@settings(max_examples=150)
@given(case=coverage_inputs())
def test_rounding_never_lowers_the_gap(policy: Policy, case: CoverageInput) -> None:
    exact = exact_gap(case, policy)
    gap = compute_cascade(case, policy).gap_fen
    assert gap >= exact
    # Three payers each round down by less than a fen, and a tilted deductible rounds up by less than a fen,
    # each of which moves a later payer by less than a fen: the gap is within a few fen of the exact one.
    assert gap - exact < 4


TIER_OF_YTD = {
    "basic_paid_fen": "basic_fen",
    "critical_illness_paid_fen": "critical_illness_fen",
    "assistance_paid_fen": "assistance_fen",
}


@given(coverage_inputs(), policies, st.sampled_from(sorted(TIER_OF_YTD)), st.integers(1, 60_000_000))
def test_year_to_date_use_never_increases_what_a_tier_pays(
    case: CoverageInput, policy: Policy, field: str, more: int
) -> None:
    if field == "basic_paid_fen" and case.year_to_date.basic_paid_fen == 0:
        # The first reimbursement of the year also says a yearly deductible was met, which lets basic pay
        # more (test_a_yearly_deductible_already_met_this_year_is_not_charged_again); from then on, only the
        # cap is used up.
        case = dataclasses.replace(
            case, year_to_date=dataclasses.replace(case.year_to_date, basic_paid_fen=1)
        )
    before = compute_cascade(case, policy)
    ytd = dataclasses.replace(case.year_to_date, **{field: getattr(case.year_to_date, field) + more})
    after = compute_cascade(dataclasses.replace(case, year_to_date=ytd), policy)
    tier = TIER_OF_YTD[field]
    assert getattr(after, tier) <= getattr(before, tier)
    assert after.gap_fen >= before.gap_fen


@given(coverage_inputs(), policies, st.integers(1, 30_000_000))
def test_more_self_pay_earlier_this_year_never_raises_the_gap(
    case: CoverageInput, policy: Policy, more: int
) -> None:
    # Earlier self-pay meets the deductibles (a yearly basic one, critical illness's, assistance's) and moves
    # the critical-illness bands up, never down.
    before = compute_cascade(case, policy)
    ytd = dataclasses.replace(
        case.year_to_date, in_policy_self_pay_fen=case.year_to_date.in_policy_self_pay_fen + more
    )
    after = compute_cascade(dataclasses.replace(case, year_to_date=ytd), policy)
    assert after.gap_fen <= before.gap_fen
    for step_before, step_after in zip(before.steps[1:], after.steps[1:], strict=True):
        assert step_after.deductible_fen <= step_before.deductible_fen


@given(coverage_inputs(), policies, st.integers(1, 5))
def test_more_admissions_never_lower_the_gap(case: CoverageInput, policy: Policy, more: int) -> None:
    before = compute_cascade(case, policy)
    after = compute_cascade(dataclasses.replace(case, admissions=case.admissions + more), policy)
    assert after.gap_fen >= before.gap_fen
    if case.scheme is not None and policy.basic(case.scheme).deductible_per == "year":
        assert after == before


@given(coverage_inputs(), policies, st.sampled_from(["in_province", "out_of_province"]))
def test_filing_a_referral_never_raises_the_gap(
    case: CoverageInput, policy: Policy, location: Location
) -> None:
    unfiled = dataclasses.replace(case, location=location, referral_filed=False)
    filed = dataclasses.replace(case, location=location, referral_filed=True)
    assert compute_cascade(filed, policy).gap_fen <= compute_cascade(unfiled, policy).gap_fen
    assert compute_cascade(filed, policy).assistance_fen >= 0


@given(coverage_inputs(), policies)
def test_filing_does_not_matter_in_the_region(case: CoverageInput, policy: Policy) -> None:
    unfiled = dataclasses.replace(case, location="in_region", referral_filed=False)
    filed = dataclasses.replace(case, location="in_region", referral_filed=True)
    assert compute_cascade(filed, policy) == compute_cascade(unfiled, policy)


@given(coverage_inputs(), coverage_inputs(), policies, policies)
def test_a_plans_sums_equal_its_parts(
    first: CoverageInput, second: CoverageInput, this_policy: Policy, next_policy: Policy
) -> None:
    parts_ = [(first, this_policy), (second, next_policy)]
    plan = compute_plan(parts_)
    # The parts are consecutive years from the first policy's, whatever year the second policy is for.
    years = [this_policy.year, this_policy.year + 1]
    alone = [compute_cascade(case, policy, year) for (case, policy), year in zip(parts_, years, strict=True)]
    for name in (
        "total_cost_fen",
        "in_policy_cost_fen",
        "basic_fen",
        "critical_illness_fen",
        "assistance_fen",
        "gap_fen",
    ):
        assert getattr(plan, name) == sum(getattr(c, name) for c in alone), name
    assert plan.steps == alone[0].steps + alone[1].steps
    assert [(y.year, y.policy_version, y.gap_fen) for y in plan.years] == [
        (years[0], this_policy.version, alone[0].gap_fen),
        (years[1], next_policy.version, alone[1].gap_fen),
    ]
    for part, cascade in zip(plan.years, alone, strict=True):
        assert (part.basic_fen, part.critical_illness_fen, part.assistance_fen, part.total_cost_fen) == (
            cascade.basic_fen,
            cascade.critical_illness_fen,
            cascade.assistance_fen,
            cascade.total_cost_fen,
        )
    assert plan.covered_fen + plan.gap_fen == plan.total_cost_fen


@given(st.integers(0, 10**9), st.data())
def test_split_by_year_keeps_every_fen(total: int, data: st.DataObject) -> None:
    in_policy = data.draw(st.integers(0, total))
    next_year = data.draw(st.integers(0, total))
    (this_total, this_in), (next_total, next_in) = split_by_year(total, in_policy, next_year)
    assert (this_total + next_total, this_in + next_in) == (total, in_policy)
    assert 0 <= this_in <= this_total
    assert 0 <= next_in <= next_total

"""The coverage cascade: worked examples by hand, and properties over random cases with every shipped policy."""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verification.coverage import (
    Cascade,
    CoverageInput,
    YearToDate,
    compute_cascade,
    format_rate,
    format_yuan,
)
from verification.policy import (
    ASSISTANCE_CLASSES,
    AssistanceClass,
    HospitalTier,
    Policy,
    Scheme,
    class_strength,
)
from verification.policy_files import load_policies

POLICY_DIR = Path(__file__).resolve().parents[2] / "config" / "policies"
POLICIES = load_policies(POLICY_DIR)
FUYANG = POLICIES[("341200", 2026)]
DINGXI = POLICIES[("621100", 2026)]
BEIJING = POLICIES[("110000", 2026)]
YUAN = 100


def case(
    total_yuan: int,
    in_policy_yuan: int,
    *,
    scheme: Scheme | None = "resident",
    tier: HospitalTier = "tertiary",
    out_of_region: bool = False,
    referral_filed: bool = False,
    assistance_class: AssistanceClass | None = None,
    entitled: bool = True,
    ytd: YearToDate | None = None,
) -> CoverageInput:
    return CoverageInput(
        total_cost_fen=total_yuan * YUAN,
        in_policy_cost_fen=in_policy_yuan * YUAN,
        scheme=scheme,
        hospital_tier=tier,
        out_of_region=out_of_region,
        referral_filed=referral_filed,
        assistance_class=assistance_class,
        critical_illness_entitled=entitled,
        year_to_date=ytd or YearToDate(),
    )


def parts(cascade: Cascade) -> tuple[int, int, int, int]:
    return (cascade.basic_fen, cascade.critical_illness_fen, cascade.assistance_fen, cascade.gap_fen)


# ---- worked examples (figures from config/policies, arithmetic by hand)


def test_fuyang_child_treated_in_hefei_with_filing() -> None:
    # Resident scheme, tertiary hospital outside 阜阳 with filing: total 380,000, in-policy 300,000 yuan.
    # Basic: (300,000 − 1,000 deductible) × 60% (filed tertiary) = 179,400.           left: 120,600
    # Critical illness: 120,600 − 15,000 deductible = 105,600 above it;
    #   first 50,000 at 60% = 30,000; next 50,000 at 70% = 35,000; last 5,600 at 80% = 4,480 → 69,480.
    #                                                                                   left:  51,120
    # No assistance class. Gap = 80,000 out of policy + 51,120 = 131,120.
    cascade = compute_cascade(case(380_000, 300_000, out_of_region=True, referral_filed=True), FUYANG)
    assert parts(cascade) == (179_400 * YUAN, 69_480 * YUAN, 0, 131_120 * YUAN)
    ci = cascade.steps[2]
    assert [(b.rate_bp, b.amount_fen) for b in ci.bands] == [
        (6000, 50_000 * YUAN),
        (7000, 50_000 * YUAN),
        (8000, 5_600 * YUAN),
    ]


def test_without_filing_the_same_stay_leaves_a_wider_gap() -> None:
    # Unfiled tertiary out of region: (300,000 − 1,000) × 45% = 134,550.              left: 165,450
    # CI: 150,450 above 15,000: 30,000 + 35,000 + 50,450 × 80% = 40,360 → 105,360.      left:  60,090
    # Gap = 80,000 + 60,090 = 140,090 (9,000 more than with filing).
    cascade = compute_cascade(case(380_000, 300_000, out_of_region=True, referral_filed=False), FUYANG)
    assert parts(cascade) == (134_550 * YUAN, 105_360 * YUAN, 0, 140_090 * YUAN)


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
        CoverageInput(100_001, 100_001, "resident", "primary", False, False, None, True), FUYANG
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


def test_deductible_already_met_this_year_is_not_charged_again() -> None:
    # 阜阳 resident tertiary, 1,000 deductible, 600 already met: (10,000 − 400) × 70% = 6,720.
    cascade = compute_cascade(
        case(10_000, 10_000, ytd=YearToDate(basic_deductible_met_fen=600 * YUAN)), FUYANG
    )
    assert cascade.basic_fen == 6_720 * YUAN


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
    for ytd in (YearToDate(basic_paid_fen=10**10), YearToDate()):
        for scheme in (None, "resident"):
            for assistance_class in (None, "dibao"):
                for line in compute_cascade(
                    case(50, 40, scheme=scheme, assistance_class=assistance_class, entitled=False, ytd=ytd),
                    FUYANG,
                ).explanation():
                    assert "{" not in line


def test_formatting_helpers() -> None:
    assert format_yuan(123_456_789) == "¥1,234,567.89"
    assert format_yuan(5) == "¥0.05"
    assert format_rate(6250) == "62.5%"
    assert format_rate(7000) == "70%"
    assert format_rate(1) == "0.01%"


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="total_cost_fen must be at least in_policy_cost_fen"):
        CoverageInput(100, 200, "resident", "primary", False, False, None, True)
    with pytest.raises(ValueError, match="in_policy_cost_fen must not be negative"):
        CoverageInput(100, -1, "resident", "primary", False, False, None, True)
    with pytest.raises(ValueError, match="basic_paid_fen must not be negative"):
        YearToDate(basic_paid_fen=-1)


# ---- properties


def exact_gap(case: CoverageInput, policy: Policy) -> Fraction:
    """The gap in exact rational arithmetic, written from the rules and the raw policy terms (no rounding)."""
    ytd = case.year_to_date
    remaining = Fraction(case.in_policy_cost_fen)

    def capped(amount: Fraction, cap: int | None, used: int) -> Fraction:
        return amount if cap is None else min(amount, Fraction(max(0, cap - used)))

    if case.scheme is not None:
        basic = policy.schemes[case.scheme].basic
        deductible = max(0, basic.deductible_fen[case.hospital_tier] - ytd.basic_deductible_met_fen)
        rate = Fraction(basic.rate_for(case.hospital_tier, case.out_of_region, case.referral_filed), 10_000)
        remaining -= capped(
            max(Fraction(0), remaining - deductible) * rate, basic.annual_cap_fen, ytd.basic_paid_fen
        )
        if case.critical_illness_entitled:
            terms = policy.schemes[case.scheme].critical_illness
            tilt = terms.tilt_for(case.assistance_class)
            full = Fraction(terms.deductible_fen) * (10_000 - tilt.deductible_reduction_bp) / 10_000
            above = max(
                Fraction(0), remaining - max(Fraction(0), full - ytd.critical_illness_deductible_met_fen)
            )
            paid, lower = Fraction(0), Fraction(0)
            for band in terms.bands:
                upper = above if band.up_to_fen is None else min(above, Fraction(band.up_to_fen))
                if upper > lower:
                    paid += (upper - lower) * Fraction(
                        min(10_000, band.rate_bp + tilt.rate_increase_bp), 10_000
                    )
                if band.up_to_fen is not None:
                    lower = Fraction(band.up_to_fen)
            cap = None if tilt.cap_lifted else terms.annual_cap_fen
            remaining -= capped(paid, cap, ytd.critical_illness_paid_fen)
    if case.assistance_class is not None:
        assistance = policy.assistance[case.assistance_class]
        deductible = max(0, assistance.deductible_fen - ytd.assistance_deductible_met_fen)
        paid = max(Fraction(0), remaining - deductible) * Fraction(assistance.rate_bp, 10_000)
        remaining -= capped(paid, assistance.annual_cap_fen, ytd.assistance_paid_fen)
    return case.total_cost_fen - case.in_policy_cost_fen + remaining


POLICY_LIST = [POLICIES[key] for key in sorted(POLICIES)]
policies = st.sampled_from(POLICY_LIST)
# Up to 1.5 million yuan in policy and 1 million outside it, with small amounts drawn often.
in_policy_amounts = st.one_of(st.integers(0, 5_000_000), st.integers(0, 150_000_000))
out_of_policy_amounts = st.one_of(st.just(0), st.integers(0, 100_000_000))
ytd_amounts = st.one_of(st.just(0), st.integers(0, 60_000_000))
classes: st.SearchStrategy[AssistanceClass | None] = st.sampled_from([None, *ASSISTANCE_CLASSES])


@st.composite
def years_to_date(draw: st.DrawFn) -> YearToDate:
    return YearToDate(
        basic_paid_fen=draw(ytd_amounts),
        critical_illness_paid_fen=draw(ytd_amounts),
        assistance_paid_fen=draw(ytd_amounts),
        basic_deductible_met_fen=draw(st.one_of(st.just(0), st.integers(0, 200_000))),
        critical_illness_deductible_met_fen=draw(st.one_of(st.just(0), st.integers(0, 5_000_000))),
        assistance_deductible_met_fen=draw(st.one_of(st.just(0), st.integers(0, 2_000_000))),
    )


@st.composite
def coverage_inputs(draw: st.DrawFn) -> CoverageInput:
    in_policy = draw(in_policy_amounts)
    return CoverageInput(
        total_cost_fen=in_policy + draw(out_of_policy_amounts),
        in_policy_cost_fen=in_policy,
        scheme=draw(st.sampled_from([None, "employee", "resident"])),
        hospital_tier=draw(st.sampled_from(["primary", "secondary", "tertiary"])),
        out_of_region=draw(st.booleans()),
        referral_filed=draw(st.booleans()),
        assistance_class=draw(classes),
        critical_illness_entitled=draw(st.booleans()),
        year_to_date=draw(st.one_of(st.just(YearToDate()), years_to_date())),
    )


@given(coverage_inputs(), policies)
def test_the_parts_sum_to_the_total_and_none_is_negative(case: CoverageInput, policy: Policy) -> None:
    cascade = compute_cascade(case, policy)
    assert cascade.basic_fen + cascade.critical_illness_fen + cascade.assistance_fen + cascade.gap_fen == (
        case.total_cost_fen
    )
    assert min(cascade.basic_fen, cascade.critical_illness_fen, cascade.assistance_fen) >= 0
    assert cascade.gap_fen >= case.total_cost_fen - case.in_policy_cost_fen
    assert [step.paid_fen for step in cascade.steps[1:]] == [
        cascade.basic_fen,
        cascade.critical_illness_fen,
        cascade.assistance_fen,
    ]
    assert cascade.steps[-1].remaining_fen == cascade.gap_fen - cascade.out_of_policy_fen


@given(coverage_inputs(), policies, st.integers(1, 50_000_000))
def test_the_gap_never_decreases_when_the_cost_rises(case: CoverageInput, policy: Policy, more: int) -> None:
    gap = compute_cascade(case, policy).gap_fen
    both = dataclasses.replace(
        case, total_cost_fen=case.total_cost_fen + more, in_policy_cost_fen=case.in_policy_cost_fen + more
    )
    assert compute_cascade(both, policy).gap_fen >= gap
    outside = dataclasses.replace(case, total_cost_fen=case.total_cost_fen + more)
    assert compute_cascade(outside, policy).gap_fen == gap + more


@pytest.mark.parametrize("policy", POLICY_LIST, ids=lambda p: p.region_code)
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


@pytest.mark.parametrize("policy", POLICY_LIST, ids=lambda p: p.region_code)
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
    before = compute_cascade(case, policy)
    ytd = dataclasses.replace(case.year_to_date, **{field: getattr(case.year_to_date, field) + more})
    after = compute_cascade(dataclasses.replace(case, year_to_date=ytd), policy)
    tier = TIER_OF_YTD[field]
    assert getattr(after, tier) <= getattr(before, tier)
    assert after.gap_fen >= before.gap_fen


@given(
    coverage_inputs(),
    policies,
    st.sampled_from(
        ["basic_deductible_met_fen", "critical_illness_deductible_met_fen", "assistance_deductible_met_fen"]
    ),
    st.integers(1, 5_000_000),
)
def test_a_deductible_met_earlier_never_raises_the_gap(
    case: CoverageInput, policy: Policy, field: str, more: int
) -> None:
    before = compute_cascade(case, policy)
    ytd = dataclasses.replace(case.year_to_date, **{field: getattr(case.year_to_date, field) + more})
    after = compute_cascade(dataclasses.replace(case, year_to_date=ytd), policy)
    assert after.gap_fen <= before.gap_fen


@given(coverage_inputs(), policies)
def test_filing_a_referral_never_raises_the_gap(case: CoverageInput, policy: Policy) -> None:
    unfiled = dataclasses.replace(case, out_of_region=True, referral_filed=False)
    filed = dataclasses.replace(case, out_of_region=True, referral_filed=True)
    assert compute_cascade(filed, policy).gap_fen <= compute_cascade(unfiled, policy).gap_fen

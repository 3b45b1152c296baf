"""A case verified as a whole: `verify_case` runs the checks of verification/checks.py with the coverage
cascade over the year's figures (`year_to_date`, `coverage_input`), splitting a plan that runs into the next year
by year, and decides. Plain data in, a `VerificationReport` out; nothing here reads the clock, the database or the
network.
"""

from __future__ import annotations

import datetime

from verification.checks import (
    CaseFacts,
    cap_target,
    check_civil_affairs,
    check_cost,
    check_disclosure,
    check_duplicate_campaign,
    check_enrolment,
    check_hospital,
    check_identity_number,
    check_identity_records,
    check_need,
    check_referral,
    check_target,
)
from verification.coverage import CoverageInput, YearToDate, compute_plan, split_by_year
from verification.policy import FULL_RATE_BP, Location, Policy, Scheme
from verification.records import (
    BasicEnrolment,
    CivilAffairsStatus,
    CriticalIllnessEntitlement,
    Records,
    active_enrolment,
    active_entitlement,
    records_snapshot,
    valid_status,
)
from verification.report import (
    Assumption,
    Params,
    VerificationReport,
    decide,
)


def _usable(as_of: datetime.date | None, day: datetime.date) -> bool:
    # Figures dated after the treatment may already hold this case's own payments; figures of an earlier
    # year are not this year's. Undated figures are taken as standing before the treatment (records/CONTRACT.md).
    return as_of is None or (as_of.year == day.year and as_of <= day)


def year_to_date(
    facts: CaseFacts,
    policy: Policy,
    enrolment: BasicEnrolment | None,
    entitlement: CriticalIllnessEntitlement | None,
    status: CivilAffairsStatus | None,
) -> tuple[YearToDate, tuple[Assumption, ...]]:
    """This year's earlier payments and self-pay from the records, and the assumptions they rest on.

    Without a recorded self-pay, a floor is derived from basic insurance's year-to-date reimbursement R: paid
    at a rate of at most r over a deductible of at least D, the self-pay was at least R × (1 − r) / r + D. It
    is also at least what critical illness and assistance paid out of it. A floor never credits the year with
    more than it had, so the gap stays no smaller than the real one.
    """
    day = facts.treatment_date
    dates = [record.ytd_as_of for record in (enrolment, entitlement, status) if record is not None]
    after = [as_of for as_of in dates if as_of is not None and as_of > day]
    earlier_year = [as_of for as_of in dates if as_of is not None and as_of.year < day.year]
    basic_paid = enrolment.ytd_reimbursed_fen if enrolment and _usable(enrolment.ytd_as_of, day) else 0
    critical_paid = (
        entitlement.ytd_reimbursed_fen if entitlement and _usable(entitlement.ytd_as_of, day) else 0
    )
    assistance_paid = status.ytd_assistance_fen if status and _usable(status.ytd_as_of, day) else 0
    recorded = (
        enrolment.ytd_in_policy_self_pay_fen
        if enrolment is not None and _usable(enrolment.ytd_as_of, day)
        else None
    )
    assumptions: list[Assumption] = []
    if after:
        assumptions.append(
            Assumption(
                "ytd_dated_after_treatment",
                {"as_of": max(after).isoformat(), "treatment_date": day.isoformat()},
            )
        )
    if earlier_year:
        assumptions.append(
            Assumption("ytd_earlier_year", {"as_of": max(earlier_year).isoformat(), "year": day.year})
        )
    if recorded is not None:
        self_pay = recorded
    else:
        self_pay = critical_paid + assistance_paid
        if basic_paid and enrolment is not None:
            terms = policy.basic(enrolment.scheme)
            highest = terms.highest_rate_bp()
            derived = basic_paid * (FULL_RATE_BP - highest) // highest + min(terms.deductible_fen.values())
            self_pay = max(self_pay, derived)
    ytd = YearToDate(
        basic_paid_fen=basic_paid,
        critical_illness_paid_fen=critical_paid,
        assistance_paid_fen=assistance_paid,
        in_policy_self_pay_fen=self_pay,
    )
    if ytd == YearToDate():
        assumptions.append(Assumption("ytd_none", {}))
    else:
        params: Params = {
            "basic_paid_fen": basic_paid,
            "critical_illness_paid_fen": critical_paid,
            "assistance_paid_fen": assistance_paid,
            "self_pay_fen": self_pay,
        }
        assumptions.append(
            Assumption("ytd_recorded" if recorded is not None else "ytd_self_pay_floor", params)
        )
    return ytd, tuple(assumptions)


def _location_assumptions(
    facts: CaseFacts, policy: Policy, location: Location, scheme: Scheme | None
) -> list[Assumption]:
    if location == "in_region":
        return [Assumption("in_region", {"policy_region": policy.region_name})]
    filed = bool(facts.referral_filed)
    share = policy.assistance_out_of_region.share_bp(location, filed)
    params: Params = {"location": location, "assistance_share_bp": share}
    if facts.referral_filed is None:
        code = "referral_assumed_not_filed"
    else:
        code = "referral_filed" if filed else "referral_not_filed"
        params["confirmed"] = int(facts.referral_confirmed)
    notes = [Assumption(code, params)]
    if scheme is not None:  # without an enrolment basic insurance pays nothing, at any rate
        rate = policy.basic(scheme).rate_for(facts.hospital_tier, location, filed)
        notes.append(
            Assumption("basic_rate_filed" if filed else "basic_rate_not_filed", {"basic_rate_bp": rate})
        )
    return notes


def coverage_input(
    facts: CaseFacts,
    policy: Policy,
    enrolment: BasicEnrolment | None,
    entitlement: CriticalIllnessEntitlement | None,
    status: CivilAffairsStatus | None,
    year_to_date: YearToDate,
) -> CoverageInput:
    """The cascade's view of this year's part of the case (the whole case when it ends this year). The
    hospital's location is seen from the pooling region whose rules are applied; a referral nobody stated
    counts as not filed."""
    split = facts.next_year_cost_fen > 0
    (total, in_policy), _next = split_by_year(
        facts.total_cost_fen, facts.in_policy_cost_fen, facts.next_year_cost_fen
    )
    return CoverageInput(
        total_cost_fen=total,
        in_policy_cost_fen=in_policy,
        scheme=enrolment.scheme if enrolment else None,
        hospital_tier=facts.hospital_tier,
        location=policy.location_of(facts.hospital_region_code),
        referral_filed=bool(facts.referral_filed),
        assistance_class=status.assistance_class if status else None,
        critical_illness_entitled=entitlement is not None,
        year_to_date=year_to_date,
        admissions=max(1, facts.admissions - facts.next_year_admissions) if split else facts.admissions,
    )


def _next_year_input(facts: CaseFacts, this_year: CoverageInput, next_policy: Policy) -> CoverageInput:
    # Next year starts fresh: nothing paid, nothing self-paid; the enrolment, entitlement and class are taken
    # to continue (the report says so).
    _this, (total, in_policy) = split_by_year(
        facts.total_cost_fen, facts.in_policy_cost_fen, facts.next_year_cost_fen
    )
    return CoverageInput(
        total_cost_fen=total,
        in_policy_cost_fen=in_policy,
        scheme=this_year.scheme,
        hospital_tier=this_year.hospital_tier,
        location=next_policy.location_of(facts.hospital_region_code),
        referral_filed=this_year.referral_filed,
        assistance_class=this_year.assistance_class,
        critical_illness_entitled=this_year.critical_illness_entitled,
        admissions=max(1, facts.next_year_admissions),
    )


def verify_case(
    facts: CaseFacts, records: Records, policy: Policy, next_policy: Policy | None = None
) -> VerificationReport:
    """Run every check and the cascade for one case under `policy` and decide.

    `policy` must be the one for the treatment year (the shell finds it with `policy_for`); a policy for
    another year is a programming error and raises ValueError. `next_policy` is the next year's, for a plan
    that runs into it; when it is not published yet, this year's rules are applied to next year's part.
    """
    if policy.year != facts.treatment_date.year:
        raise ValueError(
            f"policy {policy.version} is for {policy.year}, the treatment is in {facts.treatment_date.year}"
        )
    if next_policy is not None and next_policy.year != policy.year + 1:
        raise ValueError(f"next_policy {next_policy.version} is not for {policy.year + 1}")
    day = facts.treatment_date
    enrolment = active_enrolment(records.enrolments, day, policy)
    entitlement = active_entitlement(records.critical_illness, day)
    status = valid_status(records.civil_affairs, day)
    location = policy.location_of(facts.hospital_region_code)
    ytd, assumptions = year_to_date(facts, policy, enrolment, entitlement, status)
    this_year = coverage_input(facts, policy, enrolment, entitlement, status, ytd)
    parts = [(this_year, policy)]
    notes = [*_location_assumptions(facts, policy, location, this_year.scheme), *assumptions]
    terms = policy.basic(this_year.scheme) if this_year.scheme else None
    if terms is not None and (this_year.admissions > 1 or terms.deductible_per == "year"):
        notes.append(
            Assumption(
                f"deductible_per_{terms.deductible_per}",
                {
                    "admissions": this_year.admissions,
                    "deductible_fen": terms.deductible_fen[facts.hospital_tier],
                },
            )
        )
    if facts.next_year_cost_fen > 0:
        following = next_policy or policy
        parts.append((_next_year_input(facts, this_year, following), following))
        notes.append(
            Assumption(
                "year_split",
                {
                    "next_year": policy.year + 1,
                    "next_year_cost_fen": parts[1][0].total_cost_fen,
                    "next_year_in_policy_fen": parts[1][0].in_policy_cost_fen,
                    "next_year_admissions": parts[1][0].admissions,
                },
            )
        )
        if next_policy is None:
            notes.append(
                Assumption("next_year_rules_missing", {"next_year": policy.year + 1, "year": policy.year})
            )
    cascade = compute_plan(parts)
    gap = cascade.gap_fen
    checks = (
        check_identity_number(facts),
        check_identity_records(facts, records),
        check_enrolment(facts, records, enrolment, policy),
        check_civil_affairs(facts, records, status, cascade),
        check_duplicate_campaign(facts),
        check_hospital(facts),
        check_referral(facts, location),
        check_cost(facts),
        check_disclosure(facts, status),
        check_need(facts, gap),
        check_target(facts, gap),
    )
    capped_target, cap_reason = cap_target(facts.target_fen, gap)
    return VerificationReport(
        checks=checks,
        cascade=cascade,
        decision=decide(checks),
        capped_target_fen=capped_target,
        cap_reason=cap_reason,
        policy_version=policy.version,
        records_snapshot=records_snapshot(records, enrolment, entitlement, status),
        assumptions=tuple(notes),
    )

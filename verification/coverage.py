"""The coverage cascade: what basic insurance, critical-illness insurance and medical assistance pay, and the gap.

Everything is integer fen and rates are basis points (10000 = 100%). The tiers apply in order (DESIGN §1):

1. **Basic insurance** pays ``rate × (in-policy cost − deductible)``. The deductible (起付线) is charged for every
   admission the plan states, or once a year where the region charges it once a year. The rate is chosen by
   hospital tier and, for a hospital outside the patient's pooling region, by where it is (another pooling
   region of the same province, or another province) and whether the referral/filing (转诊/异地就医备案) was
   made. At most what is left of its annual cap after this year's earlier payments.
2. **Critical-illness insurance** (only when enrolled and entitled) counts the in-policy amount left after basic
   over the whole calendar year: its deductible is met by this year's earlier in-policy self-pay first, and its
   bands resume where the year's earlier self-pay left them. The tilt of the patient's assistance class applies
   (deductible cut, rates raised, cap lifted); at most what is left of its annual cap.
3. **Medical assistance** (only with an assistance class) pays ``rate × (in-policy self-pay left after both
   insurances − what is left of its annual deductible)``, at most what is left of the class's annual cap. For a
   hospital outside the pooling region it pays the region's share for filed or unfiled treatment (in principle
   nothing without filing, 国办发〔2021〕42号).

Out-of-policy cost is never covered: all of it is in the gap. ``gap = total − basic − critical illness −
assistance``. A plan that runs into the next calendar year is split by year (`compute_plan`); each year's part
runs the cascade under that year's rules, the second from a fresh year.

Rounding: every payer rounds DOWN to the fen (integer floor division, once per tier, after summing the bands),
and a deductible reduced by a tilt rounds UP. Each rounding therefore favours the payer, so the gap computed
here is never smaller than the exact rational gap.

Year to date: `YearToDate` carries what each tier has already paid this year (counted against its annual cap)
and the in-policy self-pay left after basic insurance this year (counted toward the critical-illness and
assistance deductibles and the bands).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from verification.policy import (
    FULL_RATE_BP,
    AssistanceClass,
    HospitalTier,
    Location,
    Policy,
    Scheme,
)

StepCode = str  # "out_of_policy" | "basic" | "critical_illness" | "assistance"


@dataclass(frozen=True, slots=True)
class YearToDate:
    """This year's use of each tier before this case, in fen.

    `in_policy_self_pay_fen` is the in-policy cost the patient paid this year after basic insurance (before
    critical illness and assistance): it meets the annual deductibles and moves the critical-illness bands.
    """

    basic_paid_fen: int = 0
    critical_illness_paid_fen: int = 0
    assistance_paid_fen: int = 0
    in_policy_self_pay_fen: int = 0

    def __post_init__(self) -> None:
        for name in self.__slots__:
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")

    @property
    def self_pay_after_insurance_fen(self) -> int:
        """The year's self-pay still left after critical-illness insurance: what meets assistance's deductible."""
        return max(0, self.in_policy_self_pay_fen - self.critical_illness_paid_fen)


NOTHING_YET = YearToDate()


@dataclass(frozen=True, slots=True)
class CoverageInput:
    """One case as the cascade sees it. `scheme` is None when the patient has no active enrolment."""

    total_cost_fen: int
    in_policy_cost_fen: int
    scheme: Scheme | None
    hospital_tier: HospitalTier
    location: Location
    referral_filed: bool
    assistance_class: AssistanceClass | None
    critical_illness_entitled: bool
    year_to_date: YearToDate = NOTHING_YET
    admissions: int = 1

    def __post_init__(self) -> None:
        if self.admissions < 1:
            raise ValueError("admissions must be at least 1")
        if self.in_policy_cost_fen < 0:
            raise ValueError("in_policy_cost_fen must not be negative")
        if self.total_cost_fen < self.in_policy_cost_fen:
            raise ValueError("total_cost_fen must be at least in_policy_cost_fen")


@dataclass(frozen=True, slots=True)
class BandShare:
    """The part of the critical-illness base that fell in one band, and the rate it was paid at."""

    from_fen: int
    up_to_fen: int | None
    rate_bp: int
    amount_fen: int


@dataclass(frozen=True, slots=True)
class CascadeStep:
    """One payer's step: what it looked at, what rules it used and what it paid.

    `applies_to_fen` is the amount the payer considered (for out_of_policy: the out-of-policy cost), `base_fen`
    the part above the deductible that the rate applied to, `cap_left_fen` what was left of the annual cap
    (None: no cap), `remaining_fen` the amount still unpaid after this step. `reason_code` says why the step
    paid what it did: paid, capped, cap_exhausted, below_deductible, not_enrolled, not_entitled,
    no_assistance_class, never_covered.
    """

    code: StepCode
    paid_fen: int
    applies_to_fen: int
    deductible_fen: int
    base_fen: int
    rate_bp: int
    cap_left_fen: int | None
    remaining_fen: int
    reason_code: str
    bands: tuple[BandShare, ...] = ()
    year: int | None = None  # the calendar year of the plan's part this step belongs to (None: stored before)

    @property
    def params(self) -> dict[str, str | int]:
        params: dict[str, str | int] = {
            "paid_fen": self.paid_fen,
            "applies_to_fen": self.applies_to_fen,
            "deductible_fen": self.deductible_fen,
            "base_fen": self.base_fen,
            "rate_bp": self.rate_bp,
            "remaining_fen": self.remaining_fen,
        }
        if self.cap_left_fen is not None:
            params["cap_left_fen"] = self.cap_left_fen
        return params

    @property
    def message(self) -> str:
        """A plain-English sentence for this step; the web layer translates by `code` and `reason_code`."""
        template = (
            _STEP_MESSAGES.get((self.code, self.reason_code)) or _STEP_MESSAGES[("*", self.reason_code)]
        )
        shown = display_params(self.params)
        shown["code_name"] = _STEP_NAMES[self.code]
        return template.format_map(shown)


@dataclass(frozen=True, slots=True)
class YearPart:
    """One calendar year's part of a plan that runs into the next year, and what each tier paid for it."""

    year: int
    policy_version: str
    total_cost_fen: int
    in_policy_cost_fen: int
    basic_fen: int
    critical_illness_fen: int
    assistance_fen: int
    gap_fen: int


@dataclass(frozen=True, slots=True)
class Cascade:
    """The result: what each tier pays and the gap, with the steps that explain it. For a plan split by year,
    the amounts are the sums, `steps` run year by year and `years` holds each year's part."""

    total_cost_fen: int
    in_policy_cost_fen: int
    basic_fen: int
    critical_illness_fen: int
    assistance_fen: int
    gap_fen: int
    steps: tuple[CascadeStep, ...]
    years: tuple[YearPart, ...] = ()

    @property
    def out_of_policy_fen(self) -> int:
        return self.total_cost_fen - self.in_policy_cost_fen

    @property
    def covered_fen(self) -> int:
        return self.basic_fen + self.critical_illness_fen + self.assistance_fen

    def explanation(self) -> list[str]:
        """The cascade in plain English, one sentence per step, then the gap."""
        return [step.message for step in self.steps] + [
            f"That leaves a gap of {format_yuan(self.gap_fen)} out of a total cost of "
            f"{format_yuan(self.total_cost_fen)}."
        ]


def format_yuan(amount_fen: int) -> str:
    """¥1,234.56 for 123456 fen."""
    sign = "-" if amount_fen < 0 else ""
    yuan, fen = divmod(abs(amount_fen), 100)
    return f"{sign}¥{yuan:,}.{fen:02d}"


def format_rate(rate_bp: int) -> str:
    """62.5% for 6250 basis points."""
    whole, part = divmod(rate_bp, 100)
    return f"{whole}%" if part == 0 else f"{whole}.{part:02d}".rstrip("0") + "%"


def display_params(params: dict[str, str | int]) -> dict[str, str | int]:
    # Money and rates are shown formatted; the raw numbers stay available under their own names.
    shown: dict[str, str | int] = dict(params)
    for key, value in params.items():
        if isinstance(value, int) and not isinstance(value, bool):
            if key.endswith("_fen"):
                shown[key[: -len("_fen")]] = format_yuan(value)
            elif key.endswith("_bp"):
                shown[key[: -len("_bp")]] = format_rate(value)
    return shown


_STEP_MESSAGES: dict[tuple[str, str], str] = {
    ("out_of_policy", "never_covered"): (
        "{applies_to} of the cost is outside the insurance catalogue; no public tier pays it, so all of it is in"
        " the gap."
    ),
    (
        "basic",
        "not_enrolled",
    ): "No active basic medical insurance enrolment, so basic insurance pays nothing.",
    ("critical_illness", "not_enrolled"): (
        "Critical-illness insurance needs an active basic insurance enrolment, so it pays nothing."
    ),
    (
        "critical_illness",
        "not_entitled",
    ): "No critical-illness insurance entitlement was found, so it pays nothing.",
    ("assistance", "no_assistance_class"): (
        "The patient has no valid civil-affairs assistance class, so medical assistance pays nothing."
    ),
    ("basic", "paid"): (
        "Basic medical insurance pays {rate} of {base} (the in-policy cost {applies_to} above the {deductible}"
        " deductible): {paid}."
    ),
    ("critical_illness", "paid"): (
        "Critical-illness insurance pays banded rates on {base} (the {applies_to} left after basic insurance"
        " above its {deductible} deductible): {paid}."
    ),
    ("assistance", "paid"): (
        "Medical assistance pays {rate} of {base} (the {applies_to} still self-paid above its {deductible}"
        " deductible): {paid}."
    ),
    ("assistance", "unfiled_out_of_region"): (
        "The treatment is outside the pooling region without referral/filing, which medical assistance does not"
        " cover under the region's rules, so it pays nothing."
    ),
    ("*", "capped"): "{code_name} reaches its annual cap and pays what is left of it: {paid}.",
    (
        "*",
        "cap_exhausted",
    ): "{code_name} has already paid up to its annual cap this year, so it pays nothing more.",
    ("*", "below_deductible"): (
        "{code_name} pays nothing: the {applies_to} it considers does not exceed its {deductible} deductible."
    ),
}
_STEP_NAMES = {
    "basic": "Basic medical insurance",
    "critical_illness": "Critical-illness insurance",
    "assistance": "Medical assistance",
    "out_of_policy": "Out-of-policy cost",
}


def _step(
    code: StepCode,
    *,
    applies_to: int,
    deductible: int,
    base: int,
    rate_bp: int,
    uncapped: int,
    cap_left: int | None,
    remaining_before: int,
    year: int,
    bands: tuple[BandShare, ...] = (),
) -> CascadeStep:
    paid = uncapped if cap_left is None else min(uncapped, cap_left)
    if base == 0:
        reason = "below_deductible"
    elif cap_left == 0:
        reason = "cap_exhausted"
    elif paid < uncapped:
        reason = "capped"
    else:
        reason = "paid"
    return CascadeStep(
        code=code,
        paid_fen=paid,
        applies_to_fen=applies_to,
        deductible_fen=deductible,
        base_fen=base,
        rate_bp=rate_bp,
        cap_left_fen=cap_left,
        remaining_fen=remaining_before - paid,
        reason_code=reason,
        bands=bands,
        year=year,
    )


def _nothing(code: StepCode, reason: str, remaining: int, year: int) -> CascadeStep:
    return CascadeStep(
        code=code,
        paid_fen=0,
        applies_to_fen=remaining,
        deductible_fen=0,
        base_fen=0,
        rate_bp=0,
        cap_left_fen=None,
        remaining_fen=remaining,
        reason_code=reason,
        year=year,
    )


def _cap_left(cap: int | None, used: int) -> int | None:
    return None if cap is None else max(0, cap - used)


def basic_deductible_fen(case: CoverageInput, policy: Policy) -> int:
    """What is left of basic insurance's deductible for this case: one per admission, or what the year's
    earlier stays left of a yearly one (any reimbursement this year means it was met)."""
    assert case.scheme is not None
    terms = policy.basic(case.scheme)
    per_stay = terms.deductible_fen[case.hospital_tier]
    if terms.deductible_per == "admission":
        return per_stay * case.admissions
    ytd = case.year_to_date
    if ytd.basic_paid_fen > 0:
        return 0
    return max(0, per_stay - ytd.in_policy_self_pay_fen)


def _banded(
    limits: tuple[int | None, ...], rates: tuple[int, ...], start: int, base: int
) -> tuple[int, tuple[BandShare, ...]]:
    """rate × amount summed over the bands for the part [start, start + base) of the year's amount above the
    deductible, in fen·bp (floored once by the caller), and the share of each band."""
    weighted = 0
    shares: list[BandShare] = []
    lower, end = 0, start + base
    for limit, rate in zip(limits, rates, strict=True):
        upper = end if limit is None else min(end, limit)
        amount = upper - max(lower, start)
        if amount > 0:
            weighted += amount * rate
            shares.append(
                BandShare(from_fen=max(lower, start), up_to_fen=limit, rate_bp=rate, amount_fen=amount)
            )
        if limit is None or limit >= end:
            break
        lower = limit
    return weighted, tuple(shares)


def compute_cascade(case: CoverageInput, policy: Policy, year: int | None = None) -> Cascade:
    """Apply the three tiers of `policy` to `case` (one calendar year's part of a plan) and return each tier's
    payment, the gap and the steps, labelled with `year` (the policy's own year unless said otherwise: next
    year's part may run under this year's rules while next year's are not published)."""
    ytd = case.year_to_date
    year = policy.year if year is None else year
    in_policy = case.in_policy_cost_fen
    out_of_policy = case.total_cost_fen - in_policy
    steps: list[CascadeStep] = [
        CascadeStep(
            code="out_of_policy",
            paid_fen=0,
            applies_to_fen=out_of_policy,
            deductible_fen=0,
            base_fen=0,
            rate_bp=0,
            cap_left_fen=None,
            remaining_fen=out_of_policy,
            reason_code="never_covered",
            year=year,
        )
    ]
    remaining = in_policy
    scheme = case.scheme

    # Tier 1: basic medical insurance.
    if scheme is None:
        steps.append(_nothing("basic", "not_enrolled", remaining, year))
        basic_paid = 0
    else:
        terms = policy.basic(scheme)
        deductible = basic_deductible_fen(case, policy)
        rate = terms.rate_for(case.hospital_tier, case.location, case.referral_filed)
        base = max(0, remaining - deductible)
        step = _step(
            "basic",
            applies_to=remaining,
            deductible=deductible,
            base=base,
            rate_bp=rate,
            uncapped=base * rate // FULL_RATE_BP,
            cap_left=_cap_left(terms.annual_cap_fen, ytd.basic_paid_fen),
            remaining_before=remaining,
            year=year,
        )
        steps.append(step)
        basic_paid = step.paid_fen
    remaining -= basic_paid

    # Tier 2: critical-illness insurance, banded over the year's amount above its annual deductible.
    if scheme is None:
        steps.append(_nothing("critical_illness", "not_enrolled", remaining, year))
        critical_paid = 0
    elif not case.critical_illness_entitled:
        steps.append(_nothing("critical_illness", "not_entitled", remaining, year))
        critical_paid = 0
    else:
        resolved = policy.critical_illness_for(scheme, case.assistance_class)
        earlier = ytd.in_policy_self_pay_fen
        deductible = max(0, resolved.deductible_fen - earlier)
        base = max(0, remaining - deductible)
        # The bands resume where the year's earlier self-pay above the deductible left them.
        start = max(0, earlier - resolved.deductible_fen)
        weighted, shares = _banded(resolved.band_limits_fen, resolved.band_rates_bp, start, base)
        step = _step(
            "critical_illness",
            applies_to=remaining,
            deductible=deductible,
            base=base,
            # For a banded step the rate reported is the effective rate over the base, rounded down.
            rate_bp=weighted // base if base else 0,
            uncapped=weighted // FULL_RATE_BP,
            cap_left=_cap_left(resolved.annual_cap_fen, ytd.critical_illness_paid_fen),
            remaining_before=remaining,
            year=year,
            bands=shares,
        )
        steps.append(step)
        critical_paid = step.paid_fen
    remaining -= critical_paid

    # Tier 3: medical assistance on the in-policy self-pay that is left.
    share = policy.assistance_out_of_region.share_bp(case.location, case.referral_filed)
    if case.assistance_class is None:
        steps.append(_nothing("assistance", "no_assistance_class", remaining, year))
        assistance_paid = 0
    elif share == 0:
        steps.append(_nothing("assistance", "unfiled_out_of_region", remaining, year))
        assistance_paid = 0
    else:
        assistance = policy.assistance[case.assistance_class]
        deductible = max(0, assistance.deductible_fen - ytd.self_pay_after_insurance_fen)
        base = max(0, remaining - deductible)
        # Out of region, the region's share scales the payment: rate × share, floored once.
        rate = assistance.rate_bp * share // FULL_RATE_BP
        step = _step(
            "assistance",
            applies_to=remaining,
            deductible=deductible,
            base=base,
            rate_bp=rate,
            uncapped=base * assistance.rate_bp * share // (FULL_RATE_BP * FULL_RATE_BP),
            cap_left=_cap_left(assistance.annual_cap_fen, ytd.assistance_paid_fen),
            remaining_before=remaining,
            year=year,
        )
        steps.append(step)
        assistance_paid = step.paid_fen
    remaining -= assistance_paid

    return Cascade(
        total_cost_fen=case.total_cost_fen,
        in_policy_cost_fen=in_policy,
        basic_fen=basic_paid,
        critical_illness_fen=critical_paid,
        assistance_fen=assistance_paid,
        gap_fen=out_of_policy + remaining,
        steps=tuple(steps),
    )


def compute_plan(parts: Sequence[tuple[CoverageInput, Policy]]) -> Cascade:
    """The cascade of a plan split by calendar year: each part under its own year's policy, then summed.

    The parts are consecutive calendar years from the first policy's year, whatever rules each runs under. A
    single part is the plain cascade (no `years`). Each part's year-to-date is its own: the second year
    starts fresh, because the annual deductibles and caps restart on 1 January.
    """
    if not parts:
        raise ValueError("a plan has at least one part")
    first_year = parts[0][1].year
    cascades = [
        compute_cascade(case, policy, first_year + index) for index, (case, policy) in enumerate(parts)
    ]
    if len(cascades) == 1:
        return cascades[0]
    return Cascade(
        total_cost_fen=sum(c.total_cost_fen for c in cascades),
        in_policy_cost_fen=sum(c.in_policy_cost_fen for c in cascades),
        basic_fen=sum(c.basic_fen for c in cascades),
        critical_illness_fen=sum(c.critical_illness_fen for c in cascades),
        assistance_fen=sum(c.assistance_fen for c in cascades),
        gap_fen=sum(c.gap_fen for c in cascades),
        steps=tuple(step for c in cascades for step in c.steps),
        years=tuple(
            YearPart(
                year=first_year + index,
                policy_version=policy.version,
                total_cost_fen=c.total_cost_fen,
                in_policy_cost_fen=c.in_policy_cost_fen,
                basic_fen=c.basic_fen,
                critical_illness_fen=c.critical_illness_fen,
                assistance_fen=c.assistance_fen,
                gap_fen=c.gap_fen,
            )
            for index, (c, (_case, policy)) in enumerate(zip(cascades, parts, strict=True))
        ),
    )


def split_by_year(
    total_fen: int, in_policy_fen: int, next_year_fen: int
) -> tuple[tuple[int, int], tuple[int, int]]:
    """(total, in-policy) for this year and for next year, when `next_year_fen` of the total falls next year.

    The in-policy part is split in the same proportion as the total; next year's in-policy share rounds down.
    """
    if not 0 <= next_year_fen <= total_fen:
        raise ValueError("next_year_fen must be between 0 and the total cost")
    next_in_policy = in_policy_fen * next_year_fen // total_fen if total_fen else 0
    return (total_fen - next_year_fen, in_policy_fen - next_in_policy), (next_year_fen, next_in_policy)

"""The coverage cascade: what basic insurance, critical-illness insurance and medical assistance pay, and the gap.

Everything is integer fen and rates are basis points (10000 = 100%). The tiers apply in order (DESIGN §1):

1. **Basic insurance** pays ``rate × (in-policy cost − deductible)``, the rate chosen by hospital tier and, for a
   hospital outside the patient's pooling region, by whether the referral/filing (转诊备案) was made; at most what
   is left of its annual cap after this year's earlier payments.
2. **Critical-illness insurance** (only when enrolled and entitled) takes the in-policy amount left after basic,
   removes its annual deductible, and pays each band's rate on the part of that amount inside the band, with
   the tilt of the patient's assistance class applied (deductible cut, rates raised, cap lifted); at most what
   is left of its annual cap.
3. **Medical assistance** (only with an assistance class) pays ``rate × (in-policy self-pay left after both
   insurances − its deductible)``, at most what is left of the class's annual cap.

Out-of-policy cost is never covered: all of it is in the gap. ``gap = total − basic − critical illness −
assistance``.

Rounding: every payer rounds DOWN to the fen (integer floor division, once per tier, after summing the bands),
and a deductible reduced by a tilt rounds UP. Each rounding therefore favours the payer, so the gap computed
here is never smaller than the exact rational gap.

Year to date: `YearToDate` carries what each tier has already paid this year (counted against its annual cap)
and how much of each tier's deductible has already been met this year, in fen (0 = none of it, anything at or
above the deductible = all of it). Fen rather than a yes/no, because records often show a deductible partly
met. The basic-insurance deductible is applied once per case: a case is one treatment plan, and the plan's
estimate is treated like one stay.
"""

from __future__ import annotations

from dataclasses import dataclass

from verification.policy import (
    FULL_RATE_BP,
    AssistanceClass,
    HospitalTier,
    Policy,
    Scheme,
)

StepCode = str  # "out_of_policy" | "basic" | "critical_illness" | "assistance"


@dataclass(frozen=True, slots=True)
class YearToDate:
    """This year's use of each tier before this case, in fen."""

    basic_paid_fen: int = 0
    critical_illness_paid_fen: int = 0
    assistance_paid_fen: int = 0
    basic_deductible_met_fen: int = 0
    critical_illness_deductible_met_fen: int = 0
    assistance_deductible_met_fen: int = 0

    def __post_init__(self) -> None:
        for name in self.__slots__:
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")


NOTHING_YET = YearToDate()


@dataclass(frozen=True, slots=True)
class CoverageInput:
    """One case as the cascade sees it. `scheme` is None when the patient has no active enrolment."""

    total_cost_fen: int
    in_policy_cost_fen: int
    scheme: Scheme | None
    hospital_tier: HospitalTier
    out_of_region: bool
    referral_filed: bool
    assistance_class: AssistanceClass | None
    critical_illness_entitled: bool
    year_to_date: YearToDate = NOTHING_YET

    def __post_init__(self) -> None:
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
class Cascade:
    """The result: what each tier pays and the gap, with the steps that explain it."""

    total_cost_fen: int
    in_policy_cost_fen: int
    basic_fen: int
    critical_illness_fen: int
    assistance_fen: int
    gap_fen: int
    steps: tuple[CascadeStep, ...]

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
    )


def _nothing(code: StepCode, reason: str, remaining: int) -> CascadeStep:
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
    )


def _cap_left(cap: int | None, used: int) -> int | None:
    return None if cap is None else max(0, cap - used)


def compute_cascade(case: CoverageInput, policy: Policy) -> Cascade:
    """Apply the three tiers of `policy` to `case` and return each tier's payment, the gap and the steps."""
    ytd = case.year_to_date
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
        )
    ]
    remaining = in_policy
    scheme = case.scheme

    # Tier 1: basic medical insurance.
    if scheme is None:
        steps.append(_nothing("basic", "not_enrolled", remaining))
        basic_paid = 0
    else:
        terms = policy.basic(scheme)
        deductible = max(0, terms.deductible_fen[case.hospital_tier] - ytd.basic_deductible_met_fen)
        rate = terms.rate_for(case.hospital_tier, case.out_of_region, case.referral_filed)
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
        )
        steps.append(step)
        basic_paid = step.paid_fen
    remaining -= basic_paid

    # Tier 2: critical-illness insurance, banded over the amount above its deductible.
    if scheme is None:
        steps.append(_nothing("critical_illness", "not_enrolled", remaining))
        critical_paid = 0
    elif not case.critical_illness_entitled:
        steps.append(_nothing("critical_illness", "not_entitled", remaining))
        critical_paid = 0
    else:
        resolved = policy.critical_illness_for(scheme, case.assistance_class)
        deductible = max(0, resolved.deductible_fen - ytd.critical_illness_deductible_met_fen)
        base = max(0, remaining - deductible)
        weighted = 0  # sum of rate × amount over the bands, in fen·bp; floored once at the end
        shares: list[BandShare] = []
        lower = 0
        for limit, rate in zip(resolved.band_limits_fen, resolved.band_rates_bp, strict=True):
            if base <= lower:
                break
            upper = base if limit is None else min(base, limit)
            amount = upper - lower
            weighted += amount * rate
            shares.append(BandShare(from_fen=lower, up_to_fen=limit, rate_bp=rate, amount_fen=amount))
            if limit is None:
                break
            lower = limit
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
            bands=tuple(shares),
        )
        steps.append(step)
        critical_paid = step.paid_fen
    remaining -= critical_paid

    # Tier 3: medical assistance on the in-policy self-pay that is left.
    if case.assistance_class is None:
        steps.append(_nothing("assistance", "no_assistance_class", remaining))
        assistance_paid = 0
    else:
        assistance = policy.assistance[case.assistance_class]
        deductible = max(0, assistance.deductible_fen - ytd.assistance_deductible_met_fen)
        base = max(0, remaining - deductible)
        step = _step(
            "assistance",
            applies_to=remaining,
            deductible=deductible,
            base=base,
            rate_bp=assistance.rate_bp,
            uncapped=base * assistance.rate_bp // FULL_RATE_BP,
            cap_left=_cap_left(assistance.annual_cap_fen, ytd.assistance_paid_fen),
            remaining_before=remaining,
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

"""Regional benefit policies: the parameters of the three public tiers for one pooling region and year.

Money is whole fen, rates are basis points (10000 = 100%). The policy files, one per pooling region and year,
are read by `verification.policy_files`.

Loading validates everything and raises `PolicyError` naming the file, the key path and the reason. It also
enforces the order of assistance classes (`CLASS_STRENGTH`, checked by `class_order_violations`): a stronger
class never gets a higher deductible, a lower rate, a lower cap or a smaller tilt than a weaker one, which is
what makes "a stronger class never raises the gap" true for every loaded policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Scheme = Literal["employee", "resident"]
HospitalTier = Literal["primary", "secondary", "tertiary"]
AssistanceClass = Literal["tekun", "dibao", "dibao_edge", "monitored", "illness_impoverished"]
AssistanceBase = Literal["in_policy_self_pay"]

SCHEMES: tuple[Scheme, ...] = ("employee", "resident")
HOSPITAL_TIERS: tuple[HospitalTier, ...] = ("primary", "secondary", "tertiary")
# Strongest first. 特困 (extreme-poverty support), 低保 (minimum living allowance), 低保边缘 (low-income
# marginal household), 防止返贫监测对象 (monitored against returning to poverty), 因病致贫重病患者.
ASSISTANCE_CLASSES: tuple[AssistanceClass, ...] = (
    "tekun",
    "dibao",
    "dibao_edge",
    "monitored",
    "illness_impoverished",
)
# tekun ≥ dibao ≥ dibao_edge = monitored ≥ illness_impoverished ≥ no class (0). 国办发〔2021〕42号 groups
# 低保边缘 with the monitored households, so they rank equal and neither must out-do the other.
CLASS_STRENGTH: Mapping[AssistanceClass, int] = {
    "tekun": 4,
    "dibao": 3,
    "dibao_edge": 2,
    "monitored": 2,
    "illness_impoverished": 1,
}
ASSISTANCE_BASES: tuple[AssistanceBase, ...] = ("in_policy_self_pay",)
FULL_RATE_BP = 10_000


def class_strength(assistance_class: AssistanceClass | None) -> int:
    """The rank of a class in the order of protection; 0 for no class."""
    return 0 if assistance_class is None else CLASS_STRENGTH[assistance_class]


def region_prefix(region_code: str) -> str:
    """The prefix that a pooling region's code shares with every code beneath it: trailing "00" pairs cut.

    341200 → "3412" (阜阳市 and its counties), 110000 → "11" (all of Beijing).
    """
    prefix = region_code
    while prefix.endswith("00") and len(prefix) > 2:
        prefix = prefix[:-2]
    return prefix


class PolicyError(ValueError):
    """A policy file that cannot be used: `source` (the file), `key_path` (e.g. ``basic.resident.rate_bp``)
    and `reason` say where and why."""

    def __init__(self, source: str, key_path: str, reason: str) -> None:
        super().__init__(f"{source}: {key_path or '(top level)'}: {reason}")
        self.source = source
        self.key_path = key_path
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Band:
    """Part of the amount above the critical-illness deductible, up to `up_to_fen` (None: no upper end)."""

    up_to_fen: int | None
    rate_bp: int


@dataclass(frozen=True, slots=True)
class Tilt:
    """How critical-illness insurance leans toward an assistance class (倾斜支付)."""

    deductible_reduction_bp: int = 0
    rate_increase_bp: int = 0
    cap_lifted: bool = False


NO_TILT = Tilt()


@dataclass(frozen=True, slots=True)
class BasicTerms:
    """Tier 1, basic medical insurance, for one scheme."""

    deductible_fen: Mapping[HospitalTier, int]
    rate_bp: Mapping[HospitalTier, int]
    out_of_region_filed_rate_bp: Mapping[HospitalTier, int]
    out_of_region_unfiled_rate_bp: Mapping[HospitalTier, int]
    annual_cap_fen: int

    def rate_for(self, tier: HospitalTier, out_of_region: bool, referral_filed: bool) -> int:
        """The reimbursement rate for a stay at a hospital of `tier`, in or out of the pooling region."""
        if not out_of_region:
            return self.rate_bp[tier]
        if referral_filed:
            return self.out_of_region_filed_rate_bp[tier]
        return self.out_of_region_unfiled_rate_bp[tier]


@dataclass(frozen=True, slots=True)
class CriticalIllnessTerms:
    """Tier 2, critical-illness insurance, for one scheme, before any tilt."""

    deductible_fen: int
    bands: tuple[Band, ...]
    annual_cap_fen: int | None
    tilts: Mapping[AssistanceClass, Tilt]

    def tilt_for(self, assistance_class: AssistanceClass | None) -> Tilt:
        if assistance_class is None:
            return NO_TILT
        return self.tilts.get(assistance_class, NO_TILT)


@dataclass(frozen=True, slots=True)
class ResolvedCriticalIllness:
    """Critical-illness terms with a class's tilt already applied, computed once per policy.

    The reduced deductible rounds UP to the fen, so rounding favours the payer and never lowers the gap.
    """

    deductible_fen: int
    band_limits_fen: tuple[int | None, ...]
    band_rates_bp: tuple[int, ...]
    annual_cap_fen: int | None
    tilt: Tilt


def resolve_critical_illness(
    terms: CriticalIllnessTerms, assistance_class: AssistanceClass | None
) -> ResolvedCriticalIllness:
    """Apply the tilt of `assistance_class` to `terms`."""
    tilt = terms.tilt_for(assistance_class)
    kept_bp = FULL_RATE_BP - tilt.deductible_reduction_bp
    # Ceiling division: -(-a // b).
    deductible = -(-terms.deductible_fen * kept_bp // FULL_RATE_BP)
    return ResolvedCriticalIllness(
        deductible_fen=deductible,
        band_limits_fen=tuple(band.up_to_fen for band in terms.bands),
        band_rates_bp=tuple(min(FULL_RATE_BP, band.rate_bp + tilt.rate_increase_bp) for band in terms.bands),
        annual_cap_fen=None if tilt.cap_lifted else terms.annual_cap_fen,
        tilt=tilt,
    )


@dataclass(frozen=True, slots=True)
class AssistanceTerms:
    """Tier 3, medical assistance, for one class."""

    base: AssistanceBase
    deductible_fen: int
    rate_bp: int
    annual_cap_fen: int | None


@dataclass(frozen=True, slots=True)
class SchemeTerms:
    basic: BasicTerms
    critical_illness: CriticalIllnessTerms


@dataclass(frozen=True, slots=True)
class Policy:
    """The benefit rules of one pooling region for one year."""

    region_code: str
    region_name: str
    year: int
    version: str
    per_capita_disposable_income_fen: int
    schemes: Mapping[Scheme, SchemeTerms]
    assistance: Mapping[AssistanceClass, AssistanceTerms]
    source: str = ""
    # Derived once here so verifying many cases does no per-case policy arithmetic.
    prefix: str = field(init=False)
    _resolved: Mapping[tuple[Scheme, AssistanceClass | None], ResolvedCriticalIllness] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "prefix", region_prefix(self.region_code))
        classes: tuple[AssistanceClass | None, ...] = (None, *ASSISTANCE_CLASSES)
        resolved = {
            (scheme, assistance_class): resolve_critical_illness(terms.critical_illness, assistance_class)
            for scheme, terms in self.schemes.items()
            for assistance_class in classes
        }
        object.__setattr__(self, "_resolved", resolved)

    def covers(self, region_code: str) -> bool:
        """Whether `region_code` (a county, prefecture or province code) lies in this pooling region."""
        return region_code.startswith(self.prefix)

    def basic(self, scheme: Scheme) -> BasicTerms:
        return self.schemes[scheme].basic

    def critical_illness_for(
        self, scheme: Scheme, assistance_class: AssistanceClass | None
    ) -> ResolvedCriticalIllness:
        return self._resolved[(scheme, assistance_class)]


PolicyKey = tuple[str, int]


def policy_for(policies: Mapping[PolicyKey, Policy], region_code: str, year: int) -> Policy | None:
    """The policy of the pooling region holding `region_code` for `year`, by longest matching prefix.

    A county code 341221 is looked up as 341200 (prefecture) and then 340000 (province); a municipality's
    district 110105 as 110100 and then 110000. None when no pooling region covers the code for that year.
    """
    for length in (6, 4, 2):
        prefix = region_code[:length]
        if len(prefix) < length:
            continue
        candidate = policies.get((prefix.ljust(6, "0"), year))
        if candidate is not None and candidate.covers(region_code):
            return candidate
    return None


# ---------------------------------------------------------------------------------------------------------
# The order of assistance classes


def _cap_at_least(stronger: int | None, weaker: int | None) -> bool:
    # None is "no cap", which is at least any cap.
    return stronger is None or (weaker is not None and stronger >= weaker)


def class_order_violations(policy: Policy) -> list[tuple[str, str]]:
    """(key path, reason) for every place where a stronger assistance class is treated worse than a weaker one."""
    violations: list[tuple[str, str]] = []
    pairs = [
        (strong, weak)
        for strong in ASSISTANCE_CLASSES
        for weak in ASSISTANCE_CLASSES
        if CLASS_STRENGTH[strong] > CLASS_STRENGTH[weak]
    ]
    for strong, weak in pairs:
        s, w = policy.assistance[strong], policy.assistance[weak]
        path = f"assistance.{strong}"
        if s.deductible_fen > w.deductible_fen:
            violations.append((f"{path}.deductible_fen", f"is higher than for the weaker class {weak}"))
        if s.rate_bp < w.rate_bp:
            violations.append((f"{path}.rate_bp", f"is lower than for the weaker class {weak}"))
        if not _cap_at_least(s.annual_cap_fen, w.annual_cap_fen):
            violations.append((f"{path}.annual_cap_fen", f"is lower than for the weaker class {weak}"))
        for scheme, terms in policy.schemes.items():
            st, wt = terms.critical_illness.tilt_for(strong), terms.critical_illness.tilt_for(weak)
            tilt_path = f"critical_illness.{scheme}.tilt.{strong}"
            if st.deductible_reduction_bp < wt.deductible_reduction_bp:
                violations.append(
                    (f"{tilt_path}.deductible_reduction_bp", f"is smaller than for the weaker class {weak}")
                )
            if st.rate_increase_bp < wt.rate_increase_bp:
                violations.append(
                    (f"{tilt_path}.rate_increase_bp", f"is smaller than for the weaker class {weak}")
                )
            if wt.cap_lifted and not st.cap_lifted:
                violations.append(
                    (f"{tilt_path}.cap_lifted", f"is false while the weaker class {weak} has it")
                )
    return violations

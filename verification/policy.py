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
AssistanceClass = Literal[
    "tekun", "dibao", "returned_to_poverty", "dibao_edge", "monitored", "illness_impoverished"
]
AssistanceBase = Literal["in_policy_self_pay"]
DeductiblePer = Literal["admission", "year"]
# Where the hospital is, seen from the patient's pooling region: inside it, in another pooling region of the
# same province (省内异地), or in another province (跨省异地).
Location = Literal["in_region", "in_province", "out_of_province"]

SCHEMES: tuple[Scheme, ...] = ("employee", "resident")
HOSPITAL_TIERS: tuple[HospitalTier, ...] = ("primary", "secondary", "tertiary")
DEDUCTIBLE_PER: tuple[DeductiblePer, ...] = ("admission", "year")
LOCATIONS: tuple[Location, ...] = ("in_region", "in_province", "out_of_province")
# Strongest first. 特困 (extreme-poverty support), 低保 (minimum living allowance), 返贫致贫人口 (people who
# fell back into poverty), 低保边缘 (low-income marginal household), 防止返贫监测对象 (monitored against
# returning to poverty), 因病致贫重病患者.
ASSISTANCE_CLASSES: tuple[AssistanceClass, ...] = (
    "tekun",
    "dibao",
    "returned_to_poverty",
    "dibao_edge",
    "monitored",
    "illness_impoverished",
)
# tekun ≥ dibao = returned_to_poverty ≥ dibao_edge = monitored ≥ illness_impoverished ≥ no class (0).
# 医保发〔2021〕20号 gives 返贫致贫人口 the same critical-illness tilt as 低保, and 国办发〔2021〕42号 groups
# 低保边缘 with the monitored households, so each pair ranks equal and neither must out-do the other.
CLASS_STRENGTH: Mapping[AssistanceClass, int] = {
    "tekun": 4,
    "dibao": 3,
    "returned_to_poverty": 3,
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
class OutOfRegionRates:
    """Basic insurance's rates per tier for treatment outside the pooling region, with and without the
    referral/filing (转诊/异地就医备案)."""

    filed_rate_bp: Mapping[HospitalTier, int]
    unfiled_rate_bp: Mapping[HospitalTier, int]


@dataclass(frozen=True, slots=True)
class BasicTerms:
    """Tier 1, basic medical insurance, for one scheme.

    `deductible_per` says whether the deductible (起付线) is charged for every admission or once a year.
    `in_province` is None for a region pooled at province level, where no hospital of the province is
    outside the pooling region.
    """

    deductible_fen: Mapping[HospitalTier, int]
    deductible_per: DeductiblePer
    rate_bp: Mapping[HospitalTier, int]
    in_province: OutOfRegionRates | None
    out_of_province: OutOfRegionRates
    annual_cap_fen: int

    def rate_for(self, tier: HospitalTier, location: Location, referral_filed: bool) -> int:
        """The reimbursement rate for a stay at a hospital of `tier` at `location`."""
        if location == "in_region":
            return self.rate_bp[tier]
        rates = self.in_province if location == "in_province" else self.out_of_province
        if rates is None:  # pooled at province level: nothing in the province is out of region
            return self.rate_bp[tier]
        return (rates.filed_rate_bp if referral_filed else rates.unfiled_rate_bp)[tier]

    def highest_rate_bp(self) -> int:
        """The highest rate any stay could be paid at, in region or out, filed or not: the bound used to
        derive a floor on self-pay, which must hold whichever hospital the earlier stays were at."""
        tables = [self.rate_bp]
        for rates in (self.in_province, self.out_of_province):
            if rates is not None:
                tables += [rates.filed_rate_bp, rates.unfiled_rate_bp]
        return max(rate for table in tables for rate in table.values())


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
class AssistanceOutOfRegion:
    """How much of its usual payment medical assistance makes for treatment outside the pooling region, with
    and without the referral/filing. 国办发〔2021〕42号: costs of recipients who did not follow the referral
    rules are in principle not covered (0); each region sets its own rule."""

    filed_share_bp: int
    unfiled_share_bp: int

    def share_bp(self, location: Location, referral_filed: bool) -> int:
        if location == "in_region":
            return FULL_RATE_BP
        return self.filed_share_bp if referral_filed else self.unfiled_share_bp


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
    assistance_out_of_region: AssistanceOutOfRegion
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

    @property
    def pooled_by_province(self) -> bool:
        return len(self.prefix) == 2

    def location_of(self, hospital_region_code: str) -> Location:
        """Where a hospital is, seen from this pooling region."""
        if self.covers(hospital_region_code):
            return "in_region"
        if hospital_region_code[:2] == self.region_code[:2]:
            return "in_province"
        return "out_of_province"

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


# ---------------------------------------------------------------------------------------------------------
# The national floors


# The classes the national documents protect most: assistance for 特困/低保 (国办发〔2021〕42号) and the full
# critical-illness tilt for 特困/低保/返贫致贫人口 (医保发〔2021〕20号).
FLOOR_ASSISTANCE_CLASSES: tuple[AssistanceClass, ...] = ("tekun", "dibao")
FULL_TILT_CLASSES: tuple[AssistanceClass, ...] = ("tekun", "dibao", "returned_to_poverty")
ASSISTANCE_RATE_FLOOR_BP = 7_000  # 国办发〔2021〕42号: at least 70% for 特困/低保
ASSISTANCE_DEDUCTIBLE_CEILING_BP = 500  # ... deductible at most 5% of per-capita disposable income
CRITICAL_ILLNESS_DEDUCTIBLE_CEILING_BP = 5_000  # 医保发〔2019〕30号: at most 50% of it (residents)
CRITICAL_ILLNESS_RATE_FLOOR_BP = 6_000  # ... and at least 60% (residents)
FULL_TILT = Tilt(deductible_reduction_bp=5_000, rate_increase_bp=500, cap_lifted=True)  # 医保发〔2021〕20号


def national_floor_violations(policy: Policy) -> list[tuple[str, str]]:
    """(key path, reason) for every figure that breaks a national floor; such a file is refused."""
    violations: list[tuple[str, str]] = []
    income = policy.per_capita_disposable_income_fen
    for assistance_class in FLOOR_ASSISTANCE_CLASSES:
        terms = policy.assistance[assistance_class]
        path = f"assistance.{assistance_class}"
        if terms.rate_bp < ASSISTANCE_RATE_FLOOR_BP:
            violations.append(
                (f"{path}.rate_bp", "is below the national floor of 70% for 特困/低保 (国办发〔2021〕42号)")
            )
        if terms.deductible_fen * FULL_RATE_BP > income * ASSISTANCE_DEDUCTIBLE_CEILING_BP:
            violations.append(
                (
                    f"{path}.deductible_fen",
                    "is above 5% of per_capita_disposable_income_fen, the national ceiling for 特困/低保"
                    " (国办发〔2021〕42号)",
                )
            )
    resident = policy.schemes["resident"].critical_illness
    path = "critical_illness.resident"
    if resident.deductible_fen * FULL_RATE_BP > income * CRITICAL_ILLNESS_DEDUCTIBLE_CEILING_BP:
        violations.append(
            (
                f"{path}.deductible_fen",
                "is above 50% of per_capita_disposable_income_fen, the national ceiling (医保发〔2019〕30号)",
            )
        )
    for index, band in enumerate(resident.bands):
        if band.rate_bp < CRITICAL_ILLNESS_RATE_FLOOR_BP:
            violations.append(
                (f"{path}.bands[{index}].rate_bp", "is below the national floor of 60% (医保发〔2019〕30号)")
            )
    for assistance_class in FULL_TILT_CLASSES:
        tilt = resident.tilt_for(assistance_class)
        tilt_path = f"{path}.tilt.{assistance_class}"
        if tilt.deductible_reduction_bp < FULL_TILT.deductible_reduction_bp:
            violations.append(
                (f"{tilt_path}.deductible_reduction_bp", "must halve the deductible (医保发〔2021〕20号)")
            )
        if tilt.rate_increase_bp < FULL_TILT.rate_increase_bp:
            violations.append(
                (f"{tilt_path}.rate_increase_bp", "must raise every rate by 5 points (医保发〔2021〕20号)")
            )
        if not tilt.cap_lifted:
            violations.append((f"{tilt_path}.cap_lifted", "must lift the cap (医保发〔2021〕20号)"))
    return violations

"""Reading regional benefit policies from their files.

A policy file is TOML, one per pooling region (统筹地区) and year, named ``<region_code>-<year>.toml`` under
``config/policies/``. Money is whole fen, rates are basis points (10000 = 100%). The layout::

    region_code = "341200"                      # a pooling region: 6 digits ending in "00"
    region_name = "阜阳市"
    year = 2026
    version = "341200-2026.1"
    per_capita_disposable_income_fen = 3_000_000

    [basic.<scheme>]                            # scheme: employee | resident
    annual_cap_fen = 30_000_000
    deductible_per = "admission"                # the deductible is charged per "admission" or once a "year"
    [basic.<scheme>.deductible_fen]             # one value per hospital tier: primary | secondary | tertiary
    [basic.<scheme>.rate_bp]                    # in-region rate per tier
    [basic.<scheme>.in_province_filed_rate_bp]       # another pooling region of the same province, filed
    [basic.<scheme>.in_province_unfiled_rate_bp]     # ... not filed (both absent when pooled by province)
    [basic.<scheme>.out_of_province_filed_rate_bp]   # another province, with referral/filing (转诊备案)
    [basic.<scheme>.out_of_province_unfiled_rate_bp] # ... without referral/filing

    [critical_illness.<scheme>]
    deductible_fen = 1_500_000                  # annual, over the in-policy amount left after basic insurance
    annual_cap_fen = 40_000_000                 # or "none"
    bands = [                                   # over the amount above the deductible; the last is open-ended
        { up_to_fen = 10_000_000, rate_bp = 6000 },
        { up_to_fen = "none", rate_bp = 7000 },
    ]
    [critical_illness.<scheme>.tilt.<class>]    # optional, per assistance class
    deductible_reduction_bp = 5000              # the deductible is cut by this share
    rate_increase_bp = 500                      # every band's rate rises by this (capped at 10000)
    cap_lifted = true                           # no annual cap for this class

    [assistance.<class>]                        # every class: tekun | dibao | returned_to_poverty |
    base = "in_policy_self_pay"                 #   dibao_edge | monitored | illness_impoverished
    deductible_fen = 0
    rate_bp = 9000
    annual_cap_fen = 8_000_000                  # or "none"

    [assistance_out_of_region]                  # assistance for treatment outside the pooling region:
    filed_share_bp = 10000                      #   the share of its usual payment with referral/filing
    unfiled_share_bp = 0                        #   ... and without

Loading validates everything and raises `PolicyError` naming the file, the key path and the reason. It also
enforces the order of assistance classes (`verification.policy.class_order_violations`), which is what makes
"a stronger class never raises the gap" true for every loaded policy, and the national floors
(`verification.policy.national_floor_violations`): a file that pays less than the national documents require
is refused.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import cast

from verification.policy import (
    ASSISTANCE_BASES,
    ASSISTANCE_CLASSES,
    DEDUCTIBLE_PER,
    FULL_RATE_BP,
    HOSPITAL_TIERS,
    SCHEMES,
    AssistanceClass,
    AssistanceOutOfRegion,
    AssistanceTerms,
    Band,
    BasicTerms,
    CriticalIllnessTerms,
    HospitalTier,
    OutOfRegionRates,
    Policy,
    PolicyError,
    PolicyKey,
    SchemeTerms,
    Tilt,
    class_order_violations,
    national_floor_violations,
)

_REGION_CODE = re.compile(r"[0-9]{4}00")


class _Reader:
    """Typed access to parsed TOML that reports faults as `PolicyError`s with the key path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, path: str, reason: str) -> PolicyError:
        return PolicyError(self.source, path, reason)

    def table(self, value: object, path: str) -> dict[str, object]:
        if not isinstance(value, dict):
            raise self.error(path, f"must be a table, got {_type_name(value)}")
        return cast(dict[str, object], value)

    def child(self, parent: dict[str, object], key: str, path: str) -> object:
        if key not in parent:
            raise self.error(_join(path, key), "missing key")
        return parent[key]

    def only_keys(self, table: dict[str, object], path: str, allowed: tuple[str, ...], what: str) -> None:
        for key in table:
            if key not in allowed:
                raise self.error(_join(path, key), f"unknown {what} (expected one of: {', '.join(allowed)})")

    def exact_keys(self, table: dict[str, object], path: str, keys: tuple[str, ...], what: str) -> None:
        self.only_keys(table, path, keys, what)
        for key in keys:
            if key not in table:
                raise self.error(_join(path, key), "missing key")

    def integer(self, value: object, path: str) -> int:
        # bool is an int subclass in Python; `true` is never a sensible amount.
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(path, f"must be an integer, got {_type_name(value)}")
        return value

    def money(self, value: object, path: str) -> int:
        amount = self.integer(value, path)
        if amount < 0:
            raise self.error(path, f"must not be negative, got {amount}")
        return amount

    def money_or_none(self, value: object, path: str) -> int | None:
        if value == "none":
            return None
        if isinstance(value, str):
            raise self.error(path, f'must be an integer number of fen or "none", got {value!r}')
        return self.money(value, path)

    def rate(self, value: object, path: str) -> int:
        rate = self.integer(value, path)
        if not 0 <= rate <= FULL_RATE_BP:
            raise self.error(path, f"rate must be between 0 and 10000 basis points, got {rate}")
        return rate

    def text(self, value: object, path: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.error(path, f"must be a non-empty string, got {_type_name(value)}")
        return value

    def boolean(self, value: object, path: str) -> bool:
        if not isinstance(value, bool):
            raise self.error(path, f"must be true or false, got {_type_name(value)}")
        return value


def _type_name(value: object) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a float",
        str: "a string",
        list: "an array",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


_TOP_KEYS = (
    "region_code",
    "region_name",
    "year",
    "version",
    "per_capita_disposable_income_fen",
    "basic",
    "critical_illness",
    "assistance",
    "assistance_out_of_region",
)
_IN_PROVINCE_TABLES = ("in_province_filed_rate_bp", "in_province_unfiled_rate_bp")
_BASIC_TIER_TABLES = (
    "deductible_fen",
    "rate_bp",
    "out_of_province_filed_rate_bp",
    "out_of_province_unfiled_rate_bp",
)
_TILT_KEYS = ("deductible_reduction_bp", "rate_increase_bp", "cap_lifted")
_ASSISTANCE_KEYS = ("base", "deductible_fen", "rate_bp", "annual_cap_fen")


def _per_tier(reader: _Reader, value: object, path: str, *, money: bool) -> dict[HospitalTier, int]:
    table = reader.table(value, path)
    reader.exact_keys(table, path, HOSPITAL_TIERS, "hospital tier")
    read = reader.money if money else reader.rate
    return {tier: read(table[tier], _join(path, tier)) for tier in HOSPITAL_TIERS}


def _rates(reader: _Reader, table: dict[str, object], path: str, prefix: str) -> OutOfRegionRates:
    filed, unfiled = f"{prefix}_filed_rate_bp", f"{prefix}_unfiled_rate_bp"
    rates = OutOfRegionRates(
        filed_rate_bp=_per_tier(reader, table[filed], _join(path, filed), money=False),
        unfiled_rate_bp=_per_tier(reader, table[unfiled], _join(path, unfiled), money=False),
    )
    for tier in HOSPITAL_TIERS:
        # Filing never lowers the rate; a file saying otherwise has its tables swapped.
        if rates.unfiled_rate_bp[tier] > rates.filed_rate_bp[tier]:
            raise reader.error(_join(_join(path, unfiled), tier), f"must not be above {filed}.{tier}")
    return rates


def _basic(reader: _Reader, value: object, path: str, *, pooled_by_province: bool) -> BasicTerms:
    table = reader.table(value, path)
    keys = ("annual_cap_fen", "deductible_per", *_BASIC_TIER_TABLES)
    if pooled_by_province:
        # Nothing in the province lies outside a province-wide pool, so in-province rates would be dead.
        reader.exact_keys(table, path, keys, "key (a region pooled by province has no in-province rates)")
    else:
        reader.exact_keys(table, path, (*keys, *_IN_PROVINCE_TABLES), "key")
    deductible_per = reader.text(table["deductible_per"], _join(path, "deductible_per"))
    if deductible_per not in DEDUCTIBLE_PER:
        raise reader.error(
            _join(path, "deductible_per"),
            f"must be one of {', '.join(DEDUCTIBLE_PER)}, got {deductible_per!r}",
        )
    return BasicTerms(
        deductible_fen=_per_tier(reader, table["deductible_fen"], _join(path, "deductible_fen"), money=True),
        deductible_per=deductible_per,
        rate_bp=_per_tier(reader, table["rate_bp"], _join(path, "rate_bp"), money=False),
        in_province=None if pooled_by_province else _rates(reader, table, path, "in_province"),
        out_of_province=_rates(reader, table, path, "out_of_province"),
        annual_cap_fen=reader.money(table["annual_cap_fen"], _join(path, "annual_cap_fen")),
    )


def _assistance_out_of_region(reader: _Reader, value: object, path: str) -> AssistanceOutOfRegion:
    table = reader.table(value, path)
    reader.exact_keys(table, path, ("filed_share_bp", "unfiled_share_bp"), "key")
    filed = reader.rate(table["filed_share_bp"], _join(path, "filed_share_bp"))
    unfiled = reader.rate(table["unfiled_share_bp"], _join(path, "unfiled_share_bp"))
    if unfiled > filed:
        raise reader.error(_join(path, "unfiled_share_bp"), "must not be above filed_share_bp")
    return AssistanceOutOfRegion(filed_share_bp=filed, unfiled_share_bp=unfiled)


def _bands(reader: _Reader, value: object, path: str) -> tuple[Band, ...]:
    if not isinstance(value, list) or not value:
        raise reader.error(path, f"must be a non-empty array of bands, got {_type_name(value)}")
    bands: list[Band] = []
    previous = 0
    for index, item in enumerate(cast(list[object], value)):
        band_path = _join(path, index)
        table = reader.table(item, band_path)
        reader.exact_keys(table, band_path, ("up_to_fen", "rate_bp"), "key")
        up_to = reader.money_or_none(table["up_to_fen"], _join(band_path, "up_to_fen"))
        rate = reader.rate(table["rate_bp"], _join(band_path, "rate_bp"))
        last = index == len(value) - 1
        if up_to is None and not last:
            raise reader.error(_join(band_path, "up_to_fen"), 'only the last band may be open-ended ("none")')
        if up_to is not None and last:
            raise reader.error(_join(band_path, "up_to_fen"), 'the last band must be open-ended ("none")')
        if up_to is not None and up_to <= previous:
            raise reader.error(
                _join(band_path, "up_to_fen"),
                f"bands must be strictly increasing: {up_to} is not above the previous limit {previous}",
            )
        if up_to is not None:
            previous = up_to
        bands.append(Band(up_to_fen=up_to, rate_bp=rate))
    return tuple(bands)


def _tilt(reader: _Reader, value: object, path: str) -> Tilt:
    table = reader.table(value, path)
    reader.exact_keys(table, path, _TILT_KEYS, "key")
    return Tilt(
        deductible_reduction_bp=reader.rate(
            table["deductible_reduction_bp"], _join(path, "deductible_reduction_bp")
        ),
        rate_increase_bp=reader.rate(table["rate_increase_bp"], _join(path, "rate_increase_bp")),
        cap_lifted=reader.boolean(table["cap_lifted"], _join(path, "cap_lifted")),
    )


def _critical_illness(reader: _Reader, value: object, path: str) -> CriticalIllnessTerms:
    table = reader.table(value, path)
    reader.only_keys(table, path, ("deductible_fen", "annual_cap_fen", "bands", "tilt"), "key")
    tilts: dict[AssistanceClass, Tilt] = {}
    if "tilt" in table:
        tilt_path = _join(path, "tilt")
        tilt_table = reader.table(table["tilt"], tilt_path)
        reader.only_keys(tilt_table, tilt_path, ASSISTANCE_CLASSES, "assistance class")
        for assistance_class in ASSISTANCE_CLASSES:
            if assistance_class in tilt_table:
                tilts[assistance_class] = _tilt(
                    reader, tilt_table[assistance_class], _join(tilt_path, assistance_class)
                )
    return CriticalIllnessTerms(
        deductible_fen=reader.money(
            reader.child(table, "deductible_fen", path), _join(path, "deductible_fen")
        ),
        bands=_bands(reader, reader.child(table, "bands", path), _join(path, "bands")),
        annual_cap_fen=reader.money_or_none(
            reader.child(table, "annual_cap_fen", path), _join(path, "annual_cap_fen")
        ),
        tilts=tilts,
    )


def _assistance(reader: _Reader, value: object, path: str) -> AssistanceTerms:
    table = reader.table(value, path)
    reader.exact_keys(table, path, _ASSISTANCE_KEYS, "key")
    base = reader.text(table["base"], _join(path, "base"))
    if base not in ASSISTANCE_BASES:
        raise reader.error(
            _join(path, "base"), f"unknown base {base!r} (expected: {', '.join(ASSISTANCE_BASES)})"
        )
    return AssistanceTerms(
        base=base,
        deductible_fen=reader.money(table["deductible_fen"], _join(path, "deductible_fen")),
        rate_bp=reader.rate(table["rate_bp"], _join(path, "rate_bp")),
        annual_cap_fen=reader.money_or_none(table["annual_cap_fen"], _join(path, "annual_cap_fen")),
    )


def policy_from_data(data: Mapping[str, object], source: str) -> Policy:
    """Build and validate a policy from parsed TOML; `source` names it in errors."""
    reader = _Reader(source)
    top = reader.table(dict(data), "")
    reader.exact_keys(top, "", _TOP_KEYS, "key")
    region_code = reader.text(top["region_code"], "region_code")
    if not _REGION_CODE.fullmatch(region_code) or region_code == "000000":
        raise reader.error(
            "region_code",
            f"must be a pooling region's 6-digit code ending in 00 (e.g. 341200), got {region_code!r}",
        )
    year = reader.integer(top["year"], "year")
    if not 2000 <= year <= 2100:
        raise reader.error("year", f"must be a calendar year, got {year}")

    basic_table = reader.table(top["basic"], "basic")
    reader.exact_keys(basic_table, "basic", SCHEMES, "scheme")
    critical_table = reader.table(top["critical_illness"], "critical_illness")
    reader.exact_keys(critical_table, "critical_illness", SCHEMES, "scheme")
    pooled_by_province = region_code.endswith("0000")
    schemes = {
        scheme: SchemeTerms(
            basic=_basic(
                reader, basic_table[scheme], f"basic.{scheme}", pooled_by_province=pooled_by_province
            ),
            critical_illness=_critical_illness(reader, critical_table[scheme], f"critical_illness.{scheme}"),
        )
        for scheme in SCHEMES
    }
    assistance_table = reader.table(top["assistance"], "assistance")
    reader.exact_keys(assistance_table, "assistance", ASSISTANCE_CLASSES, "assistance class")
    assistance = {
        assistance_class: _assistance(
            reader, assistance_table[assistance_class], f"assistance.{assistance_class}"
        )
        for assistance_class in ASSISTANCE_CLASSES
    }
    policy = Policy(
        region_code=region_code,
        region_name=reader.text(top["region_name"], "region_name"),
        year=year,
        version=reader.text(top["version"], "version"),
        per_capita_disposable_income_fen=reader.money(
            top["per_capita_disposable_income_fen"], "per_capita_disposable_income_fen"
        ),
        schemes=schemes,
        assistance=assistance,
        assistance_out_of_region=_assistance_out_of_region(
            reader, top["assistance_out_of_region"], "assistance_out_of_region"
        ),
        source=source,
    )
    violations = class_order_violations(policy)
    if violations:
        key_path, reason = violations[0]
        raise reader.error(key_path, f"breaks the order of assistance classes: {reason}")
    floors = national_floor_violations(policy)
    if floors:
        key_path, reason = floors[0]
        raise reader.error(key_path, reason)
    return policy


def load_policy(path: str | Path) -> Policy:
    """Read and validate one policy file; its name must be ``<region_code>-<year>.toml``."""
    file = Path(path)
    source = str(file)
    try:
        with file.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as error:
        raise PolicyError(source, "", f"cannot be read: {error.strerror or error}") from None
    except tomllib.TOMLDecodeError as error:
        raise PolicyError(source, "", f"is not valid TOML: {error}") from None
    policy = policy_from_data(data, source)
    expected = f"{policy.region_code}-{policy.year}"
    if file.stem != expected:
        raise PolicyError(source, "", f"the file name must be {expected}.toml to match region_code and year")
    return policy


def load_policies(directory: str | Path) -> dict[PolicyKey, Policy]:
    """Every ``*.toml`` policy under `directory`, keyed by (region code, year)."""
    folder = Path(directory)
    if not folder.is_dir():
        raise PolicyError(str(folder), "", "is not a directory")
    policies: dict[PolicyKey, Policy] = {}
    for file in sorted(folder.glob("*.toml")):
        policy = load_policy(file)
        policies[(policy.region_code, policy.year)] = policy
    return policies

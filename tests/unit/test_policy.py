"""Regional policy files: the shipped ones load and obey the rules, bad ones are refused with file, key and reason."""

from __future__ import annotations

import copy
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from verification.policy import (
    ASSISTANCE_CLASSES,
    CLASS_STRENGTH,
    DEDUCTIBLE_PER,
    HOSPITAL_TIERS,
    SCHEMES,
    Band,
    CriticalIllnessTerms,
    Policy,
    PolicyError,
    Tilt,
    class_order_violations,
    national_floor_violations,
    policy_for,
    region_prefix,
    resolve_critical_illness,
)
from verification.policy_files import load_policies, load_policy, policy_from_data

POLICY_DIR = Path(__file__).resolve().parents[2] / "config" / "policies"
FUYANG = POLICY_DIR / "341200-2026.toml"
BEIJING = POLICY_DIR / "110000-2026.toml"


@pytest.fixture(scope="module")
def policies() -> dict[tuple[str, int], Policy]:
    return load_policies(POLICY_DIR)


def _data(file: Path) -> dict[str, Any]:
    with file.open("rb") as handle:
        return tomllib.load(handle)


def fuyang_data() -> dict[str, Any]:
    return _data(FUYANG)


def beijing_data() -> dict[str, Any]:
    return _data(BEIJING)


# ---- the shipped files


def test_the_shipped_regions_load(policies: dict[tuple[str, int], Policy]) -> None:
    assert set(policies) >= {
        ("341200", 2026),
        ("621100", 2026),
        ("620100", 2026),
        ("411500", 2026),
        ("510100", 2026),
        ("110000", 2026),
    }
    for (region, year), policy in policies.items():
        assert policy.region_code == region
        assert policy.year == year
        assert policy.version
        assert set(policy.schemes) == set(SCHEMES)
        assert set(policy.assistance) == set(ASSISTANCE_CLASSES)
        for scheme in SCHEMES:
            basic = policy.basic(scheme)
            assert basic.deductible_per in DEDUCTIBLE_PER
            # In-province rates exactly where some hospital of the province lies outside the pool.
            assert (basic.in_province is None) == policy.pooled_by_province, policy.source
        assert (
            policy.assistance_out_of_region.unfiled_share_bp <= policy.assistance_out_of_region.filed_share_bp
        )


def test_only_beijing_is_pooled_by_province(policies: dict[tuple[str, int], Policy]) -> None:
    assert {region for (region, _), policy in policies.items() if policy.pooled_by_province} == {"110000"}


def test_fuyang_keeps_its_out_of_region_rates_in_and_out_of_the_province(
    policies: dict[tuple[str, int], Policy],
) -> None:
    # A worked example depends on these: the former out-of-region rates, now both in-province and cross-province.
    resident = policies[("341200", 2026)].basic("resident")
    assert resident.in_province is not None
    for rates in (resident.in_province, resident.out_of_province):
        assert dict(rates.filed_rate_bp) == {"primary": 7500, "secondary": 7000, "tertiary": 6000}
        assert dict(rates.unfiled_rate_bp) == {"primary": 6000, "secondary": 5500, "tertiary": 4500}
    assert resident.rate_for("tertiary", "in_province", referral_filed=True) == 6000
    assert resident.rate_for("tertiary", "out_of_province", referral_filed=False) == 4500
    assert resident.rate_for("tertiary", "in_region", referral_filed=False) == 7000


def test_in_province_rates_are_between_cross_province_and_in_region(
    policies: dict[tuple[str, int], Policy],
) -> None:
    for policy in policies.values():
        for scheme in SCHEMES:
            basic = policy.basic(scheme)
            if basic.in_province is None:
                continue
            for tier in HOSPITAL_TIERS:
                for filed in (True, False):
                    inside = basic.rate_for(tier, "in_province", referral_filed=filed)
                    across = basic.rate_for(tier, "out_of_province", referral_filed=filed)
                    assert across <= inside <= basic.rate_bp[tier], (policy.source, scheme, tier, filed)


def test_every_number_in_a_policy_file_names_its_source() -> None:
    number = re.compile(r'=\s*(-?[0-9][0-9_]*|"none"|true|false)\b')
    for file in sorted(POLICY_DIR.glob("*.toml")):
        text = file.read_text(encoding="utf-8")
        assert "ILLUSTRATIVE" in text.split("\n\n", 1)[0], (
            f"{file.name} must say plainly what is illustrative"
        )
        for line_number, line in enumerate(text.splitlines(), start=1):
            code = line.split("#", 1)[0]
            if number.search(code) and not code.strip().startswith(("year", "version")):
                assert "source:" in line, f"{file.name}:{line_number} has a number without a source: {line}"


def test_the_shipped_policies_rank_the_assistance_classes(policies: dict[tuple[str, int], Policy]) -> None:
    for policy in policies.values():
        assert class_order_violations(policy) == []


def test_the_shipped_policies_meet_the_national_floors(policies: dict[tuple[str, int], Policy]) -> None:
    for policy in policies.values():
        assert national_floor_violations(policy) == []


def test_returned_to_poverty_is_treated_like_dibao(policies: dict[tuple[str, int], Policy]) -> None:
    # 医保发〔2021〕20号: the full critical-illness tilt; the shipped files give them the 低保 assistance figures.
    full = Tilt(deductible_reduction_bp=5000, rate_increase_bp=500, cap_lifted=True)
    for policy in policies.values():
        assert policy.assistance["returned_to_poverty"] == policy.assistance["dibao"]
        tilts = policy.schemes["resident"].critical_illness
        for assistance_class in ("tekun", "dibao", "returned_to_poverty"):
            assert tilts.tilt_for(assistance_class) == full, (policy.source, assistance_class)


def test_residents_critical_illness_deductible_is_at_most_half_the_income(
    policies: dict[tuple[str, int], Policy],
) -> None:
    # 医保发〔2019〕30号: the deductible is at most half of local per-capita disposable income.
    for policy in policies.values():
        terms = policy.schemes["resident"].critical_illness
        assert terms.deductible_fen * 2 <= policy.per_capita_disposable_income_fen, policy.source


def test_special_classes_get_no_assistance_deductible_and_at_least_70_percent(
    policies: dict[tuple[str, int], Policy],
) -> None:
    # 国办发〔2021〕42号.
    for policy in policies.values():
        for assistance_class in ("tekun", "dibao"):
            terms = policy.assistance[assistance_class]
            assert terms.deductible_fen == 0
            assert terms.rate_bp >= 7000


# ---- finding the pooling region


@pytest.mark.parametrize(
    ("region_code", "expected"),
    [
        ("341221", "341200"),  # 临泉县 → 阜阳市
        ("341202", "341200"),
        ("341200", "341200"),
        ("621121", "621100"),  # 通渭县 → 定西市
        ("620102", "620100"),  # 城关区 → 兰州市
        ("411525", "411500"),
        ("510107", "510100"),
        ("110105", "110000"),  # 朝阳区 → 北京市 (110100 is not a pooling region)
        ("110000", "110000"),
    ],
)
def test_policy_for_takes_the_longest_matching_prefix(
    policies: dict[tuple[str, int], Policy], region_code: str, expected: str
) -> None:
    policy = policy_for(policies, region_code, 2026)
    assert policy is not None
    assert policy.region_code == expected


def test_policy_for_is_none_without_a_region_or_year(policies: dict[tuple[str, int], Policy]) -> None:
    assert policy_for(policies, "341221", 2019) is None
    assert policy_for(policies, "440106", 2026) is None  # 广州 ships no policy


def test_a_prefecture_policy_wins_over_its_province() -> None:
    fuyang = policy_from_data(fuyang_data(), "fuyang")
    province_data = fuyang_data()
    province_data["region_code"] = "340000"
    for scheme in SCHEMES:  # a province-wide pool has no in-province rates
        del province_data["basic"][scheme]["in_province_filed_rate_bp"]
        del province_data["basic"][scheme]["in_province_unfiled_rate_bp"]
    anhui = policy_from_data(province_data, "anhui")
    policies = {("341200", 2026): fuyang, ("340000", 2026): anhui}
    assert policy_for(policies, "341221", 2026) is fuyang
    assert policy_for(policies, "340103", 2026) is anhui  # 合肥 has no file of its own here


def test_region_prefix_cuts_trailing_zero_pairs() -> None:
    assert region_prefix("341200") == "3412"
    assert region_prefix("110000") == "11"
    assert region_prefix("620000") == "62"


def test_a_tilted_deductible_rounds_up() -> None:
    terms = CriticalIllnessTerms(
        deductible_fen=10_001,
        bands=(Band(up_to_fen=None, rate_bp=6000),),
        annual_cap_fen=100,
        tilts={"dibao": Tilt(deductible_reduction_bp=5000, rate_increase_bp=4500, cap_lifted=True)},
    )
    resolved = resolve_critical_illness(terms, "dibao")
    assert resolved.deductible_fen == 5_001  # 5,000.5 rounded up, in the payer's favour
    assert resolved.band_rates_bp == (10_000,)  # 6000 + 4500 is held at 100%
    assert resolved.annual_cap_fen is None
    untilted = resolve_critical_illness(terms, None)
    assert (untilted.deductible_fen, untilted.band_rates_bp, untilted.annual_cap_fen) == (
        10_001,
        (6000,),
        100,
    )


# ---- refusing bad files


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        if last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for key in parents:
            node = node[key]
        del node[last]

    return mutate


def _chain(*mutations: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        for mutation in mutations:
            mutation(data)

    return mutate


# 5% of 阜阳's per_capita_disposable_income_fen (3,000,000), plus one fen.
_ABOVE_ASSISTANCE_CEILING = 150_001

BAD = [
    (_delete("version"), "version", "missing key"),
    (_delete("basic.resident.rate_bp.tertiary"), "basic.resident.rate_bp.tertiary", "missing key"),
    (_delete("assistance.dibao"), "assistance.dibao", "missing key"),
    (_delete("critical_illness.employee.bands"), "critical_illness.employee.bands", "missing key"),
    (_set("basic.resident.rate_bp.primary", "85%"), "basic.resident.rate_bp.primary", "must be an integer"),
    (_set("basic.resident.rate_bp.primary", 85.0), "basic.resident.rate_bp.primary", "must be an integer"),
    (_set("basic.resident.annual_cap_fen", True), "basic.resident.annual_cap_fen", "must be an integer"),
    (_set("basic.resident.rate_bp.primary", 10_001), "basic.resident.rate_bp.primary", "between 0 and 10000"),
    (_set("assistance.tekun.rate_bp", -1), "assistance.tekun.rate_bp", "between 0 and 10000"),
    (
        _set("basic.employee.deductible_fen.secondary", -5),
        "basic.employee.deductible_fen.secondary",
        "negative",
    ),
    (_set("per_capita_disposable_income_fen", -1), "per_capita_disposable_income_fen", "negative"),
    (
        _set("basic.resident.deductible_fen.quaternary", 1),
        "basic.resident.deductible_fen.quaternary",
        "unknown hospital tier",
    ),
    (_set("basic.retired", {}), "basic.retired", "unknown scheme"),
    (_set("assistance.orphan", {}), "assistance.orphan", "unknown assistance class"),
    (
        _set("critical_illness.resident.tilt.orphan", {}),
        "critical_illness.resident.tilt.orphan",
        "unknown assistance class",
    ),
    (_set("assistance.tekun.base", "total_cost"), "assistance.tekun.base", "unknown base"),
    (
        _set("critical_illness.resident.annual_cap_fen", "unlimited"),
        "critical_illness.resident.annual_cap_fen",
        '"none"',
    ),
    (
        _set("critical_illness.resident.bands.1.up_to_fen", 5_000_000),
        "critical_illness.resident.bands[1].up_to_fen",
        "strictly increasing",
    ),
    (
        _set("critical_illness.resident.bands.0.up_to_fen", "none"),
        "critical_illness.resident.bands[0].up_to_fen",
        "only the last band",
    ),
    (
        _set("critical_illness.resident.bands.2.up_to_fen", 90_000_000),
        "critical_illness.resident.bands[2].up_to_fen",
        "last band must be open-ended",
    ),
    (_set("critical_illness.resident.bands", []), "critical_illness.resident.bands", "non-empty array"),
    (_set("region_code", "341221"), "region_code", "ending in 00"),
    (_set("year", 26), "year", "calendar year"),
    (_set("notes", "hello"), "notes", "unknown key"),
    # The fault is reported on the stronger class, which is treated worse than a weaker one.
    (_set("assistance.dibao.rate_bp", 9500), "assistance.tekun.rate_bp", "order of assistance classes"),
    (
        _set(
            "critical_illness.resident.tilt.illness_impoverished",
            {"deductible_reduction_bp": 0, "rate_increase_bp": 0, "cap_lifted": True},
        ),
        "critical_illness.resident.tilt.dibao_edge.cap_lifted",
        "order of assistance classes",
    ),
    # The new keys.
    (_delete("assistance_out_of_region"), "assistance_out_of_region", "missing key"),
    (
        _delete("assistance_out_of_region.unfiled_share_bp"),
        "assistance_out_of_region.unfiled_share_bp",
        "missing key",
    ),
    (
        _chain(
            _set("assistance_out_of_region.filed_share_bp", 5000),
            _set("assistance_out_of_region.unfiled_share_bp", 6000),
        ),
        "assistance_out_of_region.unfiled_share_bp",
        "must not be above filed_share_bp",
    ),
    (
        _set("assistance_out_of_region.filed_share_bp", 10_001),
        "assistance_out_of_region.filed_share_bp",
        "between 0 and 10000",
    ),
    (_set("basic.resident.deductible_per", "week"), "basic.resident.deductible_per", "must be one of"),
    (_delete("basic.resident.deductible_per"), "basic.resident.deductible_per", "missing key"),
    (
        _delete("basic.resident.in_province_filed_rate_bp"),
        "basic.resident.in_province_filed_rate_bp",
        "missing key",
    ),
    (
        _delete("basic.resident.in_province_unfiled_rate_bp.secondary"),
        "basic.resident.in_province_unfiled_rate_bp.secondary",
        "missing key",
    ),
    (
        _set("basic.resident.out_of_region_filed_rate_bp", {"primary": 1, "secondary": 1, "tertiary": 1}),
        "basic.resident.out_of_region_filed_rate_bp",
        "unknown key",
    ),
    # A province-wide pool (code ending in 0000) must not carry in-province rates; schemes are read employee first.
    (_set("region_code", "340000"), "basic.employee.in_province_filed_rate_bp", "pooled by province"),
    (_delete("assistance.returned_to_poverty"), "assistance.returned_to_poverty", "missing key"),
    # The national floors.
    (_set("assistance.dibao.rate_bp", 6900), "assistance.dibao.rate_bp", "national floor of 70%"),
    (
        # 低保 and 返贫致贫人口 get the same deductible, or the class order would catch 特困 first.
        _chain(
            _set("assistance.tekun.deductible_fen", _ABOVE_ASSISTANCE_CEILING),
            _set("assistance.dibao.deductible_fen", _ABOVE_ASSISTANCE_CEILING),
            _set("assistance.returned_to_poverty.deductible_fen", _ABOVE_ASSISTANCE_CEILING),
        ),
        "assistance.tekun.deductible_fen",
        "above 5% of per_capita_disposable_income_fen",
    ),
    (
        _set("critical_illness.resident.deductible_fen", 1_500_001),
        "critical_illness.resident.deductible_fen",
        "above 50% of per_capita_disposable_income_fen",
    ),
    (
        _set("critical_illness.resident.bands.1.rate_bp", 5900),
        "critical_illness.resident.bands[1].rate_bp",
        "national floor of 60%",
    ),
    (
        _set("critical_illness.resident.tilt.dibao.cap_lifted", False),
        "critical_illness.resident.tilt.dibao.cap_lifted",
        "must lift the cap",
    ),
    (
        _set("critical_illness.resident.tilt.returned_to_poverty.rate_increase_bp", 300),
        "critical_illness.resident.tilt.returned_to_poverty.rate_increase_bp",
        "5 points",
    ),
    # Without its tilt the class would get less than the weaker 低保边缘 households: the class order catches it.
    (
        _delete("critical_illness.resident.tilt.returned_to_poverty"),
        "critical_illness.resident.tilt.returned_to_poverty.deductible_reduction_bp",
        "order of assistance classes",
    ),
    (
        # All three full-tilt classes cut alike, so the class order holds and the floor is what breaks.
        _chain(
            *(
                _set(f"critical_illness.resident.tilt.{name}.deductible_reduction_bp", 4000)
                for name in ("tekun", "dibao", "returned_to_poverty")
            )
        ),
        "critical_illness.resident.tilt.tekun.deductible_reduction_bp",
        "must halve the deductible",
    ),
]


@pytest.mark.parametrize(("mutate", "key_path", "reason"), BAD)
def test_a_bad_policy_is_refused_naming_file_key_and_reason(
    mutate: Callable[[dict[str, Any]], None], key_path: str, reason: str
) -> None:
    data = copy.deepcopy(fuyang_data())
    mutate(data)
    with pytest.raises(PolicyError) as caught:
        policy_from_data(data, "341200-2026.toml")
    error = caught.value
    assert error.source == "341200-2026.toml"
    assert error.key_path == key_path
    assert reason in error.reason
    assert str(error).startswith(f"341200-2026.toml: {key_path}: ")


def test_a_province_wide_pool_with_in_province_rates_is_refused() -> None:
    data = beijing_data()
    resident = data["basic"]["resident"]
    resident["in_province_filed_rate_bp"] = dict(resident["out_of_province_filed_rate_bp"])
    resident["in_province_unfiled_rate_bp"] = dict(resident["out_of_province_unfiled_rate_bp"])
    with pytest.raises(PolicyError) as caught:
        policy_from_data(data, "110000-2026.toml")
    assert caught.value.key_path == "basic.resident.in_province_filed_rate_bp"
    assert "pooled by province" in caught.value.reason


def test_the_national_ceilings_are_inclusive() -> None:
    # Exactly 5% (assistance, 特困/低保) and exactly 50% (residents' critical illness) of the income are allowed.
    data = fuyang_data()
    for assistance_class in ("tekun", "dibao", "returned_to_poverty"):
        data["assistance"][assistance_class]["deductible_fen"] = _ABOVE_ASSISTANCE_CEILING - 1
    assert (
        data["critical_illness"]["resident"]["deductible_fen"] * 2 == data["per_capita_disposable_income_fen"]
    )
    policy = policy_from_data(data, "fuyang")
    assert policy.assistance["tekun"].deductible_fen == 150_000


def test_assistance_out_of_region_shares_apply_outside_the_region_only(
    policies: dict[tuple[str, int], Policy],
) -> None:
    shares = policies[("341200", 2026)].assistance_out_of_region
    assert shares.share_bp("in_region", referral_filed=False) == 10_000
    assert shares.share_bp("in_province", referral_filed=True) == 10_000
    assert shares.share_bp("out_of_province", referral_filed=False) == 0


def test_invalid_toml_is_refused_with_the_file_name(tmp_path: Path) -> None:
    bad = tmp_path / "341200-2026.toml"
    bad.write_text('region_code = "341200"\nyear = \n', encoding="utf-8")
    with pytest.raises(PolicyError, match=r"341200-2026\.toml.*not valid TOML"):
        load_policy(bad)


def test_the_file_name_must_match_region_and_year(tmp_path: Path) -> None:
    misnamed = tmp_path / "341200-2025.toml"
    misnamed.write_bytes(FUYANG.read_bytes())
    with pytest.raises(PolicyError, match=r"must be 341200-2026\.toml"):
        load_policy(misnamed)


def test_load_policies_stops_at_the_first_bad_file(tmp_path: Path) -> None:
    (tmp_path / "341200-2026.toml").write_bytes(FUYANG.read_bytes())
    broken = FUYANG.read_text(encoding="utf-8").replace("tertiary = 7000", 'tertiary = "seventy"', 1)
    (tmp_path / "411500-2026.toml").write_text(broken.replace('"341200"', '"411500"', 1), encoding="utf-8")
    (tmp_path / "SOURCES.md").write_text("not a policy", encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policies(tmp_path)
    assert caught.value.source.endswith("411500-2026.toml")
    assert caught.value.key_path == "basic.resident.rate_bp.tertiary"


def test_load_policies_refuses_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="not a directory"):
        load_policies(tmp_path / "nowhere")


def test_the_class_order_is_the_documented_one() -> None:
    assert [CLASS_STRENGTH[c] for c in ASSISTANCE_CLASSES] == [4, 3, 3, 2, 2, 1]
    assert HOSPITAL_TIERS == ("primary", "secondary", "tertiary")

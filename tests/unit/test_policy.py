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
    HOSPITAL_TIERS,
    SCHEMES,
    Band,
    CriticalIllnessTerms,
    Policy,
    PolicyError,
    Tilt,
    class_order_violations,
    policy_for,
    region_prefix,
    resolve_critical_illness,
)
from verification.policy_files import load_policies, load_policy, policy_from_data

POLICY_DIR = Path(__file__).resolve().parents[2] / "config" / "policies"
FUYANG = POLICY_DIR / "341200-2026.toml"


@pytest.fixture(scope="module")
def policies() -> dict[tuple[str, int], Policy]:
    return load_policies(POLICY_DIR)


def fuyang_data() -> dict[str, Any]:
    with FUYANG.open("rb") as handle:
        return tomllib.load(handle)


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
    assert [CLASS_STRENGTH[c] for c in ASSISTANCE_CLASSES] == [4, 3, 2, 2, 1]
    assert HOSPITAL_TIERS == ("primary", "secondary", "tertiary")

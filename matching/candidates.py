"""Which projects a case could be eligible for, found without testing every rule against every case.

A run over 100,000 cases and 1,000 projects cannot afford 10⁸ rule checks. Almost every project is limited by
region or by disease, so the index files each project under (region prefix, disease key) pairs, "*" standing
for "any"; a case looks up the few keys its own region and diagnosis make, and only the projects found there
are checked in full with `is_eligible`. The index only narrows: it never admits a case the rule refuses, and
never drops one the rule admits (tests/matching/test_candidates.py checks both against the rules themselves).

A project whose rule looks only at region and disease is decided by the lookup itself, so it is not checked
again; and cases that share a region and a diagnosis share one lookup (a national run has far fewer such
combinations than cases).
"""

from __future__ import annotations

from collections.abc import Mapping

from matching.eligibility import CaseProfile, is_eligible
from matching.rules import RULE_FIELDS, Rules

ANY = "*"


def _disease_keys(rules: Rules) -> list[str]:
    """A project that names categories or ICD-10 prefixes admits a case matching either (rules.py)."""
    keys = [f"cat:{category}" for category in rules.disease_categories]
    keys += [f"icd:{_bare(prefix)}" for prefix in rules.icd10_prefixes]
    return keys or [ANY]


def _bare(code: str) -> str:
    return code.replace(".", "").upper()


def _case_disease_keys(case: CaseProfile) -> list[str]:
    keys = [ANY]
    if case.disease_category:
        keys.append(f"cat:{case.disease_category}")
    if case.icd10:
        code = _bare(case.icd10)
        keys += [f"icd:{code[:length]}" for length in range(1, len(code) + 1)]
    return keys


def _case_region_keys(case: CaseProfile) -> list[str]:
    keys = [ANY]
    if case.region_code:
        keys += [case.region_code[:length] for length in (2, 4, 6)]
    return keys


# The conditions the lookup decides exactly (region prefixes are 2, 4 or 6 digits, rules.py).
_LOOKED_UP = frozenset({"region_prefixes", "disease_categories", "icd10_prefixes"})


def _decided_by_lookup(rule: Rules) -> bool:
    return all(getattr(rule, name) in ((), None) for name in RULE_FIELDS if name not in _LOOKED_UP)


class CandidateIndex:
    """Projects by (region prefix, disease key)."""

    def __init__(self, rules: Mapping[int, Rules]) -> None:
        self._rules = dict(rules)
        self._buckets: dict[tuple[str, str], list[int]] = {}
        self._decided = frozenset(pid for pid, rule in rules.items() if _decided_by_lookup(rule))
        self._looked_up: dict[tuple[str | None, str | None, str | None], tuple[list[int], list[int]]] = {}
        for project_id in sorted(rules):
            rule = rules[project_id]
            for region in rule.region_prefixes or (ANY,):
                for disease in _disease_keys(rule):
                    self._buckets.setdefault((region, disease), []).append(project_id)

    def candidates(self, case: CaseProfile) -> list[int]:
        """The projects worth checking for this case, in id order, each once."""
        eligible, to_check = self._lookup(case)
        return sorted(eligible + to_check)

    def eligible(self, case: CaseProfile) -> list[int]:
        """The projects the case is eligible for, in id order: the index's answer, the other conditions
        checked in full where a rule has them."""
        eligible, to_check = self._lookup(case)
        checked = [pid for pid in to_check if is_eligible(self._rules[pid], case)]
        return sorted(eligible + checked) if checked else eligible

    def _lookup(self, case: CaseProfile) -> tuple[list[int], list[int]]:
        """(projects decided eligible by the lookup, projects still to check), for the case's region and
        diagnosis; remembered for the next case with the same."""
        key = (case.region_code, case.disease_category, case.icd10)
        known = self._looked_up.get(key)
        if known is None:
            found: set[int] = set()
            for region in _case_region_keys(case):
                for disease in _case_disease_keys(case):
                    found.update(self._buckets.get((region, disease), ()))
            ordered = sorted(found)
            known = (
                [pid for pid in ordered if pid in self._decided],
                [pid for pid in ordered if pid not in self._decided],
            )
            self._looked_up[key] = known
        return known

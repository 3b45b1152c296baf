"""Which projects a case could be eligible for, found without testing every rule against every case.

A run over 100,000 cases and 1,000 projects cannot afford 10⁸ rule checks. Almost every project is limited by
region or by disease, so the index files each project under (region prefix, disease key) pairs, "*" standing
for "any"; a case looks up the few keys its own region and diagnosis make, and only the projects found there
are checked in full with `is_eligible`. The index only narrows: it never admits a case the rule refuses, and
never drops one the rule admits (tests/matching/test_candidates.py checks both against the rules themselves).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from matching.eligibility import CaseProfile, is_eligible
from matching.rules import Rules

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


class CandidateIndex:
    """Projects by (region prefix, disease key)."""

    def __init__(self, rules: Mapping[int, Rules]) -> None:
        self._buckets: dict[tuple[str, str], list[int]] = {}
        for project_id in sorted(rules):
            rule = rules[project_id]
            for region in rule.region_prefixes or (ANY,):
                for disease in _disease_keys(rule):
                    self._buckets.setdefault((region, disease), []).append(project_id)

    def candidates(self, case: CaseProfile) -> list[int]:
        """The projects worth checking for this case, in id order, each once."""
        found: set[int] = set()
        buckets = self._buckets
        for region in _case_region_keys(case):
            for disease in _case_disease_keys(case):
                hit = buckets.get((region, disease))
                if hit:
                    found.update(hit)
        return sorted(found)

    def eligible(self, case: CaseProfile, rules: Mapping[int, Rules]) -> Iterable[int]:
        return [project_id for project_id in self.candidates(case) if is_eligible(rules[project_id], case)]

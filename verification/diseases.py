"""The critical-illness catalogue: ICD-10 code ranges mapped to a category and a plausible cost range.

Comparison rule. A code is a 3-character category (``C91``) optionally followed by a dot and a subcategory of
one or two characters (``C91.0``, ``C91.00``). A code stands for everything beneath it: ``C91`` is all of
C91, ``C91.0`` is C91.0 and every finer code such as C91.00. Codes are ordered by category, then by
subcategory character by character, so C91 < C91.0 < C91.00 < C91.09 < C91.1 < C92.

A range ``code_from..code_to`` runs from the start of ``code_from`` to the end of ``code_to``, so ``Q20..Q26``
covers Q20, Q20.x, ... Q26.x, and ``C91.1..C91.9`` covers C91.1 to C91.9x. A code falls in a range only when
everything it stands for does: ``C91.00`` falls in ``C91.0..C91.0``, but a bare ``C91`` does not (it could be
any C91 subcategory), so the catalogue cannot place it and the caller should ask for a finer code or a human
decision.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

_ICD10_SHAPE = re.compile(r"[A-Z][0-9]{2}(\.[0-9A-Z]{1,2})?")
_CATEGORY_SLUG = re.compile(r"[a-z][a-z0-9_]*")
# Sorts after every digit and capital letter, so "C91.0" + this is past every C91.0x.
_END_OF_SUBTREE = "~"

_Position = tuple[str, str]


def normalize_icd10(text: str) -> str:
    """The code upper-cased and stripped, or `ValueError` if it is not shaped like an ICD-10 code."""
    code = text.strip().upper()
    if not _ICD10_SHAPE.fullmatch(code):
        raise ValueError(
            f"{text!r} is not an ICD-10 code: expected a letter, two digits and optionally a dot followed by"
            " one or two digits or letters, e.g. C91 or C91.0"
        )
    return code


def _start(code: str) -> _Position:
    category, _, subcategory = code.partition(".")
    return (category, subcategory)


def _end(code: str) -> _Position:
    category, _, subcategory = code.partition(".")
    return (category, subcategory + _END_OF_SUBTREE)


@dataclass(frozen=True)
class DiseaseRange:
    """One row of the catalogue; costs are whole fen for one course of treatment."""

    code_from: str
    code_to: str
    category: str
    name_zh: str
    name_en: str
    cost_min_fen: int
    cost_max_fen: int

    def __post_init__(self) -> None:
        for code in (self.code_from, self.code_to):
            if normalize_icd10(code) != code:
                raise ValueError(f"{code!r} must be given in normal form ({normalize_icd10(code)!r})")
        if _start(self.code_from) > _start(self.code_to):
            raise ValueError(f"range {self.code_from}..{self.code_to} ends before it starts")
        if _end(self.code_from) > _end(self.code_to):
            # e.g. C91..C91.0 would hold only part of its own first code, which no one means.
            raise ValueError(f"range {self.code_from}..{self.code_to} must hold all of {self.code_from}")
        if not _CATEGORY_SLUG.fullmatch(self.category):
            raise ValueError(f"category {self.category!r} must be a lower-case slug such as 'leukemia'")
        if not 0 <= self.cost_min_fen < self.cost_max_fen:
            raise ValueError(f"cost range {self.cost_min_fen}..{self.cost_max_fen} fen is empty or negative")

    def contains(self, code: str) -> bool:
        """Whether everything `code` stands for lies inside this range."""
        normal = normalize_icd10(code)
        return _start(self.code_from) <= _start(normal) and _end(normal) <= _end(self.code_to)

    def overlaps(self, other: DiseaseRange) -> bool:
        """Whether some code lies in both ranges."""
        return _start(self.code_from) <= _end(other.code_to) and _start(other.code_from) <= _end(self.code_to)


def find_category(code: str, ranges: Sequence[DiseaseRange]) -> DiseaseRange | None:
    """The catalogue row covering `code`, or None when the code is not a listed critical illness."""
    normal = normalize_icd10(code)
    return next((disease_range for disease_range in ranges if disease_range.contains(normal)), None)


def _field(row: Mapping[str, str | None], column: str) -> str:
    # csv.DictReader fills the columns missing from a short row with None.
    value = row.get(column)
    if value is None:
        raise ValueError(f"missing column {column!r}")
    return value


def _whole_yuan(value: str, column: str) -> int:
    # int() would also accept " 12", "+12" and "1_000"; a data file should hold plain digits only.
    if not (value.isascii() and value.isdigit()):
        raise ValueError(f"{column} must be a whole number of yuan, got {value!r}")
    return int(value)


def disease_ranges_from_rows(rows: Iterable[Mapping[str, str | None]]) -> list[DiseaseRange]:
    """Build the catalogue from rows of ``config/reference/diseases.csv``, sorted by code.

    Costs are converted from yuan to fen. Raises `ValueError` naming the row (1 = first data row) when a row
    is malformed or when two ranges overlap, since an overlap would make a code's category ambiguous.
    """
    ranges: list[DiseaseRange] = []
    for number, row in enumerate(rows, start=1):
        try:
            ranges.append(
                DiseaseRange(
                    code_from=_field(row, "code_from"),
                    code_to=_field(row, "code_to"),
                    category=_field(row, "category"),
                    name_zh=_field(row, "name_zh"),
                    name_en=_field(row, "name_en"),
                    cost_min_fen=_whole_yuan(_field(row, "cost_min_yuan"), "cost_min_yuan") * 100,
                    cost_max_fen=_whole_yuan(_field(row, "cost_max_yuan"), "cost_max_yuan") * 100,
                )
            )
        except ValueError as error:
            raise ValueError(f"row {number}: {error}") from None
    ranges.sort(key=lambda disease_range: _start(disease_range.code_from))
    # Sorted by start, any overlap shows up between neighbours.
    for earlier, later in pairwise(ranges):
        if earlier.overlaps(later):
            raise ValueError(
                f"ranges {earlier.code_from}..{earlier.code_to} and {later.code_from}..{later.code_to} overlap"
            )
    return ranges

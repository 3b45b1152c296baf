"""Resident identity numbers (公民身份号码) as defined by GB 11643-1999.

An 18-character number: a 6-digit administrative region code (GB/T 2260), the birth date as YYYYMMDD, a
3-digit sequence whose last digit is odd for men and even for women, and an ISO 7064 MOD 11-2 check
character (0-9 or X).
"""

from __future__ import annotations

import csv
import datetime
import functools
import operator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

IdNumberErrorCode = Literal["length", "characters", "region", "birth_date", "check_digit"]
Sex = Literal["M", "F"]

# ISO 7064 MOD 11-2 weights are 2**(17 - i) mod 11 for positions i = 0..16.
_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_WEIGHT_SUM = sum(_WEIGHTS)
_ZERO_BYTE = ord("0")
# Index is the weighted sum mod 11; the value makes (sum + check) ≡ 1 (mod 11), X standing for 10.
_CHECK_CHARS = "10X98765432"

# Residence permits for Hong Kong, Macao and Taiwan residents carry the address code 810000, 820000 or 830000
# (港澳台居民居住证申领发放办法, 2018) instead of a county's; 83 is not a GB/T 2260 province (Taiwan is 71).
_RESIDENCE_PERMIT_CODES = frozenset(["810000", "820000", "830000"])
# Every code ever in GB/T 2260 from 1980 to 2020, abolished ones included (older numbers keep the code of the
# county where they were first issued); its header names the source and licence.
_GB2260_CODES_RESOURCE = "data/gb2260_codes.txt"
# Our own reference regions, which may include divisions created after the list above. Read as a file so this
# package stays pure; it is absent when verification/ is installed without the project's config/ folder.
_REFERENCE_REGIONS_CSV = Path(__file__).resolve().parents[1] / "config" / "reference" / "regions.csv"
_EARLIEST_BIRTH_DATE = datetime.date(1900, 1, 1)


class IdNumberError(ValueError):
    """An identity number that is not well-formed; `code` names the first rule it breaks."""

    def __init__(self, code: IdNumberErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: IdNumberErrorCode = code


@dataclass(frozen=True)
class ResidentId:
    """A well-formed identity number and what it says about its holder."""

    number: str
    region_code: str
    birth_date: datetime.date
    sex: Sex


def check_digit(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character ('0'-'9' or 'X') for the first 17 digits."""
    if len(first17) != 17 or not (first17.isascii() and first17.isdigit()):
        raise ValueError("check_digit needs exactly 17 ASCII digits")
    # The byte of an ASCII digit is its value + 48, so the weighted sum of the bytes is 48 × (sum of the
    # weights) too large: one multiply-add in C per digit, which an import of millions of rows notices.
    total = sum(map(operator.mul, first17.encode(), _WEIGHTS)) - _ZERO_BYTE * _WEIGHT_SUM
    return _CHECK_CHARS[total % 11]


def _normalize(text: str) -> str:
    # People paste numbers with spaces between groups and type a lower-case x; neither changes the number.
    return "".join(text.split()).upper()


def _read_gb2260_codes() -> set[str]:
    # Each line is a four-digit prefix followed by the last two digits of the codes under it.
    text = resources.files("verification").joinpath(_GB2260_CODES_RESOURCE).read_text(encoding="utf-8")
    codes: set[str] = set()
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        prefix, *tails = line.split()
        codes.update(prefix + tail for tail in tails)
    return codes


def _read_reference_region_codes() -> set[str]:
    if not _REFERENCE_REGIONS_CSV.is_file():
        return set()
    with _REFERENCE_REGIONS_CSV.open(newline="", encoding="utf-8") as handle:
        return {row["code"].strip() for row in csv.DictReader(handle)}


@functools.cache
def known_region_codes() -> frozenset[str]:
    """Every six-digit address code an identity number may carry: GB/T 2260 codes in use at any time since
    1980, the regions in config/reference/regions.csv, and the residence-permit codes 810000/820000/830000.

    Read once per process; a set lookup keeps parsing fast enough for imports of a million rows. A division
    created after 2020 that regions.csv does not list yet is refused: add it there, with its source.
    """
    return frozenset(_read_gb2260_codes() | _read_reference_region_codes() | _RESIDENCE_PERMIT_CODES)


def parse_resident_id(text: str, *, today: datetime.date | None = None) -> ResidentId:
    """Check an identity number and return what it encodes, or raise `IdNumberError` for the first fault."""
    number = _normalize(text)
    if len(number) != 18:
        raise IdNumberError("length", f"An identity number has 18 characters, this one has {len(number)}.")
    body, last = number[:17], number[17]
    if not (body.isascii() and body.isdigit()) or last not in "0123456789X":
        raise IdNumberError("characters", "An identity number is 17 digits followed by a digit or X.")
    region_code = body[:6]
    if region_code not in known_region_codes():
        raise IdNumberError("region", f"{region_code} is not the code of an administrative region.")
    try:
        birth_date = datetime.date(int(body[6:10]), int(body[10:12]), int(body[12:14]))
    except ValueError:
        raise IdNumberError("birth_date", f"{body[6:14]} is not a real date of birth.") from None
    if birth_date < _EARLIEST_BIRTH_DATE:
        raise IdNumberError("birth_date", "The date of birth is before 1900.")
    if birth_date > (today or datetime.date.today()):
        raise IdNumberError("birth_date", "The date of birth is in the future.")
    if check_digit(body) != last:
        raise IdNumberError("check_digit", "The last character does not match the rest of the number.")
    sex: Sex = "M" if int(body[16]) % 2 == 1 else "F"
    return ResidentId(number=number, region_code=region_code, birth_date=birth_date, sex=sex)


def mask_id(number: str) -> str:
    """The number as shown to roles that must not see it: first 4 and last 4 characters, 10 stars between."""
    normalized = _normalize(number)
    if len(normalized) != 18:
        # Masking a malformed value could reveal most of it, so refuse rather than guess.
        raise IdNumberError("length", "Only an 18-character identity number can be masked.")
    return f"{normalized[:4]}{'*' * 10}{normalized[-4:]}"


def make_resident_id(region_code: str, birth_date: datetime.date, sex: str, sequence: int) -> str:
    """Build a well-formed number for demo data and tests; `sequence` (0-99) gives the 15th-16th digits."""
    if len(region_code) != 6 or not (region_code.isascii() and region_code.isdigit()):
        raise ValueError("region_code must be 6 digits")
    if region_code not in known_region_codes():
        raise ValueError(f"{region_code} is not the code of an administrative region")
    if birth_date < _EARLIEST_BIRTH_DATE:
        raise ValueError("birth_date must not be before 1900")
    if not 0 <= sequence <= 99:
        raise ValueError("sequence must be between 0 and 99")
    if sex not in ("M", "F"):
        raise ValueError("sex must be 'M' or 'F'")
    sex_digit = "1" if sex == "M" else "2"
    first17 = f"{region_code}{birth_date:%Y%m%d}{sequence:02d}{sex_digit}"
    return first17 + check_digit(first17)


def consistency_errors(rid: ResidentId, birth_date: datetime.date, sex: str) -> list[str]:
    """Codes for where the declared birth date and sex disagree with the number: `birth_date_mismatch`,
    `sex_mismatch`; empty when they agree."""
    errors: list[str] = []
    if rid.birth_date != birth_date:
        errors.append("birth_date_mismatch")
    if rid.sex != sex:
        errors.append("sex_mismatch")
    return errors

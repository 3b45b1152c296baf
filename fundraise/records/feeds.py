"""The columns of each records feed and how one row's values are checked and normalised.

Pure Python, no database: the import service (fundraise/services/records_import.py, which documents the
contract) and the HTTP record source (fundraise/records/sources.py) read rows through these same rules, so a
value means the same thing whichever way it arrives.

A row is a mapping of column name to raw value: a string from a CSV file or a worksheet, or a JSON value
(string, number, boolean or null). `parse_row` returns the normalised values keyed by record field, or the
faults it found.

A fault is a code with parameters (`FAULTS` below holds every code of an import with its English words, for
logs and the HTTP source's reasons); fundraise/records_text.py words each code in the reader's language.

Year-to-date figures stand as of the row's optional `ytd_as_of` (see fundraise/records/CONTRACT.md); a date
in the future or before the record's year is a fault of the row, since such figures cannot be this year's.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from fundraise.models.records import AssistanceClass, InsuranceScheme, RecordKind
from fundraise.money import FEN_PER_YUAN, AmountError, parse_yuan
from verification.identity import IdNumberError, parse_resident_id

ID_COLUMN = "id_number"
SOURCE_ID_COLUMN = "source_record_id"
# A household of more than this is a typo in a feed, not a household.
MAX_HOUSEHOLD_SIZE = 50
# 100 million yuan: above any income or insurance figure a feed could truthfully carry.
MAX_AMOUNT_FEN = 100_000_000 * FEN_PER_YUAN
# The feeds' dates are dates in China.
CHINA_TIME = ZoneInfo("Asia/Shanghai")


def china_today() -> datetime.date:
    return datetime.datetime.now(CHINA_TIME).date()


# Every fault of a feed import by code, in English: the values' faults here, the file's and rows' faults of
# fundraise/records/reading.py, and the import's own (fundraise/services/records_import.py). A column's fault
# is said after the column's name, a row's after "row"; a file's stands alone. Parameters in braces.
FAULTS: dict[str, str] = {
    # a value (the column's name first)
    "empty": "is empty",
    "too_long": "is longer than {max} characters",
    "not_text": "is not text",
    "boolean_not_text": "is true or false, not text",
    "id_invalid": "is not a valid identity number: {reason}",
    "id_typed_as_number": (
        "was typed as a number, and a spreadsheet keeps only 15 digits of a number: format the column as text"
        " and type the identity numbers again"
    ),
    "region_code_invalid": "is not a 6-digit region code (GB/T 2260)",
    "date_invalid": "is not a date in the form YYYY-MM-DD",
    "amount_invalid": "is not an amount in yuan",
    "amount_too_large": "is implausibly large",
    "amount_negative": "is negative",
    "amount_decimals": "has more than two decimals",
    "amount_separator": "has a comma that is not a thousands separator (write 1234.5 or 1,234.5)",
    "not_whole_number": "is not a whole number",
    "out_of_range": "is not between {low} and {high}",
    "not_boolean": "is not true or false",
    "not_one_of": "is not one of {allowed}",
    "before_valid_from": "is before valid_from",
    "date_in_future": "is in the future",
    "before_record_year": "is before the record's year ({year})",
    "missing": "is missing",
    "repeated_id": "repeats row {first_row}",
    "outside_jurisdiction": "is outside your jurisdiction ({prefix})",
    # a row (after "row")
    "row_unreadable": "cannot be read ({detail}); is the file cut short?",
    "too_few_fields": (
        "has {fields} fields, too few for the {columns} columns of the header; is the file cut short?"
    ),
    "too_many_fields": "has {fields} fields, too many for the {columns} columns of the header",
    "not_an_object": "is not a JSON object",
    "past_sheet_end": "is past the last row a worksheet may have ({max})",
    # the file
    "encoding_unknown": (
        "the file is neither UTF-8 nor GB18030/GBK text (byte {byte} cannot be read); save it as CSV in UTF-8"
        " or GBK, or as an Excel workbook (.xlsx)"
    ),
    "utf8_cut_short": "the file is UTF-8 text that ends inside a character; is the file cut short?",
    "file_empty": "the file is empty: expected a header row",
    "header_unreadable": "the header row cannot be read: {detail}",
    "header_duplicates": "the header names these columns more than once: {columns}",
    "missing_columns": "the file lacks required columns: {columns}",
    "json_invalid": "not valid JSON at line {line} column {col} ({detail}); is the file cut short?",
    "json_too_deep": "the JSON is nested too deeply to be a records feed",
    "json_not_feed": "not a records feed: {detail}",
    "json_not_list": 'expected a JSON list of records or an object {{"records": [...]}}',
    "not_workbook": "the file is not a readable Excel workbook (.xlsx)",
    "old_workbook": (
        "the file is an Excel 97-2003 workbook (.xls): save it as an Excel workbook (.xlsx) or as CSV"
    ),
    "workbook_too_large": "the workbook unpacks to more than {max_mb} MB; split it into smaller files",
    "no_worksheet": "the workbook has no worksheet",
    "sheet_empty": "the first worksheet is empty: expected a header row",
    "more_faults": "{count} more faults are not listed",
}
# What an identity number breaks, for "id_invalid" (verification.identity's codes; the number's own digits
# stay out of the words, which are stored in the error report).
ID_RULES: dict[str, str] = {
    "length": "it has {length} characters, not 18",
    "characters": "it must be 17 digits followed by a digit or X",
    "region": "its first six digits are not the code of an administrative region",
    "birth_date": "it does not hold a possible date of birth",
    "check_digit": "the last character does not match the rest of the number",
}


def fault_english(code: str, params: Mapping[str, Any]) -> str:
    """A fault's words in English (without the column's name or "row" before them)."""
    shown = dict(params)
    if code == "id_invalid":
        shown["reason"] = ID_RULES.get(str(params.get("rule")), str(params.get("rule"))).format(**params)
    if code == "more_faults" and params.get("count") == 1:
        return "1 more fault is not listed"
    return FAULTS[code].format(**shown)


class FeedValueError(ValueError):
    """A value that breaks its column's rule: `code` (a key of FAULTS) and `params` say which; the message is
    its English."""

    def __init__(self, code: str, **params: str | int) -> None:
        super().__init__(fault_english(code, params))
        self.code = code
        self.params = params


@dataclass(frozen=True)
class Column:
    """One column of a feed: its name in the file, the record field it fills, and how it is read.

    `required` columns must be in the header; an optional column that is absent (or empty in a row) takes
    `default`.
    """

    name: str
    field: str
    parse: Callable[[Any], Any]
    required: bool = True
    default: Any = None


def _text(value: Any) -> str:
    if type(value) is str:  # the common case first: every CSV value, most JSON values
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, bool):
        raise FeedValueError("boolean_not_text")
    if isinstance(value, int | float):
        # JSON feeds sometimes send numeric ids as numbers.
        return str(value)
    if not isinstance(value, str):
        raise FeedValueError("not_text")
    return value.strip()


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def source_record_id(value: Any) -> str:
    text = _text(value)
    if not text:
        raise FeedValueError("empty")
    if len(text) > 64:
        raise FeedValueError("too_long", max=64)
    return text


def id_number(value: Any) -> str:
    text = _text(value)
    if not text:
        raise FeedValueError("empty")
    try:
        return parse_resident_id(text).number
    except IdNumberError as error:
        params: dict[str, str | int] = {"length": len(text)} if error.code == "length" else {}
        raise FeedValueError("id_invalid", rule=error.code, **params) from None


def person_name(value: Any) -> str:
    text = _text(value)
    if not text:
        raise FeedValueError("empty")
    if len(text) > 64:
        raise FeedValueError("too_long", max=64)
    return text


def region_code(value: Any) -> str:
    text = _text(value)
    if len(text) != 6 or not (text.isascii() and text.isdigit()):
        raise FeedValueError("region_code_invalid")
    return text


def iso_date(value: Any) -> datetime.date:
    text = _text(value)
    if len(text) != 10:
        raise FeedValueError("date_invalid")
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise FeedValueError("date_invalid") from None


def optional_date(value: Any) -> datetime.date | None:
    return None if _is_empty(value) else iso_date(value)


# fundraise.money.parse_yuan's faults, as fault codes.
_AMOUNT_FAULTS = {
    "empty": "empty",
    "misplaced separator": "amount_separator",
    "negative": "amount_negative",
    "more than two decimals": "amount_decimals",
}


def yuan(value: Any) -> int:
    """An amount in yuan with at most two decimals, as fen, read as fundraise.money.parse_yuan reads it."""
    if type(value) is str:
        # Fast path for the usual "1234" or "1234.5" (the same result parse_yuan gives, without Decimal).
        whole, point, cents = value.strip().partition(".")
        if len(whole) > 15 and whole.isascii() and whole.isdigit():
            # Far past any amount (and past what int() reads of a 5,000-digit string without an error).
            raise FeedValueError("amount_too_large")
        if (
            whole.isascii()
            and whole.isdigit()
            and len(cents) <= 2
            and (not point or (cents.isascii() and cents.isdigit()))
        ):
            fen = int(whole) * FEN_PER_YUAN + (int(cents.ljust(2, "0")) if cents else 0)
            return _plausible(fen)
        text = value
    elif isinstance(value, bool) or value is None:
        raise FeedValueError("amount_invalid")
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        text = repr(value)  # the shortest exact decimal: 12.3 stays 12.3
    else:
        raise FeedValueError("amount_invalid")
    try:
        fen = parse_yuan(text)
    except AmountError as error:
        raise FeedValueError(_AMOUNT_FAULTS.get(str(error), "amount_invalid")) from None
    return _plausible(fen)


def _plausible(fen: int) -> int:
    if fen > MAX_AMOUNT_FEN:
        raise FeedValueError("amount_too_large")
    return fen


def whole_number(low: int, high: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise FeedValueError("not_whole_number")
        if isinstance(value, int):
            number = value
        else:
            text = _text(value)
            if not (text.isascii() and text.isdigit()):
                raise FeedValueError("not_whole_number")
            if len(text.lstrip("0")) > len(str(high)):
                raise FeedValueError("out_of_range", low=low, high=high)
            number = int(text)
        if not low <= number <= high:
            raise FeedValueError("out_of_range", low=low, high=high)
        return number

    return parse


_TRUE = frozenset({"true", "1", "yes", "y", "是"})
_FALSE = frozenset({"false", "0", "no", "n", "否"})


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = _text(value).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise FeedValueError("not_boolean")


def one_of(kind: type[AssistanceClass] | type[InsuranceScheme]) -> Callable[[Any], str]:
    allowed = frozenset(member.value for member in kind)
    listed = ", ".join(sorted(allowed))

    def parse(value: Any) -> str:
        text = _text(value)
        if text not in allowed:
            raise FeedValueError("not_one_of", allowed=listed)
        return text

    return parse


_COMMON_HEAD = (
    Column(SOURCE_ID_COLUMN, "source_record_id", source_record_id),
    Column(ID_COLUMN, "id_number", id_number),
    Column("name", "person_name", person_name),
)
_VALIDITY = (
    Column("valid_from", "valid_from", iso_date),
    Column("valid_to", "valid_to", optional_date),
)

COLUMNS: dict[RecordKind, tuple[Column, ...]] = {
    RecordKind.BASIC_ENROLMENT: (
        *_COMMON_HEAD,
        Column("scheme", "scheme", one_of(InsuranceScheme)),
        Column("pooling_region_code", "pooling_region_code", region_code),
        *_VALIDITY,
        Column("year", "year", whole_number(2000, 2100)),
        Column("ytd_reimbursed_yuan", "ytd_reimbursed_fen", yuan),
        Column("ytd_in_policy_self_pay_yuan", "ytd_in_policy_self_pay_fen", yuan, required=False),
        Column("ytd_as_of", "ytd_as_of", iso_date, required=False),
    ),
    RecordKind.CRITICAL_ILLNESS: (
        *_COMMON_HEAD,
        Column("entitled", "entitled", boolean),
        Column("pooling_region_code", "pooling_region_code", region_code),
        *_VALIDITY,
        Column("ytd_paid_yuan", "ytd_paid_fen", yuan),
        Column("ytd_as_of", "ytd_as_of", iso_date, required=False),
    ),
    RecordKind.CIVIL_AFFAIRS: (
        *_COMMON_HEAD,
        Column("assistance_class", "assistance_class", one_of(AssistanceClass)),
        *_VALIDITY,
        Column("household_size", "household_size", whole_number(1, MAX_HOUSEHOLD_SIZE)),
        Column("monthly_household_income_yuan", "monthly_household_income_fen", yuan),
        Column("region_code", "region_code", region_code),
        Column("ytd_assistance_paid_yuan", "ytd_assistance_paid_fen", yuan, required=False, default=0),
        Column("ytd_as_of", "ytd_as_of", iso_date, required=False),
    ),
}

_PLAN = {
    kind: tuple((c.name, c.field, c.parse, c.required, c.default) for c in columns)
    for kind, columns in COLUMNS.items()
}

# The field whose region an officer's jurisdiction must cover.
JURISDICTION_FIELD: dict[RecordKind, str] = {
    RecordKind.BASIC_ENROLMENT: "pooling_region_code",
    RecordKind.CRITICAL_ILLNESS: "pooling_region_code",
    RecordKind.CIVIL_AFFAIRS: "region_code",
}


def column_names(kind: RecordKind, *, required_only: bool = False) -> list[str]:
    return [column.name for column in COLUMNS[kind] if column.required or not required_only]


@dataclass(frozen=True)
class Fault:
    """What is wrong with one value: the column (None for the row as a whole) and why, as a code of FAULTS
    with its parameters."""

    column: str | None
    code: str
    params: Mapping[str, str | int] = field(default_factory=dict)

    @property
    def message(self) -> str:
        """The fault in English, without the column's name."""
        return fault_english(self.code, self.params)


def parse_row(
    kind: RecordKind, raw: Mapping[str, Any], *, today: datetime.date | None = None
) -> tuple[dict[str, Any], list[Fault]]:
    """Read one row: the normalised values keyed by record field, and every fault found (empty if none).

    `today` is the date a `ytd_as_of` may not be after (today in China if not given; a caller reading many
    rows passes it once)."""
    values: dict[str, Any] = {}
    faults: list[Fault] = []
    get = raw.get
    # Runs once per row of million-row feeds: plain tuples, no attribute look-ups.
    for name, field_name, parse, required, default in _PLAN[kind]:
        value = get(name)
        if not required and _is_empty(value):
            values[field_name] = default
            continue
        try:
            values[field_name] = parse(value)
        except FeedValueError as error:
            faults.append(Fault(name, error.code, error.params))
    valid_from, valid_to = values.get("valid_from"), values.get("valid_to")
    if valid_from is not None and valid_to is not None and valid_to < valid_from:
        faults.append(Fault("valid_to", "before_valid_from"))
    as_of = values.get("ytd_as_of")
    if as_of is not None:
        fault = _ytd_as_of_fault(as_of, values, today or china_today())
        if fault is not None:
            faults.append(fault)
    return values, faults


def _ytd_as_of_fault(as_of: datetime.date, values: Mapping[str, Any], today: datetime.date) -> Fault | None:
    if as_of > today:
        return Fault("ytd_as_of", "date_in_future")
    # The record's year: an enrolment's insurance year, otherwise the year it became valid.
    year = values.get("year")
    if year is None and values.get("valid_from") is not None:
        year = values["valid_from"].year
    if year is not None and as_of.year < year:
        return Fault("ytd_as_of", "before_record_year", {"year": year})
    return None


def mask_value(column: str | None, value: Any) -> str:
    """A value as it may appear in an error report: ID numbers masked, long values cut short."""
    text = "" if value is None else str(value)
    if column == ID_COLUMN:
        compact = "".join(text.split())
        # First and last four only when that hides most of it (as verification.identity.mask_id does).
        if len(compact) >= 16:
            return f"{compact[:4]}{'*' * (len(compact) - 8)}{compact[-4:]}"
        return "*" * len(compact)
    return text if len(text) <= 100 else text[:97] + "..."

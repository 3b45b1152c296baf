"""The faults of a records import in plain words, in the reader's language.

fundraise/records/feeds.py gives every fault of a feed (a value, a row, the file as a whole) a code with
parameters, and English words for logs; the import stores the codes and parameters in
ImportBatch.error_report. This module holds the translatable text of each code (English source, translated
through Flask-Babel like every other page string), so the records page, the API and `flask records` word a
fault alike, in the language of whoever reads it, when they show it.

A column's name and the value stay as the file has them: they are what the sender must find and correct.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

# One text per fault code of fundraise.records.feeds.FAULTS, with the same parameters; %(column)s is the
# column's name. The English is that of FAULTS with the column's name (or "row") before it.
ROW_ERROR_TEXTS: dict[str, Any] = {
    # a value
    "empty": _l("%(column)s is empty"),
    "too_long": _l("%(column)s is longer than %(max)s characters"),
    "not_text": _l("%(column)s is not text"),
    "boolean_not_text": _l("%(column)s is true or false, not text"),
    "id_invalid": _l("%(column)s is not a valid identity number: %(reason)s"),
    "id_typed_as_number": _l(
        "%(column)s was typed as a number, and a spreadsheet keeps only 15 digits of a number: format the"
        " column as text and type the identity numbers again"
    ),
    "region_code_invalid": _l("%(column)s is not a 6-digit region code (GB/T 2260)"),
    "date_invalid": _l("%(column)s is not a date in the form YYYY-MM-DD"),
    "amount_invalid": _l("%(column)s is not an amount in yuan"),
    "amount_too_large": _l("%(column)s is implausibly large"),
    "amount_negative": _l("%(column)s is negative"),
    "amount_decimals": _l("%(column)s has more than two decimals"),
    "amount_separator": _l(
        "%(column)s has a comma that is not a thousands separator (write 1234.5 or 1,234.5)"
    ),
    "not_whole_number": _l("%(column)s is not a whole number"),
    "out_of_range": _l("%(column)s is not between %(low)s and %(high)s"),
    "not_boolean": _l("%(column)s is not true or false"),
    "not_one_of": _l("%(column)s is not one of %(allowed)s"),
    "before_valid_from": _l("%(column)s is before valid_from"),
    "date_in_future": _l("%(column)s is in the future"),
    "before_record_year": _l("%(column)s is before the record's year (%(year)s)"),
    "missing": _l("%(column)s is missing"),
    "repeated_id": _l("%(column)s repeats row %(first_row)s"),
    "outside_jurisdiction": _l("%(column)s is outside your jurisdiction (%(prefix)s)"),
    # a row
    "row_unreadable": _l("row cannot be read (%(detail)s); is the file cut short?"),
    "too_few_fields": _l(
        "row has %(fields)s fields, too few for the %(columns)s columns of the header; is the file cut short?"
    ),
    "too_many_fields": _l("row has %(fields)s fields, too many for the %(columns)s columns of the header"),
    "not_an_object": _l("row is not a JSON object"),
    "past_sheet_end": _l("row is past the last row a worksheet may have (%(max)s)"),
    # the file
    "encoding_unknown": _l(
        "the file is neither UTF-8 nor GB18030/GBK text (byte %(byte)s cannot be read); save it as CSV in"
        " UTF-8 or GBK, or as an Excel workbook (.xlsx)"
    ),
    "utf8_cut_short": _l("the file is UTF-8 text that ends inside a character; is the file cut short?"),
    "file_empty": _l("the file is empty: expected a header row"),
    "header_unreadable": _l("the header row cannot be read: %(detail)s"),
    "header_duplicates": _l("the header names these columns more than once: %(columns)s"),
    "missing_columns": _l("the file lacks required columns: %(columns)s"),
    "json_invalid": _l("not valid JSON at line %(line)s column %(col)s (%(detail)s); is the file cut short?"),
    "json_too_deep": _l("the JSON is nested too deeply to be a records feed"),
    "json_not_feed": _l("not a records feed: %(detail)s"),
    "json_not_list": _l('expected a JSON list of records or an object {"records": [...]}'),
    "not_workbook": _l("the file is not a readable Excel workbook (.xlsx)"),
    "old_workbook": _l(
        "the file is an Excel 97-2003 workbook (.xls): save it as an Excel workbook (.xlsx) or as CSV"
    ),
    "workbook_too_large": _l("the workbook unpacks to more than %(max_mb)s MB; split it into smaller files"),
    "no_worksheet": _l("the workbook has no worksheet"),
    "sheet_empty": _l("the first worksheet is empty: expected a header row"),
}
# What an identity number breaks, for "id_invalid" (verification.identity's codes).
ID_RULE_TEXTS: dict[str, Any] = {
    "length": _l("it has %(length)s characters, not 18"),
    "characters": _l("it must be 17 digits followed by a digit or X"),
    "region": _l("its first six digits are not the code of an administrative region"),
    "birth_date": _l("it does not hold a possible date of birth"),
    "check_digit": _l("the last character does not match the rest of the number"),
}
# How a file was read: its text encoding, or a workbook's first worksheet (ImportResult.read_as).
READ_AS: dict[str, Any] = {
    "utf-8": _l("UTF-8 text"),
    "gb18030": _l("GB18030 (GBK) text"),
    "xlsx": _l("the first worksheet of an Excel workbook"),
}


class _Shown(dict[str, Any]):
    """Parameters for a text; one a stored report lacks shows as a dash instead of failing."""

    def __missing__(self, key: str) -> str:
        return "—"


def row_error_message(error: Mapping[str, Any]) -> str:
    """One fault of an import ({"row", "column", "value", "code", "params", "message"}, as
    ImportBatch.error_report keeps it) in the reader's language.

    A fault stored before faults had codes, or with a code newer than this catalogue, is shown by its stored
    message as it is."""
    code = error.get("code")
    stored = error.get("params")
    params: Mapping[str, Any] = stored if isinstance(stored, Mapping) else {}
    fallback = str(error.get("message") or code or "")
    if code == "more_faults" and isinstance(params.get("count"), int):
        return str(
            ngettext(
                "%(num)d more fault is not listed", "%(num)d more faults are not listed", params["count"]
            )
        )
    text = ROW_ERROR_TEXTS.get(code) if isinstance(code, str) else None
    if text is None:
        return fallback
    shown = _Shown(params)
    shown["column"] = error.get("column") or ""
    if code == "id_invalid":
        rule = ID_RULE_TEXTS.get(str(params.get("rule")))
        shown["reason"] = str(rule) % shown if rule is not None else params.get("rule", "—")
    try:
        return str(text) % shown
    except (TypeError, ValueError):  # a parameter of the wrong kind in a stored report
        return fallback


def read_as(how: str | None) -> str:
    """How a file was read ("utf-8", "gb18030", "xlsx"), in words."""
    label = READ_AS.get(how or "")
    return str(label) if label is not None else (how or "")

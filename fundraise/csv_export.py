"""CSV for people to open in a spreadsheet: every cell escaped so the spreadsheet never runs it as a formula.

A cell starting with =, +, -, @, a tab or a carriage return is taken by Excel, LibreOffice and Google Sheets
as a formula ("CSV injection", OWASP); values written here may come from outside (a sender's records file,
a donor's message), so such a cell gets a leading apostrophe and is shown as the text it is. A negative
number becomes the text '-5 for the same reason.

`csv_text` gives the whole file as one string (a small download); `csv_lines` the same lines one by one,
for a streamed response over many rows. Lines end in CRLF, as RFC 4180 says. Neither adds a byte-order mark:
the caller does (`"\\ufeff" + text`, or `encoding="utf-8-sig"`) so that Excel reads the file as UTF-8.

Pure Python, no Flask and no database.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

# What a spreadsheet reads as the start of a formula (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: Any) -> str:
    """The value as the text of one cell, never a formula: None is empty, anything else its str(), with an
    apostrophe in front when it starts like a formula."""
    text_value = "" if value is None else str(value)
    return "'" + text_value if text_value.startswith(FORMULA_STARTS) else text_value


def csv_lines(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """The header line, then one line per row, each cell escaped (`escape_cell`) and each line ending in CRLF."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in itertools.chain([header], rows):
        writer.writerow([escape_cell(value) for value in row])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def csv_text(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> str:
    """The whole CSV file as one string (see `csv_lines`)."""
    return "".join(csv_lines(header, rows))

"""Reading a records feed file: a CSV or JSON file, or the first worksheet of an Excel workbook (.xlsx), as a
header and a stream of raw rows, each with the faults found in reading it (a row cut short, an object that is
not one). What the values mean is checked later, row by row, by fundraise.records.feeds; the formats are
documented in fundraise/services/records_import.py.

Text files are read as UTF-8 (a BOM allowed) or, when they are not valid UTF-8, as GB18030 — the superset of
GBK and GB2312 that Chinese Excel and WPS save CSV in by default. The choice is made the same way every
time (strict UTF-8 first, then strict GB18030) and the feed says which it was.

Pure Python, no database: the rows are produced lazily, so a file of a million rows is never held as rows.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import io
import json
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import openpyxl

from fundraise.models.records import RecordKind
from fundraise.records.feeds import FAULTS, ID_COLUMN, Fault, column_names, fault_english

_ZIP_MAGIC = b"PK\x03\x04"  # an .xlsx workbook is a zip archive
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # an Excel 97-2003 .xls (OLE2 compound file)
# Excel's own limit: a worksheet has at most 1,048,576 rows; a sheet that says otherwise is not Excel's.
MAX_SHEET_ROWS = 1_048_576
# What a workbook may unpack to: well above a full worksheet of a feed's dozen columns (about 400 bytes a
# row unpacked), and a bound on a zip bomb (zipfile stops each member at its declared size).
MAX_WORKBOOK_UNPACKED_BYTES = 512 * 1024 * 1024
# A number with more digits than this was rounded by the spreadsheet (a double holds 15 significant digits).
_EXACT_DIGITS = 15


class FileFault(Exception):
    """The file cannot be read as a feed at all: `code` (a key of fundraise.records.feeds.FAULTS) and
    `params` say why; the message is its English."""

    def __init__(self, code: str, **params: str | int) -> None:
        assert code in FAULTS, code
        super().__init__(fault_english(code, params))
        self.code = code
        self.params = params


@dataclass
class Feed:
    """Rows of a feed as (row number, raw mapping or None when the row could not be read, faults).

    `encoding` is the text encoding the file was read in ("utf-8" or "gb18030"); None for a workbook."""

    header: list[str]
    rows: Iterator[tuple[int, dict[str, Any] | None, list[Fault]]]
    missing: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    encoding: str | None = None
    # Frees what reading holds open (a workbook): for a feed whose rows are not read to the end.
    release: Callable[[], None] = field(default=lambda: None)


def sniffed_format(data: bytes) -> str | None:
    """ "xlsx" when the bytes are a workbook (an .xlsx zip, or an old .xls that the reader then refuses with
    its own words), whatever the file is called; None when the content does not tell."""
    if data.startswith(_ZIP_MAGIC) or data.startswith(_OLE_MAGIC):
        return "xlsx"
    return None


def decode(data: bytes) -> tuple[str, str]:
    """The text of a feed file and the encoding it was read in: UTF-8 (with or without a BOM), else GB18030.

    Raises FileFault for a file that is neither, for one that begins with the UTF-8 BOM but is not UTF-8 (it
    says what it is), and for valid UTF-8 cut off inside its last character (a UTF-8 file cut short, which
    GB18030 would read as a page of wrong characters)."""
    body = data.removeprefix(codecs.BOM_UTF8)
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as error:
        if error.reason == "unexpected end of data" and error.end == len(body):
            raise FileFault("utf8_cut_short") from None
        if len(body) < len(data):
            raise FileFault("encoding_unknown", byte=error.start + len(codecs.BOM_UTF8)) from None
    try:
        # GB18030 has a BOM of its own (84 31 95 33), decoded as U+FEFF.
        return data.decode("gb18030").removeprefix("\ufeff"), "gb18030"
    except UnicodeDecodeError as error:
        raise FileFault("encoding_unknown", byte=error.start) from None


def csv_feed(kind: RecordKind, data: bytes) -> Feed:
    text, encoding = decode(data)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        raise FileFault("file_empty") from None
    except csv.Error as error:
        raise FileFault("header_unreadable", detail=str(error)) from None
    if len(header) != len({*header}):
        duplicated = sorted({name for name in header if header.count(name) > 1})
        raise FileFault("header_duplicates", columns=", ".join(duplicated))
    known = set(column_names(kind))
    width = len(header)

    def rows() -> Iterator[tuple[int, dict[str, Any] | None, list[Fault]]]:
        number = 0
        while True:
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                number += 1
                yield number, None, [Fault(None, "row_unreadable", {"detail": str(error)})]
                return
            if not record:  # a blank line
                continue
            number += 1
            if len(record) != width:
                code = "too_few_fields" if len(record) < width else "too_many_fields"
                yield number, None, [Fault(None, code, {"fields": len(record), "columns": width})]
                continue
            yield number, dict(zip(header, record, strict=True)), []

    return Feed(
        header=header,
        rows=rows(),
        missing=[name for name in column_names(kind, required_only=True) if name not in header],
        ignored=[name for name in header if name not in known],
        encoding=encoding,
    )


def json_feed(kind: RecordKind, data: bytes) -> Feed:
    text, encoding = decode(data)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise FileFault("json_invalid", line=error.lineno, col=error.colno, detail=error.msg) from None
    except RecursionError:
        raise FileFault("json_too_deep") from None
    except ValueError as error:  # e.g. a number of thousands of digits, past what int() reads
        raise FileFault("json_not_feed", detail=str(error)) from None
    if isinstance(document, dict) and isinstance(document.get("records"), list):
        items = document["records"]
    elif isinstance(document, list):
        items = document
    else:
        raise FileFault("json_not_list")
    required = column_names(kind, required_only=True)
    known = set(column_names(kind))
    ignored: list[str] = []  # filled while reading, read once all rows are

    def rows() -> Iterator[tuple[int, dict[str, Any] | None, list[Fault]]]:
        for number, item in enumerate(items, start=1):
            if not isinstance(item, dict):
                yield number, None, [Fault(None, "not_an_object")]
                continue
            for key in item:
                if key not in known and key not in ignored:
                    ignored.append(key)
            missing = [Fault(name, "missing") for name in required if name not in item]
            yield number, (None if missing else item), missing

    return Feed(header=sorted(known), rows=rows(), ignored=ignored, encoding=encoding)


# --- Excel workbooks ---------------------------------------------------------------------------------------


def cell_text(value: Any) -> str:
    """A worksheet cell as the text a CSV file would have held: Excel types numbers, dates and booleans, the
    feeds' rules read text (an integral number as its digits, a date as YYYY-MM-DD, true or false)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return repr(value)  # the shortest exact decimal: 1234.5 stays 1234.5
    if isinstance(value, datetime.datetime):
        return value.date().isoformat()
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return str(value)


def _rounded_id(column: str, value: Any) -> bool:
    """An identity number Excel held as a number too long to keep exactly (it shows as 3.41221E+17)."""
    return column == ID_COLUMN and isinstance(value, float) and abs(value) >= 10**_EXACT_DIGITS


def _open_workbook(data: bytes) -> Any:
    if data.startswith(_OLE_MAGIC):
        raise FileFault("old_workbook")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise FileFault("not_workbook") from None
    if unpacked > MAX_WORKBOOK_UNPACKED_BYTES:
        raise FileFault("workbook_too_large", max_mb=MAX_WORKBOOK_UNPACKED_BYTES // (1024 * 1024))
    try:
        with warnings.catch_warnings():
            # openpyxl warns about parts it does not read (styles, extensions); they do not matter here.
            warnings.simplefilter("ignore")
            return openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # a damaged or foreign archive fails in many ways, all of which mean the same here
        raise FileFault("not_workbook") from None


def declared_sheet_rows(data: bytes) -> int:
    """The rows a workbook's first worksheet says it has (its dimension, header included), for a progress
    bar; 0 when it does not say or cannot be read."""
    try:
        workbook = _open_workbook(data)
    except FileFault:
        return 0
    try:
        rows = workbook.worksheets[0].max_row if workbook.worksheets else None
        return rows if isinstance(rows, int) else 0
    finally:
        workbook.close()


def _header(sheet: Any) -> tuple[int, list[str]]:
    """The worksheet's first row that holds anything, as column names, and its row number (0: none)."""
    found = sheet.iter_rows(values_only=True)
    try:
        for number, cells in enumerate(found, start=1):
            if any(cell_text(cell).strip() for cell in cells):
                header = [cell_text(cell).strip().lower() for cell in cells]
                while header and not header[-1]:
                    header.pop()
                return number, header
            if number >= MAX_SHEET_ROWS:
                break
        return 0, []
    finally:
        found.close()


def xlsx_feed(kind: RecordKind, data: bytes) -> Feed:
    """The first worksheet of a workbook: its first row that holds anything names the columns, the rows
    below it are records, numbered as the worksheet numbers them. Empty rows are skipped; cells right of the
    header's last column are not read. Formulas count by the value Excel last computed for them."""
    workbook = _open_workbook(data)
    try:
        if not workbook.worksheets:
            raise FileFault("no_worksheet")
        sheet = workbook.worksheets[0]
        # The dimension a file declares can be wrong, and openpyxl would stop reading at it.
        sheet.reset_dimensions()
        try:
            header_row, header = _header(sheet)
        except Exception:  # as in _open_workbook: the worksheet's own part is read only now
            raise FileFault("not_workbook") from None
        if not header_row:
            raise FileFault("sheet_empty")
        named = [name for name in header if name]
        duplicated = sorted({name for name in named if named.count(name) > 1})
        if duplicated:
            raise FileFault("header_duplicates", columns=", ".join(duplicated))
    except FileFault:
        workbook.close()
        raise
    known = set(column_names(kind))
    width = len(header)

    def rows() -> Iterator[tuple[int, dict[str, Any] | None, list[Fault]]]:
        number = header_row
        cells_by_row = sheet.iter_rows(min_row=header_row + 1, max_col=width, values_only=True)
        try:
            while True:
                try:
                    cells = next(cells_by_row)
                except StopIteration:
                    return
                except Exception as error:  # damaged XML inside a readable archive
                    yield number + 1, None, [Fault(None, "row_unreadable", {"detail": type(error).__name__})]
                    return
                number += 1
                if number > MAX_SHEET_ROWS:
                    yield number, None, [Fault(None, "past_sheet_end", {"max": MAX_SHEET_ROWS})]
                    return
                texts = [cell_text(cell) for cell in cells]
                if not any(text.strip() for text in texts):
                    continue
                raw: dict[str, Any] = {}
                faults: list[Fault] = []
                for name, cell, text in zip(header, cells, texts, strict=False):
                    if name:
                        raw[name] = text
                        if _rounded_id(name, cell):
                            faults.append(Fault(name, "id_typed_as_number"))
                yield number, raw, faults
        finally:
            cells_by_row.close()
            workbook.close()

    return Feed(
        header=header,
        rows=rows(),
        missing=[name for name in column_names(kind, required_only=True) if name not in header],
        ignored=[name for name in header if name and name not in known],
        release=workbook.close,
    )

"""Reading a records feed file: a CSV or JSON file as a header and a stream of raw rows, each with the faults
found in reading it (a row cut short, an object that is not one). What the values mean is checked later, row
by row, by fundraise.records.feeds; the formats are documented in fundraise/services/records_import.py.

Pure Python, no database: the rows are produced lazily, so a file of a million rows is never held as rows.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from fundraise.models.records import RecordKind
from fundraise.records.feeds import Fault, column_names


class FileFault(Exception):
    """The file cannot be read as a feed at all."""


@dataclass
class Feed:
    """Rows of a feed as (row number, raw mapping or None when the row could not be read, faults)."""

    header: list[str]
    rows: Iterator[tuple[int, dict[str, Any] | None, list[Fault]]]
    missing: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise FileFault(
            f"the file is not UTF-8 text (byte {error.start} cannot be decoded); save it as UTF-8"
        ) from None


def csv_feed(kind: RecordKind, data: bytes) -> Feed:
    reader = csv.reader(io.StringIO(_decode(data), newline=""), strict=True)
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        raise FileFault("the file is empty: expected a header row") from None
    except csv.Error as error:
        raise FileFault(f"the header row cannot be read: {error}") from None
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise FileFault(f"the header names these columns more than once: {', '.join(duplicated)}")
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
                yield number, None, [Fault(None, f"cannot be read ({error}); is the file cut short?")]
                return
            if not record:  # a blank line
                continue
            number += 1
            if len(record) != width:
                shortfall = "too few" if len(record) < width else "too many"
                hint = "; is the file cut short?" if len(record) < width else ""
                yield (
                    number,
                    None,
                    [
                        Fault(
                            None,
                            f"has {len(record)} fields, {shortfall} for the {width} columns of the header{hint}",
                        )
                    ],
                )
                continue
            yield number, dict(zip(header, record, strict=True)), []

    return Feed(
        header=header,
        rows=rows(),
        missing=[name for name in column_names(kind, required_only=True) if name not in header],
        ignored=[name for name in header if name not in known],
    )


def json_feed(kind: RecordKind, data: bytes) -> Feed:
    try:
        document = json.loads(_decode(data))
    except json.JSONDecodeError as error:
        raise FileFault(
            f"not valid JSON at line {error.lineno} column {error.colno} ({error.msg}); is the file cut short?"
        ) from None
    except RecursionError:
        raise FileFault("the JSON is nested too deeply to be a records feed") from None
    except ValueError as error:  # e.g. a number of thousands of digits, past what int() reads
        raise FileFault(f"not a records feed: {error}") from None
    if isinstance(document, dict) and isinstance(document.get("records"), list):
        items = document["records"]
    elif isinstance(document, list):
        items = document
    else:
        raise FileFault('expected a JSON list of records or an object {"records": [...]}')
    required = column_names(kind, required_only=True)
    known = set(column_names(kind))
    ignored: list[str] = []  # filled while reading, read once all rows are

    def rows() -> Iterator[tuple[int, dict[str, Any] | None, list[Fault]]]:
        for number, item in enumerate(items, start=1):
            if not isinstance(item, dict):
                yield number, None, [Fault(None, "is not a JSON object")]
                continue
            for key in item:
                if key not in known and key not in ignored:
                    ignored.append(key)
            missing = [Fault(name, "is missing") for name in required if name not in item]
            yield number, (None if missing else item), missing

    return Feed(header=sorted(known), rows=rows(), ignored=ignored)

"""The records import takes what Chinese offices have: CSV saved as GBK (GB18030) or UTF-8 with or without a
BOM, and Excel workbooks (.xlsx); and it says each fault in the reader's language, alike on the page, in the
API and on the command line (issue 14)."""

from __future__ import annotations

import csv
import datetime
import io
import re
import string
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from flask_babel import force_locale
from sqlalchemy import select

from fundraise.extensions import db
from fundraise.models import CivilAffairsRecord, CriticalIllnessRecord, ImportBatch, ImportStatus
from fundraise.records import reading
from fundraise.records.feeds import FAULTS
from fundraise.records.reading import FileFault, cell_text, decode
from fundraise.records_text import ID_RULE_TEXTS, ROW_ERROR_TEXTS, row_error_message
from fundraise.services.accounts import create_token
from fundraise.services.records_import import RowError, error_report_csv, import_feed
from tests.factories import UserFactory
from verification.identity import make_resident_id

CIVIL_COLUMNS = [
    "source_record_id",
    "id_number",
    "name",
    "assistance_class",
    "valid_from",
    "valid_to",
    "household_size",
    "monthly_household_income_yuan",
    "region_code",
]
NAMES = ["张伟", "王秀英", "李娜", "刘洋", "陈静", "杨勇"]


def person(n: int) -> str:
    return make_resident_id("341221", datetime.date(1960 + n, 1 + n % 12, 1 + n % 28), "MF"[n % 2], n)


def civil_row(n: int, **changes: str) -> dict[str, str]:
    row = {
        "source_record_id": f"MZ-{n:04d}",
        "id_number": person(n),
        "name": NAMES[n % len(NAMES)],
        "assistance_class": ["dibao", "tekun", "dibao_edge"][n % 3],
        "valid_from": "2026-01-01",
        "valid_to": "" if n % 2 else "2026-12-31",
        "household_size": str(1 + n % 5),
        "monthly_household_income_yuan": "1650.5" if n % 2 else "1200",
        "region_code": "341221",
    }
    row.update(changes)
    return row


def csv_text(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def workbook(rows: list[list[Any]]) -> bytes:
    """An .xlsx of one worksheet holding these rows (None: an empty cell), as openpyxl writes it."""
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def typed_civil_row(n: int) -> list[Any]:
    """civil_row(n) as Excel would type it: numbers, dates; the 18-digit ID number kept as text."""
    row = civil_row(n)
    return [
        row["source_record_id"],
        row["id_number"],
        row["name"],
        row["assistance_class"],
        datetime.date(2026, 1, 1),
        None if n % 2 else datetime.datetime(2026, 12, 31, 0, 0),
        1 + n % 5,
        1650.5 if n % 2 else 1200.0,  # Excel keeps every number as a double
        341221,
    ]


@pytest.fixture
def admin(app):
    user = UserFactory(admin=True)
    db.session.commit()
    return user


def names_stored() -> set[str]:
    return set(db.session.scalars(select(CivilAffairsRecord.person_name)))


# --- text encodings ----------------------------------------------------------------------------------------


def test_a_gbk_csv_with_chinese_names_imports(admin):
    rows = [civil_row(n) for n in range(6)]
    data = csv_text(rows).encode("gbk")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")

    result = import_feed("civil_affairs", data, "csv", admin)

    assert result.accepted, result.errors
    assert (result.read_as, result.encoding) == ("gb18030", "gb18030")
    assert (result.rows_total, result.inserted) == (6, 6)
    assert names_stored() == set(NAMES)
    # The same rows in UTF-8 are the same records: nothing changes.
    again = import_feed("civil_affairs", csv_text(rows).encode("utf-8"), "csv", admin)
    assert (again.read_as, again.unchanged, again.inserted, again.updated) == ("utf-8", 6, 0, 0)


def test_gb18030_beyond_gbk_is_read_too(admin):
    rows = [civil_row(0, name="䶮㐀")]  # CJK Extension A: in GB18030, not in GBK
    result = import_feed("civil_affairs", csv_text(rows).encode("gb18030"), "csv", admin)
    assert result.accepted, result.errors
    assert names_stored() == {"䶮㐀"}


@pytest.mark.parametrize("bom", [b"\xef\xbb\xbf", b"\x84\x31\x95\x33"], ids=["utf-8 bom", "gb18030 bom"])
def test_a_bom_does_not_hide_the_first_column(admin, bom):
    rows = [civil_row(n) for n in range(3)]
    encoding = "utf-8" if bom.startswith(b"\xef") else "gb18030"
    data = bom + csv_text(rows).encode(encoding)

    result = import_feed("civil_affairs", data, "csv", admin)

    assert result.accepted, result.errors  # source_record_id, the first column, was recognised
    assert result.read_as == encoding
    assert result.ignored_columns == ()
    stored = set(db.session.scalars(select(CivilAffairsRecord.source_record_id)))
    assert stored == {"MZ-0000", "MZ-0001", "MZ-0002"}


def test_a_file_in_neither_encoding_is_refused_naming_the_encodings_accepted(admin, client, login):
    data = csv_text([civil_row(0)]).encode("gbk") + b"\xff\xfe"
    result = import_feed("civil_affairs", data, "csv", admin)

    assert not result.accepted
    assert result.read_as is None
    [error] = result.errors
    assert (error.row, error.column, error.code) == (None, None, "encoding_unknown")
    assert "neither UTF-8 nor GB18030/GBK" in error.message
    assert "as an Excel workbook (.xlsx)" in error.message
    assert db.session.scalars(select(CivilAffairsRecord)).first() is None
    assert db.session.get(ImportBatch, result.batch_id).error_report[0]["code"] == "encoding_unknown"


def test_how_text_is_decoded():
    assert decode("表头".encode("gbk")) == ("表头", "gb18030")
    assert decode(b"\xef\xbb\xbfid") == ("id", "utf-8")
    assert decode("表头".encode()) == ("表头", "utf-8")
    # Valid UTF-8 cut inside its last character is a file cut short, not GB18030.
    with pytest.raises(FileFault) as cut:
        decode("名字".encode()[:-1])
    assert cut.value.code == "utf8_cut_short"
    # A file that says it is UTF-8 (its BOM) and is not is refused, not guessed at.
    with pytest.raises(FileFault) as lying:
        decode(b"\xef\xbb\xbf" + "名字".encode("gbk"))
    assert lying.value.code == "encoding_unknown"
    assert lying.value.params == {"byte": 3}


# --- Excel workbooks ---------------------------------------------------------------------------------------


def test_an_xlsx_imports_the_same_rows_as_the_equivalent_csv(admin):
    book = workbook([CIVIL_COLUMNS, *(typed_civil_row(n) for n in range(6))])

    result = import_feed("civil_affairs", book, "xlsx", admin, source_name="低保名单.xlsx")

    assert result.accepted, result.errors
    assert (result.read_as, result.encoding, result.file_format) == ("xlsx", None, "xlsx")
    assert (result.rows_total, result.inserted) == (6, 6)
    assert db.session.get(ImportBatch, result.batch_id).file_format == "xlsx"
    # The CSV of the same rows finds every record as the workbook left it: the values read are the same.
    same = import_feed(
        "civil_affairs", csv_text([civil_row(n) for n in range(6)]).encode("gbk"), "csv", admin
    )
    assert (same.inserted, same.updated, same.unchanged) == (0, 0, 6)
    record = db.session.scalar(
        select(CivilAffairsRecord).where(CivilAffairsRecord.source_record_id == "MZ-0001")
    )
    assert (record.valid_from, record.valid_to, record.monthly_household_income_fen) == (
        datetime.date(2026, 1, 1),
        None,
        165_050,
    )


def test_booleans_and_numbers_typed_by_excel(admin):
    header = ["source_record_id", "id_number", "name", "entitled", "pooling_region_code", "valid_from"]
    header += ["valid_to", "ytd_paid_yuan", "ytd_as_of"]
    book = workbook(
        [
            header,
            ["DB-1", person(1), "张伟", True, 341200, datetime.date(2026, 1, 1), None, 0, None],
            ["DB-2", person(2), "李娜", False, "341200", "2026-01-01", "2026-12-31", 12.3, "2026-01-31"],
        ]
    )
    result = import_feed("critical_illness", book, "xlsx", admin)
    assert result.accepted, result.errors
    stored = {r.source_record_id: r for r in db.session.scalars(select(CriticalIllnessRecord))}
    assert (stored["DB-1"].entitled, stored["DB-2"].entitled) == (True, False)
    assert (stored["DB-1"].pooling_region_code, stored["DB-2"].ytd_paid_fen) == ("341200", 1230)


def test_cells_become_the_text_a_csv_would_hold():
    assert cell_text(None) == ""
    assert cell_text(341221) == "341221"
    assert cell_text(341221.0) == "341221"
    assert cell_text(1650.5) == "1650.5"
    assert cell_text(True) == "true"
    assert cell_text(datetime.datetime(2026, 3, 31, 0, 0)) == "2026-03-31"
    assert cell_text(datetime.date(2026, 3, 31)) == "2026-03-31"
    assert cell_text(" 张伟 ") == " 张伟 "  # stripped by the column's rule, as a CSV value is


def test_worksheet_rows_keep_their_numbers_and_blank_rows_are_skipped(admin):
    book = workbook(
        [
            CIVIL_COLUMNS,
            typed_civil_row(0),
            [None] * len(CIVIL_COLUMNS),  # row 3: empty
            typed_civil_row(1),
            [*typed_civil_row(2)[:6], 0, *typed_civil_row(2)[7:]],  # row 5: a household of none
        ]
    )
    result = import_feed("civil_affairs", book, "xlsx", admin)
    assert not result.accepted
    assert [(e.row, e.column, e.code, e.value) for e in result.errors] == [
        (5, "household_size", "out_of_range", "0")
    ]
    assert result.rows_total == 3


def test_an_id_number_excel_turned_into_a_number_is_one_fault_that_says_so(admin):
    row = typed_civil_row(0)
    row[1] = float(row[1][:17] + "0")  # what Excel keeps of 18 digits typed into a General cell
    result = import_feed("civil_affairs", workbook([CIVIL_COLUMNS, row]), "xlsx", admin)
    assert [(e.row, e.column, e.code) for e in result.errors] == [(2, "id_number", "id_typed_as_number")]
    assert "format the column as text" in result.errors[0].message


def test_a_header_further_down_and_extra_cells_to_the_right(admin):
    rows = [[None], [*CIVIL_COLUMNS, None, "备注"], [*typed_civil_row(0), None, "ok"]]
    result = import_feed("civil_affairs", workbook(rows), "xlsx", admin)
    assert result.accepted, result.errors
    assert result.ignored_columns == ("备注",)


def test_what_is_not_a_readable_workbook_is_refused(admin, monkeypatch):
    def refused(data: bytes, fmt: str = "xlsx") -> RowError:
        result = import_feed("civil_affairs", data, fmt, admin)
        assert not result.accepted
        [error] = result.errors
        return error

    assert refused(b"PK\x03\x04 not really a zip").code == "not_workbook"
    assert refused(b"source_record_id,id_number\n").code == "not_workbook"  # called .xlsx, holds CSV
    old = refused(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "csv")  # an .xls, whatever it is called
    assert old.code == "old_workbook"
    assert "Excel 97-2003" in old.message
    no_sheet = io.BytesIO()
    with zipfile.ZipFile(no_sheet, "w") as archive:
        archive.writestr("hello.txt", "hi")
    assert refused(no_sheet.getvalue()).code == "not_workbook"
    assert refused(workbook([])).code == "sheet_empty"
    assert refused(workbook([["name", "name"], ["a", "b"]])).code == "header_duplicates"
    missing = refused(workbook([["source_record_id", "name"], ["MZ-1", "张伟"]]))
    assert missing.code == "missing_columns"
    monkeypatch.setattr(reading, "MAX_WORKBOOK_UNPACKED_BYTES", 1000)
    too_large = refused(workbook([CIVIL_COLUMNS, typed_civil_row(0)]))
    assert (too_large.code, too_large.params) == ("workbook_too_large", {"max_mb": 0})


def test_a_worksheet_past_excels_last_row_stops_there(admin, monkeypatch):
    monkeypatch.setattr(reading, "MAX_SHEET_ROWS", 3)
    book = workbook([CIVIL_COLUMNS, *(typed_civil_row(n) for n in range(4))])
    result = import_feed("civil_affairs", book, "xlsx", admin)
    assert [(e.row, e.code) for e in result.errors] == [(4, "past_sheet_end")]
    assert db.session.scalars(select(CivilAffairsRecord)).first() is None


# --- the page, the API and the command line -----------------------------------------------------------------


def upload(client, data: bytes, name: str, kind: str = "civil_affairs", fmt: str = ""):
    return client.post(
        "/staff/records",
        data={"kind": kind, "file_format": fmt, "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def test_the_page_takes_a_workbook_and_a_gbk_csv_and_says_how_it_read_them(app, client, login):
    login(UserFactory(officer=True, locale="en"))
    book = workbook([CIVIL_COLUMNS, typed_civil_row(0)])

    imported = upload(client, book, "低保.xlsx")
    assert imported.status_code == 200, imported.get_data(as_text=True)
    assert "the first worksheet of an Excel workbook" in imported.get_data(as_text=True)
    # Known by its content, whatever it is called.
    misnamed = upload(client, workbook([CIVIL_COLUMNS, typed_civil_row(1)]), "feed.csv")
    assert misnamed.status_code == 200
    gbk = upload(client, csv_text([civil_row(2)]).encode("gbk"), "feed.csv")
    assert gbk.status_code == 200
    assert "GB18030 (GBK) text" in gbk.get_data(as_text=True)
    assert names_stored() == {NAMES[0], NAMES[1], NAMES[2]}
    form = client.get("/staff/records").get_data(as_text=True)
    assert ".xlsx" in form
    assert 'value="xlsx"' in form


def bad_household() -> bytes:
    return workbook(
        [CIVIL_COLUMNS, typed_civil_row(0), [*typed_civil_row(1)[:6], 0, *typed_civil_row(1)[7:]]]
    )


def zh(error: dict[str, Any]) -> str:
    with force_locale("zh_CN"):
        return row_error_message(error)


ERROR = {"row": 3, "column": "household_size", "code": "out_of_range", "params": {"low": 1, "high": 50}}


def test_a_row_error_is_in_the_readers_language_on_the_page(app, client, login):
    english = "household_size is not between 1 and 50"
    chinese = zh(ERROR)
    assert re.search(r"[\u4e00-\u9fff]", chinese), f"no Chinese translation yet: {chinese!r}"
    assert "household_size" in chinese
    assert "50" in chinese

    login(UserFactory(officer=True, locale="zh_CN"))
    page = upload(client, bad_household(), "低保.xlsx")
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert chinese in html
    assert english not in html
    batch = db.session.scalar(select(ImportBatch).order_by(ImportBatch.id.desc()))
    report = client.get(f"/staff/records/batches/{batch.id}/errors.csv").get_data(as_text=True)
    assert f"3,household_size,0,{chinese}" in report

    client.post("/logout")
    login(UserFactory(officer=True, locale="en"))
    page = upload(client, bad_household(), "低保.xlsx")
    html = page.get_data(as_text=True)
    assert english in html
    assert chinese not in html
    assert "Rows are numbered as in the worksheet." in html


def test_a_file_level_fault_is_in_the_readers_language_too(app, client, login):
    login(UserFactory(officer=True, locale="zh_CN"))
    page = upload(client, b"source_record_id\n\xff\xfe\n", "feed.csv")
    assert page.status_code == 422
    chinese = zh({"code": "encoding_unknown", "params": {"byte": 17}})
    assert re.search(r"[\u4e00-\u9fff]", chinese)
    assert chinese in page.get_data(as_text=True)


def api_upload(client, token: str, data: bytes, name: str, **headers: str):
    return client.post(
        "/api/v1/records/imports",
        data={"kind": "civil_affairs", "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
        headers={"Authorization": f"Bearer {token}", **headers},
    )


def test_the_api_gives_code_params_and_the_message_in_the_callers_language(app, client):
    english_officer = UserFactory(officer=True, locale="en")
    chinese_officer = UserFactory(officer=True, locale="zh_CN")
    db.session.commit()

    refused = api_upload(client, create_token(english_officer, "t")[1], bad_household(), "低保.xlsx")

    assert refused.status_code == 422
    body = refused.get_json()
    assert body["read_as"] == "xlsx"
    assert body["row_errors"] == [
        {
            "row": 3,
            "column": "household_size",
            "value": "0",
            "code": "out_of_range",
            "params": {"low": 1, "high": 50},
            "message": "household_size is not between 1 and 50",
        }
    ]
    token = create_token(chinese_officer, "t")[1]
    batch = client.get(
        f"/api/v1/records/imports/{body['batch_id']}", headers={"Authorization": f"Bearer {token}"}
    )
    assert batch.status_code == 404  # another officer's batch
    in_chinese = api_upload(client, token, bad_household(), "低保.xlsx").get_json()
    [error] = in_chinese["row_errors"]
    assert (error["code"], error["params"]) == ("out_of_range", {"low": 1, "high": 50})
    assert error["message"] == zh(ERROR)
    again = client.get(
        f"/api/v1/records/imports/{in_chinese['batch_id']}", headers={"Authorization": f"Bearer {token}"}
    ).get_json()
    assert again["errors"][0]["message"] == zh(ERROR)

    accepted = api_upload(client, token, csv_text([civil_row(0)]).encode("gbk"), "feed.csv")
    assert accepted.status_code == 201, accepted.get_data(as_text=True)
    assert accepted.get_json()["read_as"] == "gb18030"


def test_a_report_stored_before_faults_had_codes_reads_as_it_was(app, client, login):
    admin = login(UserFactory(admin=True, locale="zh_CN"))
    old = {"row": 2, "column": "valid_from", "value": "soon", "message": "valid_from is not a date"}
    batch = ImportBatch(
        kind="civil_affairs",
        source_name="old.csv",
        file_format="csv",
        file_sha256="0" * 64,
        status=ImportStatus.REJECTED,
        rows_total=1,
        rows_rejected=1,
        error_report=[old],
        actor_id=admin.id,
        started_at=datetime.datetime.now(datetime.UTC),
    )
    db.session.add(batch)
    db.session.commit()

    assert row_error_message(old) == "valid_from is not a date"
    assert "2,valid_from,soon,valid_from is not a date" in error_report_csv(batch)
    token = create_token(admin, "t")[1]
    body = client.get(f"/api/v1/records/imports/{batch.id}", headers={"Authorization": f"Bearer {token}"})
    assert body.get_json()["errors"] == [{**old, "code": None, "params": {}}]


def test_the_command_line_imports_a_workbook_and_says_the_same_as_the_page(app, runner, tmp_path: Path):
    app.instance_path = str(tmp_path / "instance")
    book = tmp_path / "低保.xlsx"
    book.write_bytes(workbook([CIVIL_COLUMNS, *(typed_civil_row(n) for n in range(3))]))

    imported = runner.invoke(args=["records", "import", str(book), "--kind", "civil_affairs"])

    assert imported.exit_code == 0, imported.output
    assert "read as: the first worksheet of an Excel workbook" in imported.output
    assert "3 rows, 3 inserted" in imported.output

    book.write_bytes(bad_household())
    refused = runner.invoke(args=["records", "import", str(book), "--kind", "civil_affairs"])
    assert refused.exit_code == 1
    assert "row 3: household_size is not between 1 and 50 [0]" in refused.output
    gbk = tmp_path / "mz.txt"
    gbk.write_bytes(csv_text([civil_row(4)]).encode("gbk"))
    unnamed = runner.invoke(args=["records", "import", str(gbk), "--kind", "civil_affairs"])
    assert unnamed.exit_code == 2
    assert "--format xlsx" in unnamed.output
    named = runner.invoke(args=["records", "import", str(gbk), "--kind", "civil_affairs", "--format", "csv"])
    assert named.exit_code == 0, named.output
    assert "read as: GB18030 (GBK) text" in named.output


# --- one wording of every fault ----------------------------------------------------------------------------


def _sample(code: str) -> dict[str, str | int]:
    names = {name for _, name, _, _ in string.Formatter().parse(FAULTS[code]) if name}
    params: dict[str, str | int] = {name: 7 for name in names}
    if code == "id_invalid":
        params = {"rule": "check_digit"}
    return params


def test_every_fault_has_a_translatable_text_that_says_what_the_english_says(app):
    assert set(ROW_ERROR_TEXTS) | {"more_faults"} == set(FAULTS)
    with force_locale("en"):
        for code, text in ROW_ERROR_TEXTS.items():
            source = str(text)
            row, column = (None, None)
            if source.startswith("%(column)s"):
                row, column = 2, "household_size"
            elif source.startswith("row "):
                row = 2
            error = RowError(row, column, "", code, _sample(code))
            assert row_error_message(error.as_dict()) == error.message, code
        for rule in ID_RULE_TEXTS:
            params: dict[str, str | int] = {"rule": rule, "length": 17}
            error = RowError(2, "id_number", "", "id_invalid", params)
            assert row_error_message(error.as_dict()) == error.message, rule
        for count in (1, 5):
            error = RowError(None, None, "", "more_faults", {"count": count})
            assert row_error_message(error.as_dict()) == error.message

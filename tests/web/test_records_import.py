"""Records feeds: valid files import and re-import idempotently; any faulty row rejects the whole file with
a row-level report and writes nothing; officers are held to their jurisdiction; the CLI's exit codes."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from fundraise import pii
from fundraise.errors import Forbidden, ValidationFailed
from fundraise.extensions import db
from fundraise.models import (
    AuditEvent,
    BasicEnrolmentRecord,
    CivilAffairsRecord,
    CriticalIllnessRecord,
    ImportBatch,
    ImportStatus,
)
from fundraise.records.feeds import COLUMNS
from fundraise.records.writer import RecordWriter
from fundraise.services import records_import
from fundraise.services.records_import import error_report_csv, import_feed
from tests.factories import UserFactory
from verification.identity import make_resident_id

CIVIL_HEADER = [
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


def person(n: int, region: str = "341221") -> str:
    return make_resident_id(region, date(1970 + n % 50, 1 + n % 12, 1 + n % 28), "MF"[n % 2], n % 100)


def civil_row(n: int, **changes: str) -> dict[str, str]:
    row = {
        "source_record_id": f"MZ-{n:05d}",
        "id_number": person(n),
        "name": f"居民{n}",
        "assistance_class": ["tekun", "dibao", "dibao_edge", "monitored", "illness_impoverished"][n % 5],
        "valid_from": "2026-01-01",
        "valid_to": "" if n % 2 else "2026-12-31",
        "household_size": str(1 + n % 6),
        "monthly_household_income_yuan": f"{800 + n}.50",
        "region_code": "341221",
    }
    row.update(changes)
    return row


def to_csv(rows: list[dict[str, str]], header: list[str] | None = None) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=header or list(rows[0]), lineterminator="\n", extrasaction="ignore"
    )
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def record_count(model: type) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def admin(app):
    user = UserFactory(admin=True)
    db.session.commit()
    return user


@pytest.fixture
def officer(app):
    user = UserFactory(officer=True)  # jurisdiction 341200, Fuyang
    db.session.commit()
    return user


# --- valid feeds -----------------------------------------------------------------------------------------


def test_civil_affairs_csv_imports_with_ids_encrypted_and_indexed(admin):
    rows = [civil_row(n) for n in range(6)]
    result = import_feed("civil_affairs", to_csv(rows), "csv", admin, source_name="mz.csv")

    assert result.accepted
    assert (result.rows_total, result.inserted, result.updated, result.unchanged) == (6, 6, 0, 0)
    assert result.affected_person_indexes == {pii.blind_index(row["id_number"]) for row in rows}
    stored = db.session.scalar(
        select(CivilAffairsRecord).where(CivilAffairsRecord.source_record_id == "MZ-00003")
    )
    assert stored is not None
    assert stored.person_index == pii.blind_index(rows[3]["id_number"])
    assert pii.decrypt_id(stored.person_id_ciphertext) == rows[3]["id_number"]
    assert rows[3]["id_number"].encode() not in stored.person_id_ciphertext
    assert stored.assistance_class == "monitored"
    assert stored.valid_to is None
    assert stored.monthly_household_income_fen == 80_350
    assert stored.ytd_assistance_paid_fen == 0  # the optional column was absent
    assert stored.household_size == 4

    batch = db.session.get(ImportBatch, result.batch_id)
    assert batch.status == ImportStatus.IMPORTED
    assert (batch.rows_total, batch.rows_inserted, batch.source_name, batch.actor_id) == (
        6,
        6,
        "mz.csv",
        admin.id,
    )
    assert batch.finished_at is not None
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.object_type == "import_batch"))
    assert event.action == "records.import"
    assert event.object_id == str(batch.id)
    assert event.after["rows_inserted"] == 6


def test_json_feeds_as_a_list_or_under_records(admin):
    number = person(7)
    enrolments = [
        {
            "source_record_id": "YB-1",
            "id_number": number,
            "name": "张三",
            "scheme": "resident",
            "pooling_region_code": "341200",
            "valid_from": "2026-01-01",
            "valid_to": None,
            "year": 2026,
            "ytd_reimbursed_yuan": 12345.67,
            "note": "extra fields are ignored",
        }
    ]
    result = import_feed("basic_enrolment", json.dumps(enrolments).encode(), "json", admin)
    assert result.accepted
    assert result.inserted == 1
    assert result.ignored_columns == ("note",)
    enrolment = db.session.scalar(select(BasicEnrolmentRecord))
    assert (enrolment.scheme, enrolment.year, enrolment.ytd_reimbursed_fen) == ("resident", 2026, 1_234_567)

    entitlements = {
        "records": [
            {
                "source_record_id": "DB-1",
                "id_number": number.lower(),  # a lower-case x is the same number
                "name": "张三",
                "entitled": True,
                "pooling_region_code": "341200",
                "valid_from": "2026-01-01",
                "valid_to": "2026-12-31",
                "ytd_paid_yuan": "0",
            }
        ]
    }
    result = import_feed("critical_illness", json.dumps(entitlements).encode(), "json", admin)
    assert result.accepted
    assert result.inserted == 1
    entitlement = db.session.scalar(select(CriticalIllnessRecord))
    assert entitlement.entitled is True
    assert entitlement.person_index == enrolment.person_index


def test_spreadsheet_exports_are_read_bom_crlf_and_blank_lines_included(admin):
    data = b"\xef\xbb\xbf" + to_csv([civil_row(n) for n in range(3)]).replace(b"\n", b"\r\n") + b"\r\n\r\n"
    result = import_feed("civil_affairs", data, "csv", admin)
    assert result.accepted
    assert (result.rows_total, result.inserted) == (3, 3)

    header_only = import_feed("civil_affairs", ",".join(CIVIL_HEADER).encode(), "csv", admin)
    assert header_only.accepted
    assert header_only.rows_total == 0

    empty = import_feed("civil_affairs", b"", "csv", admin)
    assert not empty.accepted
    assert "the file is empty" in empty.errors[0].message


def test_the_same_file_twice_changes_nothing(admin):
    data = to_csv([civil_row(n) for n in range(5)])
    first = import_feed("civil_affairs", data, "csv", admin)
    again = import_feed("civil_affairs", data, "csv", admin)

    assert again.accepted
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 5)
    assert again.affected_person_indexes == frozenset()
    assert record_count(CivilAffairsRecord) == 5
    # Every record still belongs to the batch that wrote it.
    assert set(db.session.scalars(select(CivilAffairsRecord.batch_id))) == {first.batch_id}
    assert record_count(ImportBatch) == 2


def test_a_changed_row_updates_only_that_record(admin):
    rows = [civil_row(n) for n in range(5)]
    first = import_feed("civil_affairs", to_csv(rows), "csv", admin)
    rows[2] = civil_row(2, assistance_class="tekun", monthly_household_income_yuan="0")
    second = import_feed("civil_affairs", to_csv(rows), "csv", admin)

    assert (second.inserted, second.updated, second.unchanged) == (0, 1, 4)
    assert second.affected_person_indexes == {pii.blind_index(rows[2]["id_number"])}
    changed = db.session.scalar(
        select(CivilAffairsRecord).where(CivilAffairsRecord.source_record_id == "MZ-00002")
    )
    assert (changed.assistance_class, changed.monthly_household_income_fen) == ("tekun", 0)
    query = select(CivilAffairsRecord.source_record_id, CivilAffairsRecord.batch_id)
    batches = {source_id: batch_id for source_id, batch_id in db.session.execute(query)}
    assert batches.pop("MZ-00002") == second.batch_id
    assert set(batches.values()) == {first.batch_id}


def test_a_record_moved_to_another_person_affects_both(admin):
    rows = [civil_row(1)]
    import_feed("civil_affairs", to_csv(rows), "csv", admin)
    moved = import_feed("civil_affairs", to_csv([civil_row(1, id_number=person(2))]), "csv", admin)
    assert moved.updated == 1
    assert moved.affected_person_indexes == {pii.blind_index(person(1)), pii.blind_index(person(2))}


def test_after_import_is_called_with_the_affected_persons(admin, monkeypatch):
    calls = []
    monkeypatch.setattr(records_import, "after_import", calls.append)
    result = import_feed("civil_affairs", to_csv([civil_row(1)]), "csv", admin)
    assert calls == [result.affected_person_indexes]
    import_feed("civil_affairs", to_csv([civil_row(1, valid_from="never")]), "csv", admin)
    assert len(calls) == 1  # not after a rejected file


# --- faulty feeds ----------------------------------------------------------------------------------------


def _truncated_csv() -> bytes:
    data = to_csv([civil_row(n) for n in range(4)])
    return data[: data.rindex(b",2026-")]  # cut inside the last row


MALFORMED = {
    "missing column": (
        lambda: to_csv([civil_row(n) for n in range(3)], [c for c in CIVIL_HEADER if c != "household_size"]),
        None,
        None,
        "lacks required columns: household_size",
    ),
    "bad date": (
        lambda: to_csv([civil_row(0), civil_row(1, valid_from="2026-02-30"), civil_row(2)]),
        2,
        "valid_from",
        "valid_from is not a date",
    ),
    "valid_to before valid_from": (
        lambda: to_csv([civil_row(0, valid_to="2025-12-31")]),
        1,
        "valid_to",
        "is before valid_from",
    ),
    "unknown class": (
        lambda: to_csv([civil_row(0), civil_row(1), civil_row(2, assistance_class="wubao")]),
        3,
        "assistance_class",
        "assistance_class is not one of",
    ),
    "bad check digit": (
        lambda: to_csv([civil_row(0, id_number=person(0)[:17] + ("0" if person(0)[17] != "0" else "1"))]),
        1,
        "id_number",
        "does not match the rest of the number",
    ),
    "duplicate ids": (
        lambda: to_csv([civil_row(0), civil_row(1), civil_row(2, source_record_id="MZ-00000")]),
        3,
        "source_record_id",
        "source_record_id repeats row 1",
    ),
    "truncated file": (_truncated_csv, 4, None, "too few for the 9 columns"),
    "negative amount": (
        lambda: to_csv([civil_row(0, monthly_household_income_yuan="-10")]),
        1,
        "monthly_household_income_yuan",
        "is negative",
    ),
    "non-numeric amount": (
        lambda: to_csv([civil_row(0, monthly_household_income_yuan="about 900")]),
        1,
        "monthly_household_income_yuan",
        "is not an amount in yuan",
    ),
    "bad household size": (
        lambda: to_csv([civil_row(0, household_size="0")]),
        1,
        "household_size",
        "is not between 1 and 50",
    ),
    "cut inside a quoted value": (
        lambda: to_csv([civil_row(0)]) + b'MZ-9,"' + person(9).encode() + b",\xe5\xbc\xa0",
        2,
        None,
        "cut short",
    ),
    # GBK is read (tests/verification/test_import_formats.py); a byte neither UTF-8 nor GB18030 has is not.
    "neither utf-8 nor gb18030": (
        lambda: to_csv([civil_row(0)]).replace("居民".encode(), b"\xff"),
        None,
        None,
        "neither UTF-8 nor GB18030/GBK",
    ),
}


@pytest.mark.parametrize("case", MALFORMED, ids=list(MALFORMED))
def test_a_malformed_feed_is_rejected_with_a_row_level_report_and_writes_nothing(admin, case):
    make_data, row, column, message = MALFORMED[case]
    import_feed("civil_affairs", to_csv([civil_row(50)]), "csv", admin)  # stored before, must survive

    result = import_feed("civil_affairs", make_data(), "csv", admin, source_name="bad.csv")

    assert not result.accepted
    assert result.status == ImportStatus.REJECTED
    assert (result.inserted, result.updated, result.unchanged) == (0, 0, 0)
    assert result.affected_person_indexes == frozenset()
    matching = [e for e in result.errors if message in e.message]
    assert matching, result.errors
    assert (matching[0].row, matching[0].column) == (row, column)
    assert set(db.session.scalars(select(CivilAffairsRecord.source_record_id))) == {"MZ-00050"}

    batch = db.session.get(ImportBatch, result.batch_id)
    assert batch.status == ImportStatus.REJECTED
    assert batch.rows_rejected == (0 if row is None else 1)
    assert batch.error_report[0]["row"] == matching[0].row
    report = list(csv.DictReader(io.StringIO(error_report_csv(batch))))
    assert any(message in line["message"] for line in report)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "records.import_rejected"))
    assert event.object_id == str(batch.id)


def test_id_numbers_are_masked_in_the_report(admin):
    good_but_other = person(3)
    bad = person(4)[:17] + ("0" if person(4)[17] != "0" else "1")
    data = to_csv([civil_row(3, id_number=good_but_other, valid_from="soon"), civil_row(4, id_number=bad)])
    result = import_feed("civil_affairs", data, "csv", admin)

    id_error = next(e for e in result.errors if e.column == "id_number")
    assert id_error.value == bad[:4] + "*" * 10 + bad[-4:]
    report = error_report_csv(db.session.get(ImportBatch, result.batch_id))
    assert bad not in report
    assert good_but_other not in report
    assert bad[:4] + "**********" + bad[-4:] in report


def test_every_faulty_row_is_reported_not_only_the_first(admin):
    rows = [civil_row(n) for n in range(6)]
    rows[1]["valid_from"] = "yesterday"
    rows[4]["assistance_class"] = "other"
    rows[4]["household_size"] = "many"
    result = import_feed("civil_affairs", to_csv(rows), "csv", admin)
    assert sorted({(e.row, e.column) for e in result.errors}) == [
        (2, "valid_from"),
        (5, "assistance_class"),
        (5, "household_size"),
    ]
    assert result.rejected == 2
    assert result.rows_total == 6


def test_a_fault_after_rows_already_written_rolls_them_all_back(admin, monkeypatch):
    # Rows 1-6 are written before row 7 is read.
    monkeypatch.setattr(records_import, "CHUNK_ROWS", 2)
    monkeypatch.setattr(records_import, "POSTGRESQL_CHUNK_ROWS", 2)
    rows = [civil_row(n) for n in range(8)]
    rows[6]["valid_to"] = "2026-13-01"
    result = import_feed("civil_affairs", to_csv(rows), "csv", admin)
    assert not result.accepted
    assert record_count(CivilAffairsRecord) == 0
    assert [b.status for b in db.session.scalars(select(ImportBatch))] == ["rejected"]


def test_a_failing_write_raises_and_leaves_nothing_behind(admin, monkeypatch):
    monkeypatch.setattr(records_import, "CHUNK_ROWS", 2)
    monkeypatch.setattr(records_import, "POSTGRESQL_CHUNK_ROWS", 2)
    real_write = RecordWriter._write
    writes = []

    def write_then_fail(self, chunk):
        writes.append(len(chunk))
        if len(writes) == 2:
            raise RuntimeError("disk full")
        real_write(self, chunk)

    monkeypatch.setattr(RecordWriter, "_write", write_then_fail)
    with pytest.raises(RuntimeError, match="disk full"):
        import_feed("civil_affairs", to_csv([civil_row(n) for n in range(8)]), "csv", admin)
    assert record_count(CivilAffairsRecord) == 0
    assert record_count(ImportBatch) == 0
    monkeypatch.undo()
    assert import_feed("civil_affairs", to_csv([civil_row(1)]), "csv", admin).inserted == 1


def test_malformed_json_is_rejected(admin):
    rows = [civil_row(n) for n in range(3)]
    text = json.dumps(rows)
    result = import_feed("civil_affairs", text[: len(text) // 2].encode(), "json", admin)
    assert not result.accepted
    assert result.errors[0].row is None
    assert "not valid JSON" in result.errors[0].message

    del rows[1]["region_code"]
    rows[2] = "not an object"  # type: ignore[call-overload]
    result = import_feed("civil_affairs", json.dumps({"records": rows}).encode(), "json", admin)
    assert [(e.row, e.column) for e in result.errors] == [(2, "region_code"), (3, None)]

    result = import_feed("civil_affairs", b'{"rows": []}', "json", admin)
    assert "expected a JSON list" in result.errors[0].message
    assert record_count(CivilAffairsRecord) == 0


def test_report_cells_cannot_become_spreadsheet_formulas(admin):
    result = import_feed(
        "civil_affairs", to_csv([civil_row(0, name="=HYPERLINK(1)", valid_from="=1+1")]), "csv", admin
    )
    report = error_report_csv(db.session.get(ImportBatch, result.batch_id))
    assert "'=1+1" in report
    assert ",=1+1" not in report


def test_unknown_kind_or_format_is_refused(admin):
    with pytest.raises(ValidationFailed):
        import_feed("tax_records", b"", "csv", admin)
    with pytest.raises(ValidationFailed):
        import_feed("civil_affairs", b"", "xls", admin)


# --- who may import --------------------------------------------------------------------------------------


def test_an_officer_imports_within_their_jurisdiction_only(officer):
    inside = import_feed(
        "civil_affairs", to_csv([civil_row(0), civil_row(1, region_code="341203")]), "csv", officer
    )
    assert inside.accepted
    assert inside.inserted == 2

    outside = import_feed(
        "civil_affairs", to_csv([civil_row(2), civil_row(3, region_code="340104")]), "csv", officer
    )
    assert not outside.accepted
    assert [(e.row, e.column, e.value) for e in outside.errors] == [(2, "region_code", "340104")]
    assert "outside your jurisdiction (3412)" in outside.errors[0].message
    assert record_count(CivilAffairsRecord) == 2

    enrolment = {
        "source_record_id": "YB-9",
        "id_number": person(9),
        "name": "李四",
        "scheme": "employee",
        "pooling_region_code": "340100",
        "valid_from": "2026-01-01",
        "valid_to": "",
        "year": "2026",
        "ytd_reimbursed_yuan": "0",
    }
    insurance = import_feed("basic_enrolment", to_csv([enrolment]), "csv", officer)
    assert [e.column for e in insurance.errors] == ["pooling_region_code"]


def test_an_officer_cannot_overwrite_another_regions_record_with_the_same_source_id(admin, officer):
    """The probe: Fuyang's officer sent the id of a Gansu record with a Fuyang region code. The Gansu record
    must stay as it was; the row is a new Fuyang record (ids are unique per issuing region)."""
    gansu_person = make_resident_id("621121", date(2015, 2, 18), "M", 11)
    gansu = civil_row(
        7,
        source_record_id="DEMO-MZ-003",
        id_number=gansu_person,
        region_code="621121",
        assistance_class="dibao",
    )
    assert import_feed("civil_affairs", to_csv([gansu]), "csv", admin).inserted == 1
    before = db.session.scalar(select(CivilAffairsRecord).where(CivilAffairsRecord.region_code == "621121"))
    assert before is not None
    snapshot = (before.assistance_class, before.monthly_household_income_fen, before.content_hash)

    probe = dict(gansu, name="李明轩", assistance_class="tekun", valid_from="2020-01-01", valid_to="")
    probe.update(household_size="6", monthly_household_income_yuan="100", region_code="341221")
    result = import_feed("civil_affairs", to_csv([probe]), "csv", officer)
    assert result.accepted
    assert (result.inserted, result.updated) == (1, 0)

    db.session.expire_all()
    after = db.session.get(CivilAffairsRecord, before.id)
    assert (after.assistance_class, after.monthly_household_income_fen, after.content_hash) == snapshot
    assert after.region_code == "621121"
    # The Gansu record's person is not re-verified because of the Fuyang row's own record: it is another one.
    assert record_count(CivilAffairsRecord) == 2

    # Gansu's own feed still updates its record by the same id.
    changed = import_feed("civil_affairs", to_csv([dict(gansu, household_size="5")]), "csv", admin)
    assert (changed.inserted, changed.updated) == (0, 1)


def test_one_file_may_not_reuse_a_source_id_even_across_regions(admin):
    rows = [
        civil_row(1, source_record_id="SAME"),
        civil_row(2, source_record_id="SAME", region_code="341203"),
    ]
    result = import_feed("civil_affairs", to_csv(rows), "csv", admin)
    assert not result.accepted
    assert result.errors[0].column == "source_record_id"


@pytest.mark.parametrize("role", ["family", "donor", "social_worker", "charity_staff"])
def test_other_roles_may_not_import(app, role):
    from tests.factories import user_of_role

    user = user_of_role(role)
    db.session.commit()
    with pytest.raises(Forbidden):
        import_feed("civil_affairs", to_csv([civil_row(0)]), "csv", user)
    assert record_count(ImportBatch) == 0


def test_officers_see_only_their_own_batches(admin, officer):
    import_feed("civil_affairs", to_csv([civil_row(0)]), "csv", admin)
    mine = import_feed("civil_affairs", to_csv([civil_row(1)]), "csv", officer)
    assert [b.id for b in records_import.recent_batches(officer)] == [mine.batch_id]
    assert len(records_import.recent_batches(admin)) == 2


# --- the contract as documented --------------------------------------------------------------------------


def test_the_documented_columns_are_the_columns_read():
    doc = records_import.__doc__ or ""
    for kind, columns in COLUMNS.items():
        assert f"``{kind.value}``" in doc
        for column in columns:
            assert column.name in doc, (kind, column.name)


# --- the command line ------------------------------------------------------------------------------------


def test_cli_imports_and_exits_0(app, runner, tmp_path: Path, admin):
    feed = tmp_path / "mz.csv"
    feed.write_bytes(to_csv([civil_row(n) for n in range(3)]))
    result = runner.invoke(
        args=["records", "import", str(feed), "--kind", "civil_affairs", "--as", admin.email]
    )
    assert result.exit_code == 0, result.output
    assert "3 rows, 3 inserted, 0 updated, 0 unchanged" in result.output

    again = runner.invoke(args=["records", "import", str(feed), "--kind", "civil_affairs"])
    assert again.exit_code == 0, again.output
    assert "0 inserted, 0 updated, 3 unchanged" in again.output

    listing = runner.invoke(args=["records", "batches"])
    assert listing.exit_code == 0
    assert listing.output.count("civil_affairs") == 2
    assert "mz.csv" in listing.output


def test_cli_exits_1_and_writes_the_report_when_rejected(app, runner, tmp_path: Path):
    app.instance_path = str(tmp_path / "instance")
    feed = tmp_path / "mz.json"
    feed.write_text(json.dumps([civil_row(0, assistance_class="nobody")]))
    result = runner.invoke(args=["records", "import", str(feed), "--kind", "civil_affairs"])
    assert result.exit_code == 1, result.output
    assert "REJECTED" in result.output
    assert "row 1: assistance_class is not one of" in result.output
    report = Path(result.output.split("error report: ")[1].strip())
    assert report.is_file()
    assert report.parent.parent == tmp_path / "instance"
    assert "assistance_class" in report.read_text(encoding="utf-8-sig")
    assert record_count(CivilAffairsRecord) == 0


def test_cli_refuses_an_unknown_account_or_a_forbidden_one(app, runner, tmp_path: Path):
    feed = tmp_path / "mz.csv"
    feed.write_bytes(to_csv([civil_row(0)]))
    unknown = runner.invoke(
        args=["records", "import", str(feed), "--kind", "civil_affairs", "--as", "x@y.cn"]
    )
    assert unknown.exit_code == 1
    assert "no account" in unknown.output
    family = UserFactory()
    db.session.commit()
    refused = runner.invoke(
        args=["records", "import", str(feed), "--kind", "civil_affairs", "--as", family.email]
    )
    assert refused.exit_code == 1
    assert "Only civil-affairs officers" in refused.output

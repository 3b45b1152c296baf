"""Backups that restore (issue 10, part 7): `flask backup drill` dumps the test database, restores it into a
scratch database, finds the same rows there and runs `flask audit verify` and `flask ledger check` on it; a
dump that does not restore fails naming the step and leaves no scratch database behind.

The drill runs pg_dump, pg_restore and two `flask` commands in other processes, so the seeded rows are
committed (the `app` fixture empties the tables afterwards). Skipped (with the reason) unless TEST_DATABASE_URL
and REDIS_URL are set; an error under REQUIRE_SERVICES=1 (see tests/conftest.py).
"""

from __future__ import annotations

import random
import re
import sqlite3
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select, text

from fundraise import create_app
from fundraise.cli.backup import DRILL_PREFIX, KEY_TABLES
from fundraise.extensions import db
from fundraise.models import AuditEvent, Campaign, Donation, LedgerEntry, LedgerTransaction
from fundraise.payments import get_provider
from fundraise.services import donations as service
from tests.factories import CampaignFactory

MODELS = {
    "audit_events": AuditEvent,
    "ledger_transactions": LedgerTransaction,
    "ledger_entries": LedgerEntry,
    "donations": Donation,
    "campaigns": Campaign,
}


def drill_databases() -> set[str]:
    query = text("SELECT datname FROM pg_database WHERE starts_with(datname, :prefix)")
    names = set(db.session.scalars(query, {"prefix": DRILL_PREFIX}))
    db.session.rollback()  # no transaction left open beside the drill's processes
    return names


def scratch_name(output: str) -> str:
    match = re.search(rf"create scratch database: ({DRILL_PREFIX}\w+)", output)
    assert match, output
    return match.group(1)


@pytest.mark.services
def test_the_drill_restores_the_database_and_its_checks_pass(app: Flask) -> None:
    campaign = CampaignFactory(state="fundraising", target_fen=1_000_000)
    db.session.commit()
    for amount in (10_000, 2_500):
        donation, _url = service.start_donation(campaign, None, amount, receipt_email="d@example.cn")
        get_provider().pay(donation.provider_payment_id)
        db.session.commit()
    counts = {
        name: db.session.scalar(select(func.count()).select_from(model)) for name, model in MODELS.items()
    }
    assert set(counts) == set(KEY_TABLES)
    assert counts["donations"] == 2
    assert counts["ledger_transactions"] >= 2
    assert counts["audit_events"] > 0
    before = drill_databases()

    result = app.test_cli_runner().invoke(args=["backup", "drill"])

    assert result.exit_code == 0, result.output
    for step in ("dump", "restore", "flask audit verify", "flask ledger check", "drop scratch database"):
        assert f"[ok] {step}:" in result.output
    assert f"[ok] compare row counts: all {len(KEY_TABLES)} tables match" in result.output
    for name, count in counts.items():
        assert re.search(rf"^\s+{name}\s+{count}\s+{count}$", result.output, re.MULTILINE), (
            name,
            result.output,
        )
    assert "drill passed" in result.output
    assert "[FAILED]" not in result.output
    assert scratch_name(result.output) not in drill_databases()
    assert drill_databases() == before


@pytest.mark.services
def test_a_dump_that_does_not_restore_fails_at_the_restore_and_leaves_nothing(
    app: Flask, tmp_path: Path
) -> None:
    garbage = tmp_path / "garbage.dump"
    garbage.write_bytes(random.Random(7).randbytes(64 * 1024))
    before = drill_databases()

    result = app.test_cli_runner().invoke(args=["backup", "drill", "--from", str(garbage)])

    assert result.exit_code == 1, result.output
    assert "[FAILED] restore: pg_restore exited 1:" in result.output
    assert "not appear to be a valid archive" in result.output
    assert "drill FAILED at: restore" in result.output.splitlines()[-1]
    assert "flask audit verify" not in result.output  # nothing is checked when nothing was restored
    assert "[ok] drop scratch database:" in result.output
    assert scratch_name(result.output) not in drill_databases()
    assert drill_databases() == before


def test_on_sqlite_dump_copies_the_file_and_the_drill_says_it_is_for_postgresql(tmp_path: Path) -> None:
    source = tmp_path / "demo.sqlite3"
    with sqlite3.connect(source) as connection:
        connection.execute("CREATE TABLE gifts (fen INTEGER)")
        connection.executemany("INSERT INTO gifts VALUES (?)", [(100,), (250,)])
    connection.close()
    app = create_app({"ENV_NAME": "testing", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{source}"})
    copy = tmp_path / "backup.sqlite3"

    dumped = app.test_cli_runner().invoke(args=["backup", "dump", str(copy)])
    drilled = app.test_cli_runner().invoke(args=["backup", "drill"])

    assert dumped.exit_code == 0, dumped.output
    assert "SQLite online backup" in dumped.output
    with sqlite3.connect(copy) as connection:
        assert connection.execute("SELECT sum(fen) FROM gifts").fetchone() == (350,)
    connection.close()
    assert not copy.with_name(copy.name + ".partial").exists()
    assert drilled.exit_code == 1
    assert "the restore drill is for PostgreSQL" in drilled.output

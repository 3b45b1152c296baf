"""`flask records`: import insurance and civil-affairs feeds, list import batches, write error reports.

The feed formats are in fundraise/services/records_import.py (and the README).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from sqlalchemy import func, select

from fundraise import records_text
from fundraise.errors import DomainError
from fundraise.extensions import db
from fundraise.jobs.outbox import relay
from fundraise.models import ImportBatch, RecordKind, User
from fundraise.records.reading import declared_sheet_rows
from fundraise.services import records_import

# Rejected faults echoed to the terminal; the full list is in the report file.
_SHOWN_ERRORS = 10


@click.group()
def records() -> None:
    """Insurance and civil-affairs records."""


def _report_path(batch: ImportBatch) -> Path:
    return Path(current_app.instance_path) / "import-reports" / f"batch-{batch.id}-errors.csv"


def _write_report(batch: ImportBatch, path: Path | None = None) -> Path:
    path = path or _report_path(batch)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(records_import.error_report_csv(batch), encoding="utf-8-sig")
    return path


def _actor(email: str | None) -> User | None:
    if email is None:
        return None
    user: User | None = db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if user is None:
        raise click.ClickException(f"no account with the email {email}")
    return user


def _expected_rows(data: bytes, fmt: str) -> int:
    """The bar's length: data lines of a CSV, objects naming a source_record_id in JSON, a workbook's rows
    as its first worksheet declares them (good guesses)."""
    if fmt == "json":
        return data.count(b'"source_record_id"')
    if fmt == "xlsx":
        return max(declared_sheet_rows(data) - 1, 0)
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    return max(lines - 1, 0)


@records.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--kind", required=True, type=click.Choice([kind.value for kind in RecordKind]))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(records_import.FORMATS),
    help="csv, json or xlsx; by default taken from the file's extension (a workbook is known by its content).",
)
@click.option("--as", "email", help="Import as this account (an officer is held to their jurisdiction).")
def import_command(file: Path, kind: str, fmt: str | None, email: str | None) -> None:
    """Import a records FILE; exit 1, with an error report, if any row is faulty (nothing is imported)."""
    data = file.read_bytes()
    fmt = records_import.feed_format(file.name, fmt, data)
    if fmt is None:
        raise click.UsageError(
            "cannot tell the format from the file name; pass --format csv, --format json or --format xlsx"
        )
    actor = _actor(email)
    done = 0
    with click.progressbar(
        length=_expected_rows(data, fmt), label=f"Importing {file.name}", file=sys.stderr
    ) as bar:

        def progress(rows: int) -> None:
            nonlocal done
            bar.update(rows - done)
            done = rows

        try:
            result = records_import.import_feed(
                kind, data, fmt, actor, source_name=file.name, progress=progress
            )
        except DomainError as error:
            raise click.ClickException(error.message) from error

    if result.ignored_columns:
        click.echo(f"ignored columns: {', '.join(result.ignored_columns)}")
    if result.read_as:
        click.echo(f"read as: {records_text.read_as(result.read_as)}")
    if result.accepted:
        click.echo(
            f"imported {result.kind} from {file.name} (batch {result.batch_id}): {result.rows_total} rows,"
            f" {result.inserted} inserted, {result.updated} updated, {result.unchanged} unchanged;"
            f" {len(result.affected_person_indexes)} persons affected"
        )
        # Re-verification of their active campaigns was queued; run it (inline) or hand it to the workers.
        relay()
        return
    batch = db.session.get(ImportBatch, result.batch_id)
    assert batch is not None
    path = _write_report(batch)
    click.echo(
        f"REJECTED {file.name} (batch {result.batch_id}): {result.rejected} of {result.rows_total} rows faulty"
        f"{', and file-level faults' if any(e.row is None for e in result.errors) else ''}; nothing was imported.",
        err=True,
    )
    for fault in result.errors[:_SHOWN_ERRORS]:
        where = "file" if fault.row is None else f"row {fault.row}"
        value = f" [{fault.value}]" if fault.value else ""
        click.echo(f"  {where}: {records_text.row_error_message(fault.as_dict())}{value}", err=True)
    if len(result.errors) > _SHOWN_ERRORS:
        click.echo(f"  ... {len(result.errors) - _SHOWN_ERRORS} more", err=True)
    click.echo(f"error report: {path}")
    raise SystemExit(1)


@records.command("batches")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
def batches(limit: int) -> None:
    """List the latest import batches."""
    found = records_import.recent_batches(None, limit)
    if not found:
        click.echo("no import batches yet")
        return
    click.echo(
        f"{'batch':>6}  {'kind':<17} {'status':<9} {'rows':>9} {'inserted':>9} {'updated':>9}"
        f" {'unchanged':>9} {'rejected':>9}  {'finished (UTC)':<19}  source"
    )
    for batch in found:
        finished = batch.finished_at.strftime("%Y-%m-%d %H:%M:%S") if batch.finished_at else "-"
        click.echo(
            f"{batch.id:>6}  {batch.kind:<17} {batch.status:<9} {batch.rows_total:>9} {batch.rows_inserted:>9}"
            f" {batch.rows_updated:>9} {batch.rows_unchanged:>9} {batch.rows_rejected:>9}  {finished:<19}"
            f"  {batch.source_name}"
        )


@records.command("report")
@click.argument("batch_id", type=int)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Where to write the CSV.")
def report(batch_id: int, output: Path | None) -> None:
    """Write the error report of a batch as CSV (row,column,value,message)."""
    try:
        batch = records_import.batch_for(batch_id, None)
    except DomainError as error:
        raise click.ClickException(error.message) from error
    click.echo(f"error report: {_write_report(batch, output)}")

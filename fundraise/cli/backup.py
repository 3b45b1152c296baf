"""`flask backup dump` and `flask backup drill`: a pg_dump of the database, and a restore drill that restores
a dump into a scratch database and runs `flask audit verify` and `flask ledger check` on what came back.

A backup is only as good as its last restore: the drill is the proof, run on a schedule (README, "Backups and
the restore drill")."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

import click
from flask import current_app
from flask.cli import AppGroup, ScriptInfo
from sqlalchemy import Connection, create_engine, func, inspect, select, table, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from fundraise.extensions import db

DRILL_PREFIX = "aidbridge_restore_drill_"
# Compared between the database and its restored copy: the money, its audit trail and what it was given to.
KEY_TABLES = ("audit_events", "ledger_transactions", "ledger_entries", "donations", "campaigns")
SQLITE_DRILL = (
    "the restore drill is for PostgreSQL; the embedded SQLite demo database is one file: "
    "`flask backup dump FILE` copies it with SQLite's online backup"
)


class StepFailed(Exception):
    """A step of a backup command failed; the message says what happened and, where it can, what to do."""


@dataclass(frozen=True)
class Server:
    """The PostgreSQL server the app's database lives on."""

    url: URL
    version_num: int

    @property
    def major(self) -> int:
        return self.version_num // 10_000

    @property
    def version(self) -> str:
        return f"{self.major}.{self.version_num % 10_000}"


@dataclass(frozen=True)
class ClientTool:
    """pg_dump or pg_restore, found on PATH, with its version."""

    path: str
    version: str

    @property
    def shown(self) -> str:
        return f"{Path(self.path).name} {self.version}"


@dataclass
class Report:
    """Each step of the drill, printed as it happens; the failed ones are named at the end."""

    failed: list[str] = field(default_factory=list)

    def ok(self, step: str, detail: str) -> None:
        click.echo(f"[ok] {step}: {detail}")

    def fail(self, step: str, detail: str) -> None:
        self.failed.append(step)
        click.echo(f"[FAILED] {step}: {detail}")

    def stop(self, step: str | None = None, detail: str = "") -> NoReturn:
        """Fail this step (if given) and end the drill, naming every step that failed."""
        if step is not None:
            self.fail(step, detail)
        click.echo("drill FAILED at: " + ", ".join(self.failed))
        raise SystemExit(1)


# AppGroup: each command runs in an app context however it is invoked (the top-level `flask` command pushes
# one; a test runner over app.cli does not).
@click.group(cls=AppGroup)
def backup() -> None:
    """Backups of the database, and the drill that proves they restore."""


@backup.command("dump")
@click.argument("file", type=click.Path(dir_okay=False, writable=True, path_type=Path))
def dump(file: Path) -> None:
    """Write a backup of the database to FILE: pg_dump's custom format (restore with pg_restore).

    The dump goes to FILE.partial first and replaces FILE only when complete, so a failed run never leaves a
    truncated backup under the real name. On the SQLite demo database, FILE is a copy made with SQLite's
    online backup."""
    url = make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
    partial = file.with_name(file.name + ".partial")
    try:
        if url.get_backend_name() == "sqlite":
            _copy_sqlite(url, partial)
            kind = "SQLite online backup"
        else:
            server = _server(url)
            _pg_dump(_client_tool("pg_dump", server), server.url, partial)
            kind = f"pg_dump custom format, PostgreSQL {server.version}"
    except StepFailed as failure:
        partial.unlink(missing_ok=True)
        click.echo(f"backup FAILED: {failure}")
        raise SystemExit(1) from None
    partial.replace(file)
    click.echo(f"wrote {file} ({file.stat().st_size:,} bytes, {kind})")


@backup.command("drill")
@click.option(
    "--from",
    "from_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Restore this dump instead of taking a fresh one.",
)
@click.option("--keep", is_flag=True, help="Leave the scratch database in place for inspection.")
def drill(from_file: Path | None, keep: bool) -> None:
    """Restore a dump into a scratch database on the same server and check it: the row counts of the key
    tables, `flask audit verify` and `flask ledger check`. The scratch database is dropped at the end (also on
    failure, unless --keep). Exits 1 naming each step that failed."""
    url = make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() != "postgresql":
        click.echo(SQLITE_DRILL)
        raise SystemExit(1)
    report = Report()
    try:
        server = _server(url)
    except StepFailed as failure:
        report.stop("connect", str(failure))
    click.echo(f"restore drill for {url.render_as_string(hide_password=True)} (PostgreSQL {server.version})")

    with tempfile.TemporaryDirectory(prefix="aidbridge-drill-") as workdir:
        try:
            pg_restore = _client_tool("pg_restore", server)
            pg_dump = None if from_file else _client_tool("pg_dump", server)
        except StepFailed as failure:
            report.stop("client tools", str(failure))
        report.ok("client tools", ", ".join(tool.shown for tool in (pg_dump, pg_restore) if tool))

        if pg_dump is not None:
            dump_file = Path(workdir) / "aidbridge.dump"
            try:
                with _exported_snapshot() as (snapshot, connection):
                    original = _count_rows(connection)
                    _pg_dump(pg_dump, server.url, dump_file, snapshot=snapshot)
            except StepFailed as failure:
                report.stop("dump", str(failure))
            except SQLAlchemyError as error:
                report.stop("dump", f"cannot open the snapshot to dump: {_first_line(error)}")
            report.ok(
                "dump", f"{dump_file.stat().st_size:,} bytes, taken in the snapshot the counts below read"
            )
        else:
            assert from_file is not None
            dump_file = from_file
            with db.engine.connect() as connection:
                original = _count_rows(connection)
            report.ok("dump", f"using {from_file} ({from_file.stat().st_size:,} bytes)")

        scratch = f"{DRILL_PREFIX}{datetime.now(UTC):%Y%m%d%H%M%S}_{secrets.token_hex(4)}"
        try:
            _create_database(scratch)
        except StepFailed as failure:
            report.stop("create scratch database", str(failure))
        report.ok("create scratch database", scratch)
        try:
            _restore_and_check(
                report,
                pg_restore,
                dump_file,
                server.url.set(database=scratch),
                original,
                exact=pg_dump is not None,
            )
        finally:
            if keep:
                click.echo(
                    f"kept the scratch database {scratch} (--keep): drop it with DROP DATABASE {scratch}"
                )
            else:
                try:
                    _drop_database(scratch, server)
                    report.ok("drop scratch database", scratch)
                except StepFailed as failure:
                    report.fail("drop scratch database", str(failure))
    if report.failed:
        report.stop()
    click.echo(
        "drill passed: the dump restores and the restored database passes audit verify and ledger check"
    )


def _restore_and_check(
    report: Report,
    pg_restore: ClientTool,
    dump_file: Path,
    scratch_url: URL,
    original: Mapping[str, int | None],
    *,
    exact: bool,
) -> None:
    """Restore into the scratch database, then compare counts and run the two checks (each runs even when one
    before it failed, so the report is complete)."""
    libpq_url, env = _libpq(scratch_url)
    restored = _run(
        [pg_restore.path, "--no-owner", "--exit-on-error", "--dbname", libpq_url, str(dump_file)],
        env=env,
    )
    if restored.returncode != 0:
        report.fail("restore", f"pg_restore exited {restored.returncode}: {_tail(restored)}")
        return
    report.ok("restore", f"pg_restore into {scratch_url.database}")

    _compare_counts(report, original, scratch_url, exact=exact)

    for command in (("audit", "verify"), ("ledger", "check")):
        step = "flask " + " ".join(command)
        checked = _flask(command, scratch_url)
        if checked.returncode == 0:
            report.ok(step, _tail(checked, lines=1, stdout_only=True))
        else:
            report.fail(step, f"exited {checked.returncode}: {_tail(checked)}")


def _compare_counts(
    report: Report, original: Mapping[str, int | None], scratch_url: URL, *, exact: bool
) -> None:
    """The key tables' rows in the database and in the restored copy. With a dump taken by the drill they
    must be equal; a dump given with --from may be older than the live database, so then only a table
    missing from the copy fails."""
    step = "compare row counts"
    engine = create_engine(scratch_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            copy = _count_rows(connection)
    except SQLAlchemyError as error:
        report.fail(step, f"cannot count the restored rows: {_first_line(error)}")
        return
    finally:
        engine.dispose()
    missing = [name for name in KEY_TABLES if copy[name] is None]
    differing = [name for name in KEY_TABLES if copy[name] != original[name]]
    if missing:
        report.fail(step, "the restored copy has no " + ", ".join(missing))
    elif not exact:
        report.ok(step, "for information only: the live database may have moved on since this dump was taken")
    elif differing:
        report.fail(step, "the restored copy differs in " + ", ".join(differing))
    else:
        report.ok(step, f"all {len(KEY_TABLES)} tables match")
    click.echo(f"    {'table':<22}{'original':>10}{'restored':>10}")
    for name in KEY_TABLES:
        click.echo(f"    {name:<22}{_shown(original[name]):>10}{_shown(copy[name]):>10}")


# --- PostgreSQL ----------------------------------------------------------------------------------------------


def _server(url: URL) -> Server:
    try:
        with db.engine.connect() as connection:
            version_num = int(connection.scalar(text("SHOW server_version_num")) or 0)
    except SQLAlchemyError as error:
        raise StepFailed(f"cannot reach the database: {error.__class__.__name__}: {error}") from None
    return Server(url=url, version_num=version_num)


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """The libpq URL pg_dump/pg_restore take (no SQLAlchemy driver, no password: that goes in PGPASSWORD, so it
    never shows in the process list) and the environment to run them with."""
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _client_tool(name: str, server: Server) -> ClientTool:
    """pg_dump or pg_restore from PATH, refused when it cannot work with this server."""
    path = shutil.which(name)
    if path is None:
        raise StepFailed(
            f"{name} is not installed or not on PATH: install PostgreSQL {server.major}'s client tools "
            f"(Debian/Ubuntu: apt install postgresql-client-{server.major})"
        )
    try:
        result = subprocess.run([path, "--version"], check=False, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise StepFailed(f"cannot run {path} --version: {error}") from None
    match = re.search(r"\(PostgreSQL\)\s+((\d+)\S*)", result.stdout)
    if match is None:
        raise StepFailed(f"cannot read the version of {path} from {result.stdout.strip()!r}")
    version, major = match.group(1), int(match.group(2))
    if major < server.major:
        # pg_dump refuses a server newer than itself, and an older pg_restore may not read the archive.
        raise StepFailed(
            f"{name} is version {version} but the server is PostgreSQL {server.version}: install PostgreSQL "
            f"{server.major}'s client tools (apt install postgresql-client-{server.major}) and put them first "
            "on PATH"
        )
    if major > server.major:
        # Newer client tools dump and restore older servers; an archive they write may be too new for the
        # server's own version of pg_restore, which is worth knowing.
        click.echo(f"note: {name} {version} is newer than the server (PostgreSQL {server.version})")
    return ClientTool(path=path, version=version)


def _pg_dump(pg_dump: ClientTool, url: URL, file: Path, *, snapshot: str | None = None) -> None:
    """pg_dump's custom format of the database to `file`; with `snapshot`, of that exported snapshot."""
    libpq_url, env = _libpq(url)
    command = [pg_dump.path, "--format=custom", "--no-owner", "--file", str(file)]
    if snapshot is not None:
        command.append(f"--snapshot={snapshot}")
    result = _run([*command, libpq_url], env=env)
    if result.returncode != 0:
        raise StepFailed(f"pg_dump exited {result.returncode}: {_tail(result)}")


@contextmanager
def _exported_snapshot() -> Iterator[tuple[str, Connection]]:
    """A repeatable-read transaction whose snapshot is exported (pg_export_snapshot) for pg_dump to dump: the
    counts read in it are then exactly the rows in the dump. It must stay open until pg_dump has finished."""
    with db.engine.connect() as connection:
        connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            yield str(connection.scalar(text("SELECT pg_export_snapshot()"))), connection


def _count_rows(connection: Connection) -> dict[str, int | None]:
    """Rows in each key table; None for a table the database does not have."""
    present = set(inspect(connection).get_table_names())
    return {
        name: int(connection.scalar(select(func.count()).select_from(table(name))) or 0)
        if name in present
        else None
        for name in KEY_TABLES
    }


def _create_database(name: str) -> None:
    # template0: a pristine database, so nothing added to template1 on this server clashes with the restore.
    try:
        with db.engine.execution_options(isolation_level="AUTOCOMMIT").connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
    except SQLAlchemyError as error:
        raise StepFailed(
            f"{_first_line(error)} (the drill's database user needs CREATEDB on this server, or run the drill "
            "with DATABASE_URL naming a user who has it)"
        ) from None


def _drop_database(name: str, server: Server) -> None:
    # WITH (FORCE) (PostgreSQL 13+) ends any session a failed check may have left connected.
    force = " WITH (FORCE)" if server.major >= 13 else ""
    try:
        with db.engine.execution_options(isolation_level="AUTOCOMMIT").connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"{force}'))
    except SQLAlchemyError as error:
        raise StepFailed(f"{_first_line(error)}: drop it by hand (DROP DATABASE {name})") from None


def _flask(command: tuple[str, ...], database_url: URL) -> subprocess.CompletedProcess[str]:
    """Run a `flask` command in a new process against another database: the same environment, app and
    AIDBRIDGE_ENV as this one, with DATABASE_URL naming that database."""
    env = dict(os.environ)
    env["DATABASE_URL"] = database_url.render_as_string(hide_password=False)
    env["AIDBRIDGE_ENV"] = str(current_app.config["ENV_NAME"])
    # The app this command was started with (`--app` or FLASK_APP); else the factory wsgi.py calls, which
    # imports from anywhere (the test runner, for one, names no app).
    info = click.get_current_context().find_object(ScriptInfo)
    started_with = info.app_import_path if info is not None else None
    env["FLASK_APP"] = started_with or os.environ.get("FLASK_APP") or "fundraise:create_app"
    return _run([sys.executable, "-m", "flask", *command], env=env)


def _run(command: list[str], *, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(command, check=False, capture_output=True, text=True, env=dict(env))
    except OSError as error:
        return subprocess.CompletedProcess(command, 127, "", f"cannot run {command[0]}: {error}")


# --- SQLite (the embedded demo) ------------------------------------------------------------------------------


def _copy_sqlite(url: URL, target: Path) -> None:
    """SQLite's online backup: a consistent copy even while the demo server writes (WAL included)."""
    if not url.database or url.database == ":memory:":
        raise StepFailed("the database is in memory: there is no file to back up")
    source_path = Path(url.database)
    if not source_path.is_file():
        raise StepFailed(f"no database file at {source_path}")
    source = sqlite3.connect(source_path)
    try:
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
    except sqlite3.Error as error:
        raise StepFailed(f"SQLite backup failed: {error}") from None
    finally:
        source.close()


# --- output --------------------------------------------------------------------------------------------------


def _tail(result: subprocess.CompletedProcess[str], lines: int = 8, *, stdout_only: bool = False) -> str:
    """The last lines a command printed (its error, or its verdict), joined on one line."""
    printed = result.stdout if stdout_only else result.stdout + "\n" + result.stderr
    output = [line.strip() for line in printed.splitlines() if line.strip()]
    return " | ".join(output[-lines:]) if output else "(no output)"


def _first_line(error: SQLAlchemyError) -> str:
    original = getattr(error, "orig", None) or error
    return str(original).strip().splitlines()[0]


def _shown(count: int | None) -> str:
    return "missing" if count is None else str(count)

"""What the benchmarks share: a PostgreSQL database of the run's own, built by the migrations.

Every run creates a database whose name no other run uses (aidbridge_bench_<script>_<pid>_<random>), builds its
schema with `flask db upgrade`, and on leaving drops that database and no other. Two benchmarks running at once,
or a database someone keeps under a fixed name, are never touched.

    from support import bench_database

    with bench_database("web", keep=args.keep_db) as url:
        ...  # DATABASE_URL=url for the app, gunicorn or flask commands

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth); BENCH_PG_ADMIN_URL names another server or user.
"""

from __future__ import annotations

import os
import platform
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
NAME_PREFIX = "aidbridge_bench_"
MIGRATION_TIMEOUT_SECONDS = 300


def unique_database_name(script: str) -> str:
    """A database name no other run picks: the script, this process's id and 32 random bits."""
    slug = re.sub(r"[^a-z0-9]+", "_", script.lower()).strip("_") or "run"
    # PostgreSQL truncates identifiers past 63 bytes; keep the unique tail whole.
    return f"{NAME_PREFIX}{slug[:24]}_{os.getpid()}_{secrets.token_hex(4)}"


def database_url(name: str, admin_url: str = PG_ADMIN_URL) -> str:
    """The URL of database `name` on the admin URL's server, as the same user."""
    return f"{admin_url.rsplit('/', 1)[0]}/{name}"


def postgres_version(admin_url: str = PG_ADMIN_URL) -> str:
    import psycopg

    with psycopg.connect(admin_url) as connection:
        row = connection.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "unknown"


def _admin_execute(statement: str, name: str, admin_url: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(sql.SQL(statement).format(sql.Identifier(name)))


def migrate(url: str, env: Mapping[str, str] | None = None) -> None:
    """Build the schema of the database at `url` with the migrations, in a child `flask db upgrade`."""
    child_env = {k: v for k, v in (env or os.environ).items() if k not in ("REDIS_URL", "TEST_DATABASE_URL")}
    child_env.setdefault("AIDBRIDGE_ENV", "development")
    child_env.update({"FLASK_APP": "wsgi:app", "DATABASE_URL": url})
    print("  flask db upgrade", flush=True)
    done = subprocess.run(
        [sys.executable, "-m", "flask", "db", "upgrade"],
        cwd=PROJECT_ROOT,
        env=child_env,
        check=False,
        capture_output=True,
        text=True,
        timeout=MIGRATION_TIMEOUT_SECONDS,
    )
    if done.returncode != 0:
        raise RuntimeError(f"flask db upgrade failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


@contextmanager
def bench_database(
    script: str,
    *,
    keep: bool = False,
    migrations: bool = True,
    env: Mapping[str, str] | None = None,
    admin_url: str = PG_ADMIN_URL,
) -> Iterator[str]:
    """Create a uniquely named database, build it with the migrations, yield its URL, then drop it.

    `keep` leaves the database in place (its name is printed); `env` is the environment the migration runs
    in (this process's by default). Only the database created here is ever dropped.
    """
    name = unique_database_name(script)
    _admin_execute("CREATE DATABASE {}", name, admin_url)
    print(f"== database {name}", flush=True)
    url = database_url(name, admin_url)
    try:
        if migrations:
            migrate(url, env)
        yield url
    finally:
        if keep:
            print(f"kept the database {name}: {url}", flush=True)
        else:
            try:
                # FORCE ends this run's own leftover connections (a stopped server's pool); the name is ours
                # alone, so no one else's session can be on it.
                _admin_execute("DROP DATABASE IF EXISTS {} WITH (FORCE)", name, admin_url)
            except Exception as error:
                print(f"could not drop {name}: {error}", file=sys.stderr)


def workers_cpu_seconds(master_pid: int) -> float:
    """User + system CPU time the gunicorn workers (the master's children) have used so far (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    try:
        children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    except OSError:
        return 0.0
    for child in children:
        try:
            fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


RESULTS = PROJECT_ROOT / "benchmarks" / "RESULTS.md"


def code_revision() -> str:
    """The commit measured (`-dirty` when the working tree has changes)."""
    done = subprocess.run(
        ["git", "describe", "--always", "--dirty"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=10,
    )
    return done.stdout.strip() or "unknown"


def machine_line(load: tuple[float, float, float]) -> str:
    return (
        f"- machine: `{platform.machine()}`, {os.cpu_count()} cores; load average"
        f" {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at start"
    )


def append_results(section: list[str]) -> None:
    """Append a dated section to RESULTS.md, a blank line before it; read just before writing, since other
    scripts append too."""
    if not RESULTS.exists():
        RESULTS.write_text(
            "# Benchmark results\n\nAppended by the scripts in this folder, newest last. "
            "See README.md for what each measures.\n\n"
        )
    existing = RESULTS.read_text(encoding="utf-8")
    with RESULTS.open("a", encoding="utf-8") as out:
        out.write("" if existing.endswith("\n\n") else "\n" if existing.endswith("\n") else "\n\n")
        out.write("\n".join(section).strip("\n") + "\n")
    print(f"\nappended to {RESULTS.relative_to(PROJECT_ROOT)}")

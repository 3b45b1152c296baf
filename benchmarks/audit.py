"""The audit log's sealer and `flask audit verify` at scale, on PostgreSQL, each beside a raw baseline.

Builds a database of its own (benchmarks/support.py), writes N unsealed audit events (default 1,000,000, shaped
like a donation's: an action, an object, a small `after` document) with a raw COPY, which is the baseline: the
cheapest way the rows could get in. Then it times

- the sealer (`fundraise.audit.seal`): events sealed per second, against the COPY's rows per second;
- `verify_log()` in one process: the whole chain and every checkpoint, against a raw `COPY (SELECT ...) TO
  STDOUT` of the same columns, the cheapest way to read them;
- `flask audit verify` itself, as a command, end to end: it walks a long chain in ranges, one worker process
  per core, and stitches them together.

It prints a table and appends a dated section to benchmarks/RESULTS.md, then drops its database.

    .venv/bin/python benchmarks/audit.py [--events 1000000] [--no-record] [--keep-db]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from support import append_results, bench_database, code_revision, machine_line, postgres_version

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))


def raw_copy_in(url: str, events: int) -> float:
    """COPY `events` unsealed rows into audit_events; the seconds it took."""
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(url) as connection, connection.cursor() as cursor:
        columns = "created_at, actor_id, actor_label, action, object_type, object_id, before, after"
        with cursor.copy(f"COPY audit_events ({columns}) FROM STDIN") as copy:
            base = datetime(2026, 12, 1, tzinfo=UTC)
            for n in range(events):
                after = {"key": f"donation:{n}:captured", "kind": "capture", "amount_fen": 10_000 + n % 997}
                copy.write_row(
                    (
                        base,
                        None,
                        "system",
                        "ledger.post",
                        "ledger_transaction",
                        str(n),
                        None,
                        json.dumps(after),
                    )
                )
    return time.perf_counter() - started


def raw_copy_out(url: str) -> float:
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(url) as connection, connection.cursor() as cursor:
        query = (
            "COPY (SELECT id, seq, prev_hash, hash, created_at, actor_id, actor_label, action, object_type,"
            " object_id, before, after FROM audit_events ORDER BY seq) TO STDOUT"
        )
        with cursor.copy(query) as copy:
            for _block in copy:
                pass
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()

    with bench_database("audit", keep=args.keep_db) as url:
        print(f"== COPY {args.events:,} unsealed events (baseline)", flush=True)
        copy_in = raw_copy_in(url, args.events)

        from fundraise import audit, audit_verification, create_app

        app = create_app(
            {"ENV_NAME": "development", "SQLALCHEMY_DATABASE_URI": url, "AUDIT_SEAL_AFTER_COMMIT": False}
        )
        with app.app_context():
            print("== seal", flush=True)
            started = time.perf_counter()
            sealed = audit.seal()
            seal_seconds = time.perf_counter() - started
            assert sealed.sealed == args.events, sealed
            print("== verify_log()", flush=True)
            started = time.perf_counter()
            result = audit_verification.verify_log()
            verify_seconds = time.perf_counter() - started
            assert result.intact, result.problems[:3]
            assert result.events == args.events
            checkpoints = result.checkpoints
        print("== COPY the chain out (baseline)", flush=True)
        copy_out = raw_copy_out(url)
        print("== flask audit verify", flush=True)
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "TEST_DATABASE_URL")}
        env.update({"FLASK_APP": "wsgi:app", "DATABASE_URL": url, "AIDBRIDGE_ENV": "development"})
        started = time.perf_counter()
        command = subprocess.run(
            [sys.executable, "-m", "flask", "audit", "verify"],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        command_seconds = time.perf_counter() - started
        assert command.returncode == 0, command.stdout + command.stderr

    n = args.events
    rows = [
        ("raw COPY in (baseline)", f"{n / copy_in:,.0f} rows/s", f"{copy_in:.1f} s", "100%"),
        (
            "sealer",
            f"{n / seal_seconds:,.0f} events/s",
            f"{seal_seconds:.1f} s",
            f"{copy_in / seal_seconds:.0%}",
        ),
        ("raw COPY out (baseline)", f"{n / copy_out:,.0f} rows/s", f"{copy_out:.1f} s", "100%"),
        (
            "verify_log(), one process",
            f"{n / verify_seconds:,.0f} events/s",
            f"{verify_seconds:.1f} s",
            f"{copy_out / verify_seconds:.0%}",
        ),
        (
            "`flask audit verify` (command: ranges in parallel, one process per core)",
            f"{n / command_seconds:,.0f} events/s",
            f"{command_seconds:.1f} s",
            f"{copy_out / command_seconds:.0%}",
        ),
    ]
    table = [
        "| step | rate | time | speed vs its baseline |",
        "| --- | ---: | ---: | ---: |",
        *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows],
    ]
    aims = (
        f"Sealing keeps up if it seals faster than events arrive: {n / seal_seconds:,.0f} events/s against the "
        f"aim of 300 payment events/s (each writes 2 to 4 audit events). Verify {n:,} events in <= 20 s: "
        f"{'met' if command_seconds <= 20 else 'NOT met'} ({command_seconds:.1f} s; {checkpoints} checkpoints)."
    )
    print("\n".join(table))
    print(aims)
    if args.no_record:
        return
    section = [
        "",
        f"## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: audit.py",
        "",
        machine_line(load),
        f"- Python {platform.python_version()}, PostgreSQL {postgres_version()}; code at {code_revision()}",
        f"- {n:,} audit events, written unsealed by COPY, then sealed in one run (batches of"
        f" {audit.SEAL_BATCH_SIZE:,}), then verified",
        "",
        *table,
        "",
        aims,
        "",
    ]
    append_results(section)


if __name__ == "__main__":
    main()

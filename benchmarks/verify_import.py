"""Benchmark: import 1,000,000 civil-affairs and 1,000,000 basic-enrolment rows on PostgreSQL.

    .venv/bin/python benchmarks/verify_import.py [--rows N] [--keep]

Creates a PostgreSQL database of its own on 127.0.0.1 (user postgres; benchmarks/support.py), builds the schema
with the migrations, writes two CSV feeds of N valid rows each (ID numbers from
verification.identity.make_resident_id), imports each through the service
(fundraise.services.records_import.import_feed, the code path of the CLI and the API) and prints rows/s,
then imports the civil-affairs file again to time the idempotent re-import. The aim (issue 3) is ≤ 60 s per
million rows. Beside wall time it prints the CPU seconds of this process and of the PostgreSQL server
process doing the work, which tell more than wall time on a busy machine. The database is dropped at the end
unless --keep.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from support import bench_database

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Counties of Fuyang and Hefei (GB/T 2260), so the rows spread over real regions.
REGIONS = ["341221", "341222", "341225", "341226", "341202", "341203", "341204", "341282", "340102", "340104"]
CLASSES = ["tekun", "dibao", "dibao_edge", "monitored", "illness_impoverished"]
AIM_SECONDS_PER_MILLION = 60.0


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a local process has used so far; 0 where /proc cannot tell."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def id_number(n: int) -> str:
    """A distinct well-formed number for every n below 7.3 million (100 sequences x 2 sexes x 36,500 days)."""
    from verification.identity import make_resident_id

    sequence, rest = n % 100, n // 100
    sex, day = "MF"[rest % 2], rest // 2
    return make_resident_id(
        REGIONS[n % len(REGIONS)], date(1930, 1, 1) + timedelta(days=day % 36_500), sex, sequence
    )


def write_civil_affairs(path: Path, rows: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(
            [
                "source_record_id",
                "id_number",
                "name",
                "assistance_class",
                "valid_from",
                "valid_to",
                "household_size",
                "monthly_household_income_yuan",
                "region_code",
                "ytd_assistance_paid_yuan",
            ]
        )
        for n in range(rows):
            writer.writerow(
                [
                    f"MZ-{n:08d}",
                    id_number(n),
                    f"居民{n}",
                    CLASSES[n % 5],
                    "2026-01-01",
                    "" if n % 3 else "2026-12-31",
                    1 + n % 6,
                    f"{600 + n % 3000}.{n % 100:02d}",
                    REGIONS[n % len(REGIONS)],
                    f"{n % 5000}",
                ]
            )


def write_basic_enrolment(path: Path, rows: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(
            [
                "source_record_id",
                "id_number",
                "name",
                "scheme",
                "pooling_region_code",
                "valid_from",
                "valid_to",
                "year",
                "ytd_reimbursed_yuan",
            ]
        )
        for n in range(rows):
            region = REGIONS[n % len(REGIONS)]
            writer.writerow(
                [
                    f"YB-2026-{n:08d}",
                    id_number(n),
                    f"居民{n}",
                    "employee" if n % 4 == 0 else "resident",
                    region[:4] + "00",
                    "2026-01-01",
                    "2026-12-31",
                    2026,
                    f"{n % 20000}.{n % 100:02d}",
                ]
            )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per feed (default 1,000,000)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    with bench_database("verify_import", keep=args.keep) as url:
        os.environ["DATABASE_URL"] = url
        from sqlalchemy import text

        from fundraise import create_app
        from fundraise.extensions import db
        from fundraise.services.records_import import import_feed

        app = create_app({"ENV_NAME": "development", "SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            results = []
            with tempfile.TemporaryDirectory() as scratch:
                feeds = [
                    ("civil_affairs", Path(scratch) / "civil_affairs.csv", write_civil_affairs),
                    ("basic_enrolment", Path(scratch) / "basic_enrolment.csv", write_basic_enrolment),
                ]
                for kind, path, write in feeds:
                    started = time.perf_counter()
                    write(path, args.rows)
                    print(
                        f"wrote {args.rows:,} {kind} rows ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - started:.1f} s"
                    )
                runs = [(kind, path, "first import") for kind, path, _ in feeds]
                runs.append(("civil_affairs", feeds[0][1], "same file again"))
                for kind, path, label in runs:
                    data = path.read_bytes()
                    # The session holds this connection until import_feed commits: its server process
                    # is the one doing the import's database work.
                    backend = db.session.execute(text("SELECT pg_backend_pid()")).scalar_one()
                    server_cpu, python_cpu = process_cpu(backend), time.process_time()
                    started = time.perf_counter()
                    result = import_feed(kind, data, "csv", None, source_name=path.name)
                    elapsed = time.perf_counter() - started
                    python_cpu = time.process_time() - python_cpu
                    server_cpu = process_cpu(backend) - server_cpu
                    assert result.accepted, result.errors[:5]
                    db.session.remove()
                    rate = result.rows_total / elapsed
                    results.append((kind, label, result, elapsed, rate))
                    print(
                        f"{kind:<16} {label:<16} {result.rows_total:>9,} rows in {elapsed:6.1f} s = {rate:>8,.0f} rows/s"
                        f"  (inserted {result.inserted:,}, updated {result.updated:,}, unchanged {result.unchanged:,})"
                        f"  CPU: python {python_cpu:.1f} s, postgres {server_cpu:.1f} s"
                    )
            print()
            worst = 0.0
            for kind, label, _, _, rate in results:
                per_million = 1_000_000 / rate
                worst = max(worst, per_million)
                print(f"{kind} {label}: {rate:,.0f} rows/s, {per_million:.1f} s per million rows")
            verdict = "meets" if worst <= AIM_SECONDS_PER_MILLION else "MISSES"
            print(
                f"slowest: {worst:.1f} s per million rows; {verdict} the aim of {AIM_SECONDS_PER_MILLION:.0f} s"
            )
            db.engine.dispose()
        return 0 if worst <= AIM_SECONDS_PER_MILLION else 1


if __name__ == "__main__":
    sys.exit(main())

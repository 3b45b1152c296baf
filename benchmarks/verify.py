"""Benchmark: import 1,000,000 civil-affairs and 1,000,000 insurance records, then verify 100,000 cases.

    .venv/bin/python benchmarks/verify.py [--rows N] [--cases N] [--keep] [--no-record]

On PostgreSQL (127.0.0.1, user postgres): creates a database of its own (benchmarks/support.py), builds the
schema with the migrations and loads the reference data. Then:

1. writes and imports the two feeds with benchmarks/verify_import.py's generator, through the import service
   (`fundraise.services.records_import.import_feed`, the CLI's and the API's code path), timing each;
2. files N submitted campaigns for people in those records (written in bulk, not timed): a leukaemia case
   at a Fuyang or Hefei hospital, the household as the civil-affairs record has it (so most cases pass), a
   third of them with unclaimed assistance and a tenth with the stay unconfirmed (so they go to review);
3. verifies them all in one batch, in a new interpreter as `flask verify run --all-active` would
   (`fundraise.services.verification.verify_campaigns`): records looked up, checks and cascade run, reports
   stored, targets capped, every case moved submitted → verifying → verified / needs_review / rejected with
   its audit events and notifications, in chunks of one transaction each (two at a time on PostgreSQL);
4. runs the batch again, which finds nothing changed and writes nothing (the re-verification path).

It prints rows/s and cases/s, with the CPU seconds of Python and of the PostgreSQL server processes (which
say more than wall time on a shared machine), and appends them to benchmarks/RESULTS.md (unless --no-record)
with the date, machine, versions and the load average when the run started. Aims (issue 3): import ≤ 60 s
per million rows; verification ≤ 60 s for 100,000 cases.
The database is dropped at the end unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from support import bench_database, postgres_version  # noqa: E402
from verify_import import (  # noqa: E402  (benchmarks/ is not a package)
    REGIONS,
    id_number,
    process_cpu,
    write_basic_enrolment,
    write_civil_affairs,
)

AIM_IMPORT_SECONDS_PER_MILLION = 60.0
AIM_VERIFY_SECONDS_PER_100K = 60.0
RESULTS = HERE / "RESULTS.md"
# Hospitals in and out of the Fuyang pooling region (341200), both in the registry.
HOSPITALS = ("FY-PEOPLE", "AH-PROV")
CAMPAIGN_CHUNK = 5_000


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"`{platform.machine()}`, {cpu}, {os.cpu_count()} cores"


def eligible_people(cases: int, rows: int) -> list[int]:
    """Record numbers n of people in the Fuyang pooling region (the generator's REGIONS[n % 10] starting 3412),
    spread over the imported rows."""
    fuyang = [i for i, region in enumerate(REGIONS) if region.startswith("3412")]
    people = [n for n in range(rows) if n % len(REGIONS) in fuyang]
    if len(people) < cases:
        raise SystemExit(f"--rows {rows} holds only {len(people)} Fuyang people; ask for fewer --cases")
    step = len(people) // cases
    return people[::step][:cases]


def file_campaigns(people: list[int]) -> list[int]:
    """Insert one submitted campaign per person in bulk (as the filing pages would leave them); their ids."""
    from sqlalchemy import insert, select

    from fundraise import pii
    from fundraise.extensions import db
    from fundraise.models import Campaign, DiseaseRange, Hospital, Role, User
    from fundraise.services.accounts import hash_password
    from verification.identity import parse_resident_id

    family = User(
        email="bench-family@example.cn", name="基准家庭", password_hash=hash_password("x"), role=Role.FAMILY
    )
    hospitals = {h.code: h for h in db.session.scalars(select(Hospital).where(Hospital.code.in_(HOSPITALS)))}
    worker = User(
        email="bench-sw@example.cn",
        name="基准社工",
        password_hash=family.password_hash,
        role=Role.SOCIAL_WORKER,
        hospital_id=hospitals["FY-PEOPLE"].id,
    )
    db.session.add_all([family, worker])
    db.session.flush()
    leukaemia = db.session.scalar(select(DiseaseRange).where(DiseaseRange.code_from == "C91.0"))
    assert leukaemia is not None
    now = datetime.now(UTC)
    ids: list[int] = []
    for start in range(0, len(people), CAMPAIGN_CHUNK):
        rows = []
        for i, n in enumerate(people[start : start + CAMPAIGN_CHUNK], start=start):
            number = id_number(n)
            resident = parse_resident_id(number)
            monthly_fen = (600 + n % 3000) * 100 + n % 100  # as write_civil_affairs records it
            rows.append(
                {
                    "state": "submitted",
                    "applicant_id": family.id,
                    "title": f"基准病例 {n}",
                    "story": "基准测试用的病例。",
                    "patient_name": f"居民{n}",
                    "patient_id_ciphertext": pii.encrypt_id(number),
                    "patient_id_index": pii.blind_index(number),
                    "patient_id_masked": pii.mask_id(number),
                    "patient_birth_date": resident.birth_date,
                    "patient_sex": resident.sex,
                    "patient_region_code": resident.region_code,
                    "relationship_to_patient": "parent",
                    "diagnosis_icd10": "C91.0",
                    "diagnosis_text": "急性淋巴细胞白血病",
                    "disease_range_id": leukaemia.id,
                    "hospital_id": hospitals[HOSPITALS[i % 2]].id,
                    "admitted_on": date(2026, 3, 1),
                    "treatment_plan": "化疗。",
                    "cost_total_fen": 30_000_000 + (i % 50) * 100_000,
                    "cost_in_policy_fen": 22_000_000,
                    "target_fen": 12_000_000,
                    "household_income_fen": monthly_fen * 12,
                    "household_size": 1 + n % 6,
                    "owns_house": True,
                    "owns_car": False,
                    "savings_fen": (i % 7) * 500_000,
                    "assistance_claimed": i % 3 != 0,
                    "stay_confirmed_by_id": None if i % 10 == 0 else worker.id,
                    "stay_confirmed_at": None if i % 10 == 0 else now,
                    "submitted_at": now,
                    "state_changed_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        ids.extend(
            db.session.scalars(insert(Campaign).returning(Campaign.id, sort_by_parameter_order=True), rows)
        )
        db.session.commit()
    return ids


def verify_in_fresh_process(url: str, trigger: str) -> dict[str, Any]:
    """Run the batch as `flask verify run --all-active` would, in a new interpreter (not one holding the
    import's leftovers), and return what it measured."""
    child = subprocess.run(
        [sys.executable, __file__, "--verify-run", trigger],
        env={**os.environ, "DATABASE_URL": url},
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(child.stdout.strip().splitlines()[-1]))


def verify_run(trigger: str) -> None:
    """The child's side of verify_in_fresh_process: verify every active campaign, print one JSON line."""
    from sqlalchemy import text

    from fundraise import create_app
    from fundraise.extensions import db
    from fundraise.services.verification import active_campaign_ids, verify_campaigns

    url = os.environ["DATABASE_URL"]
    app = create_app({"ENV_NAME": "development", "SQLALCHEMY_DATABASE_URI": url, "JOBS_MODE": "rq"})
    with app.app_context():
        ids = active_campaign_ids()
        python_cpu, started = time.process_time(), time.perf_counter()
        outcomes = verify_campaigns(ids, trigger=trigger)
        seconds = time.perf_counter() - started
        python_cpu = time.process_time() - python_cpu
        # This database's server processes were all started for this run (its pool's connections).
        backends = db.session.scalars(
            text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        ).all()
        postgres_cpu = sum(process_cpu(pid) for pid in backends)
        db.engine.dispose()
    print(
        json.dumps(
            {
                "cases": len(outcomes),
                "seconds": seconds,
                "stored": sum(outcome.stored for outcome in outcomes),
                "decisions": dict(Counter(outcome.decision for outcome in outcomes)),
                "python_cpu": python_cpu,
                "postgres_cpu": postgres_cpu,
            }
        )
    )


def record(lines: list[str]) -> None:
    with RESULTS.open("a", encoding="utf-8") as out:
        out.write("\n" + "\n".join(lines) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per feed (default 1,000,000)")
    parser.add_argument("--cases", type=int, default=100_000, help="cases to verify (default 100,000)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--no-record", action="store_true", help="do not append to benchmarks/RESULTS.md")
    parser.add_argument("--verify-run", metavar="TRIGGER", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.verify_run:
        verify_run(args.verify_run)
        return 0
    people = eligible_people(args.cases, args.rows)
    load_at_start = os.getloadavg()

    with bench_database("verify", keep=args.keep) as url:
        os.environ["DATABASE_URL"] = url
        from sqlalchemy import func, select, text

        from fundraise import create_app
        from fundraise.audit_verification import verify_log
        from fundraise.extensions import db
        from fundraise.models import AuditEvent, VerificationReport
        from fundraise.services.records_import import import_feed
        from fundraise.services.reference_data import load_all

        # Jobs stay in the outbox (rq mode without relaying): the measurement is the verification itself.
        app = create_app({"ENV_NAME": "development", "SQLALCHEMY_DATABASE_URI": url, "JOBS_MODE": "rq"})
        with app.app_context():
            load_all()
            imports = []
            with tempfile.TemporaryDirectory() as scratch:
                for kind, write in (
                    ("civil_affairs", write_civil_affairs),
                    ("basic_enrolment", write_basic_enrolment),
                ):
                    path = Path(scratch) / f"{kind}.csv"
                    write(path, args.rows)
                    data = path.read_bytes()
                    started = time.perf_counter()
                    result = import_feed(kind, data, "csv", None, source_name=path.name)
                    elapsed = time.perf_counter() - started
                    assert result.accepted, result.errors[:5]
                    db.session.remove()
                    imports.append((kind, result.rows_total, elapsed))
                    print(
                        f"import {kind:<16} {result.rows_total:>9,} rows in {elapsed:6.1f} s = {result.rows_total / elapsed:>9,.0f} rows/s"
                    )

            started = time.perf_counter()
            ids = file_campaigns(people)
            print(
                f"filed {len(ids):,} submitted campaigns in {time.perf_counter() - started:.1f} s (not timed)"
            )
            db.session.execute(text("ANALYZE"))
            db.session.commit()

            db.engine.dispose()
            runs = []
            for label, trigger in (("first verification", "submission"), ("again, unchanged", "manual")):
                measured = verify_in_fresh_process(url, trigger)
                runs.append((label, measured))
                print(
                    f"verify {label:<20} {measured['cases']:>8,} cases in {measured['seconds']:6.1f} s"
                    f" = {measured['cases'] / measured['seconds']:>8,.0f} cases/s  (new reports {measured['stored']:,};"
                    f" {measured['decisions']})  CPU: python {measured['python_cpu']:.1f} s,"
                    f" postgres {measured['postgres_cpu']:.1f} s"
                )
            reports = db.session.scalar(select(func.count(VerificationReport.id)))
            events = db.session.scalar(select(func.count(AuditEvent.id)))
            log = verify_log()
            assert log.intact, log.problems
            checked = log.events
            print(
                f"{reports:,} reports, {events:,} audit events; the audit chain verifies ({checked:,} events)"
            )
            db.engine.dispose()

        import_worst = max(elapsed * 1_000_000 / rows for _kind, rows, elapsed in imports)
        first = runs[0][1]
        verify_per_100k = first["seconds"] * 100_000 / first["cases"]
        import_ok = import_worst <= AIM_IMPORT_SECONDS_PER_MILLION
        verify_ok = verify_per_100k <= AIM_VERIFY_SECONDS_PER_100K
        print(
            f"import: {import_worst:.1f} s per million rows ({'meets' if import_ok else 'MISSES'} the aim of 60 s);"
            f" verification: {verify_per_100k:.1f} s per 100,000 cases ({'meets' if verify_ok else 'MISSES'} the aim of 60 s)"
        )
        if not args.no_record:
            today = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
            lines = [
                f"## {today}: verify.py (records import and batch verification)",
                "",
                f"- machine: {machine()}",
                f"- Python {platform.python_version()}, PostgreSQL {postgres_version()}",
                f"- load average when the run started: {', '.join(f'{x:.2f}' for x in load_at_start)}"
                " (the machine is shared; compare CPU seconds)",
                f"- `benchmarks/verify.py --rows {args.rows} --cases {args.cases}`; development settings, jobs left in the outbox",
                "",
                "| step | size | seconds | rate |",
                "| --- | ---: | ---: | ---: |",
            ]
            for kind, rows, elapsed in imports:
                lines.append(
                    f"| import {kind} | {rows:,} rows | {elapsed:.1f} | {rows / elapsed:,.0f} rows/s |"
                )
            for label, measured in runs:
                count, elapsed = measured["cases"], measured["seconds"]
                lines.append(
                    f"| verify, {label} | {count:,} cases ({measured['stored']:,} new reports) | {elapsed:.1f}"
                    f" | {count / elapsed:,.0f} cases/s (CPU: Python {measured['python_cpu']:.1f} s,"
                    f" PostgreSQL {measured['postgres_cpu']:.1f} s) |"
                )
            lines += [
                "",
                f"Import: {import_worst:.1f} s per million rows (aim ≤ 60 s: {'met' if import_ok else 'NOT met'})."
                f" Verification: {verify_per_100k:.1f} s per 100,000 cases (aim ≤ 60 s: {'met' if verify_ok else 'NOT met'}).",
                f"Decisions of the first run: {', '.join(f'{d} {n:,}' for d, n in sorted(first['decisions'].items()))}.",
            ]
            record(lines)
        return 0 if import_ok and verify_ok else 1


if __name__ == "__main__":
    sys.exit(main())

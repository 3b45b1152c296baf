"""Webhook throughput: Stripe payment events processed end to end per second, on PostgreSQL, as in production.

Builds a PostgreSQL database of its own (benchmarks/support.py) with the migrations and the reference data,
then N donations (default 5,000) waiting for their payment spread over 50 fundraising campaigns, and N more
all to one campaign (a hot fund: every gift posts to the same ledger row). It serves the app with gunicorn
(2 sync workers) on loopback with the Stripe provider and production's division of work: jobs go through the
outbox to rq (JOBS_MODE=rq, Redis), relayed by `flask worker` running beside it (OUTBOX_RELAY_IN_REQUEST=0),
and the requests only append audit events, which the worker seals (AUDIT_SEAL_AFTER_COMMIT=0). It delivers one signed `payment_intent.succeeded` per donation
(a third carry the processor's fee, so they post two ledger transactions), each exactly once, from 8
concurrent senders, each signed as Stripe signs it at the moment it is sent. The endpoint answers after the
event's database transaction has committed, so events/s over the run is events stored, applied to the
donation and posted to the ledger, end to end. p50 and p99 are the latencies of single deliveries as the
senders saw them. While it runs, the audit events waiting to be sealed are counted every half second.

Then it delivers the spread events again (Stripe's retries, all duplicates) and measures that too. It waits
until the worker has run every job and sealed every event, stops both, and verifies the result: one stored
event per event, every donation succeeded with exactly one capture and its fee, `ledger.verify()` and
`check_donations()` clean, `flask ledger check` and `flask audit verify` exit 0. It prints a table and appends
a dated section to benchmarks/RESULTS.md, then drops its database.

    .venv/bin/python benchmarks/webhooks.py [--events 5000] [--senders 8] [--no-record] [--keep-db]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth; set BENCH_PG_ADMIN_URL to change that) and
Redis on 127.0.0.1:6379 (database 14, emptied first; BENCH_REDIS_URL to change). Only loopback is used, and
every wait is bounded.
"""

from __future__ import annotations

import argparse
import base64
import os
import platform
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from support import append_results, bench_database, code_revision, postgres_version, workers_cpu_seconds

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from tests.reliability.webhook_load import (  # noqa: E402  (after the path is set)
    WORKERS,
    Delivery,
    PlannedDonation,
    Run,
    free_port,
    log_tail,
    percentile,
    seed_donations,
    send_all,
    server_environment,
    start_gunicorn,
    stop_gunicorn,
    succeeded_event,
    wait_until_idle,
)

CAMPAIGNS = 50
HOT_TARGET_FEN = 2_000_000_000  # never reached by the hot campaign's gifts: it keeps fundraising throughout
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
WARMUP_EVENTS = 200  # delivered first, not measured: the workers' first requests load templates and caches
SECRET = "whsec_benchmark_" + secrets.token_hex(8)


# --- the app ------------------------------------------------------------------------------------------


def flask(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    print(f"  flask {' '.join(args)}", flush=True)
    return subprocess.run(
        [sys.executable, "-m", "flask", *args],
        cwd=PROJECT_ROOT,
        env=env,
        check=False,
        timeout=timeout,
        capture_output=True,
        text=True,
    )


def make_app(env: dict[str, str]):  # type: ignore[no-untyped-def]
    from fundraise import create_app

    return create_app(
        {
            "ENV_NAME": "development",
            "SQLALCHEMY_DATABASE_URI": env["DATABASE_URL"],
            "SECRET_KEY": env["SECRET_KEY"],
            "PII_KEY": env["PII_KEY"],
            "UPLOAD_DIR": env["UPLOAD_DIR"],
            "PAYMENTS_PROVIDER": "stripe",
            "STRIPE_SECRET_KEY": env["STRIPE_SECRET_KEY"],
            "STRIPE_WEBHOOK_SECRET": env["STRIPE_WEBHOOK_SECRET"],
            "JOBS_MODE": "inline",
            "AUDIT_SEAL_AFTER_COMMIT": False,
        }
    )


def seed(env: dict[str, str], count: int, campaigns: int, target_fen: int) -> list[PlannedDonation]:
    from dataclasses import replace

    from fundraise.extensions import db

    app = make_app(env)
    with app.app_context():
        donations = seed_donations(count, campaigns, random.Random(2026 + campaigns), target_fen=target_fen)
        db.session.remove()
        db.engine.dispose()
    return [
        replace(d, fee_fen=max(1, d.amount_fen * 60 // 10_000) if n % 3 == 0 else 0)
        for n, d in enumerate(donations)
    ]


def verify(env: dict[str, str], planned: list[PlannedDonation]) -> tuple[list[str], float]:
    """What the database holds after the run; returns the problems found and the seconds `flask ledger check`
    took."""
    from sqlalchemy import func, select

    from fundraise import ledger
    from fundraise.extensions import db
    from fundraise.models import Donation, LedgerTransaction, PaymentEvent
    from fundraise.services.donations import check_donations

    problems: list[str] = []
    app = make_app(env)
    with app.app_context():
        events = db.session.scalar(select(func.count()).select_from(PaymentEvent))
        if events != len(planned):
            problems.append(f"{events} stored events, expected {len(planned)}")
        statuses = Counter(db.session.scalars(select(Donation.status)))
        if statuses != {"succeeded": len(planned)}:
            problems.append(f"donation states {dict(statuses)}")
        kinds = dict(
            db.session.execute(
                select(LedgerTransaction.kind, func.count()).group_by(LedgerTransaction.kind)
            ).all()
        )
        expected = {"capture": len(planned), "fee": sum(1 for d in planned if d.fee_fen)}
        if kinds != expected:
            problems.append(f"ledger transactions {kinds}, expected {expected}")
        _transactions, violations = ledger.verify()
        problems += violations
        checked, violations = check_donations()
        problems += violations
        if checked != len(planned):
            problems.append(f"check_donations checked {checked} donations")
        db.session.remove()
        db.engine.dispose()
    started = time.monotonic()
    check = flask(env, "ledger", "check")
    check_seconds = time.monotonic() - started
    if check.returncode != 0:
        problems.append(f"flask ledger check exited {check.returncode}: {check.stdout[-500:]}")
    audit_check = flask(env, "audit", "verify")
    print("    " + audit_check.stdout.strip().replace("\n", "\n    "), flush=True)
    if audit_check.returncode != 0:
        problems.append(f"flask audit verify exited {audit_check.returncode}: {audit_check.stdout[-500:]}")
    return problems, check_seconds


# --- the worker and the sealer's backlog -------------------------------------------------------------------


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`flask worker`: runs the jobs the requests queued, relays the outbox, seals the audit log."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "flask", "worker"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def stop_worker(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=10)


class BacklogWatch:
    """Counts the audit events waiting to be sealed, every half second, while deliveries go on."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="backlog-watch", daemon=True)

    def _run(self) -> None:
        import psycopg

        from tests.reliability.webhook_load import plain_url

        with psycopg.connect(plain_url(self.database_url), autocommit=True) as connection:
            while not self._stop.wait(0.5):
                row = connection.execute("SELECT count(*) FROM audit_events WHERE seq IS NULL").fetchone()
                self.samples.append(int(row[0]) if row else 0)

    def __enter__(self) -> BacklogWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def summary(self) -> str:
        if not self.samples:
            return "no samples"
        third = max(1, len(self.samples) // 3)
        return (
            f"largest {max(self.samples):,}, mean {sum(self.samples) / len(self.samples):,.0f}; "
            f"mean of the first third {sum(self.samples[:third]) / third:,.0f}, "
            f"of the last third {sum(self.samples[-third:]) / third:,.0f}"
        )


def wait_until_drained(database_url: str, limit_seconds: float = 300) -> float:
    """Wait until the outbox has no pending message and every audit event is sealed; the seconds waited."""
    import psycopg

    from tests.reliability.webhook_load import plain_url

    started = time.monotonic()
    with psycopg.connect(plain_url(database_url), autocommit=True) as connection:
        while True:
            row = connection.execute(
                "SELECT (SELECT count(*) FROM outbox_messages WHERE status IN ('pending', 'enqueued')),"
                " (SELECT count(*) FROM audit_events WHERE seq IS NULL)"
            ).fetchone()
            assert row is not None
            if row == (0, 0):
                return time.monotonic() - started
            if time.monotonic() - started > limit_seconds:
                raise TimeoutError(f"after {limit_seconds}s: {row[0]} jobs waiting, {row[1]} events unsealed")
            time.sleep(0.5)


# --- measuring -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    label: str
    deliveries: int
    seconds: float
    p50_ms: float
    p99_ms: float
    answers: dict[str, int]
    app_cpu_seconds: float = 0.0  # the gunicorn workers' CPU time over the run (PostgreSQL's not included)

    @property
    def per_second(self) -> float:
        return self.deliveries / self.seconds if self.seconds else 0.0


def measure(label: str, run: Run, cpu_seconds: float) -> Measurement:
    latencies = [o.seconds for o in run.outcomes]
    answers = Counter(
        (o.result or "").split(":")[0]
        if o.status == 200
        else f"HTTP {o.status}"
        if o.status
        else o.error[:40]
        for o in run.outcomes
    )
    return Measurement(
        label,
        len(run.outcomes),
        run.seconds,
        percentile(latencies, 0.5) * 1000,
        percentile(latencies, 0.99) * 1000,
        dict(answers),
        cpu_seconds,
    )


def deliver_all(
    port: int, deliveries: list[Delivery], senders: int, server: subprocess.Popen[bytes]
) -> tuple[Run, float]:
    """Deliver everything; returns the run and the CPU seconds the app's workers spent on it."""
    cpu_before = workers_cpu_seconds(server.pid)
    run = send_all(port, deliveries, SECRET, senders=senders, timeout=60, limit_seconds=1800)
    cpu = workers_cpu_seconds(server.pid) - cpu_before
    if run.errors or run.stragglers:
        raise RuntimeError(f"{run.stragglers} deliveries not made; {run.errors[:3]}")
    return run, cpu


# --- reporting -----------------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _sep, value = line.partition(":")
            if key.strip() in ("model name", "Model", "cpu model", "Hardware"):
                return value.strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def table(results: list[Measurement]) -> list[str]:
    lines = [
        "| deliveries | count | events/s | p50 | p99 | app CPU per event | answers |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for m in results:
        answers = ", ".join(f"{k} {v:,}" for k, v in sorted(m.answers.items()))
        lines.append(
            f"| {m.label} | {m.deliveries:,} | {m.per_second:,.0f} | {m.p50_ms:.1f} ms | {m.p99_ms:.1f} ms "
            f"| {m.app_cpu_seconds / max(m.deliveries, 1) * 1000:.1f} ms | {answers} |"
        )
    return lines


def record(
    results: list[Measurement],
    events: int,
    senders: int,
    started: datetime,
    load: str,
    check_seconds: float,
    backlog: str,
    drained_seconds: float,
) -> None:
    spread, hot = results[0], results[1]
    section = [
        f"## {started:%Y-%m-%d %H:%M} UTC: webhooks.py",
        "",
        f"- machine: `{platform.machine()}`, {cpu_model()}, {os.cpu_count()} cores; load average {load} at start",
        f"- Python {platform.python_version()}, PostgreSQL {postgres_version()}; code at {code_revision()}",
        f"- gunicorn {WORKERS} sync workers on 127.0.0.1; {senders} sender threads (http.client, one connection "
        "per delivery) on the same machine; app CPU = the workers' user+system time over the run / events "
        "(PostgreSQL's and the rq worker's own CPU not included)",
        f"- {events:,} donations in {CAMPAIGNS} campaigns and {events:,} to one campaign, one signed "
        f"`payment_intent.succeeded` each (a third with the fee); {WARMUP_EVENTS} warm-up events first, not "
        "counted; jobs through the outbox to rq and `flask worker` (which also seals the audit log) running "
        "beside gunicorn, as in production",
        "",
        *table(results),
        "",
        f"{spread.per_second:,.0f} first-time events/s over {CAMPAIGNS} campaigns (aim ≥ 300: "
        f"{'met' if spread.per_second >= 300 else 'NOT met'}), {hot.per_second:,.0f}/s on one hot campaign "
        f"(aim ≥ 150: {'met' if hot.per_second >= 150 else 'NOT met'}). Audit events waiting to be sealed "
        f"during the deliveries: {backlog}; the worker had run every job and sealed every event "
        f"{drained_seconds:.1f} s after the last delivery. Verified afterwards: every donation succeeded once "
        f"with one capture, `ledger.verify` and `check_donations` clean, `flask ledger check` exit 0 in "
        f"{check_seconds:.1f} s, `flask audit verify` exit 0.",
        "",
    ]
    append_results(section)


# --- main ----------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000, help="events measured per scenario")
    parser.add_argument("--senders", type=int, default=8, help="concurrent sender threads")
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    parser.add_argument("--keep-db", action="store_true", help="leave the database in place")
    args = parser.parse_args()
    events = max(1, min(args.events, 200_000))

    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    started = datetime.now(UTC)
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    workdir = Path(tempfile.mkdtemp(prefix="aidbridge-bench-webhooks-"))
    (workdir / "uploads").mkdir()
    log = workdir / "gunicorn.log"
    worker_log = workdir / "worker.log"
    # Undone in reverse: gunicorn and the worker stop, then the database is dropped, then the scratch files go.
    with ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
        database_url = cleanup.enter_context(bench_database("webhooks", keep=args.keep_db))
        env = server_environment(
            database_url,
            SECRET,
            secrets.token_urlsafe(32),
            base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            workdir / "uploads",
        )
        # Production's division of work: the requests neither relay their jobs nor seal; the worker does both.
        env.update(
            {
                "JOBS_MODE": "rq",
                "REDIS_URL": REDIS_URL,
                "AUDIT_SEAL_AFTER_COMMIT": "0",
                "OUTBOX_RELAY_IN_REQUEST": "0",
            }
        )
        done = flask(env, "reference", "load")
        if done.returncode != 0:
            print(done.stdout[-2000:] + done.stderr[-2000:], file=sys.stderr)
            return 1
        print(
            f"== {events + WARMUP_EVENTS:,} donations in {CAMPAIGNS} campaigns, {events:,} to one", flush=True
        )
        planned = seed(env, events + WARMUP_EVENTS, CAMPAIGNS, 50_000_000)
        planned_hot = seed(env, events, 1, HOT_TARGET_FEN)
        made = [Delivery(*succeeded_event(d)) for d in planned]
        warmup, measured = made[:WARMUP_EVENTS], made[WARMUP_EVENTS:]
        hot = [Delivery(*succeeded_event(d)) for d in planned_hot]
        random.Random(7).shuffle(measured)
        random.Random(8).shuffle(hot)

        print("== gunicorn and flask worker", flush=True)
        port = free_port()
        server = start_gunicorn(env, port, log)
        cleanup.callback(stop_gunicorn, server)
        worker = start_worker(env, worker_log)
        cleanup.callback(stop_worker, worker)
        print(
            f"== {WARMUP_EVENTS} warm-up events, then {events:,} events from {args.senders} senders",
            flush=True,
        )
        deliver_all(port, warmup, args.senders, server)
        with BacklogWatch(database_url) as backlog:
            spread = measure(
                f"first delivery, {CAMPAIGNS} campaigns", *deliver_all(port, measured, args.senders, server)
            )
            print(f"  {spread.per_second:,.0f} events/s", flush=True)
            print(f"== {events:,} events to one campaign", flush=True)
            hot_run = measure(
                "first delivery, one hot campaign", *deliver_all(port, hot, args.senders, server)
            )
            print(f"  {hot_run.per_second:,.0f} events/s", flush=True)
        print("== the spread events again (duplicates)", flush=True)
        again = measure("again (duplicate)", *deliver_all(port, measured, args.senders, server))
        drained = wait_until_drained(database_url)
        print(
            f"  sealer backlog during the deliveries: {backlog.summary()}; drained {drained:.1f}s after",
            flush=True,
        )
        wait_until_idle(database_url, limit_seconds=120)
        stop_gunicorn(server)
        stop_worker(worker)
        results = [spread, hot_run, again]
        print()
        print("\n".join(table(results)))
        for path in (log, worker_log):
            if "Traceback" in path.read_text(errors="replace"):
                print(f"{path.name} holds a traceback:\n" + log_tail(path, 60), file=sys.stderr)
                return 1
        if set(spread.answers) != {"recorded"} or set(hot_run.answers) != {"recorded"}:
            print("unexpected answers; not recorded", file=sys.stderr)
            return 1
        if set(again.answers) != {"duplicate"}:
            print("unexpected answers to the duplicates; not recorded", file=sys.stderr)
            return 1

        print("== verifying the ledger and the audit log", flush=True)
        problems, check_seconds = verify(env, planned + planned_hot)
        for problem in problems[:20]:
            print(f"  {problem}", file=sys.stderr)
        if problems:
            print(f"{len(problems)} problems; not recorded", file=sys.stderr)
            return 1
        print(f"  ledger consistent; flask ledger check took {check_seconds:.1f}s")
        if not args.no_record:
            record(results, events, args.senders, started, load, check_seconds, backlog.summary(), drained)
        return 0


if __name__ == "__main__":
    sys.exit(main())

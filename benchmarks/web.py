"""Web throughput: the campaign page and the browse page next to the trivial route, on one server, in one run.

Builds a PostgreSQL database of its own (benchmarks/support.py) with the migrations, the reference data
and 1,000 fundraising campaigns (photos, evidence, updates and their audit history), serves the app with
gunicorn (2 workers) on loopback, and measures each route in turn with wrk:

    /healthz                  the trivial route, the baseline
    /campaigns/<id>           a campaign's public page
    /campaigns                the browse page (first page)
    the same two pages with a query string never asked before on every request (wrk -s): a page-cache miss
    each time, so what rendering the page costs

Each route is warmed up, then measured in three interleaved rounds (a burst of other work on a shared machine
falls on every route, not on one). It prints requests/sec, p50 and p99, each route's throughput as a share of the
trivial route's and the app workers' CPU per request (steadier than throughput on a shared machine), appends a
dated section to benchmarks/RESULTS.md, then stops gunicorn and drops its database. The aim: the campaign page
at >= 40% of the trivial route's throughput.

    .venv/bin/python benchmarks/web.py [--duration 15] [--campaigns 1000] [--no-record] [--keep-db]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth; BENCH_PG_ADMIN_URL to change) and wrk.
Only loopback is used; every wrk run and every wait is bounded.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from support import bench_database, postgres_version
from web_load import (
    RENDER_EVERY_TIME,
    ROUNDS,
    WARMUP_SECONDS,
    WORKERS,
    WRK_CONNECTIONS,
    WRK_THREADS,
    Measurement,
    app_environment,
    flask,
    free_port,
    http_get,
    measure,
    seed,
    start_gunicorn,
    stop_gunicorn,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent

RESULTS = PROJECT_ROOT / "benchmarks" / "RESULTS.md"
AIM = 0.40  # campaign page throughput / trivial route throughput


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


def wrk_version() -> str:
    done = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10)
    match = re.search(r"wrk (\S+)", done.stdout + done.stderr)
    return match.group(1) if match else "unknown"


def cpu_ms(m: Measurement) -> float:
    """The app workers' CPU per request, in milliseconds."""
    return m.app_cpu_seconds * 1000 / m.requests if m.requests else 0.0


def table(results: list[Measurement]) -> list[str]:
    baseline = results[0].requests_per_second
    baseline_cpu = cpu_ms(results[0])
    lines = [
        "| route | requests/s | p50 | p99 | throughput vs /healthz | app CPU per request | /healthz's CPU / this |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for m in results:
        share = m.requests_per_second / baseline if baseline else 0.0
        cpu_share = baseline_cpu / cpu_ms(m) if cpu_ms(m) else 0.0
        lines.append(
            f"| {m.label} `{m.path}` | {m.requests_per_second:,.0f} | {m.p50_ms:.2f} ms | {m.p99_ms:.2f} ms "
            f"| {share:.0%} | {cpu_ms(m):.2f} ms | {cpu_share:.0%} |"
        )
    return lines


def record(results: list[Measurement], campaigns: int, seconds: int, started: datetime, load: str) -> None:
    baseline = results[0].requests_per_second
    campaign_share = results[1].requests_per_second / baseline
    browse_share = results[2].requests_per_second / baseline
    verdict = "met" if campaign_share >= AIM else "NOT met"
    section = [
        f"## {started:%Y-%m-%d %H:%M} UTC",
        "",
        f"- machine: `{platform.machine()}`, {cpu_model()}, {os.cpu_count()} cores",
        f"- Python {platform.python_version()}, PostgreSQL {postgres_version()}, wrk {wrk_version()}",
        f"- load average when the run started: {load} (the machine may be shared: the CPU columns are the steadier "
        "figure)",
        f"- gunicorn {WORKERS} sync workers on 127.0.0.1; wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS} --latency on "
        f"the same machine; each route warmed up {WARMUP_SECONDS}s, then {ROUNDS} interleaved rounds of "
        f"{max(1, round(seconds / ROUNDS))}s per route; app CPU = the workers' user+system time / requests "
        "(PostgreSQL's and wrk's not included)",
        f"- {campaigns:,} fundraising campaigns; development settings, jobs inline",
        "",
        *table(results),
        "",
        f"Campaign page at {campaign_share:.0%} of the trivial route's throughput, browse page at "
        f"{browse_share:.0%}. Aim (campaign page >= {AIM:.0%}): {verdict}. By the app's CPU per request the "
        f"campaign page costs {cpu_ms(results[1]) / max(cpu_ms(results[0]), 1e-9):.1f}x the trivial route.",
        *(
            [
                "",
                "The first rows are what visitors who are not signed in get: after the first request the page "
                "comes from the page cache, checked against the database with one query. The rows rendered each "
                "time ask with a query string never asked before (a cache miss every time), so they measure the "
                f"page rendered: campaign page at {results[3].requests_per_second / baseline:.0%}, browse at "
                f"{results[4].requests_per_second / baseline:.0%}.",
            ]
            if len(results) >= 5
            else []
        ),
        "",
    ]
    if not RESULTS.exists():
        RESULTS.write_text(
            "# Benchmark results\n\nAppended by the scripts in this folder, newest last. "
            "See README.md for what each measures.\n\n"
        )
    with RESULTS.open("a") as out:
        out.write("\n".join(section) + "\n")
    print(f"\nappended to {RESULTS.relative_to(PROJECT_ROOT)}")


# --- main ----------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=15, help="seconds of measurement per route (max 120)")
    parser.add_argument("--campaigns", type=int, default=1000, help="fundraising campaigns to create")
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    parser.add_argument("--keep-db", action="store_true", help="leave the database in place")
    args = parser.parse_args()
    seconds = max(1, min(args.duration, 120))
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2

    started = datetime.now(UTC)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    workdir = Path(tempfile.mkdtemp(prefix="aidbridge-bench-"))
    upload_dir = workdir / "uploads"
    upload_dir.mkdir()
    # Undone in reverse: gunicorn stops, then the database is dropped, then the scratch files go.
    with ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
        env = app_environment(cleanup.enter_context(bench_database("web", keep=args.keep_db)), upload_dir)
        flask(env, "reference", "load")
        print(f"== {args.campaigns:,} campaigns", flush=True)
        t0 = time.monotonic()
        campaign_id = seed(env, args.campaigns, upload_dir)
        print(f"  done in {time.monotonic() - t0:.0f}s; measuring campaign {campaign_id}", flush=True)

        print("== gunicorn", flush=True)
        port = free_port()
        server = start_gunicorn(env, port, workdir / "gunicorn.log")
        cleanup.callback(stop_gunicorn, server)
        base = f"http://127.0.0.1:{port}"
        routes = [
            ("trivial", "/healthz"),
            ("campaign page", f"/campaigns/{campaign_id}"),
            ("browse", "/campaigns"),
            ("campaign page, rendered each time", f"/campaigns/{campaign_id}{RENDER_EVERY_TIME}"),
            ("browse, rendered each time", f"/campaigns{RENDER_EVERY_TIME}"),
        ]
        missing = []
        for _label, path in routes:
            status, body = http_get(base + path.replace(RENDER_EVERY_TIME, "?render=check"))
            if status != 200:
                missing.append(f"{path}: HTTP {status}")
            elif path != "/healthz" and len(body) < 500:
                missing.append(f"{path}: only {len(body)} bytes (a placeholder, not the page)")
        if missing:
            print("cannot measure, the pages are not there yet:\n  " + "\n  ".join(missing), file=sys.stderr)
            log_tail = (workdir / "gunicorn.log").read_text(errors="replace").splitlines()[-30:]
            print("gunicorn's log ends:\n" + "\n".join(log_tail), file=sys.stderr)
            return 1

        print("== wrk", flush=True)
        results = measure(base, routes, seconds, workdir, server.pid)
        print()
        print("\n".join(table(results)))
        failed = [m for m in results if m.errors]
        for m in failed:
            print(f"  {m.path}: {m.errors}", file=sys.stderr)
        if failed:
            print("errors during measurement; not recorded", file=sys.stderr)
            return 1
        share = results[1].requests_per_second / results[0].requests_per_second
        print(f"\ncampaign page at {share:.0%} of /healthz (aim >= {AIM:.0%})")
        if cpu_ms(results[1]):
            print(
                f"app CPU per request: /healthz {cpu_ms(results[0]):.2f} ms, campaign page {cpu_ms(results[1]):.2f} ms"
            )
        if not args.no_record:
            record(results, args.campaigns, seconds, started, load)
        return 0


if __name__ == "__main__":
    sys.exit(main())

"""The officers' register at the size of a prefecture: 100,000 recipients in one jurisdiction (and 20,000 outside
it), each with a verification report, gifts, and a few of them paid out. Measures, on PostgreSQL behind gunicorn:

- the register page (random pages of the default list, and sorted by total aid) under 8 concurrent officers,
  p50/p95/p99 by wrk, beside /healthz in the same run (the aim: p95 ≤ 300 ms);
- the CSV export of every row of the jurisdiction: wall time and the worker's peak memory before and after (the
  aim: ≤ 10 s, memory flat), beside a raw `COPY ... TO STDOUT` of the campaigns table in the same run.

    .venv/bin/python benchmarks/register.py [--recipients 100000] [--duration 20] [--no-record] [--keep-db]

The rows are written with COPY (the seeding is not what is measured); results go to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import io
import os
import random
import re
import secrets
import shutil
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import (
    append_results,
    bench_database,
    code_revision,
    machine_line,
    postgres_version,
)
from web_load import (
    GIVEN,
    SURNAMES,
    app_environment,
    flask,
    free_port,
    start_gunicorn,
    stop_gunicorn,
)

OFFICER_EMAIL, OFFICER_PASSWORD = "officer@bench.aidbridge.cn", "bench-officer-password"
PREFIX = "3412"
CONCURRENT_OFFICERS = 8

# Every request as the signed-in officer (the same User-Agent as the sign-in: sessions are bound to it); any
# answer but 200 (a redirect to the sign-in page included) is counted and reported.
COUNT_AND_REPORT = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0 end
function response(status, headers, body) if status ~= 200 then bad = bad + 1 end end
done = function(summary, latency, requests)
  local not_ok = 0
  for _, t in ipairs(threads) do not_ok = not_ok + t:get("bad") end
  io.write(string.format("P50 %.1f\\nP95 %.1f\\nP99 %.1f\\nREQUESTS %d\\nNOT200 %d\\n",
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    summary.requests, not_ok))
end
"""
USER_AGENT = "aidbridge-register-bench"
PAGES_SCRIPT = (
    """
local pages = @PAGES@
local sort = "@SORT@"
local cookie = "@COOKIE@"
math.randomseed(os.time())
request = function()
  local path = "/staff/register?page=" .. math.random(1, pages) .. sort
  return wrk.format("GET", path, {["Cookie"] = cookie, ["User-Agent"] = "@AGENT@"})
end
"""
    + COUNT_AND_REPORT
)


def pages_script(pages: int, sort: str, cookie: str) -> str:
    values = {"@PAGES@": str(pages), "@SORT@": sort, "@COOKIE@": cookie, "@AGENT@": USER_AGENT}
    script = PAGES_SCRIPT
    for marker, value in values.items():
        script = script.replace(marker, value)
    return script


HEALTHZ_SCRIPT = COUNT_AND_REPORT


# --- seeding with COPY ---------------------------------------------------------------------------------


def _copy(connection: Any, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    with connection.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def seed(env: dict[str, str], recipients: int, outside: int) -> float:
    """The officer (through the app), then campaigns, reports and gifts by COPY; returns the seconds the
    campaigns' COPY took (the raw-COPY baseline for the export)."""
    import psycopg

    from fundraise import create_app
    from fundraise.extensions import db
    from fundraise.models import Role
    from fundraise.services import accounts

    app = create_app(
        {"ENV_NAME": "development", "SQLALCHEMY_DATABASE_URI": env["DATABASE_URL"], **_keys(env)}
    )
    with app.app_context():
        accounts.create_account(
            OFFICER_EMAIL,
            "压测民政专员",
            OFFICER_PASSWORD,
            Role.CIVIL_AFFAIRS_OFFICER,
            jurisdiction_code="341200",
        )
        family = accounts.register(
            "family@bench.aidbridge.cn", "压测家庭", secrets.token_urlsafe(12), Role.FAMILY
        )
        family_id = family.id
        db.session.commit()
    rng = random.Random(2026)
    url = env["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as connection:
        counties = [row[0] for row in connection.execute("SELECT code FROM regions WHERE level = 'county'")]
        inside = [code for code in counties if code.startswith(PREFIX)]
        elsewhere = [code for code in counties if not code.startswith(PREFIX)]
        hospitals = [row[0] for row in connection.execute("SELECT id FROM hospitals")]
        now = datetime.now(UTC)
        campaigns = []
        total = recipients + outside
        for n in range(total):
            region = rng.choice(inside if n < recipients else elsewhere)
            cost = rng.randrange(50_000, 500_000) * 100
            name = rng.choice(SURNAMES) + rng.choice(GIVEN)
            index = secrets.token_hex(32) if rng.random() > 0.01 else "dup" + str(n % 50)
            created = now - timedelta(days=rng.randrange(1, 400))
            campaigns.append(
                (
                    n + 1,
                    rng.choice(["fundraising"] * 8 + ["closed", "verified"]),
                    family_id,
                    f"请帮助{name}",
                    "",
                    name,
                    index,
                    "3412**********123X",
                    region,
                    "",
                    rng.choice(hospitals),
                    "",
                    cost,
                    cost * 7 // 10,
                    1,
                    0,
                    0,
                    min(cost // 3, 50_000_000),
                    0,
                    0,
                    0,
                    0,
                    0,
                    False,
                    "",
                    False,
                    "",
                    "",
                    created,
                    created,
                    created,
                    created,
                )
            )
        columns = [
            "id",
            "state",
            "applicant_id",
            "title",
            "story",
            "patient_name",
            "patient_id_index",
            "patient_id_masked",
            "patient_region_code",
            "diagnosis_text",
            "hospital_id",
            "treatment_plan",
            "cost_total_fen",
            "cost_in_policy_fen",
            "admissions",
            "next_year_admissions",
            "next_year_cost_fen",
            "target_fen",
            "household_income_fen",
            "savings_fen",
            "commercial_insurance_fen",
            "other_fundraising_fen",
            "household_size",
            "assistance_claimed",
            "house_note",
            "owns_car",
            "car_note",
            "decision_reason",
            "created_at",
            "updated_at",
            "submitted_at",
            "state_changed_at",
        ]
        at, cost = columns.index("created_at"), columns.index("cost_total_fen")
        started = time.monotonic()
        _copy(connection, "campaigns", columns, campaigns)
        copy_seconds = time.monotonic() - started
        connection.execute("SELECT setval('campaigns_id_seq', %s)", (total,))
        reports = [
            (
                c[0],
                c[at],
                "submission",
                "verified",
                c[cost],
                c[cost] * 45 // 100,
                c[cost] * 10 // 100,
                c[cost] * 5 // 100,
                "341200",
                2026,
                False,
                '{"checks": []}',
            )
            for c in campaigns
        ]
        _copy(
            connection,
            "verification_reports",
            [
                "campaign_id",
                "created_at",
                "trigger",
                "decision",
                "total_cost_fen",
                "basic_fen",
                "critical_illness_fen",
                "assistance_fen",
                "policy_region_code",
                "policy_year",
                "changed_outcome",
                "report",
            ],
            reports,
        )
        gifts = []
        for c in campaigns:
            for k in range(2):
                gifts.append(
                    (
                        c[0],
                        rng.randrange(100, 5_000) * 100,
                        "CNY",
                        "refund",
                        "succeeded",
                        0,
                        0,
                        "sandbox",
                        secrets.token_hex(16),
                        "",
                        "",
                        False,
                        c[at],
                        c[at],
                        c[at],
                        "",
                        f"bench-{c[0]}-{k}",
                    )
                )
        _copy(
            connection,
            "donations",
            [
                "campaign_id",
                "amount_fen",
                "currency",
                "surplus_choice",
                "status",
                "refunded_fen",
                "disputed_fen",
                "provider",
                "idempotency_key",
                "display_name",
                "message",
                "anonymous",
                "created_at",
                "confirmed_at",
                "updated_at",
                "failure_reason",
                "receipt_email",
            ],
            gifts,
        )
        connection.commit()
        # A table in steady state has been vacuumed (autovacuum does it after inserts): without it the visibility
        # map is empty and every "index-only" scan visits the heap, which no real register would pay.
        connection.autocommit = True
        connection.execute("VACUUM (ANALYZE)")
    return copy_seconds


def _keys(env: dict[str, str]) -> dict[str, str]:
    return {"SECRET_KEY": env["SECRET_KEY"], "PII_KEY": env["PII_KEY"], "UPLOAD_DIR": env["UPLOAD_DIR"]}


# --- measuring -----------------------------------------------------------------------------------------


def signed_in_cookie(base: str) -> tuple[str, urllib.request.OpenerDirector]:
    """The officer's session cookie, by the sign-in form (with its CSRF token)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.addheaders = [("User-Agent", USER_AGENT)]
    page = opener.open(base + "/login", timeout=10).read().decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
        r'name="csrf_token" value="([^"]+)"', page
    )
    assert token, "no CSRF token on the sign-in page"
    body = urllib.parse.urlencode(
        {"email": OFFICER_EMAIL, "password": OFFICER_PASSWORD, "csrf_token": token.group(1)}
    )
    opener.open(base + "/login", data=body.encode(), timeout=10).read()
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    with opener.open(base + "/staff/register", timeout=60) as response:
        assert response.status == 200, response.status
        assert response.url.endswith("/staff/register"), f"not signed in: {response.url}"
    return cookie, opener


def wrk(base: str, script: str, path: str, seconds: int, workdir: Path) -> dict[str, float]:
    import subprocess

    file = workdir / f"s{secrets.token_hex(4)}.lua"
    file.write_text(script)
    done = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{CONCURRENT_OFFICERS}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(file),
            base + path,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    found = dict(re.findall(r"^(P50|P95|P99|REQUESTS|NOT200) ([\d.]+)$", done.stdout, re.M))
    if "P95" not in found:
        raise RuntimeError(done.stdout + done.stderr)
    return {key: float(value) for key, value in found.items()}


def worker_memory_kb(master_pid: int) -> dict[int, tuple[int, int]]:
    """Each gunicorn worker's current and peak resident memory (VmRSS, VmHWM), in kB."""
    out = {}
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    for child in children:
        status = Path(f"/proc/{child}/status").read_text()
        rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
        hwm = int(re.search(r"VmHWM:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
        out[int(child)] = (rss, hwm)
    return out


def raw_copy_seconds(url: str) -> float:
    import psycopg

    started = time.monotonic()
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        sink = io.BytesIO()
        with connection.cursor().copy(
            f"COPY (SELECT * FROM campaigns WHERE patient_region_code LIKE '{PREFIX}%') TO STDOUT WITH CSV"
        ) as copy:
            for chunk in copy:
                sink.write(chunk)
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--outside", type=int, default=20_000)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    started_at = datetime.now(UTC)
    load = os.getloadavg()
    workdir = Path(tempfile.mkdtemp(prefix="aidbridge-bench-register-"))
    (workdir / "uploads").mkdir()
    with ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
        url = cleanup.enter_context(bench_database("register", keep=args.keep_db))
        env = app_environment(url, workdir / "uploads")
        flask(env, "reference", "load")
        print(f"== {args.recipients:,} recipients in {PREFIX}, {args.outside:,} elsewhere", flush=True)
        t0 = time.monotonic()
        seed_copy = seed(env, args.recipients, args.outside)
        print(f"  seeded in {time.monotonic() - t0:.0f}s", flush=True)
        port = free_port()
        server = start_gunicorn(env, port, workdir / "gunicorn.log")
        cleanup.callback(stop_gunicorn, server)
        base = f"http://127.0.0.1:{port}"
        cookie, opener = signed_in_cookie(base)
        pages = max(1, args.recipients // 50)
        print("== page latency under 8 concurrent officers", flush=True)
        healthz = wrk(base, HEALTHZ_SCRIPT, "/healthz", args.duration, workdir)
        default = wrk(base, pages_script(pages, "", cookie), "/", args.duration, workdir)
        by_aid = wrk(base, pages_script(pages, "&sort=total_aid", cookie), "/", args.duration, workdir)
        print("== CSV export of the whole jurisdiction", flush=True)
        before = worker_memory_kb(server.pid)
        t0 = time.monotonic()
        rows = 0
        with opener.open(base + "/staff/register/export.csv", timeout=600) as response:
            for _line in response:
                rows += 1
        export_seconds = time.monotonic() - t0
        after = worker_memory_kb(server.pid)
        copy_seconds = raw_copy_seconds(url)
    grew = max((after[pid][1] - before.get(pid, (0, 0))[1]) for pid in after) / 1024
    peak = max(hwm for _rss, hwm in after.values()) / 1024
    section = [
        f"## Officers' register — {started_at:%Y-%m-%d %H:%M} UTC, `{code_revision()}`",
        "",
        machine_line(load),
        f"- PostgreSQL {postgres_version()}; gunicorn 2 workers; wrk {CONCURRENT_OFFICERS} connections (officers),"
        f" {args.duration}s per route; {args.recipients:,} recipients in {PREFIX} and {args.outside:,} elsewhere,"
        " each with a verification report and two gifts (seeded by COPY)",
        "",
        "| what | p50 ms | p95 ms | p99 ms | requests | not 200 |",
        "|---|---:|---:|---:|---:|---:|",
        *[
            f"| {label} | {m['P50']:.1f} | {m['P95']:.1f} | {m['P99']:.1f} | {int(m['REQUESTS'])} | {int(m['NOT200'])} |"
            for label, m in (
                ("/healthz (baseline)", healthz),
                ("register page, random page", default),
                ("register page, sorted by total aid", by_aid),
            )
        ],
        "",
        f"- CSV export of the jurisdiction: {rows - 1:,} rows in {export_seconds:.1f} s (aim ≤ 10 s); raw"
        f" `COPY (campaigns of {PREFIX}) TO STDOUT` in the same run {copy_seconds:.2f} s (seeding's COPY of all"
        f" campaigns {seed_copy:.2f} s); the worker's peak memory grew {grew:.0f} MB during the export (peak"
        f" {peak:.0f} MB)",
        f"- p95 of the register page against /healthz: {default['P95'] / max(healthz['P95'], 0.1):.0f}×",
    ]
    print("\n".join(section))
    if not args.no_record:
        append_results(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

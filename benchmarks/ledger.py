"""A posting to a campaign fund with a long history costs what a posting to a fresh fund costs (issue 10, part 2).

Builds a database of its own (benchmarks/support.py). One fund gets N earlier entries (default 100,000),
written by a raw COPY with their transactions and the balance they add up to; another fund is fresh. Then it
posts the same gifts (`ledger.post_transfer`, each a deposit and a withdrawal of a processor's fee, each in its
own committed transaction) to both funds, alternating in rounds so that the machine's drift falls on both
alike, and reports per posting the time and SQL statements for each fund. The baseline beside it is what the
ledger did before balances were stored: summing the old fund's entries, once, as every guarded posting did.
At the end every stored balance is checked against its entries.

    .venv/bin/python benchmarks/ledger.py [--history 100000] [--postings 2000] [--no-record] [--keep-db]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from support import append_results, bench_database, code_revision, machine_line, postgres_version

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))
ROUND = 100  # postings to one fund before switching to the other


def copy_history(url: str, fund_id: int, clearing_id: int, history: int) -> float:
    """`history` captures into the fund (a transaction and two entries each), by COPY; the seconds it took."""
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(url) as connection, connection.cursor() as cursor:
        first = cursor.execute("SELECT coalesce(max(id), 0) + 1 FROM ledger_transactions").fetchone()[0]  # type: ignore[index]
        now = datetime.now(UTC)
        with cursor.copy(
            "COPY ledger_transactions (id, idempotency_key, kind, memo, refs, created_at) FROM STDIN"
        ) as copy:
            for n in range(history):
                copy.write_row((first + n, f"bench:history:{n}", "capture", "history", "{}", now))
        with cursor.copy("COPY ledger_entries (transaction_id, account_id, amount_fen) FROM STDIN") as copy:
            for n in range(history):
                copy.write_row((first + n, clearing_id, -(100 + n % 997)))
                copy.write_row((first + n, fund_id, 100 + n % 997))
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('ledger_transactions', 'id'), %s)", (first + history,)
        )
        cursor.execute(
            "UPDATE ledger_accounts SET balance_fen = (SELECT sum(amount_fen) FROM ledger_entries"
            " WHERE account_id = %s), version = %s WHERE id = %s",
            (fund_id, history, fund_id),
        )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, default=100_000, help="earlier entries on the old fund")
    parser.add_argument("--postings", type=int, default=2_000, help="postings to each fund")
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()

    with bench_database("ledger", keep=args.keep_db) as url:
        from sqlalchemy import event, func, select

        from fundraise import create_app, ledger
        from fundraise.extensions import db
        from fundraise.models import AccountKind, LedgerEntry, TransactionKind

        app = create_app(
            {"ENV_NAME": "development", "SQLALCHEMY_DATABASE_URI": url, "AUDIT_SEAL_AFTER_COMMIT": False}
        )
        with app.app_context():
            clearing, fees, old, fresh = ledger.accounts(
                (AccountKind.DONOR_CLEARING, 0),
                (AccountKind.PROCESSOR_FEES, 0),
                (AccountKind.CAMPAIGN_FUND, 1),
                (AccountKind.CAMPAIGN_FUND, 2),
            )
            ids = {"old": old.id, "fresh": fresh.id, "clearing": clearing.id, "fees": fees.id}
            db.session.commit()
            print(f"== COPY {args.history:,} earlier captures into the old fund", flush=True)
            copy_seconds = copy_history(url, ids["old"], ids["clearing"], args.history)

            statements = 0

            def count(*_args: Any) -> None:
                nonlocal statements
                statements += 1

            event.listen(db.engine, "before_cursor_execute", count)
            seconds: dict[str, list[float]] = {"old": [], "fresh": []}
            counted: dict[str, int] = {"old": 0, "fresh": 0}
            print(f"== {args.postings:,} gifts (with a fee) to each fund, alternating by {ROUND}", flush=True)
            for start in range(0, args.postings, ROUND):
                for name in ("old", "fresh"):
                    for n in range(start, min(start + ROUND, args.postings)):
                        before = statements
                        began = time.perf_counter()
                        fund, source, fee_to = ledger.accounts(
                            (AccountKind.CAMPAIGN_FUND, 1 if name == "old" else 2),
                            (AccountKind.DONOR_CLEARING, 0),
                            (AccountKind.PROCESSOR_FEES, 0),
                        )
                        ledger.post_transfer(
                            f"bench:{name}:{n}:capture",
                            TransactionKind.CAPTURE,
                            [(source, -10_000), (fund, 10_000)],
                        )
                        ledger.post_transfer(
                            f"bench:{name}:{n}:fee", TransactionKind.FEE, [(fee_to, 60), (fund, -60)]
                        )
                        db.session.commit()
                        seconds[name].append(time.perf_counter() - began)
                        counted[name] += statements - before
            event.remove(db.engine, "before_cursor_execute", count)

            print("== re-summing the old fund's entries once (what each posting did before)", flush=True)
            began = time.perf_counter()
            db.session.scalar(
                select(func.sum(LedgerEntry.amount_fen)).where(LedgerEntry.account_id == ids["old"])
            )
            resum = time.perf_counter() - began
            db.session.commit()
            violations = ledger._stored_balance_violations()
            assert violations == [], violations[:3]
            held = ledger.balances([ids["old"], ids["fresh"]])

    def ms(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    rows = []
    for name, label in (
        ("fresh", "fresh fund (baseline)"),
        ("old", f"fund with {args.history:,} earlier entries"),
    ):
        rows.append(
            f"| {label} | {len(seconds[name]):,} | {statistics.median(seconds[name]) * 1000:.2f} ms "
            f"| {ms(seconds[name], 0.99):.2f} ms | {counted[name] / len(seconds[name]):.1f} "
            f"| {statistics.median(seconds['fresh']) / statistics.median(seconds[name]):.0%} |"
        )
    table = [
        "| gift posted to | gifts | median per gift | p99 | SQL statements per gift | speed vs fresh fund |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        *rows,
    ]
    ratio = statistics.median(seconds["old"]) / statistics.median(seconds["fresh"])
    summary = (
        f"A gift (capture and fee, committed) to the fund with {args.history:,} earlier entries costs "
        f"{ratio:.2f}× what it costs on a fresh fund, in the same number of statements. Summing that fund's "
        f"entries once, as every guarded posting did before balances were stored, takes {resum * 1000:.1f} ms "
        f"by itself. Stored balances agree with the entries afterwards (old fund {held[ids['old']]:,} fen, "
        f"fresh {held[ids['fresh']]:,} fen). The history went in by COPY in {copy_seconds:.1f} s."
    )
    print("\n".join(table))
    print(summary)
    if args.no_record:
        return
    section = [
        "",
        f"## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: ledger.py",
        "",
        machine_line(load),
        f"- Python {platform.python_version()}, PostgreSQL {postgres_version()}; code at {code_revision()}",
        f"- one process, `ledger.post_transfer` in the app; {args.postings:,} gifts per fund, each a capture and "
        f"a fee in one committed transaction, the funds alternating every {ROUND}",
        "",
        *table,
        "",
        summary,
        "",
    ]
    append_results(section)


if __name__ == "__main__":
    main()

"""Races that really happen: threads, each with its own app context and database connection, released together.

On PostgreSQL (TEST_DATABASE_URL, as in CI) rows are locked with SELECT ... FOR UPDATE; on SQLite BEGIN
IMMEDIATE serialises the writers. The invariants are the same on both.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from flask import Flask

from fundraise.extensions import db

THREADS = 8


def race(app: Flask, work: Callable[[int], Any], threads: int = THREADS) -> list[Any]:
    """Run work(i) in `threads` threads released together; returns each result (or the exception raised)."""
    # This thread's session must not hold a transaction while the others race (on SQLite it would hold
    # the database's write lock).
    db.session.rollback()
    start = threading.Barrier(threads)
    results: list[Any] = [None] * threads

    def run(i: int) -> None:
        with app.app_context():
            try:
                start.wait(timeout=30)
                results[i] = work(i)
            except BaseException as error:  # reported to the main thread
                db.session.rollback()
                results[i] = error
            finally:
                db.session.remove()

    runners = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join(timeout=120)
    assert not any(runner.is_alive() for runner in runners), "a racing thread hung"
    return results

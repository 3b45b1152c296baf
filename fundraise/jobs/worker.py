"""The rq side of the outbox: the queue, the function rq calls, and the worker that `flask worker` runs."""

from __future__ import annotations

import logging
import threading
import time

from flask import Flask, current_app
from rq import SimpleWorker

from fundraise.audit import seal
from fundraise.jobs.outbox import relay, run_message
from fundraise.jobs.queue import queue, redis_connection
from fundraise.services import retention

log = logging.getLogger(__name__)
_worker_app: Flask | None = None
# The retention run (fundraise/services/retention.py) runs daily in the worker, next to the sealer.
RETENTION_INTERVAL_SECONDS = 24 * 3600


def perform(message_id: int) -> None:
    """What rq runs: one outbox message, inside an app context (the worker's, or a new one)."""
    try:
        current_app._get_current_object()  # type: ignore[attr-defined]  # current_app is typed as Flask, not as the proxy it is
    except RuntimeError:
        global _worker_app
        if _worker_app is None:
            # A worker started without an app (plain `rq worker`) builds one: this is its entry point, so it
            # may use the composition root, which nothing else imports.
            from fundraise import create_app

            _worker_app = create_app()
        with _worker_app.app_context():
            run_message(message_id, reraise=True)
        return
    run_message(message_id, reraise=True)


def run_worker(app: Flask, *, burst: bool = False) -> None:
    """Work the queue in this process. Side threads relay outbox messages a request failed to relay, seal
    the audit log (requests only append to it; see fundraise/audit.py), and apply the retention table daily."""
    stop = threading.Event()

    def relay_loop() -> None:
        with app.app_context():
            while not stop.wait(app.config["OUTBOX_RELAY_INTERVAL_SECONDS"]):
                try:
                    relay()
                except Exception:
                    log.exception("outbox relay failed; will try again")

    def seal_loop() -> None:
        with app.app_context():
            while not stop.wait(app.config["AUDIT_SEAL_INTERVAL_SECONDS"]):
                try:
                    seal()
                except Exception:
                    log.exception("sealing the audit log failed; will try again")

    def retention_loop() -> None:
        # Once a day (and once at start): safe to run twice, so several workers each running it is harmless.
        with app.app_context():
            while True:
                try:
                    for result in retention.run(dry_run=False):
                        log.info(
                            "retention %s: deleted %d (cut-off %s)", result.kind, result.count, result.cutoff
                        )
                except Exception:
                    log.exception("the retention run failed; will try again")
                if stop.wait(app.config.get("RETENTION_INTERVAL_SECONDS", RETENTION_INTERVAL_SECONDS)):
                    return

    with app.app_context():
        relay()
        seal()
        relayer = threading.Thread(target=relay_loop, name="outbox-relay", daemon=True)
        sealer = threading.Thread(target=seal_loop, name="audit-sealer", daemon=True)
        retainer = threading.Thread(target=retention_loop, name="retention", daemon=True)
        if not burst:
            relayer.start()
            sealer.start()
            retainer.start()
            # The daily reconciliation runs from rq's scheduler (below); make sure its cycle is going. A no-op
            # while a run is scheduled.
            from fundraise.payments.jobs import schedule_daily_reconcile

            schedule_daily_reconcile(queue())
        # SimpleWorker runs jobs in this process (no fork), so they share the app and its engine pool
        # instead of inheriting open database connections across a fork.
        worker = SimpleWorker([queue()], connection=redis_connection())
        try:
            worker.work(burst=burst, with_scheduler=not burst)
        finally:
            stop.set()
            time.sleep(0)

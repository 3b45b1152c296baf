"""The reconciliation job, `reconcile_payments`, and the daily cycle (which also queues the day's matching run).

- In production (JOBS_MODE=rq, Redis) it runs once a day: rq's scheduler, which `flask worker` runs
  (`with_scheduler`), starts `run_daily_reconcile`, which first schedules the next day's run, then puts
  `reconcile_payments` in the outbox and relays it (a worker runs it, with the outbox's retries). The cycle is
  started by `flask payments schedule`, and the worker makes sure it is running when it starts; both are no-ops
  while a run is scheduled, so the cycle is never scheduled twice.
- In the demo (jobs inline, no Redis) it runs on demand: `flask payments reconcile`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from flask import current_app

from fundraise.jobs.outbox import job, relay
from fundraise.jobs.queue import queue as default_queue
from fundraise.payments import get_provider
from fundraise.services import consents, matching_runs
from fundraise.services.donations import apply_fetched_refunds
from fundraise.services.reconciliation import queue_reconciliation, reconcile_and_record, summarize

if TYPE_CHECKING:
    from rq import Queue
    from rq.job import Job

log = logging.getLogger(__name__)

RUN_EVERY = timedelta(days=1)
# A scheduled run's rq job id: "<queue>-reconcile_payments-daily-<the day it is due>" (rq allows letters, digits,
# _ and -). One stable id per queue and day; a run in progress (no longer in the scheduled registry) schedules the
# next day's without touching its own job, and two apps sharing a Redis with their own queues do not share one.
DAILY_JOB = "{queue}-reconcile_payments-daily-"
DAILY_FUNCTION = "fundraise.payments.jobs.run_daily_reconcile"


@job("fetch_refunds")
def fetch_refunds(event_id: str) -> None:
    """A stored event announced refunds without listing them: fetch them from the provider and apply them as
    an event of their own (stored under a derived id, so running twice applies nothing twice)."""

    result = apply_fetched_refunds(event_id)
    log.info("refunds fetched for event %s: %s", event_id, result)


@job("reconcile_payments")
def reconcile_payments(since: str | None = None) -> None:
    """Compare the provider's payments with the ledger, post fees the provider reported, and write the result
    to the audit log (and the log at warning level when anything differs). Safe to run twice."""

    report = reconcile_and_record(get_provider(), datetime.fromisoformat(since) if since else None)
    for line in summarize(report):
        (log.warning if report.differences else log.info)("%s", line)


# --- the daily cycle (rq's scheduler) --------------------------------------------------------------------


def scheduled_run(queue: Queue) -> tuple[Job, datetime] | None:
    """The scheduled daily run and when it is due, if there is one."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job
    from rq.registry import ScheduledJobRegistry

    registry = ScheduledJobRegistry(queue=queue)  # type: ignore[no-untyped-call]  # rq leaves its __init__ unannotated
    for job_id in registry.get_job_ids():
        if not job_id.startswith(_prefix(queue)):
            continue
        try:
            found = Job.fetch(job_id, connection=queue.connection)
        except NoSuchJobError:
            registry.remove(job_id)  # its data expired: a stale entry, not a schedule
            continue
        return found, registry.get_scheduled_time(found)
    return None


def schedule_daily_reconcile(
    queue: Queue | None = None, *, delay: timedelta = RUN_EVERY
) -> tuple[Job, datetime, bool]:
    """Schedule the next daily reconciliation `delay` from now, unless one is already scheduled.

    Returns the scheduled job, when it is due (UTC), and whether this call scheduled it. Two callers at once
    are serialised by a Redis lock, so the cycle is never scheduled twice.
    """
    from rq.exceptions import NoSuchJobError
    from rq.job import Job, JobStatus

    queue = queue if queue is not None else default_queue()
    prefix = _prefix(queue)
    with queue.connection.lock(f"{prefix}lock", timeout=30, blocking_timeout=30):
        existing = scheduled_run(queue)
        if existing is not None:
            return existing[0], existing[1], False
        due = datetime.now(UTC) + delay
        job_id = f"{prefix}{due:%Y-%m-%d}"
        try:
            same_day: Job | None = Job.fetch(job_id, connection=queue.connection)
        except NoSuchJobError:
            same_day = None
        if same_day is not None and same_day.get_status() in (JobStatus.QUEUED, JobStatus.STARTED):
            # That day's run is under way (it schedules the next one itself): never overwrite a live job.
            return same_day, due, False
        scheduled = queue.enqueue_in(
            delay,
            DAILY_FUNCTION,
            job_id=job_id,
            description="daily payment reconciliation",
            result_ttl=7 * 24 * 3600,
            failure_ttl=30 * 24 * 3600,
        )
    log.info("daily reconciliation scheduled for %s UTC (%s)", f"{due:%Y-%m-%d %H:%M}", scheduled.id)
    return scheduled, due, True


def run_daily_reconcile() -> None:
    """What rq's scheduler starts once a day: schedule tomorrow's run first (a failing reconciliation must not
    end the cycle), then put `reconcile_payments` and the day's matching run in the outbox and relay them.

    The matching run and the consent check (a child patient turning 14) ride on this cycle rather than keeping
    cycles of their own: all are once-a-day work started by the same scheduler, and a second cycle would be a
    second thing to keep from being scheduled twice."""

    def work() -> None:

        schedule_daily_reconcile()
        queue_reconciliation()
        matching_runs.start_run(None)
        # Patients who turned 14 under a guardian's consent: their own is asked for (PIPL art. 31).
        consents.check_turned_14()
        relay()

    _in_app_context(work)


def _prefix(queue: Queue) -> str:
    return DAILY_JOB.format(queue=re.sub(r"[^A-Za-z0-9_-]", "_", queue.name))


def _in_app_context(work: Callable[[], None]) -> None:
    """Run inside the worker's app context, or a new app's when rq runs this outside one."""
    try:
        current_app._get_current_object()  # type: ignore[attr-defined]  # current_app is typed as Flask, not as the proxy it is
    except RuntimeError:
        # rq's scheduler calls this without an app: as an entry point it may build one from the composition
        # root, which nothing else imports.
        from fundraise import create_app

        with create_app().app_context():
            work()
        return
    work()

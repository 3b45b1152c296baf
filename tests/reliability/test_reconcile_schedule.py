"""The daily reconciliation cycle on real Redis and rq's scheduler (issue 4, part 5): scheduled once however
often it is asked for, and each run schedules the next day's before it reconciles."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from rq import Queue, SimpleWorker
from rq.job import JobStatus
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

from fundraise.extensions import db
from fundraise.jobs import outbox
from fundraise.jobs.queue import queue as app_queue
from fundraise.models import AuditEvent, OutboxMessage
from fundraise.payments.jobs import DAILY_FUNCTION, schedule_daily_reconcile

pytestmark = pytest.mark.services


@pytest.fixture
def app_settings() -> dict[str, Any]:
    # A queue of its own, so the scheduled jobs seen here are this test's.
    return {"REDIS_URL": os.environ.get("REDIS_URL"), "RQ_QUEUE": f"test-reconcile-{uuid.uuid4().hex[:10]}"}


@pytest.fixture
def rq_queue(app: Flask) -> Iterator[Queue]:
    q = app_queue()
    yield q
    keys = list(q.connection.scan_iter(f"*{q.name}*"))  # its registries, jobs, locks and workers
    if keys:
        q.connection.delete(*keys)
    q.connection.srem("rq:queues", q.key)


def scheduled(q: Queue) -> dict[str, datetime]:
    registry = ScheduledJobRegistry(queue=q)
    return {job_id: registry.get_scheduled_time(job_id) for job_id in registry.get_job_ids()}


def daily_id(q: Queue, day: datetime) -> str:
    return f"{q.name}-reconcile_payments-daily-{day:%Y-%m-%d}"


def test_scheduling_twice_leaves_one_scheduled_run_a_day_ahead(rq_queue: Queue) -> None:
    before = datetime.now(UTC)
    first, _due, created = schedule_daily_reconcile(rq_queue)
    again, due_again, created_again = schedule_daily_reconcile(rq_queue)

    assert (created, created_again) == (True, False)
    assert again.id == first.id == daily_id(rq_queue, before + timedelta(days=1))
    assert first.func_name == DAILY_FUNCTION
    runs = scheduled(rq_queue)
    assert list(runs) == [first.id]
    assert timedelta(hours=23, minutes=59) < runs[first.id] - before < timedelta(days=1, minutes=1)
    assert abs(due_again - runs[first.id]) < timedelta(seconds=1)  # the second call reports the first's time
    assert len(rq_queue) == 0  # nothing runs before it is due


def test_concurrent_requests_schedule_one_run(app: Flask, rq_queue: Queue) -> None:
    results: list[bool] = []
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            with app.app_context():
                results.append(schedule_daily_reconcile(rq_queue)[2])
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert sorted(results) == [False] * 7 + [True]
    assert len(scheduled(rq_queue)) == 1


def test_flask_payments_schedule_starts_the_cycle_once(app: Flask, rq_queue: Queue) -> None:
    runner = app.test_cli_runner()
    first = runner.invoke(args=["payments", "schedule"])
    second = runner.invoke(args=["payments", "schedule", "--first-in", "5"])
    assert first.exit_code == 0, first.output
    # What the command prints (stdout); the log line about it goes to stderr where logging is not captured.
    assert first.stdout.startswith("scheduled: "), first.output
    assert second.exit_code == 0, second.output
    assert second.stdout.startswith("already scheduled: "), second.output
    assert len(scheduled(rq_queue)) == 1

    app.config["REDIS_URL"] = None  # the demo: no Redis, reconciliation on demand
    refused = runner.invoke(args=["payments", "schedule"])
    assert refused.exit_code != 0
    assert "flask payments reconcile" in refused.output


def run_due_jobs(q: Queue) -> None:
    """What `flask worker` does when a run is due: rq's scheduler enqueues it and the worker runs it (in
    this process and this app context, as SimpleWorker does)."""
    SimpleWorker([q], connection=q.connection, name=f"{q.name}-worker").work(burst=True, with_scheduler=True)


def test_a_due_run_schedules_the_next_day_and_reconciles(rq_queue: Queue) -> None:
    today, _due, created = schedule_daily_reconcile(rq_queue, delay=timedelta(0))
    assert created
    run_due_jobs(rq_queue)

    today.refresh()
    assert today.get_status() == JobStatus.FINISHED
    runs = scheduled(rq_queue)
    tomorrow = daily_id(rq_queue, datetime.now(UTC) + timedelta(days=1))
    assert list(runs) == [tomorrow]
    assert runs[tomorrow] - datetime.now(UTC) > timedelta(hours=23)
    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.job == "reconcile_payments"))
    assert message is not None
    assert message.status == "done"
    reconciled = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "payments.reconciled"))
    assert reconciled is not None
    assert reconciled.object_id == "sandbox"

    # Asking again while tomorrow's run waits changes nothing.
    assert schedule_daily_reconcile(rq_queue)[2] is False
    assert list(scheduled(rq_queue)) == [tomorrow]


def test_a_failing_reconciliation_does_not_end_the_cycle(
    rq_queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(since: str | None = None) -> None:
        raise ConnectionError("the provider is down")

    monkeypatch.setitem(outbox.JOBS, "reconcile_payments", unreachable)
    schedule_daily_reconcile(rq_queue, delay=timedelta(0))
    run_due_jobs(rq_queue)

    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.job == "reconcile_payments"))
    assert message is not None
    assert message.status == "failed"
    assert "the provider is down" in message.last_error
    assert list(scheduled(rq_queue)) == [daily_id(rq_queue, datetime.now(UTC) + timedelta(days=1))]

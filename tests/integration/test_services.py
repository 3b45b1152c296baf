"""Proof that the suite really ran on PostgreSQL and Redis: the dialect, the rq path of the outbox, the
audit chain under concurrent appends, and a failed job surfacing in `flask jobs status`.

Skipped (with the reason) unless TEST_DATABASE_URL and REDIS_URL are set; an error under REQUIRE_SERVICES=1
(see tests/conftest.py).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from fundraise import audit, audit_verification
from fundraise.extensions import db
from fundraise.jobs.outbox import enqueue, job, relay
from fundraise.models import AuditEvent, CampaignState, Notification, OutboxMessage
from fundraise.services.transitions import transition
from tests.factories import CampaignFactory

pytestmark = pytest.mark.services

FAILING_JOB = "test_services_always_fails"


@job(FAILING_JOB)
def _always_fails(marker: str) -> None:
    raise RuntimeError(f"deliberate failure {marker}")


@pytest.fixture
def app_settings() -> dict[str, Any]:
    # Jobs run inline unless a test class asks for rq; Redis is the one the environment names.
    return {"REDIS_URL": os.environ.get("REDIS_URL")}


@pytest.fixture
def redis_db(app: Flask) -> Iterator[Any]:
    """The test Redis database, empty before and after (only this numbered db is flushed)."""
    from fundraise.jobs.queue import redis_connection

    connection = redis_connection()
    connection.flushdb()
    yield connection
    connection.flushdb()
    connection.close()


def test_database_is_postgresql(app: Flask) -> None:
    assert os.environ.get("TEST_DATABASE_URL")
    assert db.engine.dialect.name == "postgresql"
    assert db.session.execute(select(func.version())).scalar_one().startswith("PostgreSQL")


def test_redis_answers(redis_db: Any) -> None:
    assert redis_db.ping() is True


class TestRqOutbox:
    @pytest.fixture
    def app_settings(self) -> dict[str, Any]:
        return {"JOBS_MODE": "rq", "REDIS_URL": os.environ.get("REDIS_URL")}

    def test_submit_is_verified_and_notified_through_rq(self, app: Flask, redis_db: Any) -> None:
        from rq import SimpleWorker
        from rq.registry import FailedJobRegistry

        from fundraise.jobs.queue import queue, redis_connection

        campaign = CampaignFactory(with_evidence=True)
        db.session.commit()
        transition(campaign, "submit", actor=campaign.applicant)
        assert campaign.state == CampaignState.SUBMITTED

        rounds = 0
        # Each job's transition writes follow-up jobs to the outbox; relay and work until none are left.
        while relay() and rounds < 5:
            assert len(queue()) > 0, "relay() in rq mode must put the jobs on the Redis queue"
            worker = SimpleWorker([queue()], connection=redis_connection())
            worker.work(burst=True)
            rounds += 1
        assert rounds >= 2, "the submit's jobs and the verification's follow-ups each need a round"

        db.session.expire_all()
        assert campaign.state == CampaignState.NEEDS_REVIEW
        notified = db.session.scalars(
            select(Notification).where(Notification.user_id == campaign.applicant_id)
        ).all()
        # Verification moves the case through "verifying" in the same commit as its decision, so the family
        # hears of the decision only.
        assert {n.params["to_state"] for n in notified} == {
            CampaignState.SUBMITTED,
            CampaignState.NEEDS_REVIEW,
        }
        statuses = db.session.scalars(select(OutboxMessage.status)).all()
        assert statuses
        assert set(statuses) == {"done"}, statuses
        assert len(FailedJobRegistry(queue=queue())) == 0


def test_audit_chain_holds_under_concurrent_appends(app: Flask) -> None:
    threads_count, per_thread = 4, 25
    start = threading.Barrier(threads_count)
    errors: list[BaseException] = []

    def append(worker: int) -> None:
        try:
            with app.app_context():
                start.wait(timeout=30)
                for n in range(per_thread):
                    audit.record("test.concurrent", "thread", worker, actor=None, after={"n": n})
                    db.session.commit()
        except BaseException as error:  # reported in the main thread
            errors.append(error)

    threads = [threading.Thread(target=append, args=(i,)) for i in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "an appending thread hung"
    assert not errors, errors

    # Each commit sealed what was committed (jobs inline); whatever order the commits came in, every event is
    # sealed exactly once and the chain holds.
    result = audit_verification.verify_log()
    assert result.intact, result.problems
    assert (result.events, result.unsealed) == (threads_count * per_thread, 0)
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == threads_count * per_thread


def test_failed_job_is_listed_by_jobs_status(app: Flask, runner: Any) -> None:
    message = enqueue(FAILING_JOB, marker="m-42")
    db.session.commit()
    message_id = message.id
    assert relay() == 1

    db.session.expire_all()
    stored = db.session.get(OutboxMessage, message_id)
    assert stored is not None
    assert stored.status == "failed"
    assert stored.attempts == 1

    result = runner.invoke(args=["jobs", "status"])
    assert result.exit_code == 0, result.output
    assert "failed=1" in result.output
    line = next(line for line in result.output.splitlines() if f"failed #{message_id}" in line)
    assert FAILING_JOB in line
    assert "RuntimeError: deliberate failure m-42" in line

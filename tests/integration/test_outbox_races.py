"""De-duplicated work under real concurrency (PostgreSQL): every outbox message runs once however many
processes relay at the same moment, and a notification job run twice at once stores one notification per
recipient without a unique-key error (the flaky CI run: `UniqueViolation` on `uq_notifications_dedupe_key`).
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from flask import Flask
from sqlalchemy import func, select

from fundraise import audit
from fundraise.extensions import db
from fundraise.jobs import outbox
from fundraise.jobs.notifications import notify_state_change
from fundraise.models import Notification, OutboxMessage
from tests.factories import CampaignFactory
from tests.races import race

pytestmark = pytest.mark.services


@pytest.fixture
def counting_job():
    runs: Counter[int] = Counter()
    lock = threading.Lock()

    @outbox.job("test_counting")
    def counting(n: int) -> None:
        with lock:
            runs[n] += 1
        time.sleep(0.01)  # long enough for a second relay to look while this one runs

    yield runs
    outbox.JOBS.pop("test_counting", None)


def test_every_message_runs_once_when_several_processes_relay_at_once(app: Flask, counting_job) -> None:
    for n in range(40):
        outbox.enqueue("test_counting", n=n)
    db.session.commit()

    race(app, lambda _i: outbox.relay(), threads=6)

    assert sorted(counting_job) == list(range(40))
    assert set(counting_job.values()) == {1}, "a message ran more than once"
    statuses = db.session.scalars(select(OutboxMessage.status)).all()
    assert set(statuses) == {"done"}


def test_a_notification_job_run_twice_at_once_stores_each_notification_once(app: Flask) -> None:
    campaign = CampaignFactory()
    db.session.flush()
    event = audit.record(
        "campaign.submit",
        "campaign",
        campaign.id,
        actor=None,
        before={"state": "draft"},
        after={"state": "x"},
    )
    db.session.commit()
    campaign_id, event_id = campaign.id, event.id

    results = race(app, lambda _i: notify_state_change(campaign_id, event_id))

    assert [r for r in results if isinstance(r, BaseException)] == []
    stored = db.session.scalar(
        select(func.count()).select_from(Notification).where(Notification.campaign_id == campaign_id)
    )
    assert stored == 1

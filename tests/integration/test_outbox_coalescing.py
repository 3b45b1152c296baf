"""A coalesced job (a check of the state as it is when it runs) runs once per relay for each set of arguments,
however many gifts queued it; a job that delivers something (a receipt) runs once per message."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select

from fundraise.extensions import db
from fundraise.jobs import outbox
from fundraise.models import OutboxMessage


@pytest.fixture
def runs() -> Iterator[Counter[tuple[str, int]]]:
    counted: Counter[tuple[str, int]] = Counter()

    @outbox.job("test_check", coalesce=True)
    def check(campaign_id: int) -> None:
        counted["check", campaign_id] += 1

    @outbox.job("test_deliver")
    def deliver(campaign_id: int) -> None:
        counted["deliver", campaign_id] += 1

    yield counted
    for name in ("test_check", "test_deliver"):
        outbox.JOBS.pop(name, None)
        outbox.COALESCED.discard(name)


def test_a_coalesced_job_runs_once_per_set_of_arguments_and_the_rest_are_marked_done(
    app: Flask, runs: Counter[tuple[str, int]]
) -> None:
    for campaign_id in (1, 1, 2, 1):
        outbox.enqueue("test_check", campaign_id=campaign_id)
        outbox.enqueue("test_deliver", campaign_id=campaign_id)
    db.session.commit()
    outbox.relay()
    assert runs == {("check", 1): 1, ("check", 2): 1, ("deliver", 1): 3, ("deliver", 2): 1}
    messages = db.session.execute(
        select(OutboxMessage.job, OutboxMessage.status, OutboxMessage.last_error).order_by(OutboxMessage.id)
    ).all()
    assert {status for _job, status, _error in messages} == {"done"}
    coalesced = [job for job, _status, error in messages if error.startswith("coalesced")]
    assert coalesced == ["test_check", "test_check"]

"""The job outbox: jobs are written in the same transaction as the change they follow, and relayed after
commit — run in-process (JOBS_MODE=inline, the embedded default) or enqueued to rq (JOBS_MODE=rq).

A job takes ids, never objects, and is safe to run twice.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from flask import Flask, Response, current_app
from rq import Queue, Retry
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from fundraise.database import insert_rows
from fundraise.extensions import db
from fundraise.jobs.queue import queue
from fundraise.models import OutboxMessage
from fundraise.models.columns import utcnow
from fundraise.request_log import current_request_id, job_context
from fundraise.unit_of_work import discard, transactional, unit_of_work

log = logging.getLogger(__name__)

JobFunction = Callable[..., None]
JOBS: dict[str, JobFunction] = {}
# Jobs whose messages with the same arguments do the same work however many wait: a relay runs one of them.
COALESCED: set[str] = set()
RETRY_INTERVALS = [10, 60, 300]  # seconds; rq retries a failed job after each of these


def job(name: str, *, coalesce: bool = False) -> Callable[[JobFunction], JobFunction]:
    """Register a job function under a stable name (the name is what the outbox stores).

    `coalesce`: the job looks at the state as it is when it runs (a check, not a delivery), so of the
    messages with the same arguments that one relay claims, one runs and the others are marked done."""

    def register(function: JobFunction) -> JobFunction:
        JOBS[name] = function
        if coalesce:
            COALESCED.add(name)
        return function

    return register


def enqueue(name: str, **args: Any) -> OutboxMessage:
    """Write a job to the outbox in the current transaction. It runs only if that transaction commits.

    The message keeps the id of the request (or job) queuing it, which the job then logs under."""
    if name not in JOBS:
        raise KeyError(f"unknown job {name!r}")
    message = OutboxMessage(job=name, args=args, request_id=current_request_id())
    db.session.add(message)
    db.session.info["outbox_pending"] = True
    return message


def enqueue_many(name: str, args: Sequence[dict[str, Any]]) -> None:
    """Write many jobs of one kind to the outbox in the current transaction (batch work), in one statement."""
    if name not in JOBS:
        raise KeyError(f"unknown job {name!r}")
    if not args:
        return
    request_id = current_request_id()
    insert_rows(
        OutboxMessage.__table__,
        [{"job": name, "args": dict(values), "request_id": request_id} for values in args],
    )
    db.session.info["outbox_pending"] = True


def relay(limit: int = 500) -> int:
    """Hand pending messages to their runner; returns how many were relayed."""
    relayed = 0
    # Jobs run inline may enqueue more jobs; keep going until the outbox is empty (bounded).
    inline = current_app.config["JOBS_MODE"] != "rq"
    for _round in range(10):
        with unit_of_work():
            query = (
                select(OutboxMessage.id).where(OutboxMessage.status == "pending").order_by(OutboxMessage.id)
            )
            if db.session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            ids = _coalesce(list(db.session.scalars(query.limit(limit))))
            if ids and not inline:
                _enqueue_to_rq(ids)
            elif ids:
                # Claimed before the commit releases the row locks: left 'pending', the same messages would
                # be picked up by every other process or thread relaying meanwhile and run twice at once.
                db.session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id.in_(ids))
                    .values(status="enqueued")
                    .execution_options(synchronize_session=False)
                )
        if not ids:
            break
        if inline:
            for message_id in ids:
                run_message(message_id, reraise=False)
        relayed += len(ids)
    return relayed


def _coalesce(ids: list[int]) -> list[int]:
    """The claimed messages that are to run: of a coalesced job's messages with the same arguments, the
    newest; the others are marked done in the claiming transaction."""
    if not ids or not COALESCED:
        return ids
    rows = db.session.execute(
        select(OutboxMessage.id, OutboxMessage.job, OutboxMessage.args).where(
            OutboxMessage.id.in_(ids), OutboxMessage.job.in_(COALESCED)
        )
    ).all()
    newest: dict[tuple[str, str], int] = {}
    for message_id, name, args in rows:
        key = (name, json.dumps(args, sort_keys=True))
        newest[key] = max(message_id, newest.get(key, 0))
    covered = {message_id for message_id, _name, _args in rows} - set(newest.values())
    if covered:
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(covered))
            .values(
                status="done", finished_at=utcnow(), last_error="coalesced: a newer message runs the same job"
            )
            .execution_options(synchronize_session=False)
        )
    return [message_id for message_id in ids if message_id not in covered]


def _enqueue_to_rq(ids: list[int]) -> None:
    q = queue()
    # One round trip to Redis for the batch. The rq job id is derived from the message, so relaying twice
    # cannot queue it twice.
    q.enqueue_many(
        [
            Queue.prepare_data(
                "fundraise.jobs.worker.perform",
                args=(message_id,),
                job_id=f"outbox-{message_id}",
                retry=Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS),
            )
            for message_id in ids
        ]
    )
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids))
        .values(status="enqueued")
        .execution_options(synchronize_session=False)
    )


def run_message(message_id: int, *, reraise: bool) -> None:
    """Run one outbox message's job; a message already done is skipped, a failure is recorded. The job runs
    under the id of the request that queued it: its log records carry that id, its name and the outbox id."""
    message = db.session.get(OutboxMessage, message_id)
    if message is None or message.status == "done":
        return
    with job_context(message.request_id, message.job, message_id):
        _run(message_id, message.job, dict(message.args), reraise=reraise)


def _run(message_id: int, name: str, args: dict[str, Any], *, reraise: bool) -> None:
    try:
        JOBS[name](**args)  # its services commit their own units of work
    except Exception as error:
        discard()  # whatever the failed job left open
        with unit_of_work():
            message = db.session.get_one(OutboxMessage, message_id, populate_existing=True)
            message.status = "failed"
            message.attempts += 1
            message.last_error = "".join(traceback.format_exception_only(error)).strip()[:2000]
        log.exception("job %s (outbox %s) failed", name, message_id)
        if reraise:
            raise
        return
    with unit_of_work():
        message = db.session.get_one(OutboxMessage, message_id, populate_existing=True)
        message.status = "done"
        message.attempts += 1
        message.finished_at = utcnow()
        message.last_error = ""
    log.info("job %s (outbox %s) done", name, message_id)


@transactional
def retry_failed() -> int:
    """Put failed messages back in the outbox (the command `flask jobs retry`)."""
    failed = list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.status == "failed")))
    for message in failed:
        message.status = "pending"
    return len(failed)


@event.listens_for(Session, "after_commit")
def _remember_commit(session: Session) -> None:
    if session.info.pop("outbox_pending", False):
        session.info["outbox_committed"] = True


def relay_if_committed() -> None:
    committed = db.session.info.pop("outbox_committed", False)
    if committed and current_app.config["OUTBOX_RELAY_IN_REQUEST"]:  # else the worker's relay loop will
        try:
            relay()
        except Exception:
            # The messages stay pending; `flask worker` relays them again, so the request still succeeds.
            discard()
            log.exception("outbox relay failed; messages stay pending")


def init_app(app: Flask) -> None:
    """Relay what a request's commit made visible, once the request is done. (The jobs themselves are
    registered by the app factory: the outbox imports none of them.)"""

    @app.after_request
    def _relay(response: Response) -> Response:
        relay_if_committed()
        return response

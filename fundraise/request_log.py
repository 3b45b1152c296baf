"""Logs that follow one piece of work: a request id from the web request through the jobs it queued.

Each web request gets an id: a well-formed `X-Request-ID` it came with (from the load balancer, say), or a new
one; the response echoes it. The outbox stores the id with every job the request queues, and the job runs
under it (`job_context`), so the request's log lines and its jobs' lines share one id, whichever process runs
them. Every log record carries `request_id`, `job` and `outbox_id` (None outside a request or a job).

LOG_FORMAT picks the output: "json" (production: one JSON object per line with time, level, logger,
message, request_id, job, outbox_id and any exception), "text" (development: readable lines), or empty to
leave logging as the host process set it up (the tests: pytest captures the records).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

from flask import Flask, Response, g, request

from fundraise.errors import ConfigurationError

HEADER = "X-Request-ID"
# What an incoming id may look like: what load balancers and tracing proxies send (UUIDs, hex, dotted or
# dashed tokens), short enough for the outbox column; anything else is replaced, so no caller can put line
# breaks or markup into the logs.
WELL_FORMED_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
LOG_FORMATS = ("json", "text")

_request_id: ContextVar[str | None] = ContextVar("aidbridge_request_id", default=None)
_job: ContextVar[tuple[str, int] | None] = ContextVar("aidbridge_job", default=None)


def current_request_id() -> str | None:
    """The id of the request or job this code runs for, if any: what a job queued now will carry."""
    return _request_id.get()


@contextmanager
def job_context(request_id: str | None, job: str, outbox_id: int) -> Iterator[None]:
    """Run a job under the id of the request that queued it, with its name and outbox id in every record."""
    request_token = _request_id.set(request_id)
    job_token = _job.set((job, outbox_id))
    try:
        yield
    finally:
        _job.reset(job_token)
        _request_id.reset(request_token)


def incoming_or_new_id(header: str | None) -> str:
    if header and WELL_FORMED_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


# --- every record carries the context ------------------------------------------------------------------


def _install_record_factory() -> None:
    """Once per process: stamp request_id, job and outbox_id on every record when it is made. (A factory,
    not a handler's filter, so that every handler sees them, pytest's caplog and gunicorn's included.)"""
    base = logging.getLogRecordFactory()
    if getattr(base, "aidbridge_context", False):
        return

    def make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base(*args, **kwargs)
        job = _job.get()
        record.request_id = _request_id.get()
        record.job = job[0] if job else None
        record.outbox_id = job[1] if job else None
        return record

    make_record.aidbridge_context = True  # type: ignore[attr-defined]  # marks the factory as installed
    logging.setLogRecordFactory(make_record)


class JsonLines(logging.Formatter):
    """One JSON object per line, for a log collector."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            "job": getattr(record, "job", None),
            "outbox_id": getattr(record, "outbox_id", None),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # json.dumps escapes line breaks inside strings: a traceback stays on its one line.
        return json.dumps(entry, ensure_ascii=False, default=str)


class ReadableLines(logging.Formatter):
    """`time LEVEL logger [request job#outbox_id]: message`, for a person at a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(context)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        request_id, job = getattr(record, "request_id", None), getattr(record, "job", None)
        parts = [f"request={request_id}"] if request_id else []
        if job:
            parts.append(f"job={job}#{getattr(record, 'outbox_id', None)}")
        record.context = f" [{' '.join(parts)}]" if parts else ""
        return super().format(record)


class _StandardError(logging.StreamHandler[TextIO]):
    """Writes to whatever sys.stderr is when the record comes (gunicorn and test runners replace it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _configure_output(log_format: str) -> None:
    """Our one handler on the root logger (replaced, not added again, when another app is built)."""
    if log_format not in LOG_FORMATS:
        raise ConfigurationError(
            f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)} or empty, not {log_format!r}"
        )
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _StandardError):
            root.removeHandler(handler)
    handler = _StandardError()
    handler.setFormatter(JsonLines() if log_format == "json" else ReadableLines())
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)  # job outcomes and relays are logged at INFO


def init_app(app: Flask) -> None:
    """Give each request its id (first of the request hooks, so every other hook logs under it)."""
    _install_record_factory()
    if app.config.get("LOG_FORMAT"):
        _configure_output(str(app.config["LOG_FORMAT"]))

    @app.before_request
    def _take_request_id() -> None:
        g.request_id = incoming_or_new_id(request.headers.get(HEADER))
        _request_id.set(g.request_id)

    @app.after_request
    def _echo_request_id(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id:
            response.headers[HEADER] = request_id
        return response

    @app.teardown_request
    def _forget_request_id(_error: BaseException | None) -> None:
        # The thread serves other requests next; nothing logged there may carry this one's id.
        _request_id.set(None)

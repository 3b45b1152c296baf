"""What operators watch: Prometheus metrics at GET /metrics, and the figures `flask jobs status` prints.

- `aidbridge_request_seconds{route, method, status}`: every request's duration, by the URL rule that matched
  (`/campaigns/<int:campaign_id>`, never the raw path, so the series stay few; "unmatched" when no rule did),
  the method and the status class (2xx, 4xx...).
- `aidbridge_webhook_events_total{provider, outcome}`: webhook deliveries by what became of them, counted by
  the webhook endpoint from the service's answer (`webhook_outcome`).
- Read from the database at each scrape (`OperationsCollector`, from the same `operations_figures()` that
  `flask jobs status` prints): the outbox by status, the age of its oldest message still waiting to run, the
  failed jobs, and the audit sealer's lag (events not sealed yet, and the age of the oldest).

/metrics answers only operators: a request with `Authorization: Bearer <METRICS_TOKEN>` (when that setting
is set) or a signed-in admin. Everyone else gets the same 404 as any page that does not exist.

Under gunicorn each worker process counts its own requests. With PROMETHEUS_MULTIPROC_DIR set in the
environment before the app is imported, prometheus_client keeps the counts in files in that directory and a
scrape of any worker adds up every worker's; without it, the process's own registry is served.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from flask import Flask, Response, abort, current_app, request
from flask_login import current_user
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from fundraise.extensions import csrf, db, limiter
from fundraise.models import AuditEvent, OutboxMessage, Role
from fundraise.models.columns import utcnow
from fundraise.models.jobs import OUTBOX_STATUSES
from fundraise.unit_of_work import discard

log = logging.getLogger(__name__)

# This process's own metrics (not prometheus_client's global registry, which would also collect whatever
# any imported library registers there).
REGISTRY = CollectorRegistry()

REQUEST_SECONDS = Histogram(
    "aidbridge_request_seconds",
    "Time to answer a web request, by URL rule, method and status class.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
WEBHOOK_EVENTS = Counter(
    "aidbridge_webhook_events",
    "Payment-provider webhook deliveries, by what became of them.",
    ["provider", "outcome"],
    registry=REGISTRY,
)

# What a webhook delivery can come to (the label's only values):
#   applied             verified and acted on (a donation recorded, a refund applied, a dispute noted)
#   duplicate           verified, already received before: nothing done again
#   ignored             verified, nothing to do (an event type not acted on, a payment we do not know)
#   failed              verified and stored, but refused by the domain (an amount that does not match, an
#                       impossible posting): acknowledged to the provider, to be looked at and replayed
#   rejected_signature  bad or stale signature (400)
#   rejected_malformed  signed but unreadable (400)
#   rejected_too_large  a body no event is that big (413)
#   error               anything else: the endpoint answered 500 and the provider will retry
WEBHOOK_OUTCOMES = (
    "applied",
    "duplicate",
    "ignored",
    "failed",
    "rejected_signature",
    "rejected_malformed",
    "rejected_too_large",
    "error",
)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_STARTED = "aidbridge.request_started"


def webhook_outcome(result: str) -> str:
    """The outcome label for what the webhook service returned (its `handle_event` result text)."""
    if result == "duplicate":
        return "duplicate"
    if result.startswith("ignored"):
        return "ignored"
    if result.startswith(("failed", "refused")):
        return "failed"
    return "applied"


def count_webhook(provider: str, outcome: str) -> None:
    WEBHOOK_EVENTS.labels(provider=provider, outcome=outcome).inc()


# --- what the database says: shared with `flask jobs status` ---------------------------------------------


@dataclass(frozen=True)
class OperationsFigures:
    """The outbox and the audit sealer at one moment. Ages are in seconds; None when nothing is waiting."""

    outbox_by_status: dict[str, int]
    oldest_waiting_seconds: float | None
    audit_unsealed: int
    audit_oldest_unsealed_seconds: float | None

    @property
    def failed_jobs(self) -> int:
        return self.outbox_by_status["failed"]


def operations_figures() -> OperationsFigures:
    """Count the outbox by status and find its oldest message still waiting to run (pending, or enqueued to
    rq and not run yet), and the audit events the sealer has not sealed yet."""
    now = utcnow()
    counts = dict(
        db.session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all()
    )
    oldest_waiting = db.session.scalar(
        select(func.min(OutboxMessage.created_at)).where(OutboxMessage.status.in_(("pending", "enqueued")))
    )
    unsealed, oldest_unsealed = _audit_unsealed()
    return OperationsFigures(
        outbox_by_status={status: int(counts.get(status, 0)) for status in OUTBOX_STATUSES},
        oldest_waiting_seconds=_age(now, oldest_waiting),
        audit_unsealed=unsealed,
        audit_oldest_unsealed_seconds=_age(now, oldest_unsealed),
    )


def _audit_unsealed() -> tuple[int, datetime | None]:
    # Events are sealed after commit: `seq` stays NULL until the sealer has chained the event. Until the
    # model has that column every event is sealed as it is written, and there is no lag to report.
    seq = getattr(AuditEvent, "seq", None)
    if seq is None:
        return 0, None
    row = db.session.execute(
        select(func.count(), func.min(AuditEvent.created_at)).select_from(AuditEvent).where(seq.is_(None))
    ).one()
    return int(row[0]), row[1]


def _age(now: datetime, since: datetime | None) -> float | None:
    return max(0.0, (now - since).total_seconds()) if since is not None else None


class OperationsCollector:
    """Gauges computed at scrape time from `operations_figures()`."""

    def collect(self) -> Iterator[Metric]:
        try:
            figures = operations_figures()
        except SQLAlchemyError:
            # The request metrics are still worth serving; the missing gauges say the database did not answer.
            log.exception("metrics: the database figures could not be read")
            discard()
            return
        by_status = GaugeMetricFamily(
            "aidbridge_outbox_messages", "Job outbox messages, by status.", labels=["status"]
        )
        for status, count in figures.outbox_by_status.items():
            by_status.add_metric([status], count)
        yield by_status
        yield GaugeMetricFamily(
            "aidbridge_outbox_oldest_pending_seconds",
            "Age of the oldest outbox message waiting to run (pending or enqueued); 0 when none waits.",
            value=figures.oldest_waiting_seconds or 0.0,
        )
        yield GaugeMetricFamily(
            "aidbridge_jobs_failed",
            "Jobs that failed (outbox messages with status failed; `flask jobs retry` puts them back).",
            value=figures.failed_jobs,
        )
        yield GaugeMetricFamily(
            "aidbridge_audit_unsealed_events",
            "Audit events written but not sealed into the hash chain yet.",
            value=figures.audit_unsealed,
        )
        yield GaugeMetricFamily(
            "aidbridge_audit_oldest_unsealed_seconds",
            "Age of the oldest audit event not sealed yet; 0 when all are sealed.",
            value=figures.audit_oldest_unsealed_seconds or 0.0,
        )


def scrape_registry() -> CollectorRegistry:
    """Everything one scrape reports: the request and webhook metrics (every gunicorn worker's under
    PROMETHEUS_MULTIPROC_DIR, else this process's) and the gauges read from the database as it is read."""
    scrape = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Reads every process's files in that directory.
        MultiProcessCollector(scrape)  # type: ignore[no-untyped-call]  # prometheus_client leaves its __init__ unannotated
    else:
        scrape.register(REGISTRY)
    scrape.register(OperationsCollector())
    return scrape


# --- the endpoint and the request timer -----------------------------------------------------------------


def _is_operator() -> bool:
    token = current_app.config.get("METRICS_TOKEN")
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header.removeprefix("Bearer ").strip().encode(), str(token).encode())
    return bool(current_user.is_authenticated and current_user.role == Role.ADMIN)


def metrics() -> Response:
    """Prometheus scrapes this. Not an operator: the 404 of a page that does not exist."""
    if not _is_operator():
        abort(404)
    # The text format Prometheus asks for in Accept (OpenMetrics, or the classic 0.0.4 text).
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return Response(encode(scrape_registry()), content_type=content_type)


# The access rule the route walk reads (fundraise/access.py): admins, or the bearer token; anyone else 404.
metrics.access = ("operators", frozenset({str(Role.ADMIN)}))  # type: ignore[attr-defined]  # a function attribute the access check reads


def _start_timer() -> None:
    request.environ[_STARTED] = time.perf_counter()


def _observe(response: Response) -> Response:
    started = request.environ.get(_STARTED)
    if started is not None:
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        method = request.method if request.method in _METHODS else "other"
        status = f"{response.status_code // 100}xx"
        REQUEST_SECONDS.labels(route=route, method=method, status=status).observe(
            time.perf_counter() - started
        )
    return response


def init_app(app: Flask) -> None:
    """Time every request (first in, last out among the request hooks, so the outbox relay after a request
    counts in its time) and add GET /metrics, exempt from CSRF and rate limits like the other machine
    endpoints."""
    app.before_request(_start_timer)
    app.after_request(_observe)
    app.add_url_rule("/metrics", "metrics", metrics)
    csrf.exempt(metrics)
    limiter.exempt(metrics)

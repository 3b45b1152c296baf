"""`flask jobs status|retry|relay` and `flask worker`."""

from __future__ import annotations

import click
from flask import current_app
from sqlalchemy import select

from fundraise.extensions import db
from fundraise.jobs.outbox import relay, retry_failed
from fundraise.jobs.queue import queue
from fundraise.jobs.worker import run_worker
from fundraise.metrics import operations_figures
from fundraise.models import OutboxMessage


@click.group()
def jobs() -> None:
    """Background jobs."""


@jobs.command("status")
def status() -> None:
    """Outbox counts by status and the age of its oldest waiting message, the audit sealer's lag, the failed
    jobs with their errors, and rq's failed registry. The figures are the ones GET /metrics reports."""
    figures = operations_figures()
    click.echo("outbox: " + ", ".join(f"{s}={n}" for s, n in figures.outbox_by_status.items()))
    click.echo(f"oldest waiting (pending or enqueued): {_age(figures.oldest_waiting_seconds)}")
    click.echo(f"failed jobs: {figures.failed_jobs}")
    click.echo(
        f"audit: unsealed={figures.audit_unsealed}, oldest unsealed: {_age(figures.audit_oldest_unsealed_seconds)}"
    )
    failed = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.status == "failed").order_by(OutboxMessage.id)
    ).all()
    for message in failed:
        click.echo(
            f"  failed #{message.id} {message.job} {message.args} attempts={message.attempts}"
            f"{f' request={message.request_id}' if message.request_id else ''}: {message.last_error}"
        )
    if current_app.config["JOBS_MODE"] == "rq":
        from rq.registry import FailedJobRegistry

        click.echo(f"rq failed registry: {len(FailedJobRegistry(queue=queue()))} jobs")


def _age(seconds: float | None) -> str:
    return "none" if seconds is None else f"{seconds:.0f}s"


@jobs.command("retry")
def retry() -> None:
    """Put failed jobs back in the outbox and relay them."""
    click.echo(f"retrying {retry_failed()} failed jobs")
    click.echo(f"relayed {relay()}")


@jobs.command("relay")
def relay_command() -> None:
    """Relay pending outbox messages now."""
    click.echo(f"relayed {relay()}")


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
def worker(burst: bool) -> None:
    """Run an rq worker inside the app (needs REDIS_URL and JOBS_MODE=rq, the production setting)."""

    run_worker(current_app._get_current_object(), burst=burst)  # type: ignore[attr-defined]  # current_app is typed as Flask, not as the proxy it is

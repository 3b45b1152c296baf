"""`flask jobs status|retry|relay` and `flask worker`."""

from __future__ import annotations

import click
from flask import current_app
from sqlalchemy import func, select

from fundraise.extensions import db
from fundraise.jobs.outbox import relay, retry_failed
from fundraise.jobs.queue import queue
from fundraise.jobs.worker import run_worker
from fundraise.models import OutboxMessage


@click.group()
def jobs() -> None:
    """Background jobs."""


@jobs.command("status")
def status() -> None:
    """Outbox counts by status, the failed jobs with their errors, and rq's failed registry."""
    counts = dict(
        db.session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all()
    )
    click.echo(
        "outbox: " + ", ".join(f"{s}={counts.get(s, 0)}" for s in ("pending", "enqueued", "done", "failed"))
    )
    failed = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.status == "failed").order_by(OutboxMessage.id)
    ).all()
    for message in failed:
        click.echo(
            f"  failed #{message.id} {message.job} {message.args} attempts={message.attempts}: "
            f"{message.last_error}"
        )
    if current_app.config["JOBS_MODE"] == "rq":
        from rq.registry import FailedJobRegistry

        click.echo(f"rq failed registry: {len(FailedJobRegistry(queue=queue()))} jobs")


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

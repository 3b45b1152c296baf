"""`flask payments reconcile|schedule|refund|replay`."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from sqlalchemy import select

from fundraise.errors import DomainError
from fundraise.extensions import db
from fundraise.models import Donation, User
from fundraise.payments import get_provider
from fundraise.payments import jobs as _jobs  # also registers the reconcile_payments job
from fundraise.services.donations import refund_donation, replay_event
from fundraise.services.reconciliation import reconcile, summarize


@click.group()
def payments() -> None:
    """Payments: reconciliation with the provider, refunds, replaying a failed event."""


@payments.command("reconcile")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    help="UTC; default two days ago.",
)
@click.option("--post-fees", is_flag=True, help="Post fees the provider reports and the ledger lacks.")
def reconcile_command(since: datetime | None, post_fees: bool) -> None:
    """List every difference between the provider's payments and the ledger; exit 1 if there is any."""
    report = reconcile(get_provider(), since.replace(tzinfo=UTC) if since else None, post_fees=post_fees)
    for line in summarize(report):
        click.echo(line)
    if not report.clean:
        raise SystemExit(1)


@payments.command("schedule")
@click.option(
    "--first-in",
    type=click.IntRange(min=0),
    default=None,
    help="Minutes until the first run; default one day.",
)
def schedule_command(first_in: int | None) -> None:
    """Start the daily reconciliation (production: Redis, and `flask worker`, whose rq scheduler runs it).
    Safe to repeat: while a run is scheduled, nothing more is. The demo runs `flask payments reconcile`."""
    from datetime import timedelta

    from flask import current_app

    if not current_app.config.get("REDIS_URL"):
        raise click.ClickException(
            "no REDIS_URL: the daily cycle runs in rq's scheduler; without Redis, run `flask payments reconcile`"
        )
    delay = _jobs.RUN_EVERY if first_in is None else timedelta(minutes=first_in)
    job, due, created = _jobs.schedule_daily_reconcile(delay=delay)
    click.echo(f"{'scheduled' if created else 'already scheduled'}: {job.id}, due {due:%Y-%m-%d %H:%M} UTC")


@payments.command("refund")
@click.argument("donation_id", type=int)
@click.argument("amount_fen", type=int)
@click.option("--by", "email", required=True, help="The charity staff member or admin making the refund.")
@click.option("--reason", required=True)
def refund_command(donation_id: int, amount_fen: int, email: str, reason: str) -> None:
    """Refund AMOUNT_FEN of a donation through the provider (posted when the provider's event arrives)."""

    donation = db.session.get(Donation, donation_id)
    actor = db.session.scalar(select(User).where(User.email == email))
    if donation is None or actor is None:
        raise click.ClickException("no such donation or user")
    try:
        row = refund_donation(donation, amount_fen, actor, reason)
    except DomainError as error:
        raise click.ClickException(error.message) from error
    click.echo(f"refund request {row.id}: {row.status} (provider refund {row.provider_refund_id})")


@payments.command("replay")
@click.argument("event_id")
def replay_command(event_id: str) -> None:
    """Apply again a stored provider event whose processing failed."""

    try:
        click.echo(replay_event(event_id))
    except DomainError as error:
        raise click.ClickException(error.message) from error

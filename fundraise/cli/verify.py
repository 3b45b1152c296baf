"""`flask verify run`: verify one campaign, or every active one, against the records and the rules now.

A case not yet decided is moved on; a case already decided gets a new report only if the records or rules
now say something different, flagged for staff when the decision changed (fundraise/services/verification.py).
"""

from __future__ import annotations

import sys
from collections import Counter

import click

from fundraise.errors import DomainError
from fundraise.jobs.outbox import relay
from fundraise.models import VerificationTrigger
from fundraise.services import verification


@click.group()
def verify() -> None:
    """Verification of campaigns against insurance and civil-affairs records."""


@verify.command("run")
@click.option("--campaign", "campaign_id", type=int, help="Verify this campaign.")
@click.option("--all-active", is_flag=True, help="Verify every campaign from submission until it ends.")
def run(campaign_id: int | None, all_active: bool) -> None:
    """Verify --campaign ID or --all-active campaigns, with a progress bar; prints what changed."""
    if (campaign_id is None) == (not all_active):
        raise click.UsageError("give either --campaign ID or --all-active")
    if campaign_id is not None:
        try:
            report = verification.verify_campaign(campaign_id, trigger=VerificationTrigger.MANUAL)
        except DomainError as error:
            raise click.ClickException(error.message) from error
        click.echo(
            f"campaign {campaign_id}: {report.decision} (report {report.id}, {report.trigger},"
            f" {report.created_at:%Y-%m-%d %H:%M:%S} UTC)"
            + (f"; changed from {report.previous_decision}" if report.changed_outcome else "")
        )
        relay()
        return

    ids = verification.active_campaign_ids()
    with click.progressbar(length=len(ids), label="Verifying", file=sys.stderr) as bar:
        outcomes = verification.verify_campaigns(ids, trigger=VerificationTrigger.MANUAL, progress=bar.update)
    decisions = Counter(outcome.decision for outcome in outcomes)
    stored = sum(outcome.stored for outcome in outcomes)
    changed = [outcome.campaign_id for outcome in outcomes if outcome.changed_outcome]
    moved = Counter(outcome.moved_to for outcome in outcomes if outcome.moved_to)
    click.echo(
        f"verified {len(outcomes)} active campaigns: "
        + ", ".join(f"{decision} {count}" for decision, count in sorted(decisions.items()))
    )
    click.echo(f"new reports: {stored}; unchanged: {len(outcomes) - stored}")
    if moved:
        click.echo("moved: " + ", ".join(f"{state} {count}" for state, count in sorted(moved.items())))
    if changed:
        click.echo(f"decision changed for {len(changed)}: " + ", ".join(map(str, changed[:50])))
    relay()

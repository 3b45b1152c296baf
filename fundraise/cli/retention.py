"""`flask retention run [--dry-run]`: apply the retention table once (the worker runs it daily)."""

from __future__ import annotations

import click

from fundraise.services import retention as retention_service


@click.group()
def retention() -> None:
    """How long personal data is kept (fundraise/retention_policy.py)."""


@retention.command("run")
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; change nothing.")
def run(dry_run: bool) -> None:
    """Delete what the retention table no longer lets us keep, kind by kind: prints each kind's cut-off date
    (older goes) and how many were deleted, or would be with --dry-run. Ledger entries and audit events are
    never deleted."""
    results = retention_service.run(dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    for result in results:
        click.echo(f"{result.kind}: {verb} {result.count} (cut-off {result.cutoff.isoformat()})")
    total = sum(result.count for result in results)
    click.echo(f"{'dry run' if dry_run else 'run'}: {total} in all")

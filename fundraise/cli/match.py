"""`flask match run [--dry-run]`: a matching run from the command line, with a progress bar and a summary."""

from __future__ import annotations

import click

from fundraise.money import format_yuan
from fundraise.services import matching_runs


@click.group()
def match() -> None:
    """The matching engine: relief projects' budgets to cases' remaining need."""


@match.command("run")
@click.option(
    "--dry-run", is_flag=True, help="Solve and show what would change against the current offers; write none."
)
def run(dry_run: bool) -> None:
    """Run matching now (the daily cycle does the same). Exit 1 if another run is under way or it fails."""
    started_run, started = matching_runs.start_run(None, dry_run=dry_run, queue_job=False)
    if not started:
        click.echo(
            f"run {started_run.id} is already {started_run.status}; try again when it has finished", err=True
        )
        raise SystemExit(1)
    with click.progressbar(length=100, label=f"run {started_run.id}", show_percent=True) as bar:
        done = 0

        def advance(percent: int, stage: str) -> None:
            nonlocal done
            bar.label = f"run {started_run.id}: {stage}"
            bar.update(max(percent - done, 0))
            done = max(done, percent)

        finished = matching_runs.execute_run(started_run.id, on_progress=advance)
    summary = finished.summary
    click.echo(
        f"{'dry run' if dry_run else 'run'} {finished.id} {finished.status}: "
        f"{summary['cases']} cases with need, {summary['cases_with_projects']} with an eligible project, "
        f"{summary['projects']} open projects, {summary['pairs']} eligible pairs"
    )
    verb = "would offer" if dry_run else "offered"
    click.echo(
        f"{verb} {summary['offers_new']} new offers totalling {format_yuan(summary['offered_fen'])}; "
        f"kept {summary['offers_kept']} pending; {'would withdraw' if dry_run else 'withdrew'} "
        f"{summary['offers_withdrawn']}, {'would expire' if dry_run else 'expired'} {summary['offers_expired']}"
    )
    click.echo(
        f"objective {summary['objective']}; solved in {summary['solve_ms']} ms, {summary['total_ms']} ms in all"
    )

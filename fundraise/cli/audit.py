"""`flask audit verify`: check the hash chain and name the first broken link."""

from __future__ import annotations

import click

from fundraise.audit import verify_chain


@click.group()
def audit() -> None:
    """The audit log."""


@audit.command("verify")
def verify() -> None:
    """Recompute every hash in order; exit 1 at the first broken link."""
    checked, broken = verify_chain()
    if broken is not None:
        click.echo(
            f"BROKEN at audit event {broken.event_id}: {broken.reason} ({checked} events before it are intact)"
        )
        raise SystemExit(1)
    click.echo(f"audit chain intact: {checked} events")

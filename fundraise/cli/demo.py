"""`flask demo seed`: demo data for every role."""

from __future__ import annotations

import click

from fundraise.services.demo import seed_demo


@click.group()
def demo() -> None:
    """Demo data."""


@demo.command("seed")
@click.option(
    "--reset", is_flag=True, help="Drop demo data first? (The demo database is recreated by make demo.)"
)
def seed(reset: bool) -> None:
    """Create demo accounts, charities and campaigns (skipped if they exist) and print the logins."""

    for line in seed_demo():
        click.echo(line)

"""`flask demo seed`: demo data for every role."""

from __future__ import annotations

import click

from fundraise.services.demo import seed_demo


@click.group()
def demo() -> None:
    """Demo data."""


@demo.command("seed")
@click.option(
    "--url",
    default="http://127.0.0.1:5000",
    show_default=True,
    help="Where the demo will be served, for the line that tells people where to go.",
)
def seed(url: str) -> None:
    """Create demo accounts, charities and campaigns (skipped if they exist) and print the logins."""

    for line in seed_demo(url=url):
        click.echo(line)

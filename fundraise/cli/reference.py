"""`flask reference load`: regions, hospitals and the disease catalogue from config/reference/."""

from __future__ import annotations

from pathlib import Path

import click

from config.settings import REFERENCE_DIR
from fundraise.services.reference_data import ReferenceFileError, load_all


@click.group()
def reference() -> None:
    """Reference data."""


@reference.command("load")
@click.option(
    "--dir",
    "directory",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=REFERENCE_DIR,
    show_default=True,
)
def load(directory: Path) -> None:
    """Load (or update) regions, hospitals and the critical-illness catalogue."""
    try:
        result = load_all(directory)
    except ReferenceFileError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"regions: {result.regions}, hospitals: {result.hospitals}, disease ranges: {result.diseases}")

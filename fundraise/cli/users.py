"""`flask users`: create staff accounts, list accounts."""

from __future__ import annotations

import click
from sqlalchemy import select

from fundraise.errors import ValidationFailed
from fundraise.extensions import db
from fundraise.models import Role, User
from fundraise.services import accounts


@click.group()
def users() -> None:
    """Accounts."""


@users.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--hospital", "hospital_code", help="Hospital code (social workers).")
@click.option("--charity", "charity_code", help="Charity code (charity staff).")
@click.option(
    "--jurisdiction", "jurisdiction_code", help="Region code (civil-affairs officers), e.g. 341200."
)
def create(
    email: str,
    name: str,
    role: str,
    password: str,
    hospital_code: str | None,
    charity_code: str | None,
    jurisdiction_code: str | None,
) -> None:
    """Create an account of any role (staff accounts are never self-registered)."""
    try:
        user = accounts.create_account(
            email,
            name,
            password,
            role,
            hospital_code=hospital_code,
            charity_code=charity_code,
            jurisdiction_code=jurisdiction_code,
        )
    except ValidationFailed as error:
        for field, messages in error.fields.items():
            click.echo(f"{field}: {'; '.join(messages)}", err=True)
        raise SystemExit(2) from error
    click.echo(f"created {user.role} account {user.email} (id {user.id})")


@users.command("list")
def list_users() -> None:
    """List accounts with their roles."""
    for user in db.session.scalars(select(User).order_by(User.id)):
        click.echo(f"{user.id:>5}  {user.role:<22} {user.email:<40} {user.name}")

"""`flask ledger check`: prove the ledger's invariants over all data."""

from __future__ import annotations

import click

from fundraise import ledger as ledger_module
from fundraise.services.disbursement_invariants import check_disbursements
from fundraise.services.donations import check_donations


@click.group()
def ledger() -> None:
    """The double-entry ledger."""


@ledger.command("check")
def check() -> None:
    """Every transaction balances with ≥ 2 entries; no fund, budget or commitment account is ever negative
    (replayed in order); every balance stored on an account row is the sum of its entries; every posting is
    audited; donations and disbursements agree with the ledger. Exit 1 naming each violation."""
    transactions, violations = ledger_module.verify()
    donations, donation_violations = check_donations()
    disbursements, disbursement_violations = check_disbursements()
    violations += donation_violations + disbursement_violations
    for violation in violations:
        click.echo(f"VIOLATION {violation}")
    if violations:
        click.echo(
            f"{len(violations)} violations ({transactions} transactions, {donations} donations,"
            f" {disbursements} disbursements checked)"
        )
        raise SystemExit(1)
    click.echo(
        f"ledger consistent: {transactions} transactions, {donations} donations,"
        f" {disbursements} disbursements checked"
    )

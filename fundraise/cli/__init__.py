"""Command-line tools, run as `flask <group> <command>` inside the app context."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from fundraise.cli import audit, demo, jobs, reference, users

    for group in (users.users, reference.reference, audit.audit, jobs.jobs, jobs.worker, demo.demo):
        app.cli.add_command(group)
    from fundraise.cli.records import records
    from fundraise.cli.verify import verify

    app.cli.add_command(records)
    app.cli.add_command(verify)
    from fundraise.cli.ledger import ledger
    from fundraise.cli.payments import payments

    app.cli.add_command(ledger)
    app.cli.add_command(payments)

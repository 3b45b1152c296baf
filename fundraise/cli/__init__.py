"""Command-line tools, run as `flask <group> <command>` inside the app context."""

from __future__ import annotations

from flask import Flask

from fundraise.cli import audit, demo, jobs, reference, users
from fundraise.cli.backup import backup
from fundraise.cli.ledger import ledger
from fundraise.cli.match import match
from fundraise.cli.payments import payments
from fundraise.cli.records import records
from fundraise.cli.retention import retention
from fundraise.cli.verify import verify


def init_app(app: Flask) -> None:

    for group in (users.users, reference.reference, audit.audit, jobs.jobs, jobs.worker, demo.demo):
        app.cli.add_command(group)

    app.cli.add_command(records)
    app.cli.add_command(verify)

    app.cli.add_command(ledger)
    app.cli.add_command(match)
    app.cli.add_command(payments)
    app.cli.add_command(backup)
    app.cli.add_command(retention)

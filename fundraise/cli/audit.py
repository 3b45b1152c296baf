"""`flask audit seal|verify|keygen`: seal the audit log, check it (against saved checkpoints too), make a key."""

from __future__ import annotations

import base64
import json
import os
import signal
import threading
from pathlib import Path

import click
from flask import current_app

from fundraise.audit import seal
from fundraise.audit_verification import SavedCheckpoint, saved_checkpoints, verify_log
from fundraise.models.columns import utcnow
from fundraise.unit_of_work import discard


@click.group()
def audit() -> None:
    """The audit log."""


@audit.command("seal")
@click.option(
    "--follow", is_flag=True, help="Keep sealing until stopped (Ctrl-C or SIGTERM), as the worker does."
)
@click.option("--interval", type=click.FloatRange(min=0.05), help="Seconds between runs with --follow.")
def seal_command(follow: bool, interval: float | None) -> None:
    """Seal every committed, unsealed event and sign a checkpoint of the head."""
    discard()  # the sealer works on a connection of its own; this session must not hold SQLite's lock
    pause = interval if interval is not None else current_app.config["AUDIT_SEAL_INTERVAL_SECONDS"]
    stop = threading.Event()
    if follow:
        signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    total = 0
    while True:
        try:
            result = seal()
        except KeyboardInterrupt:
            break
        total += result.sealed
        if not follow:
            click.echo(
                f"sealed {_count(result.sealed, 'event')}; the chain ends at event {result.head_seq};"
                f" {_count(result.checkpoints, 'checkpoint')} written"
            )
            return
        try:
            if stop.wait(pause):
                break
        except KeyboardInterrupt:
            break
    click.echo(f"stopped after sealing {_count(total, 'event')}")


@audit.command("verify")
@click.option(
    "--against",
    "against",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A saved copy of /api/v1/audit/checkpoints (JSON): the chain must still reach each of them.",
)
def verify(against: Path | None) -> None:
    """Recompute every hash in order, check every checkpoint's signature and that the chain still reaches it.
    Exit 1 naming each problem; 2 if the --against file cannot be read."""
    saved: list[SavedCheckpoint] = []
    if against is not None:
        try:
            saved = saved_checkpoints(json.loads(against.read_text(encoding="utf-8")), str(against))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValueError) as error:
            click.echo(f"cannot use {against}: {error}", err=True)
            raise SystemExit(2) from None
    result = verify_log(saved, parallel=True)
    for problem in result.problems:
        click.echo(f"BROKEN ({problem.kind}): {problem.message}")
    waiting = f"{_count(result.unsealed, 'event')} not sealed yet"
    if result.oldest_unsealed is not None:
        age = (utcnow() - result.oldest_unsealed).total_seconds()
        waiting += f", the oldest written {age:.0f} s ago"
    checked = f"{_count(result.events, 'event')}, {_count(result.checkpoints, 'checkpoint')}"
    if against is not None:
        checked += f", {_count(result.saved_checkpoints, 'saved checkpoint')}"
    if result.problems:
        click.echo(f"audit log NOT intact: {len(result.problems)} problem(s) in {checked}; {waiting}")
        raise SystemExit(1)
    click.echo(f"audit log intact: {checked} verified; {waiting}")


@audit.command("keygen")
def keygen() -> None:
    """Print a new AUDIT_SIGNING_KEY (keep it with the other secrets; its public half is published)."""
    click.echo(base64.b64encode(os.urandom(32)).decode())


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"

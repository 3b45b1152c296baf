"""One owner for the commit: a service call that changes state is one unit of work (Cosmic Python's
`service_layer/unit_of_work.py`, reduced to what a Flask-SQLAlchemy session needs).

    @transactional
    def approve(...):            # or:  with unit_of_work(): ...
        ...                      # state, ledger postings, audit events, outbox rows

The outermost unit commits once when it ends, or rolls back everything when an exception leaves it. A unit
entered inside another (a service calling a service: upholding a report suspends the campaign, a payment
event closes a campaign at its target) joins the outer one through a savepoint: if it fails, its own writes
are undone and the exception goes on to the caller, which decides; if it succeeds, the outer unit commits it
with everything else. So a crash half-way leaves nothing behind.

Views, jobs and commands call services and never commit or roll back themselves. A service that must talk to
the outside world between two writes (create a payment at the provider after storing the donation) runs two
units one after the other, and says so. This module is the only place in fundraise/ that commits (besides
the CLI's and the migrations' plumbing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import ParamSpec, TypeVar

from fundraise.extensions import db

P = ParamSpec("P")
R = TypeVar("R")
# How many units are open on the session (session.info travels with the session of each app context).
_DEPTH = "aidbridge.unit_of_work_depth"
# What to undo outside the database if the writes are rolled back (files an upload wrote).
_UNDO = "aidbridge.unit_of_work_undo"


def in_unit_of_work() -> bool:
    return bool(db.session().info.get(_DEPTH))


@contextmanager
def unit_of_work() -> Iterator[None]:
    """Everything written inside is committed together when the outermost unit ends, or not at all."""
    session = db.session()
    depth = session.info.get(_DEPTH, 0)
    undo: list[Callable[[], None]] = session.info.setdefault(_UNDO, [])
    undo_from = len(undo)
    session.info[_DEPTH] = depth + 1
    try:
        if depth:
            with session.begin_nested():
                yield
        else:
            yield
    except BaseException:
        session.info[_DEPTH] = depth
        if not depth:
            session.rollback()
        for action in reversed(undo[undo_from:]):
            action()
        del undo[undo_from:]
        raise
    session.info[_DEPTH] = depth
    if not depth:
        try:
            session.commit()
        except BaseException:
            for action in reversed(undo):
                action()
            raise
        finally:
            undo.clear()


def on_rollback(action: Callable[[], None]) -> None:
    """Undo something done outside the database (a file written) if this unit's writes are rolled back."""
    db.session().info.setdefault(_UNDO, []).append(action)


def transactional(function: Callable[P, R]) -> Callable[P, R]:
    """Run the decorated service function as one unit of work."""

    @wraps(function)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with unit_of_work():
            return function(*args, **kwargs)

    return run


def discard() -> None:
    """Forget what the session read or half-wrote outside any unit (a view after a refused request, a job
    after a failure): the next use starts a fresh transaction. Never inside a unit, whose owner decides."""
    if not in_unit_of_work():
        db.session.rollback()

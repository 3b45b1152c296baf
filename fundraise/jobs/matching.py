"""Matching jobs: a queued matching run (started by staff, by `flask match run`, or by the daily cycle in
fundraise/payments/jobs.py), and the family's notice that a charity approved support. The work is the
services'; these are the entry points the outbox runs."""

from __future__ import annotations

from fundraise.jobs.outbox import job
from fundraise.services import matching_runs, notices


@job("match_run")
def match_run(run_id: int) -> None:
    matching_runs.execute_run(run_id)


@job("notify_relief_approved")
def notify_relief_approved(offer_id: int) -> None:
    notices.notify_relief_approved(offer_id)

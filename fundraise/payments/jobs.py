"""The reconciliation job, `reconcile_payments`: scheduled daily in production (cron or rq-scheduler enqueues
it through the outbox), run on demand with `flask payments reconcile`."""

from __future__ import annotations

import logging
from datetime import datetime

from fundraise.jobs.outbox import job
from fundraise.services import audit

log = logging.getLogger(__name__)


@job("reconcile_payments")
def reconcile_payments(since: str | None = None) -> None:
    """Compare the provider's payments with the ledger, post fees the provider reported, and write the result
    to the audit log (and the log at warning level when anything differs). Safe to run twice."""
    from fundraise.extensions import db
    from fundraise.payments import get_provider
    from fundraise.services.reconciliation import reconcile, summarize

    report = reconcile(get_provider(), datetime.fromisoformat(since) if since else None, post_fees=True)
    audit.record(
        "payments.reconciled",
        "reconciliation",
        report.provider,
        actor=None,
        after={
            "since": report.since.isoformat(),
            "provider_payments": report.provider_payments,
            "donations": report.donations,
            "fees_posted": report.fees_posted,
            "differences": [str(d) for d in report.differences[:200]],
        },
    )
    db.session.commit()
    for line in summarize(report):
        (log.warning if report.differences else log.info)("%s", line)

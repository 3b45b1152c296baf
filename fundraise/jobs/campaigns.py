"""Campaign jobs: after a gift to a fundraising campaign, close it if it has reached its target. Queued in the
gift's transaction (fundraise/services/donations/events.py), so the webhook itself never sums a popular
campaign's gifts."""

from __future__ import annotations

from fundraise.jobs.outbox import job
from fundraise.services.donations import events


@job("close_at_target", coalesce=True)
def close_at_target(campaign_id: int) -> None:
    events.close_at_target(campaign_id)

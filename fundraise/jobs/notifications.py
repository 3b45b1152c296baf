"""Notice jobs: a campaign's state changed, a disbursement was decided or paid, an account's sign-in was locked. The work is the notices
service's; these are the entry points the outbox runs."""

from __future__ import annotations

from fundraise.jobs.outbox import job
from fundraise.services import notices


@job("notify_state_change")
def notify_state_change(campaign_id: int, audit_event_id: int) -> None:
    notices.notify_state_change(campaign_id, audit_event_id)


@job("notify_sign_in_locked")
def notify_sign_in_locked(user_id: int, locked_until: str, failures: int) -> None:
    notices.notify_sign_in_locked(user_id, locked_until, failures)


@job("notify_disbursement")
def notify_disbursement(disbursement_id: int, event: str) -> None:
    notices.notify_disbursement(disbursement_id, event)

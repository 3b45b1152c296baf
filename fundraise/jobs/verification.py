"""Verification jobs: the first verification of a submitted campaign, and re-verification after an import.

Both are safe to run twice. `start_verification` acts only on a campaign still waiting for its first decision
(submitted, or verifying after an interrupted run); `reverify_campaigns` stores a new report only when the
records or rules give a different one (fundraise/services/verification.py).
"""

from __future__ import annotations

from fundraise.extensions import db
from fundraise.jobs.outbox import job
from fundraise.models import Campaign, VerificationTrigger
from fundraise.services.verification import UNDECIDED, verify_campaign, verify_campaigns


@job("start_verification")
def start_verification(campaign_id: int) -> None:

    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None or campaign.state not in UNDECIDED:
        return
    verify_campaign(campaign_id, trigger=VerificationTrigger.SUBMISSION)


@job("reverify_campaigns")
def reverify_campaigns(campaign_ids: list[int], trigger: str = VerificationTrigger.RECORDS_IMPORT) -> None:

    verify_campaigns(campaign_ids, trigger=trigger)

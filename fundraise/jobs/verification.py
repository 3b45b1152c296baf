"""Start verification of a submitted campaign.

Until the automatic record checks (the `verification` package's report) are wired in, every submitted case
goes to a charity reviewer: submitted -> verifying -> needs_review. The job is safe to run twice: it only
moves a campaign that is still where it left it.
"""

from __future__ import annotations

from fundraise.extensions import db
from fundraise.jobs.outbox import job
from fundraise.models import Campaign, CampaignState


@job("start_verification")
def start_verification(campaign_id: int) -> None:
    from fundraise.services.campaigns import transition

    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        return
    if campaign.state == CampaignState.SUBMITTED:
        transition(campaign, "begin_verification", actor=None)
    if campaign.state == CampaignState.VERIFYING:
        transition(campaign, "flag_for_review", actor=None)

"""Finding a campaign for a caller: one the caller may not see is not found, so its existence is not revealed.

Who may see what is decided in `fundraise.access`; filing is in `filing`, the state machine in `transitions`.
"""

from __future__ import annotations

from flask_babel import gettext as _

from fundraise.access import can_view
from fundraise.errors import NotFound
from fundraise.extensions import db
from fundraise.models import Campaign, User


def get_campaign(campaign_id: int, user: User | None) -> Campaign:
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None or not can_view(user, campaign):
        raise NotFound(_("We could not find that campaign."))
    return campaign

"""What a campaign has raised, from donation sums (see the package docstring for why not the fund balance)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select

from fundraise.extensions import db
from fundraise.models import Campaign, Donation, DonationStatus


def raised_fen(campaign: Campaign | int) -> int:
    """What donors have given a campaign and kept there: succeeded donations net of refunds and of money a
    dispute withdrew."""
    campaign_id = campaign if isinstance(campaign, int) else campaign.id
    total = db.session.scalar(
        select(
            func.coalesce(func.sum(Donation.amount_fen - Donation.refunded_fen - Donation.disputed_fen), 0)
        ).where(Donation.campaign_id == campaign_id, Donation.status == DonationStatus.SUCCEEDED)
    )
    return int(total or 0)


def raised_by_campaign(campaign_ids: Iterable[int]) -> dict[int, int]:
    """`raised_fen` for many campaigns in one grouped query (a list of cards); 0 for those with no gift."""
    ids = sorted(set(campaign_ids))
    if not ids:
        return {}
    rows = db.session.execute(
        select(
            Donation.campaign_id,
            func.sum(Donation.amount_fen - Donation.refunded_fen - Donation.disputed_fen),
        )
        .where(Donation.campaign_id.in_(ids), Donation.status == DonationStatus.SUCCEEDED)
        .group_by(Donation.campaign_id)
    ).all()
    raised = dict.fromkeys(ids, 0)
    raised.update({campaign_id: int(total or 0) for campaign_id, total in rows})
    return raised


def remaining_need_fen(campaign: Campaign) -> int:
    return max(campaign.target_fen - raised_fen(campaign), 0)


def surplus_fen(campaign: Campaign) -> int:
    """Money above the target (late confirmations after the campaign closed)."""
    return max(raised_fen(campaign) - campaign.target_fen, 0)

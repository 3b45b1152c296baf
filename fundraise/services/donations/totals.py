"""What a campaign has raised, from donation sums (see the package docstring for why not the fund balance), and
its remaining need: the one place that is computed.

Remaining need = target − raised − approved relief commitments. The target is the verified gap after the
family's own resources (capped at what the family asked for, see verification/checks.py `cap_target`), so this
is "verified gap − donations received − approved commitments" of DESIGN §5. It limits each donation, tells the
matching engine how much a case can still take, and is what every page shows as still needed.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select

from fundraise.database import any_of
from fundraise.extensions import db
from fundraise.models import Campaign, Donation, DonationStatus, Offer, OfferStatus


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
        .where(any_of(Donation.campaign_id, ids), Donation.status == DonationStatus.SUCCEEDED)
        .group_by(Donation.campaign_id)
    ).all()
    raised = dict.fromkeys(ids, 0)
    raised.update({campaign_id: int(total or 0) for campaign_id, total in rows})
    return raised


def committed_fen(campaign: Campaign | int) -> int:
    """Relief projects' approved support for the campaign (offers approved by the charities' staff)."""
    campaign_id = campaign if isinstance(campaign, int) else campaign.id
    return committed_by_campaign([campaign_id])[campaign_id]


def committed_by_campaign(campaign_ids: Iterable[int]) -> dict[int, int]:
    """`committed_fen` for many campaigns in one grouped query; 0 for those with none."""
    ids = sorted(set(campaign_ids))
    if not ids:
        return {}
    rows = db.session.execute(
        select(Offer.campaign_id, func.sum(Offer.amount_fen))
        .where(any_of(Offer.campaign_id, ids), Offer.status == OfferStatus.APPROVED)
        .group_by(Offer.campaign_id)
    ).all()
    committed = dict.fromkeys(ids, 0)
    committed.update({campaign_id: int(total or 0) for campaign_id, total in rows})
    return committed


def need_left(target_fen: int, raised_fen_: int, committed_fen_: int) -> int:
    """Target − raised − approved commitments, never below zero: the arithmetic of the remaining need, for
    callers that already hold the three numbers."""
    return max(target_fen - raised_fen_ - committed_fen_, 0)


def raised_and_committed(campaign: Campaign | int) -> tuple[int, int]:
    """`raised_fen` and `committed_fen` of one campaign in one statement (a page that shows both)."""
    campaign_id = campaign if isinstance(campaign, int) else campaign.id
    raised = (
        select(
            func.coalesce(func.sum(Donation.amount_fen - Donation.refunded_fen - Donation.disputed_fen), 0)
        )
        .where(Donation.campaign_id == campaign_id, Donation.status == DonationStatus.SUCCEEDED)
        .scalar_subquery()
    )
    committed = (
        select(func.coalesce(func.sum(Offer.amount_fen), 0))
        .where(Offer.campaign_id == campaign_id, Offer.status == OfferStatus.APPROVED)
        .scalar_subquery()
    )
    row = db.session.execute(select(raised, committed)).one()
    return int(row[0] or 0), int(row[1] or 0)


def remaining_need_fen(campaign: Campaign) -> int:
    """Target − raised − approved commitments, never below zero."""
    return need_left(campaign.target_fen, *raised_and_committed(campaign))


def remaining_needs(campaigns: Iterable[Campaign]) -> dict[int, int]:
    """`remaining_need_fen` for many campaigns in two grouped queries (lists, the matching run)."""
    by_id = {campaign.id: campaign for campaign in campaigns}
    raised = raised_by_campaign(by_id)
    committed = committed_by_campaign(by_id)
    return {
        campaign_id: need_left(campaign.target_fen, raised[campaign_id], committed[campaign_id])
        for campaign_id, campaign in by_id.items()
    }


def surplus_fen(campaign: Campaign) -> int:
    """Money above the target (late confirmations after the campaign closed)."""
    return max(raised_fen(campaign) - campaign.target_fen, 0)

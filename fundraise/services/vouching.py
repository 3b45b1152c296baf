"""Friends and relatives vouching for a campaign (亲友证实), as on the personal-help platforms families know.

A signed-in person who is not the family's side confirms the story of a verified campaign, says how they know
the family and adds a line of their own. The public page shows vouchers with masked names; the family's side
sees who they are. A person may withdraw their voucher. Vouching is limited per person and day, so one
account cannot lend its name to many campaigns at once. A voucher is a testimony, not a check: the page says
so, and it never changes what verification found.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.orm import joinedload

from fundraise import audit
from fundraise.access import is_applicant_side
from fundraise.errors import DomainError, ValidationFailed, try_again_at
from fundraise.extensions import db
from fundraise.models import VOUCHER_RELATIONSHIPS, Campaign, CampaignState, User, Voucher
from fundraise.models.columns import utcnow
from fundraise.text_input import text_problem
from fundraise.unit_of_work import transactional

# Verified cases, before and while they raise money: what a voucher speaks for is the story being told.
VOUCHABLE_STATES = (CampaignState.VERIFIED, CampaignState.FUNDRAISING)
STATEMENT_MIN, STATEMENT_MAX = 5, 200
SHOWN = 50  # vouchers listed on a page, newest first; the count is always whole
RELATIONSHIP_LABELS = {
    "relative": _l("Relative"),
    "friend": _l("Friend"),
    "neighbour": _l("Neighbour"),
    "colleague": _l("Colleague"),
    "classmate": _l("Classmate"),
    "fellow_villager": _l("From the same village"),
    "other": _l("Other"),
}
assert set(RELATIONSHIP_LABELS) == set(VOUCHER_RELATIONSHIPS)


class TooManyVouchers(DomainError):
    status = 429

    def __init__(self, until: datetime) -> None:
        super().__init__(
            _(
                "You have vouched for as many campaigns as one person may in a day. Please try again after "
                "%(time)s.",
                time=try_again_at(until),
            )
        )
        self.retry_at = until


@dataclass(frozen=True)
class Vouchers:
    """A campaign's standing vouchers (newest first, at most SHOWN) and how many there are."""

    items: list[Voucher]
    total: int


def standing(campaign: Campaign) -> Vouchers:
    where = (Voucher.campaign_id == campaign.id, Voucher.withdrawn_at.is_(None))
    items = list(
        db.session.scalars(
            select(Voucher)
            .options(joinedload(Voucher.user))
            .where(*where)
            .order_by(Voucher.created_at.desc(), Voucher.id.desc())
            .limit(SHOWN)
        )
    )
    total = (
        len(items) if len(items) < SHOWN else db.session.scalar(select(func.count(Voucher.id)).where(*where))
    )
    return Vouchers(items, int(total or 0))


def mine(campaign: Campaign, user: User | None) -> Voucher | None:
    if user is None or not user.is_authenticated:
        return None
    return db.session.scalar(
        select(Voucher).where(
            Voucher.campaign_id == campaign.id, Voucher.user_id == user.id, Voucher.withdrawn_at.is_(None)
        )
    )


def may_vouch(campaign: Campaign, user: User | None) -> bool:
    return campaign.state in VOUCHABLE_STATES and not is_applicant_side(user, campaign)


@transactional
def vouch(campaign: Campaign, user: User, relationship: str, statement: str) -> Voucher:
    """Record the person's voucher; every field is checked before anything is written. Commits."""
    statement = (statement or "").strip()
    errors: dict[str, list[str]] = {}
    if relationship not in VOUCHER_RELATIONSHIPS:
        errors["relationship"] = [_("Choose how you know the family.")]
    problem = text_problem(statement, one_line=True)
    if problem:
        errors["statement"] = [problem]
    elif not STATEMENT_MIN <= len(statement) <= STATEMENT_MAX:
        errors["statement"] = [
            _("Write %(min)d to %(max)d characters.", min=STATEMENT_MIN, max=STATEMENT_MAX)
        ]
    if campaign.state not in VOUCHABLE_STATES:
        errors["statement"] = [_("Only a verified campaign can be vouched for.")]
    elif is_applicant_side(user, campaign):
        errors["statement"] = [_("The family and their social worker cannot vouch for their own campaign.")]
    elif mine(campaign, user) is not None:
        errors["statement"] = [_("You have vouched for this campaign already.")]
    if errors:
        raise ValidationFailed(_("Please correct the marked fields."), fields=errors)
    now = utcnow()
    window = now - timedelta(days=1)
    recent = list(
        db.session.scalars(
            select(Voucher.created_at)
            .where(Voucher.user_id == user.id, Voucher.created_at > window)
            .order_by(Voucher.created_at)
        )
    )
    if len(recent) >= current_app.config["VOUCHES_PER_DAY"]:
        raise TooManyVouchers(recent[0] + timedelta(days=1))
    voucher = Voucher(
        campaign_id=campaign.id,
        user_id=user.id,
        relationship_to_family=relationship,
        statement=statement,
        created_at=now,
    )
    db.session.add(voucher)
    db.session.flush()
    audit.record(
        "voucher.create",
        "campaign",
        campaign.id,
        actor=user,
        after={"voucher_id": voucher.id, "relationship": relationship},
    )
    return voucher


@transactional
def withdraw(campaign: Campaign, user: User) -> bool:
    """Withdraw the person's standing voucher, if any. Commits."""
    done = db.session.execute(
        update(Voucher)
        .where(Voucher.campaign_id == campaign.id, Voucher.user_id == user.id, Voucher.withdrawn_at.is_(None))
        .values(withdrawn_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    withdrawn = bool(done.rowcount)  # type: ignore[attr-defined]  # execute() is typed Result; an UPDATE's is a CursorResult
    if withdrawn:
        audit.record("voucher.withdraw", "campaign", campaign.id, actor=user)
    return withdrawn

"""Offers: charity staff approve or decline what a matching run proposed; families and the public see the result.

Approval moves the amount from the project's budget to its commitment in the ledger (`offer:{id}:approved`),
and from then on it counts against the case's remaining need. It is refused, with the reason, when the case
no longer needs that much (donations arrived since the run) or the budget no longer holds it. A decline needs
a reason and keeps the pair from ever being offered again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from fundraise import audit, ledger, person_keys
from fundraise.errors import ValidationFailed
from fundraise.extensions import db
from fundraise.jobs.outbox import enqueue
from fundraise.ledger import InsufficientFunds
from fundraise.models import (
    AccountKind,
    Campaign,
    Charity,
    Offer,
    OfferStatus,
    ReliefProject,
    Role,
    TransactionKind,
    User,
)
from fundraise.models.columns import utcnow
from fundraise.money import format_yuan
from fundraise.pagination import Page, paginate
from fundraise.services.donations import remaining_need_fen
from fundraise.services.matching_cases import MATCHABLE_STATES
from fundraise.services.relief_projects import may_manage
from fundraise.unit_of_work import transactional

NOTE_MAX = 500
DECISIONS = ("approve", "decline")


@dataclass
class Decided:
    """What one decision on several offers did: the ids done, and why each other one was not."""

    done: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)


def queue(
    actor: User, *, status: str = OfferStatus.PENDING, page: int = 1, per_page: int = 50
) -> Page[Offer]:
    """The offers of the actor's charity's projects (every charity's for an admin), highest priority first."""
    query = (
        select(Offer)
        .join(ReliefProject, ReliefProject.id == Offer.project_id)
        .options(joinedload(Offer.project), joinedload(Offer.campaign))
        .where(Offer.status == status)
        .order_by(Offer.priority.desc(), Offer.id)
    )
    if actor.role != Role.ADMIN:
        query = query.where(ReliefProject.charity_id == actor.charity_id)
    return paginate(query, page, per_page)


@transactional
def decide(offer_ids: Sequence[int], actor: User, decision: str, note: str = "") -> Decided:
    """Approve or decline offers, one or many; each is checked on its own and the result says which went
    through and why the others did not. Commits."""
    note = (note or "").strip()
    errors: dict[str, list[str]] = {}
    if decision not in DECISIONS:
        errors["decision"] = [_("Choose approve or decline.")]
    if decision == "decline" and not note:
        errors["note"] = [
            _("Say why the project declines: the family and the other charities' staff read it.")
        ]
    if len(note) > NOTE_MAX:
        errors["note"] = [_("Up to %(n)d characters.", n=NOTE_MAX)]
    if not offer_ids:
        errors["offer_ids"] = [_("Choose at least one offer.")]
    if errors:
        raise ValidationFailed(_("Please correct the marked fields."), fields=errors)

    offers = list(
        db.session.scalars(
            select(Offer)
            .options(joinedload(Offer.project))
            .where(Offer.id.in_(set(offer_ids)))
            .order_by(Offer.id)
            # Two staff deciding the same offer at once: the second waits here, then finds it decided.
            # Offers are locked before the accounts (ledger.py's lock order), as a project's closing does.
            .with_for_update(of=Offer)
        )
    )
    result = Decided()
    found = {offer.id for offer in offers}
    for missing in sorted(set(offer_ids) - found):
        result.refused[missing] = _("No such offer.")
    if decision == "approve":
        # Lock every budget and commitment these approvals move, in id order, before moving any (ledger.py).
        projects = sorted({offer.project_id for offer in offers if may_manage(actor, offer.project)})
        ledger.lock_accounts(
            ledger.accounts(
                *[(AccountKind.PROJECT_BUDGET, pid) for pid in projects],
                *[(AccountKind.PROJECT_COMMITMENT, pid) for pid in projects],
            )
        )
    for offer in offers:
        problem = _refusal(offer, actor)
        if problem is None and decision == "approve":
            problem = _approve(offer, actor, note)
        elif problem is None:
            _record(offer, actor, OfferStatus.DECLINED, note)
        if problem is None:
            result.done.append(offer.id)
        else:
            result.refused[offer.id] = problem
    return result


def _refusal(offer: Offer, actor: User) -> str | None:
    if not may_manage(actor, offer.project):
        return str(_("Only staff of the project's charity may decide its offers."))
    if offer.status != OfferStatus.PENDING:
        return str(_("Already decided or no longer open."))
    if offer.expires_at <= utcnow():
        return str(_("This offer expired; the next matching run offers the budget again."))
    if offer.campaign.state not in MATCHABLE_STATES:
        return str(
            _("The case no longer takes support (it left fundraising); the next run withdraws this offer.")
        )
    return None


def _approve(offer: Offer, actor: User, note: str) -> str | None:
    campaign = offer.campaign
    needed = remaining_need_fen(campaign)
    if needed < offer.amount_fen:
        return str(
            _(
                "The case now needs %(needed)s, less than this offer (donations arrived since the run); the next"
                " run will offer what it still needs.",
                needed=format_yuan(needed),
            )
        )
    budget, commitment = ledger.accounts(
        (AccountKind.PROJECT_BUDGET, offer.project_id), (AccountKind.PROJECT_COMMITMENT, offer.project_id)
    )
    try:
        ledger.post_transfer(
            f"offer:{offer.id}:approved",
            TransactionKind.BUDGET,
            [(budget, -offer.amount_fen), (commitment, offer.amount_fen)],
            memo="relief offer approved",
            refs={"offer_id": offer.id, "project_id": offer.project_id, "campaign_id": offer.campaign_id},
            actor=actor,
        )
    except InsufficientFunds:
        return str(_("The project's budget no longer holds this amount."))
    _record(offer, actor, OfferStatus.APPROVED, note)
    db.session.flush()  # the next approval's remaining need counts this one
    enqueue("close_at_target", campaign_id=offer.campaign_id)
    enqueue("notify_relief_approved", offer_id=offer.id)
    return None


def _record(offer: Offer, actor: User, status: OfferStatus, note: str) -> None:
    offer.status = status
    offer.decided_by_id = actor.id
    offer.decided_at = utcnow()
    offer.decision_note = note
    audit.record(
        f"relief_offer.{status}",
        "relief_offer",
        offer.id,
        actor=actor,
        before={"status": OfferStatus.PENDING.value},
        after={
            "status": status.value,
            "amount_fen": offer.amount_fen,
            **person_keys.seal_for_campaign(offer.campaign_id, {"note": note}),
        },
    )


# --- what families and the public see -----------------------------------------------------------------------


@dataclass(frozen=True)
class Support:
    """One charity's support for a case."""

    charity: Charity
    project_name: str
    amount_fen: int
    status: str


def support_for(campaign: Campaign, *, include_pending: bool) -> list[Support]:
    """Approved support (and, for the family, offers still waiting), grouped by project, largest first."""
    statuses = [OfferStatus.APPROVED] + ([OfferStatus.PENDING] if include_pending else [])
    rows = db.session.execute(
        select(Charity, ReliefProject.name, Offer.status, func.sum(Offer.amount_fen))
        .join(ReliefProject, ReliefProject.id == Offer.project_id)
        .join(Charity, Charity.id == ReliefProject.charity_id)
        .where(Offer.campaign_id == campaign.id, Offer.status.in_(statuses))
        .group_by(Charity, ReliefProject.id, ReliefProject.name, Offer.status)
    ).all()
    support = [Support(charity, name, int(total), status) for charity, name, status, total in rows]
    return sorted(support, key=lambda s: (s.status != OfferStatus.APPROVED, -s.amount_fen, s.project_name))

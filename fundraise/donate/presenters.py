"""How gifts, receipts and a campaign fund's ledger are listed and worded for donors and the public.

Read-only: every number comes from the donation service (`raised_fen`, `remaining_need_fen`) or from the
ledger's own statement of the campaign fund; nothing here decides anything about money.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from flask_babel import format_date, gettext, to_user_timezone
from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, select

from fundraise import ledger
from fundraise.extensions import db
from fundraise.i18n import locale_name
from fundraise.models import (
    AccountKind,
    Campaign,
    CampaignState,
    Donation,
    DonationStatus,
    RefundStatus,
    SurplusChoice,
)
from fundraise.models.ledger import TransactionKind
from fundraise.money import format_yuan
from fundraise.pagination import Page, last_page
from fundraise.payments.sandbox import SANDBOX_DECLINED
from fundraise.pii import public_name
from fundraise.services import gift_allocations, reference_cache
from fundraise.services.donations import need_left, raised_and_committed
from fundraise.services.donations.refunds import CLOSE_OUT_REFUND, PROVIDER_REFUND, PROVIDER_REPORTS_REFUND

T = TypeVar("T")

SURPLUS_CHOICES = {
    SurplusChoice.REFUND: _l("Refund my share to me"),
    SurplusChoice.RELIEF_POOL: _l("Move my share to a relief pool for other patients"),
}
SURPLUS_EXPLANATIONS = {
    SurplusChoice.REFUND: _l(
        "If money is left after the treatment is paid for, your share of it is refunded to you, "
        "in proportion to your gift."
    ),
    SurplusChoice.RELIEF_POOL: _l(
        "If money is left after the treatment is paid for, your share of it goes to a charity relief pool "
        "that helps other critically ill patients."
    ),
}
USE_OF_FUNDS = _l(
    "Your gift is held in this campaign's own fund, apart from Aidbridge's money. It is paid only to the "
    "hospital treating the patient, against the hospital's bills, never to the family, and every movement "
    "is published on the campaign's public ledger."
)

STATUS_LABELS = {
    DonationStatus.CREATED: _l("Not paid yet"),
    DonationStatus.PENDING: _l("Waiting for confirmation"),
    DonationStatus.SUCCEEDED: _l("Received"),
    DonationStatus.FAILED: _l("Did not go through"),
    DonationStatus.CANCELED: _l("Canceled"),
}
REFUND_STATUS_LABELS = {
    RefundStatus.REQUESTED: _l("asked of the payment provider"),
    RefundStatus.PENDING: _l("on its way"),
    RefundStatus.SUCCEEDED: _l("refunded"),
    RefundStatus.FAILED: _l("failed"),
    RefundStatus.CANCELED: _l("canceled"),
}


def payment_failure_text(reason: str | None) -> str:
    """Why a payment failed, as the donor reads it: the sandbox's code in their language; a provider's own
    words (Stripe writes English) as it gave them."""
    if reason == SANDBOX_DECLINED:
        return str(gettext("declined in the sandbox checkout"))
    return reason or ""


def refund_reason_text(text: str | None) -> str:
    """A refund's reason or failure as the reader reads it: a person's words as written, the system's codes in
    the reader's language."""
    if not text:
        return ""
    if text == CLOSE_OUT_REFUND:
        return str(
            gettext(
                "the campaign closed out; what was left of the gift goes back to the donor, as they chose"
            )
        )
    if text == PROVIDER_REFUND:
        return str(gettext("made in the payment provider's dashboard"))
    if text.startswith(PROVIDER_REPORTS_REFUND):
        status = text.removeprefix(PROVIDER_REPORTS_REFUND)
        label = REFUND_STATUS_LABELS.get(RefundStatus(status)) if status in set(RefundStatus) else None
        return str(gettext("the payment provider reports it %(status)s", status=str(label or status)))
    return text


STATUS_TONES = {
    DonationStatus.CREATED: "muted",
    DonationStatus.PENDING: "info",
    DonationStatus.SUCCEEDED: "ok",
    DonationStatus.FAILED: "bad",
    DonationStatus.CANCELED: "muted",
}

# The campaign fund's ledger in plain words. Money in is positive, money out negative.
LEDGER_KINDS = {
    TransactionKind.CAPTURE: _l("Donation received"),
    TransactionKind.FEE: _l("Payment processing fee"),
    TransactionKind.REFUND: _l("Refund to a donor"),
    TransactionKind.REFUND_REVERSAL: _l("Refund reversed (the money came back)"),
    TransactionKind.DISPUTE_WITHDRAWAL: _l("Taken back by a donor's bank (card dispute)"),
    TransactionKind.DISPUTE_REINSTATEMENT: _l("Returned after a card dispute"),
    TransactionKind.PAYOUT: _l("Paid to the hospital"),
    TransactionKind.RESERVATION: _l("Set aside for an approved payment to the hospital"),
    TransactionKind.SURPLUS: _l("Left at close-out, moved to the relief pool as the donor chose"),
    TransactionKind.BUDGET: _l("Relief-project transfer"),
    TransactionKind.ADJUSTMENT: _l("Correction"),
}

RESERVATION_RETURNED = _l("Returned: an approved payment to the hospital was cancelled")

# Why a campaign that is not fundraising takes no gifts, in the donor's words.
CLOSED_REASONS = {
    CampaignState.VERIFIED: _l("The case is verified, but the family has not opened fundraising yet."),
    CampaignState.CLOSED: _l("Fundraising has ended, so this campaign takes no new donations."),
    CampaignState.SUSPENDED: _l(
        "Donations are paused while a report about this campaign is investigated. "
        "Nothing given so far is paid out until it is resolved."
    ),
    CampaignState.CANCELLED: _l("This campaign was cancelled and takes no donations."),
}
TARGET_REACHED = _l(
    "This campaign has reached its target and takes no more donations. Thank you to everyone who gave."
)
NOT_TAKING = _l("This campaign is not taking donations.")


def status_label(status: str) -> str:
    return str(STATUS_LABELS.get(DonationStatus(status), status)) if status in set(DonationStatus) else status


def surplus_label(choice: str) -> str:
    return str(SURPLUS_CHOICES.get(SurplusChoice(choice), choice)) if choice in set(SurplusChoice) else choice


def local_date(moment: datetime | None, fmt: str = "medium") -> str:
    """The day in the viewer's time zone (Asia/Shanghai by default), not in UTC."""
    return format_date(to_user_timezone(moment).date(), fmt) if moment is not None else ""


# --- lists ------------------------------------------------------------------------------------------------


def _clamp(number: int, total: int, per_page: int) -> int:
    return min(number, last_page(total, per_page))


def public_gifts(campaign_id: int, page: int = 1, per_page: int = 20) -> Page[Donation]:
    """A campaign's received gifts, newest first (refunded ones included, marked as such)."""
    where = (Donation.campaign_id == campaign_id, Donation.status == DonationStatus.SUCCEEDED)
    total = db.session.scalar(select(func.count()).select_from(Donation).where(*where)) or 0
    number = _clamp(page, total, per_page)
    items = db.session.scalars(
        select(Donation)
        .where(*where)
        .order_by(Donation.confirmed_at.desc(), Donation.id.desc())
        .limit(per_page)
        .offset((number - 1) * per_page)
    ).all()
    return Page(list(items), number, per_page, total)


def donor_history(donor_id: int, page: int = 1, per_page: int = 20) -> Page[Donation]:
    """Everything an account started giving, newest first, whatever became of it."""
    where = Donation.donor_id == donor_id
    total = db.session.scalar(select(func.count()).select_from(Donation).where(where)) or 0
    number = _clamp(page, total, per_page)
    items = db.session.scalars(
        select(Donation)
        .where(where)
        .order_by(Donation.created_at.desc(), Donation.id.desc())
        .limit(per_page)
        .offset((number - 1) * per_page)
    ).all()
    return Page(list(items), number, per_page, total)


def donor_count(campaign_id: int) -> int:
    """People whose gift still counts: each signed-in donor once, each guest gift as one donor."""
    kept = Donation.amount_fen - Donation.refunded_fen - Donation.disputed_fen > 0
    accounts, guests = db.session.execute(
        select(
            func.count(func.distinct(Donation.donor_id)),
            func.coalesce(func.sum(case((Donation.donor_id.is_(None), 1), else_=0)), 0),
        ).where(Donation.campaign_id == campaign_id, Donation.status == DonationStatus.SUCCEEDED, kept)
    ).one()
    return int(accounts or 0) + int(guests or 0)


# --- the panel on a campaign page -------------------------------------------------------------------------


@dataclass(frozen=True)
class Panel:
    campaign: Campaign
    raised_fen: int
    target_fen: int
    # Relief projects' approved support: it counts toward the target as donations do.
    committed_fen: int
    remaining_fen: int
    donors: int
    accepting: bool
    closed_reason: str
    recent: list[Donation]


def closed_reason(campaign: Campaign, remaining: int) -> str:
    """Why this campaign takes no gift now (given its remaining need), or "" when it does."""
    if campaign.state == CampaignState.FUNDRAISING:
        return str(TARGET_REACHED) if remaining <= 0 else ""
    if campaign.state == CampaignState.CLOSED and remaining <= 0:
        return str(TARGET_REACHED)
    return str(CLOSED_REASONS.get(CampaignState(campaign.state), NOT_TAKING))


def donation_panel(campaign: Campaign, recent: int = 5) -> Panel:
    raised, committed = raised_and_committed(campaign)
    remaining = need_left(campaign.target_fen, raised, committed)
    reason = closed_reason(campaign, remaining)
    return Panel(
        campaign=campaign,
        raised_fen=raised,
        target_fen=campaign.target_fen,
        committed_fen=committed,
        remaining_fen=remaining,
        donors=donor_count(campaign.id),
        accepting=not reason,
        closed_reason=reason,
        recent=public_gifts(campaign.id, 1, recent).items if recent else [],
    )


# --- the public ledger of a campaign's fund ---------------------------------------------------------------


@dataclass(frozen=True)
class LedgerLine:
    at: datetime
    kind: str
    label: str
    amount_fen: int  # positive: into the fund; negative: out of it
    balance_fen: int  # the fund after this line


@dataclass(frozen=True)
class FundStatement:
    lines: list[LedgerLine]  # oldest first
    totals: dict[str, int]  # by transaction kind, signed
    balance_fen: int

    @property
    def money_in_fen(self) -> int:
        return sum(line.amount_fen for line in self.lines if line.amount_fen > 0)

    @property
    def money_out_fen(self) -> int:
        return -sum(line.amount_fen for line in self.lines if line.amount_fen < 0)


def fund_statement(campaign_id: int) -> FundStatement:
    """Every movement of the campaign fund with the running balance, from the ledger. No donor is named:
    a line says what kind of movement it was, when, and how much."""
    account = ledger.find_account(AccountKind.CAMPAIGN_FUND, campaign_id)  # never created by reading
    if account is None:
        return FundStatement([], {}, 0)
    lines = []
    totals: dict[str, int] = {}
    for line in ledger.statement(account):
        kind = line.transaction.kind
        label = LEDGER_KINDS.get(TransactionKind(kind), kind) if kind in set(TransactionKind) else kind
        if kind == TransactionKind.RESERVATION and line.amount_fen > 0:
            label = RESERVATION_RETURNED
        lines.append(
            LedgerLine(line.transaction.created_at, kind, str(label), line.amount_fen, line.balance_fen)
        )
        totals[kind] = totals.get(kind, 0) + line.amount_fen
    return FundStatement(lines, totals, lines[-1].balance_fen if lines else 0)


def template_helpers() -> dict[str, Any]:
    """Names the donation templates use (the campaign page's panel included)."""
    return {
        "donation_panel": donation_panel,
        "local_date": local_date,
        "donation_status_label": status_label,
        "donation_status_tone": lambda status: STATUS_TONES.get(status, "muted"),
        "refund_status_label": lambda status: str(REFUND_STATUS_LABELS.get(status, status)),
        "refund_reason_text": refund_reason_text,
        "payment_failure_text": payment_failure_text,
        "donor_public_name": public_name,
        "surplus_label": surplus_label,
        "surplus_explanation": lambda choice: SURPLUS_EXPLANATIONS.get(choice, ""),
        "use_of_funds": USE_OF_FUNDS,
    }


# --- what a gift paid for --------------------------------------------------------------------------------


def gift_uses(donations: Iterable[Donation]) -> dict[int, list[str]]:
    """What each succeeded gift paid for, one line per part, by donation id: each payout to the hospital (paid
    first in, first out), the relief pool, refunds, card disputes, the provider's fee and what is still held.
    The parts sum to the gift. One call for the page (gift_allocations.breakdowns: three queries)."""
    locale = locale_name()
    uses: dict[int, list[str]] = {}
    for donation_id, part in gift_allocations.breakdowns(donations).items():
        lines = []
        for disbursement, amount in part.payouts:
            hospital = reference_cache.hospital(disbursement.hospital_id)
            lines.append(
                gettext(
                    "%(amount)s paid to %(hospital)s on %(date)s for %(purpose)s",
                    amount=format_yuan(amount),
                    hospital=hospital.name(locale) if hospital is not None else "",
                    date=local_date(disbursement.paid_at or disbursement.created_at),
                    purpose=disbursement.purpose,
                )
            )
        if part.relief_pool_fen:
            lines.append(
                gettext("%(amount)s moved to the relief pool", amount=format_yuan(part.relief_pool_fen))
            )
        if part.refunded_fen:
            lines.append(gettext("%(amount)s refunded", amount=format_yuan(part.refunded_fen)))
        if part.disputed_fen:
            lines.append(
                gettext("%(amount)s taken back by a card dispute", amount=format_yuan(part.disputed_fen))
            )
        if part.fee_fen:
            lines.append(
                gettext(
                    "%(amount)s kept by the payment provider as its fee", amount=format_yuan(part.fee_fen)
                )
            )
        if part.held_fen:
            lines.append(
                gettext(
                    "%(amount)s still held for the patient's treatment", amount=format_yuan(part.held_fen)
                )
            )
        uses[donation_id] = lines
    return uses

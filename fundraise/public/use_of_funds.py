"""What the public campaign page shows of the money paid out: the campaign's use of funds in five numbers and
every disbursement the public may see, with its phase, its notice and its redacted bill.

Read in three statements whatever the number of disbursements (the campaign page's statement budget,
tests/web/test_performance.py): the visible disbursements with their bills and approvals, which of them an
objection holds (`disbursements.held_ids`, asked once), and the money totals. The totals are the same numbers as
`disbursement_funds.use_of_funds`, taken from the rows already loaded and one query (a test holds them equal).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import url_for
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from fundraise.extensions import db
from fundraise.i18n import locale_name
from fundraise.models import (
    AccountKind,
    Disbursement,
    DisbursementSource,
    DisbursementStatus,
    Document,
    Donation,
    DonationStatus,
    LedgerAccount,
)
from fundraise.services import disbursement_funds, disbursements, reference_cache
from fundraise.services.disbursement_funds import UseOfFunds

S = DisbursementStatus
PUBLIC_STATUSES = (S.REQUESTED, S.APPROVED, S.PAID)
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif")
SHA_SHOWN = 12  # hex digits of the bill's SHA-256 shown for a PDF bill, enough to match a copy


@dataclass(frozen=True)
class Bill:
    """What the public sees of a bill: a blurred preview for an image, size and fingerprint for a PDF."""

    preview_url: str | None
    size_kb: int
    sha_prefix: str


@dataclass(frozen=True)
class PublicDisbursement:
    id: int
    requested_at: datetime
    hospital_name: str
    purpose: str
    amount_fen: int
    source: str
    phase: str
    notice_ends_at: datetime
    bill: Bill

    @property
    def in_notice(self) -> bool:
        return self.phase == "notice"


@dataclass(frozen=True)
class CampaignMoney:
    totals: UseOfFunds
    rows: list[PublicDisbursement]

    @property
    def other_fen(self) -> int:
        """Of what was raised, what is neither paid, held nor refunded: the payment provider's fees, card
        disputes and money moved to the relief pool."""
        t = self.totals
        return max(t.raised_fen - t.paid_fen - t.refunded_fen - t.held_fen, 0)

    def share(self, amount_fen: int) -> int:
        """A part of what was raised, in whole percent (for the bar)."""
        if self.totals.raised_fen <= 0:
            return 0
        return min(100, round(100 * amount_fen / self.totals.raised_fen))


def bill_of(document: Document, disbursement_id: int) -> Bill:
    preview = (
        url_for("public.bill_preview", disbursement_id=disbursement_id)
        if document.content_type in IMAGE_TYPES
        else None
    )
    return Bill(preview, max(1, round(document.size_bytes / 1024)), document.sha256[:SHA_SHOWN])


def _visible(campaign_id: int) -> list[Disbursement]:
    # Approvals joined in the same statement (the phase counts them), not their selectin default.
    rows = db.session.scalars(
        select(Disbursement)
        .options(joinedload(Disbursement.bill), joinedload(Disbursement.approvals))
        .where(Disbursement.campaign_id == campaign_id, Disbursement.status.in_(PUBLIC_STATUSES))
        .order_by(Disbursement.created_at.desc(), Disbursement.id.desc())
    ).unique()
    return [d for d in rows if disbursement_funds.visible_to_public(d)]


def _totals(campaign_id: int, shown: list[Disbursement]) -> UseOfFunds:
    succeeded = (Donation.campaign_id == campaign_id, Donation.status == DonationStatus.SUCCEEDED)
    net, refunded, fund = db.session.execute(
        select(
            select(
                func.coalesce(
                    func.sum(Donation.amount_fen - Donation.refunded_fen - Donation.disputed_fen), 0
                )
            )
            .where(*succeeded)
            .scalar_subquery(),
            select(func.coalesce(func.sum(Donation.refunded_fen), 0)).where(*succeeded).scalar_subquery(),
            # The campaign fund is a guarded account: its balance is stored on its row (ledger.balance).
            select(func.coalesce(func.sum(LedgerAccount.balance_fen), 0))
            .where(LedgerAccount.kind == AccountKind.CAMPAIGN_FUND, LedgerAccount.owner_id == campaign_id)
            .scalar_subquery(),
        )
    ).one()

    def total(status: str, source: str) -> int:
        return sum(d.amount_fen for d in shown if d.status == status and d.source == source)

    fund_source, relief_source = DisbursementSource.CAMPAIGN_FUND, DisbursementSource.RELIEF_COMMITMENT
    return UseOfFunds(
        raised_fen=int(net or 0) + int(refunded or 0),
        paid_fen=total(S.PAID, fund_source),
        relief_paid_fen=total(S.PAID, relief_source),
        refunded_fen=int(refunded or 0),
        held_fen=int(fund or 0) + total(S.APPROVED, fund_source),
    )


def campaign_money(campaign_id: int) -> CampaignMoney:
    """The use-of-funds block of a campaign's public page."""
    shown = _visible(campaign_id)
    held = disbursements.held_ids([d.id for d in shown if d.status == S.REQUESTED])
    rows = [describe(d, disbursements.phase(d, held=d.id in held)) for d in shown]
    return CampaignMoney(_totals(campaign_id, shown), rows)


def objectable(campaign_id: int, raw_id: str | None) -> Disbursement | None:
    """The disbursement a visitor objects to (`?disbursement=<id>`): one of this campaign's requests still in
    its public notice, or None."""
    try:
        disbursement_id = int(raw_id or "")
    except ValueError:
        return None
    found = db.session.get(Disbursement, disbursement_id)
    if found is None or found.campaign_id != campaign_id or found.status != S.REQUESTED:
        return None
    if disbursements.phase(found, held=bool(disbursements.held_ids([found.id]))) != "notice":
        return None
    return found


def describe(disbursement: Disbursement, phase: str) -> PublicDisbursement:
    """One disbursement as the page shows it, the hospital named in the reader's language."""
    hospital = reference_cache.hospital(disbursement.hospital_id)
    return PublicDisbursement(
        id=disbursement.id,
        requested_at=disbursement.created_at,
        hospital_name=hospital.name(locale_name()) if hospital is not None else "",
        purpose=disbursement.purpose,
        amount_fen=disbursement.amount_fen,
        source=disbursement.source,
        phase=phase,
        notice_ends_at=disbursement.notice_ends_at,
        bill=bill_of(disbursement.bill, disbursement.id),
    )

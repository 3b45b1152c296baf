"""Disbursements: money leaves only to the treating hospital, against a bill, after a public notice period and
approvals that no one person can bypass (DESIGN §5, Payout).

    request  (family, social worker or staff; bill attached; shown publicly for DISBURSEMENT_NOTICE_HOURS)
      → approve (staff of the responsible charity, never the requester; two different people from
                 DISBURSEMENT_TWO_APPROVERS_FROM_FEN) — the last approval reserves the money:
                 campaign_fund (or project_commitment) → payout_reserved:<id>
      → record_payment (a finance member of that charity who approved nothing on it; the bank transfer's
                 reference, once): payout_reserved:<id> → hospital_payout:<hospital>, and the gifts it used
                 are allocated first in, first out
    reject (before approval) or cancel (before payment; an approved one's reservation goes back).

Every rule of who may act is checked here, in the service, not only by the pages. The campaign-fund
disbursements are the custodian charity's (CUSTODIAN_CHARITY); a relief commitment's belong to the project's
charity. A campaign under a credible report, or suspended, has its disbursements frozen; an objection filed
against one request in its notice holds that request until staff resolve it.

Lock order (ledger.py's): the disbursement row, then the ledger accounts in id order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select

from fundraise import audit, ledger, person_keys
from fundraise.access import is_applicant_side, is_staff
from fundraise.errors import Forbidden, IllegalTransition, NotFound, ValidationFailed
from fundraise.extensions import db
from fundraise.jobs.outbox import enqueue
from fundraise.ledger import InsufficientFunds
from fundraise.models import (
    AccountKind,
    Campaign,
    CampaignReport,
    CampaignState,
    Disbursement,
    DisbursementApproval,
    DisbursementSource,
    DisbursementStatus,
    LedgerAccount,
    Offer,
    OfferStatus,
    Role,
    TransactionKind,
    User,
)
from fundraise.models.campaigns import FREEZING_REPORTS, UNRESOLVED_REPORTS
from fundraise.models.columns import utcnow
from fundraise.money import format_yuan
from fundraise.services import documents, gift_allocations, settlement_accounts
from fundraise.services.disbursement_funds import (
    available_from_fund,
    available_from_offer,
    responsible_charity_id,
)
from fundraise.services.documents import PreparedFile
from fundraise.text_input import text_problem
from fundraise.unit_of_work import transactional, unit_of_work

S = DisbursementStatus
# A campaign whose money may be asked for: raising, or closed with money still held.
REQUESTABLE_STATES = (CampaignState.FUNDRAISING, CampaignState.CLOSED)
PURPOSE_MIN, PURPOSE_MAX = 4, 200
NOTE_MAX = 1000
# A bank's transfer reference (流水号): letters, digits and dashes.
_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-]{5,63}$")


# --- who and what --------------------------------------------------------------------------------------


def _charity_of(disbursement: Disbursement) -> int | None:
    return responsible_charity_id(disbursement.source, disbursement.offer)


def frozen_reason(campaign: Campaign) -> str | None:
    """Why the campaign's disbursements are frozen now, or None."""
    if campaign.state == CampaignState.SUSPENDED:
        return str(
            _("The campaign is suspended while a report is investigated; its disbursements are frozen.")
        )
    if campaign.state == CampaignState.CANCELLED:
        return str(_("The campaign was cancelled; nothing more is paid from it."))
    freezing = db.session.scalar(
        select(CampaignReport.id).where(
            CampaignReport.campaign_id == campaign.id, CampaignReport.status.in_(FREEZING_REPORTS)
        )
    )
    if freezing is not None:
        return str(_("A report about this campaign is being investigated; its disbursements are frozen."))
    return None


def held_ids(disbursement_ids: Sequence[int]) -> set[int]:
    """The disbursements an unresolved objection holds."""
    if not disbursement_ids:
        return set()
    return set(
        db.session.scalars(
            select(CampaignReport.disbursement_id).where(
                CampaignReport.disbursement_id.in_(list(disbursement_ids)),
                CampaignReport.status.in_(UNRESOLVED_REPORTS),
            )
        )
    )


def phase(disbursement: Disbursement, *, held: bool, now: datetime | None = None) -> str:
    """Where a disbursement stands, as one word the pages, the API and e-mails share: notice, held,
    awaiting_approval, awaiting_second_approval, approved, paid, rejected or cancelled."""
    if disbursement.status != S.REQUESTED:
        return str(disbursement.status)
    if held:
        return "held"
    if (now or utcnow()) < disbursement.notice_ends_at:
        return "notice"
    if disbursement.required_approvals == 2 and len(disbursement.approvals) == 1:
        return "awaiting_second_approval"
    return "awaiting_approval"


# --- request -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestForm:
    """What a requester asks for; amounts in fen, already parsed (None: missing or unreadable)."""

    source: str
    amount_fen: int | None
    bill_total_fen: int | None
    purpose: str
    request_key: str
    offer_id: int | None = None
    hospital_id: int | None = None


def find_by_key(request_key: str) -> Disbursement | None:
    return db.session.scalar(select(Disbursement).where(Disbursement.request_key == request_key))


def check_request(campaign: Campaign, actor: User, form: RequestForm) -> dict[str, list[str]]:
    """Every problem with a request, by field, before any file is stored; raises for who and when."""
    if not (is_applicant_side(actor, campaign) or is_staff(actor)):
        raise Forbidden(
            _("Only the family, their social worker or charity staff may request a disbursement.")
        )
    if campaign.state not in REQUESTABLE_STATES:
        raise IllegalTransition(
            _("Disbursements are requested from a campaign that is raising money or closed.")
        )
    if frozen := frozen_reason(campaign):
        raise IllegalTransition(frozen)
    if campaign.ended_code:
        raise IllegalTransition(
            _("Treatment has ended and the campaign is being closed out; no new payment can be asked.")
        )
    errors: dict[str, list[str]] = {}
    if campaign.hospital_id is None:
        errors["hospital_id"] = [_("The campaign names no treating hospital to pay.")]
    elif form.hospital_id is not None and form.hospital_id != campaign.hospital_id:
        errors["hospital_id"] = [_("Money is paid only to the campaign's treating hospital.")]
    elif reason := settlement_accounts.unpayable_reason(campaign.hospital_id):
        errors["hospital_id"] = [reason]
    purpose = form.purpose.strip()
    if not PURPOSE_MIN <= len(purpose) <= PURPOSE_MAX:
        errors["purpose"] = [
            _("Say what it pays for in %(min)d to %(max)d characters.", min=PURPOSE_MIN, max=PURPOSE_MAX)
        ]
    elif problem := text_problem(purpose, one_line=True):
        errors["purpose"] = [problem]
    if form.bill_total_fen is None or form.bill_total_fen <= 0:
        errors["bill_total"] = [_("Enter the bill's total, more than zero.")]
    if form.amount_fen is None or form.amount_fen <= 0:
        errors["amount"] = [_("Enter an amount more than zero.")]
    elif form.bill_total_fen is not None and form.amount_fen > form.bill_total_fen:
        errors["amount"] = [_("A disbursement cannot be more than the bill it pays.")]
    if form.source == DisbursementSource.CAMPAIGN_FUND:
        if form.offer_id is not None:
            errors["offer_id"] = [_("A payment from the campaign fund names no relief offer.")]
        available = available_from_fund(campaign.id)
    elif form.source == DisbursementSource.RELIEF_COMMITMENT:
        offer = db.session.get(Offer, form.offer_id) if form.offer_id is not None else None
        if offer is None or offer.campaign_id != campaign.id or offer.status != OfferStatus.APPROVED:
            errors["offer_id"] = [_("Choose one of the campaign's approved relief offers.")]
            available = 0
        else:
            available = available_from_offer(offer)
    else:
        errors["source"] = [_("Choose where the money comes from.")]
        available = 0
    if "amount" not in errors and "source" not in errors and "offer_id" not in errors:
        assert form.amount_fen is not None
        if form.amount_fen > available:
            errors["amount"] = [
                _(
                    "At most %(available)s is available from this source now.",
                    available=format_yuan(available),
                )
            ]
    if not form.request_key or len(form.request_key) > 64:
        errors["request_key"] = [_("The form expired; please send it again.")]
    return errors


def _sent_before(request_key: str, actor: User) -> Disbursement | None:
    """The request this key already made (a second submit), refused if someone else made it."""
    existing = find_by_key(request_key)
    if existing is not None and existing.requested_by_id != actor.id:
        raise ValidationFailed(
            _("The form expired; please send it again."), fields={"request_key": [_("Used.")]}
        )
    return existing


def request(campaign: Campaign, actor: User, form: RequestForm, bill: Sequence[PreparedFile]) -> Disbursement:
    """Store a request with its bill and open its public notice; the same request key returns the request
    already made (a second submit). All checks run again in the writing transaction. Commits."""
    if existing := _sent_before(form.request_key, actor):
        return existing
    with unit_of_work():
        # Two requests against one fund (or one offer) at once, a double submit among them: the second waits
        # here and then sees the first.
        if form.source == DisbursementSource.CAMPAIGN_FUND:
            ledger.lock_accounts([ledger.campaign_fund(campaign.id)])
        elif form.offer_id is not None:
            db.session.get(Offer, form.offer_id, with_for_update=True)
        if existing := _sent_before(form.request_key, actor):
            return existing
        errors = check_request(campaign, actor, form)
        if len(bill) != 1:
            errors["bill"] = [_("Attach the hospital's bill or invoice (a PDF or a photo).")]
        if errors:
            raise ValidationFailed(_("Please correct the marked fields."), fields=errors)
        assert form.amount_fen is not None
        assert form.bill_total_fen is not None
        assert campaign.hospital_id is not None
        (bill_document,) = documents.store(campaign, actor, bill)
        offer = db.session.get(Offer, form.offer_id) if form.offer_id else None
        now = utcnow()
        disbursement = Disbursement(
            campaign_id=campaign.id,
            source=form.source,
            offer_id=offer.id if offer else None,
            hospital_id=campaign.hospital_id,
            amount_fen=form.amount_fen,
            bill_total_fen=form.bill_total_fen,
            purpose=form.purpose.strip(),
            bill_document_id=bill_document.id,
            status=S.REQUESTED,
            required_approvals=2
            if form.amount_fen >= current_app.config["DISBURSEMENT_TWO_APPROVERS_FROM_FEN"]
            else 1,
            request_key=form.request_key,
            requested_by_id=actor.id,
            created_at=now,
            notice_ends_at=now + timedelta(hours=current_app.config["DISBURSEMENT_NOTICE_HOURS"]),
        )
        db.session.add(disbursement)
        db.session.flush()
        audit.record(
            "disbursement.request",
            "disbursement",
            disbursement.id,
            actor=actor,
            after={
                "campaign_id": campaign.id,
                "source": form.source,
                "offer_id": disbursement.offer_id,
                "hospital_id": disbursement.hospital_id,
                "amount_fen": disbursement.amount_fen,
                "bill_total_fen": disbursement.bill_total_fen,
                "bill_document_id": bill_document.id,
                "required_approvals": disbursement.required_approvals,
                "notice_ends_at": disbursement.notice_ends_at.isoformat(),
            },
        )
    return disbursement


# --- decisions -----------------------------------------------------------------------------------------


def get(disbursement_id: int, *, lock: bool = False) -> Disbursement:
    found = db.session.get(Disbursement, disbursement_id, with_for_update=lock, populate_existing=lock)
    if found is None:
        raise NotFound(_("No such disbursement."))
    return found


def _staff_of(actor: User | None, disbursement: Disbursement) -> User:
    """The actor if charity staff of the charity responsible for this disbursement."""
    if actor is None or not actor.has_role(Role.CHARITY_STAFF):
        raise Forbidden(_("Only charity staff decide disbursements."))
    charity_id = _charity_of(disbursement)
    if charity_id is None:
        raise Forbidden(
            _("No custodian charity is configured for campaign funds, so nobody may decide this.")
        )
    if actor.charity_id != charity_id:
        raise Forbidden(_("Only staff of the charity responsible for this money may decide it."))
    return actor


def approval_refusal(actor: User | None, disbursement: Disbursement) -> str | None:
    """Why this person may not approve this disbursement now, or None: for pages to show or hide the button."""
    try:
        _check_approval(actor, disbursement)
    except (Forbidden, IllegalTransition) as error:
        return error.message
    return None


def _check_approval(actor: User | None, disbursement: Disbursement) -> User:
    staff = _staff_of(actor, disbursement)
    if disbursement.status != S.REQUESTED:
        raise IllegalTransition(_("This disbursement is no longer waiting for approval."))
    if disbursement.requested_by_id == staff.id:
        raise Forbidden(_("You requested this disbursement; someone else must approve it."))
    if staff.id in disbursement.approver_ids:
        raise Forbidden(_("You have approved this already; a second approver must be someone else."))
    if utcnow() < disbursement.notice_ends_at:
        raise IllegalTransition(_("The public notice period has not ended yet."))
    if held_ids([disbursement.id]):
        raise IllegalTransition(_("An objection holds this disbursement; resolve the report first."))
    if frozen := frozen_reason(disbursement.campaign):
        raise IllegalTransition(frozen)
    return staff


@transactional
def approve(disbursement_id: int, actor: User, note: str = "") -> Disbursement:
    """Add the actor's approval; the last one needed reserves the money (refused, nothing written, when the
    source no longer holds it). Commits."""
    disbursement = get(disbursement_id, lock=True)
    staff = _check_approval(actor, disbursement)
    note = _note(note, required=False)
    db.session.add(DisbursementApproval(disbursement_id=disbursement.id, approver_id=staff.id, note=note))
    db.session.flush()
    db.session.refresh(disbursement, ["approvals"])
    audit.record(
        "disbursement.approve",
        "disbursement",
        disbursement.id,
        actor=staff,
        after={"approvals": len(disbursement.approvals), "required": disbursement.required_approvals},
    )
    if len(disbursement.approvals) < disbursement.required_approvals:
        return disbursement
    account = settlement_accounts.payable_account(disbursement.hospital_id)
    if account is None:
        raise IllegalTransition(settlement_accounts.unpayable_reason(disbursement.hospital_id) or "")
    if disbursement.offer is not None:
        _check_offer_covers(disbursement)
    source, reserved = (
        _source_account(disbursement),
        ledger.account(AccountKind.PAYOUT_RESERVED, disbursement.id),
    )
    try:
        ledger.post_transfer(
            f"disbursement:{disbursement.id}:reserved",
            TransactionKind.RESERVATION,
            [(source, -disbursement.amount_fen), (reserved, disbursement.amount_fen)],
            f"disbursement {disbursement.id} approved",
            {"disbursement_id": disbursement.id, "campaign_id": disbursement.campaign_id},
            actor=staff,
        )
    except InsufficientFunds:
        raise IllegalTransition(
            _(
                "The source no longer holds %(amount)s for this disbursement (money was refunded or paid out"
                " since); nothing was approved.",
                amount=format_yuan(disbursement.amount_fen),
            )
        ) from None
    disbursement.status = S.APPROVED
    disbursement.approved_at = utcnow()
    disbursement.settlement_account_id = account.id
    enqueue("notify_disbursement", disbursement_id=disbursement.id, event=S.APPROVED.value)
    return disbursement


def _check_offer_covers(disbursement: Disbursement) -> None:
    """A project's commitment account holds all its approved offers: one offer's disbursements must not take
    another's share. Runs with the offer's row locked."""
    offer = db.session.get(Offer, disbursement.offer_id, with_for_update=True, populate_existing=True)
    assert offer is not None
    taken = db.session.scalar(
        select(func.coalesce(func.sum(Disbursement.amount_fen), 0)).where(
            Disbursement.offer_id == offer.id, Disbursement.status.in_([S.APPROVED, S.PAID])
        )
    )
    if offer.status != OfferStatus.APPROVED or int(taken or 0) + disbursement.amount_fen > offer.amount_fen:
        raise IllegalTransition(
            _(
                "The relief offer no longer covers %(amount)s; nothing was approved.",
                amount=format_yuan(disbursement.amount_fen),
            )
        )


def _source_account(disbursement: Disbursement) -> LedgerAccount:
    if disbursement.source == DisbursementSource.RELIEF_COMMITMENT:
        assert disbursement.offer is not None
        return ledger.account(AccountKind.PROJECT_COMMITMENT, disbursement.offer.project_id)
    return ledger.campaign_fund(disbursement.campaign_id)


def _note(note: str, *, required: bool) -> str:
    note = (note or "").strip()
    if required and len(note) < 4:
        message = _("Give the reason in a few words; the requester reads it.")
        raise ValidationFailed(message, fields={"note": [message]})
    if len(note) > NOTE_MAX:
        message = _("Up to %(n)d characters.", n=NOTE_MAX)
        raise ValidationFailed(message, fields={"note": [message]})
    return note


def _decide(
    disbursement: Disbursement, actor: User, status: DisbursementStatus, note: str, action: str
) -> None:
    before = disbursement.status
    disbursement.status = status
    disbursement.decided_by_id = actor.id
    disbursement.decided_at = utcnow()
    disbursement.decision_note = note
    audit.record(
        f"disbursement.{action}",
        "disbursement",
        disbursement.id,
        actor=actor,
        before={"status": before},
        after={
            "status": status.value,
            **person_keys.seal_for_campaign(disbursement.campaign_id, {"note": note}),
        },
    )
    enqueue("notify_disbursement", disbursement_id=disbursement.id, event=status.value)


@transactional
def reject(disbursement_id: int, actor: User, note: str) -> Disbursement:
    """Refuse a request not yet approved, with the reason the requester reads. Commits."""
    disbursement = get(disbursement_id, lock=True)
    staff = _staff_of(actor, disbursement)
    if disbursement.status != S.REQUESTED:
        raise IllegalTransition(_("Only a request not yet approved can be rejected."))
    if disbursement.requested_by_id == staff.id:
        raise Forbidden(_("You requested this disbursement; cancel it instead."))
    _decide(disbursement, staff, S.REJECTED, _note(note, required=True), "reject")
    return disbursement


@transactional
def cancel(disbursement_id: int, actor: User, note: str) -> Disbursement:
    """Withdraw a request (its requester, or the responsible staff), or stop an approved one before it is paid
    (staff): the reservation goes back to its source. Commits."""
    disbursement = get(disbursement_id, lock=True)
    if disbursement.status == S.REQUESTED and disbursement.requested_by_id == actor.id:
        staff = actor
    else:
        staff = _staff_of(actor, disbursement)
    if disbursement.status not in (S.REQUESTED, S.APPROVED):
        raise IllegalTransition(_("Only a disbursement not yet paid can be cancelled."))
    note = _note(note, required=True)
    if disbursement.status == S.APPROVED:
        _release(disbursement, staff)
    _decide(disbursement, staff, S.CANCELLED, note, "cancel")
    return disbursement


def _release(disbursement: Disbursement, actor: User | None) -> None:
    reserved = ledger.account(AccountKind.PAYOUT_RESERVED, disbursement.id)
    ledger.post_transfer(
        f"disbursement:{disbursement.id}:released",
        TransactionKind.RESERVATION,
        [(reserved, -disbursement.amount_fen), (_source_account(disbursement), disbursement.amount_fen)],
        f"disbursement {disbursement.id} cancelled: reservation returned",
        {"disbursement_id": disbursement.id, "campaign_id": disbursement.campaign_id},
        actor=actor,
    )


def cancel_unpaid(campaign: Campaign, actor: User, note: str) -> int:
    """Cancel every unpaid disbursement of a campaign (confirmed fraud, close-out), reservations returned, in
    the caller's unit of work; returns how many."""
    rows = list(
        db.session.scalars(
            select(Disbursement)
            .where(
                Disbursement.campaign_id == campaign.id, Disbursement.status.in_([S.REQUESTED, S.APPROVED])
            )
            .order_by(Disbursement.id)
            .with_for_update()
        )
    )
    for disbursement in rows:
        if disbursement.status == S.APPROVED:
            _release(disbursement, actor)
        _decide(disbursement, actor, S.CANCELLED, note, "cancel")
    return len(rows)


def payment_refusal(actor: User | None, disbursement: Disbursement) -> str | None:
    """Why this person may not record this disbursement's transfer now, or None."""
    try:
        _check_payment(actor, disbursement)
    except (Forbidden, IllegalTransition) as error:
        return error.message
    return None


def _check_payment(actor: User | None, disbursement: Disbursement) -> User:
    if actor is None or not actor.has_role(Role.CHARITY_STAFF) or not actor.finance:
        raise Forbidden(_("Only a finance member of the charity records bank transfers."))
    staff = _staff_of(actor, disbursement)
    if staff.id in disbursement.approver_ids:
        raise Forbidden(_("You approved this disbursement; another finance member must record its transfer."))
    if disbursement.status != S.APPROVED:
        raise IllegalTransition(_("Only an approved disbursement can be paid."))
    if frozen := frozen_reason(disbursement.campaign):
        raise IllegalTransition(frozen)
    account = settlement_accounts.payable_account(disbursement.hospital_id)
    if account is None or account.id != disbursement.settlement_account_id:
        raise IllegalTransition(
            _("The hospital's settlement account changed since approval; cancel and request again.")
        )
    return staff


@transactional
def record_payment(disbursement_id: int, actor: User, reference: str) -> Disbursement:
    """Record the bank transfer: posts the payout once and allocates the gifts it used. The same reference
    again finds the payment already recorded; another reference for a paid disbursement is refused. Commits."""
    reference = (reference or "").strip()
    if not _REFERENCE.match(reference):
        message = _("The bank's transfer reference: 6 to 64 letters, digits or dashes.")
        raise ValidationFailed(message, fields={"reference": [message]})
    disbursement = get(disbursement_id, lock=True)
    if disbursement.status == S.PAID:
        if disbursement.transfer_reference == reference:
            return disbursement
        raise IllegalTransition(
            _(
                "This disbursement was already paid, with reference %(reference)s.",
                reference=disbursement.transfer_reference,
            )
        )
    staff = _check_payment(actor, disbursement)
    if db.session.scalar(select(Disbursement.id).where(Disbursement.transfer_reference == reference)):
        message = _("Another disbursement was recorded with this reference.")
        raise ValidationFailed(message, fields={"reference": [message]})
    reserved = ledger.account(AccountKind.PAYOUT_RESERVED, disbursement.id)
    paid_to = ledger.account(AccountKind.HOSPITAL_PAYOUT, disbursement.hospital_id)
    fund = ledger.campaign_fund(disbursement.campaign_id)
    # The fund's lock too: two payouts of one campaign allocate its gifts one after the other.
    ledger.lock_accounts([reserved, fund])
    ledger.post_transfer(
        f"disbursement:{disbursement.id}:paid",
        TransactionKind.PAYOUT,
        [(reserved, -disbursement.amount_fen), (paid_to, disbursement.amount_fen)],
        f"disbursement {disbursement.id} paid to hospital {disbursement.hospital_id}",
        {"disbursement_id": disbursement.id, "campaign_id": disbursement.campaign_id, "reference": reference},
        actor=staff,
    )
    disbursement.status = S.PAID
    disbursement.transfer_reference = reference
    disbursement.paid_by_id = staff.id
    disbursement.paid_at = utcnow()
    enqueue("notify_disbursement", disbursement_id=disbursement.id, event=S.PAID.value)
    if disbursement.source == DisbursementSource.CAMPAIGN_FUND:
        gift_allocations.allocate(
            disbursement.campaign_id, disbursement.amount_fen, disbursement_id=disbursement.id
        )
    audit.record(
        "disbursement.pay",
        "disbursement",
        disbursement.id,
        actor=staff,
        before={"status": S.APPROVED.value},
        after={
            "status": S.PAID.value,
            "reference": reference,
            "settlement_account": disbursement.settlement_account_id,
        },
    )
    return disbursement

"""Hospitals' settlement accounts: the only place a disbursement is ever paid to.

One admin enters an account (or a change to it); a second, different admin confirms it before anything is paid
there. A change is a new pending row: until it is confirmed the hospital is not paid at all, neither to the old
account nor the new one, so a changed account number can never be paid without a second pair of eyes.
Every step writes an audit event with the masked number.
"""

from __future__ import annotations

import re

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from fundraise import audit
from fundraise.errors import Forbidden, IllegalTransition, NotFound, ValidationFailed
from fundraise.extensions import db
from fundraise.models import Hospital, Role, SettlementAccount, SettlementStatus, User
from fundraise.models.columns import utcnow
from fundraise.text_input import text_problem
from fundraise.unit_of_work import transactional

# A mainland bank account number: 8 to 30 digits (spaces or dashes as people write them are dropped).
_ACCOUNT_NUMBER = re.compile(r"^[0-9]{8,30}$")


def _admin(actor: User | None) -> User:
    if actor is None or not actor.has_role(Role.ADMIN):
        raise Forbidden(_("Only admins keep hospitals' settlement accounts."))
    return actor


def accounts_by_hospital() -> list[tuple[Hospital, SettlementAccount | None, SettlementAccount | None]]:
    """Every hospital with its confirmed account and the change waiting for confirmation (either may be None)."""
    hospitals = list(db.session.scalars(select(Hospital).order_by(Hospital.region_code, Hospital.code)))
    rows = db.session.scalars(
        select(SettlementAccount)
        .options(joinedload(SettlementAccount.proposed_by))
        .where(SettlementAccount.status.in_([SettlementStatus.CONFIRMED, SettlementStatus.PENDING]))
    )
    confirmed: dict[int, SettlementAccount] = {}
    pending: dict[int, SettlementAccount] = {}
    for row in rows:
        (confirmed if row.status == SettlementStatus.CONFIRMED else pending)[row.hospital_id] = row
    return [(h, confirmed.get(h.id), pending.get(h.id)) for h in hospitals]


def payable_account(hospital_id: int) -> SettlementAccount | None:
    """The account a payout to this hospital goes to: the confirmed one, and only while no change is pending."""
    rows = list(
        db.session.scalars(
            select(SettlementAccount).where(
                SettlementAccount.hospital_id == hospital_id,
                SettlementAccount.status.in_([SettlementStatus.CONFIRMED, SettlementStatus.PENDING]),
            )
        )
    )
    if any(row.status == SettlementStatus.PENDING for row in rows):
        return None
    return rows[0] if rows else None


def unpayable_reason(hospital_id: int) -> str | None:
    """Why this hospital cannot be paid now, in words, or None when it can."""
    rows = db.session.scalars(
        select(SettlementAccount.status).where(
            SettlementAccount.hospital_id == hospital_id,
            SettlementAccount.status.in_([SettlementStatus.CONFIRMED, SettlementStatus.PENDING]),
        )
    ).all()
    if SettlementStatus.PENDING in rows:
        return str(
            _("The hospital's settlement account was changed and waits for a second admin to confirm it.")
        )
    if not rows:
        return str(_("The hospital has no confirmed settlement account yet; an admin must enter one."))
    return None


@transactional
def propose(
    hospital_id: int, actor: User, *, bank_name: str, account_name: str, account_number: str
) -> SettlementAccount:
    """Enter a hospital's account, or a change to it; pending until another admin confirms. Commits."""
    _admin(actor)
    hospital = db.session.get(Hospital, hospital_id)
    if hospital is None:
        raise NotFound(_("No such hospital."))
    bank_name, account_name = (bank_name or "").strip(), (account_name or "").strip()
    number = re.sub(r"[\s-]", "", account_number or "")
    errors: dict[str, list[str]] = {}
    for field, value in (("bank_name", bank_name), ("account_name", account_name)):
        if not 2 <= len(value) <= 128:
            errors[field] = [_("Between 2 and 128 characters.")]
        elif problem := text_problem(value, one_line=True):
            errors[field] = [problem]
    if not _ACCOUNT_NUMBER.match(number):
        errors["account_number"] = [_("A bank account number is 8 to 30 digits.")]
    if errors:
        raise ValidationFailed(_("Please correct the marked fields."), fields=errors)
    pending = db.session.scalar(
        select(SettlementAccount).where(
            SettlementAccount.hospital_id == hospital_id, SettlementAccount.status == SettlementStatus.PENDING
        )
    )
    if pending is not None:
        raise IllegalTransition(
            _(
                "A change to this hospital's account already waits for confirmation; confirm or withdraw it first."
            )
        )
    row = SettlementAccount(
        hospital_id=hospital_id,
        bank_name=bank_name,
        account_name=account_name,
        account_number=number,
        status=SettlementStatus.PENDING,
        proposed_by_id=actor.id,
    )
    db.session.add(row)
    db.session.flush()
    audit.record(
        "settlement_account.propose",
        "hospital",
        hospital_id,
        actor=actor,
        after={"settlement_account": row.id, "bank_name": bank_name, "number": row.masked_number},
    )
    return row


def _pending(account_id: int) -> SettlementAccount:
    row = db.session.get(SettlementAccount, account_id, with_for_update=True)
    if row is None:
        raise NotFound(_("No such settlement account."))
    if row.status != SettlementStatus.PENDING:
        raise IllegalTransition(_("This account is not waiting for confirmation."))
    return row


@transactional
def confirm(account_id: int, actor: User) -> SettlementAccount:
    """A second admin confirms a pending account; the one it replaces is kept as replaced. Commits."""
    _admin(actor)
    row = _pending(account_id)
    if row.proposed_by_id == actor.id:
        raise Forbidden(_("A second admin must confirm the account you entered."))
    previous = db.session.scalar(
        select(SettlementAccount).where(
            SettlementAccount.hospital_id == row.hospital_id,
            SettlementAccount.status == SettlementStatus.CONFIRMED,
        )
    )
    if previous is not None:
        previous.status = SettlementStatus.REPLACED
        db.session.flush()  # the confirmed slot is free before this row takes it (a unique partial index)
    row.status = SettlementStatus.CONFIRMED
    row.confirmed_by_id = actor.id
    row.confirmed_at = utcnow()
    audit.record(
        "settlement_account.confirm",
        "hospital",
        row.hospital_id,
        actor=actor,
        before={"settlement_account": previous.id if previous else None},
        after={"settlement_account": row.id, "number": row.masked_number},
    )
    return row


@transactional
def withdraw(account_id: int, actor: User) -> None:
    """Drop a pending change (entered wrongly); the confirmed account, if any, is payable again. Commits."""
    _admin(actor)
    row = _pending(account_id)
    audit.record(
        "settlement_account.withdraw",
        "hospital",
        row.hospital_id,
        actor=actor,
        before={"settlement_account": row.id, "number": row.masked_number},
    )
    db.session.delete(row)

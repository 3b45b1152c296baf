"""The bank file: a charity's approved, unpaid disbursements as a CSV its finance team uploads to the bank.

Layout (one header line, then one line per transfer; UTF-8 with a byte-order mark so Excel reads Chinese
names; lines end in CRLF; every cell escaped against spreadsheet formulas by fundraise.csv_export):

    payment_id            the disbursement's id: quote it back with the bank's reference when recording
                          the payment, and use it to match the bank's statement
    payee_account_name    the hospital's account name, as confirmed by two admins
    payee_bank            the bank and branch of that account
    payee_account_number  the full account number (digits only)
    amount_yuan           the amount in yuan with two decimals ("1500.00"), from integer fen
    currency              always CNY
    purpose               "Aidbridge disbursement <id>: <purpose>", the transfer's remark
    campaign_id           the campaign the money is for

Only disbursements that can be paid now are listed: approved, not paid, the campaign not frozen, and the
hospital's settlement account still the one confirmed at approval (a changed account must be re-requested).
Each download is written to the audit log with the ids it held.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from fundraise import audit
from fundraise.csv_export import csv_lines
from fundraise.models import Disbursement, User
from fundraise.services import disbursement_funds, disbursements, settlement_accounts
from fundraise.unit_of_work import unit_of_work

COLUMNS = (
    "payment_id",
    "payee_account_name",
    "payee_bank",
    "payee_account_number",
    "amount_yuan",
    "currency",
    "purpose",
    "campaign_id",
)
BYTE_ORDER_MARK = "\ufeff"


@dataclass(frozen=True)
class Transfer:
    """One line of the bank file."""

    disbursement_id: int
    account_name: str
    bank_name: str
    account_number: str
    amount_fen: int
    purpose: str
    campaign_id: int

    def cells(self) -> tuple[object, ...]:
        return (
            self.disbursement_id,
            self.account_name,
            self.bank_name,
            self.account_number,
            amount_yuan(self.amount_fen),
            "CNY",
            f"Aidbridge disbursement {self.disbursement_id}: {self.purpose}",
            self.campaign_id,
        )


def amount_yuan(fen: int) -> str:
    """150050 -> "1500.50": yuan with two decimals, by integer arithmetic (no float ever rounds a payment)."""
    yuan, rest = divmod(int(fen), 100)
    return f"{yuan}.{rest:02d}"


def _payable(disbursement: Disbursement) -> bool:
    account = settlement_accounts.payable_account(disbursement.hospital_id)
    return (
        account is not None
        and account.id == disbursement.settlement_account_id
        and disbursements.frozen_reason(disbursement.campaign) is None
    )


def transfers(actor: User) -> list[Transfer]:
    """The approved, unpaid disbursements of the actor's charity (every charity's for an admin) that the bank
    can pay now, oldest first."""
    rows = []
    for disbursement in disbursement_funds.queue(actor, "approved"):
        account = disbursement.settlement_account
        if account is None or not _payable(disbursement):
            continue
        rows.append(
            Transfer(
                disbursement_id=disbursement.id,
                account_name=account.account_name,
                bank_name=account.bank_name,
                account_number=account.account_number,
                amount_fen=disbursement.amount_fen,
                purpose=disbursement.purpose,
                campaign_id=disbursement.campaign_id,
            )
        )
    return rows


def record_export(actor: User, rows: Sequence[Transfer]) -> None:
    """Write the download to the audit log: who took which transfers, for how much in all. Commits."""
    with unit_of_work():
        audit.record(
            "disbursement.export",
            "charity",
            actor.charity_id or 0,
            actor=actor,
            after={
                "disbursement_ids": [row.disbursement_id for row in rows],
                "count": len(rows),
                "total_fen": sum(row.amount_fen for row in rows),
            },
        )


def bank_file(rows: Sequence[Transfer]) -> Iterator[str]:
    """The file's text piece by piece: the byte-order mark and header, then one line per transfer."""
    lines = csv_lines(COLUMNS, (row.cells() for row in rows))
    yield BYTE_ORDER_MARK + next(lines)
    yield from lines

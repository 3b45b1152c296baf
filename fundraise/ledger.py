"""The double-entry ledger (DESIGN §4): post balanced, idempotent transfers; derive balances from entries.

- `post_transfer(key, kind, entries, ...)` is the only way money moves. A transfer has ≥ 2 entries of integer
  fen that sum to zero, and an idempotency key: a second call with the same key returns the transaction the
  first call wrote and writes nothing (under concurrent duplicates too: the UNIQUE key decides, inside a
  savepoint).
- Campaign fund, project budget and project commitment accounts never go below zero. post_transfer locks
  those accounts (`SELECT ... FOR UPDATE` in id order on PostgreSQL; SQLite's `BEGIN IMMEDIATE`, see
  fundraise/database.py, already serialises writers), computes their balances from entries, and refuses with
  InsufficientFunds before writing anything.
- Append-only: there is no update or delete path, and a flush that would change or remove a ledger row is
  refused. A correction is a new transaction.
- Every transaction writes one audit event, in the same database transaction.

Lock order, to stay free of deadlocks on PostgreSQL: a unit of work that posts several transfers touching
different non-negative accounts locks them all first with `lock_accounts` (id order), because the audit
append each posting makes takes a global lock that is held until commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fundraise import audit
from fundraise.errors import DomainError
from fundraise.extensions import db
from fundraise.models import AuditEvent, User
from fundraise.models.ledger import (
    NON_NEGATIVE_KINDS,
    OWNED_KINDS,
    AccountKind,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    TransactionKind,
)

MAX_KEY_LENGTH = 200
# Far above any real movement (the largest campaign is 500,000 yuan), far below BigInteger's limit: a typo
# or an overflow attempt, not money.
MAX_ENTRY_FEN = 10**13


class LedgerError(DomainError):
    """A transfer the ledger refuses to write (unbalanced, not integers, a reused key for a different kind)."""

    status = 422


class InsufficientFunds(DomainError):
    """A transfer would take a non-negative account below zero; nothing was written."""

    status = 409

    def __init__(self, account: LedgerAccount, balance_fen: int, change_fen: int) -> None:
        super().__init__(
            _(
                "Not enough money in %(account)s: it holds %(balance)d fen and the transfer takes %(needed)d.",
                account=account.label,
                balance=balance_fen,
                needed=-change_fen,
            )
        )
        self.account_id = account.id
        self.balance_fen = balance_fen
        self.change_fen = change_fen


# --- accounts --------------------------------------------------------------------------------------------


def account(kind: AccountKind | str, owner_id: int = 0) -> LedgerAccount:
    """The account of this kind (and owner), created on first use; safe when two callers create it at once."""
    kind = AccountKind(kind)
    if (kind in OWNED_KINDS) != (owner_id > 0):
        raise LedgerError(f"account kind {kind} {'needs' if kind in OWNED_KINDS else 'takes no'} owner id")
    found = find_account(kind, owner_id)
    if found is not None:
        return found
    try:
        with db.session.begin_nested():
            created = LedgerAccount(kind=kind, owner_id=owner_id)
            db.session.add(created)
    except IntegrityError:
        # Another transaction made it first (and has committed: the insert waited for it).
        found = find_account(kind, owner_id)
        assert found is not None
        return found
    return created


def find_account(kind: str, owner_id: int) -> LedgerAccount | None:
    return db.session.scalar(
        select(LedgerAccount).where(LedgerAccount.kind == kind, LedgerAccount.owner_id == owner_id)
    )


def campaign_fund(campaign_id: int) -> LedgerAccount:
    return account(AccountKind.CAMPAIGN_FUND, campaign_id)


def balance(account_: LedgerAccount | int) -> int:
    """The account's balance: the sum of its entries (what committed and this transaction have written)."""
    account_id = account_ if isinstance(account_, int) else account_.id
    return int(
        db.session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.amount_fen), 0)).where(
                LedgerEntry.account_id == account_id
            )
        )
        or 0
    )


def balances(account_ids: Iterable[int]) -> dict[int, int]:
    ids = list(account_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        select(LedgerEntry.account_id, func.sum(LedgerEntry.amount_fen))
        .where(LedgerEntry.account_id.in_(ids))
        .group_by(LedgerEntry.account_id)
    ).all()
    found = {account_id: int(total) for account_id, total in rows}
    return {account_id: found.get(account_id, 0) for account_id in ids}


def lock_accounts(accounts: Iterable[LedgerAccount]) -> None:
    """Hold row locks on these accounts until commit (PostgreSQL), taken in id order so two units of work
    never wait on each other in a cycle. On SQLite the transaction already holds the database's write lock."""
    ids = sorted({a.id for a in accounts})
    if ids and db.session.get_bind().dialect.name == "postgresql":
        # Every posting appends to the audit chain, whose lock (fundraise.audit) is global and held until
        # commit. Taking it first gives one lock order for all money movements, so no transaction can hold an
        # account while waiting for the chain and another the other way round. It also serialises postings;
        # the row locks below are what the non-negative rule relies on all the same.
        db.session.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": audit.CHAIN_LOCK_KEY}
        )  # the chain's own key
        db.session.execute(
            select(LedgerAccount.id)
            .where(LedgerAccount.id.in_(ids))
            .order_by(LedgerAccount.id)
            .with_for_update()
        ).all()


# --- posting ---------------------------------------------------------------------------------------------


def find_transaction(key: str) -> LedgerTransaction | None:
    return db.session.scalar(select(LedgerTransaction).where(LedgerTransaction.idempotency_key == key))


def post_transfer(
    key: str,
    kind: TransactionKind | str,
    entries: Sequence[tuple[LedgerAccount, int]],
    memo: str = "",
    refs: dict[str, Any] | None = None,
    *,
    donation_id: int | None = None,
    actor: User | None = None,
) -> LedgerTransaction:
    """Write one balanced transaction once per key, or return the one already written under that key.

    Runs in the caller's database transaction; the caller commits. Raises InsufficientFunds (nothing
    written) when a campaign fund, project budget or project commitment would go below zero.
    """
    kind = _check_kind(kind)
    _check_key(key)
    _check_entries(entries)

    existing = find_transaction(key)
    if existing is not None:
        return _same_kind(existing, kind)

    guarded = [a for a, _amount in entries if a.kind in NON_NEGATIVE_KINDS]
    lock_accounts(guarded)
    # A concurrent poster of the same key may have committed while we waited for the lock.
    existing = find_transaction(key)
    if existing is not None:
        return _same_kind(existing, kind)
    if guarded:
        held = balances(a.id for a in guarded)
        for a, amount in entries:
            if a.kind in NON_NEGATIVE_KINDS and amount < 0 and held[a.id] + amount < 0:
                raise InsufficientFunds(a, held[a.id], amount)

    transaction = LedgerTransaction(
        idempotency_key=key, kind=kind, memo=memo[:2000], donation_id=donation_id, refs=dict(refs or {})
    )
    try:
        with db.session.begin_nested():
            db.session.add(transaction)
            db.session.flush()
            for a, amount in entries:
                db.session.add(LedgerEntry(transaction_id=transaction.id, account_id=a.id, amount_fen=amount))
            db.session.flush()
    except IntegrityError:
        # The same key was committed by another transaction between our check and our insert.
        if transaction in db.session:
            db.session.expunge(transaction)
        existing = find_transaction(key)
        if existing is None:
            raise
        return _same_kind(existing, kind)

    audit.record(
        "ledger.post",
        "ledger_transaction",
        transaction.id,
        actor=actor,
        after={
            "key": key,
            "kind": str(kind),
            "memo": transaction.memo,
            "donation_id": donation_id,
            "refs": transaction.refs,
            "entries": [{"account": a.label, "amount_fen": amount} for a, amount in entries],
        },
    )
    return transaction


def _check_kind(kind: TransactionKind | str) -> TransactionKind:
    try:
        return TransactionKind(kind)
    except ValueError:
        raise LedgerError(f"unknown transaction kind {kind!r}") from None


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY_LENGTH:
        raise LedgerError(f"an idempotency key is a non-empty string of at most {MAX_KEY_LENGTH} characters")


def _check_entries(entries: Sequence[tuple[LedgerAccount, int]]) -> None:
    if len(entries) < 2:
        raise LedgerError("a transaction needs at least two entries")
    seen: set[int] = set()
    for a, amount in entries:
        # bool is an int to Python, never to a ledger; floats and Decimals are refused outright.
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise LedgerError(f"amounts are integers of fen, not {type(amount).__name__}: {amount!r}")
        if amount == 0 or abs(amount) > MAX_ENTRY_FEN:
            raise LedgerError(f"an entry's amount must be non-zero and at most {MAX_ENTRY_FEN} fen: {amount}")
        if not isinstance(a, LedgerAccount) or a.id is None:
            raise LedgerError("every entry names a stored ledger account")
        if a.id in seen:
            raise LedgerError(f"account {a.label} appears twice in one transaction")
        seen.add(a.id)
    total = sum(amount for _a, amount in entries)
    if total != 0:
        raise LedgerError(f"entries must sum to zero; these sum to {total}")


def _same_kind(existing: LedgerTransaction, kind: TransactionKind) -> LedgerTransaction:
    if existing.kind != kind:
        raise LedgerError(
            f"idempotency key {existing.idempotency_key!r} was used for a {existing.kind} transaction, "
            f"not a {kind} one"
        )
    return existing


# --- reading ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatementLine:
    transaction: LedgerTransaction
    amount_fen: int
    balance_fen: int


def statement(account_: LedgerAccount, limit: int | None = None) -> list[StatementLine]:
    """The account's entries in order with the running balance (the public ledger of a campaign fund)."""
    rows = db.session.execute(
        select(LedgerTransaction, LedgerEntry.amount_fen)
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .where(LedgerEntry.account_id == account_.id)
        .order_by(LedgerTransaction.id)
    ).all()
    running = 0
    lines = []
    for transaction, amount in rows:
        running += amount
        lines.append(StatementLine(transaction, amount, running))
    return lines[-limit:] if limit else lines


def donation_total(donation_id: int, kind: TransactionKind, account_kind: AccountKind) -> int:
    """Sum of a donation's entries of one transaction kind on accounts of one kind."""
    return int(
        db.session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.amount_fen), 0))
            .join(LedgerTransaction, LedgerEntry.transaction_id == LedgerTransaction.id)
            .join(LedgerAccount, LedgerEntry.account_id == LedgerAccount.id)
            .where(
                LedgerTransaction.donation_id == donation_id,
                LedgerTransaction.kind == kind,
                LedgerAccount.kind == account_kind,
            )
        )
        or 0
    )


# --- append-only guard -----------------------------------------------------------------------------------


class AppendOnlyViolation(RuntimeError):
    """Code tried to change or delete a ledger row."""


@event.listens_for(Session, "before_flush")
def _refuse_ledger_edits(session: Session, _context: Any, _instances: Any) -> None:
    for obj in session.deleted:
        if isinstance(obj, LedgerTransaction | LedgerEntry):
            raise AppendOnlyViolation(
                f"ledger rows are never deleted ({obj!r}); post a correcting transaction"
            )
    for obj in session.dirty:
        if isinstance(obj, LedgerTransaction | LedgerEntry) and session.is_modified(
            obj, include_collections=False
        ):
            raise AppendOnlyViolation(
                f"ledger rows are never changed ({obj!r}); post a correcting transaction"
            )


# --- proving the invariants ------------------------------------------------------------------------------


def verify(batch_size: int = 10_000) -> tuple[int, list[str]]:
    """Check the ledger's own invariants over all data; returns (transactions checked, violations).

    Every transaction has ≥ 2 entries summing to zero; replayed in transaction order, no campaign fund,
    project budget or project commitment is ever below zero; every transaction has its audit event.
    """
    violations: list[str] = []
    checked = db.session.scalar(select(func.count()).select_from(LedgerTransaction)) or 0
    unbalanced = db.session.execute(
        select(
            LedgerTransaction.id,
            LedgerTransaction.idempotency_key,
            func.count(LedgerEntry.id),
            func.coalesce(func.sum(LedgerEntry.amount_fen), 0),
        )
        .outerjoin(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .group_by(LedgerTransaction.id, LedgerTransaction.idempotency_key)
        .having((func.count(LedgerEntry.id) < 2) | (func.coalesce(func.sum(LedgerEntry.amount_fen), 0) != 0))
        .order_by(LedgerTransaction.id)
    ).all()
    for transaction_id, key, count, total in unbalanced:
        violations.append(f"transaction {transaction_id} ({key}): {count} entries summing to {total}")

    guarded = {
        account_id: label
        for account_id, kind, owner in db.session.execute(
            select(LedgerAccount.id, LedgerAccount.kind, LedgerAccount.owner_id).where(
                LedgerAccount.kind.in_([str(k) for k in NON_NEGATIVE_KINDS])
            )
        )
        for label in [f"{kind}:{owner}"]
    }
    running: dict[int, int] = dict.fromkeys(guarded, 0)
    reported: set[int] = set()
    last_id = 0
    while True:
        transaction_ids = list(
            db.session.scalars(
                select(LedgerTransaction.id)
                .where(LedgerTransaction.id > last_id)
                .order_by(LedgerTransaction.id)
                .limit(batch_size)
            )
        )
        if not transaction_ids:
            break
        rows = db.session.execute(
            select(LedgerEntry.transaction_id, LedgerEntry.account_id, LedgerEntry.amount_fen)
            .join(LedgerAccount, LedgerEntry.account_id == LedgerAccount.id)
            .where(
                LedgerEntry.transaction_id.in_(transaction_ids),
                LedgerAccount.kind.in_([str(k) for k in NON_NEGATIVE_KINDS]),
            )
        ).all()
        by_transaction: dict[int, list[tuple[int, int]]] = {}
        for transaction_id, account_id, amount in rows:
            by_transaction.setdefault(transaction_id, []).append((account_id, amount))
        # Replayed in transaction order; a balance is judged after each whole transaction.
        for transaction_id in sorted(by_transaction):
            for account_id, amount in by_transaction[transaction_id]:
                running[account_id] += amount
            for account_id, _amount in by_transaction[transaction_id]:
                if running[account_id] < 0 and account_id not in reported:
                    reported.add(account_id)
                    violations.append(
                        f"account {guarded[account_id]} went to {running[account_id]} fen at transaction {transaction_id}"
                    )
        last_id = transaction_ids[-1]

    audited = db.session.scalar(
        select(func.count(func.distinct(AuditEvent.object_id))).where(
            AuditEvent.action == "ledger.post", AuditEvent.object_type == "ledger_transaction"
        )
    )
    if audited != checked:
        violations.append(f"{checked} ledger transactions but {audited} have a ledger.post audit event")
    return checked, violations

"""The double-entry ledger (DESIGN §4): post balanced, idempotent transfers; keep and read balances.

- `post_transfer(key, kind, entries, ...)` is the only way money moves. A transfer has ≥ 2 entries of integer
  fen that sum to zero, and an idempotency key: a second call with the same key returns the transaction the
  first call wrote and writes nothing (under concurrent duplicates too: the UNIQUE key decides, by the
  transaction's INSERT ... ON CONFLICT DO NOTHING).
- Campaign fund, project budget, project commitment and payout reservation accounts (NON_NEGATIVE_KINDS,
  "guarded") never go below zero. Each keeps its balance (and a version) on its row, and post_transfer moves it in the same
  transaction as the entries by `UPDATE ledger_accounts SET balance_fen = balance_fen + delta, version =
  version + 1 WHERE id = ... [AND balance_fen + delta >= 0]`: the UPDATE takes the row lock (held until
  commit; SQLite's `BEGIN IMMEDIATE`, see fundraise/database.py, already serialises writers), and a
  withdrawal the balance does not cover changes no row and is refused with InsufficientFunds, nothing left
  written. A posting costs the same however long the account's history is.
- The other accounts (donor clearing, processor fees, refunds, disputes, platform reserve, hospital payouts)
  are touched by every gift. Their rows are never locked nor updated by a posting, since an UPDATE holds the
  row until commit and every gift would queue behind the one before it; their `balance_fen` stays 0 and their
  balance is the sum of their entries, which only reports and `flask ledger check` read.
- Append-only: there is no update or delete path for transactions and entries, and a flush that would change
  or remove one is refused, as is an ORM change to an account's stored balance. A correction is a new
  transaction. `verify` (`flask ledger check`) recomputes every balance from the entries, which stay the truth.
- Every transaction writes one audit event, in the same database transaction.

Lock order, to stay free of deadlocks on PostgreSQL: the only locks a posting takes are the row locks of its
guarded accounts (held until commit), in id order. A unit of work that posts several transfers touching
different guarded accounts locks them all first with `lock_accounts` (id order), or two such units could
each hold an account the other waits for.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import event, func, insert, inspect, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, lazyload

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


def accounts(*wanted: tuple[AccountKind, int]) -> list[LedgerAccount]:
    """Several accounts (kind and owner id, 0 for the platform's own) in the order asked, in at most one
    look-up: those already looked up in this transaction are not asked for again, and any that does not exist
    yet is created as `account` creates it."""
    keys = [(str(kind), owner_id) for kind, owner_id in wanted]
    known: dict[tuple[str, int], LedgerAccount] = db.session.info.setdefault(_LOOKED_UP, {})
    missing = [key for key in keys if key not in known]
    if missing:
        known.update(
            ((a.kind, a.owner_id), a)
            for a in db.session.scalars(
                select(LedgerAccount).where(tuple_(LedgerAccount.kind, LedgerAccount.owner_id).in_(missing))
            )
        )
    found = [
        known.get(key) or account(kind, owner_id) for key, (kind, owner_id) in zip(keys, wanted, strict=True)
    ]
    return found


# The accounts `accounts` looked up, held for the transaction that read them (rows are never deleted; one
# created in a transaction that rolls back goes with it, so the memo ends with every transaction, savepoints
# included, and after a commit the objects are stale anyway).
_LOOKED_UP = "aidbridge.ledger_accounts"


@event.listens_for(Session, "after_transaction_end")
def _forget_looked_up(session: Session, _transaction: Any) -> None:
    session.info.pop(_LOOKED_UP, None)


def find_account(kind: str, owner_id: int) -> LedgerAccount | None:
    return db.session.scalar(
        select(LedgerAccount).where(LedgerAccount.kind == kind, LedgerAccount.owner_id == owner_id)
    )


def campaign_fund(campaign_id: int) -> LedgerAccount:
    return account(AccountKind.CAMPAIGN_FUND, campaign_id)


def balance(account_: LedgerAccount | int) -> int:
    """The account's balance as committed and written by this transaction: stored on the row for a guarded
    account, the sum of its entries for the others. Always asked of the database, never of the ORM object."""
    account_id = account_ if isinstance(account_, int) else account_.id
    return balances([account_id])[account_id]


def balances(account_ids: Iterable[int]) -> dict[int, int]:
    """Balances of these accounts (0 for an id that names no account), read as `balance` reads one."""
    ids = list(dict.fromkeys(account_ids))
    if not ids:
        return {}
    stored = db.session.execute(
        select(LedgerAccount.id, LedgerAccount.kind, LedgerAccount.balance_fen).where(
            LedgerAccount.id.in_(ids)
        )
    ).all()
    found = {account_id: int(held) for account_id, kind, held in stored if kind in NON_NEGATIVE_KINDS}
    summed = [account_id for account_id, kind, _held in stored if kind not in NON_NEGATIVE_KINDS]
    if summed:
        rows = db.session.execute(
            select(LedgerEntry.account_id, func.sum(LedgerEntry.amount_fen))
            .where(LedgerEntry.account_id.in_(summed))
            .group_by(LedgerEntry.account_id)
        ).all()
        found.update({account_id: int(total) for account_id, total in rows})
    return {account_id: found.get(account_id, 0) for account_id in ids}


def owned_balances(kind: AccountKind, owner_ids: Iterable[int]) -> dict[int, int]:
    """Balances of one guarded kind's accounts by owner id (0 for an owner with no account yet), in one query:
    the budgets of many relief projects, say."""
    if kind not in NON_NEGATIVE_KINDS:
        raise LedgerError(f"{kind} keeps no stored balance")
    ids = list(dict.fromkeys(owner_ids))
    found = dict(
        db.session.execute(
            select(LedgerAccount.owner_id, LedgerAccount.balance_fen).where(
                LedgerAccount.kind == kind, LedgerAccount.owner_id.in_(ids)
            )
        ).all()
    )
    return {owner_id: int(found.get(owner_id, 0)) for owner_id in ids}


def lock_accounts(accounts: Iterable[LedgerAccount]) -> dict[int, int]:
    """Hold row locks on these guarded accounts until commit (PostgreSQL), taken in id order so two units of
    work never wait on each other in a cycle, and return their stored balances. On SQLite the transaction
    already holds the database's write lock.

    For guarded accounts only: a lock on an account every gift touches would make the gifts queue."""
    ids = sorted({a.id for a in accounts})
    if not ids:
        return {}
    query = (
        select(LedgerAccount.id, LedgerAccount.balance_fen)
        .where(LedgerAccount.id.in_(ids))
        .order_by(LedgerAccount.id)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return {account_id: int(held) for account_id, held in db.session.execute(query)}


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
    written) when a campaign fund, project budget, project commitment or payout reservation would go below zero.

    A first posting costs one UPDATE per guarded account, the transaction's INSERT and one INSERT of its
    entries: each guarded balance moves by a conditional UPDATE that locks, checks and changes the row at
    once; the transaction's INSERT … ON CONFLICT DO NOTHING then finds out whether the key was new. A
    refusal or a key already used puts the balances back before returning, so nothing is left written.
    """
    kind = _check_kind(kind)
    _check_key(key)
    _check_entries(entries)

    guarded = sorted((a.id, a, amount) for a, amount in entries if a.kind in NON_NEGATIVE_KINDS)
    moved: list[tuple[int, int]] = []
    for account_id, a, amount in guarded:  # in id order: see "Lock order" above
        if not _move_balance(account_id, amount):
            _undo(moved)
            existing = find_transaction(key)
            if existing is not None:
                return _same_kind(existing, kind)
            raise InsufficientFunds(a, balance(account_id), amount)
        moved.append((account_id, amount))

    inserted = (
        _insert(LedgerTransaction)
        .values(
            idempotency_key=key, kind=kind, memo=memo[:2000], donation_id=donation_id, refs=dict(refs or {})
        )
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(LedgerTransaction)
    )
    # Its entries load when someone reads them, not with the insert.
    transaction: LedgerTransaction | None = db.session.scalar(
        select(LedgerTransaction).from_statement(inserted).options(lazyload(LedgerTransaction.entries))
    )
    if transaction is None:
        # Written before, perhaps by a concurrent poster whose commit this insert waited for.
        _undo(moved)
        existing = find_transaction(key)
        assert existing is not None
        return _same_kind(existing, kind)
    db.session.execute(
        insert(LedgerEntry),
        [
            {"transaction_id": transaction.id, "account_id": a.id, "amount_fen": amount}
            for a, amount in entries
        ],
    )
    for _account_id, a, _amount in guarded:
        # The row changed under the ORM's feet; whoever reads the attribute next loads it again.
        if a in db.session:
            db.session.expire(a, list(_STORED))

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


def _insert(model: type[LedgerTransaction]) -> Any:
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


def _move_balance(account_id: int, amount_fen: int) -> bool:
    """Add to a guarded account's stored balance under its row lock; a withdrawal only if the balance covers
    it (judged on the row as it stands once the lock is ours). False when refused."""
    statement = (
        update(LedgerAccount)
        .where(LedgerAccount.id == account_id)
        .values(balance_fen=LedgerAccount.balance_fen + amount_fen, version=LedgerAccount.version + 1)
        .execution_options(synchronize_session=False)
    )
    if amount_fen < 0:
        statement = statement.where(LedgerAccount.balance_fen + amount_fen >= 0)
    moved: int = db.session.execute(statement).rowcount  # type: ignore[attr-defined]
    return moved == 1


def _undo(moved: list[tuple[int, int]]) -> None:
    for account_id, amount_fen in reversed(moved):
        db.session.execute(
            update(LedgerAccount)
            .where(LedgerAccount.id == account_id)
            .values(balance_fen=LedgerAccount.balance_fen - amount_fen, version=LedgerAccount.version - 1)
            .execution_options(synchronize_session=False)
        )


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
        # post_transfer changes a stored balance with its entries, by an UPDATE this flush never sees.
        if isinstance(obj, LedgerAccount) and any(
            inspect(obj).attrs[name].history.has_changes() for name in _STORED
        ):
            raise AppendOnlyViolation(
                f"an account's stored balance changes only with its entries ({obj!r}); post a transaction"
            )


_STORED = ("balance_fen", "version")


# --- proving the invariants ------------------------------------------------------------------------------


def verify(batch_size: int = 10_000) -> tuple[int, list[str]]:
    """Check the ledger's own invariants over all data; returns (transactions checked, violations).

    Every transaction has ≥ 2 entries summing to zero; replayed in transaction order, no campaign fund,
    project budget or project commitment is ever below zero; every account's stored balance is the sum of its
    entries (0 for the accounts whose balance is not kept on the row); every transaction has its audit event.
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

    violations += _stored_balance_violations()

    audited = db.session.scalar(
        select(func.count(func.distinct(AuditEvent.object_id))).where(
            AuditEvent.action == "ledger.post", AuditEvent.object_type == "ledger_transaction"
        )
    )
    if audited != checked:
        violations.append(f"{checked} ledger transactions but {audited} have a ledger.post audit event")
    return checked, violations


def _stored_balance_violations() -> list[str]:
    """Every account whose stored balance is not what its entries say: one statement, so one snapshot even
    while postings go on."""
    summed = func.coalesce(func.sum(LedgerEntry.amount_fen), 0)
    rows = db.session.execute(
        select(LedgerAccount.kind, LedgerAccount.owner_id, LedgerAccount.balance_fen, summed)
        .outerjoin(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
        .group_by(LedgerAccount.id, LedgerAccount.kind, LedgerAccount.owner_id, LedgerAccount.balance_fen)
        .order_by(LedgerAccount.id)
    ).all()
    violations = []
    for kind, owner_id, stored, total in rows:
        label = f"{kind}:{owner_id}" if owner_id else kind
        if kind in NON_NEGATIVE_KINDS:
            if stored != total:
                violations.append(f"account {label} stores {stored} fen but its entries sum to {total}")
        elif stored != 0:
            violations.append(
                f"account {label} stores {stored} fen but keeps no balance on its row (its entries sum to {total})"
            )
    return violations

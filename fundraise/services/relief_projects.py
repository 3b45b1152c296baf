"""Relief projects: charity staff create and run them; their budgets and commitments are ledger accounts.

Money (DESIGN §4; each arrow one balanced `budget` transaction with its idempotency key):

    deposit     charity_funds(charity) → project_budget(project)      project:{id}:deposit:{reference}
    approve     project_budget(project) → project_commitment(project)  offer:{id}:approved
    close       project_budget(project) → charity_funds(charity)       project:{id}:closed

A project's available budget for a run is its budget balance less what its pending offers hold. Staff see and
act on their own charity's projects only; admins on every charity's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select, update

from fundraise import audit, ledger
from fundraise.errors import Forbidden, NotFound, ValidationFailed
from fundraise.extensions import db
from fundraise.matching_text import problem_fields
from fundraise.models import (
    AccountKind,
    Charity,
    Offer,
    OfferStatus,
    ProjectStatus,
    ReliefProject,
    Role,
    TransactionKind,
    User,
)
from fundraise.records.feeds import china_today
from fundraise.services.matching_cases import load_cases
from fundraise.unit_of_work import transactional
from matching.eligibility import is_eligible
from matching.rules import RuleError, rules_from_dict, validate_project_terms

NAME_MAX = 80
DESCRIPTION_MAX = 4000
REFERENCE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$")


@dataclass(frozen=True)
class Money:
    """A project's money as the ledger holds it, and what its pending offers hold of the budget."""

    budget_fen: int  # unallocated: deposited − committed − returned
    committed_fen: int  # approved offers (not yet paid to a hospital)
    pending_fen: int  # offers waiting for staff: held out of the budget a run may offer

    @property
    def available_fen(self) -> int:
        return max(self.budget_fen - self.pending_fen, 0)


def may_manage(user: User | None, project: ReliefProject) -> bool:
    return user is not None and (
        user.role == Role.ADMIN or (user.role == Role.CHARITY_STAFF and user.charity_id == project.charity_id)
    )


def get_project(project_id: int, actor: User | None) -> ReliefProject:
    """The project, for staff of its charity or an admin (404 for anyone else: they need not know it)."""
    project = db.session.get(ReliefProject, project_id)
    if project is None or not may_manage(actor, project):
        raise NotFound(_("No such relief project."))
    return project


def list_projects(actor: User, *, charity_id: int | None = None) -> list[ReliefProject]:
    query = select(ReliefProject).order_by(ReliefProject.status, ReliefProject.id)
    if actor.role != Role.ADMIN:
        query = query.where(ReliefProject.charity_id == actor.charity_id)
    elif charity_id is not None:
        query = query.where(ReliefProject.charity_id == charity_id)
    return list(db.session.scalars(query))


def money(project_ids: list[int]) -> dict[int, Money]:
    """Budget, commitments and pending offers of many projects, in three queries."""
    budgets = ledger.owned_balances(AccountKind.PROJECT_BUDGET, project_ids)
    committed = ledger.owned_balances(AccountKind.PROJECT_COMMITMENT, project_ids)
    pending = dict(
        db.session.execute(
            select(Offer.project_id, func.sum(Offer.amount_fen))
            .where(Offer.project_id.in_(project_ids), Offer.status == OfferStatus.PENDING)
            .group_by(Offer.project_id)
        ).all()
    )
    return {pid: Money(budgets[pid], committed[pid], int(pending.get(pid) or 0)) for pid in project_ids}


def _checked(fields: dict[str, Any], *, creating: bool) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The project's fields cleaned, and every problem with them by field name."""
    errors: dict[str, list[str]] = {}
    name = (fields.get("name") or "").strip()
    description = (fields.get("description") or "").strip()
    if not name or len(name) > NAME_MAX:
        errors["name"] = [_("Give the project a name (up to %(n)d characters).", n=NAME_MAX)]
    if len(description) > DESCRIPTION_MAX:
        errors["description"] = [_("Up to %(n)d characters.", n=DESCRIPTION_MAX)]
    rules_dict: dict[str, Any] = {}
    try:
        rules_dict = dict(fields.get("rules") or {})
        rules = rules_from_dict(rules_dict)
    except RuleError as error:
        for field, messages in problem_fields(error.problems, prefix="rules.").items():
            errors.setdefault(field, []).extend(messages)
        rules = None
    cap = fields.get("per_case_cap_fen")
    budget = fields.get("deposit_fen") if creating else None
    opens_on: date | None = fields.get("opens_on")
    closes_on: date | None = fields.get("closes_on")
    if not isinstance(cap, int) or isinstance(cap, bool):
        errors.setdefault("per_case_cap_fen", []).append(_("Enter the most one case may receive, in yuan."))
        cap = None
    if creating and (not isinstance(budget, int) or isinstance(budget, bool)):
        errors.setdefault("deposit_fen", []).append(_("Enter the budget the charity deposits, in yuan."))
        budget = None
    if cap is not None:
        # Only a fresh project's first deposit is checked here; later the budget is whatever was deposited.
        first_deposit = budget if creating else None
        terms = validate_project_terms(
            budget_fen=cap if first_deposit is None else first_deposit,
            per_case_cap_fen=cap,
            opens_on=opens_on,
            closes_on=closes_on,
        )
        if first_deposit is None:
            terms = [p for p in terms if p.field != "budget_fen"]
        for field, messages in problem_fields(terms).items():
            target = {"budget_fen": "deposit_fen"}.get(field, field)
            errors.setdefault(target, []).extend(messages)
    if creating and not REFERENCE_PATTERN.match(fields.get("deposit_reference") or ""):
        errors["deposit_reference"] = [
            _("Enter the bank transfer's reference (letters, digits, dashes; up to 64 characters).")
        ]
    clean = {
        "name": name,
        "description": description,
        "rules": rules_dict if rules is not None else {},
        "per_case_cap_fen": cap,
        "opens_on": opens_on,
        "closes_on": closes_on,
        "source_url": (fields.get("source_url") or "").strip()[:255],
    }
    return clean, errors


def field_problems(fields: dict[str, Any], *, creating: bool) -> dict[str, list[str]]:
    """Every problem with a project's fields, by field name, writing nothing (a form shows them all at once)."""
    return _checked(fields, creating=creating)[1]


@transactional
def create_project(actor: User, fields: dict[str, Any], *, charity_id: int | None = None) -> ReliefProject:
    """A new open project of the actor's charity (an admin names the charity), funded by its first deposit.
    Every field is checked before anything is written. Commits."""
    owner = actor.charity_id if actor.role == Role.CHARITY_STAFF else charity_id
    if owner is None or db.session.get(Charity, owner) is None:
        raise ValidationFailed(
            _("Please correct the marked fields."), fields={"charity_id": [_("Choose the charity.")]}
        )
    clean, errors = _checked(fields, creating=True)
    if errors:
        raise ValidationFailed(_("Please correct the marked fields."), fields=errors)
    project = ReliefProject(charity_id=owner, created_by_id=actor.id, status=ProjectStatus.OPEN, **clean)
    db.session.add(project)
    db.session.flush()
    audit.record(
        "relief_project.created", "relief_project", project.id, actor=actor, after=_snapshot(project)
    )
    _deposit(project, fields["deposit_fen"], fields["deposit_reference"], actor)
    return project


@transactional
def update_project(project: ReliefProject, actor: User, fields: dict[str, Any]) -> ReliefProject:
    """Change a project's description, rules, cap or window. Offers already made stand; the next run uses
    the new terms (and withdraws pending offers the case no longer qualifies for). Commits."""
    if not may_manage(actor, project):
        raise Forbidden(_("Only staff of the project's charity may change it."))
    clean, errors = _checked(fields, creating=False)
    if errors:
        raise ValidationFailed(_("Please correct the marked fields."), fields=errors)
    before = _snapshot(project)
    for key, value in clean.items():
        setattr(project, key, value)
    audit.record(
        "relief_project.updated",
        "relief_project",
        project.id,
        actor=actor,
        before=before,
        after=_snapshot(project),
    )
    return project


@transactional
def deposit(project: ReliefProject, actor: User, amount_fen: int, reference: str) -> None:
    """Record the charity's bank transfer into the project's budget (once per reference). Commits."""
    if not may_manage(actor, project):
        raise Forbidden(_("Only staff of the project's charity may add to its budget."))
    errors: dict[str, list[str]] = {}
    if not isinstance(amount_fen, int) or isinstance(amount_fen, bool) or amount_fen <= 0:
        errors["amount_fen"] = [_("Enter an amount above zero, in yuan.")]
    if not REFERENCE_PATTERN.match(reference or ""):
        errors["reference"] = [
            _("Enter the bank transfer's reference (letters, digits, dashes; up to 64 characters).")
        ]
    if project.status == ProjectStatus.CLOSED:
        errors["amount_fen"] = [_("This project is closed; start a new one.")]
    if errors:
        raise ValidationFailed(_("Please correct the marked fields."), fields=errors)
    _deposit(project, amount_fen, reference, actor)


def _deposit(project: ReliefProject, amount_fen: int, reference: str, actor: User) -> None:
    charity, budget = ledger.accounts(
        (AccountKind.CHARITY_FUNDS, project.charity_id), (AccountKind.PROJECT_BUDGET, project.id)
    )
    key = f"project:{project.id}:deposit:{reference}"
    if ledger.find_transaction(key) is not None:
        raise ValidationFailed(
            _("Please correct the marked fields."),
            fields={"reference": [_("A deposit with this reference is already recorded.")]},
        )
    ledger.post_transfer(
        key,
        TransactionKind.BUDGET,
        [(charity, -amount_fen), (budget, amount_fen)],
        memo="relief project deposit",
        refs={"project_id": project.id, "charity_id": project.charity_id, "reference": reference},
        actor=actor,
    )


@transactional
def set_status(project: ReliefProject, actor: User, status: str) -> None:
    """Pause, reopen or close a project. Pausing or closing withdraws its pending offers; closing also returns
    the budget nobody committed to the charity (approved commitments stand until paid). Commits."""
    if not may_manage(actor, project):
        raise Forbidden(_("Only staff of the project's charity may change it."))
    if status not in {s.value for s in ProjectStatus} or project.status == ProjectStatus.CLOSED:
        raise ValidationFailed(
            _("Please correct the marked fields."), fields={"status": [_("This change is not possible.")]}
        )
    before = project.status
    project.status = status
    if status != ProjectStatus.OPEN:
        # Only offers still pending: one approved a moment ago (under its row lock) stays approved.
        db.session.execute(
            update(Offer)
            .where(Offer.project_id == project.id, Offer.status == OfferStatus.PENDING)
            .values(status=OfferStatus.WITHDRAWN, withdrawn_reason=f"project_{status}")
        )
    if status == ProjectStatus.CLOSED:
        budget, charity = ledger.accounts(
            (AccountKind.PROJECT_BUDGET, project.id), (AccountKind.CHARITY_FUNDS, project.charity_id)
        )
        left = ledger.lock_accounts([budget])[budget.id]
        if left:
            ledger.post_transfer(
                f"project:{project.id}:closed",
                TransactionKind.BUDGET,
                [(budget, -left), (charity, left)],
                memo="relief project closed: budget returned",
                refs={"project_id": project.id, "charity_id": project.charity_id},
                actor=actor,
            )
    audit.record(
        "relief_project.status",
        "relief_project",
        project.id,
        actor=actor,
        before={"status": before},
        after={"status": status},
    )


def budget_statement(project: ReliefProject, limit: int = 50) -> list[ledger.StatementLine]:
    """The newest movements of the project's budget account (deposits in; approvals and returns out); none
    before the first deposit (reading a page creates no account)."""
    found = ledger.find_account(AccountKind.PROJECT_BUDGET, project.id)
    return ledger.statement(found, limit=limit) if found else []


def offer_counts(project: ReliefProject) -> dict[str, tuple[int, int]]:
    """(count, total fen) of the project's offers by status."""
    rows = db.session.execute(
        select(Offer.status, func.count(Offer.id), func.sum(Offer.amount_fen))
        .where(Offer.project_id == project.id)
        .group_by(Offer.status)
    ).all()
    return {status: (int(count), int(total or 0)) for status, count, total in rows}


@dataclass(frozen=True)
class Preview:
    cases: int
    need_fen: int


def preview(rules_dict: dict[str, Any]) -> Preview:
    """How many current cases a rule would admit, and their total remaining need (the rule form's preview).
    Raises RuleError for a rule that does not hold together."""
    rules = rules_from_dict(rules_dict)
    matched = [case for case in load_cases(china_today()).profiles if is_eligible(rules, case)]
    return Preview(len(matched), sum(case.need_fen for case in matched))


def _snapshot(project: ReliefProject) -> dict[str, Any]:
    return {
        "name": project.name,
        "rules": project.rules,
        "per_case_cap_fen": project.per_case_cap_fen,
        "opens_on": project.opens_on.isoformat() if project.opens_on else None,
        "closes_on": project.closes_on.isoformat() if project.closes_on else None,
        "status": project.status,
    }

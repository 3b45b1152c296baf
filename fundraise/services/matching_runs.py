"""Matching runs: allocate the open relief projects' budgets to the cases' remaining need (DESIGN §5).

A run reads every matchable case and every open project in bulk, solves exactly (matching.solver) and writes
its result in one transaction: new pending offers, the offers it withdraws or expires, and per case what it
found (the stored half of the case's "why"). A dry run does the same reading and solving and writes only its
summary: what would change against the current offers.

Pending offers hold their project's budget and their case's need until staff decide, so a daily run does not
reshuffle the queue staff are working through: it allocates what is left. It withdraws a pending offer whose
case no longer qualifies (the rule changed, the case left fundraising, donations covered the need) and
expires one nobody decided within MATCH_OFFER_DAYS; their budget goes back into this run. A pair a charity
declined is never offered again; a project's per-case cap counts what it already committed to the case.

`execute_run` is idempotent: a run that is not queued is left as it is, so rq may deliver the job twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, text, update

from fundraise import audit
from fundraise.database import insert_rows
from fundraise.errors import NotFound
from fundraise.extensions import db
from fundraise.jobs.outbox import enqueue
from fundraise.models import (
    MatchCaseResult,
    MatchRun,
    Offer,
    OfferStatus,
    ReliefProject,
    RunStatus,
    User,
)
from fundraise.models.columns import utcnow
from fundraise.records.feeds import china_today
from fundraise.services.matching_cases import load_cases
from fundraise.services.relief_projects import money
from fundraise.unit_of_work import discard, transactional
from matching.allocation import BOUND_CODES
from matching.candidates import CandidateIndex
from matching.eligibility import CaseProfile, is_eligible
from matching.priority import Priority, PriorityWeights, priority, weights_from_dict
from matching.rules import RuleError, Rules, rules_from_dict
from matching.solver import solve_arrays

# Any fixed number: the key of the advisory lock under which runs are started, one at a time.
START_LOCK_KEY = 0x6D61746368  # "match"
# How many of a dry run's changes its summary keeps to show (the counts are always whole).
CHANGES_SHOWN = 200
Progress = Callable[[int, str], None]


@dataclass
class Plan:
    """What a run found and would write."""

    today: date
    new_offers: list[dict[str, Any]] = field(default_factory=list)
    withdrawals: dict[int, str] = field(default_factory=dict)  # offer id → reason code
    expired: list[int] = field(default_factory=list)
    case_results: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


def active_run() -> MatchRun | None:
    return db.session.scalar(
        select(MatchRun)
        .where(MatchRun.status.in_((RunStatus.QUEUED, RunStatus.RUNNING)))
        .order_by(MatchRun.id)
    )


def get_run(run_id: int) -> MatchRun:
    run = db.session.get(MatchRun, run_id)
    if run is None:
        raise NotFound(_("No such matching run."))
    return run


def recent_runs(limit: int = 20) -> list[MatchRun]:
    return list(db.session.scalars(select(MatchRun).order_by(MatchRun.id.desc()).limit(limit)))


@transactional
def start_run(actor: User | None, *, dry_run: bool = False, queue_job: bool = True) -> tuple[MatchRun, bool]:
    """Queue a run (its job goes through the outbox, so it starts once this commits; `queue_job=False` when the
    caller runs it itself, as the command does to show its progress). One run at a time: while one is queued
    or running, that one is returned and nothing new is queued. Returns (run, started)."""
    if db.session.get_bind().dialect.name == "postgresql":
        # Two starts at once (a click and the daily job) would both find no run under way; this lock makes the
        # second wait and then find the first. SQLite's BEGIN IMMEDIATE already serialises the two.
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": START_LOCK_KEY})
    running = active_run()
    if running is not None:
        return running, False
    run = MatchRun(dry_run=dry_run, status=RunStatus.QUEUED, started_by_id=actor.id if actor else None)
    db.session.add(run)
    db.session.flush()
    audit.record("match_run.queued", "match_run", run.id, actor=actor, after={"dry_run": dry_run})
    if queue_job:
        enqueue("match_run", run_id=run.id)
    return run, True


def execute_run(run_id: int, *, on_progress: Progress | None = None) -> MatchRun:
    """Do a queued run: claim it, read, solve, write. Safe to call twice."""
    if not _claim(run_id):
        return get_run(run_id)

    def progress(percent: int, stage: str) -> None:
        _set_progress(run_id, percent, stage)
        if on_progress is not None:
            on_progress(percent, stage)

    try:
        progress(5, "loading")
        plan = plan_run(progress)
        progress(80, "writing")
        _write(run_id, plan)
        if on_progress is not None:
            on_progress(100, "done")
    except Exception as error:
        discard()  # what the failed read or write left open; the failure is recorded in a fresh unit
        _fail(run_id, error)
        raise
    return get_run(run_id)


@transactional
def _claim(run_id: int) -> bool:
    claimed = db.session.execute(
        update(MatchRun)
        .where(MatchRun.id == run_id, MatchRun.status == RunStatus.QUEUED)
        .values(status=RunStatus.RUNNING, started_at=utcnow(), stage="loading", progress=1)
    )
    return bool(claimed.rowcount)  # type: ignore[attr-defined]  # execute() is typed Result; an UPDATE's is a CursorResult


@transactional
def _set_progress(run_id: int, percent: int, stage: str) -> None:
    db.session.execute(update(MatchRun).where(MatchRun.id == run_id).values(progress=percent, stage=stage))


@transactional
def _fail(run_id: int, error: Exception) -> None:
    db.session.execute(
        update(MatchRun)
        .where(MatchRun.id == run_id)
        .values(status=RunStatus.FAILED, finished_at=utcnow(), stage="failed", error=repr(error)[:2000])
    )


def plan_run(progress: Progress | None = None) -> Plan:
    """Read everything and solve; write nothing."""
    report = progress or (lambda _percent, _stage: None)
    today = china_today()
    now = utcnow()
    plan = Plan(today=today)
    started = time.perf_counter()

    projects = [
        p for p in db.session.scalars(select(ReliefProject).order_by(ReliefProject.id)) if p.is_open_on(today)
    ]
    open_ids = {p.id for p in projects}
    rules: dict[int, Rules] = {}
    for project in projects:
        try:
            rules[project.id] = rules_from_dict(project.rules)
        except RuleError:
            # Rules are checked when saved; one that no longer reads (an old format) must not stop the run.
            current_app.logger.warning("relief project %s has rules that do not read; skipped", project.id)
    load = load_cases(today)
    profiles = {case.case_id: case for case in load.profiles}
    report(30, "loading")

    pending = list(
        db.session.execute(
            select(Offer.id, Offer.campaign_id, Offer.project_id, Offer.amount_fen, Offer.expires_at).where(
                Offer.status == OfferStatus.PENDING
            )
        ).all()
    )
    kept_by_case: dict[int, int] = {}
    kept_by_project: dict[int, int] = {}
    kept_pairs: set[tuple[int, int]] = set()
    over_need = _cases_over_need(pending, profiles)
    for offer_id, campaign_id, project_id, amount, expires_at in pending:
        case = profiles.get(campaign_id)
        reason = None
        if expires_at <= now:
            plan.expired.append(offer_id)
            continue
        if project_id not in open_ids:
            reason = "project_not_open"
        elif case is None:
            reason = "case_not_matchable"
        elif project_id in rules and not is_eligible(rules[project_id], case):
            reason = "no_longer_eligible"
        elif campaign_id in over_need:
            reason = "need_fell"
        if reason is not None:
            plan.withdrawals[offer_id] = reason
            continue
        kept_by_case[campaign_id] = kept_by_case.get(campaign_id, 0) + amount
        kept_by_project[project_id] = kept_by_project.get(project_id, 0) + amount
        kept_pairs.add((campaign_id, project_id))

    funds = money(sorted(open_ids))
    solvable = [p for p in projects if p.id in rules]
    caps = {p.id: p.per_case_cap_fen for p in solvable}
    budgets = {p.id: max(funds[p.id].budget_fen - kept_by_project.get(p.id, 0), 0) for p in solvable}
    index = CandidateIndex(rules)
    weights = _weights()
    # The solver's input as one list per field (matching.solver.solve_arrays): no object per pair, since a
    # national run has a million pairs. A case's pairs are consecutive, from `starts[k]` on.
    case_ids: list[int] = []
    needs: list[int] = []
    priorities: list[Priority] = []
    starts: list[int] = []
    edge_case: list[int] = []
    edge_project: list[int] = []
    edge_cap: list[int] = []
    excluded = load.declined_pairs | kept_pairs
    committed = load.committed_pairs
    for case in load.profiles:
        need = case.need_fen - kept_by_case.get(case.case_id, 0)
        if need <= 0:
            continue
        first = len(edge_project)
        case_id = case.case_id
        for project_id in index.eligible(case):
            pair = (case_id, project_id)
            cap = caps[project_id] - committed.get(pair, 0)
            if cap > 0 and pair not in excluded:
                edge_project.append(project_id)
                edge_cap.append(cap)
        if len(edge_project) > first:
            edge_case.extend([case_id] * (len(edge_project) - first))
            starts.append(first)
            case_ids.append(case_id)
            needs.append(need)
            priorities.append(priority(case, today, weights))
    starts.append(len(edge_project))
    report(50, "solving")
    solve_started = time.perf_counter()
    result = solve_arrays(
        case_ids,
        needs,
        [weight.total for weight in priorities],
        list(budgets),
        list(budgets.values()),
        [caps[project_id] for project_id in budgets],
        edge_case,
        edge_project,
        edge_cap,
    )
    solve_seconds = time.perf_counter() - solve_started
    report(75, "solving")

    amounts = result.amount_fen.tolist()
    codes = [BOUND_CODES[code] for code in result.bound_code.tolist()]
    expires_at = now + timedelta(days=current_app.config["MATCH_OFFER_DAYS"])
    covered = result.covered_fen.tolist()  # in input order
    for k, (case_id, need, weight) in enumerate(zip(case_ids, needs, priorities, strict=True)):
        first, last = starts[k], starts[k + 1]
        for edge in range(first, last):
            if amounts[edge] > 0:
                bound = result.bound(edge)
                plan.new_offers.append(
                    {
                        "project_id": edge_project[edge],
                        "campaign_id": case_id,
                        "amount_fen": amounts[edge],
                        "status": OfferStatus.PENDING.value,
                        "bound_code": bound.code,
                        "bound_params": bound.params,
                        "priority": weight.total,
                        "created_at": now,
                        "expires_at": expires_at,
                    }
                )
        plan.case_results.append(
            {
                "campaign_id": case_id,
                "need_fen": need,
                "priority": weight.total,
                "priority_parts": dict(weight.parts),
                "covered_fen": covered[k],
                "pairs": {
                    "project_ids": edge_project[first:last],
                    "amounts_fen": amounts[first:last],
                    "bounds": codes[first:last],
                },
            }
        )
    plan.summary = {
        "cases": len(load.profiles),
        "cases_with_projects": len(case_ids),
        "projects": len(solvable),
        "pairs": len(edge_project),
        "offers_new": len(plan.new_offers),
        "offered_fen": sum(o["amount_fen"] for o in plan.new_offers),
        "offers_kept": len(kept_pairs),
        "offers_withdrawn": len(plan.withdrawals),
        "offers_expired": len(plan.expired),
        "objective": result.objective,
        "solve_ms": round(solve_seconds * 1000),
        "total_ms": round((time.perf_counter() - started) * 1000),
        "changes": _changes(plan, pending),
        # What each project could give this run: the "budget" a case's why quotes when the budget bound.
        "budgets_fen": {str(project_id): budget for project_id, budget in budgets.items()},
    }
    return plan


def _weights() -> PriorityWeights:
    """The priority weights: the documented defaults with MATCH_PRIORITY_WEIGHTS over them (a setting that does
    not read fails the run with the reasons, before anything is written)."""
    return weights_from_dict(current_app.config.get("MATCH_PRIORITY_WEIGHTS") or {})


def _cases_over_need(pending: list[Any], profiles: dict[int, CaseProfile]) -> set[int]:
    """Cases whose pending offers together exceed what they still need (donations came in since)."""
    held: dict[int, int] = {}
    for _offer_id, campaign_id, _project_id, amount, _expires in pending:
        held[campaign_id] = held.get(campaign_id, 0) + amount
    return {cid for cid, total in held.items() if cid in profiles and total > profiles[cid].need_fen}


def _changes(plan: Plan, pending: list[Any]) -> list[dict[str, Any]]:
    """The first CHANGES_SHOWN changes against the current offers, for the run's page."""
    by_id = {row[0]: row for row in pending}
    changes: list[dict[str, Any]] = [
        {
            "change": "new",
            "campaign_id": o["campaign_id"],
            "project_id": o["project_id"],
            "amount_fen": o["amount_fen"],
        }
        for o in plan.new_offers[:CHANGES_SHOWN]
    ]
    for offer_id, reason in list(plan.withdrawals.items())[: CHANGES_SHOWN - len(changes)]:
        _id, campaign_id, project_id, amount, _expires = by_id[offer_id]
        changes.append(
            {
                "change": "withdrawn",
                "reason": reason,
                "campaign_id": campaign_id,
                "project_id": project_id,
                "amount_fen": amount,
            }
        )
    for offer_id in plan.expired[: max(CHANGES_SHOWN - len(changes), 0)]:
        _id, campaign_id, project_id, amount, _expires = by_id[offer_id]
        changes.append(
            {"change": "expired", "campaign_id": campaign_id, "project_id": project_id, "amount_fen": amount}
        )
    return changes


@transactional
def _write(run_id: int, plan: Plan) -> None:
    """The run's result, in one transaction (a dry run writes only its summary)."""
    run = db.session.get(MatchRun, run_id)
    assert run is not None
    if not run.dry_run:
        for reason in set(plan.withdrawals.values()):
            ids = [offer_id for offer_id, why in plan.withdrawals.items() if why == reason]
            db.session.execute(
                update(Offer)
                .where(Offer.id.in_(ids), Offer.status == OfferStatus.PENDING)
                .values(status=OfferStatus.WITHDRAWN, withdrawn_reason=reason)
            )
        if plan.expired:
            db.session.execute(
                update(Offer)
                .where(Offer.id.in_(plan.expired), Offer.status == OfferStatus.PENDING)
                .values(status=OfferStatus.EXPIRED)
            )
        insert_rows(
            Offer.__table__, [{**offer, "run_id": run_id} for offer in plan.new_offers], want_ids=False
        )
        insert_rows(
            MatchCaseResult.__table__,
            [{**row, "run_id": run_id} for row in plan.case_results],
            want_ids=False,
        )
    run.status = RunStatus.SUCCEEDED
    run.progress = 100
    run.stage = "done"
    run.finished_at = utcnow()
    run.summary = plan.summary
    counts = {key: value for key, value in plan.summary.items() if key not in ("changes", "budgets_fen")}
    audit.record("match_run.finished", "match_run", run_id, actor=None, after=counts)


def latest_result(campaign_id: int) -> tuple[MatchRun, MatchCaseResult] | None:
    """The newest real run's findings for a case, if a run looked at it."""
    row = db.session.execute(
        select(MatchRun, MatchCaseResult)
        .join(MatchCaseResult, MatchCaseResult.run_id == MatchRun.id)
        .where(MatchCaseResult.campaign_id == campaign_id, MatchRun.dry_run.is_(False))
        .order_by(MatchRun.id.desc())
        .limit(1)
    ).first()
    return (row[0], row[1]) if row else None

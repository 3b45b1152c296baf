"""A case's "why": every project considered, each rule passed or failed, and what the last run gave and why.

The rules are checked now, against the case as it is now; the amounts and the constraints that bound them are
what the newest (non-dry) run found, with that run's priority for the case. Staff read it to answer a family
("why did no charity help us?") and to check the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select

from fundraise.extensions import db
from fundraise.models import Campaign, MatchCaseResult, MatchRun, Offer, ProjectStatus, ReliefProject
from fundraise.records.feeds import china_today
from fundraise.services.matching_cases import MATCHABLE_STATES, load_cases
from fundraise.services.matching_runs import latest_result
from matching.eligibility import CaseProfile, RuleCheck, evaluate
from matching.priority import Priority, priority
from matching.rules import RuleError, rules_from_dict


@dataclass(frozen=True)
class Finding:
    """One project, as considered for the case."""

    project: ReliefProject
    open_today: bool
    checks: list[RuleCheck]
    eligible: bool
    # From the newest run that solved this pair: the amount it gave and the constraint that bound it.
    run_amount_fen: int | None
    bound_code: str | None
    bound_params: dict[str, Any]
    offers: list[Offer]


@dataclass(frozen=True)
class Why:
    campaign: Campaign
    # Why the case is not matched at all ("not_verified", "need_met"), or None when it is.
    not_matchable: str | None
    profile: CaseProfile | None
    priority_now: Priority | None
    run: MatchRun | None
    result: MatchCaseResult | None
    findings: list[Finding]


def explain(campaign: Campaign) -> Why:
    today = china_today()
    profiles = load_cases(today, [campaign.id]).profiles
    profile = profiles[0] if profiles else None
    not_matchable = None
    if profile is None:
        not_matchable = "need_met" if campaign.state in MATCHABLE_STATES else "not_verified"
    latest = latest_result(campaign.id)
    run, result = latest if latest else (None, None)
    solved = _solved(run, result)
    offers_by_project: dict[int, list[Offer]] = {}
    for offer in db.session.scalars(
        select(Offer).where(Offer.campaign_id == campaign.id).order_by(Offer.id.desc())
    ):
        offers_by_project.setdefault(offer.project_id, []).append(offer)
    projects = db.session.scalars(
        select(ReliefProject)
        .where(or_(ReliefProject.status == ProjectStatus.OPEN, ReliefProject.id.in_(list(offers_by_project))))
        .order_by(ReliefProject.charity_id, ReliefProject.id)
    )
    findings = []
    for project in projects:
        checks: list[RuleCheck] = []
        eligible = False
        if profile is not None:
            try:
                checks = evaluate(rules_from_dict(project.rules), profile)
            except RuleError:
                checks = []
            eligible = bool(checks) and all(check.passed for check in checks)
        amount, bound_code, bound_params = solved.get(project.id, (None, None, {}))
        findings.append(
            Finding(
                project=project,
                open_today=project.is_open_on(today),
                checks=checks,
                eligible=eligible,
                run_amount_fen=amount,
                bound_code=bound_code,
                bound_params=bound_params,
                offers=offers_by_project.get(project.id, []),
            )
        )
    findings.sort(key=lambda f: (not f.eligible, -(f.run_amount_fen or 0), f.project.id))
    return Why(
        campaign=campaign,
        not_matchable=not_matchable,
        profile=profile,
        priority_now=priority(profile, today) if profile else None,
        run=run,
        result=result,
        findings=findings,
    )


def _solved(
    run: MatchRun | None, result: MatchCaseResult | None
) -> dict[int, tuple[int, str, dict[str, Any]]]:
    """What the run gave each of the case's pairs: the amount, the bound and the bound's parameters (the need,
    the cap the pair reached, the project's budget that run), by project id."""
    if run is None or result is None:
        return {}
    budgets = run.summary.get("budgets_fen", {})
    pairs = result.pairs
    solved = {}
    for project_id, amount, code in zip(
        pairs["project_ids"], pairs["amounts_fen"], pairs["bounds"], strict=True
    ):
        params: dict[str, Any] = {}
        if code == "need_filled":
            params = {"need_fen": result.need_fen}
        elif code == "per_case_cap":
            params = {"cap_fen": amount}
        elif str(project_id) in budgets:
            params = {"budget_fen": budgets[str(project_id)]}
        solved[project_id] = (amount, code, params)
    return solved

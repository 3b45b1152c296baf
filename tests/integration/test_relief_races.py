"""Relief money under concurrency (on PostgreSQL in CI, SQLite otherwise): eight staff approving the same offer
post it once; approvals that together ask more than a budget holds never take it below zero; starts of runs
at once queue one run."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from fundraise import ledger
from fundraise.extensions import db
from fundraise.models import AccountKind, MatchRun, Offer, OfferStatus, User
from fundraise.models.columns import utcnow
from fundraise.services import matching_runs, offers, relief_projects
from tests.factories import CampaignFactory, UserFactory
from tests.races import THREADS, race


def project_with_budget(budget_fen: int) -> tuple[Any, User]:
    worker = UserFactory(charity_staff=True)
    db.session.commit()
    project = relief_projects.create_project(
        worker,
        {
            "name": "并发测试项目",
            "rules": {"max_age": 14},
            "per_case_cap_fen": min(budget_fen, 1_000_000),
            "deposit_fen": budget_fen,
            "deposit_reference": "RACE-1",
        },
    )
    return project, worker


def pending_offer(project: Any, n: int, amount_fen: int) -> int:
    """An offer as a run writes one (the race is about deciding, not solving)."""
    campaign = CampaignFactory(state="fundraising", patient_id_sequence=n, target_fen=5_000_000)
    run = MatchRun(status="succeeded")
    db.session.add(run)
    db.session.flush()
    offer = Offer(
        run_id=run.id,
        project_id=project.id,
        campaign_id=campaign.id,
        amount_fen=amount_fen,
        status=OfferStatus.PENDING,
        bound_code="per_case_cap",
        priority=500,
        expires_at=utcnow() + timedelta(days=14),
    )
    db.session.add(offer)
    db.session.commit()
    return offer.id


def test_eight_approvals_of_one_offer_post_it_once(app: Flask) -> None:
    project, worker = project_with_budget(10_000_000)
    offer_id = pending_offer(project, 1, 1_000_000)
    worker_id, project_id = worker.id, project.id

    def approve(_i: int) -> list[int]:
        return offers.decide([offer_id], db.session.get(User, worker_id), "approve").done

    results = race(app, approve)
    assert sum(len(done) for done in results if isinstance(done, list)) == 1, results
    assert ledger.balance(ledger.account(AccountKind.PROJECT_COMMITMENT, project_id)) == 1_000_000
    assert ledger.balance(ledger.account(AccountKind.PROJECT_BUDGET, project_id)) == 9_000_000
    assert ledger.verify()[1] == []


def test_approvals_beyond_the_budget_are_refused_and_it_never_goes_negative(app: Flask) -> None:
    project, worker = project_with_budget(3_000_000)  # holds three of the eight offers below
    offer_ids = [pending_offer(project, n, 1_000_000) for n in range(THREADS)]
    worker_id, project_id = worker.id, project.id

    def approve(i: int) -> list[int]:
        return offers.decide([offer_ids[i]], db.session.get(User, worker_id), "approve").done

    results = race(app, approve)
    approved = [done for done in results if isinstance(done, list) and done]
    assert len(approved) == 3, results
    assert ledger.balance(ledger.account(AccountKind.PROJECT_BUDGET, project_id)) == 0
    assert ledger.balance(ledger.account(AccountKind.PROJECT_COMMITMENT, project_id)) == 3_000_000
    statuses = db.session.scalars(select(Offer.status).where(Offer.id.in_(offer_ids))).all()
    assert sorted(statuses).count(OfferStatus.APPROVED) == 3
    assert ledger.verify()[1] == []


def test_runs_started_at_once_queue_one(app: Flask) -> None:
    def start(_i: int) -> int:
        run, _started = matching_runs.start_run(None, queue_job=False)
        return run.id

    results = race(app, start)
    assert len(set(results)) == 1, results
    assert db.session.scalar(select(func.count()).select_from(MatchRun)) == 1
